"""Signals as evidence against benign peers, one combination, the flag at a budget, reasons.

Every signal family gives one value per account, oriented so that higher is more like
extraction (``FAMILIES``):

- focus: share of the account's requests in its most-used area worth extracting;
- freshness: share of requests that repeat none of its earlier prompts (harnesses and load
  tests repeat themselves; extraction wants new outputs);
- elicitation: share of prompts eliciting articulated reasoning or grading;
- automation: round-the-clock activity (hours of the day used against those expected);
- cadence: steady inter-arrival times (minus their coefficient of variation): people come
  in sessions;
- templates: share of prompts instantiating a template shared with other prompts;
- evenness: regularity, how evenly its prompts fill their area (organic users clump);
- coordination: the account's tie to a coherent campaign (``targeting.communities``):
  tie x coherence x log(size).

Breadth (how many of its area's clusters an account reaches, the headline ``coverage``) is
reported but is not a family: the variety of an app's or a product's user base reaches as
many clusters as a sweep does (the threat model's warning about raw coverage). As a family
it cost the simulator recall at 1% (0.913 with it, 0.973 without) and found one more
attacker and one more hard negative on external-s3 (0.963 and 4 of 33 with it, 0.959 and 3
without); evenness measures how the area is filled.

Each value is turned into an empirical tail probability among the account's peers, the
accounts of the same content area (what its requests are about; every area for focus) and
comparable volume (``targeting.peers``), and the account's own evidence is Fisher's combination of them, ``E = sum_j -ln p_j``: every family
counts the same (no weight is fitted to any data set), a family on which the account is
ordinary adds about 1, one on which it is rarer than all its peers adds about ln(PEERS + 1).
The ranking is by how unusual the account is among accounts that could be mistaken for it.

Members keep their own evidence. A campaign adds its group evidence (``group_evidence``: a
sign test over how many of its members are unusual) to each member in proportion to the
member's tie, relative to the campaign's median tie, so a member with little traffic of its
own is judged with the operation it belongs to, and a benign group (a classroom, a company
behind one gateway) whose members are each ordinary raises nobody::

    E_final = E_own + min(1, tie / median tie) * [volume <= SPOKEN * median volume]
                    * min(1, breadth / BREADTH_TYPICAL) * E_group

A member tied by less than half the median tie has left the campaign
(``targeting.communities``), so every member takes at least half of it by its tie. The
campaign's evidence stands in for the evidence a member's own traffic is too small to give:
a member that sends more than ``SPOKEN`` times what its campaign's typical member sends has
spoken for itself and is judged on its own traffic alone. An agent product whose users'
coding tasks are written in the same request grammar as a coding operation's sits at the
edge of that operation's group; with three to four times the members' volume and nothing
unusual in it, it is not raised by the operation (it took a share in inverse proportion to
its volume before: 2 of 33 hard negatives above the 1% threshold on external-s3, none now,
every other figure on both sets unchanged or better).

A campaign passes its group evidence on only as far as the group together fills its area
(``campaign_breadth``): the clusters its pooled traffic reaches, as a percentile among the
single accounts of its area that send as much as all its members together. From the median
(``BREADTH_TYPICAL``) up it passes all of it, below in proportion, and a group narrower than
every such account passes none. Strangers who run one public recipe (a nightly report, a
ticket classifier, a load test) share its wording, so their accounts link, and each is
unusual on its own (templated, round the clock, steady); but together they send the same
task over and over, where an operation splits a capability between its accounts. On the
simulator the scheduled scripts' groups reach 1 to 4 clusters (percentiles 0.09 to 0.28),
every operation 15 to 29 (0.86 and up); on external-s3 its cron groups 1 and 2 (0.06, 0.14)
and every operation but one split-off group of seven (0.14) 40 or more (1.00). Breadth is
evidence *against* here only: as a family of its own it failed (see above).

``risk_score = 1 - exp(-E_final / J)`` maps it to [0, 1) (J = families in use), monotone.

The flag is calibrated without labels (``calibrate_threshold``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binom

from targeting.config import EVIDENCE_FAMILIES, ORDINARY_P, RiskConfig
from targeting.peers import percentile_among, tail_probability

FAMILIES = EVIDENCE_FAMILIES
SPOKEN = 2.0  # a member sending more than this many times its campaign's median volume speaks for itself
UNUSUAL_SHARE = 0.25  # a member is unusual when its own evidence is in the population's top quarter
PRIOR_REQUESTS = 5  # pseudo-requests of typical behaviour added to every account's shares
EPS = 1e-4
UPPER_QUANTILE = 0.65  # with the median, describes the benign bulk (see calibrate_threshold)
BREADTH_TYPICAL = 0.5  # a campaign whose pooled traffic reaches fewer clusters than this share of its peers is narrow
SEVERITY_LEVELS = (("critical", 1.5), ("high", 1.3), ("medium", 1.15), ("low", 1.0))  # x threshold


def _col(signals: pd.DataFrame, name: str, default: float = 0.0) -> pd.Series:
    if name in signals:
        return signals[name].astype(float).fillna(default)
    return pd.Series(default, index=signals.index, dtype=float)


def _shrink(share: pd.Series, volume: pd.Series, prior: float) -> pd.Series:
    """Posterior mean of a share after ``PRIOR_REQUESTS`` pseudo-requests at the prior:
    one request in an area is not "100% concentration"."""
    return (share * volume + prior * PRIOR_REQUESTS) / (volume + PRIOR_REQUESTS)


def _peer_area(signals: pd.DataFrame) -> pd.Series | None:
    """The area whose accounts are an account's peers: what its requests are about
    (``content_area``; ``dominant_area`` in tables that predate it)."""
    for column in ("content_area", "dominant_area"):
        if column in signals:
            return signals[column]
    return None


def family_values(signals: pd.DataFrame) -> pd.DataFrame:
    """One value per account and family, higher = more like extraction (NaN: not measured)."""
    volume = signals["n_requests"].astype(float)
    size = _col(signals, "campaign_size")
    return pd.DataFrame(
        {
            "focus": _shrink(_col(signals, "target_share"), volume, float(_col(signals, "target_share").median())),
            "freshness": _col(signals, "novelty", 1.0),
            "elicitation": _shrink(_col(signals, "cot_share"), volume, float(_col(signals, "cot_share").median())),
            "automation": signals["hour_coverage"].astype(float) if "hour_coverage" in signals else np.nan,
            "cadence": -signals["interarrival_cv"].astype(float) if "interarrival_cv" in signals else np.nan,
            "templates": _col(signals, "template_share"),
            "evenness": signals["regularity"].astype(float) if "regularity" in signals else np.nan,
            "coordination": _col(signals, "campaign_tie") * _col(signals, "campaign_coherence")
            * np.log(np.maximum(size, 1.0)),
        },
        index=signals.index,
    )


def evidence(signals: pd.DataFrame, disable: tuple[str, ...] = ()) -> pd.DataFrame:
    """-ln(tail probability among peers) of each family in use (columns ``FAMILIES`` minus
    ``disable``), and each family's tail probability as ``p_<family>``."""
    values = family_values(signals)
    volume = signals["n_requests"].astype(float)
    area = _peer_area(signals)
    out = {}
    for family in FAMILIES:
        if family in disable:
            continue
        # focus is judged against every account of its volume: within its own area, nearly every
        # account is focused on that area, and an "other" account's focus is what matters
        p = tail_probability(values[family], volume, None if family == "focus" else area)
        out[family] = -np.log(p)
        out[f"p_{family}"] = p
    return pd.DataFrame(out, index=signals.index)


