"""The arrows in order: ingest -> embed -> map -> assign -> index -> score, on one screen.

``run`` takes new logs all the way to account scores; ``score`` re-scores a window of what
is stored (the nightly job). Both commit through one workspace transaction, so a run
killed at any stage leaves the workspace as it was.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from targeting import schema as S
from targeting import workspace as W
from targeting.campaigns import campaign_signals, link_accounts
from targeting.capmap import CapabilityMap, assign, context_text, fit_map, load_map, load_taxonomy, save_map
from targeting.capmap.assign import anchor_index, context_area_probs, mix_context
from targeting.config import Settings
from targeting.embed import Encoder, embed_unique, load_encoder, text_hash
from targeting.index import build_index, save_index
from targeting.ingest import expand_inputs, iter_batches
from targeting.risk import score_accounts
from targeting.signals import SignalContext, compute_signals
from targeting.signals.elicitation import load_cot_exemplars, train_cot_detector

log = logging.getLogger("targeting")


class BadInputError(ValueError):
    """Too many malformed rows, or unusable input: exit code 2."""


@dataclass
class RunResult:
    run_id: str
    rows_read: int = 0
    rows_stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    accounts: int = 0
    flagged: int = 0
    campaigns: int = 0
    map_id: str = ""
    map_fitted: bool = False
    as_of: str = ""
    scores_path: str = ""
    threshold: float = float("nan")
    timings: dict[str, float] = field(default_factory=dict)


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
        log.info("stage %s done in %.1fs", self.stage, took)


# --- stage 1: ingest ----------------------------------------------------------------------------
@dataclass
class Ingested:
    requests: pd.DataFrame  # the new rows (all contract columns + derived)
    quarantine: pa.Table
    rows_read: int
    duplicates: int
    files: list[dict[str, Any]]


def ingest(files: Sequence[Path], existing_ids: set[str], settings: Settings) -> Ingested:
    good, bad, files_info = [], [], {}
    rows_read = 0
    seen = set(existing_ids)
    duplicates = 0
    for batch in iter_batches(files, settings.ingest):
        rows_read += batch.rows_read
        info = files_info.setdefault(str(batch.source), {"file": str(batch.source), "rows": 0, "quarantined": 0})
        info["rows"] += batch.rows_read
        info["quarantined"] += batch.quarantine.num_rows
        if batch.quarantine.num_rows:
            bad.append(batch.quarantine)
        df = batch.good.to_pandas()
        fresh = ~df[S.REQUEST_ID].isin(seen) & ~df[S.REQUEST_ID].duplicated()
        duplicates += int((~fresh).sum())
        df = df[fresh]
        seen.update(df[S.REQUEST_ID])
        good.append(df)
        log.info("ingest: %s rows read, %s stored, %s quarantined", f"{rows_read:,}",
                 f"{sum(len(g) for g in good):,}", f"{sum(b.num_rows for b in bad):,}")
    requests = pd.concat(good, ignore_index=True) if good else pd.DataFrame(columns=S.REQUEST_SCHEMA.names)
    quarantine = pa.concat_tables(bad) if bad else S.QUARANTINE_SCHEMA.empty_table()
    return Ingested(requests, quarantine, rows_read, duplicates, list(files_info.values()))


def _stage_partitioned(tx: W.Transaction, frame: pd.DataFrame, schema: pa.Schema, table_name: str) -> None:
    """Stage ``frame`` as one Parquet file per UTC day under ``table_name``."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    dates = frame[S.DATE].astype(str).to_numpy()
    for day in np.unique(dates):
        part = table.filter(pa.array(dates == day))
        W.write_parquet(tx.path(tx.ws.partition_path(table_name, day, tx.run_id)), part)


# --- stage 2: embed -------------------------------------------------------------------------------
def embed_texts(
    tx: W.Transaction, encoder: Encoder, store: dict[str, np.ndarray], hashes: Sequence[str], texts: Sequence[str],
    name: str,
) -> None:
    """Embed the distinct texts not yet in ``store`` (hash -> vector), stage them, update store."""
    new_hashes, vectors = embed_unique(hashes, texts, set(store), encoder.encode)
    if not new_hashes:
        return
    for h, v in zip(new_hashes, vectors):
        store[h] = v
    path = tx.ws.embeddings_dir(encoder.model_key) / f"part-{tx.run_id}-{name}.parquet"
    W.write_parquet(tx.path(path), W.embeddings_table(np.array(new_hashes), vectors))


def load_vector_store(ws: W.Workspace, model_key: str) -> dict[str, np.ndarray]:
    hashes, vectors = W.read_embeddings(ws, model_key)
    return {h: v.astype(np.float32) for h, v in zip(hashes, vectors)}


