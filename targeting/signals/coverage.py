"""Volume-adjusted coverage of the dominant area's clusters.

Raw coverage grows with volume and, across the whole embedding space, does not separate
attackers from benign users. Here coverage is measured inside the account's dominant area
and divided by the number of distinct clusters expected for the same number of requests
drawn like the area's accounts draw: the account-weighted cluster frequencies ``p_c`` of
the area give ``E[k | n] = sum_c 1 - (1 - p_c)^n``. A ratio near 1 means the account
spreads like a random draw from the whole population of the area (much wider than any
single organic user, who stays on a few topics); systematic coverage pushes it to or
past 1.

``coverage_growth`` says whether the account is still reaching new clusters: those first
reached in the second half of its requests (in time order) against the number expected for
random draws (see ``coverage_growth``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.signals.base import ACCOUNT, AREA, CLUSTER, TIME, SignalContext

MIN_GROWTH_REQUESTS = 8  # requests in the area below which growth is not measured (NaN)


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


def _new_in_second_half(sub: pd.DataFrame) -> pd.DataFrame:
    """Per account, of its requests in time order: n_first (first half), n_second, and the
    clusters first reached in the second half."""
    ordered = sub.sort_values([ACCOUNT, TIME], kind="stable")
    rank = ordered.groupby(ACCOUNT).cumcount().to_numpy()
    size = ordered.groupby(ACCOUNT)[CLUSTER].transform("size").to_numpy()
    half = (rank >= size // 2).astype(np.int8)
    first_half = pd.DataFrame({ACCOUNT: ordered[ACCOUNT].to_numpy(), CLUSTER: ordered[CLUSTER].to_numpy(), "half": half})
    reached = first_half.groupby([ACCOUNT, CLUSTER], sort=False)["half"].min()
    new = (reached == 1).groupby(level=0).sum()
    n = pd.Series(size, index=ordered[ACCOUNT].to_numpy()).groupby(level=0).first()
    return pd.DataFrame({"n_first": n // 2, "n_second": n - n // 2, "new_second": new.reindex(n.index, fill_value=0)})


def coverage_growth(sub: pd.DataFrame, ref: np.ndarray, dom_of: pd.Series) -> pd.Series:
    """Clusters first reached in the second half of the account's requests in its dominant
    area (in time order), divided by the number expected when both halves are drawn like the
    area's accounts draw: sum_c (1 - p_c)^n1 (1 - (1 - p_c)^n2) = E[k | n1 + n2] - E[k | n1].

    About 1: the account keeps reaching new parts of the area as a random draw would; well
    below 1: it saturates, returning to what it asked before (a person, a product's users);
    above 1: it walks a plan that avoids what it has covered. NaN under
    ``MIN_GROWTH_REQUESTS`` requests."""
    halves = _new_in_second_half(sub)
    out = pd.Series(np.nan, index=dom_of.index, name="coverage_growth", dtype=float)
    halves = halves[halves["n_first"] + halves["n_second"] >= MIN_GROWTH_REQUESTS]
    if halves.empty:
        return out
    areas = dom_of.reindex(halves.index).to_numpy()
    expected = np.zeros(len(halves))
    for a in np.unique(areas):
        mask = areas == a
        n1 = halves["n_first"].to_numpy()[mask]
        n2 = halves["n_second"].to_numpy()[mask]
        expected[mask] = expected_distinct(ref[a], n1 + n2) - expected_distinct(ref[a], n1)
    out[halves.index] = np.divide(halves["new_second"].to_numpy(float), expected,
                                  out=np.full(len(halves), np.nan), where=expected > 1e-9)
    return out


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
    out["coverage_ratio"] = np.divide(
        stats["covered"].to_numpy(float), expected, out=np.zeros(len(stats)), where=expected > 0
    )
    if TIME in frame:
        out["coverage_growth"] = coverage_growth(sub, ref, dom)
    return out
