"""The stages every job is built from, each once: ingest new rows, embed new texts, fit or
load the map, assign, score the window, apply verdicts, commit with a manifest.

The jobs (``targeting.jobs.jobs``) call these in order inside one workspace transaction;
where a stage runs (this process or Ray) is the engine's business (``targeting.engines``).
"""

from __future__ import annotations

import logging
import platform
import shutil
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from targeting import activity, nightly, shifts
from targeting import schema as S
from targeting import workspace as W
from targeting.campaigns import ContextKeys, campaign_signals, link_accounts
from targeting.capmap import CapabilityMap, context_text, fit_map, load_map, load_taxonomy, save_map
from targeting.capmap.assign import context_key, context_pieces, with_tools_declared
from targeting.capmap.fit import AreaTeacher, sample_indices
from targeting.capmap.labels import candidate_phrases, choose_phrases, with_phrases
from targeting.capmap.match import carry_ids, match_clusters
from targeting.communities import size_distribution
from targeting.config import DEFAULT_MODEL, Settings
from targeting.drift import Drift, measure_drift
from targeting.embed import (Encoder, StaticEncoder, VectorStore, embed_unique, is_int8, load_encoder, text_hash,
                             text_heads, vectors_of)
from targeting.engines import Engine
from targeting.errors import BadInputError
from targeting.feedback import apply_feedback
from targeting.index import PromptIndex, build_index, load_index, save_index
from targeting.ingest import IngestBatch, expand_inputs, iter_batches, quarantine_good_rows
from targeting.jobs.manifest import RunResult, manifest
from targeting.linking import Infrastructure, infrastructure
from targeting.risk import score_accounts
from targeting.signals import SignalContext, compute_signals
from targeting.signals.elicitation import CotDetector, load_cot_exemplars, train_cot_detector
from targeting.signals.templates import TemplateParts, system_families, system_keys, template_parts
from targeting.summaries import group_counts
from targeting.verdicts import apply_verdicts, latest_verdicts

log = logging.getLogger("targeting")


# --- ingest new rows ------------------------------------------------------------------------------
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


@dataclass
class _Reading:
    """What reading the files met besides the new rows (``_new_rows``)."""

    rows_read: int = 0
    duplicates: int = 0  # exact duplicates (see Ingested)
    bad: list[pa.Table] = field(default_factory=list)  # malformed rows, a table per batch with any
    conflicts: list[pa.Table] = field(default_factory=list)  # conflicting duplicates, idem
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # rows and quarantined rows per file

    @property
    def quarantined(self) -> int:
        return sum(b.num_rows for b in self.bad)


def _new_rows(files: Sequence[Path], stored: Callable[[list[str]], pd.DataFrame], settings: Settings,
              reading: _Reading) -> Iterator[tuple[IngestBatch, pa.Table]]:
    """Each batch of the files (``ingest.iter_batches``) with its new rows: each request id kept
    once (``RequestIds``; ``stored``: the stored requests among some ids), the one
    de-duplication path. ``reading`` counts the rest."""
    ids = RequestIds(stored)
    for batch in iter_batches(files, settings.ingest):
        reading.rows_read += batch.rows_read
        _tally(batch, reading.files, reading.bad)
        keep, conflicting = ids.split(batch)
        if conflicting is not None:
            reading.conflicts.append(conflicting)
        reading.duplicates = ids.duplicates
        yield batch, batch.good.filter(pa.array(keep))


def ingest(files: Sequence[Path], stored: Callable[[list[str]], pd.DataFrame], settings: Settings) -> Ingested:
    """The files' new rows in memory (``_new_rows``), with what else they held."""
    reading, good = _Reading(), []
    for _, kept in _new_rows(files, stored, settings, reading):
        good.append(kept.to_pandas())
        log.info("ingest: %s rows read, %s stored, %s quarantined", f"{reading.rows_read:,}",
                 f"{sum(len(g) for g in good):,}", f"{reading.quarantined:,}")
    requests = pd.concat(good, ignore_index=True) if good else pd.DataFrame(columns=S.REQUEST_SCHEMA.names)
    return Ingested(requests, _concat_quarantine(reading.bad), reading.rows_read, reading.duplicates,
                    list(reading.files.values()), _concat_quarantine(reading.conflicts))


SLIM_COLUMNS = (S.REQUEST_ID, S.ACCOUNT_ID, S.TIMESTAMP, S.PROMPT_HASH, S.CONTEXT_HASH, S.DATE, S.IP,
                S.ACCOUNT_CREATED_AT)


