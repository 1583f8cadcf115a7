"""How unusual a value is among comparable accounts: empirical tail probabilities.

A signal only means something against the accounts it should be compared with. An account
of 300 requests reaches more clusters, more hours of the day and more distinct prompts than
one of 5, whatever it is; an account of the reasoning area elicits step-by-step answers more
often than one of the tool-use area. So each value is judged against its *peers*: the
``PEERS`` accounts of the same content area closest to it in request volume (on a log
scale), or the whole population's closest when the area has too few accounts.

The tail probability of a value is the share of its peers at least as extreme, the account
itself counted as a pseudo-observation (``(1 + #{others >= x}) / (k + 1)`` over the ``k``
accounts of its window, itself included), so it is never 0
and never depends on the scale of the signal: a heavy benign tail (a few huge products or
harnesses) moves the probabilities of the others by ranks, not by magnitudes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PEERS = 150  # accounts each value is compared with
MIN_AREA_PEERS = 60  # an area with fewer accounts is judged against the whole population


def nearest_windows(sorted_values: np.ndarray, k: int) -> np.ndarray:
    """For each position i of an ascending array, the start s of the ``k`` consecutive
    entries holding i whose farthest entry is nearest to entry i: the k nearest neighbours
    of i on a line, found by a vectorised bisection over s in [i - k + 1, i]."""
    n = len(sorted_values)
    i = np.arange(n)
    lo = np.clip(i - k + 1, 0, n - k)
    hi = np.clip(i, 0, n - k)
    v = sorted_values
    # f(s) = v[s + k - 1] - v[i] grows with s, g(s) = v[i] - v[s] shrinks: find the smallest
    # s with f(s) >= g(s), then take s or s - 1, whichever has the smaller larger gap
    while (lo < hi).any():
        mid = (lo + hi) // 2
        right_far = v[mid + k - 1] - v >= v - v[mid]
        hi = np.where(right_far & (lo < hi), mid, hi)
        lo = np.where(~right_far & (lo < hi), mid + 1, lo)
    prev = np.maximum(lo - 1, np.clip(i - k + 1, 0, n - k))
    worse = np.maximum(v[lo + k - 1] - v, v - v[lo]) > np.maximum(v[prev + k - 1] - v, v - v[prev])
    return np.where(worse, prev, lo)


def _tail_in_group(values: np.ndarray, log_volume: np.ndarray, k: int, mid: bool = False) -> np.ndarray:
    """Tail probability of each value among the ``k`` accounts of the group nearest in
    volume (itself included): (1 + #{others >= x}) / (k + 1); ``mid``: ties count half."""
    n = len(values)
    order = np.argsort(log_volume, kind="stable")
    v = values[order]
    k = min(k, n)
    starts = nearest_windows(log_volume[order], k)
    windows = np.lib.stride_tricks.sliding_window_view(v, k)[starts]  # (n, k)
    at_least = (windows >= v[:, None]).sum(axis=1).astype(float)  # counts the account itself: the pseudo-observation
    if mid:
        at_least -= 0.5 * ((windows == v[:, None]).sum(axis=1) - 1)
    out = np.empty(n)
    out[order] = at_least / (k + 1.0)
    return out


def tail_probability(
    values: pd.Series, volume: pd.Series, group: pd.Series | None = None, k: int = PEERS, mid: bool = False
) -> pd.Series:
    """P(a peer's value >= this value) for each account: small when the value is unusually
    high for accounts of its volume (and ``group``, e.g. content area). NaN values are
    treated as unremarkable (probability 1). ``mid``: peers with the same value count half
    (a mid-rank), for percentiles rather than evidence."""
    x = values.astype(float).to_numpy()
    missing = np.isnan(x)
    x = np.where(missing, -np.inf, x)
    lv = np.log1p(volume.astype(float).to_numpy())
    out = np.ones(len(x))
    groups = np.zeros(len(x), dtype=int) if group is None else pd.factorize(group.to_numpy())[0]
    small = np.zeros(len(x), dtype=bool)
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        if len(rows) < MIN_AREA_PEERS:
            small[rows] = True
            continue
        out[rows] = _tail_in_group(x[rows], lv[rows], k, mid)
    if small.any():  # judged against everyone of their volume
        whole = _tail_in_group(x, lv, k, mid)
        out[small] = whole[small]
    out[missing] = 1.0
    return pd.Series(np.clip(out, 1.0 / (k + 1.0), 1.0), index=values.index)


def percentile_among(
    values: pd.Series, volume: pd.Series, group: pd.Series, peer_values: pd.Series, peer_volume: pd.Series,
    peer_group: pd.Series, k: int = PEERS,
) -> pd.Series:
    """Mid-rank percentile of each value among the ``k`` accounts of ``peer_*`` of the same
    group nearest its volume (log scale), the whole population's nearest when the group has
    fewer than ``MIN_AREA_PEERS``: the share of those peers below it, ties counting half.
    For values that are not the peers' own, e.g. a campaign's pooled traffic against single
    accounts sending as much. NaN where there are no peers."""
    px = peer_values.astype(float).to_numpy()
    plv = np.log1p(peer_volume.astype(float).to_numpy())
    pg = peer_group.astype(str).to_numpy()
    out = pd.Series(np.nan, index=values.index)
    for key, x, v, g in zip(values.index, values.astype(float), np.log1p(volume.astype(float)), group.astype(str)):
        pool = np.flatnonzero(pg == g)
        if len(pool) < MIN_AREA_PEERS:
            pool = np.arange(len(px))
        if not len(pool) or np.isnan(x):
            continue
        near = pool[np.argsort(np.abs(plv[pool] - v), kind="stable")[:k]]
        out[key] = float((px[near] < x).mean() + 0.5 * (px[near] == x).mean())
    return out


TYPICAL_POOL = 25  # accounts nearest in volume that a typical account is chosen from
SHOWN_MEMBERS = 30  # a campaign's riskiest members drawn on the map beside as many typical accounts


def campaign_sample(members: pd.DataFrame) -> tuple[list[str], float]:
    """What a campaign's picture shows: its ``SHOWN_MEMBERS`` riskiest members (account_id,
    risk_score, n_requests), and the median volume of all of them, which the typical
    accounts beside them are chosen near."""
    shown = members.sort_values(["risk_score", "account_id"], ascending=[False, True]).head(SHOWN_MEMBERS)
    volume = float(members["n_requests"].median()) if len(members) else 0.0
    return shown["account_id"].astype(str).tolist(), volume


def typical_accounts(scores: pd.DataFrame, area: str, volume: float, k: int = 1,
                     exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """``k`` ordinary accounts of ``area`` with about ``volume`` requests, to show beside an
    account or a campaign: unflagged, in no linked group and not in ``exclude``, taken from
    the ``max(TYPICAL_POOL, k)`` such accounts nearest in volume (log scale), those whose
    risk is nearest the pool's median first. ``scores``: account_id, n_requests, risk_score,
    flagged, campaign_id and content_area (``dominant_area`` in older tables). Fewer than
    ``k`` (or none) when the area has fewer such accounts."""
    area_col = "content_area" if "content_area" in scores.columns else "dominant_area"
    ids = scores["account_id"].astype(str)
    ordinary = (
        (scores[area_col].astype(str) == area)
        & ~scores["flagged"].fillna(False).astype(bool)
        & (scores["campaign_id"].fillna("").astype(str) == "")
        & ~ids.isin(exclude)
    )
    pool = scores[ordinary]
    if pool.empty or k < 1:
        return []
    gap = (np.log1p(pool["n_requests"].astype(float)) - np.log1p(max(float(volume), 0.0))).abs()
    pool = pool.assign(_gap=gap.to_numpy()).sort_values(["_gap", "account_id"]).head(max(TYPICAL_POOL, k))
    middle = float(pool["risk_score"].median())
    pool = pool.assign(_off=(pool["risk_score"] - middle).abs()).sort_values(["_off", "_gap", "account_id"])
    return pool["account_id"].astype(str).head(k).tolist()
