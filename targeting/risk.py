"""Combining signals into ``risk_score``, the flag at a false-positive budget, and reasons.

The score is a product of two gates and a weighted mean of evidence, every part in [0, 1]
and monotone in suspicion::

    risk = (FOCUS_FLOOR + (1 - FOCUS_FLOOR) * focus) * freshness * (1 - W_CLUMPED * (1 - evenness))
           * (W_BREADTH*breadth + W_COORDINATION*coordination + W_COT*elicitation + W_TIMING*automation)
           / (W_BREADTH + W_COORDINATION + W_COT + W_TIMING)

- focus: share of the actor's requests in its most-used area worth extracting (every area
  but the taxonomy's fallback). Extraction targets a capability.
- freshness: novelty. Evaluation harnesses and stress tests repeat themselves; extraction
  wants new outputs.
- evenness: 1 - how clearly the actor's prompts clump inside their area instead of filling it
  (``regularity`` below 1, i.e. nearest neighbours closer than in the area's typical
  account), weighted by how many distinct prompts show it: the organic users behind an
  agent product or an app return to the same few things; a coverage plan spreads out. For
  a campaign it is the mean over its members of each member's own value: pooling many
  users' clumps makes any group look spread (the pooled campaign regularity was tried
  and lost recall), and a few prompts of a small member show nothing either way.
- breadth: volume-adjusted coverage of the dominant area (1 = spreads like a random draw
  from the area's whole population), shrunk towards a prior at low volume, where a few
  requests cannot show coverage. For a campaign member, the campaign's union coverage
  counts when larger: members that split the space between them are found together.
- coordination: how many other accounts share this account's rare templates, wrappers or
  system-prompt variants (``targeting.campaigns``); one account wrapping its users'
  messages is an app, many accounts doing it in step are an operation. Accounts linked
  only by shared infrastructure (addresses, creation batches; ``targeting.linking``) count
  ``INFRA_WEIGHT`` each: a company's or classroom's accounts share those too.
- elicitation: share of requests eliciting articulated reasoning or grading.
- automation: round-the-clock activity (hours of the day used, against the hours expected
  for the volume); people sleep, operations and apps do not. Neutral at low volume.

"The actor is the unit": focus and breadth take the campaign's value where the account
belongs to one, so a member with 20 requests in a campaign of 100 accounts is scored as
the campaign is.

The flag is calibrated without labels: the budget is a share of benign-looking accounts,
whose score distribution is estimated from the bulk of all scores (the median and the
65th percentile, which a minority of attackers in the tail barely moves, with an
exponential tail above the median); the threshold is the (1 - budget) quantile of that distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.config import RiskConfig

W_BREADTH = 0.35
W_COORDINATION = 0.4
W_COT = 0.25
W_TIMING = 0.15
W_CLUMPED = 0.5  # a fully clumped actor keeps half its score: clumping argues against, it does not clear
CLUMP_SPAN = 0.5  # regularity 1 - CLUMP_SPAN (half the typical nearest-neighbour distance) is fully clumped
CLUMP_PROMPTS = 30  # distinct prompts in the area at which half the clumping evidence is the account's own
TIMING_VOLUME = 24  # requests at which half the round-the-clock evidence is the actor's own
BREADTH_CAP = 1.2  # coverage ratio counted as full breadth
BREADTH_PRIOR = 0.3  # breadth assumed for an account too small to show any
BREADTH_VOLUME = 20  # requests at which half the breadth evidence is the account's own
COORDINATION_FULL = 20  # linked accounts for full coordination weight
INFRA_WEIGHT = 0.5  # an account linked only by shared infrastructure counts half a template partner
FOCUS_FLOOR = 0.25  # cover traffic dilutes focus: it lowers the score, it cannot hide an actor
PRIOR_REQUESTS = 5  # pseudo-requests of typical behaviour added to every actor's shares
EPS = 1e-4
UPPER_QUANTILE = 0.65  # with the median, describes the benign bulk (see calibrate_threshold)
SEVERITY_LEVELS = (("critical", 1.5), ("high", 1.3), ("medium", 1.15), ("low", 1.0))  # x threshold


def _breadth(coverage: pd.Series, volume: pd.Series) -> pd.Series:
    own = np.clip(coverage.fillna(0) / BREADTH_CAP, 0.0, 1.0)
    weight = volume / (volume + BREADTH_VOLUME)
    return weight * own + (1 - weight) * BREADTH_PRIOR


def _col(signals: pd.DataFrame, name: str, default: float = 0.0) -> pd.Series:
    if name in signals:
        return signals[name].astype(float).fillna(default)
    return pd.Series(default, index=signals.index, dtype=float)


def _shrink(share: pd.Series, volume: pd.Series, prior: float) -> pd.Series:
    """Posterior mean of a share after ``PRIOR_REQUESTS`` pseudo-requests at the prior:
    one request in an area is not "100% concentration"."""
    return (share * volume + prior * PRIOR_REQUESTS) / (volume + PRIOR_REQUESTS)


def _automation(signals: pd.DataFrame, member: pd.Series, volume: pd.Series) -> pd.Series:
    """Round-the-clock activity of the actor, shrunk to neutral (0.5) at low volume."""
    hours = pd.Series(
        np.where(member, _col(signals, "campaign_hour_coverage", 0.5), _col(signals, "hour_coverage", 0.5)),
        index=signals.index,
    ).clip(0, 1)
    weight = volume / (volume + TIMING_VOLUME)
    return weight * hours + (1 - weight) * 0.5


def _clumped(signals: pd.DataFrame, member: pd.Series) -> pd.Series:
    """Confident clumping of each account, averaged over its campaign's members."""
    if "regularity" not in signals or "distinct_in_area" not in signals:
        return pd.Series(0.0, index=signals.index)
    m = _col(signals, "distinct_in_area")
    own = (m / (m + CLUMP_PROMPTS)) * ((1 - _col(signals, "regularity", 1.0)) / CLUMP_SPAN).clip(0, 1)
    campaign = signals["campaign_id"].where(member, "") if "campaign_id" in signals else pd.Series("", index=signals.index)
    pooled = own.groupby(campaign.to_numpy()).transform("mean")
    return pd.Series(np.where(member & (campaign != ""), pooled, own), index=signals.index)