def _matrix(store: dict[str, np.ndarray], hashes: Sequence[str], dim: int) -> np.ndarray:
    if len(hashes) == 0:
        return np.zeros((0, dim), dtype=np.float32)
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
    distinct, inverse = np.unique(requests[S.PROMPT_HASH].to_numpy().astype(str), return_inverse=True)
    vectors = _matrix(store, distinct, dim)
    # context evidence per request; NaN where the request has no system prompt or tools
    ctx_hashes = requests[S.CONTEXT_HASH].fillna("").to_numpy().astype(str)
    ctx_probs = np.full((len(requests), len(cmap.areas)), np.nan, dtype=np.float32)
    has_ctx = np.array([h != "" and h in store for h in ctx_hashes])
    if has_ctx.any():
        uniq, inv = np.unique(ctx_hashes[has_ctx], return_inverse=True)
        ctx_probs[has_ctx] = context_area_probs(cmap, _matrix(store, uniq, dim))[inv]
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
def score_frame(
    assigned: pd.DataFrame, cmap: CapabilityMap, store: dict[str, np.ndarray], texts: dict[str, str], dim: int,
    settings: Settings,
) -> tuple[pd.DataFrame, float]:
    """The contract's account table (plus evidence columns) for the given assigned requests."""
    distinct, rows = np.unique(assigned[S.PROMPT_HASH].to_numpy().astype(str), return_inverse=True)
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
    prompt_texts = tuple(texts[h] for h in distinct)
    fallback = load_taxonomy(settings.map.taxonomy or None).fallback_area
    ctx = SignalContext(
        vectors=_matrix(store, distinct, dim),
        texts=prompt_texts,
        areas=cmap.areas,
        cluster_area=cmap.cluster_area_index(),
        target_areas=tuple(i for i, a in enumerate(cmap.areas) if a != fallback),
        config=settings.signals,
    )
    detector = train_cot_detector(*load_cot_exemplars(), seed=settings.signals.seed)
    prompt_cot = detector.probability(prompt_texts)
    signals, keys = compute_signals(frame, ctx, prompt_cot)
    links = link_accounts(frame["account_id"].to_numpy(), frame["row"].to_numpy(), keys.keys, keys.weights)
    actor = campaign_signals(frame, ctx, links, prompt_cot)
    signals = signals.join([links.campaign, links.partners, links.max_similarity, actor])
    risk, threshold = score_accounts(signals, settings.risk)
    table = signals.join(risk)
    table = table.reset_index()
    ordered = list(S.SCORE_COLUMNS) + [c for c in table.columns if c not in S.SCORE_COLUMNS]
    return table[ordered].sort_values("risk_score", ascending=False, ignore_index=True), threshold