@dataclass
class NightInput:
    """A night's new requests, without holding their texts once per row."""

    requests: pd.DataFrame  # SLIM_COLUMNS and tools_declared, one row per new request
    prompts: dict[str, str]  # prompt hash -> text, each distinct prompt of the night once
    contexts: pd.DataFrame  # context_hash, system, tools: each distinct context once
    quarantine: pa.Table  # malformed rows
    rows_read: int
    duplicates: int  # exact duplicates (see Ingested)
    files: list[dict[str, Any]]
    conflicts: pa.Table  # conflicting duplicates (see Ingested)
    assigned: pd.DataFrame | None = None  # the new requests' assignments, once the assign stage ran
    activity: pd.DataFrame | None = None  # their per-account activity (targeting.activity), idem


def ingest_night(tx: W.Transaction, files: Sequence[Path], settings: Settings) -> NightInput:
    """Stream the files in batches: each batch's new rows (``_new_rows``: request ids neither
    stored nor seen earlier in the run) are staged at once, one Parquet file per batch and
    day, and only the columns later stages need are kept in memory."""
    reading, slim = _Reading(), []
    prompts: dict[str, str] = {}
    contexts: dict[str, tuple[Any, Any]] = {}
    for n, (batch, good) in enumerate(_new_rows(files, _stored_requests(tx.ws), settings, reading)):
        if batch.good.num_rows == 0:
            continue
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
        log.info("ingest: %s rows read, %s new, %s quarantined", f"{reading.rows_read:,}",
                 f"{sum(len(x) for x in slim):,}", f"{reading.quarantined:,}")
    requests = (pd.concat(slim, ignore_index=True) if slim
                else pd.DataFrame({c: pd.Series(dtype=object) for c in SLIM_COLUMNS}))
    context_frame = pd.DataFrame(
        [(h, s, t) for h, (s, t) in contexts.items()], columns=[S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]
    )
    return NightInput(with_tools_declared(requests, context_frame), prompts, context_frame,
                      _concat_quarantine(reading.bad), reading.rows_read, reading.duplicates, list(reading.files.values()), _concat_quarantine(reading.conflicts))


def record_ingest(tx: W.Transaction, result: RunResult, got: Ingested | NightInput) -> None:
    """The ingest's counts into the run summary; its malformed rows and conflicting duplicates
    into the run's quarantine file (``quarantined`` counts both, ``conflicting_duplicates``
    the latter: rows read = stored + duplicates + quarantined)."""
    result.rows_read, result.rows_stored, result.duplicates = got.rows_read, len(got.requests), got.duplicates
    result.conflicting_duplicates = got.conflicts.num_rows
    result.quarantined = got.quarantine.num_rows + got.conflicts.num_rows
    if result.quarantined:
        W.write_parquet(tx.path(tx.ws.quarantine_path(result.run_id)),
                        pa.concat_tables([got.quarantine, got.conflicts]))


def refuse_bad_input(got: Ingested | NightInput, settings: Settings) -> None:
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


def new_input_files(ws: W.Workspace, inputs: Sequence[str | Path], as_of: date | None) -> tuple[list[Path], list[Path]]:
    """(files to ingest now, files left for a later night) among ``inputs``: those the workspace's
    registry does not hold yet (``nightly.new_input_files``)."""
    return nightly.new_input_files(expand_inputs(inputs) if inputs else [], W.read_ingested_files(ws), as_of)


def ingest_new(tx: W.Transaction, files: Sequence[Path], settings: Settings, result: RunResult) -> NightInput:
    """Stage the files' new rows (``ingest_night``: one de-duplication path), refuse bad input
    (``refuse_bad_input``: one rule), record the counts and the quarantine."""
    got = ingest_night(tx, files, settings)
    refuse_bad_input(got, settings)
    record_ingest(tx, result, got)
    return got


def register_inputs(tx: W.Transaction, files: Sequence[Path], got: NightInput) -> list[dict[str, Any]]:
    """Record the ingested files in the workspace's registry (``inputs/files.json``); returns each
    file's counts, hash and size for the manifest."""
    if not files:
        return []
    registry = W.read_ingested_files(tx.ws)
    entries = nightly.registry_entries(files, tx.run_id, {f["file"]: f["rows"] for f in got.files})
    registry.update({e["path"]: e for e in entries})
    W.write_json(tx.path(tx.ws.inputs_path), sorted(registry.values(), key=lambda e: e["path"]))
    counted = {f["file"]: f for f in got.files}
    return [dict(counted.get(str(p), {"file": str(p)}), sha256=e["sha256"], size=e["size"])
            for p, e in zip(files, entries)]


