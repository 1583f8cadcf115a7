"""The capability map on synthetic unit vectors: fit, assign, save/load, taxonomy, keywords.

No embedding model is loaded: prompts are Gaussian blobs on the sphere, exemplars are points
near the blobs' centres labelled with an area.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import re
import stat

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from targeting.capmap import (
    CapabilityMap,
    assign,
    context_text,
    exemplar_area_probs,
    fit_map,
    load_map,
    load_taxonomy,
    save_map,
)
from targeting.capmap.assign import (
    TOOLS_DECLARED, assign_requests, context_area_probs, context_key, context_pieces, declares_tools, mix_context,
    with_tools_declared,
)
from targeting.capmap.fit import AreaTeacher, cluster_keywords
from targeting.capmap.labels import cluster_terms
from targeting.capmap.model import ARRAYS, OPTIONAL_ARRAYS
from targeting.capmap.taxonomy import DEFAULT_TAXONOMY, tool_lines
from targeting.config import MapConfig
from targeting.errors import TaxonomyError
from targeting.jobs.stages import label_clusters
from targeting import schema as S
from targeting.schema import DEFAULT_AREAS

DIM = 48
N_BLOBS = 5
PER_BLOB = 80
SPREAD = 0.4
AREAS = list(DEFAULT_AREAS)
AREA_OF_BLOB = [0, 1, 2, 3, 0]  # two blobs share "reasoning"
WORDS = ["algebra", "weather", "compiler", "poetry", "geometry"]
META = {"model_key": "test", "weights_sha256": "x", "model_id": "test"}
CONFIG = MapConfig(sample_size=2000, min_cluster_size=15, umap_neighbors=15, seed=0)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _near(center: np.ndarray, n: int, rng, spread: float = SPREAD) -> np.ndarray:
    return _unit(center + spread * rng.normal(size=(n, len(center))) / np.sqrt(len(center)))


def _hash(i: int) -> str:
    return hashlib.sha256(f"prompt-{i}".encode()).hexdigest()


class Data:
    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.centers = _unit(rng.normal(size=(N_BLOBS + 1, DIM)))
        parts, labels = [], []
        for b in range(N_BLOBS):
            parts.append(_near(self.centers[b], PER_BLOB, rng))
            labels += [b] * PER_BLOB
        # a small island below min_cluster_size and a few scattered points: noise
        parts.append(_near(self.centers[N_BLOBS], 10, rng))
        parts.append(_unit(rng.normal(size=(4, DIM))))
        labels += [-1] * 14
        self.vectors = np.concatenate(parts)
        self.labels = np.array(labels)
        self.hashes = [_hash(i) for i in range(len(self.vectors))]
        self.texts = [
            f"{WORDS[b]} question {WORDS[b]}ish number {i}" if b >= 0 else f"stray remark {i}"
            for i, b in enumerate(self.labels)
        ]
        ex = [_near(self.centers[b], 6, rng, spread=0.3) for b in range(N_BLOBS)]
        self.exemplar_vectors = np.concatenate(ex)
        self.exemplar_area = np.repeat(AREA_OF_BLOB, 6).astype(np.int32)
        self.context_vectors = _near(self.centers[1], 3, rng, spread=0.3)
        self.context_area = np.full(3, 1, dtype=np.int32)
        self.rng = rng

    def fit(self, order: np.ndarray | None = None, config: MapConfig = CONFIG) -> CapabilityMap:
        order = np.arange(len(self.vectors)) if order is None else order
        return fit_map(
            vectors=self.vectors[order],
            hashes=[self.hashes[i] for i in order],
            texts=[self.texts[i] for i in order],
            exemplar_vectors=self.exemplar_vectors,
            exemplar_area=self.exemplar_area,
            context_vectors=self.context_vectors,
            context_area=self.context_area,
            areas=AREAS,
            config=config,
            meta=META,
        )

    def blob_of_anchors(self, cmap: CapabilityMap) -> np.ndarray:
        where = {h: i for i, h in enumerate(self.hashes)}
        return self.labels[[where[h] for h in cmap.anchor_hashes]]


@pytest.fixture(scope="module")
def data() -> Data:
    return Data()


@pytest.fixture(scope="module")
def cmap(data) -> CapabilityMap:
    return data.fit()


@pytest.fixture(scope="module")
def cluster_of_blob(data, cmap) -> dict[int, int]:
    """The cluster holding most of each blob's anchors."""
    blobs = data.blob_of_anchors(cmap)
    out = {}
    for b in range(N_BLOBS):
        got = cmap.anchor_cluster[(blobs == b) & (cmap.anchor_cluster >= 0)]
        out[b] = int(np.bincount(got).argmax())
    return out


