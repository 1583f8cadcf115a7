"""Where the app reads the workspace: cached, read-only, never in the batch job's way.

Every read goes through the workspace's own functions (whole-file Parquet reads and
short-lived in-memory DuckDB connections), and verdicts through short SQLite connections
in WAL mode, so the app holds no lock and no open handle between reruns: the nightly job
can commit while analysts browse, and the app shows the new run on the next interaction.

Caching: tables are ``st.cache_data`` keyed on a ``RunKey`` (workspace, map, latest
scores file and the last committed run), so a new run is a new key and old entries age
out (``CACHE_RUNS``); heavy read-only objects (the map, FAISS indexes, the encoder) are
``st.cache_resource``. Nothing here logs prompt text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from targeting import workspace as W
from targeting.app import views as V
from targeting.errors import NoWorkspace, WorkspaceError
from targeting.summaries import RunInfo

WORKSPACE_ENV = "TARGETING_APP_WORKSPACE"  # the workspace when no --workspace argument is given
CACHE_RUNS = 3  # runs whose tables stay cached: the one shown and a few before it
CACHE_ITEMS = 256  # per-account / per-campaign entries kept
SEARCH_K = 20


class RunKey(NamedTuple):
    """What identifies the data shown: a new committed run gives a new key."""

    root: str
    map_id: str  # "" when the workspace has no map
    scores: str  # latest scores file relative to the root, "" when none
    run_id: str  # the last committed run
    stamp: int  # the scores file's mtime: a re-scored night at the same path is new data


@dataclass(frozen=True)
class Context:
    """What every page needs: the workspace, the run key and the run's description."""

    ws: W.Workspace
    key: RunKey
    run: RunInfo | None


# --- which workspace and run ---------------------------------------------------------------------
def workspace_arg(argv: Sequence[str]) -> str | None:
    """The value of ``--workspace DIR`` / ``--workspace=DIR`` / ``-w DIR`` in the script's arguments."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg in ("--workspace", "-w") and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return None


def resolve_root(session_value: str | None, argv: Sequence[str], environ: Mapping[str, str]) -> str | None:
    """The workspace folder: set in the session (tests), else ``--workspace``, else the env."""
    return session_value or workspace_arg(argv) or environ.get(WORKSPACE_ENV) or None


def open_ws(root: str) -> W.Workspace:
    try:
        return W.open_workspace(root)
    except WorkspaceError as exc:
        raise NoWorkspace(str(exc)) from None


def run_key(ws: W.Workspace) -> RunKey:
    """Read ``state.json`` (a few hundred bytes) to learn the latest committed run."""
    state = W.read_state(ws)
    path = W.latest_scores_path(ws)
    stamp = path.stat().st_mtime_ns if path is not None and path.exists() else 0
    runs = state.get("runs") or [""]
    rel = str(path.relative_to(ws.root)) if path is not None and stamp else ""
    return RunKey(str(ws.root), state.get("map_id") or "", rel, runs[-1], stamp)


def context(root: str) -> Context:
    ws = open_ws(root)
    key = run_key(ws)
    return Context(ws, key, run_info(key) if key.scores else None)


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def run_info(key: RunKey) -> RunInfo | None:
    from targeting.summaries import latest_run

    return latest_run(_ws(key))


def _ws(key: RunKey) -> W.Workspace:
    return W.Workspace(Path(key.root))


# --- scores and verdicts ---------------------------------------------------------------------------------
@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def raw_scores(key: RunKey) -> pd.DataFrame | None:
    """The latest committed scores, as the pipeline wrote them."""
    table = W.read_latest_scores(_ws(key))
    return None if table is None else table.to_pandas()


def verdicts_stamp(ws: W.Workspace) -> tuple[int, ...]:
    """Changes whenever a verdict is appended (the database or its WAL grows)."""
    out: list[int] = []
    for suffix in ("", "-wal"):
        path = ws.verdicts_path.with_name(ws.verdicts_path.name + suffix)
        if path.exists():
            st_ = path.stat()
            out += [st_.st_mtime_ns, st_.st_size]
    return tuple(out)


def indicators_stamp(ws: W.Workspace) -> tuple[int, ...]:
    """Changes whenever `targeting indicators import` stores new matches."""
    path = ws.indicator_matches_path
    return (path.stat().st_mtime_ns,) if path.exists() else ()


@st.cache_data(max_entries=CACHE_RUNS * 4, show_spinner=False)
def scores(key: RunKey, stamp: tuple[int, ...]) -> pd.DataFrame | None:
    """The latest scores with the standing verdicts applied (dismissals since the run honoured)
    and the indicators other providers shared that an account carries added to its reasons
    (``targeting indicators import``)."""
    from targeting.indicators import with_indicator_reasons
    from targeting.verdicts import apply_verdicts, latest_verdicts

    frame = raw_scores(key)
    if frame is None:
        return None
    ws = _ws(key)
    return with_indicator_reasons(apply_verdicts(frame, latest_verdicts(ws)), W.read_indicator_matches(ws))


def current_scores(ctx: Context) -> pd.DataFrame | None:
    return scores(ctx.key, verdicts_stamp(ctx.ws) + indicators_stamp(ctx.ws))


def verdict_trail(ws: W.Workspace) -> pd.DataFrame:
    """The whole audit trail, re-read only when a verdict was appended."""
    return _verdict_trail(str(ws.root), verdicts_stamp(ws))


@st.cache_data(max_entries=4, show_spinner=False)
def _verdict_trail(root: str, stamp: tuple[int, ...]) -> pd.DataFrame:
    from targeting.verdicts import read_verdicts

    return read_verdicts(W.Workspace(Path(root)))


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def history(key: RunKey) -> pd.DataFrame:
    """Every scored night's account rows (for trends and what changed)."""
    from targeting.summaries import score_history

    return score_history(_ws(key))


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def shift_alerts(key: RunKey) -> pd.DataFrame:
    """Every night's shift alerts up to the shown run's night, newest first (``summaries.shift_alerts``)."""
    from targeting.summaries import shift_alerts as alerts

    info = run_info(key)
    return alerts(_ws(key), end=str(info.as_of) if info is not None and info.as_of else None)


