"""The capability map in reports and case files: where a group's requests fall on it, and
the ordinary accounts of the same area and volume shown beside a campaign."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting import workspace as W
from targeting.capmap.labels import cluster_terms
from targeting.peers import campaign_sample, typical_accounts
from targeting.report import charts as C


@dataclass(frozen=True)
class BesideMap:
    """A campaign's reached clusters beside those of ordinary accounts of its area and volume
    (``charts.beside_map_chart``)."""

    background: pd.DataFrame  # x, y of a stable sample of the map's prompts
    subject: pd.DataFrame  # x, y, area, requests, label: the clusters the campaign reaches
    typical: pd.DataFrame  # the same for the typical accounts
    subject_title: str
    typical_title: str


def map_layers(cmap, clusters: pd.DataFrame, *, sample: int = C.MAP_BACKGROUND) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(background, reached) for ``charts.case_map_chart``: a stable sample of the map's 2-D
    layout, and each reached cluster at the centre of its anchors with its topic phrases.
    ``clusters``: cluster_id, area, requests."""
    xy = np.asarray(cmap.anchor_xy, dtype=np.float32)
    labels = np.asarray(cmap.anchor_cluster)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(xy), sample, replace=False)) if len(xy) > sample else np.arange(len(xy))
    background = pd.DataFrame({"x": xy[pick, 0], "y": xy[pick, 1]})
    index = {c["cluster_id"]: i for i, c in enumerate(cmap.clusters)}
    rows = []
    for c in clusters.itertuples():
        i = index.get(c.cluster_id)
        if i is None or not (labels == i).any():
            continue
        centre = xy[labels == i].mean(axis=0)
        words = ", ".join(cluster_terms(cmap.clusters[i])[:2])  # phrases run longer than keywords
        rows.append({"x": float(centre[0]), "y": float(centre[1]), "area": c.area, "requests": int(c.requests),
                     "label": words})
    return background, pd.DataFrame(rows, columns=["x", "y", "area", "requests", "label"])


def reached_clusters(ws: W.Workspace, accounts: list[str], cmap) -> pd.DataFrame:
    """Requests per cluster of ``accounts``: cluster_id, area, keywords, requests (most first)."""
    rows = W.assignments_of(ws, accounts, ["cluster_id", "area"]).to_pandas()
    if rows.empty:
        return pd.DataFrame(columns=["cluster_id", "area", "keywords", "requests"])
    out = rows.groupby(["cluster_id", "area"]).size().rename("requests").reset_index()
    words = {c["cluster_id"]: ", ".join(cluster_terms(c)[:6]) for c in (cmap.clusters if cmap else ())}
    out["keywords"] = out["cluster_id"].map(words).fillna("")
    return out.sort_values(["requests", "cluster_id"], ascending=[False, True]).reset_index(drop=True)


def current_map(ws: W.Workspace):
    """The workspace's current capability map, or None."""
    from targeting.capmap import load_map

    map_id = W.read_state(ws).get("map_id")
    folder = ws.map_dir(map_id) if map_id else None
    return load_map(folder) if folder is not None and (folder / "map.json").exists() else None


def beside_typical(ws: W.Workspace, cmap, scores: pd.DataFrame, members: pd.DataFrame, area: str) -> BesideMap | None:
    """``members`` (account_id, n_requests, risk_score; its ``SHOWN_MEMBERS`` riskiest drawn)
    on the map beside as many ordinary accounts of ``area`` with about their median volume
    (``peers.typical_accounts``); None without a map or such accounts."""
    if cmap is None or members.empty:
        return None
    ids, volume = campaign_sample(members)
    typical = typical_accounts(scores, area, volume, k=len(ids), exclude=set(members["account_id"].astype(str)))
    if not typical:
        return None
    background, subject = map_layers(cmap, reached_clusters(ws, ids, cmap))
    _, others = map_layers(cmap, reached_clusters(ws, typical, cmap))
    what = f"its {len(ids)} riskiest accounts" if len(ids) < len(members) else f"its {len(ids)} accounts"
    return BesideMap(background, subject, others, f"The campaign: {what}",
                     f"{len(typical)} typical accounts of {area.replace('_', ' ')}, about {volume:,.0f} requests each")