# --- fit ----------------------------------------------------------------------------------
def test_fit_finds_one_cluster_per_blob(data, cmap):
    assert 4 <= cmap.n_clusters <= 7
    blobs = data.blob_of_anchors(cmap)
    keep = (blobs >= 0) & (cmap.anchor_cluster >= 0)
    assert keep.sum() >= 0.9 * N_BLOBS * PER_BLOB
    assert adjusted_rand_score(blobs[keep], cmap.anchor_cluster[keep]) >= 0.8
    assert sum(c["size"] for c in cmap.clusters) == int((cmap.anchor_cluster >= 0).sum())


def test_fitted_map_shapes(data, cmap):
    n, c = len(data.vectors), cmap.n_clusters
    assert cmap.anchors.shape == (n, DIM) and cmap.anchors.dtype == np.float16
    assert len(cmap.anchor_hashes) == n and set(cmap.anchor_hashes) == set(data.hashes)
    assert cmap.anchor_cluster.shape == (n,) and cmap.anchor_cluster.min() >= -1
    assert cmap.anchor_cluster.max() == c - 1
    assert cmap.anchor_xy.shape == (n, 2) and np.isfinite(cmap.anchor_xy).all()
    assert cmap.centroids.shape == (c, DIM)
    np.testing.assert_allclose(np.linalg.norm(cmap.centroids, axis=1), 1.0, atol=1e-3)
    assert cmap.cluster_area_probs.shape == (c, len(AREAS))
    np.testing.assert_allclose(cmap.cluster_area_probs.sum(axis=1), 1.0, atol=1e-3)
    assert cmap.areas == tuple(AREAS)
    assert cmap.context_vectors.shape == (3, DIM)
    assert cmap.meta["model_key"] == "test" and cmap.meta["n_clusters"] == c
    assert cmap.meta["min_cluster_size"] == 15 and cmap.meta["n_anchors"] == n
    for cl in cmap.clusters:
        assert 1 <= len(cl["representatives"]) <= 5
        assert set(cl["representatives"]) <= set(cmap.anchor_hashes)
        assert len(cl["examples"]) == len(cl["representatives"])


def test_each_cluster_gets_its_blobs_area(data, cmap, cluster_of_blob):
    assert len(set(cluster_of_blob.values())) == N_BLOBS  # blobs are not merged
    for b, c in cluster_of_blob.items():
        assert cmap.clusters[c]["area"] == AREAS[AREA_OF_BLOB[b]], (b, cmap.clusters[c])
        assert cmap.clusters[c]["area_probs"][AREAS[AREA_OF_BLOB[b]]] >= 0.8
    np.testing.assert_array_equal(
        cmap.cluster_area_index(), [AREAS.index(c["area"]) for c in cmap.clusters]
    )


def test_cluster_keywords_name_the_blob(cmap, cluster_of_blob):
    for b, c in cluster_of_blob.items():
        keywords = cmap.clusters[c]["keywords"]
        assert WORDS[b] in keywords[:3], (b, keywords)
        others = set(WORDS) - {WORDS[b]}
        assert not others & set(keywords)


def test_cluster_ids_are_content_derived(cmap):
    ids = cmap.cluster_ids
    assert len(set(ids)) == len(ids)
    for cid in ids:
        assert re.fullmatch(r"c[0-9a-f]{10}", cid)
    assert re.fullmatch(r"m[0-9a-f]{10}", cmap.map_id)
    assert ids == sorted(ids)  # clusters are ordered by id


def test_same_input_in_another_order_gives_the_same_map(data, cmap):
    perm = np.random.default_rng(7).permutation(len(data.vectors))
    other = data.fit(order=perm)
    assert other.map_id == cmap.map_id
    assert other.cluster_ids == cmap.cluster_ids
    assert other.anchor_hashes == cmap.anchor_hashes
    np.testing.assert_array_equal(other.anchor_cluster, cmap.anchor_cluster)
    assert [c["area"] for c in other.clusters] == [c["area"] for c in cmap.clusters]


