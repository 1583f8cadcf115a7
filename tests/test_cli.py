"""The command line in process: usage errors, printed commands that work as pasted, exports."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pandas as pd

from targeting import cli


def test_an_unknown_evidence_family_is_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TARGETING_RISK__DISABLE", "cadence,bogus")
    assert cli.main(["score", "--workspace", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err
    assert "unknown evidence family bogus" in err and "coordination" in err


def test_printed_commands_work_without_an_activated_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `targeting` on the PATH
    command = cli._command()
    assert command != "targeting"
    assert Path(command.strip("'")).exists() or command.endswith("-m targeting.cli")
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.defpath]))
    if (Path(sys.executable).parent / "targeting").exists():
        assert cli._command() == "targeting"


def test_write_frame_refuses_other_extensions_and_writes_owner_only(tmp_path, capsys):
    frame = pd.DataFrame({"account_id": ["=1+1"], "risk_score": [0.5]})
    cli._write_frame(frame, tmp_path / "a.csv")
    assert stat.S_IMODE((tmp_path / "a.csv").stat().st_mode) == 0o600
    assert (tmp_path / "a.csv").read_text().splitlines()[1].startswith("'=1+1")
    try:
        cli._write_frame(frame, tmp_path / "a.json")
    except cli.UsageProblem as exc:
        assert "csv or .parquet" in str(exc)
    else:
        raise AssertionError("a .json export was accepted")
