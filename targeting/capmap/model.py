"""The fitted capability map and its on-disk form: ``.npy`` arrays + ``map.json``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ARRAYS = (
    "anchors",
    "anchor_cluster",
    "centroids",
    "cluster_area_probs",
    "exemplar_vectors",
    "exemplar_area",
    "context_vectors",
    "context_area",
    "anchor_xy",
)
OPTIONAL_ARRAYS = ("anchor_area_probs",)  # absent from maps fitted before them: empty when loaded
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CapabilityMap:
    """Everything needed to place a prompt on the map, without re-fitting or re-embedding.

    Clusters are indexed 0..C-1 in the arrays; ``clusters[i]["cluster_id"]`` is the
    stable, content-derived id shown to users.
    """

    map_id: str
    areas: tuple[str, ...]
    anchors: np.ndarray  # (A, d) float16 unit vectors of the fitted sample
    anchor_hashes: tuple[str, ...]  # prompt hash of each anchor
    anchor_cluster: np.ndarray  # (A,) int32, -1 = HDBSCAN noise
    anchor_xy: np.ndarray  # (A, 2) float32 2-D layout for display
    centroids: np.ndarray  # (C, d) float32 unit mean direction of each cluster
    cluster_area_probs: np.ndarray  # (C, n_areas) float32
    # id, size, keywords, area, representatives, examples; phrases (capmap.labels) where the
    # fit named its clusters: maps fitted before phrases lack it and show their keywords
    clusters: tuple[dict[str, Any], ...]
    exemplar_vectors: np.ndarray  # (E, d) float16
    exemplar_area: np.ndarray  # (E,) int32 index into areas
    context_vectors: np.ndarray  # (K, d) float16 exemplar contexts (system + tools)
    context_area: np.ndarray  # (K,) int32
    meta: dict[str, Any] = field(default_factory=dict)  # model id, weights sha, params, versions
    # (A, n_areas) float16: each anchor's area probabilities as an area teacher (a slower, more
    # accurate encoder: ``capmap.fit.AreaTeacher``) sees them; a prompt then takes its nearest
    # anchors' instead of its own similarity to the exemplars. (0, 0) for a map without one.
    anchor_area_probs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float16))

    @property
    def cluster_ids(self) -> list[str]:
        return [c["cluster_id"] for c in self.clusters]

    @property
    def taught(self) -> bool:
        """Whether an area teacher labelled the anchors (``anchor_area_probs``)."""
        return len(self.anchor_area_probs) > 0 and len(self.anchor_area_probs) == len(self.anchors)

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    def cluster_area_index(self) -> np.ndarray:
        return np.array([self.areas.index(c["area"]) for c in self.clusters], dtype=np.int32)


def save_map(cmap: CapabilityMap, folder: Path) -> None:
    """Write the map as arrays + JSON (no pickle) with a short README beside it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    for name in ARRAYS + OPTIONAL_ARRAYS:
        np.save(folder / f"{name}.npy", getattr(cmap, name), allow_pickle=False)
    doc = {
        "format_version": FORMAT_VERSION,
        "map_id": cmap.map_id,
        "areas": list(cmap.areas),
        "anchor_hashes": list(cmap.anchor_hashes),
        "clusters": list(cmap.clusters),
        "meta": cmap.meta,
    }
    (folder / "map.json").write_text(json.dumps(doc, indent=1, sort_keys=True, default=str))
    (folder / "README.md").write_text(
        f"# Capability map {cmap.map_id}\n\n"
        f"{cmap.n_clusters} clusters over {len(cmap.anchor_hashes)} anchor prompts, "
        f"areas: {', '.join(cmap.areas)}.\n"
        f"Embedding model: {cmap.meta.get('model_id')} (weights sha256 "
        f"{cmap.meta.get('weights_sha256')}).\n\n"
        "Arrays are NumPy .npy files (allow_pickle=False); map.json holds the clusters and "
        "metadata. Load with `targeting.capmap.load_map(folder)`.\n"
    )
    for path in folder.iterdir():
        os.chmod(path, 0o600)


def map_areas(folder: Path) -> tuple[str, ...]:
    """The capability areas of the map saved in ``folder`` (its taxonomy's), without its arrays."""
    return tuple(str(a) for a in json.loads((folder / "map.json").read_text())["areas"])


def load_map(folder: Path) -> CapabilityMap:
    doc = json.loads((folder / "map.json").read_text())
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{folder}: unsupported map format {doc.get('format_version')}")
    arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in ARRAYS}
    arrays |= {name: np.load(folder / f"{name}.npy", allow_pickle=False)
               for name in OPTIONAL_ARRAYS if (folder / f"{name}.npy").exists()}
    return CapabilityMap(
        map_id=doc["map_id"],
        areas=tuple(doc["areas"]),
        anchor_hashes=tuple(doc["anchor_hashes"]),
        clusters=tuple(doc["clusters"]),
        meta=doc["meta"],
        **arrays,
    )
