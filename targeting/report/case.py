"""Case files: everything known about one account or campaign, in one bundle an analyst can
hand to enforcement or legal.

``build_case`` gathers it from what the jobs committed: the score and every reason with its
figures (``targeting.evidence``, the functions behind the app's evidence tabs), the risk per
scored night, requests per day and area (the timeline and the area mix over time), the
clusters reached on the capability map, the linked accounts and what links them (the
campaign's evidence), the infrastructure (client addresses and account creation times where
logged, and which of them members share), shift alerts and the verdict history. Prompt text
is redacted here, once, unless the caller asks for the original (``unredacted``).

``render_case_html`` formats it as one self-contained page (charts as ``data:`` PNGs, style
inline, no script: it loads nothing from anywhere), ``case_json`` as JSON; ``write_case``
writes both, the JSON beside the page.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting import summaries as SM
from targeting import workspace as W
from targeting.capmap.labels import cluster_terms
from targeting.evidence import Evidence, account_evidence, campaign_evidence
from targeting.exports import write_file
from targeting.ids import normalise_id
from targeting.redact import redact, shorten
from targeting.report import charts as C
from targeting.report.render import data_uri, environment
from targeting.verdicts import apply_verdicts, latest_verdicts, read_verdicts

log = logging.getLogger("targeting")

ACCOUNT, CAMPAIGN = "account", "campaign"
EXAMPLES = 3  # example prompts per kind of evidence
PROMPT_CHARS = 600  # an example prompt is cut to this many characters
EVIDENCE_CHARS = 600  # an evidence sentence (it may quote shared text) is cut to this many
MAX_ADDRESSES = 50  # client addresses listed (the most-used first)
SCORE_FIELDS = ("risk_score", "flagged", "severity", "suppressed", "n_requests", "first_seen", "last_seen",
                "dominant_area", "target_area", "coverage", "covered_clusters", "area_clusters", "diversity",
                "regularity", "novelty", "template_share", "cot_share", "campaign_id", "verdict", "reasons")
MEMBER_FIELDS = ("account_id", "risk_score", "flagged", "severity", "n_requests", "dominant_area", "first_seen",
                 "last_seen")


@dataclass(frozen=True)
class CaseFile:
    kind: str  # account | campaign
    target_id: str
    workspace: str
    as_of: str  # the scored night the figures are from
    run_id: str
    generated_at: str
    redacted: bool
    areas: list[str]
    score: dict[str, Any]  # the account's score row, or the campaign's summary
    reasons: list[str]  # the score's reasons, as the score table words them
    evidence: list[dict[str, Any]]  # kind, summary, examples, detail (figures)
    risk_history: list[dict[str, Any]]  # as_of, risk_score, flagged, n_requests (a campaign: its members')
    daily: list[dict[str, Any]]  # day, area, n: the timeline and the area mix over time
    clusters: list[dict[str, Any]]  # cluster_id, area, keywords, requests
    members: list[dict[str, Any]]  # the linked accounts (a campaign's members, an account's fellow members)
    links: list[str]  # what links them, in words
    infrastructure: list[dict[str, Any]]  # account_id, ip, account_created_at, requests, first_seen, last_seen
    shared_infrastructure: list[dict[str, Any]]  # what, value, accounts: addresses or creation times shared
    shifts: list[dict[str, Any]]  # shift alerts of the target and its members
    verdicts: list[dict[str, Any]]  # the audit trail of verdicts on the target (and its campaign)
    charts: dict[str, bytes] = field(default_factory=dict, repr=False)  # PNGs: map, timeline, mix, risk

    def to_dict(self) -> dict[str, Any]:
        """Every field but the chart images, JSON-ready."""
        out = asdict(self)
        out.pop("charts")
        return _json_ready(out)


def _json_ready(value: Any) -> Any:
    """Plain JSON values: NaN and NaT as None, timestamps as ISO text, numpy scalars as Python's."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (pd.Timestamp, datetime)):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is None:
        return None
    return value


def _records(frame: pd.DataFrame, columns: tuple[str, ...] | list[str] | None = None) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    return _json_ready(frame[cols].to_dict("records"))


def _cleaner(unredacted: bool):
    def clean(text: Any, limit: int = PROMPT_CHARS) -> str:
        text = "" if text is None else str(text)
        return shorten(text if unredacted else redact(text), limit)
    return clean


