"""Volume-adjusted coverage of the dominant area's clusters.

Raw coverage grows with volume and, across the whole embedding space, does not separate
attackers from benign users. Here coverage is measured inside the account's dominant area
and divided by the number of distinct clusters expected for the same number of requests
drawn like the area's accounts draw: the account-weighted cluster frequencies ``p_c`` of
the area give ``E[k | n] = sum_c 1 - (1 - p_c)^n``. A ratio near 1 means the account
spreads like a random draw from the whole population of the area (much wider than any
single organic user, who stays on a few topics); systematic coverage pushes it to or
past 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.signals.base import ACCOUNT, AREA, CLUSTER, SignalContext


def reference_frequencies(frame: pd.DataFrame, n_clusters: int, n_areas: int) -> np.ndarray:
    """(n_areas, n_clusters) account-weighted cluster frequencies within each area."""
    counts = frame.groupby([AREA, ACCOUNT, CLUSTER], sort=False).size().rename("n").reset_index()
    totals = counts.groupby([AREA, ACCOUNT])["n"].transform("sum")
    counts["w"] = counts["n"] / totals
    freq = np.zeros((n_areas, n_clusters))
    np.add.at(freq, (counts[AREA].to_numpy(), counts[CLUSTER].to_numpy()), counts["w"].to_numpy())
    sums = freq.sum(axis=1, keepdims=True)
    return np.divide(freq, sums, out=np.zeros_like(freq), where=sums > 0)


def expected_distinct(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Expected distinct clusters in ``n`` draws from frequencies ``p`` (vectorised over n)."""
    p = p[p > 0]
    n = np.asarray(n, dtype=float)
    if len(p) == 0:
        return np.zeros_like(n)
    return (1.0 - np.exp(np.outer(n, np.log1p(-np.minimum(p, 1 - 1e-12))))).sum(axis=1)


def coverage(
    frame: pd.DataFrame, ctx: SignalContext, dominant: pd.Series, reference: np.ndarray | None = None
) -> pd.DataFrame:
    """coverage ratio, covered_clusters, expected_clusters and area_clusters per account.

    ``reference`` (areas x clusters frequencies) defaults to the frame's own; pass the whole
    population's when ``frame`` holds a subset (e.g. campaigns).
    """
    n_areas = len(ctx.areas)
    ref = reference if reference is not None else reference_frequencies(frame, ctx.n_clusters, n_areas)
    area_index = {a: i for i, a in enumerate(ctx.areas)}
    dom = dominant.map(area_index)
    in_dom = frame[AREA].to_numpy() == dom.reindex(frame[ACCOUNT]).to_numpy()
    sub = frame[in_dom]
    stats = sub.groupby(ACCOUNT).agg(n_area=(CLUSTER, "size"), covered=(CLUSTER, "nunique"))
    stats = stats.reindex(dominant.index, fill_value=0)
    expected = np.zeros(len(stats))
    dom_idx = dom.reindex(stats.index).to_numpy()
    for a in range(n_areas):
        mask = dom_idx == a
        if mask.any():
            expected[mask] = expected_distinct(ref[a], stats["n_area"].to_numpy()[mask])
    out = pd.DataFrame(index=stats.index)
    out["covered_clusters"] = stats["covered"].astype(int)
    out["expected_clusters"] = expected
    out["area_clusters"] = [int((ctx.cluster_area == a).sum()) for a in dom_idx]
    out["coverage"] = np.divide(
        stats["covered"].to_numpy(float), expected, out=np.zeros(len(stats)), where=expected > 0
    )
    return out
