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
