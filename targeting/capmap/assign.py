"""Placing prompts on a fitted map: cluster by nearest anchors, area by taxonomy evidence.

This is the single assignment path: ``fit_map`` labels its own sample through it, and every
new prompt goes through it, so fitted and new data never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import pandas as pd

from targeting import schema as S
from targeting.capmap.model import CapabilityMap
from targeting.capmap.taxonomy import tool_lines
from targeting.config import MapConfig
from targeting.embed import vectors_of

EXEMPLAR_TOP = 3  # an area's evidence is the mean similarity of its 3 closest exemplars
EXEMPLAR_TEMPERATURE = 0.04  # softmax temperature over those mean similarities
CLUSTER_WEIGHT = 0.5  # weight of the cluster's area distribution against the prompt's own
BLOCK = 8192  # prompts per search block, bounds memory


@dataclass(frozen=True)
class Assignment:
    cluster: np.ndarray  # (n,) int32 index into cmap.clusters
    area: np.ndarray  # (n,) int32 index into cmap.areas
    area_probs: np.ndarray  # (n, n_areas) float32
    distance: np.ndarray  # (n,) float32 cosine distance to the nearest anchor (drift)


def exemplar_area_probs(
    vectors: np.ndarray, exemplars: np.ndarray, exemplar_area: np.ndarray, n_areas: int
) -> np.ndarray:
    """Per-area probabilities from similarity to each area's closest exemplars."""
    vectors = np.asarray(vectors, dtype=np.float32)
    sims = vectors @ np.asarray(exemplars, dtype=np.float32).T
    scores = np.full((len(vectors), n_areas), -1.0, dtype=np.float32)
    for a in range(n_areas):
        cols = sims[:, exemplar_area == a]
        if cols.shape[1] == 0:
            continue
        k = min(EXEMPLAR_TOP, cols.shape[1])
        top = -np.partition(-cols, k - 1, axis=1)[:, :k]
        scores[:, a] = top.mean(axis=1)
    logits = (scores - scores.max(axis=1, keepdims=True)) / EXEMPLAR_TEMPERATURE
    probs = np.exp(logits)
    return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def anchor_index(cmap: CapabilityMap) -> faiss.Index:
    index = faiss.IndexFlatIP(cmap.anchors.shape[1])
    index.add(np.ascontiguousarray(cmap.anchors, dtype=np.float32))
    return index


def _vote(sims: np.ndarray, ids: np.ndarray, anchor_cluster: np.ndarray, n_clusters: int,
          vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    labels = anchor_cluster[ids]  # (n, k)
    valid = (labels >= 0) & (ids >= 0)
    weights = np.where(valid, np.maximum(sims, 0.0) + 1e-3, 0.0)
    votes = np.zeros((len(ids), n_clusters), dtype=np.float32)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    np.add.at(votes, (rows, np.where(valid, labels, 0).ravel()), weights.ravel())
    cluster = votes.argmax(axis=1).astype(np.int32)
    orphans = ~valid.any(axis=1)  # only noise neighbours: nearest centroid decides
    if orphans.any():
        cluster[orphans] = (vectors[orphans] @ centroids.T).argmax(axis=1)
    return cluster


def mix_cluster(cluster_probs: np.ndarray, own_probs: np.ndarray) -> np.ndarray:
    """A prompt's areas: its cluster's distribution mixed with its own evidence (``CLUSTER_WEIGHT``)."""
    return CLUSTER_WEIGHT * cluster_probs + (1 - CLUSTER_WEIGHT) * own_probs


def taught_area_probs(sims: np.ndarray, ids: np.ndarray, anchor_area_probs: np.ndarray) -> np.ndarray:
    """Area probabilities of prompts from their nearest anchors' (``ids``, cosine ``sims``,
    -1 for none): the mean of those anchors' teacher probabilities, weighted by similarity."""
    valid = ids >= 0
    weights = np.where(valid, np.maximum(sims, 0.0) + 1e-3, 0.0).astype(np.float32)
    rows = np.asarray(anchor_area_probs, dtype=np.float32)[np.where(valid, ids, 0)]  # (n, k, n_areas)
    probs = (rows * weights[..., None]).sum(axis=1)
    return (probs / np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)).astype(np.float32)


