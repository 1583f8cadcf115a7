"""Fitting the capability map: UMAP + HDBSCAN on a sample, keywords, areas, stable ids."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.cluster import HDBSCAN
from sklearn.feature_extraction.text import CountVectorizer

from targeting.capmap.assign import exemplar_area_probs, mix_cluster
from targeting.capmap.model import CapabilityMap
from targeting.config import MapConfig
from targeting.embed import normalise

N_KEYWORDS = 8
N_REPRESENTATIVES = 5
MIN_SAMPLES = 5
KEYWORD_CHARS = 2000  # characters of each prompt used for keywords
SNIPPET_CHARS = 240  # characters of a representative prompt kept in the map
LAYOUT_EPOCHS = 200  # epochs of the 2-D display layout (the clusters come from the 5-D one)
# epochs of the 5-D layout the clusters come from: UMAP's own choice above 10,000 points. Its
# 500 below that made a small map slower to fit than a larger one (the fit stage of a
# 200-account demo, 7,700 prompts: 53-56 s; of a 300-account one, 11,000 prompts: 25 s).
CLUSTER_EPOCHS = 200
LAYOUT_SAMPLE = 5000  # points laid out in 2-D; the others are placed by their neighbours
PLACE_NEIGHBOURS = 5


def exact_knn(vectors: np.ndarray, k: int, metric: str,
              queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``vectors`` to each query (by default each row, itself first)
    and their distances, by exact search (FAISS): cosine distance for unit rows, Euclidean
    otherwise. Exact and multi-threaded, so UMAP skips its approximate neighbour search."""
    import faiss

    X = np.ascontiguousarray(vectors, dtype=np.float32)
    Q = X if queries is None else np.ascontiguousarray(queries, dtype=np.float32)
    if metric == "cosine":
        index = faiss.IndexFlatIP(X.shape[1])
        index.add(X)
        sims, ids = index.search(Q, k)
        dists = np.clip(1.0 - sims, 0.0, 2.0)
    else:
        index = faiss.IndexFlatL2(X.shape[1])
        index.add(X)
        sq, ids = index.search(Q, k)
        dists = np.sqrt(np.maximum(sq, 0.0))
    return ids.astype(np.int32), dists.astype(np.float32)