# --- which target ---------------------------------------------------------------------------------
def _latest(ws: W.Workspace) -> pd.DataFrame:
    scores = SM.latest_scores(ws)
    if scores is None or scores.empty:
        raise ValueError(f"workspace {ws.root.name} has no scores: run `targeting run` or `targeting score`")
    from targeting.indicators import with_indicator_reasons  # imports stix2: only when a case is built

    # as `export accounts` and the app show them: standing verdicts, received indicators' reasons
    return with_indicator_reasons(apply_verdicts(scores, latest_verdicts(ws)), W.read_indicator_matches(ws))


def resolve_target(scores: pd.DataFrame, target: str) -> tuple[str, str]:
    """(kind, id) of ``target`` in the latest scores: an account id, else a campaign id.
    KeyError when it is neither."""
    wanted = normalise_id(target)
    if wanted and wanted in set(scores["account_id"].astype(str)):
        return ACCOUNT, wanted
    if wanted and wanted in set(scores["campaign_id"].fillna("").astype(str)):
        return CAMPAIGN, wanted
    raise KeyError(f"{target!r} is neither an account nor a campaign of the latest scores")


# --- the parts -------------------------------------------------------------------------------------
def evidence_records(items: list[Evidence], clean) -> list[dict[str, Any]]:
    """Evidence entries with their examples and quoted texts cleaned (``_cleaner``); figures kept."""
    out = []
    for e in items:
        detail = {k: (clean(v, EVIDENCE_CHARS) if isinstance(v, str) else v) for k, v in e.detail.items()}
        out.append({"kind": e.kind, "summary": clean(e.summary, EVIDENCE_CHARS),
                    "examples": [clean(x) for x in e.examples[:EXAMPLES]], "detail": _json_ready(detail)})
    return out


def risk_history(ws: W.Workspace, accounts: list[str]) -> pd.DataFrame:
    """Per scored night: the highest risk among ``accounts``, whether any was flagged, their requests."""
    history = SM.score_history(ws)
    mine = history[history["account_id"].astype(str).isin(accounts)]
    if mine.empty:
        return pd.DataFrame(columns=["as_of", "risk_score", "flagged", "n_requests", "accounts"])
    g = mine.groupby(mine["as_of"].astype(str))
    return pd.DataFrame({"risk_score": g["risk_score"].max(), "flagged": g["flagged"].any(),
                         "n_requests": g["n_requests"].sum(), "accounts": g.size()}).reset_index()


def daily_mix(ws: W.Workspace, accounts: list[str]) -> pd.DataFrame:
    """Requests per (day, area) of ``accounts``, every stored day: day (YYYY-MM-DD), area, n."""
    counts = W.account_area_day_counts(ws, accounts=accounts).to_pandas()
    if counts.empty:
        return pd.DataFrame(columns=["day", "area", "n"])
    counts["day"] = pd.to_datetime(counts["day"]).dt.strftime("%Y-%m-%d")
    return counts.groupby(["day", "area"], sort=True)["n"].sum().reset_index()


def shared_infrastructure(infra: pd.DataFrame) -> pd.DataFrame:
    """Client addresses and account creation times that two or more of the accounts share:
    what, value, accounts (a list), n_accounts; most shared first."""
    rows = []
    for what, column in (("client address", "ip"), ("account created", "account_created_at")):
        if column not in infra or infra[column].isna().all():
            continue
        known = infra.dropna(subset=[column])
        by_value = known.groupby(known[column].astype(str))["account_id"].agg(lambda s: sorted(set(s)))
        for value, accounts in by_value.items():
            if len(accounts) >= 2:
                rows.append({"what": what, "value": value, "accounts": accounts, "n_accounts": len(accounts)})
    frame = pd.DataFrame(rows, columns=["what", "value", "accounts", "n_accounts"])
    return frame.sort_values(["n_accounts", "what", "value"], ascending=[False, True, True]).reset_index(drop=True)


