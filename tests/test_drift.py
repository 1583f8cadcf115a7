"""Drift figures and cluster-id matching on small hand-built maps (no UMAP, no model)."""

from __future__ import annotations

import numpy as np

from targeting.capmap import CapabilityMap
from targeting.capmap.match import carry_ids, cluster_overlap, match_clusters
from targeting.config import NightlyConfig
from targeting.drift import far_threshold, measure_drift
from targeting.embed import normalise

DIM = 16
AREAS = ("reasoning", "tool_use", "agentic_coding", "other")


def _centres(n: int, seed: int = 0) -> np.ndarray:
    return normalise(np.random.default_rng(seed).normal(size=(n, DIM)))


def _blob(centre: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.15) -> np.ndarray:
    return normalise(centre + spread * rng.normal(size=(n, DIM)))


def _map(blobs: list[np.ndarray], ids: list[str], map_id: str) -> CapabilityMap:
    anchors = np.concatenate(blobs)
    labels = np.concatenate([np.full(len(b), i, dtype=np.int32) for i, b in enumerate(blobs)])
    centroids = normalise(np.stack([b.mean(axis=0) for b in blobs]))
    n = len(blobs)
    exemplars = _centres(len(AREAS), seed=99)
    return CapabilityMap(
        map_id=map_id,
        areas=AREAS,
        anchors=anchors.astype(np.float16),
        anchor_hashes=tuple(f"h{map_id}{i}" for i in range(len(anchors))),
        anchor_cluster=labels,
        anchor_xy=np.zeros((len(anchors), 2), np.float32),
        centroids=centroids.astype(np.float32),
        cluster_area_probs=np.full((n, len(AREAS)), 0.25, np.float32),
        clusters=tuple({"cluster_id": cid, "size": len(b), "area": "other"} for cid, b in zip(ids, blobs)),
        exemplar_vectors=exemplars.astype(np.float16),
        exemplar_area=np.arange(len(AREAS), dtype=np.int32),
        context_vectors=np.zeros((0, DIM), np.float16),
        context_area=np.zeros(0, np.int32),
        meta={"model_key": "test"},
    )


def test_far_threshold_is_the_maps_own_nearest_anchor_quantile():
    rng = np.random.default_rng(0)
    centres = _centres(3)
    cmap = _map([_blob(c, 200, rng) for c in centres], ["a", "b", "c"], "m1")
    t99 = far_threshold(cmap, 0.99)
    t50 = far_threshold(cmap, 0.50)
    assert 0 < t50 < t99 < 1


def test_drift_is_low_on_like_traffic_and_high_on_a_new_region():
    rng = np.random.default_rng(1)
    centres = _centres(4, seed=1)
    cmap = _map([_blob(c, 300, rng) for c in centres[:3]], ["a", "b", "c"], "m1")
    config = NightlyConfig()
    threshold = far_threshold(cmap, config.far_quantile)

    def distances(vectors):
        sims = vectors @ cmap.anchors.astype(np.float32).T
        return 1.0 - sims.max(axis=1)

    like = np.concatenate([_blob(c, 200, rng) for c in centres[:3]])
    calm = measure_drift(distances(like), cmap, config)
    assert calm.share < config.drift_share and not calm.alert
    assert abs(calm.threshold - threshold) < 1e-6
    novel = np.concatenate([like, _blob(centres[3], 300, rng)])  # a third of the night is new
    drift = measure_drift(distances(novel), cmap, config)
    assert drift.alert and drift.share > 0.3 and drift.prompts == len(novel)
    assert "refit due" in drift.summary()
    # a fixed threshold overrides the quantile
    fixed = measure_drift(distances(like), cmap, NightlyConfig(far_distance=0.001))
    assert fixed.threshold == 0.001 and fixed.alert


def test_empty_night_reports_no_drift():
    rng = np.random.default_rng(2)
    cmap = _map([_blob(c, 50, rng) for c in _centres(2)], ["a", "b"], "m1")
    drift = measure_drift(np.zeros(0), cmap, NightlyConfig())
    assert drift.prompts == 0 and drift.share == 0 and not drift.alert


def test_refitted_clusters_that_are_the_same_keep_their_ids():
    rng = np.random.default_rng(3)
    centres = _centres(4, seed=3)
    old = _map([_blob(c, 200, rng) for c in centres[:3]], ["c-old-a", "c-old-b", "c-old-c"], "m-old")
    # the refit: A and B again (other samples), C gone, D new, listed in another order
    new = _map([_blob(centres[3], 200, rng), _blob(centres[1], 180, rng), _blob(centres[0], 220, rng)],
               ["c-new-d", "c-new-b", "c-new-a"], "m-new")
    overlap = cluster_overlap(old, new)
    assert overlap.shape == (3, 3) and overlap[0, 2] > 0.9 and overlap[2, 0] < 0.1
    match = match_clusters(old, new, min_overlap=0.5)
    assert match.new_to_old == {"c-new-a": "c-old-a", "c-new-b": "c-old-b"}
    carried = carry_ids(new, match, "m-old")
    assert carried.cluster_ids == ["c-new-d", "c-old-b", "c-old-a"]
    assert carried.meta["matched_from"] == {"map_id": "m-old", "matched": 2, "old_clusters": 3, "new_clusters": 3}
    assert carried.clusters[2]["fitted_id"] == "c-new-a"
    assert len(set(carried.cluster_ids)) == carried.n_clusters


def test_a_split_cluster_keeps_its_id_on_one_side_only():
    rng = np.random.default_rng(4)
    centre = _centres(1, seed=4)[0]
    other = _centres(2, seed=5)[1]
    half_a = _blob(centre + 0.6 * other, 200, rng, 0.1)
    half_b = _blob(centre - 0.6 * other, 200, rng, 0.1)
    old = _map([np.concatenate([half_a, half_b])], ["c-old"], "m-old")
    new = _map([half_a, half_b], ["c-x", "c-y"], "m-new")
    match = match_clusters(old, new, min_overlap=0.3)
    assert len(match.new_to_old) <= 1  # one-to-one: never two clusters with one id
    strict = match_clusters(old, new, min_overlap=0.9)
    assert strict.matched == 0