# --- the model and the map ------------------------------------------------------------------------
def check_model(cmap: CapabilityMap, encoder: Encoder) -> None:
    """Refuse vectors of another model (or precision) than the map's: exit code 2."""
    same_weights = cmap.meta.get("weights_sha256") == encoder.weights_sha256
    if cmap.meta.get("model_key", encoder.model_key) == encoder.model_key and same_weights:
        return
    fitted_int8 = is_int8(str(cmap.meta.get("model_id", "")))
    if same_weights and fitted_int8 != is_int8(encoder.model_id):
        raise BadInputError(
            f"the workspace's capability map was fitted with this model's {'int8' if fitted_int8 else 'fp32'} "
            f"weights, the configured encoder uses its {'fp32' if fitted_int8 else 'int8'} weights; set "
            f"TARGETING_EMBED__INT8={'true' if fitted_int8 else 'false'} (or [embed] int8) to use the map, "
            "or re-run with --refit"
        )
    raise BadInputError(
        f"the workspace's capability map was fitted with model {cmap.meta.get('model_id')} "
        f"(weights sha256 {str(cmap.meta.get('weights_sha256'))[:12]}…), not the configured "
        f"{encoder.model_id} ({encoder.weights_sha256[:12]}…); re-run with --refit"
    )


def checked_encoder(cmap: CapabilityMap | None, encoder: Encoder | None, settings: Settings) -> Encoder:
    """``encoder`` or the configured one, refused when it is not the model ``cmap`` was fitted with."""
    encoder = encoder or load_encoder(settings.embed)
    if cmap is not None:
        check_model(cmap, encoder)
    return encoder


def current_map(ws: W.Workspace, encoder: Encoder | None = None) -> CapabilityMap | None:
    """The workspace's capability map (None before the first), checked against ``encoder``'s model."""
    state = W.read_state(ws)
    if not state.get("map_id"):
        return None
    cmap = load_map(ws.map_dir(state["map_id"]))
    if encoder is not None:
        check_model(cmap, encoder)
    return cmap


def _taxonomy_vectors(tx, encoder, store, settings):
    taxonomy = load_taxonomy(settings.map.taxonomy or None)
    prompts = [e.prompt for e in taxonomy.exemplars]
    contexts = [(e.context, e.area) for e in taxonomy.exemplars if e.context]
    heads = text_heads(encoder, [c for c, _ in contexts], settings.map.context_pieces)  # as requests' are
    contexts = [(h, a) for h, (_, a) in zip(heads, contexts)]
    p_hashes = [text_hash(t) for t in prompts]
    c_hashes = [text_hash(c) for c, _ in contexts]
    embed_texts(tx, encoder, store, p_hashes + c_hashes, prompts + [c for c, _ in contexts], "taxonomy")
    ex_vec = vectors_of(store, p_hashes, encoder.dim)
    ex_area = np.array([taxonomy.area_index(e.area) for e in taxonomy.exemplars], dtype=np.int32)
    ctx_vec = vectors_of(store, c_hashes, encoder.dim)
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


def teacher_model(encoder: Encoder, setting: str) -> str | None:
    """The model of the map's area teacher (``[map] area_teacher``): with "auto", the default
    transformer when ``encoder`` is a static model (the fast path) and none otherwise."""
    if setting == "auto":
        return DEFAULT_MODEL if isinstance(encoder, StaticEncoder) else None
    return setting or None


def area_teacher(tx: W.Transaction, encoder: Encoder, hashes: Sequence[str], texts: Sequence[str],
                 settings: Settings) -> AreaTeacher | None:
    """The area teacher's vectors of ``hashes`` (the map's sample) and of the taxonomy's
    exemplar prompts, cached in the workspace under the teacher's model key; None without a
    teacher, or when it is ``encoder`` itself."""
    model = teacher_model(encoder, settings.map.area_teacher)
    if model is None:
        return None
    teacher = load_encoder(replace(settings.embed, model=model, int8=False))
    if teacher.model_key == encoder.model_key:
        return None
    exemplars = [e.prompt for e in load_taxonomy(settings.map.taxonomy or None).exemplars]
    ex_hashes = [text_hash(t) for t in exemplars]
    store = nightly.load_vectors(tx.ws, teacher.model_key, set(hashes) | set(ex_hashes))
    log.info("area teacher %s: embedding %s of the map's %s prompts not cached", teacher.model_id,
             f"{sum(h not in store for h in hashes):,}", f"{len(hashes):,}")
    embed_texts(tx, teacher, store, list(hashes) + ex_hashes, list(texts) + exemplars, "teacher")
    return AreaTeacher(model_key=teacher.model_key, vectors=vectors_of(store, hashes, teacher.dim),
                       exemplar_vectors=vectors_of(store, ex_hashes, teacher.dim))


