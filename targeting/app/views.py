"""What an analyst sees, decided by pure functions over data frames.

The pages are thin Streamlit scripts; every choice of rows, order, sample and position
lives here so it is unit-tested without a browser: which accounts pass a filter, which
accounts a cluster concentrates, where an account's prompts fall on the map, how coverage
grows over time, which accounts look alike, what the review queue holds. Nothing here
reads files or touches Streamlit; nothing computes a score (the pipeline did).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from targeting.capmap.labels import cluster_terms
from targeting.exports import csv_bytes
from targeting.ids import normalise_id
from targeting.summaries import split_reasons  # noqa: F401 - the pages call V.split_reasons

TRUNCATE_CHARS = 160  # prompts are shown cut to this length unless full text is asked for
MAP_POINTS = 6_000  # background points drawn on the capability map (a stable sample)
PLACE_K = 5  # anchors whose 2-D positions place a prompt on the map
SIMILAR_ACCOUNTS = 10
CLUSTER_ACCOUNTS = 15  # accounts listed as most concentrated in a cluster
MIN_CLUSTER_REQUESTS = 2  # an account needs this many requests in a cluster to be listed there
NOISE = "(unclustered)"
ANY = "(any)"
IN_CAMPAIGN = "(in a campaign)"
NO_CAMPAIGN = "(no campaign)"
NO_VERDICT = "(none)"
SEVERITY_ORDER: tuple[str, ...] = ("critical", "high", "medium", "low", "none")

# the account table's columns, in display order (those missing from a run are skipped)
ACCOUNT_COLUMNS: tuple[str, ...] = (
    "account_id", "risk_score", "flagged", "severity", "verdict", "dominant_area", "n_requests",
    "coverage", "diversity", "regularity", "novelty", "template_share", "cot_share", "campaign_id",
    "first_seen", "last_seen", "reasons",
)


# --- text -----------------------------------------------------------------------------------------
def file_stem(text: Any, limit: int = 60) -> str:
    """``text`` (an id from the logs) as part of a download's file name: letters, digits, '.',
    '_' and '-' kept, anything else '_', at most ``limit`` characters."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text))[:limit].strip(".") or "target"


def truncate(text: Any, limit: int = TRUNCATE_CHARS) -> str:
    """One display line: whitespace runs collapsed, line breaks shown as ⏎, cut with …."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    line = " ⏎ ".join(" ".join(part.split()) for part in str(text).splitlines() if part.strip())
    return line if len(line) <= limit else line[: max(limit - 1, 0)].rstrip() + "…"


# --- the account table -------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountFilter:
    """The Accounts page's filters; the defaults let every account through."""

    areas: tuple[str, ...] = ()  # dominant areas; empty means any
    severities: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = ()  # verdict values, NO_VERDICT for accounts without one
    campaign: str = ANY  # ANY, IN_CAMPAIGN, NO_CAMPAIGN or a campaign id
    risk: tuple[float, float] | None = None  # inclusive range
    coverage: tuple[float, float] | None = None
    min_requests: int = 0
    text: str = ""  # case-insensitive substring of the account id
    flagged_only: bool = False


def filter_accounts(scores: pd.DataFrame, f: AccountFilter) -> pd.DataFrame:
    """The accounts passing ``f``, highest risk first (ties by account id, so stable)."""
    keep = pd.Series(True, index=scores.index)
    if f.flagged_only and "flagged" in scores:
        keep &= scores["flagged"].astype(bool)
    if f.areas:
        keep &= scores["dominant_area"].isin(f.areas)
    if f.severities and "severity" in scores:
        keep &= scores["severity"].isin(f.severities)
    if f.verdicts:
        verdict = scores["verdict"].fillna("") if "verdict" in scores else pd.Series("", index=scores.index)
        wanted = {"" if v == NO_VERDICT else v for v in f.verdicts}
        keep &= verdict.isin(wanted)
    campaign = scores["campaign_id"].fillna("").astype(str) if "campaign_id" in scores else pd.Series("", index=scores.index)
    if f.campaign == IN_CAMPAIGN:
        keep &= campaign != ""
    elif f.campaign == NO_CAMPAIGN:
        keep &= campaign == ""
    elif f.campaign != ANY:
        keep &= campaign == f.campaign
    for column, bounds in (("risk_score", f.risk), ("coverage", f.coverage)):
        if bounds is not None and column in scores:
            lo, hi = bounds
            keep &= scores[column].between(lo, hi) | (scores[column].isna() & (lo <= 0))
    if f.min_requests:
        keep &= scores["n_requests"] >= f.min_requests
    needle = normalise_id(f.text).lower()  # typed as ingest stores ids (NFC, trimmed)
    if needle:
        keep &= scores["account_id"].astype(str).str.lower().str.contains(needle, regex=False)
    return scores[keep].sort_values(["risk_score", "account_id"], ascending=[False, True], ignore_index=True)


