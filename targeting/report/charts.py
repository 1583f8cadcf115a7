"""The report's charts as PNG bytes: embedded in HTML as data URIs, or files beside Markdown.

Matplotlib's object API with the Agg canvas directly (no pyplot): no global backend switch,
no figure registry, nothing shared between calls. PNGs carry no timestamp, so a chart of
the same figures is the same bytes.
"""

from __future__ import annotations

import io

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
PALETTE = ("#3b6ea8", "#d9822b", "#2e9e6a", "#a23b72", "#6c757d", "#c9a227")  # colour-blind friendly order
SEVERITY_COLOURS = {"low": "#f2d492", "medium": "#f29e4c", "high": "#d9534f", "critical": "#8b1e3f"}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _style(ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)


def _nights(trend: pd.DataFrame) -> list[str]:
    return sorted(trend["as_of"].astype(str).unique())


def trend_chart(trend: pd.DataFrame, areas: list[str], *, title: str = "Flagged requests per scored night") -> bytes:
    """Flagged requests per night, one line per area (the executive view of the trend)."""
    fig = Figure(figsize=(7.5, 3.0))
    ax = fig.subplots()
    nights = _nights(trend)
    x = range(len(nights))
    for i, area in enumerate(areas):
        sub = trend[trend["area"] == area].set_index("as_of").reindex(nights).fillna(0)
        ax.plot(x, sub["flagged_requests"], marker="o", markersize=4, linewidth=2,
                color=PALETTE[i % len(PALETTE)], label=area.replace("_", " "))
    _dates_axis(ax, nights)
    ax.set_ylabel("flagged requests")
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_ylim(bottom=0)
    _style(ax)
    if areas:
        ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def area_trend_chart(trend: pd.DataFrame, area: str, colour_index: int = 0) -> bytes:
    """One area: flagged requests per night (bars) and flagged actors (line, right axis)."""
    fig = Figure(figsize=(6.5, 2.4))
    ax = fig.subplots()
    nights = _nights(trend)
    sub = trend.set_index("as_of").reindex(nights).fillna(0)
    x = list(range(len(nights)))
    ax.bar(x, sub["flagged_requests"], color=PALETTE[colour_index % len(PALETTE)], alpha=0.85, width=0.6,
           label="flagged requests")
    ax.set_ylabel("flagged requests", fontsize=9)
    _dates_axis(ax, nights)
    _style(ax)
    right = ax.twinx()
    right.plot(x, sub["actors"], color="#222222", marker="o", markersize=4, linewidth=1.5, label="actors")
    right.set_ylabel("actors", fontsize=9)
    right.set_ylim(0, max(1, float(sub["actors"].max())) * 1.3)
    right.spines[["top"]].set_visible(False)
    right.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{area.replace('_', ' ')}: flagged requests (bars) and actors (line) per night", loc="left",
                 fontsize=10)
    return _png(fig)


