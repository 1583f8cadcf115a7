"""The evaluation says why ranked attackers are not flagged, per campaign kind."""

from __future__ import annotations

import pandas as pd

from targeting.evaluate import evaluate, format_report, why_missed


def _scores_and_labels():
    # 4 relay attackers: one flagged, two above the 1% line but under the flag threshold, one weak
    # and in no linked group; 200 organic accounts scoring 0.00 .. 0.398
    attackers = pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4"], "risk_score": [0.9, 0.6, 0.55, 0.2],
        "flagged": [True, False, False, False], "campaign_id": ["k1", "k1", "k1", ""],
        "dominant_area": "reasoning", "evidence_p_coordination": [0.01, 0.01, 0.5, 0.9],
        "evidence_p_elicitation": [0.01, 0.5, 0.5, 0.5],
    })
    organic = pd.DataFrame({
        "account_id": [f"o{i}" for i in range(200)], "risk_score": [i / 500 for i in range(200)],
        "flagged": False, "campaign_id": "", "dominant_area": "other",
        "evidence_p_coordination": 0.5, "evidence_p_elicitation": 0.5,
    })
    scores = pd.concat([attackers, organic], ignore_index=True)
    labels = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(len(scores))], "account_id": scores["account_id"],
        "area": "reasoning", "role": ["attacker"] * 4 + ["benign"] * 200,
        "kind": ["relay"] * 4 + ["individual"] * 200,
        "campaign": ["relay-1"] * 4 + [""] * 200, "target_area": ["reasoning"] * 4 + [""] * 200,
    })
    return scores, labels


def test_unflagged_attackers_are_explained_per_campaign_kind():
    scores, labels = _scores_and_labels()
    metrics = evaluate(scores, labels, flag_threshold=0.8)
    why = metrics["why_missed_by_campaign_kind"]["relay"]
    assert (why["attackers"], why["flagged"], why["not_flagged"]) == (4, 1, 3)
    assert why["above_1pct_line_below_flag"] == 2  # 0.6 and 0.55: above the 1% line (0.394), under 0.8
    assert why["below_both"] == 1 and why["in_no_group"] == 1
    assert why["ordinary_on"] == {"elicitation": 3, "coordination": 2}  # most often lacking first
    text = format_report(metrics)
    assert "why not flagged, relay campaigns | 3 of 4 not flagged: 2 rank above the 1%-FPR line" in text
    assert "the flag's budget" in text and "ordinary among their peers on elicitation (3), coordination (2)" in text


def test_without_a_stored_threshold_the_lowest_flagged_score_is_the_line():
    scores, _ = _scores_and_labels()
    attackers = scores.iloc[:4]
    why = why_missed(attackers, threshold=0.394, flag_threshold=float(scores.loc[scores["flagged"], "risk_score"].min()))
    assert why["flag_threshold"] == 0.9 and why["above_1pct_line_below_flag"] == 2
    every = attackers.assign(flagged=True)
    assert why_missed(every, 0.394, 0.9)["not_flagged"] == 0


def test_the_recorded_metrics_survive_json_when_nothing_is_missed():
    import json

    scores, labels = _scores_and_labels()
    metrics = evaluate(scores.assign(flagged=scores["account_id"].str.startswith("a")), labels)
    why = metrics["why_missed_by_campaign_kind"]["relay"]
    assert why["not_flagged"] == 0 and why["median_risk_missed"] is None
    assert json.loads(json.dumps(metrics)) == metrics