def filter_options(scores: pd.DataFrame) -> dict[str, Any]:
    """Choices the filters offer: areas, severities (worst first), campaigns (largest first), ranges."""
    campaign = scores["campaign_id"].fillna("").astype(str) if "campaign_id" in scores else pd.Series(dtype=str)
    sizes = campaign[campaign != ""].value_counts()
    campaigns = sorted(sizes.index, key=lambda c: (-sizes[c], c))
    severities = set(scores["severity"].dropna()) if "severity" in scores else set()
    cov = scores["coverage"].dropna() if "coverage" in scores else pd.Series(dtype=float)
    verdicts = sorted(set(scores["verdict"].fillna("")) - {""}) if "verdict" in scores else []
    return {
        "areas": sorted(scores["dominant_area"].dropna().astype(str).unique()),
        "severities": [s for s in SEVERITY_ORDER if s in severities] + sorted(severities - set(SEVERITY_ORDER)),
        "campaigns": campaigns,
        "verdicts": [NO_VERDICT, *verdicts],
        "risk": (0.0, max(1.0, float(np.ceil(scores["risk_score"].max() * 100) / 100)) if len(scores) else 1.0),
        "coverage": (0.0, float(np.ceil(cov.max() * 10) / 10) if len(cov) else 1.0),
    }


def account_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The columns the ranked table shows, in order (reasons as one shortened line)."""
    cols = [c for c in ACCOUNT_COLUMNS if c in scores.columns]
    out = scores[cols].copy()
    if "reasons" in out:
        out["reasons"] = out["reasons"].map(lambda r: truncate(r, 240))
    return out


def export_frame(scores: pd.DataFrame, contract_columns: Sequence[str]) -> pd.DataFrame:
    """What the table's downloads hold: the contract's columns, severity and the verdict columns."""
    extra = ["severity", "verdict", "verdict_note", "verdict_by", "verdict_at", "flagged_by_model"]
    cols = [c for c in [*contract_columns, *extra] if c in scores.columns]
    return scores[cols].reset_index(drop=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for a download, formula-like text cells neutralised (``targeting.exports``)."""
    return csv_bytes(frame)


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def selected_row_id(rows: Iterable[int], shown_ids: Sequence[str]) -> str | None:
    """The id of the first selected row of a table showing ``shown_ids`` (None if out of range)."""
    for row in rows:
        if 0 <= int(row) < len(shown_ids):
            return str(shown_ids[int(row)])
    return None


