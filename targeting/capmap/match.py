"""Matching a refitted map's clusters to the previous map's, so cluster ids survive a refit.

Each map places the other's anchors through the one assignment path (``assign``): old
anchors onto the new clusters and new anchors onto the old ones. The overlap of an old
cluster ``o`` and a new cluster ``n`` is the share of both clusters' anchors that land in
the other one::

    overlap(o, n) = (#old anchors of o placed in n + #new anchors of n placed in o)
                    / (size(o) + size(n))

1 when the two clusters cover the same prompts, 0 when disjoint. A new cluster takes the
old id when the two are each other's best match and their overlap is at least
``min_overlap``; other new clusters keep their own content-derived ids. The matching is
one-to-one, so ids stay unique and history (assignments, scores, analyst verdicts) keeps
meaning the same region of prompt space.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from targeting.capmap.assign import assign
from targeting.capmap.model import CapabilityMap


@dataclass(frozen=True)
class ClusterMatch:
    new_to_old: dict[str, str]  # new content id -> old id it takes
    overlap: dict[str, float]  # new content id -> overlap with its matched old cluster
    n_old: int
    n_new: int

    @property
    def matched(self) -> int:
        return len(self.new_to_old)


def cluster_overlap(old: CapabilityMap, new: CapabilityMap, knn: int = 10) -> np.ndarray:
    """(n_old, n_new) overlap matrix (see the module docstring)."""
    counts = np.zeros((old.n_clusters, new.n_clusters), dtype=np.float64)
    old_members = old.anchor_cluster >= 0
    new_members = new.anchor_cluster >= 0
    if old_members.any():
        placed = assign(new, np.asarray(old.anchors[old_members], dtype=np.float32), knn=knn).cluster
        np.add.at(counts, (old.anchor_cluster[old_members], placed), 1.0)
    if new_members.any():
        placed = assign(old, np.asarray(new.anchors[new_members], dtype=np.float32), knn=knn).cluster
        np.add.at(counts, (placed, new.anchor_cluster[new_members]), 1.0)
    size_old = np.bincount(old.anchor_cluster[old_members], minlength=old.n_clusters).astype(np.float64)
    size_new = np.bincount(new.anchor_cluster[new_members], minlength=new.n_clusters).astype(np.float64)
    return counts / np.maximum(size_old[:, None] + size_new[None, :], 1.0)


def match_clusters(old: CapabilityMap, new: CapabilityMap, *, min_overlap: float = 0.5,
                   knn: int = 10) -> ClusterMatch:
    """Mutual best matches between old and new clusters with overlap >= ``min_overlap``."""
    if old.n_clusters == 0 or new.n_clusters == 0 or old.anchors.shape[1] != new.anchors.shape[1]:
        return ClusterMatch({}, {}, old.n_clusters, new.n_clusters)
    overlap = cluster_overlap(old, new, knn=knn)
    best_new = overlap.argmax(axis=1)  # for each old cluster
    best_old = overlap.argmax(axis=0)  # for each new cluster
    new_to_old, scores = {}, {}
    old_ids, new_ids = old.cluster_ids, new.cluster_ids
    for n in range(new.n_clusters):
        o = int(best_old[n])
        if int(best_new[o]) == n and overlap[o, n] >= min_overlap:
            new_to_old[new_ids[n]] = old_ids[o]
            scores[new_ids[n]] = round(float(overlap[o, n]), 4)
    return ClusterMatch(new_to_old, scores, old.n_clusters, new.n_clusters)


def carry_ids(new: CapabilityMap, match: ClusterMatch, previous_map_id: str) -> CapabilityMap:
    """``new`` with matched clusters renamed to their old ids (a record of it kept in meta)."""
    taken = set(match.new_to_old.values())
    clusters = []
    for cluster in new.clusters:
        cid = cluster["cluster_id"]
        if cid in match.new_to_old:
            clusters.append(dict(cluster, cluster_id=match.new_to_old[cid], fitted_id=cid,
                                 match_overlap=match.overlap[cid]))
        else:
            if cid in taken:  # would collide with a carried id (a hash clash): keep it distinct
                cid = f"{cid}n"
            clusters.append(dict(cluster, cluster_id=cid))
    meta = dict(new.meta, matched_from={
        "map_id": previous_map_id, "matched": match.matched, "old_clusters": match.n_old,
        "new_clusters": match.n_new,
    })
    return dataclasses.replace(new, clusters=tuple(clusters), meta=meta)
