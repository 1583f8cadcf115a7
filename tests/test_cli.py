"""The command line in process: usage errors, printed commands that work as pasted, exports."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pandas as pd

from targeting import cli
from targeting.errors import UsageProblem


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
    except UsageProblem as exc:
        assert "csv or .parquet" in str(exc)
    else:
        raise AssertionError("a .json export was accepted")


# --- a new user's first hour (issue 15) ------------------------------------------------------------
def _help(args: list[str], capsys) -> str:
    assert cli.main(args) == 0
    return capsys.readouterr().out


def test_no_arguments_print_the_help_and_succeed(capsys):
    out = _help([], capsys)
    assert "Usage: " in out and "COMMAND" in out and "run" in out and "report" in out


def test_help_shows_switches_without_a_value_and_every_description_whole(capsys, monkeypatch):
    import typer.main

    monkeypatch.setenv("COLUMNS", "160")
    group = typer.main.get_command(cli.app)
    commands = [[name] for name in group.commands if name != "export"]
    commands += [["export", name] for name in group.commands["export"].commands]
    for path in ([], ["export"], *commands):
        out = _help([*path, "--help"], capsys)
        assert "<bool>" not in out, path  # --refit, --json, --help ... take no value
    for name, command in [*group.commands.items(), *group.commands["export"].commands.items()]:
        assert "\n" not in command.help.strip().split("\n\n")[0], name  # the list shows the first paragraph
    run_help = _help(["run", "--help"], capsys)
    assert "default: 0.05" in run_help and "default: 0.01" in run_help  # --max-bad-share, --fp-budget


def test_a_file_without_a_required_column_is_named_with_exit_2(tmp_path, capsys):
    log = tmp_path / "logs.csv"
    log.write_text("account_id,timestamp,text\na,2026-11-01T10:00:00Z,hello\nb,2026-11-01T10:00:01Z,hi\n")
    assert cli.main(["run", str(log), "--workspace", str(tmp_path / "ws")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {log}: column `prompt` is missing\n"
    assert not (tmp_path / "ws").exists()


def test_the_run_summary_names_linked_groups_and_campaigns():
    line = cli.group_count_line(13, 3)
    assert line.startswith("linked groups 13 (") and line.endswith("campaigns 3 (linked groups with a flagged member)")
