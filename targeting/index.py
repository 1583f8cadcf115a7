"""FAISS index over the workspace's prompt vectors: build, save, load, search.

Exact inner product (cosine on unit vectors) up to ``IVF_THRESHOLD`` vectors; above it an
IVF index with ``nprobe`` lists searched, trained on a sample. The index is saved with
FAISS's own binary format next to the prompt hashes of its rows (Parquet).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

IVF_THRESHOLD = 200_000
IVF_NPROBE = 16
INDEX_FILE = "prompts.faiss"
IDS_FILE = "prompt_hashes.parquet"


@dataclass(frozen=True)
class PromptIndex:
    index: faiss.Index
    hashes: np.ndarray  # (n,) prompt hash of each row

    @property
    def size(self) -> int:
        return int(self.index.ntotal)


def build_index(hashes: np.ndarray, vectors: np.ndarray, seed: int = 0) -> PromptIndex:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    if n <= IVF_THRESHOLD:
        index: faiss.Index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(4 * np.sqrt(n))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        train = vectors[rng.choice(n, min(n, 50 * nlist), replace=False)]
        index.train(train)
        index.nprobe = IVF_NPROBE
    index.add(vectors)
    return PromptIndex(index=index, hashes=np.asarray(hashes))


def save_index(pindex: PromptIndex, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    faiss.write_index(pindex.index, str(folder / INDEX_FILE))
    pq.write_table(pa.table({"prompt_hash": pa.array(pindex.hashes, type=pa.string())}), folder / IDS_FILE)
    for name in (INDEX_FILE, IDS_FILE):
        os.chmod(folder / name, 0o600)


def load_index(folder: Path) -> PromptIndex:
    index = faiss.read_index(str(folder / INDEX_FILE))
    if hasattr(index, "nprobe"):
        index.nprobe = IVF_NPROBE
    hashes = pq.read_table(folder / IDS_FILE).column("prompt_hash").to_numpy(zero_copy_only=False)
    return PromptIndex(index=index, hashes=hashes)


def search(pindex: PromptIndex, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Nearest stored prompts for each query vector: (similarities, prompt hashes)."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = min(k, pindex.size)
    if k == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), object)
    sims, ids = pindex.index.search(queries, k)
    return sims, pindex.hashes[np.maximum(ids, 0)]
