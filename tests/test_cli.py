"""The command line in process: usage errors, printed commands that work as pasted, exports."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer.main

from targeting import cli
from targeting.errors import (BadInputError, EmbeddingError, InputError, ScaleoutError, TaxonomyError, UsageProblem,
                              WorkspaceError, WorkspaceLocked)


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


def test_help_paragraphs_wrap_at_the_terminal_width_not_at_the_source_line_breaks(capsys, monkeypatch):
    assert cli.reflow("One line\n    and its rest.\n\n  Second\n  paragraph.\n") == "One line and its rest.\n\nSecond paragraph."
    monkeypatch.setenv("COLUMNS", "200")
    out = _help(["score", "--help"], capsys)
    assert "assigns them to the map and reports drift before scoring" in out  # a source line break inside


def test_simulate_volume_scales_every_accounts_requests(tmp_path):
    full, half = tmp_path / "full", tmp_path / "half"
    assert cli.main(["simulate", "--out", str(full), "--accounts", "40", "--seed", "3"]) == 0
    assert cli.main(["simulate", "--out", str(half), "--accounts", "40", "--seed", "3", "--volume", "0.5"]) == 0
    n_full = len(pd.read_parquet(full / "requests.parquet"))
    n_half = len(pd.read_parquet(half / "requests.parquet"))
    assert 0.3 * n_full < n_half < 0.7 * n_full
    assert pd.read_parquet(half / "labels.parquet")["account_id"].nunique() == 40


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


# --- every command in process (Typer's CliRunner): exit codes and messages (issue 13) ---------------
BUSY = "workspace is busy (another run holds it): retry later\n"
_ROOT = typer.main.get_command(cli.app)
COMMANDS = [[name] for name in _ROOT.commands if name != "export"]
COMMANDS += [["export", name] for name in _ROOT.commands["export"].commands]
GOOD_CSV = "account_id,timestamp,prompt\na,2026-11-01T10:00:00Z,hello there\nb,2026-11-01T10:00:01Z,hi\n"


def test_no_arguments_print_the_help_and_succeed_in_process(invoke):
    result = invoke()
    assert result.exit_code == 0 and result.stderr == ""
    assert "Usage: " in result.stdout and "COMMAND" in result.stdout and "explain" in result.stdout


def test_the_export_group_without_a_command_shows_its_help_and_fails(invoke):
    result = invoke("export")
    assert result.exit_code == 2
    assert "accounts" in result.output and "verdicts" in result.output


@pytest.mark.parametrize("path", [[]] + COMMANDS, ids=lambda path: " ".join(path) or "targeting")
def test_help_succeeds_and_an_unknown_option_is_a_usage_error(invoke, path):
    shown = invoke(*path, "--help")
    assert shown.exit_code == 0 and "Usage: " in shown.stdout and shown.stderr == ""
    refused = invoke(*path, "--no-such-option")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert "No such option: --no-such-option" in refused.stderr


@pytest.mark.parametrize("args", [
    ["score"], ["fit"], ["explain", "acct-1"], ["app"], ["report", "--out", "{tmp}/r.html"],
    ["evaluate", "--labels", "{tmp}/labels.csv"], ["export", "accounts", "--out", "{tmp}/a.csv"],
    ["export", "verdicts", "--out", "{tmp}/v.csv"], ["export", "requests", "--out", "{tmp}/q.csv"],
], ids=lambda args: " ".join(a for a in args if not a.startswith("{")))
def test_a_missing_workspace_is_exit_2_naming_it(invoke, tmp_path, args):
    (tmp_path / "labels.csv").write_text("account_id,role\n")
    ws = tmp_path / "nowhere"
    result = invoke(*[a.format(tmp=tmp_path) for a in args], "--workspace", ws)
    assert (result.exit_code, result.stderr, result.stdout) == (2, f"error: workspace {ws} does not exist\n", "")
    assert not ws.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]


@pytest.mark.parametrize("name, content, message", [
    ("gone.jsonl", None, "no such file or folder"),
    ("data.txt", "hello\n", "unsupported file type (expected .parquet"),
    ("logs.csv", "account_id,timestamp,text\na,2026-11-01T10:00:00Z,hi\n", "column `prompt` is missing"),
    ("logs.jsonl.gz", b"\x1f\x8b\x08\x00 not gzip at all", "unreadable ("),
    ("logs.parquet", b"PAR1 damaged PAR1", "not a readable Parquet file"),
])
def test_a_bad_input_file_is_exit_2_naming_it(invoke, tmp_path, name, content, message):
    log = tmp_path / name
    if content is not None:
        log.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = invoke("run", log, "--workspace", tmp_path / "ws")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {log}: {message}") and result.stderr.count("\n") == 1
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("args", [["run", "{log}"], ["score"], ["score", "{log}"], ["fit"]],
                         ids=lambda args: " ".join(args))
def test_a_busy_workspace_is_exit_75(invoke, hashing_model, hold_lock, tmp_path, args):
    log = tmp_path / "logs.csv"
    log.write_text(GOOD_CSV)
    ws = tmp_path / "ws"
    hold_lock(ws)
    result = invoke(*[a.format(log=log) for a in args], "--workspace", ws)
    assert (result.exit_code, result.stderr, result.stdout) == (75, BUSY, "")
    assert sorted(p.name for p in ws.iterdir()) == [".lock"]  # nothing written


@pytest.mark.parametrize("args, message", [
    (["score", "--engine", "spark"], "error: --engine 'spark': use one of local, ray"),
    (["score", "--from", "2026-11-01"], "error: --from and --to go together"),
    (["score", "--from", "2026-11-02", "--to", "2026-11-01"], "error: --to 2026-11-01 is before --from 2026-11-02"),
    (["score", "--address", "auto"], "error: --address, --actors and --gpus-per-actor are options of --engine ray"),
    (["fit", "--as-of", "yesterday"], "error: --as-of 'yesterday' is not a date (YYYY-MM-DD)"),
    (["report", "--from", "11/01", "--out", "r.html"], "error: --from '11/01' is not a date (YYYY-MM-DD)"),
    (["evaluate", "--labels", "no-labels.parquet"], "error: labels file no-labels.parquet not found"),
])
def test_a_usage_problem_is_exit_2_with_one_line(invoke, tmp_path, args, message):
    result = invoke(*args, "--workspace", tmp_path / "ws")
    assert (result.exit_code, result.stderr, result.stdout) == (2, message + "\n", "")


def test_simulate_refuses_an_unknown_format(invoke, tmp_path):
    result = invoke("simulate", "--out", tmp_path / "traffic", "--format", "xml")
    assert (result.exit_code, result.stderr) == (2, "error: --format 'xml': use parquet, jsonl or csv\n")
    assert not (tmp_path / "traffic").exists()


@pytest.mark.parametrize("error, code, line", [
    (WorkspaceLocked("workspace w is locked by another run"), 75, BUSY),
    (WorkspaceError("workspace w is not a folder"), 2, "error: workspace w is not a folder\n"),
    (BadInputError("too many malformed rows"), 2, "error: too many malformed rows\n"),
    (InputError("x.csv: unreadable"), 2, "error: x.csv: unreadable\n"),
    (UsageProblem("--days 0"), 2, "error: --days 0\n"),
    (TaxonomyError("taxonomy.json: no areas"), 2, "error: taxonomy.json: no areas\n"),
    (EmbeddingError("model never downloaded"), 2, "error: model never downloaded\n"),
    (FileNotFoundError("map.json"), 2, "error: map.json\n"),
    (ScaleoutError("lost 3 requests"), 1, "internal error: lost 3 requests\n"),
    (RuntimeError("boom\nsecond line"), 1, "internal error: boom\n"),
    (KeyError(), 1, "internal error: KeyError\n"),
    (ValueError("acct \x1b[2J"), 1, "internal error: acct \\x1b[2J\n"),
], ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value)[:8])
def test_each_failure_maps_to_its_exit_code_and_one_line(invoke, monkeypatch, tmp_path, error, code, line):
    import targeting.jobs

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(targeting.jobs, "fit", fail)
    result = invoke("fit", "--workspace", tmp_path)
    assert (result.exit_code, result.stderr, result.stdout) == (code, line, "")
    assert cli._exit_code(error) == code


def test_debug_adds_the_traceback_to_the_line(invoke, monkeypatch, tmp_path):
    import targeting.jobs

    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(targeting.jobs, "fit", fail)
    result = invoke("--debug", "fit", "--workspace", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.endswith("RuntimeError: boom\ninternal error: boom\n")
    assert invoke("fit", "--workspace", tmp_path).stderr == "internal error: boom\n"  # --debug does not stick


# --- the commands on a small real workspace (the app tests' one, a copy; HashingEncoder) ---------
def _state(ws: Path) -> str:
    return (ws / "state.json").read_text()


@pytest.mark.slow
def test_run_in_process_ingests_fits_and_scores(invoke, hashing_model, tmp_path):
    from targeting.simulate import SimConfig, simulate, write_traffic

    requests, labels = simulate(SimConfig(seed=5, n_accounts=30, volume_scale=0.2))
    write_traffic(tmp_path / "traffic", requests, labels, fmt="csv")
    result = invoke("--quiet", "run", tmp_path / "traffic" / "requests.csv", "--workspace", tmp_path / "ws")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("run complete: run ")
    assert f"rows read {len(requests):,}; stored {len(requests):,}" in result.stdout
    assert "(fitted this run)" in result.stdout
    state = json.loads(_state(tmp_path / "ws"))
    manifest = json.loads((tmp_path / "ws" / "runs" / f"{state['runs'][-1]}.json").read_text())
    assert manifest["model"]["key"] == hashing_model.model_key  # the light encoder, not the real model
    again = invoke("--quiet", "run", tmp_path / "traffic" / "requests.csv", "--workspace", tmp_path / "ws")
    assert again.exit_code == 0 and f"duplicates skipped {len(requests):,}" in again.stdout


@pytest.mark.slow
def test_score_and_fit_in_process_on_a_workspace(invoke, hashing_model, workspace_copy):
    scored = invoke("--quiet", "score", "--workspace", workspace_copy)
    assert scored.exit_code == 0, scored.stderr
    assert scored.stdout.startswith("scoring complete: run ") and "accounts scored" in scored.stdout
    fitted = invoke("--quiet", "fit", "--workspace", workspace_copy, "--days", "14")
    assert fitted.exit_code == 0, fitted.stderr
    assert fitted.stdout.startswith("fit complete: run ") and "clusters kept their previous ids" in fitted.stdout


@pytest.mark.slow
def test_a_bad_file_or_a_busy_workspace_leaves_the_workspace_as_it_was(invoke, hashing_model, hold_lock,
                                                                       workspace_copy, tmp_path):
    before = _state(workspace_copy)
    damaged = tmp_path / "night.jsonl.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00 not gzip")
    refused = invoke("score", damaged, "--workspace", workspace_copy)
    assert refused.exit_code == 2 and refused.stderr.startswith(f"error: {damaged}: unreadable (")
    hold_lock(workspace_copy)
    for args in (["score"], ["fit"], ["run", damaged]):
        busy = invoke(*args, "--workspace", workspace_copy)
        assert (busy.exit_code, busy.stderr) == (75, BUSY), args
    assert _state(workspace_copy) == before


@pytest.mark.slow
def test_exports_explain_report_and_evaluate_in_process(invoke, workspace_copy, tmp_path, tmp_path_factory):
    from app_workspace import shared

    accounts = invoke("export", "accounts", "--workspace", workspace_copy, "--out", tmp_path / "a.csv")
    assert accounts.exit_code == 0 and accounts.stdout.startswith("wrote ")
    frame = pd.read_csv(tmp_path / "a.csv")
    assert accounts.stdout == f"wrote {len(frame):,} accounts to {tmp_path / 'a.csv'}\n"
    for kind in ("verdicts", "requests"):
        done = invoke("export", kind, "--workspace", workspace_copy, "--out", tmp_path / f"{kind}.parquet")
        assert done.exit_code == 0 and f" {kind} to " in done.stdout, done.stderr
    top = frame.sort_values("risk_score", ascending=False)["account_id"].iloc[0]
    explained = invoke("explain", top, "--workspace", workspace_copy)
    assert explained.exit_code == 0 and explained.stdout.startswith(f"{top}: risk ")
    unknown = invoke("explain", "no-such-account", "--workspace", workspace_copy)
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: ") and "no-such-account" in unknown.stderr
    wrong = invoke("export", "accounts", "--workspace", workspace_copy, "--out", tmp_path / "a.json")
    assert wrong.exit_code == 2 and ".csv or .parquet" in wrong.stderr and not (tmp_path / "a.json").exists()
    report = invoke("report", "--workspace", workspace_copy, "--out", tmp_path / "r.md")
    assert report.exit_code == 0 and report.stdout.startswith(f"wrote {tmp_path / 'r.md'}"), report.stderr
    labels = shared(tmp_path_factory).parent / "traffic" / "labels.parquet"
    evaluated = invoke("evaluate", "--workspace", workspace_copy, "--labels", labels, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert 0 <= json.loads(evaluated.stdout)["auprc"] <= 1