def fit_capability_map(tx, encoder, store, prompt_hashes, prompt_texts, settings) -> CapabilityMap:
    """Fit the map on the map's sample of the prompts (their vectors in ``store``): taken here,
    so an area teacher embeds no more than that (``fit_map`` keeps such a sample whole)."""
    taxonomy, ex_vec, ex_area, ctx_vec, ctx_area = _taxonomy_vectors(tx, encoder, store, settings)
    take = sample_indices(prompt_hashes, settings.map)
    fit_hashes, fit_texts = [prompt_hashes[i] for i in take], [prompt_texts[i] for i in take]
    teacher = area_teacher(tx, encoder, fit_hashes, fit_texts, settings)
    meta = {
        "model_id": encoder.model_id,
        "model_key": encoder.model_key,
        "weights_sha256": encoder.weights_sha256,
        "taxonomy": taxonomy.source,
        "versions": _versions(),
    }
    cmap = fit_map(
        vectors=vectors_of(store, fit_hashes, encoder.dim),
        hashes=fit_hashes,
        texts=fit_texts,
        exemplar_vectors=ex_vec,
        exemplar_area=ex_area,
        context_vectors=ctx_vec,
        context_area=ctx_area,
        areas=taxonomy.areas,
        config=settings.map,
        meta=meta,
        teacher=teacher,
    )
    return label_clusters(cmap, fit_hashes, fit_texts, encoder.encode)


def label_clusters(cmap: CapabilityMap, hashes: Sequence[str], texts: Sequence[str],
                   encode: Callable[[Sequence[str]], np.ndarray]) -> CapabilityMap:
    """``cmap`` with each cluster's ``phrases`` (``targeting.capmap.labels``): candidates from
    its anchors' prompts (``texts`` by ``hashes``), all embedded in one ``encode`` batch,
    picked against the cluster's centroid by maximal marginal relevance."""
    text_of = dict(zip(hashes, texts))
    anchor_texts = [text_of[h] for h in cmap.anchor_hashes]
    candidates = candidate_phrases(anchor_texts, cmap.anchor_cluster, cmap.n_clusters)
    unique = sorted({p for words in candidates for p in words})
    vectors = dict(zip(unique, encode(unique))) if unique else {}
    return with_phrases(cmap, choose_phrases(candidates, vectors, cmap.centroids))


def fit_and_save_map(tx: W.Transaction, result: RunResult, encoder: Encoder, store: VectorStore,
                     hashes: Sequence[str], texts: Sequence[str], settings: Settings,
                     previous: CapabilityMap | None = None) -> CapabilityMap:
    """Fit a capability map on the prompts (``fit_capability_map``); clusters that match the
    ``previous`` map's (fitted with the same model) keep their ids; stage it as the current map."""
    cmap = fit_capability_map(tx, encoder, store, hashes, texts, settings)
    if previous is not None and previous.meta.get("model_key") == encoder.model_key:
        match = match_clusters(previous, cmap, min_overlap=settings.nightly.match_overlap, knn=settings.map.knn)
        cmap = carry_ids(cmap, match, previous.map_id)
        result.clusters_kept = match.matched
    save_map(cmap, tx.path(tx.ws.map_dir(cmap.map_id) / "map.json").parent)
    tx.state_updates["map_id"] = cmap.map_id
    result.map_id, result.map_fitted = cmap.map_id, True
    return cmap


def night_prompts(got: NightInput) -> tuple[list[str], list[str]]:
    """(hashes, texts) of the night's distinct prompts, in hash order."""
    hashes = sorted(got.prompts)
    return hashes, [got.prompts[h] for h in hashes]


def sample_prompts(ws: W.Workspace, start: date, day: date, settings: Settings) -> tuple[list[str], list[str]]:
    """(hashes, texts) of a sample of the distinct prompts stored between ``start`` and ``day``
    (``[map] sample_size``, seeded), in hash order."""
    recent = W.read_partitions(ws, "requests", str(start), str(day), [S.PROMPT_HASH, S.PROMPT])
    if recent.num_rows == 0:
        raise BadInputError(f"no requests between {start} and {day} to fit a map on")
    recent = recent.to_pandas().drop_duplicates(S.PROMPT_HASH).sort_values(S.PROMPT_HASH)
    if len(recent) > settings.map.sample_size:
        rng = np.random.default_rng(settings.map.seed)
        recent = recent.iloc[np.sort(rng.choice(len(recent), settings.map.sample_size, replace=False))]
    return list(recent[S.PROMPT_HASH]), list(recent[S.PROMPT])


