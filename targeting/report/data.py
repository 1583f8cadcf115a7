"""Everything the policy report says, gathered once from the workspace.

``build_report`` reads the scored nights of a period and turns them into a
``ReportData`` of plain values and small frames; the renderers only format it. Every
figure comes from ``targeting.summaries`` (the functions the app's pages call), so the
report and the app agree. Prompt text is redacted here, once, unless the caller opts in
to the original text, so no renderer can forget to.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from targeting import summaries as SM
from targeting import workspace as W
from targeting.display import safe_text
from targeting.evidence import campaign_evidence
from targeting.report.maps import BesideMap, beside_typical, current_map
from targeting.redact import redact, shorten

log = logging.getLogger("targeting")

EXAMPLES_PER_CAMPAIGN = 2  # the limit: at most two short example prompts per campaign
EXAMPLE_CHARS = 240  # an example prompt is cut to this many characters
EVIDENCE_CHARS = 400  # an evidence sentence (it quotes shared text) is cut to this many
MAX_CAMPAIGN_SECTIONS = 12  # campaigns beyond this (smallest volume) are listed in a table only
TOP_CLUSTERS = 8  # sub-topics listed per area
MAP_CAMPAIGNS = 3  # the largest campaigns drawn on the map beside typical accounts
MAX_LONE_ACCOUNTS = 15  # flagged accounts outside campaigns listed by name
EVIDENCE_KINDS = ("wrapper", "system_prompt", "tools", "template")  # coverage has its own columns

# The project's reference measurements on generated, labelled traffic (README, "Detection
# quality"): cited when the workspace records no evaluation of its own. tests/test_report.py
# checks that these figures still appear in the README, so the two cannot drift apart.
REFERENCE_EVALUATION: tuple[tuple[str, str, str], ...] = (
    ("independently generated traffic (external-s3), 1,223 accounts, with client addresses",
     "account-level AUROC", "0.996"),
    ("independently generated traffic (external-s3), 1,223 accounts, with client addresses",
     "recall at 1% false-positive rate", "0.959"),
    ("independently generated traffic (external-s3), 1,223 accounts, with client addresses",
     "precision of `flagged`", "0.996"),
    ("independently generated traffic (external-s3), prompts and timestamps only",
     "recall at 1% false-positive rate", "0.959"),
    ("this project's generated traffic, every evasion at once, 1,500 accounts, with client addresses",
     "account-level AUROC", "0.999"),
    ("this project's generated traffic, every evasion at once, 1,500 accounts, with client addresses",
     "recall at 1% false-positive rate", "0.973"),
    ("this project's generated traffic, every evasion at once, prompts and timestamps only",
     "recall at 1% false-positive rate", "0.907"),
)

CANNOT_SEE = (
    "Output text: only prompts are scored, so what the model answered (and how useful it is for "
    "training) is not measured.",
    "Traffic outside this workspace: other API products, other regions or logs not loaded here.",
    "Identity and payment: accounts are linked by what their prompts share (templates, wrappers, "
    "system-prompt variants) and, where the logs carry them, by rare shared client addresses and "
    "account-creation batches; payment data is not used.",
    "Operations that look like apps: unrelated apps that wrap their users' messages in one public "
    "instruction form a dense group, as a relay operation's accounts do; on this project's generated "
    "traffic a small relay campaign ranks below such apps (recall 0.827 with client addresses, 0.860 "
    "without, in the reference figures; 0.963 and 0.959 on independently generated traffic), and "
    "agent products that send the same public benchmarks as an operation sit at its edge.",
    "Intent: a high score means the traffic looks like systematic capability extraction; evaluation "
    "harnesses, agent products and apps that wrap users' messages can look alike, which is why every "
    "flag carries evidence for an analyst to check.",
)


@dataclass(frozen=True)
class AreaSection:
    area: str
    label: str  # the area in words
    accounts: int  # all accounts of the area's actors (flagged or not) on the latest night
    flagged_accounts: int
    flagged_requests: int
    actors: int
    campaigns: int
    requests: int  # all requests of the area's actors (flagged or not) on the latest night
    severity: dict[str, int]
    trend: pd.DataFrame  # as_of, flagged_accounts, flagged_requests, actors, campaigns
    clusters: pd.DataFrame  # targeted_clusters()
    sentence: str = ""  # the area's situation in words
    targeted: bool = False  # flagged requests on some night of the period (it has a chart)


@dataclass(frozen=True)
class CampaignSection:
    campaign_id: str
    area: str
    label: str
    n_accounts: int
    flagged_members: int
    n_requests: int
    first_seen: str
    last_seen: str
    covered_clusters: float
    area_clusters: float
    coverage: float
    max_severity: str
    mean_risk: float
    evidence: list[str]
    examples: list[str]
    verdict: str  # '' when no analyst has decided
    beside: BesideMap | None = None  # on the map beside typical accounts (the first MAP_CAMPAIGNS sections)


@dataclass(frozen=True)
class ReportData:
    generated_at: str
    workspace: str
    period_start: str
    period_end: str
    nights: list[str]
    as_of: str
    previous_as_of: str | None
    run: SM.RunInfo | None
    headline: dict[str, Any]
    summary: list[str]  # executive summary, one sentence each
    biggest_change: str
    change_counts: dict[str, int]
    trend: pd.DataFrame  # nightly_trend over the period
    area_table: pd.DataFrame  # area_severity_counts of the latest night, every area of the taxonomy
    areas: list[AreaSection]
    campaigns: list[CampaignSection]
    other_campaigns: pd.DataFrame  # flagged campaigns without their own section
    lone_accounts: pd.DataFrame  # flagged accounts outside campaigns
    threshold: float | None
    fp_budget: float | None
    evaluation: dict[str, Any] | None  # the workspace's recorded evaluation
    reference_evaluation: tuple[tuple[str, str, str], ...] = REFERENCE_EVALUATION
    cannot_see: tuple[str, ...] = CANNOT_SEE
    redacted: bool = True
    verdict_counts: dict[str, int] = field(default_factory=dict)
    shift_alerts: pd.DataFrame = field(default_factory=pd.DataFrame)  # summaries.shift_alerts of the period


def area_label(area: str) -> str:
    return str(area).replace("_", " ")


def _day(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _load_verdicts(ws: W.Workspace) -> pd.DataFrame:
    """The standing verdicts (the app's module), or none when it is not installed."""
    try:
        from targeting.verdicts import latest_verdicts
    except ImportError:  # a build without the analyst app
        return pd.DataFrame(columns=["target_kind", "target_id", "verdict", "note", "analyst", "at"])
    return latest_verdicts(ws)


def _verdict_text(row: pd.Series | None, clean) -> str:
    if row is None:
        return ""
    who = str(row.get("analyst") or "an analyst")
    at = _day(row.get("at"))
    note = clean(str(row.get("note") or ""))
    verdict = str(row["verdict"]).replace("_", " ")
    return f"{verdict} by {who}" + (f" on {at}" if at else "") + (f": {note}" if note else "")


def _prompt_cleaner(include_examples: bool):
    def clean(text: str, limit: int = EXAMPLE_CHARS) -> str:
        return shorten(text if include_examples else redact(text), limit)
    return clean


def _pick_nights(ws: W.Workspace, history: pd.DataFrame, end: date | None) -> tuple[str, pd.DataFrame]:
    """The night the report describes: the workspace's latest scores (what the app shows)
    unless ``end`` asks for an earlier one, else the last scored night of the period."""
    nights = sorted(history["as_of"].astype(str).unique())
    latest = SM.latest_scores(ws)
    if latest is not None and len(latest) and end is None:
        day = str(latest["as_of"].iloc[0])
        if day in nights:
            return day, latest
    day = nights[-1]
    return day, SM.night(history, day)


def build_report(
    ws: W.Workspace,
    start: date | None = None,
    end: date | None = None,
    *,
    include_examples: bool = False,
    examples: int = EXAMPLES_PER_CAMPAIGN,
    now: datetime | None = None,
) -> ReportData:
    """Gather the report of the scored nights between ``start`` and ``end`` (inclusive).

    The latest night of the period is described in full; earlier nights give the trend; the
    night before it (before ``start`` when one is given) is what changes are measured
    against. Raises ValueError when the period holds no scored night.
    """
    if start and end and start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    history = SM.score_history(ws, start, end)
    if history.empty:
        span = f" between {start or 'the first night'} and {end or 'the last'}" if (start or end) else ""
        raise ValueError(f"workspace {ws.root.name} has no scored night{span}: run `targeting run` or `targeting score`")
    examples = max(0, min(examples, EXAMPLES_PER_CAMPAIGN))
    clean = _prompt_cleaner(include_examples)
    as_of, current = _pick_nights(ws, history, end)
    nights = sorted(history["as_of"].astype(str).unique())
    earlier = SM.score_history(ws, None, date.fromisoformat(as_of))
    before = sorted(d for d in earlier["as_of"].astype(str).unique() if d < (start.isoformat() if start else as_of))
    previous_as_of = before[-1] if before else None
    previous = SM.night(earlier, previous_as_of) if previous_as_of else None

    head = SM.headline(current)
    changed = SM.changes(current, previous)
    biggest = SM.biggest_change(current, previous, changed)
    trend = SM.nightly_trend(history)
    area_table = SM.area_severity_counts(current, SM.capability_areas(ws))
    run = SM.latest_run(ws)
    run_id = str(current["run_id"].iloc[0]) if "run_id" in current.columns and len(current) else ""
    manifest = SM.run_manifest(ws, run_id)
    threshold = manifest.get("threshold")
    fp_budget = (manifest.get("config") or {}).get("risk", {}).get("fp_budget")

    areas = _area_sections(ws, current, head, trend, area_table, as_of)
    verdicts = _load_verdicts(ws)
    by_target = {(k, i): r for (k, i), r in zip(zip(verdicts["target_kind"], verdicts["target_id"]),
                                                  (r for _, r in verdicts.iterrows()))}
    camps = SM.campaign_summaries(current, history=earlier)
    camps = camps[camps["flagged_members"] > 0].sort_values(["n_requests", "campaign_id"], ascending=[False, True])
    sections = _campaign_sections(ws, camps.head(MAX_CAMPAIGN_SECTIONS), current, by_target, examples,
                                  include_examples, clean)
    other = camps.iloc[MAX_CAMPAIGN_SECTIONS:].reset_index(drop=True)
    actors = SM.with_actors(current)
    lone_table = _lone_accounts(actors, by_target, clean)
    flagged_ids = set(actors.loc[actors["flagged"].astype(bool), "account_id"].astype(str))
    standing = verdicts[((verdicts["target_kind"] == "account") & verdicts["target_id"].isin(flagged_ids))
                        | ((verdicts["target_kind"] == "campaign") & verdicts["target_id"].isin(set(camps["campaign_id"])))]
    verdict_counts = {str(k): int(v) for k, v in standing["verdict"].value_counts().items()}

    report = ReportData(
        generated_at=(now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC"),
        workspace=ws.root.name,
        period_start=nights[0], period_end=nights[-1], nights=nights, as_of=as_of,
        previous_as_of=previous_as_of, run=run, headline=head, summary=[], biggest_change=biggest,
        change_counts={str(k): int(v) for k, v in changed["change"].value_counts().items()},
        trend=trend, area_table=area_table, areas=areas, campaigns=sections, other_campaigns=other,
        lone_accounts=lone_table, threshold=float(threshold) if threshold is not None else None,
        fp_budget=float(fp_budget) if fp_budget is not None else None, evaluation=W.read_evaluation(ws),
        redacted=not include_examples, verdict_counts=verdict_counts,
        shift_alerts=SM.shift_alerts(ws, nights[0], nights[-1]),
    )
    log.info("report: %d nights, %d flagged accounts, %d campaigns", len(nights), head["n_flagged"], len(camps))
    return _with_summary(report)


def _area_sections(ws: W.Workspace, current: pd.DataFrame, head: dict, trend: pd.DataFrame,
                   area_table: pd.DataFrame, as_of: str) -> list[AreaSection]:
    """One section per area of the taxonomy (``area_table``'s rows): first those targeted on
    the night (``as_of``), then those targeted only earlier in the period (by flagged
    requests), then the areas where nothing was flagged, with what was measured there."""
    keywords = SM.cluster_keywords(ws)
    earlier_volume = trend.groupby("area")["flagged_requests"].sum().sort_values(ascending=False, kind="stable")
    targeted = list(head["areas_targeted"]) + [
        a for a, v in earlier_volume.items() if v > 0 and a not in head["areas_targeted"]
    ]
    period_areas = targeted + [a for a in area_table.index if a not in targeted]
    areas: list[AreaSection] = []
    for area in period_areas:
        row = area_table.loc[area] if area in area_table.index else pd.Series(0, index=area_table.columns)
        area_trend = trend[trend["area"] == area].reset_index(drop=True)
        areas.append(AreaSection(
            area=area, label=area_label(area), accounts=int(row["accounts"]),
            flagged_accounts=int(row["flagged_accounts"]), flagged_requests=int(row["flagged_requests"]),
            actors=int(row["actors"]), campaigns=int(row["campaigns"]), requests=int(row["requests"]),
            severity={s: int(row[s]) for s in SM.SEVERITY_ORDER if s != "none"},
            trend=area_trend,
            clusters=SM.targeted_clusters(ws, current, area, top=TOP_CLUSTERS, keywords=keywords),
            sentence=_area_sentence(area, row, area_trend, as_of), targeted=area in targeted,
        ))
    return areas


def _campaign_sections(ws: W.Workspace, camps: pd.DataFrame, current: pd.DataFrame, by_target: dict,
                       examples: int, include_examples: bool, clean) -> list[CampaignSection]:
    """One section per campaign in ``camps``: its figures, evidence (``campaign_evidence``,
    redacted unless ``include_examples``), example prompts and standing verdict."""
    sections: list[CampaignSection] = []
    cmap = current_map(ws) if len(camps) else None
    for i, (_, c) in enumerate(camps.iterrows()):
        items = campaign_evidence(ws, c["campaign_id"], examples=examples, scores=current)
        evidence = [shorten(redact(e.summary) if not include_examples else e.summary, EVIDENCE_CHARS)
                    for e in items if e.kind in EVIDENCE_KINDS]
        shown = [clean(t) for e in items if e.kind == "examples" for t in e.examples][:examples]
        sections.append(CampaignSection(
            campaign_id=c["campaign_id"], area=c["target_area"], label=area_label(c["target_area"]),
            n_accounts=int(c["n_accounts"]), flagged_members=int(c["flagged_members"]),
            n_requests=int(c["n_requests"]), first_seen=_day(c["first_seen"]), last_seen=_day(c["last_seen"]),
            covered_clusters=float(c["covered_clusters"]), area_clusters=float(c["area_clusters"]),
            coverage=float(c["coverage"]), max_severity=str(c["max_severity"]), mean_risk=float(c["mean_risk"]),
            evidence=evidence, examples=shown,
            verdict=_campaign_verdict(c["campaign_id"], current, by_target, clean),
            beside=beside_typical(ws, cmap, current, current[current["campaign_id"] == c["campaign_id"]],
                                  str(c["target_area"])) if i < MAP_CAMPAIGNS else None,
        ))
    return sections


def _lone_accounts(actors: pd.DataFrame, by_target: dict, clean) -> pd.DataFrame:
    """The flagged accounts outside any campaign, riskiest first, with their standing verdicts."""
    lone = actors[actors["flagged"].astype(bool) & (actors["campaign_id"] == "")]
    lone = lone.sort_values("risk_score", ascending=False)
    return pd.DataFrame({
        "account_id": lone["account_id"].astype(str),
        "area": lone["actor_area"].map(area_label),
        "requests": lone["n_requests"].astype(int),
        "severity": lone.get("severity", pd.Series("", index=lone.index)),
        "risk_score": lone["risk_score"].astype(float),
        "verdict": [_verdict_text(by_target.get(("account", a)), clean) for a in lone["account_id"].astype(str)],
    }).reset_index(drop=True)


def _area_sentence(area: str, row: pd.Series, trend: pd.DataFrame, as_of: str) -> str:
    label = area_label(area)
    peak = trend.sort_values(["flagged_requests", "as_of"], ascending=[False, True]).head(1)
    over = (f" Over the period, flagged requests peaked at {_num(int(peak['flagged_requests'].iloc[0]))} "
            f"on {peak['as_of'].iloc[0]}." if len(trend) > 1 and len(peak) and int(peak["flagged_requests"].iloc[0])
            else "")
    if not int(row["flagged_accounts"]):
        measured = f"{_plural(int(row['accounts']), 'account')}, {_plural(int(row['requests']), 'request')}"
        return f"{measured} measured in the scoring window of {as_of}; none flagged.{over}"
    share = int(row["flagged_requests"]) / max(int(row["requests"]), 1)
    return (f"{_plural(int(row['actors']), 'actor')} ({_plural(int(row['campaigns']), 'campaign')}) with "
            f"{_plural(int(row['flagged_accounts']), 'flagged account')} sent {_num(int(row['flagged_requests']))} "
            f"requests in the scoring window of {as_of}: {100 * share:.1f}% of the {label} actors' volume.{over}")


def _campaign_verdict(campaign_id: str, scores: pd.DataFrame, by_target: dict, clean) -> str:
    """The campaign's own standing verdict, else a count of its members' verdicts."""
    own = by_target.get(("campaign", campaign_id))
    if own is not None:
        return _verdict_text(own, clean)
    members = scores.loc[scores["campaign_id"] == campaign_id, "account_id"].astype(str)
    found = [str(by_target[("account", m)]["verdict"]) for m in members if ("account", m) in by_target]
    if not found:
        return ""
    counts = pd.Series(found).value_counts()
    return "members: " + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in counts.items())


def _num(n: int) -> str:
    return f"{n:,}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{_num(n)} {word if n == 1 else (plural or word + 's')}"


def _groups_sentence(linked_groups: int, campaigns: int) -> str:
    """Linked groups and the campaigns among them, in the words of ``targeting.summaries``
    (the run summary and the app use the same two numbers)."""
    if not linked_groups:
        return "No linked group: no accounts are tied together by shared rare templates, wrappers or system prompts."
    verb = "is a campaign" if campaigns == 1 else "are campaigns"
    rest = "; the others have no flagged member" if linked_groups > campaigns else ""
    return (f"{_plural(linked_groups, 'linked group')} of accounts tied together by shared rare templates, "
            f"wrappers or system prompts: {_num(campaigns)} of them {verb} (a linked group with at least one "
            f"flagged member){rest}.")


def _measured_sentence(area_table: pd.DataFrame) -> list[str]:
    """The areas of the taxonomy where nothing was flagged, with what was measured there
    (``summaries.area_status``'s figures), so none reads as left out."""
    quiet = area_table[area_table["flagged_accounts"] == 0]
    if quiet.empty:
        return []
    parts = [f"{area_label(a)} ({_plural(int(row['accounts']), 'account')}, {_plural(int(row['requests']), 'request')})"
             for a, row in quiet.iterrows()]
    return ["Areas measured with no account flagged: " + "; ".join(parts) + "."]


def _with_summary(r: ReportData) -> ReportData:
    """The executive summary in plain sentences, from the report's own figures."""
    h = r.headline
    period = (f"on the night of {r.as_of}" if len(r.nights) == 1
              else f"from {r.period_start} to {r.period_end} ({len(r.nights)} scored nights; figures below are for "
                   f"the latest, {r.as_of})")
    lone = len(r.lone_accounts)
    sentences = [
        f"Period: {period}.",
        f"{_plural(h['n_flagged'], 'account')} of {_num(h['n_accounts'])} active were flagged for capability "
        f"extraction, operated by {_plural(h['n_actors'], 'actor')}: "
        f"{_plural(h['n_campaigns'], 'coordinated campaign')} and {_plural(lone, 'single account')}.",
        _groups_sentence(h["n_linked_groups"], h["n_campaigns"]),
    ]
    if h["areas_targeted"]:
        parts = [
            f"{area_label(a)} ({_plural(h['actors_by_area'][a], 'actor')}, {_plural(h['flagged_by_area'][a], 'account')}, "
            f"{_plural(h['flagged_requests_by_area'][a], 'request')})"
            for a in h["areas_targeted"]
        ]
        sentences.append("Areas targeted, largest volume first: " + "; ".join(parts) + ".")
        sentences.append(
            f"Flagged accounts sent {_num(h['flagged_requests'])} of {_num(h['n_requests'])} requests in the scoring "
            f"window: {100 * h['flagged_request_share']:.1f}% of API volume."
        )
    else:
        sentences.append("No capability area is targeted by a flagged account.")
    sentences += _measured_sentence(r.area_table)
    since = f" (compared with {r.previous_as_of})" if r.previous_as_of else ""
    sentences.append(f"Biggest change{since}: {r.biggest_change}")
    sev = h.get("severity_counts", {})
    strong = sev.get("critical", 0) + sev.get("high", 0)
    if h["n_flagged"]:
        confidence = (f"{_plural(strong, 'flagged account')} {'is' if strong == 1 else 'are'} high or critical "
                      f"severity (score at least 1.3 times the flag threshold)")
        decided = ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in sorted(r.verdict_counts.items()))
        confidence += f"; analyst verdicts so far: {decided}." if decided else "; no analyst verdict is recorded yet."
        sentences.append(confidence[0].upper() + confidence[1:])
    return replace(r, summary=sentences)


def markdown_safe(text: str) -> str:
    """Text for a Markdown table cell or line: newlines as spaces, control and format characters
    shown escaped (``safe_text``: ``\\x1b``, ``\\u202e``), pipes and markup characters escaped."""
    return re.sub(r"([\\`*_{}\[\]<>|#])", r"\\\1", safe_text(text.replace("\n", " ")))
