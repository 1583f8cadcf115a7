"""Workspace layout, atomic transactions, crash recovery, the lock and the readers."""

from __future__ import annotations

import json
import os
import stat
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import targeting.workspace as W
from targeting.errors import WorkspaceError, WorkspaceLocked
from lock_holder import LockHolder


# --- helpers ------------------------------------------------------------------------------
@pytest.fixture
def ws(tmp_path: Path) -> W.Workspace:
    return W.open_workspace(tmp_path / "ws", create=True)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _stage_json(tx: W.Transaction, final: Path, obj) -> None:
    W.write_json(tx.path(final), obj)


def _commit_run(ws: W.Workspace, run_id: str, files: dict[str, object], **state) -> None:
    tx = W.begin(ws, run_id)
    for rel, obj in files.items():
        _stage_json(tx, ws.root / rel, obj)
    tx.state_updates.update(state)
    tx.commit({"kind": "test", "files": sorted(files)})


def _tmp_leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".tmp-" in p.name]


# --- open_workspace -----------------------------------------------------------------------
def test_open_workspace_creates_owner_only_folder(tmp_path):
    target = tmp_path / "a" / "b" / "ws"
    ws = W.open_workspace(target, create=True)
    assert ws.root == target.resolve()
    assert ws.root.is_dir()
    assert _mode(ws.root) == 0o700


