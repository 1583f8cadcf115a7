"""Canary campaigns: the recall of the workspace's own detector on its own traffic.

Labels never exist on real traffic. A canary is a small labelled campaign from the simulator
(``targeting.simulate.campaign``: one kind, a few accounts, the adaptive-attacker options if
asked) whose requests are dated inside the latest scored window, embedded with the
workspace's model, assigned to its map (``capmap.assign.assign_requests``, the one path) and
scored together with the window's real requests by the same ``score_frame`` and settings.
Which canary accounts are flagged, at what rank and with which reasons is the report; the
flagged share is the canary's recall.

Nothing is written into the workspace: its requests, assignments, vectors, features and
scores are only read, the canary's rows live in memory. Only the recall figures, one row per
kind (``canary_history_path``, never a canary account or prompt), are appended when asked
(``record``), under the workspace lock. A canary measures recall for campaigns like the
simulator's, not for designs nobody has simulated.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow as pa

from targeting import nightly
from targeting import schema as S
from targeting import workspace as W
from targeting.capmap import CapabilityMap
from targeting.capmap.assign import assign_requests, context_pieces, with_tools_declared
from targeting.config import Settings
from targeting.embed import Encoder, VectorStore, embed_unique
from targeting.errors import BadInputError, UsageProblem
from targeting.ingest import normalise_table
from targeting.jobs import stages as st
from targeting.simulate import SimConfig, campaign
from targeting.simulate.attacks import CAMPAIGN_KINDS
from targeting.summaries import latest_run

log = logging.getLogger("targeting")

PREFIX = "canary-"  # of every canary account id (and request id): never a real one
KINDS = CAMPAIGN_KINDS
ACCOUNT_COLUMNS = ("account_id", "rank", "risk_score", "flagged", "above_run_threshold", "n_requests",
                   "campaign_id", "reasons")


@dataclass(frozen=True)
class CanaryOptions:
    """What to inject: a campaign of ``kind`` over ``accounts`` accounts, simulated with ``seed``
    (None: one derived from the window's last day, so each night's canary differs) and the
    simulator's adaptive-attacker options."""

    kind: str
    accounts: int = 12
    seed: int | None = None
    cover_traffic: float = 0.0
    paraphrase: bool = False
    small_accounts: bool = False
    slow: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageProblem(f"--kind {self.kind!r}: use one of {', '.join(KINDS)}")
        if self.accounts < 2:
            raise UsageProblem("a canary campaign needs at least 2 accounts")
        if not 0.0 <= self.cover_traffic < 1.0:
            raise UsageProblem("--cover-traffic must be in [0, 1)")

    def adaptive(self) -> str:
        """The adaptive options in use, e.g. ``cover=0.3,paraphrase`` ('' for none)."""
        parts = [f"cover={self.cover_traffic:g}"] if self.cover_traffic else []
        return ",".join(parts + [n for n in ("paraphrase", "small_accounts", "slow") if getattr(self, n)])


@dataclass
class CanaryReport:
    """One canary: where it was injected and how each of its accounts scored."""

    kind: str
    adaptive: str
    seed: int
    as_of: str  # the scored window's last day
    window_start: str
    accounts: pd.DataFrame  # ACCOUNT_COLUMNS, one row per canary account, best rank first
    n_requests: int  # the canary's requests
    n_scored: int  # accounts scored with it, real and canary
    threshold: float  # the flag threshold of this scoring (the canary included)
    run_threshold: float | None  # the threshold of the run that wrote the latest scores
    seconds: float = 0.0

    @property
    def found(self) -> int:
        return int(self.accounts["flagged"].sum())

    @property
    def recall(self) -> float:
        return self.found / max(len(self.accounts), 1)

    @property
    def recall_at_run_threshold(self) -> float | None:
        if self.run_threshold is None:
            return None
        return float(self.accounts["above_run_threshold"].mean()) if len(self.accounts) else 0.0

    @property
    def median_rank(self) -> float:
        return float(self.accounts["rank"].median()) if len(self.accounts) else float("nan")

    @property
    def linked(self) -> int:
        """Canary accounts the campaign graph put in a linked group."""
        return int((self.accounts["campaign_id"].fillna("") != "").sum())


# --- the functional core ---------------------------------------------------------------------------
def canary_accounts(table: pd.DataFrame, canary_ids: Sequence[str], run_threshold: float | None) -> pd.DataFrame:
    """The canary accounts' rows of a scored ``table`` (real and canary accounts): their rank
    among all accounts by risk (1 the riskiest; ties share the best rank), risk, flag, whether
    the risk reaches ``run_threshold``, linked group and reasons; best rank first."""
    rank = table["risk_score"].rank(method="min", ascending=False).astype(int)
    out = table.assign(rank=rank)[table["account_id"].isin(set(canary_ids))]
    above = out["risk_score"] >= run_threshold if run_threshold is not None else pd.Series(False, index=out.index)
    out = out.assign(above_run_threshold=above.to_numpy(dtype=bool), flagged=out["flagged"].astype(bool))
    for column in ("campaign_id", "reasons"):
        if column not in out:
            out[column] = ""
    return out[list(ACCOUNT_COLUMNS)].sort_values(["rank", "account_id"], ignore_index=True)