def skip_without_drift(ws: W.Workspace, result: RunResult) -> bool:
    """True (and why, in ``result.skipped``) when the latest night that measured drift raised no
    alert, or none measured it."""
    nights = [n for n in W.read_nights(ws) if n.get("drift")]
    last = max(nights, key=lambda n: n["as_of"]) if nights else None
    if last and last["drift"].get("alert"):
        return False
    result.drift = last["drift"] if last else None
    result.skipped = "the latest night reported no drift" if last else "no night has reported drift yet"
    return True


# --- embed new texts ------------------------------------------------------------------------------
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


def load_vector_store(ws: W.Workspace, model_key: str, only: set[str] | None = None) -> VectorStore:
    """The stored vectors of one model (all, or ``only`` those prompt hashes)."""
    store = VectorStore()
    hashes, vectors = W.read_embeddings(ws, model_key, only=only)
    if len(hashes):
        store.add(list(hashes), vectors)
    return store


def context_texts(requests: pd.DataFrame, encoder: Encoder, pieces: int) -> tuple[list[str], list[str]]:
    """(vector-cache keys, texts) of the distinct contexts of ``requests`` (context_hash,
    system, tools), each text cut at its first ``pieces`` word pieces (``[map] context_pieces``
    of the map they serve: ``context_pieces_for``)."""
    has = requests[S.CONTEXT_HASH].notna()
    sub = requests.loc[has, [S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]].drop_duplicates(S.CONTEXT_HASH)
    keys, texts = [], []
    for h, system, tools in sub.itertuples(index=False):
        text = context_text(system, tools)
        if text:
            keys.append(context_key(h, pieces))
            texts.append(text)
    return keys, text_heads(encoder, texts, pieces)


def context_pieces_for(cmap: CapabilityMap | None, settings: Settings) -> int:
    """The context cut of ``cmap``, or of the map about to be fitted (the settings') without one."""
    return context_pieces(cmap) if cmap is not None else settings.map.context_pieces


def embed_new(engine: Engine, tx: W.Transaction, encoder: Encoder, got: NightInput, result: RunResult,
              pieces: int) -> VectorStore:
    """The vectors of the new rows' prompts and contexts (cut at ``pieces`` word pieces): cached
    ones loaded, the others embedded by ``engine``."""
    ctx_hashes, ctx_texts = context_texts(got.contexts, encoder, pieces)
    hashes = list(got.prompts)
    store = nightly.load_vectors(tx.ws, encoder.model_key, set(hashes) | set(ctx_hashes))
    result.prompts_embedded = engine.embed(tx.ws, tx.run_id, encoder, store, hashes + ctx_hashes,
                                           list(got.prompts.values()) + ctx_texts)
    return store


def embed_everything(engine: Engine, tx: W.Transaction, encoder: Encoder, got: NightInput,
                     refit: bool, result: RunResult, pieces: int) -> tuple[VectorStore, list[str], dict[str, str]]:
    """``targeting run``'s embedding: the vectors of every prompt, new and stored (and, when the
    map is to be ``refit``, the text of each; otherwise of those not embedded yet), and of the
    new rows' contexts cut at ``pieces`` word pieces (with ``refit``, every stored context's
    too). Returns (vectors, sorted prompt hashes, texts); ``result.prompts_embedded`` counts
    the texts embedded now."""
    ws = tx.ws
    store = load_vector_store(ws, encoder.model_key)
    hashes = sorted(set(got.requests[S.PROMPT_HASH]) | W.distinct_prompt_hashes(ws))
    if not hashes:
        raise BadInputError("no valid requests in the input and none stored in the workspace")
    wanted = set(hashes) if refit else {h for h in hashes if h not in store}
    texts = nightly.window_texts(ws, None, None, wanted, got.prompts)
    todo = [h for h in hashes if h not in store]
    result.prompts_embedded = engine.embed(ws, f"{tx.run_id}-prompts", encoder, store, todo, [texts[h] for h in todo])
    contexts = got.contexts
    if refit and W.has_partitions(ws, "requests"):  # every stored request is assigned again
        stored = W.read_requests(ws, [S.CONTEXT_HASH, S.SYSTEM, S.TOOLS]).to_pandas()
        contexts = pd.concat([stored, contexts], ignore_index=True)
    result.prompts_embedded += engine.embed(ws, f"{tx.run_id}-contexts", encoder, store,
                                          *context_texts(contexts, encoder, pieces))
    return store, hashes, texts


def embed_prompts(engine: Engine, tx: W.Transaction, encoder: Encoder, hashes: list[str],
                  texts: list[str]) -> VectorStore:
    """The vectors of ``hashes``: cached ones loaded, the others embedded by ``engine``."""
    store = nightly.load_vectors(tx.ws, encoder.model_key, set(hashes))
    engine.embed(tx.ws, tx.run_id, encoder, store, hashes, texts)
    return store


