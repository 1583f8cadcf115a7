"""Tail probabilities among peers of comparable volume (and area)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.peers import TYPICAL_POOL, nearest_windows, percentile_among, tail_probability, typical_accounts


@pytest.mark.parametrize("k", [1, 7, 50])
def test_nearest_windows_hold_the_k_nearest(k):
    v = np.sort(np.random.default_rng(k).exponential(size=120))
    starts = nearest_windows(v, k)
    for i in range(len(v)):
        best = np.sort(np.abs(v - v[i]))[k - 1]
        got = max(v[starts[i] + k - 1] - v[i], v[i] - v[starts[i]])
        assert starts[i] <= i < starts[i] + k and got == pytest.approx(best)


def test_tail_probability_ranks_within_volume_and_is_scale_free():
    rng = np.random.default_rng(0)
    volume = pd.Series(np.r_[np.full(300, 5), np.full(300, 500)])
    values = pd.Series(np.r_[rng.uniform(0, 1, 300), rng.uniform(10, 11, 300)])
    p = tail_probability(values, volume)
    # the small accounts' best value is as rare among small accounts as the large ones' among large
    assert p.iloc[values.iloc[:300].idxmax()] == pytest.approx(p.iloc[300 + values.iloc[300:].reset_index(drop=True).idxmax()])
    assert p.min() >= 1 / 151 and p.max() <= 1.0
    # a heavy tail moves ranks, not magnitudes: one huge value changes nobody else's probability much
    heavy = values.copy()
    heavy.iloc[599] = 1e9
    q = tail_probability(heavy, volume)
    assert (q - p).abs().drop(599).max() <= 1 / 150 + 1e-12


def test_ties_and_missing_values_are_unremarkable():
    volume = pd.Series(np.full(200, 10))
    values = pd.Series(np.r_[np.zeros(199), np.nan])
    p = tail_probability(values, volume)
    assert (p == 1.0).all() or p.min() > 0.99
    mid = tail_probability(pd.Series(np.zeros(200)), volume, mid=True)
    assert mid.between(0.4, 0.6).all()


def test_small_groups_are_judged_against_everyone():
    volume = pd.Series(np.full(300, 20))
    values = pd.Series(np.r_[np.zeros(295), np.full(5, 3.0)])
    group = pd.Series(["big"] * 295 + ["tiny"] * 5)
    p = tail_probability(values, volume, group)
    assert p.iloc[-5:].max() < 0.05  # rare against the whole population, not 1 within five alike accounts


def _accounts(n: int, area: str, volume: float, risk: np.ndarray, prefix: str) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [f"{prefix}{i}" for i in range(n)], "content_area": area,
                         "n_requests": volume, "risk_score": risk, "flagged": False, "campaign_id": ""})


def test_typical_accounts_are_ordinary_accounts_of_the_area_and_volume():
    rng = np.random.default_rng(0)
    near = _accounts(TYPICAL_POOL, "reasoning", 30, rng.uniform(0.1, 0.5, TYPICAL_POOL), "near")
    far = _accounts(40, "reasoning", 3000, np.full(40, 0.3), "far")  # other volume
    other = _accounts(40, "tool_use", 30, np.full(40, 0.3), "tool")  # other area
    odd = _accounts(3, "reasoning", 30, np.full(3, 0.3), "odd")
    odd.loc[0, "flagged"] = True
    odd.loc[1, "campaign_id"] = "k1"
    scores = pd.concat([near, far, other, odd], ignore_index=True)
    got = typical_accounts(scores, "reasoning", 32, k=5, exclude={"odd2"})
    assert len(got) == 5 and all(a.startswith("near") for a in got)
    # the chosen ones sit at the pool's median risk
    pool = near.sort_values("account_id").set_index("account_id")["risk_score"]
    middle = pool.median()
    assert max(abs(pool[a] - middle) for a in got) <= np.sort(np.abs(pool - middle).to_numpy())[4] + 1e-12
    assert typical_accounts(scores, "reasoning", 32) == got[:1]  # deterministic, nearest the median first


def test_typical_accounts_when_there_are_few_or_none():
    scores = _accounts(3, "reasoning", 10, np.array([0.1, 0.2, 0.3]), "a")
    assert len(typical_accounts(scores, "reasoning", 10, k=TYPICAL_POOL + 5)) == 3
    assert typical_accounts(scores, "agentic_coding", 10) == []
    assert typical_accounts(scores, "reasoning", 10, k=0) == []
    older = scores.rename(columns={"content_area": "dominant_area"})  # tables before content_area
    assert typical_accounts(older, "reasoning", 10) == ["a1"]


def test_percentile_among_peers_of_the_group_and_volume():
    idx = [f"p{i}" for i in range(200)]
    peers = pd.Series(np.r_[np.arange(100), np.arange(100) + 1000.0], index=idx)
    volume = pd.Series(np.r_[np.full(100, 10.0), np.full(100, 1000.0)], index=idx)
    group = pd.Series(["a"] * 200, index=idx)
    q = pd.Series([50.0, 50.0, 1e9, np.nan], index=["light", "heavy", "top", "missing"])
    got = percentile_among(q, pd.Series([10.0, 1000.0, 1000.0, 10.0], index=q.index), pd.Series("a", index=q.index),
                           peers, volume, group, k=100)
    assert got.loc["light"] == pytest.approx(0.505)  # 50 below, one tie counted half
    assert got.loc["heavy"] == 0.0 and got.loc["top"] == 1.0  # judged against accounts of its volume
    assert np.isnan(got.loc["missing"])
    # a group with too few accounts of its own is judged against everyone
    small = percentile_among(pd.Series([500.0]), pd.Series([10.0]), pd.Series(["b"]), peers, volume, group, k=100)
    assert small.iloc[0] == 1.0