HISTORY_SCHEMA = pa.schema([
    ("recorded_at", pa.string()), ("as_of", pa.string()), ("window_start", pa.string()), ("kind", pa.string()),
    ("adaptive", pa.string()), ("seed", pa.int64()), ("accounts", pa.int64()), ("found", pa.int64()),
    ("recall", pa.float64()), ("recall_at_run_threshold", pa.float64()), ("linked", pa.int64()),
    ("median_rank", pa.float64()), ("best_rank", pa.int64()), ("scored_accounts", pa.int64()),
    ("threshold", pa.float64()), ("run_threshold", pa.float64()), ("seconds", pa.float64()),
])


def history_rows(reports: Sequence[CanaryReport], recorded_at: str) -> pa.Table:
    """The canary history's rows for ``reports``: figures only, one row per canary."""
    rows = [{
        "recorded_at": recorded_at, "as_of": r.as_of, "window_start": r.window_start, "kind": r.kind,
        "adaptive": r.adaptive, "seed": r.seed, "accounts": len(r.accounts), "found": r.found,
        "recall": r.recall, "recall_at_run_threshold": r.recall_at_run_threshold, "linked": r.linked,
        "median_rank": r.median_rank, "best_rank": int(r.accounts["rank"].min()) if len(r.accounts) else None,
        "scored_accounts": r.n_scored, "threshold": r.threshold, "run_threshold": r.run_threshold,
        "seconds": round(r.seconds, 1),
    } for r in reports]
    return pa.Table.from_pylist(rows, schema=HISTORY_SCHEMA)




def night_seed(day: str, kind: str) -> int:
    """The canary seed of a night and kind when none is given: stable, different each night."""
    return int(day.replace("-", "")) * 10 + KINDS.index(kind)


# --- reading the window, building the canary ---------------------------------------------------------
@dataclass(frozen=True)
class Window:
    """The latest scored window: its days (``start`` .. ``day``), and the threshold of its run."""

    start: date
    day: date
    run_threshold: float | None


def latest_window(ws: W.Workspace, settings: Settings) -> Window:
    """The window of the workspace's latest scores, narrowed to the days that hold assignments
    (a canary dated where there is no traffic would measure nothing)."""
    info = latest_run(ws)
    if info is None:
        raise BadInputError(f"workspace {ws.root} has no scores yet: run `targeting run` first")
    days = [d for d in W.partition_days(ws, "assignments") if d <= str(info.as_of)]
    if not days:
        raise BadInputError(f"workspace {ws.root} holds no assigned requests up to {info.as_of}")
    window_days = info.window_days or settings.nightly.window_days
    start = info.as_of - timedelta(days=window_days - 1) if info.kind != "run" else date.fromisoformat(days[0])
    return Window(max(start, date.fromisoformat(days[0])), info.as_of, info.threshold)


def canary_night(options: CanaryOptions, window: Window, settings: Settings, seed: int) -> st.NightInput:
    """The canary's requests, simulated inside ``window`` and normalised as ingest normalises
    logs (``ingest.normalise_table``), in the nightly job's in-memory form (``NightInput``)."""
    config = SimConfig(seed=seed, start=str(window.start), days=(window.day - window.start).days + 1,
                       cover_traffic=options.cover_traffic, paraphrase=options.paraphrase,
                       small_accounts=options.small_accounts, slow=options.slow)
    requests, _ = campaign(config, options.kind, options.accounts, prefix=PREFIX)
    batch = normalise_table(pa.Table.from_pandas(requests, preserve_index=False), Path(f"canary-{options.kind}"),
                            settings.ingest)
    good = batch.good.to_pandas()
    prompts = dict(zip(good[S.PROMPT_HASH], good[S.PROMPT]))
    contexts = good[good[S.CONTEXT_HASH].notna()].drop_duplicates(S.CONTEXT_HASH)[[S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]]
    contexts = contexts.reset_index(drop=True)
    slim = with_tools_declared(good[list(st.SLIM_COLUMNS)].reset_index(drop=True), contexts)
    return st.NightInput(slim, prompts, contexts,
                         batch.quarantine, batch.rows_read, 0, [], batch.quarantine.slice(0, 0))