# --- assign ---------------------------------------------------------------------------------------
def assign_everything(engine: Engine, tx: W.Transaction, cmap: CapabilityMap, encoder: Encoder,
                      store: VectorStore, got: NightInput, refit: bool) -> None:
    """``targeting run``'s assignment: the new requests to ``cmap`` or, on a map fitted in this
    run (``refit``), every stored request too (the old assignments are deleted on commit)."""
    requests = got.requests
    if refit:
        tx.delete_on_commit(tx.ws.table_dir("assignments"))
        if W.has_partitions(tx.ws, "requests"):
            requests = pd.concat([W.read_requests(tx.ws).to_pandas(), requests], ignore_index=True)
    got.assigned, _ = engine.assign(tx, cmap, encoder, store, requests)


def assign_night(engine: Engine, tx: W.Transaction, cmap: CapabilityMap, encoder: Encoder, store: VectorStore,
                 got: NightInput) -> None:
    """Assign the night's new requests (``engine``) and take their per-account activity."""
    got.assigned, partial = engine.assign(tx, cmap, encoder, store, got.requests)
    got.activity = activity.account_activity(partial, cmap.areas)


def night_drift(got: NightInput, cmap: CapabilityMap, settings: Settings) -> Drift:
    """The drift of the night's distinct new prompts away from ``cmap`` (``targeting.drift``)."""
    drift = measure_drift(got.assigned.drop_duplicates(S.PROMPT_HASH)["distance"].to_numpy(), cmap, settings.nightly)
    log.info("drift: %s", drift.summary())
    return drift


def reassign_all(engine: Engine, tx: W.Transaction, result: RunResult, cmap: CapabilityMap, encoder: Encoder) -> None:
    """Assign every stored request to ``cmap``, a day at a time (embedding what the cache lacks);
    the old assignments are deleted on commit."""
    ws = tx.ws
    tx.delete_on_commit(ws.table_dir("assignments"))
    for day in W.partition_days(ws, "requests"):
        part = W.read_partitions(ws, "requests", day, day).to_pandas()
        if part.empty:
            continue
        ctx_hashes, ctx_texts = context_texts(part, encoder, context_pieces(cmap))
        hashes = part[S.PROMPT_HASH].to_numpy().astype(str)
        store = nightly.load_vectors(ws, encoder.model_key, set(hashes) | set(ctx_hashes))
        engine.embed(ws, f"{tx.run_id}-{day}", encoder, store, list(hashes) + ctx_hashes,
                     list(part[S.PROMPT]) + ctx_texts)
        engine.assign(tx, cmap, encoder, store, part)
        result.rows_stored += len(part)


# --- score the window -----------------------------------------------------------------------------
def window_end(ws: W.Workspace, as_of: date | None, what: str, fresh: pd.DataFrame | None = None) -> date:
    """``as_of``, or else the latest day with stored assignments or ``fresh`` requests;
    BadInputError (the workspace holds no ``what``) when there is none."""
    if as_of is not None:
        return as_of
    days = W.partition_days(ws, "assignments")
    if fresh is not None and not fresh.empty:
        days.append(str(pd.to_datetime(fresh[S.DATE]).max().date()))
    if not days:
        raise BadInputError(f"workspace {ws.root} holds no {what}")
    return date.fromisoformat(max(days))


def last_day(assigned: pd.DataFrame) -> str:
    """The UTC day of the latest request in ``assigned``."""
    return str(pd.to_datetime(assigned[S.TIMESTAMP], utc=True).max().date())


def window_assignments(ws: W.Workspace, got: NightInput, start: date | None, day: date | None,
                       stored: bool = True) -> pd.DataFrame:
    """The assignments to score: the ``stored`` ones dated ``start``..``day`` (all without them),
    then the new ones among those days. Frees the new ones (``got.assigned``)."""
    new, got.assigned = got.assigned, None
    old = W.read_partitions(ws, "assignments", start and str(start), day and str(day)).to_pandas() if stored else (
        pd.DataFrame())
    if new is not None and not new.empty and start is not None:
        new = new[pd.to_datetime(new[S.DATE]).dt.date.between(start, day).to_numpy()]
    if new is None or new.empty:
        assigned = old
    else:
        assigned = pd.concat([old, new], ignore_index=True) if len(old) else new.reset_index(drop=True)
    if assigned.empty:
        raise BadInputError(f"no requests between {start} and {day}")
    return assigned


