"""Combining signals into ``risk_score``, the flag at a false-positive budget, and reasons.

The score is a product of two gates and a weighted mean of evidence, every part in [0, 1]
and monotone in suspicion::

    risk = focus * freshness * (W_BREADTH*breadth + W_TEMPLATE*templating + W_COT*elicitation)
                               / (W_BREADTH + W_TEMPLATE + W_COT)

- focus: share of the account's requests in its most-used area worth extracting
  (every area but the taxonomy's fallback). Extraction targets a capability.
- freshness: novelty. Evaluation harnesses and stress tests repeat themselves;
  extraction wants new outputs.
- breadth: volume-adjusted coverage of the dominant area (1 = spreads like a random draw
  from the area's whole population), shrunk towards a prior for low volumes, where few
  requests cannot show coverage.
- templating: share of requests instantiating a template or wrapper that other accounts
  share too (one account reusing its own wrapper is an app; a shared one is coordination).
- elicitation: share of requests eliciting articulated reasoning or grading.

The flag is calibrated without labels: the budget is a share of benign-looking accounts,
estimated robustly from the bulk of the score distribution (median and MAD of the
logit-scores, which tolerate a large minority of attackers), so the threshold is the
(1 - budget) quantile of that fitted benign distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from targeting.config import RiskConfig

W_BREADTH = 0.4
W_TEMPLATE = 0.35
W_COT = 0.25
BREADTH_CAP = 1.2  # coverage ratio counted as full breadth
BREADTH_PRIOR = 0.3  # breadth assumed for an account too small to show any
BREADTH_VOLUME = 20  # requests at which half the breadth evidence is the account's own
TEMPLATE_ACCOUNTS_FULL = 5  # accounts sharing a template for full coordination weight
EPS = 1e-4
SEVERITY_LEVELS = (("critical", 0.9), ("high", 0.7), ("medium", 0.5), ("low", 0.0))


def evidence(signals: pd.DataFrame) -> pd.DataFrame:
    """The five evidence terms, each in [0, 1]."""
    n_area = signals["n_requests"] * signals["target_share"]
    own = np.clip(signals["coverage"] / BREADTH_CAP, 0.0, 1.0)
    weight = n_area / (n_area + BREADTH_VOLUME)
    shared = np.clip(np.log(np.maximum(signals["template_accounts"], 1)) / np.log(TEMPLATE_ACCOUNTS_FULL), 0, 1)
    return pd.DataFrame(
        {
            "focus": signals["target_share"].clip(0, 1),
            "freshness": signals["novelty"].clip(0, 1),
            "breadth": weight * own + (1 - weight) * BREADTH_PRIOR,
            "templating": signals["template_share"].clip(0, 1) * shared,
            "elicitation": signals["cot_share"].clip(0, 1),
        },
        index=signals.index,
    )


def combine(ev: pd.DataFrame) -> pd.Series:
    mix = (W_BREADTH * ev["breadth"] + W_TEMPLATE * ev["templating"] + W_COT * ev["elicitation"]) / (
        W_BREADTH + W_TEMPLATE + W_COT
    )
    return (ev["focus"] * ev["freshness"] * mix).rename("risk_score")


def calibrate_threshold(risk: np.ndarray, budget: float) -> float:
    """Score above which about ``budget`` of benign-looking accounts would fall."""
    risk = np.asarray(risk, dtype=float)
    if len(risk) == 0:
        return 1.0
    z = np.log((risk + EPS) / (1 - risk + EPS))
    center = np.median(z)
    scale = 1.4826 * np.median(np.abs(z - center))
    if scale <= 0:
        scale = np.std(z) or 1.0
    cut = center + norm.ppf(1 - budget) * scale
    return float(1 / (1 + np.exp(-cut)))


def severity(risk: pd.Series, flagged: pd.Series, threshold: float) -> pd.Series:
    """none for unflagged accounts; low..critical by how far past the threshold."""
    span = max(1.0 - threshold, 1e-6)
    position = ((risk - threshold) / span).clip(0, 1)
    labels = pd.Series("none", index=risk.index, dtype=object)
    for name, floor in reversed(SEVERITY_LEVELS):
        labels[flagged & (position >= floor)] = name
    return labels


def _pct(series: pd.Series) -> pd.Series:
    return series.rank(pct=True, method="max")


def _top(p: float) -> str:
    share = max(1.0 - p, 1.0 / 1000)
    return f"top {100 * share:.1f}%" if share < 0.1 else f"top {100 * share:.0f}%"


def reasons(signals: pd.DataFrame, ev: pd.DataFrame, n_top: int = 3) -> pd.Series:
    """Plain-words evidence with the figures behind it, strongest first."""
    pct = {c: _pct(signals[c]) for c in ("target_share", "coverage", "template_share", "cot_share", "novelty")}
    out = {}
    for account, s in signals.iterrows():
        e = ev.loc[account]
        items: list[tuple[float, str]] = []
        area = str(s["target_area"]).replace("_", " ")
        items.append(
            (e["focus"] * 0.5, f"{100 * s['target_share']:.0f}% of requests in {area} ({_top(pct['target_share'][account])})")
        )
        if s["n_requests"] * s["target_share"] >= 5:
            items.append(
                (
                    W_BREADTH * e["breadth"],
                    f"covers {int(s['covered_clusters'])} of {int(s['area_clusters'])} "
                    f"{str(s['dominant_area']).replace('_', ' ')} clusters "
                    f"(expected {s['expected_clusters']:.1f} for this volume; ratio {s['coverage']:.2f}, "
                    f"{_top(pct['coverage'][account])})",
                )
            )
        if s["template_share"] > 0:
            items.append(
                (
                    W_TEMPLATE * e["templating"] + 0.01,
                    f"{100 * s['template_share']:.0f}% of prompts follow a template shared with "
                    f"{max(int(s['template_accounts']) - 1, 0)} other accounts",
                )
            )
        if s["cot_share"] > 0:
            items.append(
                (
                    W_COT * e["elicitation"],
                    f"{100 * s['cot_share']:.0f}% of prompts elicit step-by-step reasoning or grading "
                    f"({_top(pct['cot_share'][account])})",
                )
            )
        repeats = 1 - s["novelty"]
        if repeats >= 0.2:
            items.append((repeats, f"{100 * repeats:.0f}% of requests repeat its own earlier prompts (lowers risk)"))
        items.sort(key=lambda t: -t[0])
        out[account] = "; ".join(text for _, text in items[:n_top])
    return pd.Series(out, name="reasons")


def score_accounts(signals: pd.DataFrame, config: RiskConfig) -> tuple[pd.DataFrame, float]:
    """risk_score, flagged, severity, reasons (and the evidence terms). Returns the threshold."""
    ev = evidence(signals)
    risk = combine(ev)
    threshold = calibrate_threshold(risk.to_numpy(), config.fp_budget)
    allowed = signals.index.isin(config.allowlist)
    flagged = (risk >= threshold) & ~allowed
    out = ev.add_prefix("evidence_")
    out["risk_score"] = risk
    out["flagged"] = flagged
    out["severity"] = severity(risk, flagged, threshold)
    out["allowlisted"] = allowed
    out["reasons"] = reasons(signals, ev)
    return out, threshold
