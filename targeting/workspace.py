"""The workspace on disk: layout, atomic commits, run manifests, the lock, DuckDB reads.

The only module that knows paths. Layout::

    WS/
      state.json                         committed state: current map, latest scores, runs
      requests/date=YYYY-MM-DD/part-RUN.parquet
      quarantine/part-RUN.parquet
      embeddings/MODEL_KEY/part-RUN.parquet     prompt_hash + float16 vector
      features/NAME-KEY/part-RUN.parquet        prompt_hash + per-prompt text features (cot, templates)
      assignments/date=YYYY-MM-DD/part-RUN.parquet
      maps/MAP_ID/...                    the fitted capability map (arrays + JSON)
      index/MAP_ID/...                   FAISS index over the stored prompt vectors
      scores/as_of=YYYY-MM-DD/accounts.parquet
      runs/RUN.json                      one manifest per committed run
      inputs/files.json                  input files ingested (path, size, mtime, sha256, run)
      nights/as_of=YYYY-MM-DD.json       the nightly job's summary of each night (drift...)
      nights/as_of=YYYY-MM-DD.accounts.parquet   the night's per-account activity (new requests)
      verdicts.sqlite                    analysts' verdicts (append-only, WAL; the app writes it)
      .staging/RUN/                      a run's files before commit
      .lock

A run writes everything under ``.staging/RUN`` with the same relative layout, then
commits: it writes a journal (the list of moves and deletions), carries it out and
finally replaces ``state.json``. A run killed before the journal leaves nothing behind
(its staging folder is removed on the next open); a run killed during the commit is
completed on the next open from its journal. Readers therefore always see either the
previous run or the new one. The one exception is the embedding cache: content-addressed,
so the nightly job writes it in checkpoints as it goes (``write_cache_parquet``) and a
killed run's vectors are reused by the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STATE_FILE = "state.json"
JOURNAL_FILE = "JOURNAL.json"
STAGING = ".staging"
LOCK_FILE = ".lock"
DIR_MODE = 0o700
FILE_MODE = 0o600


class WorkspaceError(RuntimeError):
    """The workspace is missing, locked or inconsistent."""


class WorkspaceLocked(WorkspaceError):
    """Another run holds the workspace lock."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    # --- paths -------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

    def requests_glob(self) -> str:
        return str(self.root / "requests" / "date=*" / "*.parquet")

    def assignments_glob(self) -> str:
        return str(self.root / "assignments" / "date=*" / "*.parquet")

    def partition_path(self, table: str, day: str, run_id: str) -> Path:
        """One run's file of a date-partitioned table (requests, assignments)."""
        return self.root / table / f"date={day}" / f"part-{run_id}.parquet"

    def embeddings_dir(self, model_key: str) -> Path:
        return self.root / "embeddings" / model_key

    def features_dir(self, name: str, key: str) -> Path:
        """Per-prompt text features of one kind (``name``) computed one way (``key``, a digest
        of what they depend on besides the text): ``nightly.FeatureCache``."""
        return self.root / "features" / f"{name}-{key}"

    def map_dir(self, map_id: str) -> Path:
        return self.root / "maps" / map_id

    def index_dir(self, map_id: str) -> Path:
        return self.root / "index" / map_id

    def scores_path(self, as_of: str, window_days: int | None = None) -> Path:
        """The night's account scores: ``accounts.parquet`` for the configured window (the
        score history), ``accounts-wN.parquet`` beside it for another window of N days."""
        name = "accounts.parquet" if window_days is None else f"accounts-w{window_days}.parquet"
        return self.root / "scores" / f"as_of={as_of}" / name

    def scores_glob(self) -> str:
        """Every committed night's account scores (one file per ``as_of``)."""
        return str(self.root / "scores" / "as_of=*" / "accounts.parquet")

    @property
    def evaluation_path(self) -> Path:
        """The latest evaluation against labels (``targeting evaluate --save``); the report cites it."""
        return self.root / "evaluation.json"

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def quarantine_path(self, run_id: str) -> Path:
        return self.root / "quarantine" / f"part-{run_id}.parquet"

    def quarantine_glob(self) -> str:
        return str(self.root / "quarantine" / "*.parquet")

    def runs_dir(self) -> Path:
        return self.root / "runs"

    # --- the nightly job -------------------------------------------------------------
    @property
    def inputs_path(self) -> Path:
        """Every input file the workspace has ingested: path, size, mtime, sha256, run."""
        return self.root / "inputs" / "files.json"

    def night_path(self, as_of: str) -> Path:
        """One night's summary (counts, drift, map, run id); a re-run of the night replaces it."""
        return self.root / "nights" / f"as_of={as_of}.json"

    def nights_glob(self) -> str:
        return str(self.root / "nights" / "as_of=*.json")

    def activity_path(self, as_of: str) -> Path:
        """The night's per-account activity (``targeting.activity``); a re-run of the night replaces it."""
        return self.root / "nights" / f"as_of={as_of}.accounts.parquet"

    def partition_dir(self, table: str, day: str) -> Path:
        return self.root / table / f"date={day}"

    @property
    def verdicts_path(self) -> Path:
        """Analysts' verdicts (SQLite, WAL): written by the app, never by a run."""
        return self.root / "verdicts.sqlite"


