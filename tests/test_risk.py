"""Risk: monotone combination, label-free calibration, severity, allowlist and reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.config import RiskConfig
from targeting.risk import (
    FAMILIES, calibrate_threshold, campaign_breadth, evidence, family_values, group_evidence, own_evidence,
    score_accounts, with_campaign,
)


def signals_frame(n: int, rng: np.random.Generator, attackers: int = 0) -> pd.DataFrame:
    benign = {
        "n_requests": rng.integers(5, 200, n),
        "target_share": rng.uniform(0.3, 1.0, n),
        "target_area": "reasoning",
        "dominant_area": "reasoning",
        "coverage_ratio": rng.uniform(0.1, 0.7, n),
        "covered_clusters": rng.integers(1, 10, n),
        "expected_clusters": rng.uniform(2, 12, n),
        "area_clusters": 40,
        "novelty": rng.uniform(0.5, 1.0, n),
        "template_share": rng.uniform(0, 0.2, n) * (rng.uniform(size=n) < 0.2),
        "cot_share": rng.uniform(0, 0.3, n),
        "hour_coverage": rng.uniform(0.2, 0.7, n),
        "interarrival_cv": rng.uniform(1.0, 3.0, n),
        "regularity": rng.uniform(0.6, 1.1, n),
    }
    frame = pd.DataFrame(benign, index=[f"b{i}" for i in range(n)])
    if attackers:
        attack = pd.DataFrame(
            {
                "n_requests": rng.integers(20, 200, attackers),
                "target_share": rng.uniform(0.85, 1.0, attackers),
                "target_area": "reasoning",
                "dominant_area": "reasoning",
                "coverage_ratio": rng.uniform(0.9, 1.3, attackers),
                "covered_clusters": rng.integers(12, 40, attackers),
                "expected_clusters": rng.uniform(15, 30, attackers),
                "area_clusters": 40,
                "novelty": rng.uniform(0.95, 1.0, attackers),
                "template_share": rng.uniform(0.7, 1.0, attackers),
                "cot_share": rng.uniform(0.5, 1.0, attackers),
                "hour_coverage": rng.uniform(0.8, 1.0, attackers),
                "interarrival_cv": rng.uniform(0.7, 1.0, attackers),
                "regularity": rng.uniform(1.0, 1.3, attackers),
            },
            index=[f"a{i}" for i in range(attackers)],
        )
        frame = pd.concat([frame, attack])
    return frame


def test_raising_any_family_never_lowers_the_evidence():
    rng = np.random.default_rng(0)
    s = signals_frame(300, rng)
    base = own_evidence(evidence(s))
    values = family_values(s)
    for column, signal in (("coverage_ratio", "covered_clusters"), ("novelty", "novelty"), ("cot_share", "cot_share"),
                           ("regularity", "regularity"), ("hour_coverage", "hour_coverage")):
        bumped = s.copy()
        bumped.loc["b7", signal] = s[signal].max() + 1
        assert own_evidence(evidence(bumped)).loc["b7"] >= base.loc["b7"] - 1e-12, signal
    assert set(FAMILIES) <= set(values.columns)


def test_a_value_is_judged_against_accounts_of_its_volume():
    # half its prompts templated is what every 300-request account shows, and far more than any
    # 30-request one
    n = 400
    s = signals_frame(n, np.random.default_rng(1))
    s["n_requests"] = np.r_[np.full(n // 2, 300), np.full(n // 2, 30)]
    s["template_share"] = np.r_[np.random.default_rng(2).uniform(0.4, 0.6, n // 2), np.full(n // 2, 0.05)]
    s.loc["b0", "template_share"] = 0.5  # a heavy account: ordinary
    s.loc[f"b{n - 1}", "template_share"] = 0.5  # a light account: rarer than all its peers
    p = evidence(s)["p_templates"]
    assert p.loc["b0"] > 0.2
    assert p.loc[f"b{n - 1}"] < 0.02


def test_a_repeating_account_gets_no_freshness_evidence():
    rng = np.random.default_rng(1)
    s = signals_frame(200, rng, attackers=1)
    s.loc["a0", "novelty"] = 0.05
    assert evidence(s).loc["a0", "freshness"] < 0.1


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
    assert flagged["reasons"].str.contains("rarer than").mean() > 0.9


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


def one_campaign(seed: int) -> tuple[pd.DataFrame, list[str]]:
    """400 accounts whose 30 attackers are one campaign, every member tied at 0.6."""
    s = signals_frame(400, np.random.default_rng(seed), attackers=30)
    s["campaign_id"] = ""
    s["campaign_tie"] = 0.0
    members = [f"a{i}" for i in range(30)]
    s.loc[members, ["campaign_id", "campaign_tie"]] = ["kA", 0.6]
    return s, members


def test_a_member_keeps_its_own_evidence_and_its_campaign_adds_by_tie():
    s, attackers = one_campaign(6)
    s.loc["a0", "campaign_tie"] = 0.1  # at the campaign's edge
    quiet = "a1"  # a member with almost no traffic of its own
    s.loc[quiet, ["n_requests", "covered_clusters", "cot_share", "template_share"]] = [6, 2, 0.1, 0.0]
    ev = evidence(s)
    own = own_evidence(ev)
    final = with_campaign(own, s)
    assert (final >= own - 1e-12).all()  # nobody loses their own evidence
    assert final.loc[quiet] > own.loc[quiet] + 3  # the operation lifts its quiet member
    raised = final - own
    assert raised.loc["a0"] < raised.loc["a2"]  # a weak tie takes less of the campaign
    # in proportion: a sixth of the median tie takes a sixth of what a typical member takes
    assert raised.loc["a0"] == pytest.approx(raised.loc["a2"] / 6)
    assert (final.drop(attackers) == own.drop(attackers)).all()


def test_a_member_with_much_traffic_of_its_own_speaks_for_itself():
    s, members = one_campaign(7)
    s.loc[members, "n_requests"] = 40
    s.loc["a0", "n_requests"] = 800  # a product whose users' tasks resemble the operation's
    s.loc["a1", "n_requests"] = 80  # twice the typical member: still judged with it
    s.loc["a3", "n_requests"] = 81  # just over twice: judged on its own traffic alone
    own = own_evidence(evidence(s))
    raised = with_campaign(own, s) - own
    assert raised.loc["a2"] > 1
    assert raised.loc["a1"] == pytest.approx(raised.loc["a2"])
    assert raised.loc["a0"] == 0 and raised.loc["a3"] == 0


def test_a_group_of_ordinary_accounts_is_ordinary_as_a_group():
    rng = np.random.default_rng(7)
    own = pd.Series(rng.gamma(8, 1.0, 1000), index=[f"u{i}" for i in range(1000)])
    campaign = pd.Series("", index=own.index)
    campaign.iloc[:40] = "kCohort"  # 40 ordinary accounts that share a gateway
    group = group_evidence(own, campaign)
    assert group.loc["kCohort"] < 3.0
    own.iloc[40:80] += 4.0  # 40 accounts each a little unusual, tied together
    campaign.iloc[40:80] = "kOp"
    assert group_evidence(own, campaign).loc["kOp"] > 15.0


def test_disabled_families_leave_the_evidence():
    rng = np.random.default_rng(8)
    s = signals_frame(100, rng, attackers=5)
    out, _ = score_accounts(s, RiskConfig(disable=("templates", "cadence")))
    assert "evidence_templates" not in out and "evidence_cadence" not in out and "evidence_focus" in out


def test_a_campaign_narrower_than_its_peers_passes_on_less_of_its_group_evidence():
    """Members alike in wording whose pooled traffic reaches one or two clusters (scheduled jobs
    of one public recipe) are not an operation filling an area: their group evidence is
    withheld in proportion; a group reaching more than the median account of its pooled
    volume passes all of it on."""
    s, members = one_campaign(9)
    s["content_area"] = "reasoning"
    s.loc[members, "campaign_requests"] = float(s.loc[members, "n_requests"].sum())
    s["covered_clusters"] = np.random.default_rng(10).integers(5, 30, len(s))  # what single accounts reach
    own = own_evidence(evidence(s))
    s.loc[members, "campaign_covered_clusters"] = 40.0  # broader than any account sending as much
    broad = campaign_breadth(s)
    assert broad.loc["kA"] == 1.0
    assert (with_campaign(own, s, broad) == with_campaign(own, s)).all()
    s.loc[members, "campaign_covered_clusters"] = 2.0  # narrower than every one of them
    narrow = campaign_breadth(s)
    assert narrow.loc["kA"] == 0.0
    assert (with_campaign(own, s, narrow) == own).all()  # nothing passed on
    s.loc[members, "campaign_covered_clusters"] = float(s["covered_clusters"].quantile(0.25))
    some = with_campaign(own, s, campaign_breadth(s)) - own
    full = with_campaign(own, s) - own
    assert (0 < some[members]).all() and (some[members] < full[members]).all()
    out, _ = score_accounts(s, RiskConfig())
    assert out.loc[members[0], "campaign_breadth"] == campaign_breadth(s).loc["kA"]
    assert "fewer than" in out.loc[members[0], "reasons"] and "group evidence x" in out.loc[members[0], "reasons"]
    assert out.drop(members)["campaign_breadth"].isna().all()
