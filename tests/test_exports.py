"""Exports people open: neutralised CSV cells, exact Parquet, atomic owner-only writes."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from targeting.exports import csv_bytes, neutralise, write_table

HOSTILE = ['=HYPERLINK("http://x")', "@SUM(A1:A9)", "+cmd|' /C calc'!A0", "-2+3", "\tx", "\rx", "plain", "a=b"]


def frame() -> pd.DataFrame:
    return pd.DataFrame({"account_id": HOSTILE, "risk_score": [-0.5] * len(HOSTILE), "n": range(len(HOSTILE))})


def test_formula_like_text_cells_start_with_a_quote_and_numbers_stay_numbers():
    out = neutralise(frame())
    assert out["account_id"].tolist()[:6] == ["'" + v for v in HOSTILE[:6]]
    assert out["account_id"].tolist()[6:] == ["plain", "a=b"]
    assert (out["risk_score"] == -0.5).all() and out["n"].dtype.kind == "i"
    text = csv_bytes(frame()).decode()
    assert "\n=HYPERLINK" not in text and "'=HYPERLINK" in text and ",-0.5," in text


def test_csv_is_neutralised_and_parquet_exact(tmp_path):
    write_table(frame(), tmp_path / "a.csv")
    write_table(frame(), tmp_path / "a.parquet")
    assert pd.read_csv(tmp_path / "a.csv")["account_id"].str.startswith("'").sum() == 6
    assert pd.read_parquet(tmp_path / "a.parquet")["account_id"].tolist() == HOSTILE


def test_writes_are_owner_only_and_replace_a_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "out.csv"
    link.symlink_to(victim)
    write_table(frame(), link)
    assert victim.read_text() == "keep me"
    assert not link.is_symlink() and stat.S_IMODE(os.stat(link).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_other_extensions_are_refused(tmp_path):
    with pytest.raises(ValueError, match="csv or .parquet"):
        write_table(frame(), tmp_path / "a.xlsx")