def severity_chart(area_table: pd.DataFrame) -> bytes:
    """Flagged accounts per area, stacked by severity (horizontal bars)."""
    levels = [c for c in SEVERITY_COLOURS if c in area_table.columns]
    table = area_table[area_table["flagged_accounts"] > 0] if "flagged_accounts" in area_table else area_table
    fig = Figure(figsize=(7.5, 0.6 + 0.5 * max(1, len(table))))
    ax = fig.subplots()
    labels = [str(a).replace("_", " ") for a in table.index]
    left = [0.0] * len(table)
    for level in levels:
        values = table[level].astype(float).tolist()
        ax.barh(labels, values, left=left, color=SEVERITY_COLOURS[level], label=level, height=0.6)
        left = [a + b for a, b in zip(left, values)]
    ax.invert_yaxis()
    ax.set_xlabel("flagged accounts")
    ax.set_title("Flagged accounts by area and severity", loc="left", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def _dates_axis(ax, nights: list[str]) -> None:
    step = max(1, len(nights) // 10)
    ax.set_xticks(range(0, len(nights), step), [nights[i][5:] for i in range(0, len(nights), step)], fontsize=8)
    ax.set_xlim(-0.6, len(nights) - 0.4)


# --- case files (``targeting.report.case``) -----------------------------------------------------------
MAP_BACKGROUND = 4_000  # map anchors drawn behind a case's clusters (a stable sample)
MAP_LABELS = 8  # a case's most-used clusters labelled with their topic phrases


def _area_colours(areas: list[str]) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(areas)}


def daily_area_chart(daily: pd.DataFrame, areas: list[str], *, shares: bool = False) -> bytes:
    """Requests per day stacked by area (``shares``: each day's area mix, summing to 1).
    ``daily``: day (YYYY-MM-DD), area, n."""
    days = sorted(daily["day"].astype(str).unique())
    table = daily.pivot_table(index="day", columns="area", values="n", aggfunc="sum", fill_value=0).reindex(
        days, fill_value=0).reindex(columns=areas, fill_value=0).astype(float)
    if shares:
        table = table.div(table.sum(axis=1).where(lambda s: s > 0, 1.0), axis=0)
    fig = Figure(figsize=(7.5, 2.8))
    ax = fig.subplots()
    colours = _area_colours(areas)
    bottom = [0.0] * len(days)
    for area in areas:
        values = table[area].tolist()
        if any(values):
            ax.bar(range(len(days)), values, bottom=bottom, color=colours[area], width=0.8,
                   label=area.replace("_", " "))
            bottom = [b + v for b, v in zip(bottom, values)]
    _dates_axis(ax, days)
    ax.set_ylabel("share of requests" if shares else "requests")
    ax.set_title("Area mix per day" if shares else "Requests per day by area", loc="left", fontsize=11)
    _style(ax)
    ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def risk_chart(history: pd.DataFrame) -> bytes:
    """The risk score per scored night (``history``: as_of, risk_score; flagged nights marked)."""
    nights = history["as_of"].astype(str).tolist()
    fig = Figure(figsize=(7.5, 2.2))
    ax = fig.subplots()
    x = list(range(len(nights)))
    ax.plot(x, history["risk_score"].astype(float), color=PALETTE[0], marker="o", markersize=4, linewidth=2)
    flagged = history["flagged"].astype(bool).to_numpy()
    ax.scatter([i for i, f in zip(x, flagged) if f], history["risk_score"].astype(float)[flagged],
               color=SEVERITY_COLOURS["high"], zorder=3, s=36, label="flagged")
    _dates_axis(ax, nights)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("risk score")
    ax.set_title("Risk score per scored night", loc="left", fontsize=11)
    _style(ax)
    if flagged.any():
        ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)


def _map_panel(ax, background: pd.DataFrame, reached: pd.DataFrame, colours: dict[str, str], title: str,
               top: float) -> None:
    """One map panel: the map's sample in grey, the reached clusters sized by requests (``top``:
    the requests of the largest circle), the busiest labelled with their topic phrases."""
    ax.scatter(background["x"], background["y"], s=2, color="#d0d0d0", linewidths=0)
    for area, group in reached.groupby("area", sort=True):
        ax.scatter(group["x"], group["y"], s=30 + 400 * group["requests"] / top, color=colours.get(area, "#444444"),
                   alpha=0.75, edgecolors="white", linewidths=0.8, label=str(area).replace("_", " "))
    for row in reached.sort_values("requests", ascending=False).head(MAP_LABELS).itertuples():
        label = str(row.label).replace("$", r"\$")  # topic phrases come from prompts: no mathtext
        ax.annotate(label, (row.x, row.y), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.spines[:].set_visible(False)
    ax.set_title(title.replace("$", r"\$"), loc="left", fontsize=10)


def case_map_chart(background: pd.DataFrame, reached: pd.DataFrame, areas: list[str]) -> bytes:
    """The capability map's layout (``background``: x, y of a sample of its prompts, grey) with
    the clusters a case reached at their centres (``reached``: x, y, area, requests, label),
    sized by requests, coloured by area, the busiest labelled with their topic phrases."""
    fig = Figure(figsize=(7.5, 5.5))
    ax = fig.subplots()
    top = reached["requests"].max() if len(reached) else 1
    _map_panel(ax, background, reached, _area_colours(areas), "", top)
    ax.set_title("Where its requests fall on the capability map (grey: the map's prompts)", loc="left", fontsize=11)
    if len(reached):
        ax.legend(frameon=False, fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0), markerscale=0.5)
    return _png(fig)


def beside_map_chart(background: pd.DataFrame, subject: pd.DataFrame, typical: pd.DataFrame, titles: tuple[str, str],
                     areas: list[str]) -> bytes:
    """Two map panels on one scale: the clusters a campaign reaches, and those that as many
    ordinary accounts of its area and volume reach (``report.maps.BesideMap``). A sweep
    spreads over its area; ordinary use clumps."""
    fig = Figure(figsize=(11, 4.8))
    axes = fig.subplots(1, 2)
    top = max([float(f["requests"].max()) for f in (subject, typical) if len(f)] or [1.0])
    colours = _area_colours(areas)
    for ax, reached, title in zip(axes, (subject, typical), titles):
        _map_panel(ax, background, reached, colours, f"{title}: {len(reached)} clusters", top)
    return _png(fig)
