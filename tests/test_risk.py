"""Risk: monotone combination, label-free calibration, severity, allowlist and reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.config import RiskConfig
from targeting.risk import calibrate_threshold, combine, evidence, score_accounts


def signals_frame(n: int, rng: np.random.Generator, attackers: int = 0) -> pd.DataFrame:
    benign = {
        "n_requests": rng.integers(5, 200, n),
        "target_share": rng.uniform(0.3, 1.0, n),
        "target_area": "reasoning",
        "dominant_area": "reasoning",
        "coverage": rng.uniform(0.1, 0.7, n),
        "covered_clusters": rng.integers(1, 10, n),
        "expected_clusters": rng.uniform(2, 12, n),
        "area_clusters": 40,
        "novelty": rng.uniform(0.5, 1.0, n),
        "template_share": rng.uniform(0, 0.2, n) * (rng.uniform(size=n) < 0.2),
        "linked_accounts": rng.integers(0, 2, n),
        "cot_share": rng.uniform(0, 0.3, n),
    }
    frame = pd.DataFrame(benign, index=[f"b{i}" for i in range(n)])
    if attackers:
        attack = pd.DataFrame(
            {
                "n_requests": rng.integers(20, 300, attackers),
                "target_share": rng.uniform(0.85, 1.0, attackers),
                "target_area": "reasoning",
                "dominant_area": "reasoning",
                "coverage": rng.uniform(0.9, 1.3, attackers),
                "covered_clusters": rng.integers(20, 40, attackers),
                "expected_clusters": rng.uniform(15, 30, attackers),
                "area_clusters": 40,
                "novelty": rng.uniform(0.95, 1.0, attackers),
                "template_share": rng.uniform(0.7, 1.0, attackers),
                "linked_accounts": rng.integers(10, 40, attackers),
                "cot_share": rng.uniform(0.5, 1.0, attackers),
            },
            index=[f"a{i}" for i in range(attackers)],
        )
        frame = pd.concat([frame, attack])
    return frame


def test_risk_is_monotone_in_every_evidence_term():
    rng = np.random.default_rng(0)
    base = evidence(signals_frame(200, rng))
    risk = combine(base)
    for column in base.columns:
        bumped = base.copy()
        bumped[column] = np.minimum(bumped[column] + 0.1, 1.0)
        assert (combine(bumped) >= risk - 1e-12).all(), column
    assert risk.between(0, 1).all()


def test_repeating_accounts_score_low_whatever_else_they_show():
    rng = np.random.default_rng(1)
    s = signals_frame(1, rng, attackers=1)
    s.loc[:, "novelty"] = 0.2
    ev = evidence(s)
    assert (combine(ev) <= 0.2).all()


def test_threshold_keeps_benign_flags_near_the_budget_despite_contamination():
    rng = np.random.default_rng(2)
    # benign scores with the exponential upper tail the calibration assumes
    benign = np.minimum(rng.exponential(0.08, 5000), 1.0)
    attackers = rng.uniform(0.6, 0.95, 500)  # 9% of accounts
    threshold = calibrate_threshold(np.r_[benign, attackers], 0.01)
    assert 0.002 <= (benign >= threshold).mean() <= 0.02
    assert (attackers >= threshold).mean() >= 0.9
    # a light-tailed benign population is never flagged beyond the budget
    light = rng.beta(2, 8, 5000)
    assert (light >= calibrate_threshold(np.r_[light, attackers], 0.01)).mean() <= 0.01


def test_score_accounts_flags_attackers_not_the_bulk_and_explains_itself():
    rng = np.random.default_rng(3)
    s = signals_frame(1000, rng, attackers=50)
    out, threshold = score_accounts(s, RiskConfig(fp_budget=0.01))
    is_attacker = out.index.str.startswith("a")
    assert out.loc[is_attacker, "flagged"].mean() >= 0.9
    assert out.loc[~is_attacker, "flagged"].mean() <= 0.03
    flagged = out[out["flagged"]]
    assert set(flagged["severity"]) <= {"low", "medium", "high", "critical"}
    assert (out.loc[~out["flagged"], "severity"] == "none").all()
    assert all(any(ch.isdigit() for ch in r) for r in flagged["reasons"])
    assert flagged["reasons"].str.contains("shares rare templates").mean() > 0.5


def test_allowlisted_accounts_are_never_flagged():
    rng = np.random.default_rng(4)
    s = signals_frame(300, rng, attackers=10)
    out, _ = score_accounts(s, RiskConfig(allowlist=("a0", "a1")))
    assert not out.loc[["a0", "a1"], "flagged"].any()
    assert out.loc[["a0", "a1"], "allowlisted"].all()
    assert out.loc["a2", "flagged"]


@pytest.mark.parametrize("budget", [0.001, 0.01, 0.05])
def test_a_larger_budget_never_raises_the_threshold(budget):
    rng = np.random.default_rng(5)
    risk = rng.beta(2, 6, 2000)
    assert calibrate_threshold(risk, budget) >= calibrate_threshold(risk, min(budget * 2, 0.5))


def test_the_budget_is_spent_when_the_benign_tail_is_short():
    rng = np.random.default_rng(4)
    benign = rng.uniform(0.0, 0.3, 990)  # ends abruptly: an exponential tail overshoots it
    attackers = np.full(10, 0.31)
    risk = np.r_[benign, attackers]
    threshold = calibrate_threshold(risk, 0.01)
    assert (attackers >= threshold).all()
    assert (benign >= threshold).mean() <= 0.01


def test_clumped_prompts_lower_risk_only_when_enough_prompts_show_it():
    rng = np.random.default_rng(5)
    s = signals_frame(4, rng, attackers=0)
    s["regularity"] = [1.2, 0.5, 0.5, 1.0]
    s["distinct_in_area"] = [400, 400, 3, 400]
    ev = evidence(s)
    assert ev["evenness"].tolist()[0] == pytest.approx(1.0)  # spread out: no change
    assert ev["evenness"].tolist()[3] == pytest.approx(1.0)  # typical spacing: no change
    assert ev["evenness"].iloc[1] < 0.1  # clearly clumped over 400 prompts
    assert ev["evenness"].iloc[2] > 0.9  # three prompts show nothing either way
    risk = combine(ev)
    assert risk.iloc[1] == pytest.approx(combine(ev.assign(evenness=1.0)).iloc[1] * (1 - 0.5 * (1 - ev["evenness"].iloc[1])))
    assert "prompts clump" in score_accounts(s, RiskConfig())[0]["reasons"].iloc[1]


def test_a_campaign_is_as_clumped_as_its_members_not_as_its_pooled_prompts():
    rng = np.random.default_rng(6)
    s = signals_frame(6, rng, attackers=0)
    s["regularity"] = [0.5, 0.5, 0.5, 1.3, 1.3, 1.3]
    s["distinct_in_area"] = 300
    s["campaign_id"] = ["kA", "kA", "kA", "kB", "kB", "kB"]
    s["campaign_size"] = 3
    ev = evidence(s)
    assert (ev["evenness"].iloc[:3] < 0.2).all() and (ev["evenness"].iloc[3:] == 1.0).all()