def embed_in_memory(ws: W.Workspace, encoder: Encoder, night: st.NightInput, cmap: CapabilityMap) -> VectorStore:
    """The vectors of the canary's prompts and contexts (cut as ``cmap``'s are): cached ones
    read from the workspace, the others embedded here and kept in memory only (the cache is
    not written)."""
    ctx_hashes, ctx_texts = st.context_texts(night.contexts, encoder, context_pieces(cmap))
    hashes = list(night.prompts) + ctx_hashes
    texts = list(night.prompts.values()) + ctx_texts
    store = nightly.load_vectors(ws, encoder.model_key, set(hashes))
    new, vectors = embed_unique(hashes, texts, set(store), encoder.encode)
    if new:
        store.add(new, vectors)
    return store


# --- orchestration ---------------------------------------------------------------------------------
def score_with_canary(ws: W.Workspace, cmap: CapabilityMap, window: Window, night: st.NightInput,
                      store: VectorStore, settings: Settings) -> tuple[pd.DataFrame, float]:
    """The window's real requests and the canary's, scored together as the nightly job scores
    a window (``stages.window_assignments``, ``window_inputs``, ``score_frame``), reading the
    workspace's feature cache without writing it."""
    night.assigned = assign_requests(cmap, night.requests, store, cmap.anchors.shape[1], settings.map)
    assigned = st.window_assignments(ws, night, window.start, window.day)
    features = nightly.FeatureCache.open(ws, settings.signals.seed)  # no transaction: read-only
    assigned, store, texts, contexts = st.window_inputs(ws, assigned, night, cmap, store, features,
                                                        start=str(window.start), day=str(window.day))
    return st.score_frame(assigned, cmap, store, texts, cmap.anchors.shape[1], settings, contexts, features)


def run_canary(workspace: str | Path, settings: Settings, options: CanaryOptions, *,
               encoder: Encoder | None = None) -> CanaryReport:
    """Inject one canary campaign into the latest window of ``workspace`` and score it there
    (see the module's description); the workspace is only read."""
    began = time.perf_counter()
    ws = W.open_workspace(workspace)
    cmap = st.current_map(ws)
    if cmap is None:
        raise BadInputError(f"workspace {ws.root} has no capability map yet: run `targeting run` first")
    window = latest_window(ws, settings)
    encoder = st.checked_encoder(cmap, encoder, settings)
    seed = options.seed if options.seed is not None else night_seed(str(window.day), options.kind)
    night = canary_night(options, window, settings, seed)
    n_requests, canary_ids = len(night.requests), sorted(set(night.requests[S.ACCOUNT_ID]))
    log.info("canary %s: %d accounts, %s requests dated %s..%s", options.kind, len(canary_ids),
             f"{n_requests:,}", window.start, window.day)
    store = embed_in_memory(ws, encoder, night, cmap)
    table, threshold = score_with_canary(ws, cmap, window, night, store, settings)
    if table["account_id"].str.startswith(PREFIX).sum() != len(canary_ids):
        raise BadInputError(f"the window already holds accounts whose id starts with {PREFIX!r}: "
                            "a canary could not be told apart from them")
    report = CanaryReport(
        kind=options.kind, adaptive=options.adaptive(), seed=seed, as_of=str(window.day),
        window_start=str(window.start), accounts=canary_accounts(table, canary_ids, window.run_threshold),
        n_requests=n_requests, n_scored=len(table), threshold=float(threshold), run_threshold=window.run_threshold,
    )
    report.seconds = time.perf_counter() - began
    log.info("canary %s: %d of %d flagged (%.1fs)", options.kind, report.found, len(report.accounts), report.seconds)
    return report


def run_canaries(workspace: str | Path, settings: Settings, options: Sequence[CanaryOptions], *,
                 record: bool = False, encoder: Encoder | None = None) -> list[CanaryReport]:
    """One canary per entry of ``options``; with ``record``, their figures appended to the
    workspace's canary history (``record_history``)."""
    if encoder is None and options:
        ws = W.open_workspace(workspace)
        cmap = st.current_map(ws)
        encoder = st.checked_encoder(cmap, None, settings) if cmap is not None else None
    reports = [run_canary(workspace, settings, o, encoder=encoder) for o in options]
    if record and reports:
        record_history(W.open_workspace(workspace), reports)
    return reports


def record_history(ws: W.Workspace, reports: Sequence[CanaryReport]) -> None:
    """Append the reports' figures to the canary history, under the workspace lock."""
    recorded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with W.locked(ws):
        W.append_canary_history(ws, history_rows(reports, recorded_at))


def every_kind(accounts: int = 12, seed: int | None = None) -> list[CanaryOptions]:
    """One canary of each campaign kind, plain (the nightly option)."""
    return [CanaryOptions(kind=k, accounts=accounts, seed=seed) for k in KINDS]