def coverage_percentile(signals: pd.DataFrame) -> pd.Series:
    """The headline ``coverage``: the share of accounts of the same content area and
    comparable volume (``targeting.peers``) that reach fewer of the area's clusters (ties
    count half). 0.5 is a typical account of its kind; near 1, the account reaches more of
    its area than almost any account that sends as much. Raw coverage, or coverage divided
    by the clusters expected for the volume (``coverage_ratio``), does not separate
    attackers on traffic we did not write (AUROC 0.48 and 0.43): organic accounts of an
    area draw from its popular clusters, products and harnesses from everywhere."""
    clusters = _col(signals, "covered_clusters")
    volume = signals["n_requests"].astype(float)
    area = _peer_area(signals)
    return (1.0 - tail_probability(clusters, volume, area, mid=True)).clip(0, 1).rename("coverage")


def _families(ev: pd.DataFrame) -> list[str]:
    return [f for f in FAMILIES if f in ev]


def own_evidence(ev: pd.DataFrame) -> pd.Series:
    """Fisher's combination of the account's own tail probabilities."""
    return ev[_families(ev)].sum(axis=1).rename("evidence_own")


def group_evidence(own: pd.Series, campaign: pd.Series) -> pd.Series:
    """-ln P(at least k of m accounts drawn at random are unusual), per campaign of m members
    of which k are unusual (own evidence in the population's top ``UNUSUAL_SHARE``): a sign
    test. A campaign of 70 accounts each a little unusual is very unusual as a group; a
    classroom or a company behind one gateway, whose members are each ordinary, is ordinary
    as a group too; and how extreme a few members are does not matter, only how many of the
    tied accounts are unusual (a mean would let two extreme members carry any group)."""
    member = campaign != ""
    if not member.any():
        return pd.Series(dtype=float)
    bar = float(np.quantile(own, 1.0 - UNUSUAL_SHARE))
    g = (own[member] > bar).groupby(campaign[member])
    above, size = g.sum(), g.size()
    return pd.Series(-binom.logsf(above.to_numpy() - 1, size.to_numpy(), UNUSUAL_SHARE), index=above.index).clip(lower=0.0)