def picked_row(selection: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> int | None:
    """The row a table selection points at: a clicked cell's row (``cells``: (row, column)
    pairs) or a row ticked in the row-marker column (``rows``); None when neither is set (a
    cleared selection). Both can be set at once (Streamlit adds one to the other): then the
    one that differs from ``before``, the previous selection, is the new pick (a cell when
    both or neither differ)."""

    def parts(sel: Mapping[str, Any]) -> tuple[list[int], list[int]]:
        cells = [int(c[0]) for c in sel.get("cells") or [] if len(c) == 2]
        return cells, [int(r) for r in sel.get("rows") or []]

    cells, rows = parts(selection)
    if not (cells and rows):
        return (cells or rows or [None])[0]
    old_cells, old_rows = parts(before or {})
    if rows != old_rows and cells == old_cells:
        return rows[0]  # a row ticked while a cell stays selected
    return cells[0]


TABLE_ROW_PX = 35  # Streamlit's dataframe row (and header) height in pixels


def table_height(n_rows: int, max_rows: int = 10) -> int:
    """A dataframe height in pixels that shows ``n_rows`` rows (at most ``max_rows``, then it
    scrolls) and no empty space below them: the header, the rows and the border."""
    return TABLE_ROW_PX * (max(1, min(int(n_rows), max_rows)) + 1) + 3


def picked_value(selection: Mapping[str, Any] | None, param: str, field: str) -> str | None:
    """The ``field`` of the first point picked in a chart selection ``param`` (Vega-Lite state)."""
    if not selection:
        return None
    points = selection.get(param) or []
    if isinstance(points, Mapping):  # interval selections and older formats
        values = points.get(field)
        return str(values[0]) if values else None
    for point in points:
        if isinstance(point, Mapping) and point.get(field) is not None:
            return str(point[field])
    return None


# --- the capability map ---------------------------------------------------------------------------------
def map_points(
    anchor_xy: np.ndarray,
    anchor_cluster: np.ndarray,
    clusters: Sequence[Mapping[str, Any]],
    *,
    n: int = MAP_POINTS,
    seed: int = 0,
) -> pd.DataFrame:
    """A stable random sample of the map's anchors: x, y, cluster_id, area, keywords.

    Noise anchors (HDBSCAN label -1) are kept, labelled NOISE, so the background shows the
    whole fitted sample's shape.
    """
    total = len(anchor_xy)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(total, n, replace=False)) if total > n else np.arange(total)
    labels = np.asarray(anchor_cluster)[idx]
    ids = np.array([c["cluster_id"] for c in clusters] + [NOISE], dtype=object)
    areas = np.array([c.get("area", "") for c in clusters] + [NOISE], dtype=object)
    words = np.array([", ".join(cluster_terms(c)[:5]) for c in clusters] + [""], dtype=object)
    pick = np.where(labels >= 0, labels, len(clusters))
    xy = np.asarray(anchor_xy, dtype=np.float32)[idx]
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "cluster_id": ids[pick], "area": areas[pick], "keywords": words[pick]})


MAP_LABELS = 30  # the largest clusters named on the map (more would cover it)


def map_labels(anchor_xy: np.ndarray, anchor_cluster: np.ndarray, clusters: Sequence[Mapping[str, Any]],
               *, n: int = MAP_LABELS) -> pd.DataFrame:
    """Names to write on the map at two levels: each area at the middle of its clusters'
    prompts, and the ``n`` largest clusters at the middle of theirs, by their first topic
    phrase (maps without phrases: their first two keywords). Columns: x, y, text, level ("area" or "cluster"), area, size (prompts)."""
    xy = np.asarray(anchor_xy, dtype=np.float32)
    labels = np.asarray(anchor_cluster)
    rows = []
    for i, c in enumerate(clusters):
        mine = xy[labels == i]
        if len(mine):
            terms = cluster_terms(c)
            words = (terms[0] if c.get("phrases") else ", ".join(terms[:2])) if terms else str(c["cluster_id"])
            rows.append((float(np.median(mine[:, 0])), float(np.median(mine[:, 1])), words, "cluster",
                         str(c.get("area", "")), len(mine)))
    found = pd.DataFrame(rows, columns=["x", "y", "text", "level", "area", "size"])
    named = found.sort_values(["size", "text"], ascending=[False, True]).head(n)
    area_of = np.array([str(c.get("area", "")) for c in clusters] + [""], dtype=object)
    point_area = area_of[np.where(labels >= 0, labels, len(clusters))]
    areas = [(float(np.median(xy[point_area == a, 0])), float(np.median(xy[point_area == a, 1])),
              a.replace("_", " ").upper(), "area", a, int((point_area == a).sum()))
             for a in sorted(set(point_area) - {""})]
    return pd.concat([pd.DataFrame(areas, columns=found.columns), named], ignore_index=True)


DENSITY_BINS = 64  # cells across the map's wider side for its density picture
DENSITY_SMOOTH = (1.0, 6.0, 15.0, 20.0, 15.0, 6.0, 1.0)  # a binomial kernel, applied along x then y: regions, not speckle
DENSITY_FLOOR = 0.04  # cells below this share of the densest cell are left out (no grey wash over the page)