def canary_history(ws: W.Workspace) -> pd.DataFrame | None:
    """The recorded canary runs (``targeting canary --record``), re-read when a canary is recorded."""
    path = ws.canary_history_path
    return _canary_history(str(ws.root), path.stat().st_mtime_ns if path.exists() else 0)


@st.cache_data(max_entries=4, show_spinner=False)
def _canary_history(root: str, stamp: int) -> pd.DataFrame | None:
    return W.read_canary_history(W.Workspace(Path(root))) if stamp else None


# --- requests in the shown run's window ---------------------------------------------------------------------
def window(key: RunKey) -> V.Window:
    info = run_info(key)
    if info is None:
        return V.Window(None, None)
    return V.run_window({"as_of": str(info.as_of), "window_days": info.window_days})


def _days(win: V.Window) -> dict[str, date | None]:
    """The window's first and last day (None where open), as the storage reads take them."""
    return {"start_date": win.start.date() if win.start is not None else None,
            "end_date": win.end.date() if win.end is not None else None}


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def cluster_counts(key: RunKey) -> pd.DataFrame:
    """Requests per (account, cluster, area) in the run's window: account_id, cluster_id, area, n."""
    ws = _ws(key)
    if not W.has_partitions(ws, "assignments"):
        return pd.DataFrame(columns=["account_id", "cluster_id", "area", "n"])
    return W.account_cluster_counts(ws, **_days(window(key))).to_pandas()


def cluster_table(ctx: Context) -> pd.DataFrame:
    """The map's clusters with the run's requests, accounts and flagged accounts in each
    (``views.cluster_table``), cached per run and verdict stamp: its cost grows with the
    window's (account, cluster) pairs, so it is computed once, not on every click."""
    return _cluster_table(ctx.key, verdicts_stamp(ctx.ws) + indicators_stamp(ctx.ws))


@st.cache_data(max_entries=CACHE_RUNS * 4, show_spinner=False)
def _cluster_table(key: RunKey, stamp: tuple[int, ...]) -> pd.DataFrame:
    cmap = capability_map(key.root, key.map_id)
    shown = scores(key, stamp)
    if cmap is None or shown is None:
        return V.cluster_table([], pd.DataFrame(columns=["account_id", "cluster_id", "area", "n"]))
    return V.cluster_table(cmap.clusters, cluster_counts(key), shown.loc[shown["flagged"].astype(bool), "account_id"])


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def daily_counts(key: RunKey) -> pd.DataFrame:
    """Requests per (account, UTC day) in the run's window: account_id, day, n."""
    ws = _ws(key)
    if not W.has_partitions(ws, "assignments"):
        return pd.DataFrame(columns=["account_id", "day", "n"])
    frame = W.account_daily_counts(ws, **_days(window(key))).to_pandas()
    frame["day"] = pd.to_datetime(frame["day"])
    return frame


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def profiles(key: RunKey) -> tuple[np.ndarray, np.ndarray]:
    """Every account's cluster-mix vector (for similar accounts)."""
    return V.cluster_profiles(cluster_counts(key))


