"""Summaries of committed scores: the numbers the app's overview and the policy report share.

Pure functions over score frames (one row per account and night, as the pipeline writes
them) plus thin loaders. The app and the report call the same functions, so the figures
they show agree. Nothing here computes a score: it counts what the pipeline decided.

Vocabulary (used in every output):

* an **actor** is the unit an operation is counted in: a campaign or, for a flagged account
  outside any campaign, the account;
* an actor's **area** is the capability area it targets: a campaign's is the area most of
  its members' requests are in (request-weighted over the members' areas), a lone flagged
  account's is its own ``target_area`` (the extractable area it uses most), and an account
  nobody flagged is counted where its requests are (``content_area``, ``other`` included;
  ``dominant_area`` on older scores);
* a **linked group** is any group of accounts the campaign graph tied together (shared rare
  templates, wrappers, system-prompt variants; a ``campaign_id`` on its members), flagged or
  not: most are benign (apps, cohorts);
* a **campaign** (also "flagged campaign") is a linked group with at least one flagged member.
  Every count of campaigns (the run summary, the app, the report) counts these, and every
  count of linked groups counts them all (``group_counts``);
* **volume** is requests scored in the night's window (``n_requests``), all areas;
* per-area counts (``area_severity_counts``) count an account, with all its requests, in its
  actor's area, and list every area of the taxonomy (``capability_areas``), zeros included:
  an area with nothing flagged was measured, not left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Sequence

import numpy as np
import pandas as pd

from targeting import workspace as W

SEVERITY_ORDER: tuple[str, ...] = ("none", "low", "medium", "high", "critical")
BIG_RISE = 0.15  # a risk-score rise at least this large between two nights is reported
TOP_RISES = 20  # at most this many score rises are listed
NO_AREA = "other"


@dataclass(frozen=True)
class RunInfo:
    """The scoring run behind the latest scores: what the app's header and the report cite."""

    run_id: str
    as_of: date
    finished_at: datetime | None
    n_requests: int
    n_accounts: int
    n_flagged: int = 0
    threshold: float | None = None
    window_days: int | None = None
    kind: str | None = None


# --- loaders -------------------------------------------------------------------------------------
def run_manifest(ws: W.Workspace, run_id: str) -> dict[str, Any]:
    """The manifest of ``run_id``; empty when there is no run id or its manifest is gone."""
    if not run_id:
        return {}
    try:
        return W.read_manifest(ws, run_id)
    except FileNotFoundError:
        return {}


def latest_run(ws: W.Workspace) -> RunInfo | None:
    """The latest committed scoring run (the one that wrote the workspace's latest scores)."""
    table = W.read_latest_scores(ws)
    if table is None or table.num_rows == 0:
        return None
    scores = table.select([c for c in ("run_id", "as_of", "n_requests", "flagged") if c in table.column_names])
    frame = scores.to_pandas()
    run_id = str(frame["run_id"].iloc[0]) if "run_id" in frame else ""
    manifest = run_manifest(ws, run_id)
    finished = manifest.get("committed_at")
    threshold = manifest.get("threshold")
    return RunInfo(
        run_id=run_id,
        as_of=date.fromisoformat(str(frame["as_of"].iloc[0])),
        finished_at=datetime.fromisoformat(finished.replace("Z", "+00:00")) if finished else None,
        n_requests=int(frame["n_requests"].sum()),
        n_accounts=len(frame),
        n_flagged=int(frame["flagged"].sum()) if "flagged" in frame else 0,
        threshold=float(threshold) if threshold is not None and np.isfinite(threshold) else None,
        window_days=manifest.get("window_days"),
        kind=manifest.get("kind"),
    )


def latest_scores(ws: W.Workspace) -> pd.DataFrame | None:
    """The latest committed scores as a frame (None when the workspace has none)."""
    table = W.read_latest_scores(ws)
    return None if table is None else table.to_pandas()


def score_history(ws: W.Workspace, start: date | None = None, end: date | None = None) -> pd.DataFrame:
    """Every scored night's account rows in ``[start, end]`` (inclusive), ``as_of`` a 'YYYY-MM-DD' string.

    One file per night is kept (re-scoring a night replaces it), so each night appears once.
    """
    table = W.read_score_history(ws, start.isoformat() if start else None, end.isoformat() if end else None)
    if table.num_rows == 0:
        return pd.DataFrame(columns=["as_of", "account_id", "n_requests", "flagged", "campaign_id", "risk_score"])
    return table.to_pandas()