def evidence(signals: pd.DataFrame) -> pd.DataFrame:
    """The evidence terms, each in [0, 1], measured on the actor.

    The actor is the campaign where the account belongs to one (its pooled requests), the
    account otherwise. Shares are shrunk towards the population's median by
    ``PRIOR_REQUESTS`` pseudo-requests, so small actors need more consistent behaviour.
    """
    member = _col(signals, "campaign_size") >= 2
    volume = np.where(member, _col(signals, "campaign_requests"), signals["n_requests"]).astype(float)
    volume = pd.Series(volume, index=signals.index)
    focus = pd.Series(np.where(member, _col(signals, "campaign_target_share"), signals["target_share"]), index=signals.index)
    cot = pd.Series(np.where(member, _col(signals, "campaign_cot_share"), signals["cot_share"]), index=signals.index)
    # near-duplicates are judged within the account (across a large campaign pool templated
    # siblings come close by sheer number); exact repeats across the campaign count too
    # (a suite split between accounts)
    fresh = pd.Series(
        np.where(member, np.minimum(signals["novelty"], 1 - _col(signals, "campaign_exact_repeat_share")),
                 signals["novelty"]),
        index=signals.index,
    )
    own_volume = signals["n_requests"] * signals["target_share"]
    breadth = _breadth(signals["coverage"], own_volume)
    camp_volume = _col(signals, "campaign_requests") * _col(signals, "campaign_target_share")
    camp_breadth = _breadth(_col(signals, "campaign_coverage"), camp_volume)
    content = _col(signals, "campaign_content_share", 1.0).clip(0, 1)
    linked = np.maximum(
        _col(signals, "linked_accounts") + INFRA_WEIGHT * _col(signals, "infra_linked_accounts"),
        (_col(signals, "campaign_size") - 1) * (content + INFRA_WEIGHT * (1 - content)),
    ).clip(lower=0)
    return pd.DataFrame(
        {
            "focus": _shrink(focus.clip(0, 1), volume, float(signals["target_share"].median())),
            "freshness": _shrink(fresh.clip(0, 1), volume, float(signals["novelty"].median())),
            "breadth": np.where(member, np.maximum(breadth, camp_breadth), breadth),
            "coordination": np.clip(np.log1p(linked) / np.log1p(COORDINATION_FULL), 0, 1),
            "elicitation": _shrink(cot.clip(0, 1), volume, float(signals["cot_share"].median())),
            "automation": _automation(signals, member, volume),
            "evenness": 1.0 - _clumped(signals, member),
        },
        index=signals.index,
    )


def combine(ev: pd.DataFrame) -> pd.Series:
    mix = (
        W_BREADTH * ev["breadth"] + W_COORDINATION * ev["coordination"] + W_COT * ev["elicitation"]
        + W_TIMING * ev["automation"]
    ) / (W_BREADTH + W_COORDINATION + W_COT + W_TIMING)
    gate = FOCUS_FLOOR + (1 - FOCUS_FLOOR) * ev["focus"]
    spread = 1 - W_CLUMPED * (1 - ev["evenness"]) if "evenness" in ev else 1.0
    return (gate * ev["freshness"] * spread * mix).rename("risk_score")