def _mkdir(path: Path) -> None:
    """Create ``path`` and any missing parents, each readable by its owner only."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask


def open_workspace(root: str | Path, *, create: bool = False) -> Workspace:
    """Return the workspace at ``root``; create it (owner-only) when ``create``."""
    path = Path(root).expanduser().resolve()
    if not path.exists():
        if not create:
            raise WorkspaceError(f"workspace {path} does not exist")
        _mkdir(path)
        os.chmod(path, DIR_MODE)
    elif not path.is_dir():
        raise WorkspaceError(f"workspace {path} is not a folder")
    return Workspace(path)


# --- state ---------------------------------------------------------------------------------
def read_state(ws: Workspace) -> dict[str, Any]:
    if not ws.state_path.exists():
        return {"map_id": None, "latest_scores": None, "runs": []}
    return json.loads(ws.state_path.read_text())


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    _mkdir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    _atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def write_parquet(path: Path, table: pa.Table) -> None:
    _mkdir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


# --- lock ----------------------------------------------------------------------------------
@contextlib.contextmanager
def locked(ws: Workspace) -> Iterator[None]:
    """Hold the workspace's exclusive writer lock; fail at once if another run holds it."""
    _mkdir(ws.root)
    fh = os.fdopen(os.open(ws.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE), "r+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkspaceLocked(f"workspace {ws.root} is locked by another run") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        recover(ws)
        yield
    finally:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()


# --- transactions --------------------------------------------------------------------------
class ParquetParts:
    """One Parquet file written a row group at a time (``write``: memory bounded by a part),
    moved into place by ``close``: like ``write_parquet``, never seen half-written."""

    def __init__(self, path: Path) -> None:
        self.path, self._tmp, self._writer = path, path.with_name(f".{path.name}.tmp-{os.getpid()}"), None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            _mkdir(self.path.parent)
            self._writer = pq.ParquetWriter(self._tmp, table.schema, compression="zstd")
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            os.chmod(self._tmp, FILE_MODE)
            os.replace(self._tmp, self.path)


@dataclass
class Transaction:
    """Files staged by one run, committed together."""

    ws: Workspace
    run_id: str
    deletes: list[str] = field(default_factory=list)
    state_updates: dict[str, Any] = field(default_factory=dict)

    @property
    def staging(self) -> Path:
        return self.ws.root / STAGING / self.run_id

    def path(self, final: Path) -> Path:
        """Where to write a file that will end up at ``final`` on commit."""
        rel = final.relative_to(self.ws.root)
        target = self.staging / rel
        _mkdir(target.parent)
        return target

    def staged_files(self, table: str) -> list[Path]:
        """The Parquet files this run has staged so far in a date-partitioned table."""
        return sorted((self.staging / table).glob("date=*/*.parquet"))

    def delete_on_commit(self, final: Path) -> None:
        self.deletes.append(str(final.relative_to(self.ws.root)))

    def commit(self, manifest: dict[str, Any]) -> None:
        moves = sorted(
            str(p.relative_to(self.staging))
            for p in self.staging.rglob("*")
            if p.is_file() and p.name != JOURNAL_FILE
        )
        journal = {
            "run_id": self.run_id,
            "moves": moves,
            "deletes": sorted(set(self.deletes) - set(moves)),
            "state_updates": self.state_updates,
            "manifest": manifest,
        }
        write_json(self.staging / JOURNAL_FILE, journal)
        _apply_journal(self.ws, self.staging, journal)


@contextlib.contextmanager
def transaction(ws: Workspace, run_id: str) -> Iterator[Transaction]:
    """A run's transaction; on an error before commit its staged files are removed."""
    tx = begin(ws, run_id)
    try:
        yield tx
    except BaseException:
        if not (tx.staging / JOURNAL_FILE).exists():
            shutil.rmtree(tx.staging, ignore_errors=True)
        raise


def begin(ws: Workspace, run_id: str) -> Transaction:
    staging = ws.root / STAGING / run_id
    if staging.exists():
        shutil.rmtree(staging)
    _mkdir(staging)
    return Transaction(ws, run_id)


def _apply_journal(ws: Workspace, staging: Path, journal: dict[str, Any]) -> None:
    if not journal.get("deletes_done"):
        for rel in journal["deletes"]:
            target = ws.root / rel
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        # a redo after a crash must not delete again what the moves have since put there
        journal = dict(journal, deletes_done=True)
        write_json(staging / JOURNAL_FILE, journal)
    for rel in journal["moves"]:
        src, dst = staging / rel, ws.root / rel
        if src.exists():  # a redo after a crash may find it already moved
            _mkdir(dst.parent)
            os.replace(src, dst)
    state = read_state(ws)
    run_id = journal["run_id"]
    state.update(journal["state_updates"])
    if run_id not in state["runs"]:
        state["runs"] = [*state["runs"], run_id]
    manifest = dict(journal["manifest"], run_id=run_id, committed_at=_now_iso())
    write_json(ws.runs_dir() / f"{run_id}.json", manifest)
    write_json(ws.state_path, state)
    shutil.rmtree(staging, ignore_errors=True)


def recover(ws: Workspace) -> list[str]:
    """Finish runs killed during commit; discard runs killed before it. Returns actions."""
    actions = []
    root = ws.root / STAGING
    if not root.exists():
        return actions
    for staging in sorted(root.iterdir()):
        journal_path = staging / JOURNAL_FILE
        if journal_path.exists():
            _apply_journal(ws, staging, json.loads(journal_path.read_text()))
            actions.append(f"completed commit of run {staging.name}")
        else:
            shutil.rmtree(staging, ignore_errors=True)
            actions.append(f"discarded unfinished run {staging.name}")
    return actions


def new_run_id(kind: str) -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{kind}-{os.getpid()}"


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# --- reads ---------------------------------------------------------------------------------
def has_files(pattern: str) -> bool:
    from glob import glob

    return bool(glob(pattern))


def query(sql: str, params: list[Any] | None = None) -> pa.Table:
    """Run a read-only query on a short-lived in-memory DuckDB connection."""
    con = duckdb.connect()
    try:
        relation = con.sql(sql, params=params or None)
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow  # duckdb 2 / 1
        return fetch()
    finally:
        con.close()


def read_requests(ws: Workspace, columns: list[str] | None = None, where: str = "") -> pa.Table:
    if not has_files(ws.requests_glob()):
        return pa.table({})
    cols = ", ".join(columns) if columns else "*"
    sql = f"SELECT {cols} FROM read_parquet('{ws.requests_glob()}', hive_partitioning=false)"
    if where:
        sql += f" WHERE {where}"
    return query(sql)


def read_assignments(ws: Workspace, columns: list[str] | None = None) -> pa.Table:
    if not has_files(ws.assignments_glob()):
        return pa.table({})
    cols = ", ".join(columns) if columns else "*"
    return query(
        f"SELECT {cols} FROM read_parquet('{ws.assignments_glob()}', hive_partitioning=false)"
    )


def read_embeddings(ws: Workspace, model_key: str, only: set[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stored vectors of one model, all or ``only`` those hashes: (prompt hashes, float16 matrix)."""
    folder = ws.embeddings_dir(model_key)
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    if not files:
        return np.empty(0, dtype=object), np.empty((0, 0), dtype=np.float16)
    hashes, blocks = [], []
    for path in files:
        table = pq.read_table(path, filters=None if only is None else [("prompt_hash", "in", list(only))])
        hashes.append(table.column("prompt_hash").to_numpy(zero_copy_only=False))
        vec = table.column("vector").combine_chunks()
        dim = vec.type.list_size
        blocks.append(vec.values.to_numpy(zero_copy_only=False).reshape(-1, dim))
    return np.concatenate(hashes), np.concatenate(blocks).astype(np.float16, copy=False)


def read_features(ws: Workspace, name: str, key: str, only: set[str]) -> pa.Table:
    """Stored per-prompt features (``features_dir``) of the prompt hashes in ``only``: one
    table, a row per hash found (the first stored when several runs stored one)."""
    folder = ws.features_dir(name, key)
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    if not files or not only:
        return pa.table({})
    probe = list(only)
    tables = [pq.read_table(path, filters=[("prompt_hash", "in", probe)]) for path in files]
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    if len(tables) > 1:
        first = ~pd.Series(table.column("prompt_hash").to_numpy(zero_copy_only=False)).duplicated().to_numpy()
        table = table.filter(pa.array(first)) if not first.all() else table
    return table


def partition_files(ws: Workspace, table: str, start: str | None = None, end: str | None = None) -> list[Path]:
    """The Parquet files of a date-partitioned table with ``start <= date <= end`` (ISO, inclusive).

    Partition pruning by folder name: the nightly job reads its window without touching the
    rest of the history."""
    root = ws.table_dir(table)
    if not root.exists():
        return []
    files = []
    for folder in sorted(root.glob("date=*")):
        day = folder.name[len("date="):]
        if (start is None or day >= start) and (end is None or day <= end):
            files.extend(sorted(folder.glob("*.parquet")))
    return files


def read_partitions(ws: Workspace, table: str, start: str | None = None, end: str | None = None,
                    columns: list[str] | None = None) -> pa.Table:
    """Rows of the partitions of ``table`` between ``start`` and ``end`` (empty table if none)."""
    files = partition_files(ws, table, start, end)
    if not files:
        return pa.table({})
    cols = ", ".join(columns) if columns else "*"
    listed = ", ".join(f"'{f}'" for f in files)
    return query(f"SELECT {cols} FROM read_parquet([{listed}], hive_partitioning=false, union_by_name=true)")


def _semi_join(source: str, key: str, values, select: str, tail: str = "") -> pa.Table:
    """``SELECT {select} FROM {source} s SEMI JOIN probe ON key {tail}``, the probe being
    ``values``: only the matching rows are read into memory."""
    if not isinstance(values, (pa.Array, np.ndarray, list)):
        values = list(values)  # sets and other iterables
    probe = pa.table({key: pa.array(values, type=pa.string())})
    con = duckdb.connect()
    try:
        con.register("probe", probe)
        sql = f"SELECT {select} FROM {source} s SEMI JOIN probe p ON s.{key} = p.{key} {tail}"
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def _parquet_source(ws: Workspace, files: list[Path] | None) -> str | None:
    """A DuckDB table expression over ``files`` (default: every request partition)."""
    if files is None:
        if not has_files(ws.requests_glob()):
            return None
        return f"read_parquet('{ws.requests_glob()}', hive_partitioning=false)"
    if not files:
        return None
    listed = ", ".join(f"'{f}'" for f in files)
    return f"read_parquet([{listed}], hive_partitioning=false)"


def stored_ids_among(ws: Workspace, ids: pa.Array | list[str]) -> set[str]:
    """The request ids among ``ids`` that the workspace already stores (a DuckDB semi-join: the
    history's ids are never all held in memory)."""
    source = _parquet_source(ws, None)
    if source is None or len(ids) == 0:
        return set()
    found = _semi_join(source, "request_id", ids, "DISTINCT s.request_id")
    return set(found.column("request_id").to_pylist())


def read_distinct(
    ws: Workspace, key: str, columns: list[str], values, files: list[Path] | None = None
) -> pd.DataFrame:
    """One stored row per ``key`` value in ``values`` (``columns`` taken from any of its
    requests), from ``files`` (default: every request partition)."""
    cols = [key, *columns]
    source = _parquet_source(ws, files)
    if source is None or not values:
        return pd.DataFrame(columns=cols)
    picked = ", ".join(f"any_value(s.{c}) AS {c}" for c in columns)
    return _semi_join(source, key, values, f"s.{key} AS {key}, {picked}", f"GROUP BY s.{key}").to_pandas()[cols]


def read_ingested_files(ws: Workspace) -> dict[str, dict[str, Any]]:
    """The registry of ingested input files, by absolute path."""
    if not ws.inputs_path.exists():
        return {}
    return {entry["path"]: entry for entry in json.loads(ws.inputs_path.read_text())}


def write_cache_parquet(path: Path, table: pa.Table) -> None:
    """Write a content-addressed cache file (embeddings) straight to its final place.

    Outside any transaction on purpose: rows are keyed by content (prompt hash + model), so
    a vector is right whichever run wrote it, and nothing refers to it until a run commits.
    A run killed after this keeps the work done (the next run does not embed it again)."""
    write_parquet(path, table)


def read_nights(ws: Workspace) -> list[dict[str, Any]]:
    """Every committed night's summary, oldest first."""
    from glob import glob

    return [json.loads(Path(p).read_text()) for p in sorted(glob(ws.nights_glob()))]


def embeddings_table(hashes: np.ndarray, vectors: np.ndarray) -> pa.Table:
    vectors = np.ascontiguousarray(vectors, dtype=np.float16)
    dim = vectors.shape[1]
    flat = pa.array(vectors.reshape(-1), type=pa.float16())
    return pa.table(
        {
            "prompt_hash": pa.array(hashes, type=pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
        }
    )


def latest_scores_path(ws: Workspace) -> Path | None:
    state = read_state(ws)
    latest = state.get("latest_scores")
    return ws.root / latest if latest else None


def read_latest_scores(ws: Workspace) -> pa.Table | None:
    path = latest_scores_path(ws)
    if path is None or not path.exists():
        return None
    return pq.read_table(path)


def read_score_history(ws: Workspace, start: str | None = None, end: str | None = None) -> pa.Table:
    """Every committed night's account rows with ``start <= as_of <= end`` (ISO dates, inclusive).

    Nights scored by older code may lack newer columns: they are read by name and come back null.
    """
    if not has_files(ws.scores_glob()):
        return pa.table({})
    where = [f"as_of {op} ?" for op, value in ((">=", start), ("<=", end)) if value]
    params = [value for value in (start, end) if value]
    sql = (f"SELECT * FROM read_parquet('{ws.scores_glob()}', hive_partitioning=false, union_by_name=true)"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY as_of, account_id")
    return query(sql, params)


def read_manifest(ws: Workspace, run_id: str) -> dict[str, Any]:
    return json.loads((ws.runs_dir() / f"{run_id}.json").read_text())


def read_evaluation(ws: Workspace) -> dict[str, Any] | None:
    """The recorded evaluation against labels, or None when none was recorded."""
    path = ws.evaluation_path
    return json.loads(path.read_text()) if path.exists() else None