SHIFT_SHOWN = ("as_of", "target_kind", "target_id", "to_area", "move_history", "move_previous", "requests",
               "volume_ratio", "release", "reason")  # what the Overview and the report list of an alert


def shift_alerts(ws: W.Workspace, start: str | None = None, end: str | None = None, *,
                 target_kind: str | None = None, target_ids=None) -> pd.DataFrame:
    """The shift alerts (``targeting.shifts``) the scored nights ``start..end`` (ISO, inclusive,
    either may be None) recorded, newest night first, campaigns before accounts."""
    table = W.read_shift_history(ws, alerts_only=True, target_kind=target_kind, target_ids=target_ids)
    if table.num_rows == 0:
        return pd.DataFrame(columns=list(SHIFT_SHOWN))
    frame = table.to_pandas()
    keep = pd.Series(True, index=frame.index)
    if start:
        keep &= frame["as_of"].astype(str) >= start
    if end:
        keep &= frame["as_of"].astype(str) <= end
    frame = frame[keep].sort_values(["as_of", "target_kind", "move_history"], ascending=[False, False, False],
                                    kind="stable")
    return frame[list(SHIFT_SHOWN)].reset_index(drop=True)


def night(history: pd.DataFrame, as_of: str) -> pd.DataFrame:
    """One night's rows of a history frame."""
    return history[history["as_of"].astype(str) == str(as_of)].reset_index(drop=True)


def split_reasons(reasons: Any) -> list[str]:
    """A score's ``reasons`` as a list: split on ';' outside parentheses and brackets."""
    if not isinstance(reasons, str):
        return []
    parts, depth, current = [], 0, []
    for ch in reasons:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(depth - 1, 0)
        if ch == ";" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


# --- actors ----------------------------------------------------------------------------------------
def _account_area(scores: pd.DataFrame) -> pd.Series:
    """A flagged account's area is the one it targets (``target_area``, the extractable area
    it uses most); any other account's is what its requests are about (``content_area``,
    ``other`` included), so an area's volume is the traffic that is about it: counting
    every account in the extractable area it touches most would leave ``other`` empty
    however much ordinary chat there is."""
    fallback = scores.get("dominant_area", pd.Series(NO_AREA, index=scores.index)).fillna(NO_AREA).astype(str)

    def column(name: str) -> pd.Series:
        if name not in scores.columns:
            return fallback
        area = scores[name].fillna("").astype(str)
        return area.where(area != "", fallback)

    flagged = scores["flagged"].fillna(False).astype(bool) if "flagged" in scores.columns else False
    return column("target_area").where(flagged, column("content_area"))


def _campaign_col(scores: pd.DataFrame) -> pd.Series:
    if "campaign_id" not in scores.columns:
        return pd.Series("", index=scores.index)
    return scores["campaign_id"].fillna("").astype(str)