def calibrate_threshold(risk: np.ndarray, budget: float) -> float:
    """Score above which about ``budget`` of benign-looking accounts would fall.

    The benign bulk is summarised by the median and the 65th percentile of all scores:
    attackers sit in the upper tail, so a minority of them moves these two quantiles
    little, where a plain quantile of all accounts would flag ``budget`` of the whole
    population and miss most attackers whenever they outnumber the budget. Above the median
    the benign tail is modelled as exponential, P(risk > x) = 0.5 exp(-(x - q50) / beta),
    with beta = (q65 - q50) / ln(0.5 / 0.35). A normal tail was tried first and put two to
    three times the budget of benign accounts over the threshold (coordinated benign groups,
    shared apps and cohorts, make the tail heavy). The upper quartile was used before the
    65th percentile; where attackers are a tenth of the accounts (the generated traffic)
    they lift the quartile enough to leave a third of them unflagged, with no benign
    account over the threshold on five generated sets (``bench/run_pipeline.py``).

    The exponential tail is conservative: where the benign scores end in a short tail
    (generated traffic with 40% cover traffic) it put the threshold above every account,
    attackers included. So the threshold is never above the (1 - budget) quantile of all
    scores: the budget is spent, at least ``budget`` of the accounts are flagged, and since
    benign accounts are most of them, no more than about ``budget`` of the benign ones.
    """
    risk = np.asarray(risk, dtype=float)
    if len(risk) == 0:
        return 1.0
    center, upper, spend = np.quantile(risk, [0.5, UPPER_QUANTILE, 1.0 - budget])
    beta = (upper - center) / np.log(0.5 / (1.0 - UPPER_QUANTILE))
    if beta <= 0:
        beta = float(np.std(risk)) or EPS
    return float(min(center + beta * np.log(0.5 / budget), spend, 1.0))


def severity(risk: pd.Series, flagged: pd.Series, threshold: float) -> pd.Series:
    """none for unflagged accounts; low..critical by how many times the threshold the score is."""
    ratio = risk / max(threshold, 1e-6)
    labels = pd.Series("none", index=risk.index, dtype=object)
    for name, floor in reversed(SEVERITY_LEVELS):
        labels[flagged & (ratio >= floor)] = name
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
        size = int(s.get("campaign_size", 0) or 0)
        linked = int(s.get("linked_accounts", 0) or 0)
        infra = int(s.get("infra_linked_accounts", 0) or 0)
        if size >= 2 or linked > 0 or infra > 0:
            parts = []
            if linked:
                parts.append(f"shares rare templates, wrappers or system-prompt variants with {linked} other accounts")
            if infra:
                parts.append(f"shares rare client addresses or a creation batch with {infra} more")
            text = "; ".join(parts) or "linked to other accounts"
            if size >= 2:
                text += (
                    f" (campaign {s['campaign_id']}: {size} accounts, {int(s['campaign_requests']):,} requests, "
                    f"{100 * s['campaign_target_share']:.0f}% {area}; covers {int(s['campaign_covered_clusters'])} "
                    f"clusters, expected {s['campaign_expected_clusters']:.1f} for its volume)"
                )
            items.append((W_COORDINATION * e["coordination"] + 0.01, text))
        if s["template_share"] >= 0.5 and size < 2:
            items.append((0.05, f"{100 * s['template_share']:.0f}% of prompts instantiate templates"))
        if s["cot_share"] > 0:
            items.append(
                (
                    W_COT * e["elicitation"],
                    f"{100 * s['cot_share']:.0f}% of prompts elicit step-by-step reasoning or grading "
                    f"({_top(pct['cot_share'][account])})",
                )
            )
        hours = s.get("hour_coverage")
        if hours is not None and not pd.isna(hours) and s["n_requests"] >= TIMING_VOLUME and hours >= 0.9:
            items.append((W_TIMING * e["automation"], f"active around the clock ({100 * hours:.0f}% of the hours "
                          f"expected for {int(s['n_requests'])} requests spread over the day)"))
        if 1 - e["evenness"] >= 0.2 and not pd.isna(s.get("regularity")):
            items.append((W_CLUMPED * (1 - e["evenness"]), f"prompts clump within {str(s['dominant_area']).replace('_', ' ')}: "
                          f"nearest neighbours at {s['regularity']:.2f}x the area's typical spacing over "
                          f"{int(s['distinct_in_area'])} distinct prompts (lowers risk)"))
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
