"""The arrows in order: ingest -> embed -> map -> assign -> index -> score, on one screen.

``run`` takes new logs all the way to account scores; ``score`` re-scores a window of what
is stored (the nightly job). Both commit through one workspace transaction, so a run
killed at any stage leaves the workspace as it was.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import resource
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from targeting import schema as S
from targeting import workspace as W
from targeting.campaigns import ContextKeys, campaign_signals, link_accounts
from targeting.communities import size_distribution
from targeting.capmap import CapabilityMap, assign, context_text, fit_map, load_map, load_taxonomy, save_map
from targeting.capmap.assign import anchor_index, context_area_probs, mix_context
from targeting import activity, nightly
from targeting.capmap.match import carry_ids, match_clusters
from targeting.config import ENGINES, Settings
from targeting.drift import measure_drift
from targeting.embed import Encoder, VectorStore, embed_unique, load_encoder, text_hash
from targeting.index import PromptIndex, build_index, load_index, save_index
from targeting.linking import Infrastructure, infrastructure
from targeting.ingest import expand_inputs, iter_batches, quarantine_good_rows
from targeting.risk import score_accounts
from targeting.signals import SignalContext, compute_signals
from targeting.signals.templates import TemplateParts, system_families, system_keys, template_parts
from targeting.signals.elicitation import CotDetector, load_cot_exemplars, train_cot_detector
from targeting.verdicts import apply_verdicts, latest_verdicts

log = logging.getLogger("targeting")


class BadInputError(ValueError):
    """Too many malformed rows, or unusable input: exit code 2."""


@dataclass
class RunResult:
    run_id: str
    rows_read: int = 0
    rows_stored: int = 0
    duplicates: int = 0  # exact duplicates skipped: request id already stored or read, same account and prompt
    quarantined: int = 0  # malformed rows and conflicting duplicates, written to the run's quarantine file
    conflicting_duplicates: int = 0  # skipped and quarantined: request id already seen with another account/prompt
    accounts: int = 0
    flagged: int = 0
    campaigns: int = 0  # linked groups with at least one flagged member (summaries.group_counts)
    linked_groups: int = 0  # every group the campaign graph found, flagged or not (summaries.group_counts)
    linked_group_sizes: dict[str, int] = field(default_factory=dict)  # linked groups by size band (communities.size_distribution)
    linked_group_coherence: dict[str, float] = field(default_factory=dict)  # linked group id -> coherence (mean tie)
    map_id: str = ""
    map_fitted: bool = False
    as_of: str = ""
    scores_path: str = ""
    threshold: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)
    prompts_embedded: int = 0
    drift: dict[str, Any] | None = None  # the nightly job's drift figure (targeting.drift)
    clusters_kept: int = 0  # targeting fit: refitted clusters that kept an old id
    skipped: str = ""  # why a job did nothing (targeting fit --if-drift without drift)
    peak_mib: dict[str, int] = field(default_factory=dict)  # process peak memory at the end of each stage


class _Timer:
    def __init__(self, result: RunResult) -> None:
        self.result = result

    def __call__(self, stage: str) -> "_Stage":
        return _Stage(self.result, stage)


class _Stage:
    def __init__(self, result: RunResult, stage: str) -> None:
        self.result, self.stage = result, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()
        log.info("stage %s ...", self.stage)

    def __exit__(self, *exc: Any) -> None:
        took = time.perf_counter() - self.start
        self.result.timings[self.stage] = round(took, 3)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        self.result.peak_mib[self.stage] = round(peak)
        log.info("stage %s done in %.1fs (peak memory so far %.0f MiB)", self.stage, took, peak)


# --- stage 1: ingest ----------------------------------------------------------------------------
CONFLICT_REASON = "request_id already seen with another account/prompt"


@dataclass
class Ingested:
    requests: pd.DataFrame  # the new rows (all contract columns + derived)
    quarantine: pa.Table  # malformed rows
    rows_read: int
    duplicates: int  # exact duplicates: a request id already stored or read, same account and prompt
    files: list[dict[str, Any]]
    conflicts: pa.Table  # conflicting duplicates (CONFLICT_REASON), in the quarantine's layout


def _tally(batch, files_info: dict[str, dict[str, Any]], bad: list[pa.Table]) -> None:
    """Count a batch's rows and quarantined rows against its file; keep its bad rows."""
    info = files_info.setdefault(str(batch.source), {"file": str(batch.source), "rows": 0, "quarantined": 0})
    info["rows"] += batch.rows_read
    info["quarantined"] += batch.quarantine.num_rows
    if batch.quarantine.num_rows:
        bad.append(batch.quarantine)


def _stored_requests(ws: W.Workspace) -> Callable[[list[str]], pd.DataFrame]:
    """Stored requests among some request ids: their id, account and prompt hash."""
    return lambda ids: W.read_distinct(ws, S.REQUEST_ID, [S.ACCOUNT_ID, S.PROMPT_HASH], ids)


class RequestIds:
    """The request ids met in a run, each with a fingerprint of its account and prompt hash.

    ``split`` sorts a batch's good rows into new requests (kept), exact duplicates (an id
    already stored or met earlier in the run, with the same account and prompt: skipped and
    counted in ``duplicates``) and conflicting duplicates (the same id with another account
    or prompt: skipped, counted in ``conflicts`` and returned as quarantine rows naming file,
    row and CONFLICT_REASON). The first request met with an id wins, a stored one first of all.
    ``stored(ids)`` gives the stored requests among ids (id, account, prompt hash columns).
    """

    def __init__(self, stored: Callable[[list[str]], pd.DataFrame]) -> None:
        self._stored = stored
        self._seen: dict[str, int] = {}
        self.duplicates = 0
        self.conflicts = 0

    @staticmethod
    def _prints(accounts: list, prompt_hashes: list) -> list[int]:
        return list(map(hash, zip(accounts, prompt_hashes)))

    def _add_stored(self, ids: list[str]) -> None:
        new = [i for i in dict.fromkeys(ids) if i not in self._seen]
        found = self._stored(new) if new else None
        if found is not None and len(found):
            prints = self._prints(found[S.ACCOUNT_ID].tolist(), found[S.PROMPT_HASH].tolist())
            self._seen.update(zip(found[S.REQUEST_ID].tolist(), prints))

    def split(self, batch) -> tuple[np.ndarray, pa.Table | None]:
        """(mask of the batch's good rows to keep, quarantine rows of its conflicting
        duplicates or None)."""
        good = batch.good
        ids = good.column(S.REQUEST_ID).to_pylist()
        self._add_stored(ids)
        prints = self._prints(good.column(S.ACCOUNT_ID).to_pylist(), good.column(S.PROMPT_HASH).to_pylist())
        keep = np.zeros(len(ids), dtype=bool)
        conflict = np.zeros(len(ids), dtype=bool)
        seen = self._seen
        for i, (rid, fp) in enumerate(zip(ids, prints)):
            first = seen.get(rid)
            if first is None:
                seen[rid] = fp
                keep[i] = True
            elif first != fp:
                conflict[i] = True
        n_conflicts = int(conflict.sum())
        self.conflicts += n_conflicts
        self.duplicates += len(ids) - int(keep.sum()) - n_conflicts
        if not n_conflicts:
            return keep, None
        return keep, quarantine_good_rows(batch, np.flatnonzero(conflict), S.REQUEST_ID, CONFLICT_REASON)