def assign(
    cmap: CapabilityMap,
    vectors: np.ndarray,
    context_probs: np.ndarray | None = None,
    context_weight: float = 0.35,
    knn: int = 10,
    index: faiss.Index | None = None,
) -> Assignment:
    """Assign unit ``vectors`` to clusters (their nearest anchors' vote) and areas: the
    cluster's area distribution mixed with the prompt's own similarity to the taxonomy's
    exemplars or, on a map whose anchors an area teacher labelled (``cmap.taught``), those
    anchors' teacher probabilities.

    ``context_probs`` (n, n_areas), with NaN rows where a request has no system prompt or
    tools, mixes that evidence in with weight ``context_weight``.
    """
    n, n_areas = len(vectors), len(cmap.areas)
    if n == 0:
        empty = np.zeros(0, dtype=np.int32)
        return Assignment(empty, empty, np.zeros((0, n_areas), np.float32), np.zeros(0, np.float32))
    index = index or anchor_index(cmap)
    k = min(knn, index.ntotal)
    centroids = np.asarray(cmap.centroids, dtype=np.float32)
    cluster = np.empty(n, dtype=np.int32)
    distance = np.empty(n, dtype=np.float32)
    probs = np.empty((n, n_areas), dtype=np.float32)
    for start in range(0, n, BLOCK):
        block = np.ascontiguousarray(vectors[start : start + BLOCK], dtype=np.float32)
        sims, ids = index.search(block, k)
        c = _vote(sims, ids, cmap.anchor_cluster, cmap.n_clusters, block, centroids)
        cluster[start : start + len(block)] = c
        distance[start : start + len(block)] = 1.0 - sims[:, 0]
        if cmap.taught:  # the teacher's areas of the nearest anchors (their clusters' part included)
            probs[start : start + len(block)] = taught_area_probs(sims, ids, cmap.anchor_area_probs)
            continue
        own = exemplar_area_probs(block, cmap.exemplar_vectors, cmap.exemplar_area, n_areas)
        probs[start : start + len(block)] = mix_cluster(cmap.cluster_area_probs[c], own)
    if context_probs is not None:
        probs = mix_context(probs, context_probs, context_weight)
    return Assignment(cluster, probs.argmax(axis=1).astype(np.int32), probs, distance)