def test_open_workspace_refuses_missing_folder_without_create(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist"):
        W.open_workspace(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_open_workspace_refuses_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(WorkspaceError, match="not a folder"):
        W.open_workspace(f, create=True)


def test_open_existing_workspace_without_create(tmp_path):
    (tmp_path / "ws").mkdir()
    ws = W.open_workspace(tmp_path / "ws")
    assert ws.root == (tmp_path / "ws").resolve()
    assert W.read_state(ws) == {"map_id": None, "latest_scores": None, "runs": []}


# --- transactions -------------------------------------------------------------------------
def test_staged_files_invisible_until_commit(ws):
    final = ws.root / "scores" / "as_of=2024-01-02" / "accounts.parquet"
    other = ws.root / "maps" / "m1" / "map.json"
    tx = W.begin(ws, "run-1")
    staged = tx.path(final)
    assert staged != final
    assert ws.root / W.STAGING in staged.parents
    W.write_parquet(staged, pa.table({"x": [1, 2, 3]}))
    _stage_json(tx, other, {"a": 1})
    assert not final.exists() and not other.exists()
    assert W.read_state(ws)["runs"] == []

    tx.state_updates["latest_scores"] = str(final.relative_to(ws.root))
    tx.commit({"kind": "test"})

    assert pq.read_table(final).column("x").to_pylist() == [1, 2, 3]
    assert json.loads(other.read_text()) == {"a": 1}
    state = W.read_state(ws)
    assert state["runs"] == ["run-1"]
    assert state["latest_scores"] == "scores/as_of=2024-01-02/accounts.parquet"
    assert W.read_latest_scores(ws).num_rows == 3
    assert not tx.staging.exists()
    assert not (ws.root / W.STAGING / "run-1").exists()


def test_runs_list_grows_and_manifests_are_written(ws):
    _commit_run(ws, "run-a", {"maps/x/a.json": [1]}, map_id="x")
    _commit_run(ws, "run-b", {"maps/x/b.json": [2]})
    state = W.read_state(ws)
    assert state["runs"] == ["run-a", "run-b"]
    assert state["map_id"] == "x"  # kept from the first run
    for run_id in ("run-a", "run-b"):
        path = ws.runs_dir() / f"{run_id}.json"
        assert path.exists()
        manifest = W.read_manifest(ws, run_id)
        assert manifest["run_id"] == run_id
        assert manifest["kind"] == "test"
        assert manifest["committed_at"].endswith("Z")
    assert W.read_manifest(ws, "run-b")["files"] == ["maps/x/b.json"]


def test_commit_replaces_existing_file(ws):
    _commit_run(ws, "run-a", {"maps/x/a.json": {"v": 1}})
    _commit_run(ws, "run-b", {"maps/x/a.json": {"v": 2}})
    assert json.loads((ws.root / "maps/x/a.json").read_text()) == {"v": 2}


def test_delete_on_commit_removes_files_and_folders(ws):
    _commit_run(ws, "run-a", {"assignments/date=2024-01-01/p.json": 1, "maps/old/m.json": 2, "keep.json": 3})
    tx = W.begin(ws, "run-b")
    tx.delete_on_commit(ws.root / "maps" / "old")
    tx.delete_on_commit(ws.root / "assignments" / "date=2024-01-01" / "p.json")
    tx.delete_on_commit(ws.root / "never-existed.json")  # tolerated
    assert (ws.root / "maps/old/m.json").exists()  # nothing happens before commit
    tx.commit({})
    assert not (ws.root / "maps" / "old").exists()
    assert not (ws.root / "assignments/date=2024-01-01/p.json").exists()
    assert (ws.root / "keep.json").exists()


def test_delete_on_commit_does_not_delete_a_file_staged_at_the_same_path(ws):
    _commit_run(ws, "run-a", {"maps/x/m.json": {"v": 1}})
    tx = W.begin(ws, "run-b")
    _stage_json(tx, ws.root / "maps/x/m.json", {"v": 2})
    tx.delete_on_commit(ws.root / "maps/x/m.json")
    tx.commit({})
    assert json.loads((ws.root / "maps/x/m.json").read_text()) == {"v": 2}


def test_begin_clears_stale_staging_of_same_run(ws):
    tx = W.begin(ws, "run-a")
    _stage_json(tx, ws.root / "stale.json", 1)
    tx2 = W.begin(ws, "run-a")
    _stage_json(tx2, ws.root / "fresh.json", 2)
    tx2.commit({})
    assert (ws.root / "fresh.json").exists()
    assert not (ws.root / "stale.json").exists()


def test_uncommitted_transaction_is_discarded_by_recover(ws):
    _commit_run(ws, "run-a", {"maps/a/m.json": 1}, map_id="a")
    before = ws.state_path.read_bytes()

    # a run that staged files and then "crashed" before commit
    tx = W.begin(ws, "run-b")
    _stage_json(tx, ws.root / "maps/b/m.json", 2)
    W.write_parquet(tx.path(ws.root / "requests/date=2024-01-01/part-run-b.parquet"), pa.table({"x": [1]}))
    tx.state_updates["map_id"] = "b"
    del tx

    actions = W.recover(ws)
    assert actions == ["discarded unfinished run run-b"]
    assert not (ws.root / W.STAGING / "run-b").exists()
    assert not (ws.root / "maps/b").exists()
    assert not (ws.root / "requests").exists()
    assert ws.state_path.read_bytes() == before
    assert W.read_state(ws)["map_id"] == "a"
    assert not (ws.runs_dir() / "run-b.json").exists()
    assert W.recover(ws) == []  # nothing left to do


def test_locked_discards_uncommitted_transaction(ws):
    tx = W.begin(ws, "run-x")
    _stage_json(tx, ws.root / "x.json", 1)
    with W.locked(ws):
        assert not tx.staging.exists()
    assert not (ws.root / "x.json").exists()
    assert not ws.state_path.exists()


def _crash_after_moves(monkeypatch, staging: Path, allowed: int) -> dict:
    """Make os.replace fail once ``allowed`` staged files have been moved out of staging."""
    real = os.replace
    seen = {"moves": 0}

    def fake(src, dst, *a, **kw):
        src_p = Path(src)
        is_move = staging in src_p.parents and not src_p.name.startswith(".")  # not a temp file
        if is_move:
            if seen["moves"] >= allowed:
                raise OSError("simulated crash during commit")
            seen["moves"] += 1
        return real(src, dst, *a, **kw)

    monkeypatch.setattr(W.os, "replace", fake)
    return seen


@pytest.mark.parametrize("moved_before_crash", [0, 1, 2])
def test_crash_during_commit_is_completed_on_next_lock(ws, monkeypatch, moved_before_crash):
    _commit_run(ws, "run-a", {"maps/a/m.json": 1, "old/gone.json": 0}, map_id="a")
    state_before = ws.state_path.read_bytes()

    tx = W.begin(ws, "run-b")
    finals = {
        "maps/b/m.json": {"v": "map"},
        "requests/date=2024-01-01/part-run-b.json": {"v": "req"},
        "scores/as_of=2024-01-01/accounts.json": {"v": "scores"},
    }
    for rel, obj in finals.items():
        _stage_json(tx, ws.root / rel, obj)
    tx.delete_on_commit(ws.root / "old")
    tx.state_updates.update(map_id="b", latest_scores="scores/as_of=2024-01-01/accounts.json")

    seen = _crash_after_moves(monkeypatch, tx.staging, moved_before_crash)
    with pytest.raises(OSError, match="simulated crash"):
        tx.commit({"kind": "crashy"})
    monkeypatch.undo()

    # the crash left the journal and a half-done commit; state.json is still the old one
    assert seen["moves"] == moved_before_crash
    assert (tx.staging / W.JOURNAL_FILE).exists()
    journal = json.loads((tx.staging / W.JOURNAL_FILE).read_text())
    assert journal["run_id"] == "run-b"
    assert sorted(journal["moves"]) == sorted(finals)
    assert ws.state_path.read_bytes() == state_before
    present = [rel for rel in finals if (ws.root / rel).exists()]
    assert len(present) == moved_before_crash

    with W.locked(ws):
        pass  # recovery runs on lock

    for rel, obj in finals.items():
        assert json.loads((ws.root / rel).read_text()) == obj, rel
    assert not (ws.root / "old").exists()
    assert (ws.root / "maps/a/m.json").exists()
    state = W.read_state(ws)
    assert state["runs"] == ["run-a", "run-b"]
    assert state["map_id"] == "b"
    assert state["latest_scores"] == "scores/as_of=2024-01-01/accounts.json"
    manifest = W.read_manifest(ws, "run-b")
    assert manifest["kind"] == "crashy" and manifest["run_id"] == "run-b"
    assert not tx.staging.exists()
    assert W.recover(ws) == []


def test_recover_after_crash_after_state_write_does_not_duplicate_run(ws, monkeypatch):
    """A crash after state.json was replaced but before staging was removed: redo is harmless."""
    tx = W.begin(ws, "run-a")
    _stage_json(tx, ws.root / "a.json", 1)
    monkeypatch.setattr(W.shutil, "rmtree", lambda *a, **k: None)
    tx.commit({})
    monkeypatch.undo()
    assert (tx.staging / W.JOURNAL_FILE).exists()
    assert W.recover(ws) == ["completed commit of run run-a"]
    assert W.read_state(ws)["runs"] == ["run-a"]
    assert json.loads((ws.root / "a.json").read_text()) == 1
    assert not tx.staging.exists()


def test_redo_does_not_delete_files_already_moved_into_a_deleted_folder(ws, monkeypatch):
    # what jobs.run does on --refit: delete all old assignments, stage new ones
    _commit_run(ws, "run-a", {"assignments/date=2024-01-01/part-run-a.json": "old"})
    tx = W.begin(ws, "run-b")
    _stage_json(tx, ws.root / "assignments/date=2024-01-01/part-run-b.json", "new")
    _stage_json(tx, ws.root / "scores/as_of=2024-01-01/accounts.json", "scores")
    tx.delete_on_commit(ws.root / "assignments")
    _crash_after_moves(monkeypatch, tx.staging, 1)  # the assignments file moves, then crash
    with pytest.raises(OSError):
        tx.commit({})
    monkeypatch.undo()
    assert (ws.root / "assignments/date=2024-01-01/part-run-b.json").exists()

    W.recover(ws)

    assert not (ws.root / "assignments/date=2024-01-01/part-run-a.json").exists()
    assert (ws.root / "assignments/date=2024-01-01/part-run-b.json").exists()


# --- the lock -----------------------------------------------------------------------------
def test_locked_raises_when_another_process_holds_the_lock(ws):
    holder = LockHolder(ws.root)
    try:
        with pytest.raises(WorkspaceLocked, match="locked"):
            with W.locked(ws):
                pytest.fail("entered a workspace locked by another process")
    finally:
        assert holder.release() == 0  # the holder exits and releases the lock
    with W.locked(ws):
        assert (ws.root / W.LOCK_FILE).read_text().strip() == str(os.getpid())


def test_lock_is_released_after_an_exception(ws):
    with pytest.raises(RuntimeError):
        with W.locked(ws):
            raise RuntimeError("boom")
    with W.locked(ws):
        pass


def test_workspace_locked_is_a_workspace_error():
    assert issubclass(WorkspaceLocked, WorkspaceError)


# --- writers ------------------------------------------------------------------------------
def test_write_parquet_and_json_leave_no_temp_files(ws):
    pq_path = ws.root / "some" / "dir" / "t.parquet"
    js_path = ws.root / "other" / "s.json"
    W.write_parquet(pq_path, pa.table({"a": ["x", "y"]}))
    W.write_parquet(pq_path, pa.table({"a": ["z"]}))  # overwrite
    W.write_json(js_path, {"b": [1, 2], "when": Path("p")})
    W.write_json(js_path, {"b": [3]})
    assert _tmp_leftovers(ws.root) == []
    assert pq.read_table(pq_path).column("a").to_pylist() == ["z"]
    assert json.loads(js_path.read_text()) == {"b": [3]}
    assert _mode(pq_path) == 0o600
    assert _mode(js_path) == 0o600
    assert sorted(p.name for p in pq_path.parent.iterdir()) == ["t.parquet"]


def test_commit_leaves_no_temp_files(ws):
    _commit_run(ws, "run-a", {"a.json": 1, "b/c.json": 2})
    assert _tmp_leftovers(ws.root) == []
    assert not (ws.root / W.STAGING / "run-a").exists()


# --- readers ------------------------------------------------------------------------------
def test_embeddings_round_trip_float16(ws):
    rng = np.random.default_rng(0)
    v1 = rng.normal(size=(5, 32)).astype(np.float16)
    v2 = rng.normal(size=(3, 32)).astype(np.float32)  # converted to float16 on write
    h1 = np.array([f"a{i}" for i in range(5)], dtype=object)
    h2 = np.array([f"b{i}" for i in range(3)], dtype=object)
    folder = ws.embeddings_dir("model-k")
    W.write_parquet(folder / "part-1.parquet", W.embeddings_table(h1, v1))
    W.write_parquet(folder / "part-2.parquet", W.embeddings_table(h2, v2))
    hashes, vectors = W.read_embeddings(ws, "model-k")
    assert vectors.dtype == np.float16
    assert vectors.shape == (8, 32)
    assert list(hashes) == [*h1, *h2]
    np.testing.assert_array_equal(vectors[:5], v1)
    np.testing.assert_array_equal(vectors[5:], v2.astype(np.float16))
    table = W.embeddings_table(h1, v1)
    assert table.schema.field("vector").type == pa.list_(pa.float16(), 32)


def test_read_embeddings_of_unknown_model_is_empty(ws):
    hashes, vectors = W.read_embeddings(ws, "nothing")
    assert len(hashes) == 0
    assert vectors.shape[0] == 0 and vectors.dtype == np.float16


def test_readers_on_empty_workspace(ws):
    table = W.read_requests(ws)
    assert isinstance(table, pa.Table) and table.num_rows == 0
    assert W.read_requests(ws, ["account_id"], start_date=date(2024, 1, 1)).num_rows == 0
    assert W.read_assignments(ws).num_rows == 0
    assert W.distinct_prompt_hashes(ws) == set()
    assert W.read_score_history(ws).num_rows == 0 and W.read_nights(ws) == []
    assert not W.has_partitions(ws, "requests")
    assert W.read_latest_scores(ws) is None
    assert W.latest_scores_path(ws) is None
    # the questions of the other modules: empty answers with their columns
    assert W.requests_with_assignments(ws, ["a"]).column_names == [
        "account_id", "request_id", "timestamp", "prompt", "prompt_hash", "area", "cluster_id"]
    assert W.account_cluster_counts(ws).column_names == ["account_id", "cluster_id", "area", "n"]
    assert W.prompt_hash_usage(ws, ["h"]).num_rows == 0


def test_query_takes_named_parameters_and_arrow_tables():
    probe = pa.table({"v": ["a", "b"]})
    table = W._query("SELECT v FROM probe WHERE v <> $skip", {"skip": "a"}, {"probe": probe})
    assert isinstance(table, pa.Table)
    assert table.column("v").to_pylist() == ["b"]


@pytest.mark.parametrize("columns", [["DISTINCT prompt_hash"], ["account_id; DROP TABLE x"], ["a", "1=1"], ["x'"]])
def test_column_lists_are_identifiers_or_refused(ws, columns):
    W.write_parquet(ws.partition_path("requests", "2024-01-01", "r"), pa.table({"account_id": ["a"]}))
    with pytest.raises(ValueError, match="not a column name"):
        W.read_requests(ws, columns)
    with pytest.raises(ValueError, match="not a column name"):
        W.assignments_of(ws, ["a"], columns)


def test_read_assignments_reads_all_partitions(ws):
    for day in ("2024-01-01", "2024-01-02"):
        W.write_parquet(
            ws.root / "assignments" / f"date={day}" / "part-r.parquet",
            pa.table({"request_id": [f"{day}-1", f"{day}-2"], "area": ["other", "reasoning"]}),
        )
    table = W.read_assignments(ws, ["request_id"])
    assert table.column_names == ["request_id"]
    assert table.num_rows == 4


def test_read_requests_reads_all_partitions(ws):
    for day, accounts in (("2024-01-01", ["a", "b"]), ("2024-01-02", ["b", "c", "c"])):
        W.write_parquet(
            ws.root / "requests" / f"date={day}" / "part-r.parquet",
            pa.table({"account_id": accounts, "prompt": [f"p-{x}" for x in accounts]}),
        )
    table = W.read_requests(ws)
    assert table.num_rows == 5
    assert set(table.column_names) == {"account_id", "prompt"}  # no hive "date" column


def test_read_requests_between_dates(ws):
    for day, accounts in (("2024-01-01", ["a", "b"]), ("2024-01-02", ["b", "c", "c"]), ("2024-01-03", ["d"])):
        W.write_parquet(
            ws.root / "requests" / f"date={day}" / "part-r.parquet",
            pa.table({"account_id": accounts, "date": pa.array([date.fromisoformat(day)] * len(accounts))}),
        )
    only = W.read_requests(ws, ["account_id"], start_date=date(2024, 1, 2), end_date=date(2024, 1, 2))
    assert only.column_names == ["account_id"]
    assert only.column("account_id").to_pylist() == ["b", "c", "c"]
    assert W.read_requests(ws, ["account_id"], start_date=date(2024, 1, 2)).num_rows == 4
    assert W.read_requests(ws, ["account_id"], end_date=date(2024, 1, 1)).num_rows == 2


def test_new_run_id_names_kind_and_pid():
    run_id = W.new_run_id("score")
    assert f"-score-{os.getpid()}" in run_id
    assert run_id[:8].isdigit()