def map_layers(cmap, clusters: pd.DataFrame, *, sample: int = C.MAP_BACKGROUND) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(background, reached) for ``charts.case_map_chart``: a stable sample of the map's 2-D
    layout, and each reached cluster at the centre of its anchors with its keywords.
    ``clusters``: cluster_id, area, requests."""
    xy = np.asarray(cmap.anchor_xy, dtype=np.float32)
    labels = np.asarray(cmap.anchor_cluster)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(xy), sample, replace=False)) if len(xy) > sample else np.arange(len(xy))
    background = pd.DataFrame({"x": xy[pick, 0], "y": xy[pick, 1]})
    index = {c["cluster_id"]: i for i, c in enumerate(cmap.clusters)}
    rows = []
    for c in clusters.itertuples():
        i = index.get(c.cluster_id)
        if i is None or not (labels == i).any():
            continue
        centre = xy[labels == i].mean(axis=0)
        words = ", ".join(cluster_terms(cmap.clusters[i])[:2])  # phrases run longer than keywords
        rows.append({"x": float(centre[0]), "y": float(centre[1]), "area": c.area, "requests": int(c.requests),
                     "label": words})
    return background, pd.DataFrame(rows, columns=["x", "y", "area", "requests", "label"])


def reached_clusters(ws: W.Workspace, accounts: list[str], cmap) -> pd.DataFrame:
    """Requests per cluster of ``accounts``: cluster_id, area, keywords, requests (most first)."""
    rows = W.assignments_of(ws, accounts, ["cluster_id", "area"]).to_pandas()
    if rows.empty:
        return pd.DataFrame(columns=["cluster_id", "area", "keywords", "requests"])
    out = rows.groupby(["cluster_id", "area"]).size().rename("requests").reset_index()
    words = {c["cluster_id"]: ", ".join(cluster_terms(c)[:6]) for c in (cmap.clusters if cmap else ())}
    out["keywords"] = out["cluster_id"].map(words).fillna("")
    return out.sort_values(["requests", "cluster_id"], ascending=[False, True]).reset_index(drop=True)


def _current_map(ws: W.Workspace):
    """The workspace's current capability map, or None."""
    from targeting.capmap import load_map

    map_id = W.read_state(ws).get("map_id")
    folder = ws.map_dir(map_id) if map_id else None
    return load_map(folder) if folder is not None and (folder / "map.json").exists() else None


def _target_figures(ws: W.Workspace, scores: pd.DataFrame, kind: str,
                    target: str) -> tuple[list[str], dict[str, Any], list[Evidence], str]:
    """(members, score figures, evidence, campaign id) of the target."""
    if kind == ACCOUNT:
        row = scores[scores["account_id"].astype(str) == target].iloc[0]
        campaign = str(row.get("campaign_id") or "")
        members = [target]
        figures = {k: row.get(k) for k in SCORE_FIELDS if k in row.index}
        items = account_evidence(ws, target, examples=EXAMPLES)
        if campaign:  # what ties its campaign together
            items += [e for e in campaign_evidence(ws, campaign, examples=EXAMPLES, scores=scores)
                      if e.kind not in ("coverage", "examples")]
        return members, figures, items, campaign
    in_campaign = scores[scores["campaign_id"].fillna("").astype(str) == target]
    summary = SM.campaign_summaries(in_campaign).iloc[0]
    members = sorted(in_campaign["account_id"].astype(str))
    figures = summary.to_dict()
    return members, figures, campaign_evidence(ws, target, examples=EXAMPLES, scores=scores), target


def _links(kind: str, evidence: list[dict[str, Any]], shared: pd.DataFrame, campaign: str, n_members: int) -> list[str]:
    """What links the accounts, in words: the campaign's shared texts and shared infrastructure."""
    if not campaign:
        return []
    linking = ("coordination", "wrapper", "system_prompt", "system_family", "tools", "template")
    out = [f"{'It belongs to' if kind == ACCOUNT else 'It is'} linked group {campaign} of {n_members} accounts, "
           "tied by rare shared wording (templates, wrappers, system-prompt variants) and, where logged, "
           "infrastructure that completes a wording link."]
    out += [f"{e['kind'].replace('_', ' ')}: {e['summary']}" for e in evidence if e["kind"] in linking]
    out += [f"{r.what} {r.value} shared by {r.n_accounts} accounts" for r in shared.head(10).itertuples()]
    return out


def _verdict_trail(ws: W.Workspace, kind: str, target: str, campaign: str, clean) -> pd.DataFrame:
    trail = read_verdicts(ws)
    mine = (trail["target_kind"] == kind) & (trail["target_id"] == target)
    if campaign and kind == ACCOUNT:
        mine |= (trail["target_kind"] == CAMPAIGN) & (trail["target_id"] == campaign)
    out = trail[mine].copy()
    out["note"] = out["note"].map(lambda t: clean(t, EVIDENCE_CHARS))
    return out