def mix_context(probs: np.ndarray, context_probs: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    """Blend context evidence into area probabilities where a row has any (non-NaN), with one
    ``weight`` for every row or one per row."""
    probs = probs.copy()
    has = ~np.isnan(context_probs).any(axis=1)
    w = np.broadcast_to(np.asarray(weight, dtype=np.float32), (len(probs),))[has, None]
    probs[has] = (1 - w) * probs[has] + w * context_probs[has]
    return probs


TOOLS_DECLARED = "tools_declared"  # a request's context declares tools (frames without the tools text)


def declares_tools(tools: pd.Series) -> np.ndarray:
    """Whether each value of a ``tools`` column declares at least one usable tool."""
    return np.fromiter((bool(tool_lines(t)) for t in tools), dtype=bool, count=len(tools))


def with_tools_declared(requests: pd.DataFrame, contexts: pd.DataFrame) -> pd.DataFrame:
    """``requests`` (with ``context_hash``, without the tools text) with ``TOOLS_DECLARED``:
    whether its context declares tools, parsed once per distinct context of ``contexts``
    (context_hash, tools)."""
    tooled = set(contexts.loc[declares_tools(contexts[S.TOOLS]), S.CONTEXT_HASH]) if len(contexts) else set()
    return requests.assign(**{TOOLS_DECLARED: requests[S.CONTEXT_HASH].isin(tooled).to_numpy()})


def _tooled_contexts(requests: pd.DataFrame, ctx_codes: np.ndarray, n_contexts: int) -> np.ndarray:
    """Per distinct context (``ctx_codes``' codes): whether it declares tools, from the tools
    text of the rows that have it and ``TOOLS_DECLARED`` of those that do not (a refit
    assigns stored requests and the night's slim ones together); False without either."""
    tooled = np.zeros(n_contexts, dtype=bool)
    known = ctx_codes >= 0
    if not known.any() or (S.TOOLS not in requests and TOOLS_DECLARED not in requests):
        return tooled
    first = pd.Series(np.arange(len(requests)))[known].groupby(ctx_codes[known]).first()
    rows = first.to_numpy()
    if S.TOOLS in requests:
        tooled[first.index] |= declares_tools(requests[S.TOOLS].iloc[rows])
    if TOOLS_DECLARED in requests:
        tooled[first.index] |= requests[TOOLS_DECLARED].iloc[rows].fillna(False).to_numpy(dtype=bool)
    return tooled


def context_pieces(cmap: CapabilityMap) -> int:
    """Word pieces of each context (system prompt + tools text) embedded for ``cmap``: its
    ``[map] context_pieces`` when fitted; 0, the whole context, for maps fitted before it."""
    return int(cmap.meta.get("params", {}).get("context_pieces") or 0)


def context_key(context_hash: str, pieces: int) -> str:
    """The vector-cache key of a context embedded at its first ``pieces`` word pieces: its
    hash for the whole context, so caches written before the cut still serve older maps."""
    return f"{context_hash}-p{pieces}" if pieces > 0 else context_hash


def context_area_probs(cmap: CapabilityMap, context_vectors: np.ndarray) -> np.ndarray:
    """Area evidence of system prompts / tool sets.

    Compared with the taxonomy's exemplar contexts and its exemplar prompts together, so a
    generic system prompt ("You are a helpful assistant") is not pushed into an area just
    because only some areas have exemplar contexts.
    """
    bank = np.concatenate([cmap.context_vectors, cmap.exemplar_vectors]) if len(cmap.context_vectors) else cmap.exemplar_vectors
    labels = np.concatenate([cmap.context_area, cmap.exemplar_area]) if len(cmap.context_vectors) else cmap.exemplar_area
    return exemplar_area_probs(context_vectors, bank, labels, len(cmap.areas))


def assign_requests(
    cmap: CapabilityMap, requests: pd.DataFrame, store: dict[str, np.ndarray], dim: int, config: MapConfig
) -> pd.DataFrame:
    """area, cluster_id and distance for each request (its prompt's and context's vectors in
    ``store``): the one assignment path of every job and engine."""
    if requests.empty:
        return pd.DataFrame(columns=S.ASSIGNMENT_SCHEMA.names)
    # factorize (a hash table over the strings) rather than np.unique on a fixed-width copy:
    # a night of a million 64-character hashes would otherwise take gigabytes
    inverse, distinct = pd.factorize(requests[S.PROMPT_HASH], sort=False)
    vectors = vectors_of(store, list(distinct), dim)
    # context evidence per request; NaN where the request has no system prompt or tools
    ctx_codes, ctx_uniq = pd.factorize(requests[S.CONTEXT_HASH], sort=False)  # -1 where null
    pieces = context_pieces(cmap)
    ctx_keys = np.array([context_key(h, pieces) for h in ctx_uniq], dtype=object)
    ctx_probs = np.full((len(requests), len(cmap.areas)), np.nan, dtype=np.float32)
    ctx_weight = np.full(len(requests), config.context_weight, dtype=np.float32)
    known = np.array([k in store for k in ctx_keys], dtype=bool)
    has_ctx = (ctx_codes >= 0) & known[np.maximum(ctx_codes, 0)] if len(ctx_uniq) else np.zeros(len(requests), bool)
    if has_ctx.any():
        probs_of = np.full((len(ctx_uniq), len(cmap.areas)), np.nan, dtype=np.float32)
        probs_of[known] = context_area_probs(cmap, vectors_of(store, list(ctx_keys[known]), dim))
        ctx_probs[has_ctx] = probs_of[ctx_codes[has_ctx]]
        tooled = _tooled_contexts(requests, ctx_codes, len(ctx_uniq))
        ctx_weight[has_ctx & tooled[np.maximum(ctx_codes, 0)]] = config.tools_context_weight
    # prompt evidence per distinct prompt, expanded to requests, then context mixed in
    base = assign(cmap, vectors, knn=config.knn, index=anchor_index(cmap))
    probs = mix_context(base.area_probs[inverse], ctx_probs, ctx_weight)
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