@pytest.fixture(scope="module")
def subsampled(data):
    config = MapConfig(sample_size=300, min_cluster_size=12, seed=0)
    perm = np.random.default_rng(3).permutation(len(data.vectors))
    return data.fit(config=config), data.fit(order=perm, config=config)


def test_subsample_draws_the_same_prompts_whatever_the_input_order(subsampled):
    a, b = subsampled
    assert len(a.anchor_hashes) == 300
    assert set(a.anchor_hashes) == set(b.anchor_hashes)
    assert a.map_id == b.map_id


def test_subsampled_map_is_identical_whatever_the_input_order(subsampled):
    a, b = subsampled
    assert a.anchor_hashes == b.anchor_hashes
    np.testing.assert_array_equal(a.anchor_cluster, b.anchor_cluster)


def test_fit_needs_twenty_prompts(data):
    idx = np.arange(19)
    with pytest.raises(ValueError, match="20"):
        fit_map(
            vectors=data.vectors[idx],
            hashes=[data.hashes[i] for i in idx],
            texts=[data.texts[i] for i in idx],
            exemplar_vectors=data.exemplar_vectors,
            exemplar_area=data.exemplar_area,
            context_vectors=np.zeros((0, DIM), np.float32),
            context_area=np.zeros(0, np.int32),
            areas=AREAS,
            config=CONFIG,
            meta=META,
        )


