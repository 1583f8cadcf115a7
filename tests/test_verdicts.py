"""Analysts' verdicts: the append-only SQLite trail and how dismissals change the flags."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import threading
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from targeting import workspace as W
from targeting.verdicts import (
    COLUMNS,
    REFLAG_MARGIN,
    VERDICTS,
    apply_verdicts,
    latest_verdicts,
    read_verdicts,
    record_verdict,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def ws(tmp_path) -> W.Workspace:
    return W.open_workspace(tmp_path / "ws", create=True)


def _scores(**overrides) -> pd.DataFrame:
    frame = pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4"],
        "campaign_id": ["", "k1", "k1", ""],
        "risk_score": [0.50, 0.70, 0.60, 0.90],
        "flagged": [True, True, True, False],
        "severity": ["high", "critical", "high", "none"],
        "reasons": ["r1", "r2", "r3", "r4"],
    })
    for column, values in overrides.items():
        frame[column] = values
    return frame


def _latest(*rows: tuple) -> pd.DataFrame:
    """Standing verdicts from (kind, id, verdict, risk, minutes after T0) tuples."""
    frame = pd.DataFrame([
        {"target_kind": k, "target_id": i, "verdict": v, "note": "n", "analyst": "ana", "risk_score": r,
         "run_id": "run", "at": T0 + timedelta(minutes=m)}
        for k, i, v, r, m in rows
    ], columns=list(COLUMNS))
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


# --- storage ---------------------------------------------------------------------------------------
def test_no_database_reads_as_an_empty_trail_without_creating_one(ws):
    trail = read_verdicts(ws)
    assert list(trail.columns) == list(COLUMNS) and trail.empty
    assert latest_verdicts(ws).empty
    assert not ws.verdicts_path.exists()


def test_record_and_read_back_in_order(ws):
    record_verdict(ws, target_kind="account", target_id="a1", verdict="needs_review", note="look at wrappers",
                   analyst="ana", risk_score=0.5, run_id="r1", at=T0)
    record_verdict(ws, target_kind="campaign", target_id="k1", verdict="confirmed", note="", analyst="bo",
                   at=T0 + timedelta(hours=1))
    record_verdict(ws, target_kind="account", target_id="a1", verdict="dismissed", note="evaluation partner",
                   analyst="cy", risk_score=0.52, at=datetime(2026, 11, 20, 12, 0))  # naive: UTC
    trail = read_verdicts(ws)
    assert list(trail.columns) == list(COLUMNS)
    assert trail["verdict"].tolist() == ["needs_review", "confirmed", "dismissed"]
    assert trail.loc[0, "run_id"] == "r1" and trail.loc[0, "note"] == "look at wrappers"
    assert pd.isna(trail.loc[1, "risk_score"])
    assert str(trail["at"].dt.tz) == "UTC" and trail.loc[2, "at"] == pd.Timestamp("2026-11-20 12:00", tz="UTC")
    latest = latest_verdicts(ws)
    assert len(latest) == 2
    assert latest.set_index("target_id").loc["a1", "analyst"] == "cy"


def test_database_is_owner_only_in_wal_mode_and_append_only(ws):
    record_verdict(ws, target_kind="account", target_id="a1", verdict="confirmed", note="", analyst="ana")
    assert stat.S_IMODE(ws.verdicts_path.stat().st_mode) == 0o600
    con = sqlite3.connect(ws.verdicts_path)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for sql in ("UPDATE verdicts SET verdict = 'dismissed'", "DELETE FROM verdicts"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                con.execute(sql)
    finally:
        con.close()
    assert read_verdicts(ws)["verdict"].tolist() == ["confirmed"]


@pytest.mark.parametrize("change, message", [
    ({"target_kind": "user"}, "target_kind"),
    ({"verdict": "maybe"}, "verdict"),
    ({"target_id": "   "}, "target_id is empty"),
    ({"analyst": ""}, "analyst is empty"),
    ({"note": "x" * 5000}, "note is 5,000 characters"),
    ({"risk_score": float("nan")}, "risk_score"),
    ({"note": None}, "note must be text"),
])
def test_bad_verdicts_are_refused_with_a_clear_message(ws, change, message):
    args = dict(target_kind="account", target_id="a1", verdict="confirmed", note="", analyst="ana") | change
    with pytest.raises(ValueError, match=message):
        record_verdict(ws, **args)
    assert read_verdicts(ws).empty


def test_control_characters_are_stripped_from_notes(ws):
    record_verdict(ws, target_kind="account", target_id="a1", verdict="confirmed", note="ok\x00\x1b[31m\nline 2",
                   analyst="ana")
    assert read_verdicts(ws).loc[0, "note"] == "ok[31m\nline 2"


def test_writable_while_a_run_holds_the_workspace_lock(ws):
    with W.locked(ws):
        record_verdict(ws, target_kind="account", target_id="a1", verdict="dismissed", note="", analyst="ana")
    assert len(read_verdicts(ws)) == 1


def test_a_writer_waits_for_another_writer_instead_of_failing(ws):
    record_verdict(ws, target_kind="account", target_id="a0", verdict="confirmed", note="", analyst="ana")
    other = sqlite3.connect(ws.verdicts_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    started = time.perf_counter()
    try:
        record_verdict(ws, target_kind="account", target_id="a1", verdict="confirmed", note="", analyst="bo")
    finally:
        release.join()
        other.close()
    assert time.perf_counter() - started >= 0.3
    assert read_verdicts(ws)["target_id"].tolist() == ["a0", "a1"]


def test_readers_see_committed_verdicts_while_a_reader_holds_a_snapshot(ws):
    record_verdict(ws, target_kind="account", target_id="a0", verdict="confirmed", note="", analyst="ana")
    reader = sqlite3.connect(ws.verdicts_path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM verdicts").fetchone()  # an open read transaction
    record_verdict(ws, target_kind="account", target_id="a1", verdict="confirmed", note="", analyst="bo")
    reader.execute("COMMIT")
    reader.close()
    assert len(read_verdicts(ws)) == 2


# --- apply_verdicts -----------------------------------------------------------------------------------
def test_without_verdicts_only_columns_are_added():
    out = apply_verdicts(_scores(), _latest())
    assert out["flagged"].tolist() == [True, True, True, False]
    assert out["verdict"].tolist() == [""] * 4 and not out["suppressed"].any()
    assert out["flagged_by_model"].tolist() == [True, True, True, False]
    assert out["reasons"].tolist() == ["r1", "r2", "r3", "r4"]
    assert {"verdict_note", "verdict_by", "verdict_at", "verdict_target", "severity_by_model"} <= set(out.columns)


def test_a_dismissal_unflags_until_the_score_rises_past_the_margin():
    latest = _latest(("account", "a1", "dismissed", 0.5, 0))
    same = apply_verdicts(_scores(), latest).set_index("account_id")
    assert not same.loc["a1", "flagged"] and same.loc["a1", "suppressed"]
    assert same.loc["a1", "severity"] == "none" and same.loc["a1", "severity_by_model"] == "high"
    assert same.loc["a1", "reasons"].startswith("[dismissed by ana on 2026-11-20 at risk 0.500; flagged again above 0.550] ")
    assert same.loc["a1", "reasons"].endswith("r1")
    assert same.loc["a1", "verdict"] == "dismissed" and same.loc["a1", "verdict_target"] == "account"
    at_margin = apply_verdicts(_scores(risk_score=[0.5 * REFLAG_MARGIN, 0.7, 0.6, 0.9]), latest)
    assert not at_margin.loc[0, "flagged"]
    risen = apply_verdicts(_scores(risk_score=[0.5 * REFLAG_MARGIN + 0.01, 0.7, 0.6, 0.9]), latest)
    assert risen.loc[0, "flagged"] and not risen.loc[0, "suppressed"] and risen.loc[0, "reasons"] == "r1"
    assert risen.loc[0, "verdict"] == "dismissed"  # still shown: the analyst sees it was dismissed before


def test_a_campaign_dismissal_covers_its_members_and_a_later_account_verdict_wins():
    out = apply_verdicts(_scores(), _latest(("campaign", "k1", "dismissed", 0.7, 0))).set_index("account_id")
    assert out.loc[["a2", "a3"], "flagged"].tolist() == [False, False]
    assert out.loc["a2", "verdict_target"] == "campaign"
    assert "dismissed (its campaign)" in out.loc["a3", "reasons"]
    assert out.loc["a1", "flagged"]
    later = _latest(("campaign", "k1", "dismissed", 0.7, 0), ("account", "a3", "confirmed", 0.6, 5))
    out = apply_verdicts(_scores(), later).set_index("account_id")
    assert out.loc["a3", "flagged"] and out.loc["a3", "verdict"] == "confirmed"
    assert not out.loc["a2", "flagged"]
    earlier = _latest(("account", "a3", "confirmed", 0.6, 0), ("campaign", "k1", "dismissed", 0.7, 5))
    assert not apply_verdicts(_scores(), earlier).set_index("account_id").loc["a3", "flagged"]


def test_applying_again_starts_from_the_models_decision():
    once = apply_verdicts(_scores(), _latest(("account", "a1", "dismissed", 0.5, 0)))
    twice = apply_verdicts(once, _latest(("account", "a1", "dismissed", 0.5, 0)))
    pd.testing.assert_frame_equal(once, twice)
    lifted = apply_verdicts(once, _latest(("account", "a1", "needs_review", 0.5, 10)))
    assert lifted.loc[0, "flagged"] and lifted.loc[0, "severity"] == "high" and lifted.loc[0, "reasons"] == "r1"


def test_a_dismissal_without_a_recorded_score_holds_and_unflagged_accounts_stay_unflagged():
    out = apply_verdicts(_scores(), _latest(("account", "a1", "dismissed", float("nan"), 0),
                                            ("account", "a4", "dismissed", 0.1, 0)))
    assert not out.loc[0, "flagged"] and out.loc[0, "reasons"].startswith("[dismissed by ana on 2026-11-20] ")
    assert not out.loc[3, "suppressed"] and out.loc[3, "reasons"] == "r4"


def test_verdict_values_are_the_contract():
    assert VERDICTS == ("confirmed", "dismissed", "needs_review")


# --- the nightly job honours dismissals ---------------------------------------------------------------
@pytest.mark.slow
def test_nightly_scoring_keeps_a_dismissed_account_unflagged(tmp_path_factory, tmp_path):
    from app_workspace import FP_BUDGET, WINDOW_DAYS, shared

    from targeting.config import load_settings
    from targeting.jobs import score

    root = tmp_path / "ws"
    shutil.copytree(shared(tmp_path_factory), root)
    ws = W.open_workspace(root)
    before = W.read_latest_scores(ws).to_pandas()
    top = before[before["flagged"]].sort_values("risk_score").iloc[-1]
    record_verdict(ws, target_kind="account", target_id=top["account_id"], verdict="dismissed",
                   note="known partner", analyst="ana", risk_score=float(top["risk_score"]))
    settings = load_settings(environ={}, overrides={"risk": {"fp_budget": FP_BUDGET}})
    result = score(root, settings, as_of=pd.Timestamp(top["as_of"]).date(), window_days=WINDOW_DAYS)
    after = W.read_latest_scores(ws).to_pandas().set_index("account_id")
    row = after.loc[top["account_id"]]
    assert not row["flagged"] and row["flagged_by_model"] and row["verdict"] == "dismissed"
    assert row["reasons"].startswith("[dismissed by ana")
    assert result.flagged == int(before["flagged"].sum()) - 1
    assert len(read_verdicts(ws)) == 1  # the run read the trail and left it alone


@pytest.mark.slow
def test_exports_show_verdicts_recorded_since_the_run(tmp_path_factory, tmp_path):
    from app_workspace import shared

    from targeting.cli import main

    root = tmp_path / "ws"
    shutil.copytree(shared(tmp_path_factory), root)
    ws = W.open_workspace(root)
    scores = W.read_latest_scores(ws).to_pandas()
    top = scores[scores["flagged"]].sort_values("risk_score").iloc[-1]
    record_verdict(ws, target_kind="account", target_id=top["account_id"], verdict="dismissed", note="partner",
                   analyst="ana", risk_score=float(top["risk_score"]))
    assert main(["export", "accounts", "--workspace", str(root), "--out", str(tmp_path / "a.csv")]) == 0
    accounts = pd.read_csv(tmp_path / "a.csv", keep_default_na=False).set_index("account_id")
    columns = accounts.columns.tolist()
    at = columns.index("verdict")
    assert columns[at : at + 4] == ["verdict", "verdict_note", "verdict_by", "verdict_at"]
    row = accounts.loc[top["account_id"]]
    assert row["verdict"] == "dismissed" and row["verdict_by"] == "ana" and not row["flagged"]
    assert main(["export", "verdicts", "--workspace", str(root), "--out", str(tmp_path / "v.parquet")]) == 0
    trail = pd.read_parquet(tmp_path / "v.parquet")
    assert list(trail.columns) == list(COLUMNS) and trail["target_id"].tolist() == [top["account_id"]]