def window_inputs(ws: W.Workspace, assigned: pd.DataFrame, got: NightInput, cmap: CapabilityMap,
                  store: VectorStore | None, features: nightly.FeatureCache, *, start: str | None,
                  day: str | None) -> tuple[pd.DataFrame, VectorStore, dict[str, str], pd.DataFrame]:
    """What ``score_frame`` needs besides the settings, for the window's ``assigned`` requests:
    (them with their metadata, the vectors, the texts of the prompts whose features
    ``features`` lacks, the contexts), from ``got`` (the run's new rows) and the stored
    partitions. Frees the new rows' per-row frame (``got.requests``)."""
    window_hashes = set(assigned[S.PROMPT_HASH])
    store = nightly.load_vectors(ws, cmap.meta["model_key"], window_hashes, store)
    texts = nightly.window_texts(ws, start, day, features.load(window_hashes), got.prompts)
    assigned = attach_metadata(ws, assigned, got.requests)
    contexts = read_contexts(ws, set(assigned[S.CONTEXT_HASH].dropna()), got.contexts)
    got.requests = None  # the new rows are in `assigned` now: free them before scoring
    return assigned, store, texts, contexts


def score_window(tx: W.Transaction, result: RunResult, assigned: pd.DataFrame, got: NightInput,
                 cmap: CapabilityMap, store: VectorStore, settings: Settings, *, day: str, start: str | None,
                 path: Path, latest: bool, window_days: int | None = None, record_shifts: bool = True) -> None:
    """Score the accounts of the window's ``assigned`` requests (``score_frame``, with the feature
    cache and the verdicts' look-alikes moved), apply the analysts' verdicts and stage the
    account table at ``path`` (with ``latest``, as the workspace's latest scores) and, with
    ``record_shifts``, the night's shift alerts (``stage_shifts``). Frees the new rows'
    per-row frame (``got.requests``)."""
    ws = tx.ws
    # per-prompt text features cached by earlier runs: only the other prompts' texts are read
    features = nightly.FeatureCache.open(ws, settings.signals.seed, tx)
    assigned, store, texts, contexts = window_inputs(ws, assigned, got, cmap, store, features, start=start, day=day)
    counts = shifts.daily_area_counts(assigned) if record_shifts else None
    verdicts = latest_verdicts(ws)
    table, threshold = score_frame(assigned, cmap, store, texts, cmap.anchors.shape[1], settings, contexts, features,
                                   verdicts=verdicts)
    del assigned, texts, features
    table = apply_verdicts(table, verdicts)  # dismissals hold until the score rises
    table.insert(0, "as_of", day)
    table["run_id"] = tx.run_id
    if window_days is not None:
        table["window_days"] = window_days
    W.write_parquet(tx.path(path), _scores_table(table))
    if counts is not None:
        stage_shifts(tx, counts, table, cmap.areas, settings, day=day, start=start)
    if latest:
        tx.state_updates["latest_scores"] = str(path.relative_to(ws.root))
    result.as_of, result.scores_path, result.threshold = day, str(path), threshold
    result.accounts, result.flagged = len(table), int(table["flagged"].sum())
    campaign_summary(result, table)


def stage_shifts(tx: W.Transaction, counts: pd.DataFrame, table: pd.DataFrame, areas: Sequence[str],
                 settings: Settings, *, day: str, start: str | None) -> None:
    """Stage the night's shift table (``shifts.shift_table``) of the scored window's daily
    ``counts``, with the stored days before the window (``start``) that the history needs."""
    as_of = date.fromisoformat(day)
    earlier = None
    if start is not None and date.fromisoformat(start) > shifts.history_start(as_of, settings.shifts):
        earlier = W.account_area_day_counts(tx.ws, start_date=shifts.history_start(as_of, settings.shifts),
                                            end_date=date.fromisoformat(start) - timedelta(days=1)).to_pandas()
    campaign_of = table.set_index(S.ACCOUNT_ID)["campaign_id"] if "campaign_id" in table else pd.Series(dtype=object)
    found = shifts.shift_table(shifts.combine_counts(earlier, counts), campaign_of, as_of=as_of, areas=areas,
                               config=settings.shifts)
    W.write_parquet(tx.path(tx.ws.shifts_path(day)),
                    pa.Table.from_pandas(found, schema=S.SHIFT_SCHEMA, preserve_index=False))
    log.info("shift alerts on %s: %d accounts, %d campaigns", day,
             int((found["alert"] & (found["target_kind"] == shifts.ACCOUNT)).sum()),
             int((found["alert"] & (found["target_kind"] == shifts.CAMPAIGN)).sum()))


FEATURE_CHUNK = 50_000  # distinct prompts whose text features are computed at once