def _reduce(vectors: np.ndarray, n_components: int, n_neighbors: int, seed: int, metric: str,
            n_epochs: int | None = None) -> np.ndarray:
    """UMAP on exact neighbours, initialised from PCA (a spectral start costs as much as the
    layout at 20,000 points and changes the clusters no more than another seed does);
    ``n_epochs`` None is UMAP's own choice (200 above 10,000 points, 500 below)."""
    import umap  # heavy import (numba): only when fitting

    n_neighbors = max(2, min(n_neighbors, len(vectors) - 1))
    knn = exact_knn(vectors, n_neighbors, metric)
    reducer = umap.UMAP(
        n_components=n_components,
        n_neighbors=n_neighbors,
        min_dist=0.0,
        metric=metric,
        random_state=seed,
        n_jobs=1,
        low_memory=True,
        init="pca" if len(vectors) > n_components + 1 else "random",
        n_epochs=n_epochs,
        precomputed_knn=(knn[0], knn[1], None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap warns about n_jobs with random_state
        return reducer.fit_transform(vectors).astype(np.float32)


def display_layout(reduced: np.ndarray, n_neighbors: int, seed: int) -> np.ndarray:
    """2-D positions for the map's picture: UMAP on at most ``LAYOUT_SAMPLE`` points of the
    5-D space the clusters were found in; every other point sits at the distance-weighted mean
    position of its ``PLACE_NEIGHBOURS`` nearest laid-out points there. Display only: no
    score reads it."""
    n = len(reduced)
    if n <= LAYOUT_SAMPLE:
        return _reduce(reduced, 2, n_neighbors, seed, metric="euclidean", n_epochs=LAYOUT_EPOCHS)
    pick = np.sort(np.random.default_rng(seed).choice(n, LAYOUT_SAMPLE, replace=False))
    xy = np.empty((n, 2), dtype=np.float32)
    xy[pick] = _reduce(reduced[pick], 2, n_neighbors, seed, metric="euclidean", n_epochs=LAYOUT_EPOCHS)
    rest = np.setdiff1d(np.arange(n), pick)
    ids, dists = exact_knn(reduced[pick], PLACE_NEIGHBOURS, "euclidean", queries=reduced[rest])
    weights = 1.0 / (dists + 1e-3)
    xy[rest] = (xy[pick][ids] * weights[..., None]).sum(axis=1) / weights.sum(axis=1, keepdims=True)
    return xy


def auto_min_cluster_size(n: int) -> int:
    return int(max(8, round(n / 300)))


def cluster_keywords(texts: Sequence[str], labels: np.ndarray, n_clusters: int) -> list[list[str]]:
    """Top words per cluster by class-based TF-IDF (each cluster is one document)."""
    docs = [t[:KEYWORD_CHARS] for t in texts]
    try:
        vectorizer = CountVectorizer(
            stop_words="english", token_pattern=r"(?u)\b[^\W\d_]{3,}\b", min_df=2, max_features=50_000
        )
        counts = vectorizer.fit_transform(docs)
    except ValueError:  # empty vocabulary
        return [[] for _ in range(n_clusters)]
    vocab = np.array(vectorizer.get_feature_names_out())
    mask = labels >= 0
    onehot = np.zeros((n_clusters, len(docs)), dtype=np.float32)
    onehot[labels[mask], np.flatnonzero(mask)] = 1.0
    class_counts = np.asarray(counts.T.dot(onehot.T).T)  # (C, V)
    tf = class_counts / np.maximum(class_counts.sum(axis=1, keepdims=True), 1.0)
    avg_words = class_counts.sum() / max(n_clusters, 1)
    idf = np.log1p(avg_words / np.maximum(class_counts.sum(axis=0), 1.0))
    scores = tf * idf
    out = []
    for row in scores:
        top = np.argsort(-row)[:N_KEYWORDS]
        out.append([str(vocab[i]) for i in top if row[i] > 0])
    return out


def _content_id(prefix: str, parts: Sequence[str]) -> str:
    digest = hashlib.sha256("\x1f".join(sorted(parts)).encode()).hexdigest()
    return f"{prefix}{digest[:10]}"


@dataclass(frozen=True)
class AreaTeacher:
    """A slower, more accurate encoder's view of the map's sample (a fast path's map: the map's
    own encoder is a static model). Its vectors label each anchor's areas; the clusters stay
    the map's own, since the map's own encoder places every new prompt among the anchors.
    A static model's averaged word pieces see a prompt's topic, not what it asks for: alone
    they lost 0.20 request-area macro-F1 on external traffic; with a teacher, 0.003."""

    model_key: str
    vectors: np.ndarray  # (n, d_t) unit rows: the prompts of ``fit_map``'s ``vectors``, same order
    exemplar_vectors: np.ndarray  # (E, d_t) the taxonomy's exemplar prompts


def sample_indices(hashes: Sequence[str], config: MapConfig) -> np.ndarray:
    """Positions of the prompts a map is fitted on: every prompt in content (hash) order, or a
    seeded sample of ``config.sample_size`` of them, so the sample does not depend on input order."""
    n = len(hashes)
    order = np.argsort(np.asarray(hashes))
    if n <= config.sample_size:
        return order
    return order[np.sort(np.random.default_rng(config.seed).choice(n, config.sample_size, replace=False))]


def _clusters(reduced: np.ndarray, sample_hashes: Sequence[str], min_size: int) -> tuple[np.ndarray, list[str]]:
    """HDBSCAN's clusters of the reduced sample: each point's cluster index (-1 noise) and each
    cluster's content-derived id, clusters ordered by id so indices are stable for the same sample."""
    labels = HDBSCAN(min_cluster_size=min_size, min_samples=min(MIN_SAMPLES, min_size), copy=True).fit_predict(reduced)
    if labels.max() < 0:  # everything noise: one cluster holds it all
        labels = np.zeros(len(reduced), dtype=np.int64)
    raw_ids = sorted(set(labels[labels >= 0].tolist()))
    ids = {c: _content_id("c", [sample_hashes[i] for i in np.flatnonzero(labels == c)]) for c in raw_ids}
    ordered = sorted(raw_ids, key=lambda c: ids[c])
    remap = {c: i for i, c in enumerate(ordered)}
    return np.array([remap.get(int(l), -1) for l in labels], dtype=np.int32), [ids[c] for c in ordered]


def fit_map(
    *,
    vectors: np.ndarray,
    hashes: Sequence[str],
    texts: Sequence[str],
    exemplar_vectors: np.ndarray,
    exemplar_area: np.ndarray,
    context_vectors: np.ndarray,
    context_area: np.ndarray,
    areas: Sequence[str],
    config: MapConfig,
    meta: dict[str, Any],
    teacher: AreaTeacher | None = None,
) -> CapabilityMap:
    """Fit the map on unique prompts (``vectors`` unit rows, one per distinct prompt); with a
    ``teacher``, its vectors of the same prompts give the clusters' and anchors' areas."""
    n = len(vectors)
    if n < 20:
        raise ValueError(f"at least 20 distinct prompts are needed to fit a map, got {n}")
    take = sample_indices(hashes, config)
    X = normalise(np.asarray(vectors, dtype=np.float32)[take])
    T = normalise(np.asarray(teacher.vectors, dtype=np.float32)[take]) if teacher else X  # the areas' space
    sample_hashes = [hashes[i] for i in take]
    sample_texts = [texts[i] for i in take]

    reduced = _reduce(X, config.umap_dim, config.umap_neighbors, config.seed, metric="cosine", n_epochs=CLUSTER_EPOCHS)
    min_size = config.min_cluster_size or auto_min_cluster_size(len(X))
    anchor_cluster, cluster_ids = _clusters(reduced, sample_hashes, min_size)
    n_clusters = len(cluster_ids)

    centroids = normalise(np.stack([X[anchor_cluster == i].mean(axis=0) for i in range(n_clusters)]))
    own_probs = exemplar_area_probs(T, teacher.exemplar_vectors if teacher else exemplar_vectors, exemplar_area,
                                    len(areas))
    cluster_area_probs = np.stack([own_probs[anchor_cluster == i].mean(axis=0) for i in range(n_clusters)])
    keywords = cluster_keywords(sample_texts, anchor_cluster, n_clusters)
    clusters = []
    for i, cluster_id in enumerate(cluster_ids):
        idx = np.flatnonzero(anchor_cluster == i)
        central = idx[np.argsort(-(X[idx] @ centroids[i]))[:N_REPRESENTATIVES]]
        clusters.append(
            {
                "cluster_id": cluster_id,
                "size": int(len(idx)),
                "keywords": keywords[i],
                "area": areas[int(cluster_area_probs[i].argmax())],
                "area_probs": {a: round(float(p), 4) for a, p in zip(areas, cluster_area_probs[i])},
                "representatives": [sample_hashes[j] for j in central],
                "examples": [sample_texts[j][:SNIPPET_CHARS] for j in central],
            }
        )
    xy = display_layout(reduced, config.umap_neighbors, config.seed)
    params = {k: v for k, v in vars(config).items()}
    exemplar_digest = hashlib.sha256(np.ascontiguousarray(exemplar_vectors, dtype=np.float16).tobytes()).hexdigest()
    exemplar_digest += hashlib.sha256(np.asarray(exemplar_area, dtype=np.int32).tobytes()).hexdigest()
    map_id = _content_id(
        "m", [*sample_hashes, str(meta.get("model_key")), repr(sorted(params.items())), exemplar_digest]
        + ([f"teacher:{teacher.model_key}"] if teacher else []),
    )
    return CapabilityMap(
        map_id=map_id,
        areas=tuple(areas),
        anchors=X.astype(np.float16),
        anchor_hashes=tuple(sample_hashes),
        anchor_cluster=anchor_cluster,
        anchor_xy=xy,
        centroids=centroids.astype(np.float32),
        cluster_area_probs=cluster_area_probs.astype(np.float32),
        clusters=tuple(clusters),
        exemplar_vectors=np.asarray(exemplar_vectors, dtype=np.float16),
        exemplar_area=np.asarray(exemplar_area, dtype=np.int32),
        context_vectors=np.asarray(context_vectors, dtype=np.float16).reshape(-1, X.shape[1]),
        context_area=np.asarray(context_area, dtype=np.int32),
        meta=dict(meta, params=params, n_anchors=len(X), min_cluster_size=min_size, n_clusters=n_clusters,
                  **({"area_teacher": teacher.model_key} if teacher else {})),
        anchor_area_probs=(_anchor_area_probs(own_probs, cluster_area_probs, anchor_cluster) if teacher
                           else np.zeros((0, 0), dtype=np.float16)),
    )


def _anchor_area_probs(own_probs: np.ndarray, cluster_area_probs: np.ndarray, anchor_cluster: np.ndarray) -> np.ndarray:
    """Each anchor's areas as the accurate path gives a prompt of its own: its cluster's
    distribution mixed with its own exemplar similarity (``mix_cluster``); a noise anchor, in
    no cluster, by its own similarity alone."""
    member = anchor_cluster >= 0
    probs = own_probs.copy()
    probs[member] = mix_cluster(cluster_area_probs[anchor_cluster[member]], own_probs[member])
    return probs.astype(np.float16)