def _concat_quarantine(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables) if tables else S.QUARANTINE_SCHEMA.empty_table()


def ingest(files: Sequence[Path], stored: Callable[[list[str]], pd.DataFrame], settings: Settings) -> Ingested:
    """Read the files (``ingest.iter_batches``); keep each request id once (``RequestIds``;
    ``stored``: the stored requests among some ids)."""
    good, bad, conflicts, files_info = [], [], [], {}
    rows_read = 0
    ids = RequestIds(stored)
    for batch in iter_batches(files, settings.ingest):
        rows_read += batch.rows_read
        _tally(batch, files_info, bad)
        keep, conflicting = ids.split(batch)
        if conflicting is not None:
            conflicts.append(conflicting)
        good.append(batch.good.filter(pa.array(keep)).to_pandas())
        log.info("ingest: %s rows read, %s stored, %s quarantined", f"{rows_read:,}",
                 f"{sum(len(g) for g in good):,}", f"{sum(b.num_rows for b in bad):,}")
    requests = pd.concat(good, ignore_index=True) if good else pd.DataFrame(columns=S.REQUEST_SCHEMA.names)
    return Ingested(requests, _concat_quarantine(bad), rows_read, ids.duplicates, list(files_info.values()),
                    _concat_quarantine(conflicts))


def stage_partitioned(tx: W.Transaction, frame: pd.DataFrame, schema: pa.Schema, table_name: str,
                       part: str | None = None) -> None:
    """Stage ``frame`` as one Parquet file per UTC day under ``table_name`` (file ``part-PART``,
    default the run id: the Ray engine's workers stage one file per batch)."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    dates = frame[S.DATE].astype(str).to_numpy()
    for day in np.unique(dates):
        rows = table.filter(pa.array(dates == day))
        W.write_parquet(tx.path(tx.ws.partition_path(table_name, day, part or tx.run_id)), rows)


# --- stage 1 of the nightly job: streaming ingest ---------------------------------------------------
SLIM_COLUMNS = (S.REQUEST_ID, S.ACCOUNT_ID, S.TIMESTAMP, S.PROMPT_HASH, S.CONTEXT_HASH, S.DATE, S.IP,
                S.ACCOUNT_CREATED_AT)


@dataclass
class NightInput:
    """A night's new requests, without holding their texts once per row."""

    requests: pd.DataFrame  # SLIM_COLUMNS, one row per new request
    prompts: dict[str, str]  # prompt hash -> text, each distinct prompt of the night once
    contexts: pd.DataFrame  # context_hash, system, tools: each distinct context once
    quarantine: pa.Table  # malformed rows
    rows_read: int
    duplicates: int  # exact duplicates (see Ingested)
    files: list[dict[str, Any]]
    conflicts: pa.Table  # conflicting duplicates (see Ingested)


def ingest_night(tx: W.Transaction, files: Sequence[Path], settings: Settings) -> NightInput:
    """Stream the files in batches: each batch's new rows (request ids neither stored nor seen
    earlier in the night, ``RequestIds``) are staged at once, one Parquet file per batch and
    day, and only the columns later stages need are kept in memory."""
    slim, bad, conflicts, files_info = [], [], [], {}
    prompts: dict[str, str] = {}
    contexts: dict[str, tuple[Any, Any]] = {}
    ids = RequestIds(_stored_requests(tx.ws))
    rows_read = 0
    for n, batch in enumerate(iter_batches(files, settings.ingest)):
        rows_read += batch.rows_read
        _tally(batch, files_info, bad)
        if batch.good.num_rows == 0:
            continue
        keep, conflicting = ids.split(batch)
        if conflicting is not None:
            conflicts.append(conflicting)
        good = batch.good.filter(pa.array(keep))
        dates = good.column(S.DATE).to_numpy(zero_copy_only=False).astype(str)
        for day in np.unique(dates):
            W.write_parquet(tx.path(tx.ws.partition_path("requests", day, f"{tx.run_id}-{n:05d}")),
                            good.filter(pa.array(dates == day)))
        frame = good.select([S.PROMPT_HASH, S.PROMPT, S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]).to_pandas()
        for h, text in frame.drop_duplicates(S.PROMPT_HASH)[[S.PROMPT_HASH, S.PROMPT]].itertuples(index=False):
            prompts.setdefault(h, text)
        ctx = frame[frame[S.CONTEXT_HASH].notna()].drop_duplicates(S.CONTEXT_HASH)
        for h, system, tools in ctx[[S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]].itertuples(index=False):
            contexts.setdefault(h, (system, tools))
        slim.append(good.select(list(SLIM_COLUMNS)).to_pandas())
        log.info("ingest: %s rows read, %s new, %s quarantined", f"{rows_read:,}",
                 f"{sum(len(x) for x in slim):,}", f"{sum(b.num_rows for b in bad):,}")
    requests = (pd.concat(slim, ignore_index=True) if slim
                else pd.DataFrame({c: pd.Series(dtype=object) for c in SLIM_COLUMNS}))
    context_frame = pd.DataFrame(
        [(h, s, t) for h, (s, t) in contexts.items()], columns=[S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]
    )
    return NightInput(requests, prompts, context_frame, _concat_quarantine(bad), rows_read, ids.duplicates,
                      list(files_info.values()), _concat_quarantine(conflicts))


# --- stage 2: embed -------------------------------------------------------------------------------
def embed_texts(
    tx: W.Transaction, encoder: Encoder, store: dict[str, np.ndarray], hashes: Sequence[str], texts: Sequence[str],
    name: str,
) -> None:
    """Embed the distinct texts not yet in ``store`` (hash -> vector), stage them, update store."""
    new_hashes, vectors = embed_unique(hashes, texts, set(store), encoder.encode)
    if not new_hashes:
        return
    if isinstance(store, VectorStore):
        store.add(new_hashes, vectors)
    else:
        for h, v in zip(new_hashes, vectors):
            store[h] = v
    path = tx.ws.embeddings_dir(encoder.model_key) / f"part-{tx.run_id}-{name}.parquet"
    W.write_parquet(tx.path(path), W.embeddings_table(np.array(new_hashes), vectors))


