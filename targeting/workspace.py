"""The workspace on disk: layout, atomic commits, run manifests, the lock, DuckDB reads.

The only module that knows paths and the only one that speaks SQL. Every read lists its files
with Python (``Path.glob`` below a folder of the workspace, so the workspace's own path is
never a pattern) and hands DuckDB the list as a value, never as SQL text (a path DuckDB would
expand as a glob is opened by Arrow instead: ``_register_files``); values to match (account
ids, hashes, dates) go in as parameters or as a registered Arrow table, and column names only
from code constants, checked against ``_IDENTIFIER``. Layout::

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
      shifts/as_of=YYYY-MM-DD.parquet    the night's shift figures and alerts per account and campaign
      verdicts.sqlite                    analysts' verdicts (append-only, WAL; the app writes it)
      secrets/indicator-hmac.key         the per-workspace key of shared indicators' account references
      indicators/received/BUNDLE.json    indicators received from other providers (``targeting.indicators``)
      indicators/matches.parquet         the accounts here that carry them, with the reason
      canaries/history.parquet           canary recall per kind and run (``targeting canary --record``)
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
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from targeting import schema as S
from targeting.errors import WorkspaceError, WorkspaceLocked

STATE_FILE = "state.json"
JOURNAL_FILE = "JOURNAL.json"
STAGING = ".staging"
LOCK_FILE = ".lock"
DEMO_MARKER = ".targeting-demo"  # in a workspace `targeting demo` created: the only kind it deletes
DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True)
class FirstRun:
    """What a workspace opened for its first run held before it: the folder ``open_workspace``
    created for it (the topmost one made, None when the folder existed) and the names already in
    the folder. ``locked`` removes what the run added when the run fails before any commit."""

    created: Path | None
    entries: frozenset[str]


@dataclass(frozen=True)
class Workspace:
    root: Path
    first_run: FirstRun | None = field(default=None, compare=False, repr=False)

    # --- paths -------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.root / STATE_FILE

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

    @property
    def evaluation_path(self) -> Path:
        """The latest evaluation against labels (``targeting evaluate --save``); the report cites it."""
        return self.root / "evaluation.json"

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def quarantine_path(self, run_id: str) -> Path:
        return self.root / "quarantine" / f"part-{run_id}.parquet"

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

    def activity_path(self, as_of: str) -> Path:
        """The night's per-account activity (``targeting.activity``); a re-run of the night replaces it."""
        return self.root / "nights" / f"as_of={as_of}.accounts.parquet"

    def shifts_path(self, as_of: str) -> Path:
        """The night's shift figures and alerts (``targeting.shifts``); a re-run of the night replaces it."""
        return self.root / "shifts" / f"as_of={as_of}.parquet"

    def partition_dir(self, table: str, day: str) -> Path:
        return self.root / table / f"date={day}"

    @property
    def verdicts_path(self) -> Path:
        """Analysts' verdicts (SQLite, WAL): written by the app, never by a run."""
        return self.root / "verdicts.sqlite"

    # --- shared indicators -------------------------------------------------------------
    @property
    def indicator_secret_path(self) -> Path:
        """The key of the keyed hashes (HMAC-SHA256) that stand for account ids in exported
        indicator bundles: made once per workspace, owner-only, never part of a bundle."""
        return self.root / "secrets" / "indicator-hmac.key"

    def received_indicators_path(self, bundle_key: str) -> Path:
        """One received bundle's indicators as ``targeting.indicators`` parsed them (no raw input)."""
        return self.root / "indicators" / "received" / f"{_identifiers([bundle_key])[0]}.json"

    @property
    def indicator_matches_path(self) -> Path:
        """The accounts here that carry received indicators: one row per (bundle, account)."""
        return self.root / "indicators" / "matches.parquet"

    # --- canaries ----------------------------------------------------------------------
    @property
    def canary_history_path(self) -> Path:
        """Recall of the injected canary campaigns, one row per kind and canary run
        (``targeting canary --record``, ``targeting score --canaries``): figures only, never a
        canary account or prompt."""
        return self.root / "canaries" / "history.parquet"