def _campaigns(signals: pd.DataFrame) -> pd.Series:
    if "campaign_id" in signals:
        return signals["campaign_id"].fillna("").astype(str)
    return pd.Series("", index=signals.index)


def campaign_breadth(signals: pd.DataFrame) -> pd.Series:
    """Per campaign id: how many of its area's clusters the campaign's pooled traffic reaches
    (``campaign_covered_clusters``), as a mid-rank percentile among the single accounts of the
    area most of its members are about that send about as much as all members together
    (``peers.percentile_among``). Near 1: the group together reaches more of its area than
    almost any account of that volume, as an operation splitting a capability between its
    accounts does; near 0: the group sends one task over and over (scheduled jobs of one
    public recipe, a load test), however alike its members' wording. Empty without the
    campaign columns."""
    campaign = _campaigns(signals)
    member = campaign != ""
    if not member.any() or "campaign_covered_clusters" not in signals or "campaign_requests" not in signals:
        return pd.Series(dtype=float)
    area = _peer_area(signals)
    area = area.astype(str) if area is not None else pd.Series("", index=signals.index)
    by = campaign[member]
    pooled = signals.loc[member, ["campaign_covered_clusters", "campaign_requests"]].groupby(by).first()
    group_area = area[member].groupby(by).agg(lambda s: s.value_counts().sort_index(kind="stable").idxmax())
    return percentile_among(pooled["campaign_covered_clusters"], pooled["campaign_requests"], group_area.reindex(
        pooled.index), _col(signals, "covered_clusters"), signals["n_requests"], area).rename("campaign_breadth")


def breadth_weight(breadth: pd.Series) -> pd.Series:
    """The share of its group evidence a campaign passes on: all of it from ``BREADTH_TYPICAL``
    up, in proportion below (a group narrower than every peer passes none); 1 where not
    measured."""
    return (breadth / BREADTH_TYPICAL).clip(0.0, 1.0).fillna(1.0)