def map_density(points: pd.DataFrame, *, bins: int = DENSITY_BINS, floor: float = DENSITY_FLOOR) -> pd.DataFrame:
    """How crowded each part of the map is: the display sample's points (``map_points``)
    counted on a grid of square cells (``bins`` across the wider side, one empty cell of
    margin) and smoothed, so that clusters read as regions. One row per cell at or above
    ``floor`` of the densest: x, x2, y, y2 (the cell's corners), points (smoothed count),
    density (0-1, the densest cell 1). Its cost depends on the sample, never on traffic."""
    columns = ["x", "x2", "y", "y2", "points", "density"]
    xy = points[["x", "y"]].to_numpy(dtype=np.float64) if len(points) else np.zeros((0, 2))
    xy = xy[np.isfinite(xy).all(axis=1)]
    if not len(xy):
        return pd.DataFrame(columns=columns)
    low, high = xy.min(axis=0), xy.max(axis=0)
    side = max(float((high - low).max()), 1e-9) / bins
    margin = len(DENSITY_SMOOTH) // 2
    cells = np.ceil((high - low) / side).astype(int) + 1 + 2 * margin
    origin = low - margin * side
    ix = np.minimum(((xy - origin) // side).astype(int), cells - 1)
    grid = np.zeros((int(cells[0]), int(cells[1])))
    np.add.at(grid, (ix[:, 0], ix[:, 1]), 1.0)
    kernel = np.asarray(DENSITY_SMOOTH) / sum(DENSITY_SMOOTH)
    for axis in (0, 1):
        grid = np.apply_along_axis(np.convolve, axis, grid, kernel, mode="same")
    keep = np.argwhere(grid >= floor * grid.max())
    x0 = origin[0] + keep[:, 0] * side
    y0 = origin[1] + keep[:, 1] * side
    counts = grid[keep[:, 0], keep[:, 1]]
    return pd.DataFrame({"x": x0, "x2": x0 + side, "y": y0, "y2": y0 + side, "points": counts,
                         "density": counts / grid.max()}, columns=columns)


def cluster_table(clusters: Sequence[Mapping[str, Any]], counts: pd.DataFrame, flagged: Iterable[str] = ()) -> pd.DataFrame:
    """One row per cluster: cluster_id, area, keywords, map_size (fitted prompts), requests,
    accounts and flagged_accounts in the shown run's window. Largest by requests first."""
    meta = pd.DataFrame({
        "cluster_id": [c["cluster_id"] for c in clusters],
        "area": [c.get("area", "") for c in clusters],
        "keywords": [", ".join(cluster_terms(c)[:8]) for c in clusters],
        "map_size": [int(c.get("size", 0)) for c in clusters],
    })
    if counts.empty:
        stats = pd.DataFrame(columns=["requests", "accounts", "flagged_accounts"])
    else:
        flagged_set = set(flagged)
        g = counts.assign(_flag=counts["account_id"].isin(flagged_set)).groupby("cluster_id")
        stats = pd.DataFrame({
            "requests": g["n"].sum(),
            "accounts": g["account_id"].nunique(),
            "flagged_accounts": g.apply(lambda d: d.loc[d["_flag"], "account_id"].nunique(), include_groups=False),
        })
    out = meta.join(stats, on="cluster_id")
    for col in ("requests", "accounts", "flagged_accounts"):
        out[col] = out[col].fillna(0).astype(int)
    return out.sort_values(["requests", "cluster_id"], ascending=[False, True], ignore_index=True)


def cluster_accounts(
    counts: pd.DataFrame, cluster_id: str, scores: pd.DataFrame, *, n: int = CLUSTER_ACCOUNTS,
    min_requests: int = MIN_CLUSTER_REQUESTS,
) -> pd.DataFrame:
    """The accounts most concentrated in a cluster: the largest share of their own requests
    there (an account that lives in the cluster, not a big one passing through), with at
    least ``min_requests`` there. Columns: account_id, in_cluster, share, risk_score,
    flagged, campaign_id."""
    columns = ["account_id", "in_cluster", "share", "risk_score", "flagged", "campaign_id"]
    if counts.empty:
        return pd.DataFrame(columns=columns)
    totals = counts.groupby("account_id")["n"].sum()
    here = counts[counts["cluster_id"] == cluster_id].groupby("account_id")["n"].sum()
    here = here[here >= min_requests]
    if here.empty:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame({"in_cluster": here, "share": here / totals.reindex(here.index)})
    out.index.name = "account_id"
    out = out.reset_index()
    info = scores.set_index("account_id")
    for col in ("risk_score", "flagged", "campaign_id"):
        out[col] = out["account_id"].map(info[col]) if col in info else np.nan
    out = out.sort_values(["share", "in_cluster", "account_id"], ascending=[False, False, True])
    return out[columns].head(n).reset_index(drop=True)


def place_on_map(anchor_xy: np.ndarray, sims: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """2-D positions of prompts from their nearest anchors: the similarity-weighted mean of
    the anchors' layout positions (a prompt that is an anchor lands on it). ``sims`` and
    ``ids`` are FAISS results (ids -1 where fewer neighbours exist); no neighbour gives NaN."""
    sims = np.atleast_2d(np.asarray(sims, dtype=np.float64))
    ids = np.atleast_2d(np.asarray(ids))
    valid = ids >= 0
    weights = np.where(valid, np.clip(sims, 1e-6, None), 0.0)
    exact = valid & (sims >= 0.9999)
    weights = np.where(exact.any(axis=1, keepdims=True), np.where(exact, 1.0, 0.0), weights)
    xy = np.asarray(anchor_xy, dtype=np.float64)[np.where(valid, ids, 0)]  # (m, k, 2)
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (weights[..., None] * xy).sum(axis=1) / total
    out[total[:, 0] == 0] = np.nan
    return out.astype(np.float32)


# --- one account ------------------------------------------------------------------------------------------
def area_shares(row: Mapping[str, Any], areas: Sequence[str]) -> pd.DataFrame:
    """The account's share of requests per area (columns area, share), largest first."""
    shares = [(a, float(row.get(f"share_{a}", 0.0) or 0.0)) for a in areas]
    return pd.DataFrame(shares, columns=["area", "share"]).sort_values("share", ascending=False, ignore_index=True)


def coverage_over_time(requests: pd.DataFrame, area: str, area_clusters: int | None = None) -> pd.DataFrame:
    """Per day: requests, requests in ``area``, distinct ``area`` clusters reached so far.

    Systematic extraction shows as a steadily climbing curve; organic use flattens early.
    Columns: day, requests, area_requests, covered_clusters, share_of_area (when the area's
    cluster count is known)."""
    columns = ["day", "requests", "area_requests", "covered_clusters", "share_of_area"]
    if requests.empty:
        return pd.DataFrame(columns=columns)
    frame = requests.assign(day=pd.to_datetime(requests["timestamp"], utc=True).dt.floor("D")).sort_values("timestamp")
    in_area = frame[frame["area"] == area]
    first = in_area.drop_duplicates("cluster_id").groupby("day").size()
    days = frame.groupby("day").size()
    out = pd.DataFrame({"requests": days})
    out["area_requests"] = in_area.groupby("day").size().reindex(out.index, fill_value=0)
    out["covered_clusters"] = first.reindex(out.index, fill_value=0).cumsum()
    out["share_of_area"] = out["covered_clusters"] / area_clusters if area_clusters else np.nan
    out.index.name = "day"
    return out.reset_index()[columns]


def hour_profile(requests: pd.DataFrame) -> pd.DataFrame:
    """Requests per UTC hour of day, all 24 hours present (scripts run round the clock)."""
    hours = pd.to_datetime(requests["timestamp"], utc=True).dt.hour if len(requests) else pd.Series(dtype=int)
    counts = hours.value_counts().reindex(range(24), fill_value=0)
    return pd.DataFrame({"hour": range(24), "requests": counts.to_numpy().astype(int)})


def cluster_profiles(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Accounts' unit-length cluster-share vectors: (account ids, matrix)."""
    if counts.empty:
        return np.array([], dtype=object), np.zeros((0, 0), dtype=np.float32)
    table = counts.pivot_table(index="account_id", columns="cluster_id", values="n", aggfunc="sum", fill_value=0)
    matrix = table.to_numpy(dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return table.index.to_numpy(dtype=object), matrix


def similar_accounts(ids: np.ndarray, matrix: np.ndarray, account_id: str, *, k: int = SIMILAR_ACCOUNTS) -> pd.DataFrame:
    """The ``k`` accounts whose requests fall in the most similar mix of clusters (cosine)."""
    where = np.flatnonzero(ids == account_id)
    if not len(where) or not len(ids):
        return pd.DataFrame(columns=["account_id", "similarity"])
    sims = matrix @ matrix[where[0]]
    sims[where[0]] = -np.inf
    top = np.argsort(-sims, kind="stable")[:k]
    top = top[np.isfinite(sims[top]) & (sims[top] > 0)]
    return pd.DataFrame({"account_id": ids[top], "similarity": sims[top].astype(float)})


def with_scores(frame: pd.DataFrame, scores: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` (with an account_id column) plus those score columns of each account."""
    info = scores.set_index("account_id")
    out = frame.copy()
    for col in columns:
        if col in info:
            out[col] = out["account_id"].map(info[col])
    return out


# --- campaigns -----------------------------------------------------------------------------------------------
def campaign_members(scores: pd.DataFrame, campaign_id: str) -> pd.DataFrame:
    """A campaign's member accounts, highest risk first."""
    members = scores[scores["campaign_id"].fillna("").astype(str) == campaign_id]
    cols = [c for c in ("account_id", "risk_score", "flagged", "severity", "verdict", "dominant_area",
                        "n_requests", "coverage", "first_seen", "last_seen") if c in members]
    return members[cols].sort_values(["risk_score", "account_id"], ascending=[False, True], ignore_index=True)


def member_timeline(daily: pd.DataFrame, members: Iterable[str]) -> pd.DataFrame:
    """Requests per member and day (columns account_id, day, requests), members in order of
    first activity, so a coordinated start reads as one vertical edge."""
    wanted = list(members)
    sub = daily[daily["account_id"].isin(wanted)]
    if sub.empty:
        return pd.DataFrame(columns=["account_id", "day", "requests"])
    out = sub.groupby(["account_id", "day"], as_index=False)["n"].sum().rename(columns={"n": "requests"})
    first = out.groupby("account_id")["day"].min().sort_values(kind="stable")
    order = {a: i for i, a in enumerate(first.index)}
    return out.sort_values(["account_id", "day"], key=lambda s: s.map(order) if s.name == "account_id" else s,
                           ignore_index=True)


AREA_COLUMNS: tuple[str, ...] = (
    "requests", "accounts", "flagged_accounts", "flagged_requests", "actors", "campaigns",
    "low", "medium", "high", "critical",
)


def area_table(counts: pd.DataFrame) -> pd.DataFrame:
    """The Overview's table of every capability area (``summaries.area_severity_counts``, zeros
    included): volume and accounts first, then what was flagged; the area in words."""
    out = counts[[c for c in AREA_COLUMNS if c in counts.columns]].reset_index()
    out["area"] = out["area"].astype(str).str.replace("_", " ")
    return out


def campaigns_help(campaigns: int, linked_groups: int) -> str:
    """The Overview's explanation of its campaign count, with the linked groups behind it
    (the words of ``targeting.summaries`` and the run summary)."""
    return (f"Linked groups with at least one flagged member: {campaigns:,} of the {linked_groups:,} "
            "linked groups (accounts the campaign graph tied together) in this run.")


def campaigns_caption(campaigns: int, linked_groups: int, show_all: bool) -> str:
    """What the Campaigns page's table holds: the campaigns, or every linked group."""
    if show_all:
        return (f"{linked_groups:,} linked groups, {campaigns:,} of them campaigns "
                "(a flagged member).")
    return f"{campaigns:,} campaigns (linked groups with a flagged member) of {linked_groups:,} linked groups."


def coverage_figures(coverage: Any, covered: Any, of: Any) -> tuple[str, str | None]:
    """A campaign's union coverage as display text: ("64%", "18 of 28 clusters")."""
    share = "n/a" if pd.isna(coverage) else f"{100 * float(coverage):.0f}%"
    if pd.isna(covered):
        return share, None
    return share, f"{int(covered)} of {int(of) if pd.notna(of) else '?'} clusters"


def target_risk(scores: pd.DataFrame, kind: str, target_id: str) -> float | None:
    """The risk an analyst sees when judging a target: the account's score, or for a
    campaign its highest member score (what a dismissal is measured against later)."""
    if kind == "account":
        hit = scores.loc[scores["account_id"] == target_id, "risk_score"]
    else:
        hit = scores.loc[scores["campaign_id"].fillna("").astype(str) == target_id, "risk_score"]
    return float(hit.max()) if len(hit) and pd.notna(hit.max()) else None


# --- review ------------------------------------------------------------------------------------------------
def review_table(latest: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The standing verdicts with what the current run says about each target: its risk
    now, flagged now, the model's own flag, and above which score a dismissal lapses."""
    from targeting.verdicts import REFLAG_MARGIN

    columns = ["target_kind", "target_id", "verdict", "note", "analyst", "at", "risk_score", "risk_now",
               "flagged_now", "flagged_by_model", "reflag_above", "run_id"]
    if latest.empty:
        return pd.DataFrame(columns=columns)
    out = latest.copy()
    acc = scores.set_index("account_id")
    camp = scores.assign(campaign_id=scores["campaign_id"].fillna("").astype(str))
    camp = camp[camp["campaign_id"] != ""].groupby("campaign_id").agg(
        risk_now=("risk_score", "max"), flagged_now=("flagged", "any"),
        flagged_by_model=("flagged_by_model", "any") if "flagged_by_model" in camp else ("flagged", "any"),
    )
    model_col = "flagged_by_model" if "flagged_by_model" in acc else "flagged"
    is_acc = out["target_kind"] == "account"
    ids = out["target_id"].astype(str)
    out["risk_now"] = np.where(is_acc, ids.map(acc["risk_score"]), ids.map(camp["risk_now"]))
    out["flagged_now"] = np.where(is_acc, ids.map(acc["flagged"]), ids.map(camp["flagged_now"]))
    out["flagged_by_model"] = np.where(is_acc, ids.map(acc[model_col]), ids.map(camp["flagged_by_model"]))
    out["reflag_above"] = np.where(out["verdict"] == "dismissed", out["risk_score"] * REFLAG_MARGIN, np.nan)
    return out.sort_values("at", ascending=False, ignore_index=True)[columns]


def review_queue(scores: pd.DataFrame) -> pd.DataFrame:
    """Accounts waiting for an analyst: flagged with no verdict yet, or marked needs_review;
    highest risk first."""
    verdict = scores["verdict"].fillna("") if "verdict" in scores else pd.Series("", index=scores.index)
    wanted = (scores["flagged"].astype(bool) & (verdict == "")) | (verdict == "needs_review")
    cols = [c for c in ("account_id", "risk_score", "severity", "verdict", "dominant_area", "campaign_id", "reasons")
            if c in scores]
    out = scores.loc[wanted, cols].sort_values(["risk_score", "account_id"], ascending=[False, True], ignore_index=True)
    if "reasons" in out:
        out["reasons"] = out["reasons"].map(lambda r: truncate(r, 200))
    return out


def verdict_problem(verdict: str | None, note: str | None) -> str | None:
    """Why a verdict cannot be recorded yet, or None: no verdict chosen (the form preselects
    none), or "confirmed" without a note saying what was checked."""
    if not verdict:
        return "Choose a verdict (confirmed, dismissed or needs review) before recording it."
    if verdict == "confirmed" and not (note or "").strip():
        return "A confirmed verdict needs a note: say what you checked and what you found."
    return None


def analyst_name(user: Mapping[str, Any] | None, typed: str | None) -> str | None:
    """Who records a verdict: the logged-in user's e-mail (or name) when login is on,
    otherwise the name typed in the form; None when there is neither."""
    if user and user.get("is_logged_in"):
        for key in ("email", "preferred_username", "name", "sub"):
            value = user.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    name = (typed or "").strip()
    return name or None


@dataclass(frozen=True)
class Window:
    """The days a run scored: [start, end] inclusive (start None: everything stored)."""

    start: pd.Timestamp | None
    end: pd.Timestamp | None
    days: int | None = None


def run_window(manifest: Mapping[str, Any]) -> Window:
    """The scoring window of a run from its manifest: a nightly `score` records its window;
    a full `run` scores everything stored up to its as-of day."""
    as_of = manifest.get("as_of")
    end = pd.Timestamp(as_of) if as_of else None
    days = manifest.get("window_days")
    if end is not None and days:
        return Window(end - pd.Timedelta(days=int(days) - 1), end, int(days))
    return Window(None, end, None)


def spread_caption(positions: pd.DataFrame, area: str) -> str:
    """What a group of placed prompts (``group_positions``) covers: its distinct prompts and
    the clusters of ``area`` they reach, the figures the coverage and regularity scores read."""
    if positions.empty:
        return "no prompts placed on the map"
    in_area = positions[positions["area"] == area]
    return (f"{len(positions):,} distinct prompts, {int(positions['requests'].sum()):,} requests; "
            f"{in_area['cluster_id'].nunique():,} clusters of {area.replace('_', ' ')} reached")