def score_frame(
    assigned: pd.DataFrame, cmap: CapabilityMap, store: dict[str, np.ndarray], texts: dict[str, str], dim: int,
    settings: Settings, contexts: pd.DataFrame | None = None, features: nightly.FeatureCache | None = None,
    verdicts: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, float]:
    """The contract's account table (plus evidence columns) for the given assigned requests.

    ``assigned`` may carry each request's ``ip``, ``account_created_at`` and ``context_hash``
    (``attach_metadata``), and ``contexts`` the system prompt and tools of each context hash
    (``read_contexts``): they add infrastructure and shared-context links between accounts.
    ``features`` (the nightly job's cache of per-prompt text features) gives the features of
    the prompts it holds and takes those computed here; ``texts`` then needs only the others.
    ``verdicts`` (the standing ones, ``verdicts.latest_of``) move the accounts that resemble
    their accounts over the account graph and the evidence profile (``targeting.feedback``,
    ``[feedback]``); the threshold returned is the label-free score's."""
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
        vectors=vectors_of(store, distinct, dim),
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
    table = signals.join(risk).reset_index()
    if verdicts is not None:
        table = apply_feedback(table, links.similarity, links.accounts, verdicts, threshold, settings.feedback)
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


def campaign_summary(result: RunResult, table: pd.DataFrame) -> None:
    """For the run summary: linked groups and campaigns counted as the app and the report count
    them (``summaries.group_counts``), the linked groups' size distribution and coherence."""
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


# --- index ----------------------------------------------------------------------------------------
def rebuild_index(tx: W.Transaction, map_id: str, store: VectorStore, hashes: list[str], dim: int,
                  settings: Settings) -> None:
    """The map's search index over every stored prompt (``hashes``, sorted), built anew."""
    pindex = build_index(np.array(hashes), vectors_of(store, hashes, dim), settings.map.seed)
    save_index(pindex, tx.path(tx.ws.index_dir(map_id) / "prompts.faiss").parent)


def extend_index(tx: W.Transaction, map_id: str, store: VectorStore, hashes: list[str], dim: int,
                 settings: Settings) -> None:
    """Add the night's new prompts to the map's search index (built when there is none)."""
    folder = tx.ws.index_dir(map_id)
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


def carry_index(tx: W.Transaction, previous: CapabilityMap, cmap: CapabilityMap, encoder: Encoder) -> None:
    """A refitted map of the same model keeps its predecessor's search index (same vectors)."""
    src, dst = tx.ws.index_dir(previous.map_id), tx.ws.index_dir(cmap.map_id)
    if previous.meta.get("model_key") == encoder.model_key and (src / "prompts.faiss").exists():
        for f in src.iterdir():
            shutil.copy2(f, tx.path(dst / f.name))


# --- the night's summary, commit ------------------------------------------------------------------
def night_summary(result: RunResult, got: NightInput, cmap: CapabilityMap, *, start: date, window_days: int,
                  files: Sequence[Path], later: Sequence[Path]) -> dict[str, Any]:
    """The nightly job's summary of the night (``nights/as_of=DAY.json``, and its manifest's
    ``night``); sets ``got.activity`` (empty on a night without new requests)."""
    if got.activity is None:
        got.activity = activity.account_activity(activity.merge_activity([]), cmap.areas)
    return {
        "as_of": result.as_of, "run_id": result.run_id, "window_days": window_days, "window_start": str(start),
        "files_ingested": len(files), "files_left_for_later": len(later), "rows_stored": result.rows_stored,
        "prompts_embedded": result.prompts_embedded, "map_id": cmap.map_id,
        "accounts": result.accounts, "flagged": result.flagged, "drift": result.drift,
        "active_accounts": len(got.activity),
        "requests_by_area": {a: int(got.activity[activity.requests_column(a)].sum()) for a in cmap.areas},
    }


def write_night(tx: W.Transaction, night: dict[str, Any], night_activity: pd.DataFrame) -> None:
    """Stage the night's summary and its per-account activity (``nights/``)."""
    W.write_json(tx.path(tx.ws.night_path(night["as_of"])), night)
    W.write_parquet(tx.path(tx.ws.activity_path(night["as_of"])),
                    activity.activity_table(night_activity, night["as_of"], night["run_id"]))


def commit(tx: W.Transaction, result: RunResult, settings: Settings, encoder: Encoder | None, files: list,
           kind: str, **extra: Any) -> RunResult:
    """Commit the run's staged files with its manifest (``manifest.manifest``); returns ``result``."""
    tx.commit(manifest(result, settings, encoder, files, kind, **extra))
    return result