def with_campaign(own: pd.Series, signals: pd.DataFrame, breadth: pd.Series | None = None) -> pd.Series:
    """Each member's own evidence plus its campaign's group evidence, by its tie and the
    campaign's breadth (see the doc)."""
    campaign = _campaigns(signals)
    member = campaign != ""
    if not member.any():
        return own.rename("evidence_final")
    group = group_evidence(own, campaign)
    if breadth is not None and len(breadth):
        group = group * breadth_weight(breadth.reindex(group.index))
    group = group.reindex(campaign[member].to_numpy()).to_numpy()
    tie = _col(signals, "campaign_tie")[member]
    ratio = tie / tie.groupby(campaign[member]).transform("median").clip(lower=EPS)
    pull = ratio.clip(0, 1)
    volume = signals["n_requests"].astype(float)[member]
    typical = volume.groupby(campaign[member]).transform("median")
    pull = pull * (volume <= SPOKEN * typical)  # a member that has spoken for itself is judged on its own
    out = own.copy()
    out[member] = own[member] + pull * group
    return out.rename("evidence_final")


def to_risk(total: pd.Series, n_families: int) -> pd.Series:
    return (1.0 - np.exp(-total / max(n_families, 1))).rename("risk_score")


def calibrate_threshold(risk: np.ndarray, budget: float) -> float:
    """Value above which about ``budget`` of benign-looking accounts would fall.

    The benign bulk is summarised by the median and the 65th percentile of all scores:
    attackers sit in the upper tail, so a minority of them moves these two quantiles
    little, where a plain quantile of all accounts would flag ``budget`` of the whole
    population and miss most attackers whenever they outnumber the budget. Above the median
    the benign tail is modelled as exponential, P(risk > x) = 0.5 exp(-(x - q50) / beta),
    with beta = (q65 - q50) / ln(0.5 / 0.35): a sum of -ln p terms has an exponential (gamma)
    tail. The threshold is never above the (1 - budget) quantile of all scores: the budget
    is spent."""
    risk = np.asarray(risk, dtype=float)
    if len(risk) == 0:
        return 1.0
    center, upper, spend = np.quantile(risk, [0.5, UPPER_QUANTILE, 1.0 - budget])
    beta = (upper - center) / np.log(0.5 / (1.0 - UPPER_QUANTILE))
    if beta <= 0:
        beta = float(np.std(risk)) or EPS
    return float(min(center + beta * np.log(0.5 / budget), spend))


def severity(risk: pd.Series, flagged: pd.Series, threshold: float) -> pd.Series:
    """none for unflagged accounts; low..critical by how many times the threshold the score is."""
    ratio = risk / max(threshold, 1e-6)
    labels = pd.Series("none", index=risk.index, dtype=object)
    for name, floor in reversed(SEVERITY_LEVELS):
        labels[flagged & (ratio >= floor)] = name
    return labels


def _rarer(p: float, family: str = "") -> str:
    """'rarer than 97% of peers' from a tail probability (focus is judged across areas)."""
    peers = "accounts of its volume" if family == "focus" else "accounts of its area and volume"
    return f"rarer than {100 * (1 - p):.0f}% of {peers}"


def _family_text(family: str, s: pd.Series, p: float) -> str | None:
    area = str(s.get("content_area", s.get("dominant_area", ""))).replace("_", " ")
    if family == "focus":
        return f"{100 * s['target_share']:.0f}% of requests in {str(s['target_area']).replace('_', ' ')}"
    if family == "freshness":
        return f"{100 * s['novelty']:.0f}% of requests repeat none of its earlier prompts"
    if family == "elicitation":
        return f"{100 * s['cot_share']:.0f}% of prompts elicit step-by-step reasoning or grading"
    if family == "automation" and not pd.isna(s.get("hour_coverage")):
        return f"active around the clock ({100 * s['hour_coverage']:.0f}% of the hours expected for its volume)"
    if family == "templates":
        return f"{100 * s['template_share']:.0f}% of prompts instantiate templates"
    if family == "evenness" and not pd.isna(s.get("regularity")):
        return f"prompts spread evenly over {area} (nearest neighbours at {s['regularity']:.2f}x the typical spacing)"
    if family == "coordination" and s.get("campaign_id"):
        return (f"in campaign {s['campaign_id']} ({int(s.get('campaign_size', 0))} accounts, coherence "
                f"{s.get('campaign_coherence', 0):.2f}, tie {s.get('campaign_tie', 0):.2f})")
    return None