def with_actors(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` plus ``account_area``, ``actor_id`` (campaign or account) and ``actor_area``.

    Computed per night when ``scores`` holds several (``as_of``), since campaign ids and
    members change from night to night.
    """
    out = scores.copy()
    out["account_area"] = _account_area(out)
    campaign = _campaign_col(out)
    out["campaign_id"] = campaign
    out["actor_id"] = campaign.where(campaign != "", out["account_id"].astype(str))
    keys = ["as_of", "campaign_id"] if "as_of" in out.columns else ["campaign_id"]
    members = out[campaign != ""]
    if members.empty:
        out["actor_area"] = out["account_area"]
        return out
    volume = members.groupby([*keys, "account_area"], sort=True)["n_requests"].sum().reset_index()
    volume = volume.sort_values([*keys, "n_requests", "account_area"], ascending=[True] * len(keys) + [False, True])
    top = volume.drop_duplicates(keys)[[*keys, "account_area"]].rename(columns={"account_area": "campaign_area"})
    out = out.merge(top, on=keys, how="left")
    out["actor_area"] = out["campaign_area"].where(campaign.to_numpy() != "", out["account_area"])
    return out.drop(columns="campaign_area")


def _flagged(scores: pd.DataFrame) -> pd.DataFrame:
    return scores[scores["flagged"].astype(bool)]


# --- headline figures --------------------------------------------------------------------------------
def group_counts(scores: pd.DataFrame) -> dict[str, int]:
    """``n_linked_groups`` (every linked group: distinct non-empty ``campaign_id``) and
    ``n_campaigns`` (linked groups with at least one flagged member) of one night's scores.

    The one definition of both counts: the run summary, the app and the report use it.
    """
    campaign = _campaign_col(scores)
    linked = campaign != ""
    if not linked.any():
        return {"n_linked_groups": 0, "n_campaigns": 0}
    flagged = scores["flagged"].fillna(False).astype(bool)
    return {"n_linked_groups": int(campaign[linked].nunique()),
            "n_campaigns": int(campaign[linked & flagged].nunique())}


def headline(scores: pd.DataFrame) -> dict[str, Any]:
    """The figures of an executive summary for one night's scores.

    Keys: as_of, n_requests, n_accounts, n_flagged, n_campaigns (linked groups with a flagged
    member), n_linked_groups (every linked group; both from ``group_counts``), n_actors,
    flagged_requests, flagged_request_share, flagged_by_area / flagged_requests_by_area /
    actors_by_area (area -> number, largest volume first), areas_targeted (areas with flagged
    accounts, largest volume first), severity_counts.
    """
    if scores.empty:
        return {
            "as_of": None, "n_requests": 0, "n_accounts": 0, "n_flagged": 0, "n_campaigns": 0,
            "n_linked_groups": 0, "n_actors": 0, "flagged_requests": 0, "flagged_request_share": 0.0,
            "flagged_by_area": {}, "flagged_requests_by_area": {}, "actors_by_area": {}, "areas_targeted": [],
            "severity_counts": {},
        }
    frame = with_actors(scores)
    flagged = _flagged(frame)
    total = int(frame["n_requests"].sum())
    flagged_requests = int(flagged["n_requests"].sum())
    by_area = flagged.groupby("actor_area").agg(
        accounts=("account_id", "size"), requests=("n_requests", "sum"), actors=("actor_id", "nunique")
    ).sort_values(["requests", "accounts"], ascending=False)
    as_of = sorted(frame["as_of"].astype(str).unique())[-1] if "as_of" in frame.columns else None
    severity = flagged["severity"].value_counts() if "severity" in flagged.columns else pd.Series(dtype=int)
    return {
        "as_of": as_of,
        "n_requests": total,
        "n_accounts": int(frame["account_id"].nunique()),
        "n_flagged": len(flagged),
        **group_counts(frame),
        "n_actors": int(flagged["actor_id"].nunique()),
        "flagged_requests": flagged_requests,
        "flagged_request_share": flagged_requests / total if total else 0.0,
        "flagged_by_area": {str(a): int(v) for a, v in by_area["accounts"].items()},
        "flagged_requests_by_area": {str(a): int(v) for a, v in by_area["requests"].items()},
        "actors_by_area": {str(a): int(v) for a, v in by_area["actors"].items()},
        "areas_targeted": [str(a) for a in by_area.index],
        "severity_counts": {s: int(severity.get(s, 0)) for s in SEVERITY_ORDER if s != "none"},
    }


def capability_areas(ws: W.Workspace) -> tuple[str, ...]:
    """Every capability area of the workspace's taxonomy, in the taxonomy's order: the current
    map's areas (the taxonomy it was fitted with), else the shipped taxonomy's (no map yet)."""
    from targeting.capmap import load_taxonomy, map_areas

    map_id = W.read_state(ws).get("map_id")
    folder = ws.map_dir(map_id) if map_id else None
    if folder is not None and (folder / "map.json").exists():
        return map_areas(folder)
    return load_taxonomy().areas


def area_severity_counts(scores: pd.DataFrame, areas: Sequence[str] = ()) -> pd.DataFrame:
    """Per area: flagged accounts by severity, plus accounts, requests, flagged accounts,
    flagged requests, actors and flagged campaigns.

    An account counts in its actor's area (``with_actors``: a campaign member in its
    campaign's area), with all its requests; ``accounts`` and ``requests`` count every
    account, flagged or not. Index: area, every one of ``areas`` (pass
    ``capability_areas(ws)``: zeros where an area had no traffic or nothing flagged) and any
    other area seen in the scores; one column per severity level except none. Sorted by
    flagged requests, then requests, largest first, ties in the order of ``areas``.
    """
    levels = [s for s in SEVERITY_ORDER if s != "none"]
    columns = [*levels, "accounts", "requests", "flagged_accounts", "flagged_requests", "actors", "campaigns"]
    if scores.empty:
        return pd.DataFrame(0, columns=columns, index=pd.Index(list(dict.fromkeys(areas)), name="area"))
    frame = with_actors(scores)
    flagged = _flagged(frame)
    totals = frame.groupby("actor_area").agg(accounts=("account_id", "size"), requests=("n_requests", "sum"))
    index = pd.Index(list(dict.fromkeys([*areas, *sorted(totals.index)])), name="area")
    totals = totals.reindex(index, fill_value=0)
    sev = pd.crosstab(flagged["actor_area"], flagged["severity"]) if len(flagged) else pd.DataFrame()
    sev = sev.reindex(index=index, columns=levels, fill_value=0).fillna(0).astype(int)
    fl = flagged.groupby("actor_area").agg(
        flagged_accounts=("account_id", "size"), flagged_requests=("n_requests", "sum"),
        actors=("actor_id", "nunique"),
    ).reindex(index, fill_value=0)
    camp = flagged[flagged["campaign_id"] != ""].groupby("actor_area")["campaign_id"].nunique()
    out = sev.join(totals).join(fl)
    out["campaigns"] = camp.reindex(out.index, fill_value=0).astype(int)
    out = out[columns].fillna(0).astype(int)
    out.index.name = "area"
    return out.sort_values(["flagged_requests", "requests"], ascending=False, kind="stable")


def area_status(area: str, row: pd.Series) -> str:
    """One sentence on an area with nothing flagged (a row of ``area_severity_counts``): what
    was measured there, so "none flagged" is never mistaken for "not measured"."""
    accounts, requests = int(row["accounts"]), int(row["requests"])
    return (f"{_area_words(area)}: {accounts:,} account{'' if accounts == 1 else 's'}, "
            f"{requests:,} request{'' if requests == 1 else 's'} measured; none flagged.")


def nightly_trend(history: pd.DataFrame) -> pd.DataFrame:
    """Per night and area: flagged accounts, flagged requests, flagged campaigns, actors.

    Every night × area of the history is present (zeros where nothing was flagged), so a
    chart draws a line that drops to zero instead of skipping the night. Columns: as_of,
    area, flagged_accounts, flagged_requests, campaigns, actors, requests (the area's
    whole volume that night, by actor area).
    """
    columns = ["as_of", "area", "flagged_accounts", "flagged_requests", "campaigns", "actors", "requests"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    frame = with_actors(history)
    frame["as_of"] = frame["as_of"].astype(str)
    flagged = _flagged(frame)
    grid = pd.MultiIndex.from_product(
        [sorted(frame["as_of"].unique()), sorted(frame["actor_area"].unique())], names=["as_of", "area"]
    )
    keys = [flagged["as_of"], flagged["actor_area"].rename("area")]
    agg = pd.DataFrame({
        "flagged_accounts": flagged.groupby(keys).size(),
        "flagged_requests": flagged.groupby(keys)["n_requests"].sum(),
        "campaigns": flagged[flagged["campaign_id"] != ""].groupby(
            [flagged["as_of"], flagged["actor_area"].rename("area")])["campaign_id"].nunique(),
        "actors": flagged.groupby(keys)["actor_id"].nunique(),
    })
    volume = frame.groupby([frame["as_of"], frame["actor_area"].rename("area")])["n_requests"].sum().rename("requests")
    out = agg.reindex(grid).join(volume).fillna(0).astype(int).reset_index()
    return out[columns]


# --- canaries -------------------------------------------------------------------------------------------
def canary_recall(history: pd.DataFrame | None) -> pd.DataFrame:
    """Per canary kind and adaptive options (``targeting canary --record``): the latest
    recall, the one before, their change, the mean over every recorded canary, how many were
    recorded and the latest median rank; empty without a history."""
    cols = ["kind", "adaptive", "last_as_of", "recall", "previous", "change", "mean_recall", "runs", "median_rank"]
    if history is None or history.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    ordered = history.sort_values(["recorded_at", "as_of"], kind="stable")
    for (kind, adaptive), g in ordered.groupby(["kind", "adaptive"], sort=True):
        last = g.iloc[-1]
        previous = float(g["recall"].iloc[-2]) if len(g) > 1 else float("nan")
        rows.append({"kind": kind, "adaptive": adaptive, "last_as_of": last["as_of"], "recall": float(last["recall"]),
                     "previous": previous, "change": float(last["recall"]) - previous,
                     "mean_recall": float(g["recall"].mean()), "runs": len(g), "median_rank": last["median_rank"]})
    return pd.DataFrame(rows, columns=cols)


# --- changes between two nights ------------------------------------------------------------------------
def _flagged_campaigns(scores: pd.DataFrame) -> dict[str, set[str]]:
    """Campaign id -> members, for campaigns with at least one flagged member."""
    if scores.empty:
        return {}
    camp = _campaign_col(scores)
    flagged_ids = set(camp[scores["flagged"].astype(bool) & (camp != "")])
    return {c: set(scores.loc[camp == c, "account_id"].astype(str)) for c in sorted(flagged_ids)}


def changes(current: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """What changed from ``previous`` night to ``current``, one row per change.

    Columns: change (newly_flagged | no_longer_flagged | new_campaign | ended_campaign |
    score_rise), target_kind (account | campaign), target_id, area, n_accounts,
    n_requests, risk_before, risk_now, detail (plain words). Campaign ids are derived from
    their members, so a campaign that gained or lost a member gets a new id: a campaign is
    *new* only if none of its members was in a flagged campaign the night before, and
    *ended* only if none of its members is in one now. An account missing from the other
    night (inactive in its window) counts as not flagged there.
    """
    columns = ["change", "target_kind", "target_id", "area", "n_accounts", "n_requests",
               "risk_before", "risk_now", "detail"]
    if previous is None or current.empty:
        return pd.DataFrame(columns=columns)
    cur, prev = with_actors(current).set_index("account_id"), with_actors(previous).set_index("account_id")
    rows: list[dict[str, Any]] = []
    cur_flag = set(cur.index[cur["flagged"].astype(bool)])
    prev_flag = set(prev.index[prev["flagged"].astype(bool)]) if not prev.empty else set()

    def account_row(change: str, acct: str, src: pd.DataFrame, detail: str) -> dict[str, Any]:
        return {
            "change": change, "target_kind": "account", "target_id": acct, "area": src.at[acct, "actor_area"],
            "n_accounts": 1, "n_requests": int(src.at[acct, "n_requests"]),
            "risk_before": float(prev.at[acct, "risk_score"]) if acct in prev.index else np.nan,
            "risk_now": float(cur.at[acct, "risk_score"]) if acct in cur.index else np.nan, "detail": detail,
        }

    for acct in sorted(cur_flag - prev_flag):
        was = "was not flagged" if acct in prev.index else "was not active"
        rows.append(account_row("newly_flagged", acct, cur, f"flagged now; {was} on the previous night"))
    for acct in sorted(prev_flag - cur_flag):
        now = "no longer flagged" if acct in cur.index else "no longer active"
        rows.append(account_row("no_longer_flagged", acct, prev, now))

    cur_camps, prev_camps = _flagged_campaigns(current), _flagged_campaigns(previous)
    prev_members = set().union(*prev_camps.values()) if prev_camps else set()
    cur_members = set().union(*cur_camps.values()) if cur_camps else set()
    for camp, members in cur_camps.items():
        if not members & prev_members:
            sub = cur.loc[sorted(members)]
            rows.append({
                "change": "new_campaign", "target_kind": "campaign", "target_id": camp,
                "area": sub["actor_area"].iloc[0], "n_accounts": len(members), "n_requests": int(sub["n_requests"].sum()),
                "risk_before": np.nan, "risk_now": float(sub["risk_score"].max()),
                "detail": f"new campaign of {len(members)} accounts",
            })
    for camp, members in prev_camps.items():
        if not members & cur_members:
            sub = prev.loc[sorted(members)]
            rows.append({
                "change": "ended_campaign", "target_kind": "campaign", "target_id": camp,
                "area": sub["actor_area"].iloc[0], "n_accounts": len(members), "n_requests": int(sub["n_requests"].sum()),
                "risk_before": float(sub["risk_score"].max()), "risk_now": np.nan,
                "detail": f"campaign of {len(members)} accounts no longer seen",
            })

    both = cur.index.intersection(prev.index)
    rise = (cur.loc[both, "risk_score"] - prev.loc[both, "risk_score"]).sort_values(ascending=False)
    for acct, delta in rise[rise >= BIG_RISE].head(TOP_RISES).items():
        rows.append(account_row("score_rise", acct, cur, f"risk rose by {delta:.2f}"))
    return pd.DataFrame(rows, columns=columns)


def _area_words(area: str) -> str:
    return str(area).replace("_", " ")


def biggest_change(current: pd.DataFrame, previous: pd.DataFrame | None, changed: pd.DataFrame | None = None) -> str:
    """One plain sentence: the largest change in flagged volume since the previous night.

    Candidates are a new or ended campaign (its requests) and the change of an area's
    flagged requests; the one moving the most requests wins.
    """
    if previous is None or previous.empty:
        return "No earlier scored night to compare with."
    changed = changes(current, previous) if changed is None else changed
    before = area_severity_counts(previous)["flagged_requests"]
    after = area_severity_counts(current)["flagged_requests"]
    areas = before.index.union(after.index)
    delta = after.reindex(areas, fill_value=0) - before.reindex(areas, fill_value=0)
    candidates: list[tuple[int, str]] = []
    for kind, verb in (("new_campaign", "appeared"), ("ended_campaign", "was no longer seen")):
        sub = changed[changed["change"] == kind].sort_values("n_requests", ascending=False)
        if len(sub):
            top = sub.iloc[0]
            candidates.append((int(top["n_requests"]), (
                f"A {_area_words(top['area'])} campaign ({top['target_id']}: {int(top['n_accounts'])} accounts, "
                f"{int(top['n_requests']):,} requests) {verb}."
            )))
    if len(delta) and delta.abs().max() > 0:
        area = delta.abs().idxmax()
        b, a = int(before.get(area, 0)), int(after.get(area, 0))
        direction = "rose" if a > b else "fell"
        candidates.append((abs(a - b), (
            f"Flagged requests in {_area_words(area)} {direction} from {b:,} to {a:,}."
        )))
    if not candidates:
        return "No change in flagged accounts or campaigns since the previous night."
    return max(candidates, key=lambda c: c[0])[1]


# --- campaigns --------------------------------------------------------------------------------------
def area_cluster_counts(scores: pd.DataFrame) -> dict[str, int]:
    """Clusters of each area on the map, as the score table records them (``area_clusters``)."""
    if scores.empty or "area_clusters" not in scores.columns:
        return {}
    return {str(a): int(v) for a, v in scores.groupby("dominant_area")["area_clusters"].max().items()}


def campaign_summaries(scores: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per linked group (filter on ``flagged_members > 0`` for the campaigns).

    Columns: campaign_id, target_area, n_accounts, n_requests, first_seen, last_seen,
    covered_clusters, area_clusters, coverage (covered / area clusters, at most 1: requests
    put in an area by their system prompt can fall in a neighbouring area's clusters),
    max_severity, mean_risk, max_risk, flagged_members, target_share. When ``scores`` holds
    several nights, figures are the latest night's and first_seen the earliest seen.
    ``history`` (``score_history``) dates first_seen back to the earliest scored request of
    any current member: a night's scores only see its window, and campaign ids change
    whenever membership does, while account ids stay. Sorted by flagged members, then requests.
    """
    columns = ["campaign_id", "target_area", "n_accounts", "n_requests", "first_seen", "last_seen",
               "covered_clusters", "area_clusters", "coverage", "max_severity", "mean_risk", "max_risk",
               "flagged_members", "target_share"]
    if scores.empty:
        return pd.DataFrame(columns=columns)
    frame = with_actors(scores)
    members = frame[frame["campaign_id"] != ""]
    if members.empty:
        return pd.DataFrame(columns=columns)
    first_seen = members.groupby("campaign_id")["first_seen"].min()
    if history is not None and not history.empty:
        earliest = pd.to_datetime(history.groupby("account_id")["first_seen"].min(), utc=True)
        own = pd.to_datetime(members["first_seen"], utc=True)
        back = members["account_id"].map(earliest).fillna(own)
        first_seen = pd.concat([own, back], axis=1).min(axis=1).groupby(members["campaign_id"]).min()
    if "as_of" in members.columns:
        latest = members.groupby("campaign_id")["as_of"].transform("max")
        members = members[members["as_of"] == latest]
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    sev = members.get("severity", pd.Series("none", index=members.index)).fillna("none").map(rank).fillna(0)
    clusters = area_cluster_counts(scores)
    g = members.assign(_sev=sev).groupby("campaign_id")
    out = pd.DataFrame({
        "target_area": g["actor_area"].first(),
        "n_accounts": g.size(),
        "n_requests": g["n_requests"].sum(),
        "first_seen": first_seen,
        "last_seen": g["last_seen"].max(),
        "covered_clusters": g["campaign_covered_clusters"].max() if "campaign_covered_clusters" in members else np.nan,
        "max_severity": g["_sev"].max().map(lambda i: SEVERITY_ORDER[int(i)]),
        "mean_risk": g["risk_score"].mean(),
        "max_risk": g["risk_score"].max(),
        "flagged_members": g["flagged"].sum().astype(int),
        "target_share": g["campaign_target_share"].max() if "campaign_target_share" in members else np.nan,
    })
    out["area_clusters"] = out["target_area"].map(clusters).astype(float)
    out["coverage"] = (out["covered_clusters"] / out["area_clusters"]).clip(upper=1.0)
    out = out.reset_index().rename(columns={"index": "campaign_id"})
    out = out.sort_values(["flagged_members", "n_requests", "campaign_id"], ascending=[False, False, True])
    return out[columns].reset_index(drop=True)


# --- clusters -------------------------------------------------------------------------------------------
def cluster_keywords(ws: W.Workspace, n: int = 6) -> dict[str, str]:
    """Cluster id -> its first ``n`` label phrases (comma-separated; ``capmap.labels``), or
    c-TF-IDF keywords on a map fitted before phrases, from the current map."""
    from targeting.capmap import load_map
    from targeting.capmap.labels import cluster_terms

    state = W.read_state(ws)
    if not state.get("map_id"):
        return {}
    cmap = load_map(ws.map_dir(state["map_id"]))
    return {c["cluster_id"]: ", ".join(cluster_terms(c)[:n]) for c in cmap.clusters}


def targeted_clusters(
    ws: W.Workspace, scores: pd.DataFrame, area: str, top: int = 10, *, keywords: dict[str, str] | None = None
) -> pd.DataFrame:
    """The clusters of ``area`` that flagged actors of that area send most requests to.

    Reads the assignments of the flagged accounts whose actor area is ``area``, within each
    account's scored window (first_seen..last_seen), keeps their requests in ``area``, and
    ranks clusters by those requests. Columns: cluster_id, keywords (the cluster's label
    phrases, or c-TF-IDF words on an older map, comma-separated), flagged_requests, flagged_accounts, actors, requests (all
    accounts' requests in the cluster over the same period), flagged_share. Pass
    ``keywords`` (``cluster_keywords(ws)``) when calling for several areas, to load the map once.
    """
    columns = ["cluster_id", "keywords", "flagged_requests", "flagged_accounts", "actors", "requests", "flagged_share"]
    frame = with_actors(scores)
    flagged = _flagged(frame)
    flagged = flagged[flagged["actor_area"] == area]
    if flagged.empty or not W.has_partitions(ws, "assignments"):
        return pd.DataFrame(columns=columns)
    start = pd.Timestamp(frame["first_seen"].min()).to_pydatetime()
    end = pd.Timestamp(frame["last_seen"].max()).to_pydatetime()
    reqs = W.assignments_of(
        ws, flagged["account_id"].astype(str).tolist(), ["account_id", "cluster_id", "timestamp"],
        area=area, start=start, end=end,
    ).to_pandas()
    if reqs.empty:
        return pd.DataFrame(columns=columns)
    window = flagged.set_index("account_id")[["first_seen", "last_seen", "actor_id"]]
    reqs = reqs.join(window, on="account_id")
    ts = pd.to_datetime(reqs["timestamp"], utc=True)
    reqs = reqs[(ts >= pd.to_datetime(reqs["first_seen"], utc=True)) & (ts <= pd.to_datetime(reqs["last_seen"], utc=True))]
    ranked = reqs.groupby("cluster_id").agg(
        flagged_requests=("account_id", "size"), flagged_accounts=("account_id", "nunique"),
        actors=("actor_id", "nunique"),
    ).sort_values(["flagged_requests", "flagged_accounts"], ascending=False).head(top)
    totals = W.cluster_request_counts(
        ws, ranked.index.astype(str).tolist(), start=start, end=end
    ).to_pandas().set_index("cluster_id")["requests"]
    keywords = cluster_keywords(ws) if keywords is None else keywords
    out = ranked.reset_index()
    out["keywords"] = out["cluster_id"].map(keywords).fillna("")
    out["requests"] = out["cluster_id"].map(totals).fillna(out["flagged_requests"]).astype(int)
    out["flagged_share"] = out["flagged_requests"] / out["requests"].clip(lower=1)
    return out[columns].reset_index(drop=True)