def _mkdir(path: Path) -> Path | None:
    """Create ``path`` and any missing parents, each readable by its owner only; return the
    topmost folder this call created (None when ``path`` existed)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    top = None
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
        top = top or folder
    return top


def _make_private(path: Path) -> None:
    """Make an existing folder owner-only (0700), as a folder this code creates is."""
    try:
        os.chmod(path, DIR_MODE)
    except PermissionError as exc:
        raise WorkspaceError(f"workspace {path} cannot be made owner-only: {exc.strerror}") from None


def open_workspace(root: str | Path, *, create: bool = False) -> Workspace:
    """Return the workspace at ``root``; create it (owner-only) when ``create``.

    With ``create``, a workspace without a committed run (no ``state.json``) is opened for its
    first run: its folder is made owner-only even when it existed, and the workspace remembers
    what the folder held (``FirstRun``) so that a failed first run leaves nothing behind."""
    path = Path(root).expanduser().resolve()
    if not path.exists():
        if not create:
            raise WorkspaceError(f"workspace {path} does not exist")
        created = _mkdir(path)
        _make_private(path)
        return Workspace(path, FirstRun(created, frozenset()))
    if not path.is_dir():
        raise WorkspaceError(f"workspace {path} is not a folder")
    if create and not (path / STATE_FILE).exists():
        _make_private(path)
        return Workspace(path, FirstRun(None, frozenset(os.listdir(path))))
    return Workspace(path)


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree; what is already gone is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _discard_failed_first_run(ws: Workspace) -> None:
    """After a failed run: when it was the workspace's first and nothing was committed (no
    ``state.json``, no verdicts), remove the folder ``open_workspace`` created for it, or, in a
    folder that existed, only the entries the run added (lock, staging, embedding cache)."""
    first = ws.first_run
    if first is None or ws.state_path.exists() or ws.verdicts_path.exists():
        return
    if first.created is not None:
        shutil.rmtree(first.created, ignore_errors=True)
        return
    for entry in ws.root.iterdir():
        if entry.name not in first.entries:
            _remove(entry)


def prepare_demo_workspace(root: str | Path, *, fresh: bool) -> Workspace:
    """The workspace ``targeting demo`` writes into, at ``root``.

    A missing or empty folder becomes the demo's: created owner-only and marked with
    ``DEMO_MARKER``. A folder holding the marker is the demo's own; with ``fresh`` it is
    emptied (all but the marker) while holding the lock, so never under another run
    (``WorkspaceLocked``). Any other folder is refused (``WorkspaceError``): the demo never
    deletes, nor adds made-up traffic to, a workspace it did not create."""
    path = Path(root).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise WorkspaceError(f"{path} is not a folder; choose another --workspace")
    if not path.exists() or not any(path.iterdir()):
        _mkdir(path)
        _make_private(path)
        _atomic_write_bytes(path / DEMO_MARKER, b"made by `targeting demo`, which may delete this folder's contents\n")
        return Workspace(path)
    if not (path / DEMO_MARKER).is_file():
        raise WorkspaceError(f"{path} is not a demo workspace (the demo only replaces a workspace it "
                             f"created, marked by {DEMO_MARKER}); choose another --workspace")
    ws = Workspace(path)
    if fresh:
        with locked(ws):
            for entry in path.iterdir():
                if entry.name not in (DEMO_MARKER, LOCK_FILE):
                    _remove(entry)
    return ws


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


# --- shared indicators ---------------------------------------------------------------------
SECRET_BYTES = 32  # of the indicator key (HMAC-SHA256 takes a key of any length; 32 is its output size)


def indicator_secret(ws: Workspace) -> bytes:
    """The workspace's indicator key (``Workspace.indicator_secret_path``): read, or made once
    from the operating system's randomness and written owner-only (0600). Created exclusively,
    so two commands starting at once agree on one key."""
    path = ws.indicator_secret_path
    if not path.exists():
        _mkdir(path.parent)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        except FileExistsError:
            fd = None
        if fd is not None:
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(SECRET_BYTES).hex() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
    text = path.read_text().strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        raise WorkspaceError(f"{path} is not a key written by this program (hex); remove it to make a new one") from None
    if len(secret) < SECRET_BYTES // 2:
        raise WorkspaceError(f"{path} holds a key of {len(secret)} bytes; remove it to make a new one")
    return secret


def write_received_indicators(ws: Workspace, bundle_key: str, received: dict[str, Any], matches: pa.Table) -> None:
    """Keep one received bundle's parsed indicators and replace the stored matches with
    ``matches`` (every bundle's rows: the caller merges), each file atomic and owner-only."""
    write_json(ws.received_indicators_path(bundle_key), received)
    write_parquet(ws.indicator_matches_path, matches)


def read_indicator_matches(ws: Workspace) -> pd.DataFrame | None:
    """The stored matches of received indicators (``write_received_indicators``); None before any."""
    path = ws.indicator_matches_path
    return pq.read_table(path).to_pandas() if path.exists() else None


# --- lock ----------------------------------------------------------------------------------
@contextlib.contextmanager
def locked(ws: Workspace) -> Iterator[None]:
    """Hold the workspace's exclusive writer lock; fail at once if another run holds it.

    When the body fails in a workspace opened for its first run (``FirstRun``) and nothing
    was committed, what the run added is removed before the lock is let go."""
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
        try:
            recover(ws)
            yield
        except BaseException:
            _discard_failed_first_run(ws)
            raise
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


def stage_partitioned(tx: Transaction, frame: pd.DataFrame, schema: pa.Schema, table_name: str,
                      part: str | None = None) -> None:
    """Stage ``frame`` as one Parquet file per UTC day under ``table_name`` (file ``part-PART``,
    default the run id: the Ray engine's workers stage one file per batch)."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    dates = frame[S.DATE].astype(str).to_numpy()
    for day in np.unique(dates):
        rows = table.filter(pa.array(dates == day))
        write_parquet(tx.path(tx.ws.partition_path(table_name, day, part or tx.run_id)), rows)


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


# --- reads: the engine -------------------------------------------------------------------------
QueryError = duckdb.Error  # what a read raises when DuckDB fails (a file replaced while read...)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_GLOB_CHARS = ("*", "?", "[")
_EMPTY = {"requests": S.REQUEST_SCHEMA, "assignments": S.ASSIGNMENT_SCHEMA}  # a table with no file yet


def _identifiers(names: Iterable[str]) -> list[str]:
    """``names`` as a list, each checked to be a plain identifier (ValueError otherwise).

    Column and relation names are the only words a read writes into SQL; they come from code
    constants, and this refuses anything else rather than quote it."""
    names = list(names)
    for name in names:
        if not isinstance(name, str) or not _IDENTIFIER.match(name):
            raise ValueError(f"not a column name: {name!r}")
    return names


def _select_list(columns: Iterable[str] | None, prefix: str = "") -> str:
    """``a, b`` (``s.a, s.b`` with ``prefix="s."``) for checked ``columns``; ``*`` for None or none."""
    names = _identifiers(columns or [])
    return ", ".join(prefix + c for c in names) if names else "*"


def _arrow_dataset(paths: list[str]) -> ds.Dataset:
    """``paths``, exactly those files, as one Arrow dataset; columns matched by name across
    files (a column missing from a file reads as null), like DuckDB's ``union_by_name``."""
    local = pafs.LocalFileSystem()
    schema = pa.unify_schemas([pq.read_schema(p, filesystem=local) for p in paths], promote_options="permissive")
    return ds.dataset(paths, schema=schema, format="parquet", filesystem=local)


def _register_files(con: duckdb.DuckDBPyConnection, name: str, files: list[Path], union_by_name: bool) -> None:
    """Make ``name`` a relation on ``con`` over exactly ``files``; with ``union_by_name``,
    columns are matched by name across files (one missing from a file reads as null).

    DuckDB takes the list as a value, never as SQL text. It expands ``*``, ``?`` and ``[``
    even in the paths of a list (DuckDB 2.0.1 read ``.../ws1/...`` when given
    ``.../ws[1]/...``), so a list with such a path is opened by Arrow instead, which takes
    each path as it is. No file: the table's empty schema (``_EMPTY``)."""
    paths = [str(f) for f in files]
    if not paths:
        con.register(name, _EMPTY[name].empty_table())
    elif any(ch in p for p in paths for ch in _GLOB_CHARS):
        con.register(name, _arrow_dataset(paths))
    else:
        con.read_parquet(paths, hive_partitioning=False, union_by_name=union_by_name).create_view(name)


def _query(sql: str, params: dict[str, Any] | None = None, tables: dict[str, list[Path] | pa.Table] | None = None,
           *, union_by_name: bool = False) -> pa.Table:
    """Run ``sql`` on a short-lived in-memory DuckDB connection, with ``params`` (``$name``
    parameters) and ``tables``: each name either a list of Parquet files (``_register_files``;
    ``union_by_name`` where they may differ in columns, which costs a read of every file's
    schema first) or an Arrow table registered as it is."""
    con = duckdb.connect()
    try:
        for name, source in (tables or {}).items():
            _identifiers([name])
            if isinstance(source, pa.Table):
                con.register(name, source)
            else:
                _register_files(con, name, source, union_by_name)
        relation = con.sql(sql, params=params or None)
        fetch = getattr(relation, "to_arrow_table", None) or relation.arrow  # duckdb 2 / 1
        return fetch()
    finally:
        con.close()


def _probe(column: str, values) -> pa.Table:
    """``values`` (a list, set, array or other iterable of strings) as a one-column Arrow
    table: how a set of values reaches a query, to be joined on, never quoted into it."""
    if not isinstance(values, (pa.Array, np.ndarray, list)):
        values = list(values)  # sets and other iterables
    return pa.table({column: pa.array(values, type=pa.string())})


def _range(column: str, start: Any, end: Any, prefix: str = "") -> tuple[list[str], dict[str, Any]]:
    """WHERE conditions ``column >= $start`` / ``column <= $end`` for the bounds that are not
    None (inclusive), with their parameters."""
    _identifiers([column])
    where, params = [], {}
    if start is not None:
        where.append(f"{prefix}{column} >= $start")
        params["start"] = start
    if end is not None:
        where.append(f"{prefix}{column} <= $end")
        params["end"] = end
    return where, params


def _where(conditions: list[str]) -> str:
    """`` WHERE a AND b`` for the conditions (all written by this module), or nothing."""
    return " WHERE " + " AND ".join(conditions) if conditions else ""


# --- reads: files ------------------------------------------------------------------------------
def partition_files(ws: Workspace, table: str, start: str | None = None, end: str | None = None) -> list[Path]:
    """The Parquet files of a date-partitioned table with ``start <= date <= end`` (ISO, inclusive).

    Partition pruning by folder name: the nightly job reads its window without touching the
    rest of the history. Listed below the table's folder: the workspace path is no pattern."""
    files = []
    for day in partition_days(ws, table):
        if (start is None or day >= start) and (end is None or day <= end):
            files.extend(sorted(ws.partition_dir(table, day).glob("*.parquet")))
    return files


def partition_days(ws: Workspace, table: str) -> list[str]:
    """The days (ISO) of a date-partitioned table's partitions, oldest first."""
    root = ws.table_dir(table)
    return [folder.name[len("date="):] for folder in sorted(root.glob("date=*"))] if root.exists() else []


def has_partitions(ws: Workspace, table: str) -> bool:
    """Whether the date-partitioned ``table`` (requests, assignments) holds any file."""
    return bool(partition_files(ws, table))


def score_files(ws: Workspace) -> list[Path]:
    """Every committed night's account scores (``scores_path``), oldest night first."""
    folder = ws.root / "scores"
    return sorted(folder.glob("as_of=*/accounts.parquet")) if folder.exists() else []


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


# --- reads: whole tables -----------------------------------------------------------------------
def read_requests(ws: Workspace, columns: list[str] | None = None, *,
                  start_date: date | None = None, end_date: date | None = None) -> pa.Table:
    """The stored requests' ``columns`` (default all), only those whose ``date`` is within
    ``start_date..end_date`` (inclusive; either may be None). An empty table with no column
    when the workspace stores no request."""
    files = partition_files(ws, "requests")
    if not files:
        return pa.table({})
    where, params = _range(S.DATE, start_date, end_date)
    return _query(f"SELECT {_select_list(columns)} FROM requests{_where(where)}", params, {"requests": files})


def read_assignments(ws: Workspace, columns: list[str] | None = None) -> pa.Table:
    """Every stored assignment's ``columns`` (default all); an empty table with no column when none."""
    return read_partitions(ws, "assignments", columns=columns)


def read_partitions(ws: Workspace, table: str, start: str | None = None, end: str | None = None,
                    columns: list[str] | None = None) -> pa.Table:
    """Rows of the partitions of ``table`` between ``start`` and ``end`` (empty table if none)."""
    files = partition_files(ws, _identifiers([table])[0], start, end)
    if not files:
        return pa.table({})
    return _query(f"SELECT {_select_list(columns)} FROM {table}", tables={table: files}, union_by_name=True)


def distinct_prompt_hashes(ws: Workspace) -> set[str]:
    """Every prompt hash the stored requests hold, once each."""
    files = partition_files(ws, "requests")
    if not files:
        return set()
    found = _query(f"SELECT DISTINCT {S.PROMPT_HASH} FROM requests", tables={"requests": files})
    return set(found.column(0).to_pylist())


def read_score_history(ws: Workspace, start: str | None = None, end: str | None = None) -> pa.Table:
    """Every committed night's account rows with ``start <= as_of <= end`` (ISO dates, inclusive).

    Nights scored by older code may lack newer columns: they are read by name and come back null.
    """
    files = score_files(ws)
    if not files:
        return pa.table({})
    where, params = _range("as_of", start or None, end or None)
    sql = f"SELECT * FROM scores{_where(where)} ORDER BY as_of, account_id"
    return _query(sql, params, {"scores": files}, union_by_name=True)


def shift_files(ws: Workspace) -> list[Path]:
    """Every committed night's shift table (``shifts_path``), oldest night first."""
    folder = ws.root / "shifts"
    return sorted(folder.glob("as_of=*.parquet")) if folder.exists() else []


def read_shift_history(ws: Workspace, *, alerts_only: bool = False, target_kind: str | None = None,
                       target_ids=None) -> pa.Table:
    """The committed nights' shift rows (``targeting.shifts.COLUMNS``), oldest night first: only
    alerts with ``alerts_only``, only ``target_kind`` (account, campaign) and ``target_ids``
    when given. An empty table with no column when no night recorded any."""
    files = shift_files(ws)
    if not files:
        return pa.table({})
    where, params, tables = [], {}, {"shifts": files}
    if alerts_only:
        where.append("alert")
    if target_kind is not None:
        where.append("target_kind = $kind")
        params["kind"] = target_kind
    if target_ids is not None:
        where.append("target_id IN (SELECT target_id FROM probe)")
        tables["probe"] = _probe("target_id", target_ids)
    sql = f"SELECT * FROM shifts{_where(where)} ORDER BY as_of, target_kind, target_id"
    return _query(sql, params, tables, union_by_name=True)


def account_area_day_counts(ws: Workspace, *, start_date: date | None = None, end_date: date | None = None,
                            accounts=None) -> pa.Table:
    """Assigned requests per (account, day, area) dated ``start_date..end_date`` (inclusive,
    either may be None), of ``accounts`` when given: target_id, day (a date), area, n."""
    files = partition_files(ws, "assignments")
    if not files:
        return pa.table({"target_id": pa.array([], pa.string()), "day": pa.array([], pa.date32()),
                         "area": pa.array([], pa.string()), "n": pa.array([], pa.int64())})
    where, params = _range(S.DATE, start_date, end_date)
    tables: dict[str, Any] = {"assignments": files}
    if accounts is not None:
        where.append(f"{S.ACCOUNT_ID} IN (SELECT {S.ACCOUNT_ID} FROM probe)")
        tables["probe"] = _probe(S.ACCOUNT_ID, accounts)
    sql = (f"SELECT {S.ACCOUNT_ID} AS target_id, {S.DATE} AS day, {S.AREA} AS area, count(*) AS n "
           f"FROM assignments{_where(where)} GROUP BY ALL ORDER BY day, target_id, area")
    return _query(sql, params, tables)


def account_infrastructure(ws: Workspace, accounts) -> pa.Table:
    """Per (account, client address, account creation time) of the stored requests of ``accounts``:
    account_id, ip, account_created_at, requests, first_seen, last_seen (null where not logged)."""
    files = partition_files(ws, "requests")
    if not files:
        return pa.table({})
    sql = (f"SELECT {S.ACCOUNT_ID}, {S.IP}, {S.ACCOUNT_CREATED_AT}, count(*) AS requests, "
           f"min({S.TIMESTAMP}) AS first_seen, max({S.TIMESTAMP}) AS last_seen FROM requests "
           f"WHERE {S.ACCOUNT_ID} IN (SELECT {S.ACCOUNT_ID} FROM probe) "
           f"GROUP BY ALL ORDER BY {S.ACCOUNT_ID}, requests DESC")
    return _query(sql, tables={"requests": files, "probe": _probe(S.ACCOUNT_ID, accounts)}, union_by_name=True)


# --- reads: rows matching a set of values --------------------------------------------------------
def stored_ids_among(ws: Workspace, ids: pa.Array | list[str]) -> set[str]:
    """The request ids among ``ids`` that the workspace already stores (a DuckDB semi-join: the
    history's ids are never all held in memory)."""
    files = partition_files(ws, "requests")
    if not files or len(ids) == 0:
        return set()
    sql = f"SELECT DISTINCT s.{S.REQUEST_ID} FROM requests s SEMI JOIN probe p ON s.{S.REQUEST_ID} = p.{S.REQUEST_ID}"
    found = _query(sql, tables={"requests": files, "probe": _probe(S.REQUEST_ID, ids)})
    return set(found.column(0).to_pylist())


def read_distinct(
    ws: Workspace, key: str, columns: list[str], values, files: list[Path] | None = None
) -> pd.DataFrame:
    """One stored row per ``key`` value in ``values`` (``columns`` taken from any of its
    requests), from ``files`` (default: every request partition)."""
    cols = _identifiers([key, *columns])
    files = partition_files(ws, "requests") if files is None else files
    if not files or not values:
        return pd.DataFrame(columns=cols)
    picked = ", ".join([f"s.{key} AS {key}", *(f"any_value(s.{c}) AS {c}" for c in cols[1:])])
    sql = f"SELECT {picked} FROM requests s SEMI JOIN probe p ON s.{key} = p.{key} GROUP BY s.{key}"
    return _query(sql, tables={"requests": files, "probe": _probe(key, values)}).to_pandas()[cols]


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
    folder = ws.root / "nights"
    files = sorted(folder.glob("as_of=*.json")) if folder.exists() else []
    return [json.loads(path.read_text()) for path in files]


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


def latest_scores_day(ws: Workspace) -> str:
    """The night (``as_of``) of the workspace's latest committed scores; '' before any."""
    latest = read_state(ws).get("latest_scores") or ""
    return latest.split("as_of=")[1].split("/")[0] if "as_of=" in latest else ""


def read_latest_scores(ws: Workspace) -> pa.Table | None:
    path = latest_scores_path(ws)
    if path is None or not path.exists():
        return None
    return pq.read_table(path)


def read_manifest(ws: Workspace, run_id: str) -> dict[str, Any]:
    return json.loads((ws.runs_dir() / f"{run_id}.json").read_text())


def run_ids(ws: Workspace, kind: str | None = None) -> list[str]:
    """The ids of the committed runs (of one ``kind``: run, score, fit), oldest first."""
    folder = ws.runs_dir()
    if not folder.is_dir():
        return []
    ids = sorted(p.stem for p in folder.glob("*.json"))
    return [i for i in ids if kind is None or i.split("-")[1:2] == [kind]]


def read_evaluation(ws: Workspace) -> dict[str, Any] | None:
    """The recorded evaluation against labels, or None when none was recorded."""
    path = ws.evaluation_path
    return json.loads(path.read_text()) if path.exists() else None


def read_canary_history(ws: Workspace) -> pd.DataFrame | None:
    """The recorded canary runs (``canary_history_path``), oldest first; None when none was recorded."""
    path = ws.canary_history_path
    return pq.read_table(path).to_pandas() if path.exists() else None


def append_canary_history(ws: Workspace, rows: pa.Table) -> None:
    """Append ``rows`` to the canary history, replacing the file atomically (``write_parquet``):
    a reader sees the old history or the new one. The caller holds the workspace lock."""
    path = ws.canary_history_path
    if path.exists():
        rows = pa.concat_tables([pq.read_table(path), rows], promote_options="default")
    write_parquet(path, rows)


# --- reads: the questions of the summaries, queries, evidence and the app ----------------------------
def assignments_of(ws: Workspace, accounts, columns: list[str], *, area: str | None = None,
                   start: datetime | None = None, end: datetime | None = None) -> pa.Table:
    """The ``columns`` of the stored assignments of ``accounts`` (any iterable of ids) with
    ``start <= timestamp <= end`` (either may be None) and, when given, in ``area``."""
    where, params = _range(S.TIMESTAMP, start, end)
    if area is not None:
        where.append(f"{S.AREA} = $area")
        params["area"] = area
    where.append(f"{S.ACCOUNT_ID} IN (SELECT {S.ACCOUNT_ID} FROM probe)")
    sql = f"SELECT {_select_list(columns)} FROM assignments{_where(where)}"
    tables = {"assignments": partition_files(ws, "assignments"), "probe": _probe(S.ACCOUNT_ID, accounts)}
    return _query(sql, params, tables)


def cluster_request_counts(ws: Workspace, cluster_ids, *, start: datetime | None = None,
                           end: datetime | None = None) -> pa.Table:
    """Requests per cluster among ``cluster_ids``, all accounts, with ``start <= timestamp <= end``
    (either may be None): cluster_id, requests. A cluster with none has no row."""
    where, params = _range(S.TIMESTAMP, start, end)
    where.append(f"{S.CLUSTER_ID} IN (SELECT {S.CLUSTER_ID} FROM probe)")
    sql = f"SELECT {S.CLUSTER_ID}, count(*) AS requests FROM assignments{_where(where)} GROUP BY {S.CLUSTER_ID}"
    tables = {"assignments": partition_files(ws, "assignments"), "probe": _probe(S.CLUSTER_ID, cluster_ids)}
    return _query(sql, params, tables)


def prompt_hash_usage(ws: Workspace, hashes) -> pa.Table:
    """Per stored prompt hash among ``hashes``: prompt_hash, prompt (one of its texts),
    accounts (the distinct accounts that sent it, a list), requests (how many times)."""
    sql = ("SELECT prompt_hash, any_value(prompt) AS prompt, list(DISTINCT account_id) AS accounts, "
           "count(*) AS requests FROM requests WHERE prompt_hash IN (SELECT prompt_hash FROM probe) "
           "GROUP BY prompt_hash")
    tables = {"requests": partition_files(ws, "requests"), "probe": _probe(S.PROMPT_HASH, hashes)}
    return _query(sql, tables=tables)


def requests_with_assignments(ws: Workspace, accounts) -> pa.Table:
    """The stored requests of ``accounts`` that have an assignment, oldest first: account_id,
    request_id, timestamp, prompt, prompt_hash, area, cluster_id."""
    sql = ("SELECT r.account_id, r.request_id, r.timestamp, r.prompt, r.prompt_hash, a.area, a.cluster_id "
           "FROM requests r JOIN assignments a USING (request_id) "
           "WHERE r.account_id IN (SELECT account_id FROM probe) ORDER BY r.timestamp")
    tables = {"requests": partition_files(ws, "requests"), "assignments": partition_files(ws, "assignments"),
              "probe": _probe(S.ACCOUNT_ID, accounts)}
    return _query(sql, tables=tables)


def request_sample(ws: Workspace, accounts, *, start: datetime, end: datetime, limit: int) -> pa.Table:
    """At most ``limit`` stored requests of ``accounts`` with ``start <= timestamp <= end``, with
    their area and cluster (null where unassigned): account_id, request_id, timestamp, prompt,
    system, tools, area, cluster_id. The same sample on every call (ordered by a hash of the
    request id), so a campaign of thousands of accounts stays cheap to read."""
    where, params = _range(S.TIMESTAMP, start, end, prefix="r.")
    where.append("r.account_id IN (SELECT account_id FROM probe)")
    sql = ("SELECT r.account_id, r.request_id, r.timestamp, r.prompt, r.system, r.tools, a.area, a.cluster_id "
           f"FROM requests r LEFT JOIN assignments a USING (request_id){_where(where)} "
           "ORDER BY hash(r.request_id) LIMIT $limit")
    tables = {"requests": partition_files(ws, "requests"), "assignments": partition_files(ws, "assignments"),
              "probe": _probe(S.ACCOUNT_ID, accounts)}
    return _query(sql, {**params, "limit": int(limit)}, tables)


def account_cluster_counts(ws: Workspace, *, start_date: date | None = None, end_date: date | None = None) -> pa.Table:
    """Assigned requests per (account, cluster, area) dated ``start_date..end_date`` (inclusive,
    either may be None): account_id, cluster_id, area, n."""
    where, params = _range(S.DATE, start_date, end_date)
    sql = f"SELECT account_id, cluster_id, area, count(*) AS n FROM assignments{_where(where)} GROUP BY ALL"
    return _query(sql, params, {"assignments": partition_files(ws, "assignments")})


def account_daily_counts(ws: Workspace, *, start_date: date | None = None, end_date: date | None = None) -> pa.Table:
    """Assigned requests per (account, day) dated ``start_date..end_date`` (inclusive, either may
    be None): account_id, day (a date), n."""
    where, params = _range(S.DATE, start_date, end_date)
    sql = f"SELECT account_id, date AS day, count(*) AS n FROM assignments{_where(where)} GROUP BY ALL"
    return _query(sql, params, {"assignments": partition_files(ws, "assignments")})