def _narrow_text(s: pd.Series, breadth: float) -> str:
    return (f"its campaign {s['campaign_id']}'s {int(s.get('campaign_size', 0))} accounts together reach "
            f"{int(s.get('campaign_covered_clusters', 0))} clusters, fewer than {100 * (1 - breadth):.0f}% of "
            f"accounts sending as much: group evidence x{breadth_weight(pd.Series([breadth])).iloc[0]:.2f}")


def reasons(signals: pd.DataFrame, ev: pd.DataFrame, final: pd.Series, n_top: int = 3,
            breadth: pd.Series | None = None) -> pd.Series:
    """Plain-words evidence, strongest first: each family the account is unusual on, with its
    figures and how unusual it is among its peers, and what its campaign adds (and, when its
    campaign is narrow, how much of the group evidence it withheld: ``campaign_breadth``)."""
    own = own_evidence(ev)
    families = _families(ev)
    out = {}
    for account, s in signals.iterrows():
        items: list[tuple[float, str]] = []
        for family in families:
            p = float(ev.at[account, f"p_{family}"])
            if p > ORDINARY_P:
                continue
            text = _family_text(family, s, p)
            if text:
                items.append((-np.log(p), f"{text} ({_rarer(p, family)})"))
        items.sort(key=lambda t: -t[0])
        texts = [t for _, t in items[:n_top]]
        raised = float(final[account] - own[account])
        if raised > 0.05:
            texts.append(f"raised by its campaign {s['campaign_id']} ({int(s.get('campaign_size', 0))} accounts, "
                         f"many of them unusual; its tie {s.get('campaign_tie', 0):.2f}): +{raised:.1f}")
        narrow = breadth.get(s.get("campaign_id") or "", np.nan) if breadth is not None else np.nan
        if narrow < BREADTH_TYPICAL:
            texts.append(_narrow_text(s, float(narrow)))
        out[account] = "; ".join(texts) or "nothing unusual for its area and volume"
    return pd.Series(out, name="reasons")


def score_accounts(signals: pd.DataFrame, config: RiskConfig) -> tuple[pd.DataFrame, float]:
    """risk_score, flagged, severity, reasons (and the evidence terms). Returns the threshold."""
    disable = config.disable
    ev = evidence(signals, disable)
    own = own_evidence(ev)
    breadth = campaign_breadth(signals)
    final = with_campaign(own, signals, breadth)
    n_families = len(_families(ev))
    risk = to_risk(final, n_families)
    # calibrated on the evidence scale, whose benign tail is exponential (a sum of -ln p)
    threshold = float(to_risk(pd.Series([calibrate_threshold(final.to_numpy(), config.fp_budget)]), n_families).iloc[0])
    allowed = signals.index.isin(config.allowlist)
    flagged = (risk >= threshold) & ~allowed
    out = ev.add_prefix("evidence_")
    out["coverage"] = coverage_percentile(signals)
    out["evidence_own"] = own
    out["evidence_final"] = final
    out["risk_score"] = risk
    out["flagged"] = flagged
    out["severity"] = severity(risk, flagged, threshold)
    out["allowlisted"] = allowed
    out["campaign_breadth"] = _campaigns(signals).map(breadth).astype(float) if len(breadth) else np.nan
    out["reasons"] = reasons(signals, ev, final, breadth=breadth)
    return out, threshold