# --- assign -------------------------------------------------------------------------------
def test_assign_on_the_sample_agrees_with_hdbscan(cmap):
    got = assign(cmap, cmap.anchors.astype(np.float32))
    clustered = cmap.anchor_cluster >= 0
    assert (got.cluster[clustered] == cmap.anchor_cluster[clustered]).mean() >= 0.95
    assert got.distance.shape == (len(cmap.anchors),)
    assert np.all(got.distance < 1e-2)  # each anchor finds itself
    np.testing.assert_allclose(got.area_probs.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(got.area, got.area_probs.argmax(axis=1))


def test_noise_anchors_still_get_a_cluster_and_an_area(cmap):
    noise = np.flatnonzero(cmap.anchor_cluster < 0)
    # also force a whole cluster's anchors to noise, so no neighbour has a label
    forced = cmap.anchor_cluster.copy()
    forced[forced == 0] = -1
    variant = dataclasses.replace(cmap, anchor_cluster=forced)
    for m, rows in ((cmap, noise), (variant, np.flatnonzero(forced < 0))):
        if len(rows) == 0:
            continue
        got = assign(m, m.anchors[rows].astype(np.float32), knn=5)
        assert np.all((got.cluster >= 0) & (got.cluster < m.n_clusters))
        assert np.all((got.area >= 0) & (got.area < len(AREAS)))
        assert np.isfinite(got.area_probs).all()
    # orphans fall back to the nearest centroid: cluster 0's anchors go back to cluster 0
    rows = np.flatnonzero(cmap.anchor_cluster == 0)
    got = assign(variant, variant.anchors[rows].astype(np.float32), knn=5)
    assert (got.cluster == 0).mean() >= 0.95


def test_new_points_are_assigned_to_their_blobs_cluster(data, cmap, cluster_of_blob):
    rng = np.random.default_rng(11)
    queries = np.concatenate([_near(data.centers[b], 20, rng) for b in range(N_BLOBS)])
    truth = np.repeat([cluster_of_blob[b] for b in range(N_BLOBS)], 20)
    got = assign(cmap, queries)
    assert (got.cluster == truth).mean() >= 0.95
    areas = np.repeat(AREA_OF_BLOB, 20)
    assert (got.area == areas).mean() >= 0.95
    assert np.all(got.distance < 0.5)
    # far away points are placed too, with a large drift distance
    far = assign(cmap, _unit(rng.normal(size=(5, DIM))))
    assert far.distance.min() > got.distance.max()


def test_assign_in_blocks_matches_one_block(cmap, monkeypatch):
    A = importlib.import_module("targeting.capmap.assign")  # the package attribute is the function

    vectors = cmap.anchors[::3].astype(np.float32)
    whole = assign(cmap, vectors)
    monkeypatch.setattr(A, "BLOCK", 17)
    blocks = assign(cmap, vectors)
    np.testing.assert_array_equal(whole.cluster, blocks.cluster)
    np.testing.assert_allclose(whole.area_probs, blocks.area_probs, atol=1e-6)


def test_assign_zero_prompts(cmap):
    got = assign(cmap, np.zeros((0, DIM), np.float32))
    assert got.cluster.shape == (0,) and got.area.shape == (0,) and got.distance.shape == (0,)
    assert got.area_probs.shape == (0, len(AREAS))
    got = assign(cmap, np.zeros((0, DIM), np.float32), context_probs=np.zeros((0, len(AREAS))))
    assert got.area_probs.shape == (0, len(AREAS))
    assert exemplar_area_probs(np.zeros((0, DIM)), cmap.exemplar_vectors, cmap.exemplar_area, 4).shape == (0, 4)


def test_context_evidence_moves_the_area(data, cmap, cluster_of_blob):
    rng = np.random.default_rng(5)
    queries = _near(data.centers[3], 6, rng)  # "other" blob
    ctx = np.full((6, len(AREAS)), np.nan, dtype=np.float32)
    ctx[:3] = np.eye(len(AREAS), dtype=np.float32)[1]  # strong tool_use evidence
    plain = assign(cmap, queries)
    mixed = assign(cmap, queries, context_probs=ctx, context_weight=0.9)
    np.testing.assert_array_equal(plain.cluster, mixed.cluster)
    np.testing.assert_allclose(mixed.area_probs[3:], plain.area_probs[3:])
    assert (mixed.area[:3] == 1).all() and (plain.area == 3).all()
    # context vectors near the tool_use exemplars point to tool_use
    probs = context_area_probs(cmap, _near(data.centers[1], 4, rng, 0.3))
    assert (probs.argmax(axis=1) == 1).all()


# --- exemplar probabilities and context mixing --------------------------------------------
def test_exemplar_area_probs_rows_sum_to_one(data):
    rng = np.random.default_rng(2)
    vectors = np.concatenate([_unit(rng.normal(size=(10, DIM))), data.vectors[:10]])
    probs = exemplar_area_probs(vectors, data.exemplar_vectors, data.exemplar_area, len(AREAS))
    assert probs.shape == (20, len(AREAS)) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    # blob 0 is a reasoning blob
    assert (probs[10:].argmax(axis=1) == AREA_OF_BLOB[0]).all()


def test_exemplar_area_probs_with_an_area_without_exemplars(data):
    keep = data.exemplar_area != 2
    probs = exemplar_area_probs(data.vectors[:50], data.exemplar_vectors[keep], data.exemplar_area[keep], 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert probs[:, 2].max() < 1e-3


def test_mix_context_only_changes_rows_with_context():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    ctx = rng.dirichlet(np.ones(4), size=6).astype(np.float32)
    ctx[[1, 4]] = np.nan
    ctx[5, 2] = np.nan  # any NaN in a row means no context
    before = probs.copy()
    mixed = mix_context(probs, ctx, 0.35)
    np.testing.assert_array_equal(probs, before)  # input not modified
    for r in (1, 4, 5):
        np.testing.assert_array_equal(mixed[r], probs[r])
    for r in (0, 2, 3):
        np.testing.assert_allclose(mixed[r], 0.65 * probs[r] + 0.35 * ctx[r], rtol=1e-6)
        assert not np.allclose(mixed[r], probs[r])
    np.testing.assert_allclose(mixed.sum(axis=1), 1.0, atol=1e-5)

    per_row = mix_context(probs, ctx, np.array([0.1, 0.2, 0.5, 0.9, 0.3, 0.4], dtype=np.float32))
    np.testing.assert_allclose(per_row[0], 0.9 * probs[0] + 0.1 * ctx[0], rtol=1e-6)
    np.testing.assert_allclose(per_row[3], 0.1 * probs[3] + 0.9 * ctx[3], rtol=1e-6)
    np.testing.assert_array_equal(per_row[4], probs[4])


def test_a_map_names_the_cut_of_the_contexts_it_was_fitted_with(data, cmap):
    """Context vectors are cached under a key that names the cut (``[map] context_pieces``) of
    the map they serve; a map fitted before the setting reads the whole contexts' vectors,
    cached under the bare context hash, as it always did."""
    assert context_pieces(cmap) == MapConfig().context_pieces == 0
    assert context_key("abc", 32) == "abc-p32" and context_key("abc", 0) == "abc"
    params = {k: v for k, v in cmap.meta["params"].items() if k != "context_pieces"}
    older = dataclasses.replace(cmap, meta=dict(cmap.meta, params=params))
    assert context_pieces(older) == 0
    cmap = dataclasses.replace(cmap, meta=dict(cmap.meta, params=dict(params, context_pieces=32)))
    assert context_pieces(cmap) == 32
    rng = np.random.default_rng(4)
    prompt, ctx_vec = _near(data.centers[3], 1, rng)[0], _near(data.centers[1], 1, rng, 0.3)[0]
    requests = pd.DataFrame({
        S.REQUEST_ID: ["r1"], S.ACCOUNT_ID: ["a"], S.TIMESTAMP: pd.to_datetime(["2026-01-01"], utc=True),
        S.PROMPT_HASH: ["p"], S.CONTEXT_HASH: ["c"], S.DATE: ["2026-01-01"],
    })
    only_context = MapConfig(context_weight=1.0)
    for m, key in ((cmap, "c-p32"), (older, "c")):
        assert assign_requests(m, requests, {"p": prompt, key: ctx_vec}, DIM, only_context)[S.AREA].tolist() == [
            AREAS[1]]
        # the other cut's vector is not this map's: no context evidence, the prompt's area
        other = "c" if key != "c" else "c-p32"
        assert assign_requests(m, requests, {"p": prompt, other: ctx_vec}, DIM, only_context)[S.AREA].tolist() == [
            AREAS[3]]


def test_declares_tools():
    tools = pd.Series([None, "", "[]", '[{"name": "get_weather", "description": "Weather"}]', "not json",
                       '{"name": "search"}', float("nan")])
    assert declares_tools(tools).tolist() == [False, False, False, True, False, True, False]


def test_a_declared_tool_set_weighs_more_than_a_system_prompt(data, cmap):
    """Two requests of the same prompt and the same context vector: the one whose context
    declares tools takes ``tools_context_weight``, the other ``context_weight``."""
    rng = np.random.default_rng(9)
    prompt, ctx_vec = _near(data.centers[3], 1, rng)[0], _near(data.centers[1], 1, rng, 0.3)[0]
    pieces = context_pieces(cmap)
    store = {"p": prompt, context_key("c-sys", pieces): ctx_vec, context_key("c-tools", pieces): ctx_vec}
    requests = pd.DataFrame({
        S.REQUEST_ID: ["r1", "r2", "r3"], S.ACCOUNT_ID: ["a"] * 3,
        S.TIMESTAMP: pd.to_datetime(["2026-01-01"] * 3, utc=True), S.PROMPT_HASH: ["p"] * 3,
        S.CONTEXT_HASH: ["c-sys", "c-tools", None],
        S.TOOLS: [None, '[{"name": "book_flight", "description": "Books a flight"}]', None],
        S.DATE: ["2026-01-01"] * 3,
    })
    config = MapConfig(context_weight=0.0, tools_context_weight=1.0)
    got = assign_requests(cmap, requests, store, DIM, config)
    assert got[S.AREA].tolist() == [AREAS[3], AREAS[1], AREAS[3]]
    # without a tools column every context takes the system prompt's weight
    got = assign_requests(cmap, requests.drop(columns=[S.TOOLS]), store, DIM, config)
    assert got[S.AREA].tolist() == [AREAS[3]] * 3
    # a night's slim requests carry the flag instead of the text (ingest_night), the same areas
    contexts = requests.loc[requests[S.CONTEXT_HASH].notna(), [S.CONTEXT_HASH, S.TOOLS]]
    slim = with_tools_declared(requests.drop(columns=[S.TOOLS]), contexts)
    assert slim[TOOLS_DECLARED].tolist() == [False, True, False]
    assert assign_requests(cmap, slim, store, DIM, config)[S.AREA].tolist() == [AREAS[3], AREAS[1], AREAS[3]]
    # stored rows (tools text) and slim rows (flag) assigned together, as a refit does
    mixed = pd.concat([requests.iloc[[0]], slim.iloc[[1, 2]]], ignore_index=True)
    assert assign_requests(cmap, mixed, store, DIM, config)[S.AREA].tolist() == [AREAS[3], AREAS[1], AREAS[3]]


# --- an area teacher -------------------------------------------------------------------------
def test_an_area_teacher_labels_the_anchors_a_fast_encoder_places_prompts_among(data, tmp_path):
    """A fast encoder that keeps neighbourhoods but misreads the taxonomy's exemplars (a static
    model sees their topic words) gets every blob's area wrong alone; with a teacher (another
    space, here a rotation, reading the exemplars right) the anchors carry the teacher's areas
    and new prompts take their nearest anchors'. The clusters stay the fast encoder's own."""
    rng = np.random.default_rng(11)
    rotation = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0].astype(np.float32)
    wrong = np.concatenate([_near(data.centers[(b + 1) % N_BLOBS], 6, rng, spread=0.3) for b in range(N_BLOBS)])
    fit = dict(vectors=data.vectors, hashes=data.hashes, texts=data.texts, exemplar_vectors=wrong,
               exemplar_area=data.exemplar_area, context_vectors=data.context_vectors,
               context_area=data.context_area, areas=AREAS, config=CONFIG, meta=META)
    teacher = AreaTeacher(model_key="teacher", vectors=data.vectors @ rotation,
                          exemplar_vectors=data.exemplar_vectors @ rotation)
    alone, taught = fit_map(**fit), fit_map(**fit, teacher=teacher)
    assert not alone.taught and taught.taught and taught.map_id != alone.map_id
    assert taught.anchor_area_probs.shape == (len(taught.anchors), len(AREAS))
    assert taught.meta["area_teacher"] == "teacher"
    queries = np.concatenate([_near(data.centers[b], 20, rng) for b in range(N_BLOBS)])
    truth = np.repeat(AREA_OF_BLOB, 20)
    assert (assign(alone, queries).area == truth).mean() < 0.5  # the premise: alone it misreads
    assert (assign(taught, queries).area == truth).mean() > 0.95
    np.testing.assert_array_equal(taught.anchor_cluster, alone.anchor_cluster)
    # the clusters carry the teacher's areas too
    blob = data.blob_of_anchors(taught)
    for c, cluster in enumerate(taught.clusters):
        members = blob[taught.anchor_cluster == c]
        assert cluster["area"] == AREAS[AREA_OF_BLOB[np.bincount(members[members >= 0]).argmax()]]
    folder = tmp_path / taught.map_id
    save_map(taught, folder)
    again = load_map(folder)
    np.testing.assert_array_equal(again.anchor_area_probs, taught.anchor_area_probs)
    (folder / "anchor_area_probs.npy").unlink()  # a map saved before teachers
    assert not load_map(folder).taught


# --- save / load --------------------------------------------------------------------------
def test_save_load_round_trip(cmap, tmp_path):
    folder = tmp_path / "maps" / cmap.map_id
    save_map(cmap, folder)
    names = {p.name for p in folder.iterdir()}
    assert {f"{a}.npy" for a in ARRAYS + OPTIONAL_ARRAYS} | {"map.json", "README.md"} == names
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.pickle"))
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for name in ARRAYS:
        arr = np.load(folder / f"{name}.npy", allow_pickle=False)
        assert arr.dtype != object
    assert cmap.map_id in (folder / "README.md").read_text()

    loaded = load_map(folder)
    assert loaded.map_id == cmap.map_id
    assert loaded.areas == cmap.areas
    assert loaded.anchor_hashes == cmap.anchor_hashes
    assert loaded.clusters == cmap.clusters
    assert loaded.cluster_ids == cmap.cluster_ids
    assert loaded.meta == json.loads(json.dumps(cmap.meta, default=str))
    for name in ARRAYS:
        a, b = getattr(cmap, name), getattr(loaded, name)
        assert a.dtype == b.dtype, name
        np.testing.assert_array_equal(a, b, err_msg=name)
    # the loaded map assigns exactly like the fitted one
    q = cmap.anchors[::5].astype(np.float32)
    x, y = assign(cmap, q), assign(loaded, q)
    np.testing.assert_array_equal(x.cluster, y.cluster)
    np.testing.assert_allclose(x.area_probs, y.area_probs, atol=1e-6)


def test_load_map_rejects_unknown_format(cmap, tmp_path):
    save_map(cmap, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "map.json").read_text())
    doc["format_version"] = 99
    (tmp_path / "m" / "map.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="format"):
        load_map(tmp_path / "m")


# --- labels (phrases) ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def labelled(data, cmap) -> tuple[CapabilityMap, list[int]]:
    """``cmap`` named by the fit stage's ``label_clusters``, with an encoder that places a phrase
    at the centre of the blob whose word it holds (elsewhere at random); and the batch sizes
    it was called with."""
    calls: list[int] = []

    def encode(texts):
        calls.append(len(texts))
        rng = np.random.default_rng(len(texts))
        return _unit(np.stack([
            next((data.centers[b] for b, w in enumerate(WORDS) if w in t), rng.normal(size=DIM)) for t in texts
        ]))

    return label_clusters(cmap, data.hashes, data.texts, encode), calls


def test_the_fit_stage_names_each_cluster_by_its_topic_in_one_encode_batch(cmap, labelled, cluster_of_blob):
    named, calls = labelled
    assert len(calls) == 1 and calls[0] > 0  # every cluster's candidates in one batch
    for b, c in cluster_of_blob.items():
        phrases = named.clusters[c]["phrases"]
        assert 1 <= len(phrases) <= 5 and WORDS[b] in phrases[0], (b, phrases)
        assert len(set(phrases)) == len(phrases)
        assert not any(w in p for p in phrases for w in set(WORDS) - {WORDS[b]}), (b, phrases)
        assert cluster_terms(named.clusters[c]) == phrases
    assert not any(re.search(r"\d", p) for c in named.clusters for p in c["phrases"])  # "number 17"
    # only the phrases are new: ids, keywords, arrays and the map id are the fit's
    assert [{k: v for k, v in c.items() if k != "phrases"} for c in named.clusters] == list(cmap.clusters)
    assert named.map_id == cmap.map_id and named.centroids is cmap.centroids


def test_phrases_round_trip_and_an_old_map_without_them_still_loads_and_shows_keywords(labelled, tmp_path):
    named, _ = labelled
    save_map(named, tmp_path / "new")
    loaded = load_map(tmp_path / "new")
    assert loaded.clusters == named.clusters
    assert [cluster_terms(c) for c in loaded.clusters] == [c["phrases"] for c in named.clusters]
    # a map saved before phrases existed: same format version, no "phrases" on its clusters
    save_map(named, tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "map.json").read_text())
    for cluster in doc["clusters"]:
        del cluster["phrases"]
    (tmp_path / "old" / "map.json").write_text(json.dumps(doc))
    old = load_map(tmp_path / "old")
    assert all("phrases" not in c for c in old.clusters)
    assert [cluster_terms(c) for c in old.clusters] == [c["keywords"] for c in named.clusters]
    assert all(cluster_terms(c) for c in old.clusters)


