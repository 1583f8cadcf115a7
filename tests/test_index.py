"""The FAISS prompt index: nearest neighbours, save/load, the IVF path."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

import targeting.index as I


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _blobs(n_blobs: int, per: int, dim: int, spread: float, seed: int):
    rng = np.random.default_rng(seed)
    centers = _unit(rng.normal(size=(n_blobs, dim)))
    vectors = _unit(
        np.repeat(centers, per, axis=0) + spread * rng.normal(size=(n_blobs * per, dim)) / np.sqrt(dim)
    )
    labels = np.repeat(np.arange(n_blobs), per)
    hashes = np.array([f"h{b}-{i:05d}" for i, b in enumerate(labels)], dtype=object)
    return centers, vectors, labels, hashes, rng


@pytest.fixture(scope="module")
def blobs():
    return _blobs(n_blobs=5, per=60, dim=32, spread=0.4, seed=0)


def test_flat_index_finds_each_stored_vector_first(blobs):
    _, vectors, _, hashes, _ = blobs
    pindex = I.build_index(hashes, vectors)
    assert pindex.size == len(vectors)
    assert isinstance(pindex.index, faiss.IndexFlatIP)
    sims, found = I.search(pindex, vectors, k=5)
    assert sims.shape == (len(vectors), 5) and found.shape == (len(vectors), 5)
    assert (found[:, 0] == hashes).all()
    assert np.all(sims[:, 0] > 0.999)
    assert np.all(np.diff(sims, axis=1) <= 1e-6)  # best first


def test_neighbours_of_new_points_come_from_their_blob(blobs):
    centers, vectors, labels, hashes, _ = blobs
    rng = np.random.default_rng(1)
    pindex = I.build_index(hashes, vectors)
    queries = _unit(np.repeat(centers, 4, axis=0) + 0.4 * rng.normal(size=(20, 32)) / np.sqrt(32))
    qlabels = np.repeat(np.arange(5), 4)
    sims, found = I.search(pindex, queries, k=10)
    blob_of = {h: b for h, b in zip(hashes, labels)}
    found_blobs = np.vectorize(blob_of.get)(found)
    assert (found_blobs == qlabels[:, None]).mean() >= 0.99
    # matches the brute-force answer
    brute = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    assert (found[:, 0] == hashes[brute[:, 0]]).all()


def test_search_accepts_one_vector_and_caps_k(blobs):
    _, vectors, _, hashes, _ = blobs
    pindex = I.build_index(hashes[:3], vectors[:3])
    sims, found = I.search(pindex, vectors[1], k=10)
    assert sims.shape == (1, 3)
    assert found[0, 0] == hashes[1]
    assert set(found[0]) == set(hashes[:3])


def test_search_on_empty_index():
    pindex = I.build_index(np.array([], dtype=object), np.zeros((0, 16), np.float32))
    assert pindex.size == 0
    sims, found = I.search(pindex, np.ones((2, 16), np.float32), k=5)
    assert sims.shape == (2, 0) and found.shape == (2, 0)


def test_save_load_round_trip(blobs, tmp_path):
    _, vectors, _, hashes, _ = blobs
    pindex = I.build_index(hashes, vectors)
    folder = tmp_path / "index" / "m1"
    I.save_index(pindex, folder)
    assert (folder / I.INDEX_FILE).exists() and (folder / I.IDS_FILE).exists()
    loaded = I.load_index(folder)
    assert loaded.size == pindex.size
    assert list(loaded.hashes) == list(hashes)
    queries = vectors[::7] * 0.9 + vectors[1::7][: len(vectors[::7])] * 0.1
    s1, h1 = I.search(pindex, queries, k=8)
    s2, h2 = I.search(loaded, queries, k=8)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_allclose(s1, s2, rtol=0, atol=1e-6)


@pytest.fixture
def ivf(monkeypatch):
    monkeypatch.setattr(I, "IVF_THRESHOLD", 100)
    _, vectors, labels, hashes, _ = _blobs(n_blobs=8, per=250, dim=32, spread=0.6, seed=2)
    return vectors, labels, hashes, I.build_index(hashes, vectors, seed=0)


def test_ivf_path_finds_stored_vectors_first(ivf):
    vectors, _, hashes, pindex = ivf
    assert isinstance(faiss.downcast_index(pindex.index), faiss.IndexIVFFlat)
    assert pindex.size == len(vectors)
    sims, found = I.search(pindex, vectors, k=5)
    assert (found[:, 0] == hashes).mean() >= 0.95
    assert np.median(sims[:, 0]) > 0.999


def test_ivf_save_load_keeps_results(ivf, tmp_path):
    vectors, _, hashes, pindex = ivf
    I.save_index(pindex, tmp_path / "ivf")
    loaded = I.load_index(tmp_path / "ivf")
    assert faiss.downcast_index(loaded.index).nprobe == I.IVF_NPROBE
    queries = vectors[::13]
    s1, h1 = I.search(pindex, queries, k=5)
    s2, h2 = I.search(loaded, queries, k=5)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_allclose(s1, s2, atol=1e-6)
    assert (h2[:, 0] == hashes[::13]).mean() >= 0.95


def test_ivf_build_is_deterministic(monkeypatch):
    monkeypatch.setattr(I, "IVF_THRESHOLD", 100)
    _, vectors, _, hashes, _ = _blobs(n_blobs=4, per=150, dim=32, spread=0.6, seed=3)
    a = I.build_index(hashes, vectors, seed=5)
    b = I.build_index(hashes, vectors, seed=5)
    q = vectors[::11]
    np.testing.assert_array_equal(I.search(a, q, 5)[1], I.search(b, q, 5)[1])