@st.cache_data(max_entries=CACHE_ITEMS, show_spinner=False)
def account_requests(key: RunKey, account_id: str) -> pd.DataFrame:
    """One account's requests in the run's window with area and cluster, oldest first."""
    return group_requests(key, (account_id,))


@st.cache_data(max_entries=CACHE_ITEMS, show_spinner=False)
def group_requests(key: RunKey, accounts: tuple[str, ...]) -> pd.DataFrame:
    """The requests of ``accounts`` in the run's window with area and cluster, oldest first."""
    from targeting.queries import requests_of

    ws = _ws(key)
    if not W.has_partitions(ws, "requests") or not W.has_partitions(ws, "assignments"):
        return pd.DataFrame(columns=["account_id", "request_id", "timestamp", "prompt", "prompt_hash", "area", "cluster_id"])
    reqs = requests_of(ws, list(accounts))
    win = window(key)
    day = pd.to_datetime(reqs["timestamp"], utc=True).dt.tz_localize(None).dt.normalize()
    keep = pd.Series(True, index=reqs.index)
    if win.start is not None:
        keep &= day >= win.start
    if win.end is not None:
        keep &= day <= win.end
    return reqs[keep].reset_index(drop=True)


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def capability_areas(key: RunKey) -> tuple[str, ...]:
    """Every capability area of the workspace's taxonomy (``summaries.capability_areas``)."""
    from targeting.summaries import capability_areas as areas

    return areas(_ws(key))


# --- the map and the indexes ------------------------------------------------------------------------------
@st.cache_resource(max_entries=2, show_spinner=False)
def capability_map(root: str, map_id: str):  # -> CapabilityMap | None
    """The fitted map (arrays + JSON), or None when the workspace has none or it is missing."""
    from targeting.capmap import load_map

    folder = W.Workspace(Path(root)).map_dir(map_id) if map_id else None
    if folder is None or not (folder / "map.json").exists():
        return None
    return load_map(folder)


@st.cache_resource(max_entries=2, show_spinner=False)
def anchor_index(root: str, map_id: str):  # -> faiss.Index | None
    from targeting.capmap.assign import anchor_index as build

    cmap = capability_map(root, map_id)
    return None if cmap is None else build(cmap)


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def map_points(root: str, map_id: str) -> pd.DataFrame | None:
    cmap = capability_map(root, map_id)
    if cmap is None:
        return None
    return V.map_points(cmap.anchor_xy, cmap.anchor_cluster, cmap.clusters)


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def map_labels(root: str, map_id: str) -> pd.DataFrame:
    """Area and cluster names placed on the map (``views.map_labels``), cached by map."""
    cmap = capability_map(root, map_id)
    if cmap is None:
        return pd.DataFrame(columns=["x", "y", "text", "level", "area", "size"])
    return V.map_labels(cmap.anchor_xy, cmap.anchor_cluster, cmap.clusters)


@st.cache_data(max_entries=CACHE_RUNS, show_spinner=False)
def map_density(root: str, map_id: str) -> pd.DataFrame:
    """How crowded each part of the map is (``views.map_density`` over the fixed display
    sample), cached by map: its cost does not grow with traffic."""
    points = map_points(root, map_id)
    return V.map_density(points if points is not None else pd.DataFrame(columns=["x", "y"]))


@st.cache_data(max_entries=CACHE_ITEMS, show_spinner=False)
def account_positions(key: RunKey, account_id: str) -> pd.DataFrame:
    """The account's distinct prompts placed on the map: x, y, area, cluster_id, requests."""
    return group_positions(key, (account_id,))