def check_model(cmap: CapabilityMap, encoder: Encoder) -> None:
    """Refuse vectors of another model (or precision) than the map's: exit code 2."""
    if cmap.meta.get("model_key", encoder.model_key) != encoder.model_key or (
        cmap.meta.get("weights_sha256") != encoder.weights_sha256
    ):
        raise BadInputError(
            f"the workspace's capability map was fitted with model {cmap.meta.get('model_id')} "
            f"(weights sha256 {str(cmap.meta.get('weights_sha256'))[:12]}…), not the configured "
            f"{encoder.model_id} ({encoder.weights_sha256[:12]}…); re-run with --refit"
        )


def load_vector_store(ws: W.Workspace, model_key: str, only: set[str] | None = None) -> VectorStore:
    """The stored vectors of one model (all, or ``only`` those prompt hashes)."""
    store = VectorStore()
    hashes, vectors = W.read_embeddings(ws, model_key, only=only)
    if len(hashes):
        store.add(list(hashes), vectors)
    return store


def _matrix(store: dict[str, np.ndarray], hashes: Sequence[str], dim: int) -> np.ndarray:
    if len(hashes) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if isinstance(store, VectorStore):
        return store.matrix(hashes)
    return np.stack([store[h] for h in hashes]).astype(np.float32)


# --- stage 3: map -------------------------------------------------------------------------------------
def _taxonomy_vectors(tx, encoder, store, settings):
    taxonomy = load_taxonomy(settings.map.taxonomy or None)
    prompts = [e.prompt for e in taxonomy.exemplars]
    contexts = [(e.context, e.area) for e in taxonomy.exemplars if e.context]
    p_hashes = [text_hash(t) for t in prompts]
    c_hashes = [text_hash(c) for c, _ in contexts]
    embed_texts(tx, encoder, store, p_hashes + c_hashes, prompts + [c for c, _ in contexts], "taxonomy")
    ex_vec = _matrix(store, p_hashes, encoder.dim)
    ex_area = np.array([taxonomy.area_index(e.area) for e in taxonomy.exemplars], dtype=np.int32)
    ctx_vec = _matrix(store, c_hashes, encoder.dim)
    ctx_area = np.array([taxonomy.area_index(a) for _, a in contexts], dtype=np.int32)
    return taxonomy, ex_vec, ex_area, ctx_vec, ctx_area


def _versions() -> dict[str, str]:
    import faiss
    import sklearn
    import umap

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "umap-learn": umap.__version__,
        "faiss": faiss.__version__,
    }


def fit_capability_map(tx, encoder, store, prompt_hashes, prompt_texts, settings) -> CapabilityMap:
    taxonomy, ex_vec, ex_area, ctx_vec, ctx_area = _taxonomy_vectors(tx, encoder, store, settings)
    meta = {
        "model_id": encoder.model_id,
        "model_key": encoder.model_key,
        "weights_sha256": encoder.weights_sha256,
        "taxonomy": taxonomy.source,
        "versions": _versions(),
    }
    return fit_map(
        vectors=_matrix(store, prompt_hashes, encoder.dim),
        hashes=list(prompt_hashes),
        texts=list(prompt_texts),
        exemplar_vectors=ex_vec,
        exemplar_area=ex_area,
        context_vectors=ctx_vec,
        context_area=ctx_area,
        areas=taxonomy.areas,
        config=settings.map,
        meta=meta,
    )


# --- stage 4: assign ------------------------------------------------------------------------------------
def assign_requests(
    cmap: CapabilityMap, requests: pd.DataFrame, store: dict[str, np.ndarray], dim: int, settings: Settings
) -> pd.DataFrame:
    """area, cluster_id and distance for each request: the one assignment path."""
    if requests.empty:
        return pd.DataFrame(columns=S.ASSIGNMENT_SCHEMA.names)
    # factorize (a hash table over the strings) rather than np.unique on a fixed-width copy:
    # a night of a million 64-character hashes would otherwise take gigabytes
    inverse, distinct = pd.factorize(requests[S.PROMPT_HASH], sort=False)
    vectors = _matrix(store, list(distinct), dim)
    # context evidence per request; NaN where the request has no system prompt or tools
    ctx_codes, ctx_uniq = pd.factorize(requests[S.CONTEXT_HASH], sort=False)  # -1 where null
    ctx_probs = np.full((len(requests), len(cmap.areas)), np.nan, dtype=np.float32)
    known = np.array([h in store for h in ctx_uniq], dtype=bool)
    has_ctx = (ctx_codes >= 0) & known[np.maximum(ctx_codes, 0)] if len(ctx_uniq) else np.zeros(len(requests), bool)
    if has_ctx.any():
        probs_of = np.full((len(ctx_uniq), len(cmap.areas)), np.nan, dtype=np.float32)
        probs_of[known] = context_area_probs(cmap, _matrix(store, list(ctx_uniq[known]), dim))
        ctx_probs[has_ctx] = probs_of[ctx_codes[has_ctx]]
    # prompt evidence per distinct prompt, expanded to requests, then context mixed in
    base = assign(cmap, vectors, knn=settings.map.knn, index=anchor_index(cmap))
    probs = mix_context(base.area_probs[inverse], ctx_probs, settings.map.context_weight)
    clusters = np.array(cmap.cluster_ids, dtype=object)
    return pd.DataFrame(
        {
            S.REQUEST_ID: requests[S.REQUEST_ID].to_numpy(),
            S.ACCOUNT_ID: requests[S.ACCOUNT_ID].to_numpy(),
            S.TIMESTAMP: requests[S.TIMESTAMP].to_numpy(),
            S.PROMPT_HASH: requests[S.PROMPT_HASH].to_numpy(),
            S.AREA: np.array(cmap.areas, dtype=object)[probs.argmax(axis=1)],
            S.CLUSTER_ID: clusters[base.cluster[inverse]],
            "distance": base.distance[inverse].astype(np.float32),
            S.DATE: requests[S.DATE].to_numpy(),
        }
    )


def _context_texts(requests: pd.DataFrame) -> tuple[list[str], list[str]]:
    has = requests[S.CONTEXT_HASH].notna()
    sub = requests.loc[has, [S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]].drop_duplicates(S.CONTEXT_HASH)
    hashes, texts = [], []
    for h, system, tools in sub.itertuples(index=False):
        text = context_text(system, tools)
        if text:
            hashes.append(h)
            texts.append(text)
    return hashes, texts


# --- stage 6: score -------------------------------------------------------------------------------------
FEATURE_CHUNK = 50_000  # distinct prompts whose text features are computed at once