# --- taxonomy -----------------------------------------------------------------------------
def test_default_taxonomy():
    tax = load_taxonomy()
    assert tax.areas == DEFAULT_AREAS
    assert tax.fallback_area == "other"
    assert tax.elicited_area == "reasoning"
    assert tax.source == str(DEFAULT_TAXONOMY)
    for area in tax.areas:
        assert sum(e.area == area for e in tax.exemplars) >= 100, area
    assert all(e.prompt.strip() for e in tax.exemplars)
    with_tools = [e for e in tax.exemplars if e.area == "tool_use" and e.context]
    assert len(with_tools) >= 50
    assert any("Tools available" in e.context for e in with_tools)
    assert tax.area_index("tool_use") == 1


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": {}}},
    },
}


def test_context_text():
    text = context_text("You are a coding agent.", json.dumps([WEATHER_TOOL]))
    assert "System: You are a coding agent." in text
    assert "get_weather(city, unit)" in text
    assert "Current weather" in text
    assert context_text(None, [WEATHER_TOOL]).startswith("Tools available: get_weather")
    assert context_text("  sys  ", None) == "System: sys"
    assert context_text(None, None) is None
    assert context_text("   ", "[]") is None
    assert context_text("", "not json") is None
    assert context_text("s", "not json") == "System: s"
    assert tool_lines({"name": "bare", "description": "d"}) == ["bare(): d"]
    assert tool_lines(42) == []
    long = context_text("x" * 5000, None)
    assert len(long) < 2000