def _read_texts(ws: W.Workspace, hashes: set[str], fresh: pd.DataFrame | None = None) -> dict[str, str]:
    texts: dict[str, str] = {}
    if fresh is not None and not fresh.empty:
        sub = fresh.drop_duplicates(S.PROMPT_HASH)
        texts.update(zip(sub[S.PROMPT_HASH], sub[S.PROMPT]))
    missing = hashes - set(texts)
    if missing and W.has_files(ws.requests_glob()):
        stored = W.query(
            f"SELECT prompt_hash, any_value(prompt) AS prompt FROM read_parquet('{ws.requests_glob()}') "
            "GROUP BY prompt_hash"
        ).to_pandas()
        stored = stored[stored[S.PROMPT_HASH].isin(missing)]
        texts.update(zip(stored[S.PROMPT_HASH], stored[S.PROMPT]))
    return texts


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
            existing = W.read_requests(ws, [S.REQUEST_ID])
            existing_ids = set(existing.column(S.REQUEST_ID).to_pylist()) if existing.num_rows else set()

            with stage("ingest"):
                got = ingest(files, existing_ids, settings)
            result.rows_read, result.duplicates = got.rows_read, got.duplicates
            result.quarantined, result.rows_stored = got.quarantine.num_rows, len(got.requests)
            bad_share = result.quarantined / max(result.rows_read, 1)
            if bad_share > settings.ingest.max_bad_share:
                first = got.quarantine.slice(0, 1).to_pylist()[0]
                raise BadInputError(
                    f"{result.quarantined:,} of {result.rows_read:,} rows ({100 * bad_share:.1f}%) are malformed, "
                    f"more than the allowed {100 * settings.ingest.max_bad_share:.1f}%; first: {first['file']}, "
                    f"row {first['row']}, field {first['field']}: {first['reason']}. Nothing was stored."
                )
            if got.quarantine.num_rows:
                W.write_parquet(tx.path(ws.quarantine_path(result.run_id)), got.quarantine)
            if not got.requests.empty:
                _stage_partitioned(tx, got.requests, S.REQUEST_SCHEMA, "requests")

            with stage("load model"):
                encoder = encoder or load_encoder(settings.embed)
            cmap = None
            if state.get("map_id") and not refit:
                cmap = load_map(ws.map_dir(state["map_id"]))
                if cmap.meta.get("weights_sha256") != encoder.weights_sha256:
                    raise BadInputError(
                        f"the workspace's capability map was fitted with model {cmap.meta.get('model_id')} "
                        f"(weights sha256 {str(cmap.meta.get('weights_sha256'))[:12]}…), not the configured "
                        f"{encoder.model_id} ({encoder.weights_sha256[:12]}…); re-run with --refit"
                    )

            with stage("embed"):
                store = load_vector_store(ws, encoder.model_key)
                stored_hashes = W.read_requests(ws, [f"DISTINCT {S.PROMPT_HASH}"])
                all_hashes = set(got.requests[S.PROMPT_HASH]) | (
                    set(stored_hashes.column(0).to_pylist()) if stored_hashes.num_rows else set()
                )
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
                    ) if W.has_files(ws.requests_glob()) else got.requests
                else:
                    to_assign = got.requests
                # system prompts + tools are area evidence: embed the ones not seen yet
                embed_texts(tx, encoder, store, *_context_texts(to_assign), "contexts")
                assigned_new = assign_requests(cmap, to_assign, store, encoder.dim, settings)
                if not assigned_new.empty:
                    _stage_partitioned(tx, assigned_new, S.ASSIGNMENT_SCHEMA, "assignments")

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
                table, threshold = score_frame(assigned, cmap, store, texts, encoder.dim, settings)
                table.insert(0, "as_of", as_of)
                table["run_id"] = result.run_id
                path = ws.scores_path(as_of)
                W.write_parquet(tx.path(path), _scores_table(table))
                tx.state_updates["latest_scores"] = str(path.relative_to(ws.root))
            result.as_of, result.scores_path, result.threshold = as_of, str(path), threshold
            result.accounts = len(table)
            result.flagged = int(table["flagged"].sum())
            result.campaigns = int(table.loc[table["campaign_id"] != "", "campaign_id"].nunique())
            tx.commit(_manifest(result, settings, encoder, got.files, "run"))
    return result


def score(
    workspace: str | Path,
    settings: Settings,
    *,
    as_of: date | None = None,
    window_days: int = 7,
    encoder: Encoder | None = None,
) -> RunResult:
    """Re-score the accounts active in the ``window_days`` ending at ``as_of`` (inclusive)."""
    ws = W.open_workspace(workspace)
    result = RunResult(run_id=W.new_run_id("score"))
    stage = _Timer(result)
    with W.locked(ws):
        state = W.read_state(ws)
        if not state.get("map_id"):
            raise BadInputError(f"workspace {ws.root} has no capability map yet: run `targeting run` first")
        with W.transaction(ws, result.run_id) as tx:
            cmap = load_map(ws.map_dir(state["map_id"]))
            with stage("load"):
                assigned = W.read_assignments(ws).to_pandas()
                if assigned.empty:
                    raise BadInputError(f"workspace {ws.root} holds no scored requests")
                day = as_of or pd.to_datetime(assigned[S.TIMESTAMP], utc=True).max().date()
                start = day - timedelta(days=window_days - 1)
                dates = pd.to_datetime(assigned[S.DATE]).dt.date
                assigned = assigned[(dates >= start) & (dates <= day)].reset_index(drop=True)
                if assigned.empty:
                    raise BadInputError(f"no requests between {start} and {day}")
                store = load_vector_store(ws, cmap.meta["model_key"])
                texts = _read_texts(ws, set(assigned[S.PROMPT_HASH]))
            with stage("score"):
                dim = cmap.anchors.shape[1]
                table, threshold = score_frame(assigned, cmap, store, texts, dim, settings)
                table.insert(0, "as_of", str(day))
                table["run_id"] = result.run_id
                path = ws.scores_path(str(day))
                W.write_parquet(tx.path(path), _scores_table(table))
                tx.state_updates["latest_scores"] = str(path.relative_to(ws.root))
            result.map_id, result.as_of, result.scores_path, result.threshold = cmap.map_id, str(day), str(path), threshold
            result.accounts, result.flagged = len(table), int(table["flagged"].sum())
            result.campaigns = int(table.loc[table["campaign_id"] != "", "campaign_id"].nunique())
            tx.commit(_manifest(result, settings, None, [], "score", window_days=window_days))
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
            "quarantined": result.quarantined,
            "accounts": result.accounts,
            "flagged": result.flagged,
            "campaigns": result.campaigns,
        },
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