@st.cache_data(max_entries=CACHE_ITEMS, show_spinner=False)
def group_positions(key: RunKey, accounts: tuple[str, ...]) -> pd.DataFrame:
    """The distinct prompts of ``accounts`` placed on the map: x, y, area, cluster_id,
    requests (of all of them together)."""
    columns = ["x", "y", "area", "cluster_id", "requests"]
    cmap = capability_map(key.root, key.map_id)
    reqs = group_requests(key, accounts) if accounts else pd.DataFrame()
    if cmap is None or reqs.empty:
        return pd.DataFrame(columns=columns)
    per = reqs.groupby("prompt_hash").agg(area=("area", "first"), cluster_id=("cluster_id", "first"),
                                          requests=("request_id", "size")).reset_index()
    hashes, vectors = W.read_embeddings(_ws(key), cmap.meta["model_key"], only=set(per["prompt_hash"]))
    if not len(hashes):
        return pd.DataFrame(columns=columns)
    where = {h: i for i, h in enumerate(hashes)}
    per = per[per["prompt_hash"].isin(where)].reset_index(drop=True)
    matrix = np.ascontiguousarray(vectors[[where[h] for h in per["prompt_hash"]]], dtype=np.float32)
    sims, ids = anchor_index(key.root, key.map_id).search(matrix, V.PLACE_K)
    xy = V.place_on_map(cmap.anchor_xy, sims, ids)
    per["x"], per["y"] = xy[:, 0], xy[:, 1]
    return per.dropna(subset=["x", "y"])[columns]


@st.cache_resource(max_entries=2, show_spinner=False)
def prompt_index(root: str, map_id: str):  # -> PromptIndex | None
    from targeting.index import load_index

    folder = W.Workspace(Path(root)).index_dir(map_id) if map_id else None
    return load_index(folder) if folder is not None and folder.exists() else None


@st.cache_resource(max_entries=1, show_spinner=False)
def search_encoder(root: str, map_id: str) -> tuple[Any, str]:
    """(encoder, "") for the model the map was fitted with, or (None, why not)."""
    from targeting.config import load_settings
    from targeting.embed import load_encoder

    cmap = capability_map(root, map_id)
    if cmap is None:
        return None, "the workspace has no capability map"
    try:
        config = dataclasses.replace(load_settings().embed, progress=False)
        encoder = load_encoder(config)
    except Exception as exc:  # noqa: BLE001 - any failure to load is shown, not raised
        return None, f"the embedding model could not be loaded ({type(exc).__name__}: {str(exc)[:200]})"
    wanted = cmap.meta.get("weights_sha256")
    if wanted and encoder.weights_sha256 != wanted:
        return None, (f"the workspace's vectors come from {cmap.meta.get('model_id')} (weights "
                      f"{str(wanted)[:12]}…), not the configured model; set TARGETING_EMBED__MODEL to it")
    return encoder, ""


@st.cache_data(max_entries=64, show_spinner=False)
def search(key: RunKey, query: str, k: int = SEARCH_K) -> tuple[pd.DataFrame | None, str]:
    """Nearest stored prompts to a free-text query, with their accounts; or (None, why not)."""
    from targeting.queries import search_prompts

    pindex = prompt_index(key.root, key.map_id)
    if pindex is None:
        return None, "the workspace has no prompt index"
    encoder, problem = search_encoder(key.root, key.map_id)
    if encoder is None:
        return None, problem
    return search_prompts(_ws(key), pindex, query, encoder=encoder, k=k), ""


# --- evidence ---------------------------------------------------------------------------------------------------
@st.cache_data(max_entries=CACHE_ITEMS, show_spinner=False)
def account_evidence(key: RunKey, account_id: str) -> list[dict[str, Any]]:
    """Each reason of an account's score with its example prompts (whole; pages truncate)."""
    from targeting.evidence import account_evidence as evidence

    return [dataclasses.asdict(e) for e in evidence(_ws(key), account_id, detector=cot_detector())]


@st.cache_resource(max_entries=1, show_spinner=False)
def cot_detector():
    """The elicitation classifier behind the evidence prompts (trained once per process, ~2 s)."""
    from targeting.signals.elicitation import load_cot_exemplars, train_cot_detector

    return train_cot_detector(*load_cot_exemplars())


@st.cache_data(max_entries=CACHE_ITEMS, show_spinner=False)
def campaign_evidence(key: RunKey, campaign_id: str) -> list[dict[str, Any]]:
    """What ties a campaign together: shared wrappers, system prompts, tools, templates, examples."""
    from targeting.evidence import campaign_evidence as evidence

    return [dataclasses.asdict(e) for e in evidence(_ws(key), campaign_id, examples=3, scores=raw_scores(key))]