def score_frame(
    assigned: pd.DataFrame, cmap: CapabilityMap, store: dict[str, np.ndarray], texts: dict[str, str], dim: int,
    settings: Settings, contexts: pd.DataFrame | None = None, features: nightly.FeatureCache | None = None,
) -> tuple[pd.DataFrame, float]:
    """The contract's account table (plus evidence columns) for the given assigned requests.

    ``assigned`` may carry each request's ``ip``, ``account_created_at`` and ``context_hash``
    (``attach_metadata``), and ``contexts`` the system prompt and tools of each context hash
    (``read_contexts``): they add infrastructure and shared-context links between accounts.
    ``features`` (the nightly job's cache of per-prompt text features) gives the features of
    the prompts it holds and takes those computed here; ``texts`` then needs only the others."""
    # sorted distinct hashes and each request's row, as np.unique gives them, without its
    # fixed-width copy of every request's hash (a night of a million takes gigabytes)
    rows, distinct = pd.factorize(assigned[S.PROMPT_HASH], sort=True)
    distinct = np.asarray(distinct, dtype=object)
    area_idx = {a: i for i, a in enumerate(cmap.areas)}
    cluster_idx = {c: i for i, c in enumerate(cmap.cluster_ids)}
    frame = pd.DataFrame(
        {
            "account_id": assigned[S.ACCOUNT_ID].to_numpy(),
            "timestamp": pd.to_datetime(assigned[S.TIMESTAMP], utc=True).to_numpy(),
            "row": rows,
            "area": assigned[S.AREA].map(area_idx).to_numpy(),
            "cluster": assigned[S.CLUSTER_ID].map(cluster_idx).to_numpy(),
        }
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    detector = features.detector if features is not None else train_cot_detector(
        *load_cot_exemplars(), seed=settings.signals.seed)
    prompt_cot, parts, prompt_texts = _prompt_features(distinct, texts, detector, settings.signals.seed, features)
    taxonomy = load_taxonomy(settings.map.taxonomy or None)
    ctx = SignalContext(
        vectors=_matrix(store, distinct, dim),
        texts=prompt_texts,
        areas=cmap.areas,
        cluster_area=cmap.cluster_area_index(),
        target_areas=tuple(i for i, a in enumerate(cmap.areas) if a != taxonomy.fallback_area),
        config=settings.signals,
        elicited_area=cmap.areas.index(taxonomy.elicited_area) if taxonomy.elicited_area in cmap.areas else None,
    )
    signals, keys = compute_signals(frame, ctx, prompt_cot, parts)
    del parts
    infra = _infrastructure(assigned, settings) if settings.signals.use_metadata else None
    links = link_accounts(
        frame["account_id"].to_numpy(), frame["row"].to_numpy(), keys.keys, keys.weights, infra,
        _context_keys(assigned, contexts), vectors=ctx.vectors, seed=settings.signals.seed, phrases=keys.phrases,
    )
    actor = campaign_signals(frame, ctx, links, prompt_cot, signals["content_area"])
    signals = signals.join([links.campaign, links.partners, links.max_similarity, links.infra_partners,
                            links.tie, links.coherence, actor])
    risk, threshold = score_accounts(signals, settings.risk)
    table = signals.join(risk)
    table = table.reset_index()
    ordered = list(S.SCORE_COLUMNS) + [c for c in table.columns if c not in S.SCORE_COLUMNS]
    return table[ordered].sort_values("risk_score", ascending=False, ignore_index=True), threshold


def _prompt_features(
    distinct: np.ndarray, texts: dict[str, str], detector: CotDetector, seed: int, cache: nightly.FeatureCache | None,
) -> tuple[np.ndarray, TemplateParts, tuple[str, ...]]:
    """(chain-of-thought probability, template parts, text) of each distinct prompt: from
    ``cache`` where it holds them (their text is then not read: ''), computed for the others
    ``FEATURE_CHUNK`` prompts at a time and handed to ``cache``."""
    n = len(distinct)
    if cache is None:
        cot_found = parts_found = np.zeros(n, dtype=bool)
        prompt_cot, parts = np.zeros(n), TemplateParts.empty(n)
    else:
        cot_found, prompt_cot, parts_found, parts = cache.lookup(distinct)
    prompt_texts = [""] * n
    todo = np.flatnonzero(~(cot_found & parts_found))
    for start in range(0, len(todo), FEATURE_CHUNK):
        chunk = todo[start : start + FEATURE_CHUNK]
        for i in chunk:
            prompt_texts[i] = texts[distinct[i]]
        rows = chunk[~cot_found[chunk]]
        if len(rows):
            prompt_cot[rows] = detector.probability([prompt_texts[i] for i in rows])
            if cache is not None:
                cache.add(nightly.COT, distinct[rows], prompt_cot[rows])
        rows = chunk[~parts_found[chunk]]
        if len(rows):
            got = template_parts([prompt_texts[i] for i in rows], seed)
            parts.sigs[rows], parts.eligible[rows], parts.affixes[rows] = got.sigs, got.eligible, got.affixes
            parts.sketch[rows] = got.sketch
            if cache is not None:
                cache.add(nightly.TEMPLATES, distinct[rows], got)
    if cache is not None:
        cache.flush()
        log.info("prompt features: %s cached, %s computed", f"{cache.cached:,}", f"{len(todo):,}")
    return prompt_cot, parts, tuple(prompt_texts)


def _infrastructure(assigned: pd.DataFrame, settings: Settings) -> Infrastructure | None:
    """Shared-address and creation-batch evidence, when the scored requests carry metadata
    (``attach_metadata``)."""
    has_ip = S.IP in assigned and assigned[S.IP].notna().any()
    has_created = S.ACCOUNT_CREATED_AT in assigned and assigned[S.ACCOUNT_CREATED_AT].notna().any()
    if not (has_ip or has_created):
        return None
    accounts = assigned[S.ACCOUNT_ID].to_numpy().astype(str)
    created = None
    if has_created:
        created = pd.to_datetime(assigned[S.ACCOUNT_CREATED_AT], utc=True).groupby(accounts).min()
    ips = assigned[S.IP].to_numpy(dtype=object) if has_ip else None
    return infrastructure(np.unique(accounts), accounts, ips, created)


def attach_metadata(ws: W.Workspace, assigned: pd.DataFrame, fresh: pd.DataFrame | None = None) -> pd.DataFrame:
    """``assigned`` with each request's client address and account creation time (null where
    the logs had none), from ``fresh`` (this run's requests) or the stored requests."""
    cols = [S.REQUEST_ID, S.IP, S.ACCOUNT_CREATED_AT, S.CONTEXT_HASH]
    parts = []
    if fresh is not None and not fresh.empty and all(c in fresh for c in cols):
        parts.append(fresh[cols])
    if W.has_partitions(ws, "requests"):
        dates = pd.to_datetime(assigned[S.DATE]).dt.date if len(assigned) else pd.Series([], dtype=object)
        if len(dates):
            parts.append(W.read_requests(ws, cols, start_date=dates.min(), end_date=dates.max()).to_pandas())
    base = assigned.drop(columns=[c for c in cols[1:] if c in assigned])
    if not parts:
        return base.assign(**{S.IP: None, S.ACCOUNT_CREATED_AT: pd.NaT, S.CONTEXT_HASH: None})
    meta = pd.concat(parts, ignore_index=True).drop_duplicates(S.REQUEST_ID)
    return base.merge(meta, on=S.REQUEST_ID, how="left")


def read_contexts(ws: W.Workspace, hashes: set[str], fresh: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per context hash in ``hashes``: its system prompt and tools, from ``fresh``
    (this run's requests or contexts) or the stored requests."""
    cols = [S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]
    known = pd.DataFrame(columns=cols)
    if fresh is not None and not fresh.empty and all(c in fresh for c in cols):
        known = fresh.loc[fresh[S.CONTEXT_HASH].isin(hashes), cols].drop_duplicates(S.CONTEXT_HASH)
    stored = W.read_distinct(ws, S.CONTEXT_HASH, [S.SYSTEM, S.TOOLS], hashes - set(known[S.CONTEXT_HASH]))
    parts = [p for p in (known, stored) if not p.empty]
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True).reset_index(drop=True)


def _context_keys(assigned: pd.DataFrame, contexts: pd.DataFrame | None) -> ContextKeys | None:
    """Each scored request's context as template keys (its system prompt's skeleton)."""
    if contexts is None or contexts.empty or S.CONTEXT_HASH not in assigned:
        return None
    keys = system_keys(list(contexts[S.SYSTEM]))
    position = pd.Series(np.arange(len(contexts)), index=contexts[S.CONTEXT_HASH].to_numpy())
    of_request = position.reindex(assigned[S.CONTEXT_HASH].to_numpy()).fillna(-1).to_numpy(dtype=np.int64)
    return ContextKeys(of_request=of_request, keys=keys, families=system_families(list(contexts[S.SYSTEM])))


def _read_texts(ws: W.Workspace, hashes: set[str], fresh: pd.DataFrame | None = None) -> dict[str, str]:
    """Prompt text of each hash in ``hashes``: from ``fresh`` (this run's requests) or the store."""
    texts: dict[str, str] = {}
    if fresh is not None and not fresh.empty:
        sub = fresh.drop_duplicates(S.PROMPT_HASH)
        texts.update(zip(sub[S.PROMPT_HASH], sub[S.PROMPT]))
    stored = W.read_distinct(ws, S.PROMPT_HASH, [S.PROMPT], hashes - texts.keys())
    texts.update(zip(stored[S.PROMPT_HASH], stored[S.PROMPT]))
    return texts


def _campaign_summary(result: RunResult, table: pd.DataFrame) -> None:
    """For the run summary: linked groups and campaigns counted as the app and the report count
    them (``summaries.group_counts``), the linked groups' size distribution and coherence."""
    from targeting.summaries import group_counts

    counts = group_counts(table)
    result.linked_groups, result.campaigns = counts["n_linked_groups"], counts["n_campaigns"]
    members = table[table["campaign_id"].fillna("") != ""]
    g = members.groupby("campaign_id")
    result.linked_group_sizes = size_distribution(g.size().to_numpy())
    if "campaign_coherence" in members:
        result.linked_group_coherence = {str(k): round(float(v), 3)
                                         for k, v in g["campaign_coherence"].first().items()}


def _scores_table(table: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(table, preserve_index=False)


# --- the two jobs -----------------------------------------------------------------------------------------
def run(
    inputs: Sequence[str | Path],
    workspace: str | Path,
    settings: Settings,
    *,
    refit: bool = False,
    encoder: Encoder | None = None,
) -> RunResult:
    """Ingest logs, embed, fit the map if there is none, assign, index and score everything."""
    files = expand_inputs(inputs)
    ws = W.open_workspace(workspace, create=True)
    result = RunResult(run_id=W.new_run_id("run"))
    stage = _Timer(result)
    with W.locked(ws):
        with W.transaction(ws, result.run_id) as tx:
            state = W.read_state(ws)

            with stage("ingest"):
                got = ingest(files, _stored_requests(ws), settings)
            _refuse_bad_input(got, settings)
            _record_ingest(tx, result, got)
            if not got.requests.empty:
                stage_partitioned(tx, got.requests, S.REQUEST_SCHEMA, "requests")

            with stage("load model"):
                encoder = encoder or load_encoder(settings.embed)
            cmap = None
            if state.get("map_id") and not refit:
                cmap = load_map(ws.map_dir(state["map_id"]))
                check_model(cmap, encoder)

            with stage("embed"):
                store = load_vector_store(ws, encoder.model_key)
                all_hashes = set(got.requests[S.PROMPT_HASH]) | W.distinct_prompt_hashes(ws)
                texts = _read_texts(ws, all_hashes - set(store) if cmap is not None else all_hashes, got.requests)
                todo = sorted(h for h in all_hashes if h not in store)
                embed_texts(tx, encoder, store, todo, [texts[h] for h in todo], "prompts")
            if not all_hashes:
                raise BadInputError("no valid requests in the input and none stored in the workspace")

            if cmap is None:
                with stage("fit map"):
                    ordered = sorted(all_hashes)
                    cmap = fit_capability_map(tx, encoder, store, ordered, [texts[h] for h in ordered], settings)
                    save_map(cmap, tx.path(ws.map_dir(cmap.map_id) / "map.json").parent)
                    tx.state_updates["map_id"] = cmap.map_id
                    result.map_fitted = True
                    tx.delete_on_commit(ws.table_dir("assignments"))
            result.map_id = cmap.map_id

            with stage("assign"):
                if result.map_fitted:
                    to_assign = pd.concat(
                        [W.read_requests(ws).to_pandas(), got.requests], ignore_index=True
                    ) if W.has_partitions(ws, "requests") else got.requests
                else:
                    to_assign = got.requests
                # system prompts + tools are area evidence: embed the ones not seen yet
                embed_texts(tx, encoder, store, *_context_texts(to_assign), "contexts")
                assigned_new = assign_requests(cmap, to_assign, store, encoder.dim, settings)
                if not assigned_new.empty:
                    stage_partitioned(tx, assigned_new, S.ASSIGNMENT_SCHEMA, "assignments")

            with stage("index"):
                ordered = sorted(all_hashes)
                pindex = build_index(np.array(ordered), _matrix(store, ordered, encoder.dim), settings.map.seed)
                save_index(pindex, tx.path(ws.index_dir(cmap.map_id) / "prompts.faiss").parent)

            with stage("score"):
                old = pd.DataFrame()
                if not result.map_fitted:
                    stored = W.read_assignments(ws)
                    old = stored.to_pandas() if stored.num_rows else old
                assigned = pd.concat([old, assigned_new], ignore_index=True) if not old.empty else assigned_new
                as_of = str(pd.to_datetime(assigned[S.TIMESTAMP], utc=True).max().date())
                texts = _read_texts(ws, set(assigned[S.PROMPT_HASH]) - set(texts), got.requests) | texts
                assigned = attach_metadata(ws, assigned, got.requests)
                contexts = read_contexts(ws, set(assigned[S.CONTEXT_HASH].dropna()), got.requests)
                table, threshold = score_frame(assigned, cmap, store, texts, encoder.dim, settings, contexts)
                table = apply_verdicts(table, latest_verdicts(ws))  # dismissals hold until the score rises
                table.insert(0, "as_of", as_of)
                table["run_id"] = result.run_id
                path = ws.scores_path(as_of)
                W.write_parquet(tx.path(path), _scores_table(table))
                tx.state_updates["latest_scores"] = str(path.relative_to(ws.root))
            result.as_of, result.scores_path, result.threshold = as_of, str(path), threshold
            result.accounts = len(table)
            result.flagged = int(table["flagged"].sum())
            _campaign_summary(result, table)
            tx.commit(_manifest(result, settings, encoder, got.files, "run"))
    return result


def _record_ingest(tx: W.Transaction, result: RunResult, got: Ingested | NightInput) -> None:
    """The ingest's counts into the run summary; its malformed rows and conflicting duplicates
    into the run's quarantine file (``quarantined`` counts both, ``conflicting_duplicates``
    the latter: rows read = stored + duplicates + quarantined)."""
    result.rows_read, result.rows_stored, result.duplicates = got.rows_read, len(got.requests), got.duplicates
    result.conflicting_duplicates = got.conflicts.num_rows
    result.quarantined = got.quarantine.num_rows + got.conflicts.num_rows
    if result.quarantined:
        W.write_parquet(tx.path(tx.ws.quarantine_path(result.run_id)),
                        pa.concat_tables([got.quarantine, got.conflicts]))


def _refuse_bad_input(got: Ingested | NightInput, settings: Settings) -> None:
    """BadInputError when more than ``max_bad_share`` of the rows read are malformed (a
    conflicting duplicate is well formed: it does not count), naming the first bad row."""
    bad_share = got.quarantine.num_rows / max(got.rows_read, 1)
    if bad_share > settings.ingest.max_bad_share:
        first = got.quarantine.slice(0, 1).to_pylist()[0]
        raise BadInputError(
            f"{got.quarantine.num_rows:,} of {got.rows_read:,} rows ({100 * bad_share:.1f}%) are malformed, "
            f"more than the allowed {100 * settings.ingest.max_bad_share:.1f}%; first: {first['file']}, "
            f"row {first['row']}, field {first['field']}: {first['reason']}. Nothing was stored."
        )


def _latest_day(ws: W.Workspace, fresh: pd.DataFrame) -> date | None:
    days = [p.name[len("date="):] for p in ws.table_dir("assignments").glob("date=*")]
    if not fresh.empty:
        days.append(str(pd.to_datetime(fresh[S.DATE]).max().date()))
    return date.fromisoformat(max(days)) if days else None


def _latest_scored_day(state: dict) -> str:
    latest = state.get("latest_scores") or ""
    return latest.split("as_of=")[1].split("/")[0] if "as_of=" in latest else ""


def _light_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("targeting", "numpy", "pandas", "pyarrow", "duckdb", "faiss-cpu", "scikit-learn",
                "sentence-transformers", "torch", "tokenizers"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def score(
    workspace: str | Path,
    settings: Settings,
    *,
    inputs: Sequence[str | Path] = (),
    as_of: date | None = None,
    window_days: int | None = None,
    encoder: Encoder | None = None,
) -> RunResult:
    """The nightly job. Ingest the input files not ingested yet (partitions dated up to
    ``as_of``), embed only prompts not embedded yet, assign them to the current map, measure
    drift, and score the accounts active in the ``window_days`` ending at ``as_of``
    (inclusive). Without inputs it re-scores what is stored. Re-running a night replaces
    that night's results; one transaction, so a killed run leaves the workspace as it was
    (apart from embedding checkpoints, which the next run reuses). With ``[scaleout] engine =
    "ray"`` the embed and assign stages run on Ray Data (``targeting.scaleout``) and store
    the same vectors, assignments and night's activity."""
    window_days = window_days or settings.nightly.window_days
    ws = W.open_workspace(workspace, create=bool(inputs))
    result = RunResult(run_id=W.new_run_id("score"))
    stage = _Timer(result)
    with W.locked(ws), _scaleout(settings) as ray_night:
        state = W.read_state(ws)
        with W.transaction(ws, result.run_id) as tx:
            with stage("ingest"):
                registry = W.read_ingested_files(ws)
                files, later = nightly.new_input_files(expand_inputs(inputs) if inputs else [], registry, as_of)
                got = ingest_night(tx, files, settings)
                _refuse_bad_input(got, settings)
                _record_ingest(tx, result, got)
                new = got.requests
                if files:
                    rows = {f["file"]: f["rows"] for f in got.files}
                    entries = nightly.registry_entries(files, result.run_id, rows)
                    registry.update({e["path"]: e for e in entries})
                    W.write_json(tx.path(ws.inputs_path), sorted(registry.values(), key=lambda e: e["path"]))
                else:
                    entries = []
            if not state.get("map_id") and new.empty:
                raise BadInputError(f"workspace {ws.root} has no capability map and no new input: "
                                    "give log files, or run `targeting run` first")
            cmap = load_map(ws.map_dir(state["map_id"])) if state.get("map_id") else None
            model_key = cmap.meta["model_key"] if cmap is not None else ""
            store = VectorStore()
            drift = None
            assigned_new = pd.DataFrame(columns=S.ASSIGNMENT_SCHEMA.names)
            partial = activity.merge_activity([])  # the night's per-account activity, partial form
            if not new.empty:
                with stage("load model"):
                    encoder = encoder or load_encoder(settings.embed)
                    if cmap is not None:
                        check_model(cmap, encoder)
                    model_key = encoder.model_key
                with stage("embed"):
                    ctx_hashes, ctx_texts = _context_texts(got.contexts)
                    hashes = list(got.prompts)
                    store = nightly.load_vectors(ws, model_key, set(hashes) | set(ctx_hashes))
                    if ray_night is not None:  # on Ray Data actors, into the same cache
                        result.prompts_embedded = ray_night.embed(ws, result.run_id, model_key, store,
                                                                  hashes + ctx_hashes,
                                                                  list(got.prompts.values()) + ctx_texts)
                    else:
                        result.prompts_embedded = nightly.embed_checkpointed(
                            ws, result.run_id, encoder, store, hashes + ctx_hashes,
                            list(got.prompts.values()) + ctx_texts, settings.nightly.embed_checkpoint,
                            settings.embed.progress,
                        )
                if cmap is None:
                    with stage("fit map"):
                        ordered = sorted(got.prompts)
                        cmap = fit_capability_map(tx, encoder, store, ordered, [got.prompts[h] for h in ordered],
                                                  settings)
                        save_map(cmap, tx.path(ws.map_dir(cmap.map_id) / "map.json").parent)
                        tx.state_updates["map_id"] = cmap.map_id
                        result.map_fitted = True
                with stage("assign"):
                    if ray_night is not None:  # on Ray Data actors: staged by them, partials merged here
                        assigned_new, partial = ray_night.assign(tx, cmap, model_key, new[S.REQUEST_ID].to_numpy())
                    else:
                        assigned_new = assign_requests(cmap, new, store, encoder.dim, settings)
                        stage_partitioned(tx, assigned_new, S.ASSIGNMENT_SCHEMA, "assignments")
                        partial = activity.partial_activity(assigned_new)
                with stage("drift"):
                    fresh = assigned_new.drop_duplicates(S.PROMPT_HASH)
                    drift = measure_drift(fresh["distance"].to_numpy(), cmap, settings.nightly)
                    log.info("drift: %s", drift.summary())
            result.map_id = cmap.map_id
            night_activity = activity.account_activity(partial, cmap.areas)
            del partial

            with stage("score"):
                day = as_of or _latest_day(ws, new)
                if day is None:
                    raise BadInputError(f"workspace {ws.root} holds no scored requests")
                start = day - timedelta(days=window_days - 1)
                old = W.read_partitions(ws, "assignments", str(start), str(day)).to_pandas()
                if not assigned_new.empty:
                    in_window = pd.to_datetime(assigned_new[S.DATE]).dt.date.between(start, day)
                    old = pd.concat([old, assigned_new[in_window.to_numpy()]], ignore_index=True) if len(old) else (
                        assigned_new[in_window.to_numpy()].reset_index(drop=True))
                assigned = old
                if assigned.empty:
                    raise BadInputError(f"no requests between {start} and {day}")
                window_hashes = set(assigned[S.PROMPT_HASH])
                store = nightly.load_vectors(ws, model_key, window_hashes, store)
                # per-prompt text features cached by earlier runs: only the other prompts' texts are read
                features = nightly.FeatureCache.open(ws, settings.signals.seed, tx)
                texts = nightly.window_texts(ws, str(start), str(day), features.load(window_hashes), got.prompts)
                assigned = attach_metadata(ws, assigned, new)
                contexts = read_contexts(ws, set(assigned[S.CONTEXT_HASH].dropna()), got.contexts)
                # the night's per-row frames are in `assigned` now: free them before scoring
                had_new, got.requests = not new.empty, None
                del new, old, assigned_new, window_hashes
                dim = cmap.anchors.shape[1]
                table, threshold = score_frame(assigned, cmap, store, texts, dim, settings, contexts, features)
                table = apply_verdicts(table, latest_verdicts(ws))  # dismissals hold until the score rises
                table.insert(0, "as_of", str(day))
                table["run_id"] = result.run_id
                table["window_days"] = window_days
                # the configured window is the night's history; another one (a monthly view)
                # is written beside it and leaves the history, "latest" and the night alone
                primary = window_days == settings.nightly.window_days
                path = ws.scores_path(str(day), None if primary else window_days)
                W.write_parquet(tx.path(path), _scores_table(table))
                if primary and str(day) >= _latest_scored_day(state):  # a backfill leaves "latest" alone
                    tx.state_updates["latest_scores"] = str(path.relative_to(ws.root))
            del assigned, texts, features

            if settings.nightly.update_index and had_new:
                with stage("index"):
                    _extend_index(tx, ws, cmap.map_id, store, list(got.prompts), encoder.dim, settings)

            result.as_of, result.scores_path, result.threshold = str(day), str(path), threshold
            result.accounts, result.flagged = len(table), int(table["flagged"].sum())
            _campaign_summary(result, table)
            result.drift = drift.to_dict() if drift is not None else None
            file_info = {f["file"]: f for f in got.files}
            inputs_info = [dict(file_info.get(str(p), {"file": str(p)}), sha256=e["sha256"], size=e["size"])
                           for p, e in zip(files, entries)]
            night = {
                "as_of": str(day), "run_id": result.run_id, "window_days": window_days, "window_start": str(start),
                "files_ingested": len(files), "files_left_for_later": len(later), "rows_stored": result.rows_stored,
                "prompts_embedded": result.prompts_embedded, "map_id": cmap.map_id,
                "accounts": result.accounts, "flagged": result.flagged, "drift": result.drift,
                "active_accounts": len(night_activity),
                "requests_by_area": {a: int(night_activity[activity.requests_column(a)].sum()) for a in cmap.areas},
            }
            if primary or had_new:
                W.write_json(tx.path(ws.night_path(str(day))), night)
                W.write_parquet(tx.path(ws.activity_path(str(day))),
                                activity.activity_table(night_activity, str(day), result.run_id))
            tx.commit(_manifest(result, settings, encoder, inputs_info, "score", window_days=window_days,
                                night=night, versions=_light_versions(), peak_mib=result.peak_mib))
    return result


@contextlib.contextmanager
def _scaleout(settings: Settings) -> Iterator[Any]:
    """The nightly job's Ray Data engine for embed and assign (``targeting.scaleout``; Ray is
    imported and started only when a night has new requests), or None: in this process."""
    engine = settings.scaleout.engine
    if engine not in ENGINES:
        raise BadInputError(f"[scaleout] engine {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "local":
        yield None
        return
    from targeting.scaleout import RayNight

    night = RayNight(settings)
    try:
        yield night
    finally:
        night.close()


def _extend_index(tx: W.Transaction, ws: W.Workspace, map_id: str, store: VectorStore, hashes: list[str],
                  dim: int, settings: Settings) -> None:
    """Add the night's new prompts to the map's search index (built when there is none)."""
    folder = ws.index_dir(map_id)
    fresh = np.array(sorted(set(hashes)), dtype=object)
    if (folder / "prompts.faiss").exists():
        pindex = load_index(folder)
        known = set(pindex.hashes.tolist())
        fresh = np.array([h for h in fresh if h not in known], dtype=object)
        if len(fresh) == 0:
            return
        pindex.index.add(np.ascontiguousarray(store.matrix(list(fresh)), dtype=np.float32))
        pindex = PromptIndex(index=pindex.index, hashes=np.concatenate([pindex.hashes, fresh]))
    else:
        pindex = build_index(fresh, store.matrix(list(fresh)), settings.map.seed)
    save_index(pindex, tx.path(folder / "prompts.faiss").parent)


def fit(
    workspace: str | Path,
    settings: Settings,
    *,
    days: int | None = None,
    as_of: date | None = None,
    if_drift: bool = False,
    encoder: Encoder | None = None,
) -> RunResult:
    """Refresh the capability map on a sample of the last ``days`` of prompts; clusters that
    match the previous map's keep their ids (``capmap.match``); every stored request is
    assigned to the new map. With ``if_drift``, only when the latest night reported drift."""
    days = days or settings.nightly.refit_days
    ws = W.open_workspace(workspace)
    result = RunResult(run_id=W.new_run_id("fit"))
    stage = _Timer(result)
    with W.locked(ws):
        state = W.read_state(ws)
        if not state.get("map_id"):
            raise BadInputError(f"workspace {ws.root} has no capability map yet: run `targeting run` first")
        old = load_map(ws.map_dir(state["map_id"]))
        result.map_id = old.map_id
        if if_drift:
            nights = [n for n in W.read_nights(ws) if n.get("drift")]
            last = max(nights, key=lambda n: n["as_of"]) if nights else None
            if not last or not last["drift"].get("alert"):
                result.drift = last["drift"] if last else None
                result.skipped = "the latest night reported no drift" if last else "no night has reported drift yet"
                return result
        with W.transaction(ws, result.run_id) as tx:
            with stage("load model"):
                encoder = encoder or load_encoder(settings.embed)
            with stage("sample"):
                day = as_of or _latest_day(ws, pd.DataFrame())
                if day is None:
                    raise BadInputError(f"workspace {ws.root} holds no requests")
                start = day - timedelta(days=days - 1)
                recent = W.read_partitions(ws, "requests", str(start), str(day), [S.PROMPT_HASH, S.PROMPT])
                if recent.num_rows == 0:
                    raise BadInputError(f"no requests between {start} and {day} to fit a map on")
                recent = recent.to_pandas().drop_duplicates(S.PROMPT_HASH).sort_values(S.PROMPT_HASH)
                if len(recent) > settings.map.sample_size:
                    rng = np.random.default_rng(settings.map.seed)
                    recent = recent.iloc[np.sort(rng.choice(len(recent), settings.map.sample_size, replace=False))]
                hashes, texts = list(recent[S.PROMPT_HASH]), list(recent[S.PROMPT])
                store = nightly.load_vectors(ws, encoder.model_key, set(hashes))
                nightly.embed_checkpointed(ws, result.run_id, encoder, store, hashes, texts,
                                           settings.nightly.embed_checkpoint, settings.embed.progress)
            with stage("fit map"):
                cmap = fit_capability_map(tx, encoder, store, hashes, texts, settings)
                if old.meta.get("model_key") == encoder.model_key:
                    match = match_clusters(old, cmap, min_overlap=settings.nightly.match_overlap, knn=settings.map.knn)
                    cmap = carry_ids(cmap, match, old.map_id)
                    result.clusters_kept = match.matched
                save_map(cmap, tx.path(ws.map_dir(cmap.map_id) / "map.json").parent)
                tx.state_updates["map_id"] = cmap.map_id
                result.map_id, result.map_fitted = cmap.map_id, True
            with stage("assign"):
                tx.delete_on_commit(ws.table_dir("assignments"))
                for folder in sorted(ws.table_dir("requests").glob("date=*")):
                    day_s = folder.name[len("date="):]
                    part = W.read_partitions(ws, "requests", day_s, day_s).to_pandas()
                    if part.empty:
                        continue
                    ctx_hashes, ctx_texts = _context_texts(part)
                    hashes_d = part[S.PROMPT_HASH].to_numpy().astype(str)
                    day_store = nightly.load_vectors(ws, encoder.model_key, set(hashes_d) | set(ctx_hashes))
                    nightly.embed_checkpointed(ws, f"{result.run_id}-{day_s}", encoder, day_store,
                                               list(hashes_d) + ctx_hashes, list(part[S.PROMPT]) + ctx_texts,
                                               settings.nightly.embed_checkpoint, settings.embed.progress)
                    stage_partitioned(tx, assign_requests(cmap, part, day_store, encoder.dim, settings),
                                       S.ASSIGNMENT_SCHEMA, "assignments")
                    result.rows_stored += len(part)
            with stage("index"):
                src, dst = ws.index_dir(old.map_id), ws.index_dir(cmap.map_id)
                if old.meta.get("model_key") == encoder.model_key and (src / "prompts.faiss").exists():
                    for f in src.iterdir():  # same vectors, same index: it moves with the map
                        shutil.copy2(f, tx.path(dst / f.name))
            tx.commit(_manifest(result, settings, encoder, [], "fit", days=days, previous_map_id=old.map_id,
                                matched_from=cmap.meta.get("matched_from"), clusters_kept=result.clusters_kept,
                                versions=_light_versions(), peak_mib=result.peak_mib))
    return result


def _manifest(result: RunResult, settings: Settings, encoder: Encoder | None, files, kind: str, **extra) -> dict:
    return {
        "kind": kind,
        "status": "committed",
        "files": files,
        "counts": {
            "rows_read": result.rows_read,
            "rows_stored": result.rows_stored,
            "duplicates": result.duplicates,
            "conflicting_duplicates": result.conflicting_duplicates,
            "quarantined": result.quarantined,
            "accounts": result.accounts,
            "flagged": result.flagged,
            "campaigns": result.campaigns,
            "linked_groups": result.linked_groups,
        },
        "linked_group_sizes": result.linked_group_sizes,
        "linked_group_coherence": result.linked_group_coherence,
        "map_id": result.map_id,
        "map_fitted": result.map_fitted,
        "as_of": result.as_of,
        "threshold": result.threshold,
        "config": settings.to_dict(),
        "config_hash": settings.digest(),
        "model": None if encoder is None else {
            "id": encoder.model_id, "key": encoder.model_key, "weights_sha256": encoder.weights_sha256
        },
        "timings": result.timings,
        **extra,
    }