def build_case(ws: W.Workspace, target: str, *, unredacted: bool = False, now: datetime | None = None) -> CaseFile:
    """The case file of ``target`` (an account id, else a campaign id) on the latest scores.
    KeyError when the latest scores hold neither; ValueError when there are no scores."""
    scores = _latest(ws)
    kind, target = resolve_target(scores, target)
    clean = _cleaner(unredacted)
    members, figures, items, campaign = _target_figures(ws, scores, kind, target)
    evidence = evidence_records(items, clean)
    linked = scores[scores["campaign_id"].fillna("").astype(str) == campaign] if campaign else scores.iloc[:0]
    group = sorted(linked["account_id"].astype(str)) if campaign else members
    infra = W.account_infrastructure(ws, group).to_pandas()
    shared = shared_infrastructure(infra)
    cmap = _current_map(ws)
    clusters = reached_clusters(ws, members, cmap)
    clusters["keywords"] = clusters["keywords"].map(lambda t: clean(t, 200))
    daily = daily_mix(ws, members)
    areas = list(dict.fromkeys([*SM.capability_areas(ws), *sorted(daily["area"].unique())]))
    history = risk_history(ws, members)
    case = CaseFile(
        kind=kind, target_id=target, workspace=ws.root.name, as_of=str(scores["as_of"].iloc[0]),
        run_id=str(scores["run_id"].iloc[0]) if "run_id" in scores else "",
        generated_at=(now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC"), redacted=not unredacted,
        areas=areas, score=_json_ready(figures),
        reasons=SM.split_reasons(figures.get("reasons")) if kind == ACCOUNT else [
            e["summary"] for e in evidence if e["kind"] != "examples"],
        evidence=evidence, risk_history=_records(history), daily=_records(daily), clusters=_records(clusters),
        members=_records(linked.sort_values(["risk_score", "account_id"], ascending=[False, True]), MEMBER_FIELDS),
        links=_links(kind, evidence, shared, campaign, len(group)),
        infrastructure=_records(infra.head(MAX_ADDRESSES)), shared_infrastructure=_records(shared),
        shifts=_records(SM.shift_alerts(ws, target_ids=[target, *group, *([campaign] if campaign else [])])),
        verdicts=_records(_verdict_trail(ws, kind, target, campaign, clean)),
        charts=_charts(cmap, clusters, daily, history, areas),
    )
    log.info("case file: %s with %d accounts, %d evidence entries", kind, len(group), len(evidence))
    return case


def _charts(cmap, clusters: pd.DataFrame, daily: pd.DataFrame, history: pd.DataFrame,
            areas: list[str]) -> dict[str, bytes]:
    out = {}
    if cmap is not None:
        out["map"] = C.case_map_chart(*map_layers(cmap, clusters), areas)
    if len(daily):
        out["timeline"] = C.daily_area_chart(daily, areas)
        out["mix"] = C.daily_area_chart(daily, areas, shares=True)
    if len(history):
        out["risk"] = C.risk_chart(history)
    return out


# --- output --------------------------------------------------------------------------------------------
def case_json(case: CaseFile) -> str:
    """The case as JSON (every figure, no image)."""
    return json.dumps(case.to_dict(), indent=2, sort_keys=False, default=str, ensure_ascii=False)


def render_case_html(case: CaseFile) -> str:
    """The case as one self-contained HTML page: no script, charts inline, nothing loaded."""
    template = environment(html=True).get_template("case.html.j2")
    return template.render(c=case, d=case.to_dict(), charts={k: data_uri(v) for k, v in case.charts.items()})


def case_bytes(ws: W.Workspace, target: str, *, unredacted: bool = False) -> tuple[bytes, bytes]:
    """The case file of ``target`` as (HTML, JSON) bytes: what the app's buttons download."""
    case = build_case(ws, target, unredacted=unredacted)
    return render_case_html(case).encode("utf-8"), case_json(case).encode("utf-8")


def json_path(out: Path) -> Path:
    """Where the JSON of a case file written to ``out`` goes: beside it, same name, ``.json``."""
    return out.with_suffix(".json")


def write_case(ws: W.Workspace, target: str, out: Path, *, unredacted: bool = False) -> list[Path]:
    """Write the case file of ``target`` to ``out`` (HTML) and its JSON beside it (``json_path``),
    atomically and owner-only (``exports.write_file``); returns both paths."""
    if out.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"{out}: a case file is written as .html (its JSON goes beside it)")
    html, data = case_bytes(ws, target, unredacted=unredacted)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_file(out, lambda handle: handle.write(html))
    write_file(json_path(out), lambda handle: handle.write(data))
    return [out, json_path(out)]