def _write_taxonomy(folder, spec, exemplar_files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in exemplar_files.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    path = folder / "taxonomy.json"
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return path


GOOD_SPEC = {"areas": [{"name": "a", "exemplars": "a.jsonl"}, {"name": "b", "exemplars": "b.jsonl"}]}
GOOD_FILES = {
    "a.jsonl": [json.dumps({"prompt": "solve x"}), "", json.dumps({"prompt": "p", "system": "s"})],
    "b.jsonl": [json.dumps({"prompt": "call it", "tools": [WEATHER_TOOL]})],
}


def test_custom_taxonomy(tmp_path):
    tax = load_taxonomy(_write_taxonomy(tmp_path / "t", GOOD_SPEC, GOOD_FILES))
    assert tax.areas == ("a", "b")
    assert tax.fallback_area == "b"  # the last area when not given
    assert tax.elicited_area is None  # nothing moves between areas when not given
    assert [e.area for e in tax.exemplars] == ["a", "a", "b"]
    assert tax.exemplars[0].context is None
    assert tax.exemplars[1].context == "System: s"
    assert "get_weather" in tax.exemplars[2].context


@pytest.mark.parametrize(
    "spec, files, needle",
    [
        ("{not json", GOOD_FILES, "taxonomy.json"),
        ({"areas": [{"exemplars": "a.jsonl"}]}, GOOD_FILES, "taxonomy.json"),
        ({**GOOD_SPEC, "fallback_area": "zzz"}, GOOD_FILES, "zzz"),
        ({**GOOD_SPEC, "elicited_area": "yyy"}, GOOD_FILES, "elicited_area 'yyy'"),
        ({"areas": [{"name": "a", "exemplars": "missing.jsonl"}]}, GOOD_FILES, "missing.jsonl"),
        (GOOD_SPEC, {**GOOD_FILES, "b.jsonl": ["{broken"]}, r"b\.jsonl, line 1"),
        (GOOD_SPEC, {**GOOD_FILES, "b.jsonl": ["", json.dumps({"text": "no prompt"})]}, r"b\.jsonl, line 2"),
        (GOOD_SPEC, {**GOOD_FILES, "b.jsonl": ["", "  "]}, "without exemplars: b"),
    ],
)
def test_malformed_taxonomy_raises_naming_the_file(tmp_path, spec, files, needle):
    path = _write_taxonomy(tmp_path / "t", spec, files)
    with pytest.raises(TaxonomyError, match=needle):
        load_taxonomy(path)


def test_missing_taxonomy_file(tmp_path):
    with pytest.raises(TaxonomyError, match="nope.json"):
        load_taxonomy(tmp_path / "nope.json")
    assert issubclass(TaxonomyError, ValueError)


def test_area_without_exemplars_entry_raises_taxonomy_error(tmp_path):
    path = _write_taxonomy(tmp_path / "t", {"areas": [{"name": "a"}]}, {})
    with pytest.raises(TaxonomyError, match="taxonomy.json"):
        load_taxonomy(path)


# --- keywords -----------------------------------------------------------------------------
def test_cluster_keywords_on_a_tiny_corpus():
    texts = [
        "banana smoothie recipe",
        "banana bread recipe with walnuts",
        "frozen banana smoothie",
        "diesel engine repair",
        "engine torque and diesel injectors",
        "repair the engine mount",
        "banana engine nonsense 42",  # noise
    ]
    labels = np.array([0, 0, 0, 1, 1, 1, -1])
    kw = cluster_keywords(texts, labels, 2)
    assert len(kw) == 2
    assert kw[0][0] == "banana" and set(kw[0]) <= {"banana", "smoothie", "recipe"}
    assert kw[1][0] == "engine" and set(kw[1]) <= {"engine", "diesel", "repair"}
    assert "walnuts" not in kw[0]  # appears in one prompt only
    assert not {"with", "and", "the"} & set(kw[0] + kw[1])  # stop words


def test_cluster_keywords_without_vocabulary():
    assert cluster_keywords(["1 2 3", "a b", "42"], np.array([0, 1, 1]), 2) == [[], []]
