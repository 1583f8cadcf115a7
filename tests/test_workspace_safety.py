"""The command line around the workspace: a busy workspace, the demo's deletions, failed first runs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from targeting import cli
from targeting import workspace as W
from targeting.verdicts import record_verdict

BUSY = "workspace is busy (another run holds it): retry later"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _real_workspace(root: Path) -> dict[str, bytes]:
    """A workspace with a committed state and an analyst's verdict; returns its files' bytes."""
    ws = W.open_workspace(root, create=True)
    W.write_json(ws.state_path, {"map_id": None, "latest_scores": None, "runs": ["r1"]})
    W.write_json(ws.root / "runs" / "r1.json", {"run_id": "r1"})
    record_verdict(ws, target_kind="account", target_id="acct-1", verdict="confirmed", note="", analyst="ana")
    return _files(root)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def no_simulation(monkeypatch):
    """Stop the demo right after it prepared its workspace (nothing is simulated or run)."""
    import targeting.simulate

    def stop(*args, **kwargs):
        raise RuntimeError("simulation stopped by the test")

    monkeypatch.setattr(targeting.simulate, "simulate", stop)


# --- a busy workspace -------------------------------------------------------------------------------
def test_a_busy_workspace_says_so_and_exits_75(tmp_path, hold_lock, capsys):
    ws = W.open_workspace(tmp_path / "ws", create=True)
    hold_lock(ws.root)
    assert cli.main(["score", "--workspace", str(ws.root)]) == cli.EXIT_LOCKED == 75
    assert capsys.readouterr().err == BUSY + "\n"


# --- the demo ----------------------------------------------------------------------------------------
def test_demo_refuses_to_delete_a_real_workspace(tmp_path, no_simulation, capsys):
    root = tmp_path / "real"
    before = _real_workspace(root)
    for keep in ([], ["--keep"]):
        assert cli.main(["demo", "--workspace", str(root), "--no-app", *keep]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "not a demo workspace" in err and err.count("\n") == 1
        assert _files(root) == before


def test_demo_refuses_a_folder_it_did_not_create(tmp_path, no_simulation, capsys):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "notes.txt").write_text("keep me")
    assert cli.main(["demo", "--workspace", str(root), "--no-app"]) == 2
    assert (root / "notes.txt").read_text() == "keep me"


def test_demo_marks_the_workspace_it_creates_owner_only(tmp_path, no_simulation):
    root = tmp_path / "demo-ws"
    assert cli.main(["demo", "--workspace", str(root), "--no-app"]) == 1  # the test stops the simulation
    assert (root / W.DEMO_MARKER).is_file()
    assert _mode(root) == 0o700


def test_demo_replaces_its_own_workspace_but_not_while_it_is_busy(tmp_path, no_simulation, hold_lock, capsys):
    root = tmp_path / "demo-ws"
    cli.main(["demo", "--workspace", str(root), "--no-app"])
    W.write_json(root / "state.json", {"map_id": None, "latest_scores": None, "runs": ["old"]})
    (root / "requests").mkdir()
    (root / "requests" / "old.parquet").write_bytes(b"old")
    capsys.readouterr()

    held = hold_lock(root)
    before = _files(root)
    assert cli.main(["demo", "--workspace", str(root), "--no-app"]) == 75
    assert capsys.readouterr().err == BUSY + "\n"
    assert _files(root) == before  # nothing deleted under another run's feet
    held.release()

    assert cli.main(["demo", "--workspace", str(root), "--no-app"]) == 1
    assert not (root / "state.json").exists() and not (root / "requests").exists()
    assert (root / W.DEMO_MARKER).is_file()


# --- a failed first run ---------------------------------------------------------------------------------
def _bad_log(tmp_path: Path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps({"account_id": f"a{i}", "timestamp": "nonsense", "prompt": "p"}) + "\n"
                            for i in range(20)))
    return path


def test_a_failed_first_run_into_a_new_folder_leaves_nothing(tmp_path, capsys):
    target = tmp_path / "new" / "ws"
    assert cli.main(["run", str(_bad_log(tmp_path)), "--workspace", str(target)]) == 2
    assert "malformed" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_a_failed_first_run_into_an_existing_folder_removes_only_what_it_made(tmp_path, capsys):
    target = tmp_path / "existing"
    target.mkdir()
    os.chmod(target, 0o755)
    (target / "notes.txt").write_text("keep me")
    assert cli.main(["run", str(_bad_log(tmp_path)), "--workspace", str(target)]) == 2
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    assert _mode(target) == 0o700


def test_a_failed_later_run_keeps_the_workspace(tmp_path):
    root = tmp_path / "ws"
    before = _real_workspace(root)
    ws = W.open_workspace(root, create=True)
    with pytest.raises(RuntimeError):
        with W.locked(ws):
            raise RuntimeError("boom")
    after = _files(root)
    assert {k: v for k, v in after.items() if k != W.LOCK_FILE} == {k: v for k, v in before.items() if k != W.LOCK_FILE}


def test_a_workspace_created_in_an_existing_folder_is_owner_only(tmp_path):
    target = tmp_path / "existing"
    target.mkdir()
    os.chmod(target, 0o755)
    W.open_workspace(target, create=True)
    assert _mode(target) == 0o700
