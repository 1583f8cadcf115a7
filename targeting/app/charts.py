"""Altair chart specifications for the app's pages (no Streamlit here).

One function per chart, taking the frames ``views`` prepared; areas keep one colour on
every chart (``area_scale``). Altair ships with Streamlit, so no extra dependency.
"""

from __future__ import annotations

from typing import Sequence

import altair as alt
import pandas as pd

from targeting.app.views import NOISE

PICK = "pick"  # the name of the map's click selection (read back by the page)
AREA_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#edc948", "#9c755f")
NOISE_COLOUR = "#c9c9c9"
SEVERITY_COLOURS = {"low": "#f1ce63", "medium": "#f28e2b", "high": "#e15759", "critical": "#9d1c20"}


def area_scale(areas: Sequence[str]) -> alt.Scale:
    """The same colour for an area on every chart; unclustered prompts grey."""
    domain = [a for a in areas if a != NOISE]
    colours = [AREA_COLOURS[i % len(AREA_COLOURS)] for i in range(len(domain))]
    if NOISE in areas:
        domain, colours = [*domain, NOISE], [*colours, NOISE_COLOUR]
    return alt.Scale(domain=domain, range=colours)


def count_axis() -> alt.Axis:
    """An axis of counts: whole-number ticks (1, 2, 3, never 0.5 or 1.0)."""
    return alt.Axis(format="d", tickMinStep=1)


def label_axis() -> alt.Axis:
    """An axis of category names that shows every name: Streamlit's theme drops every other
    label it finds crowded (labelOverlap) and pushes the end ones to the edges (labelFlush)."""
    return alt.Axis(labelOverlap=False, labelFlush=False, labelLimit=220)


def _axisless(field: str) -> alt.X | alt.Y:
    return (alt.X if field == "x" else alt.Y)(field, axis=None, scale=alt.Scale(zero=False))


def capability_map(points: pd.DataFrame, *, colour_by: str, areas: Sequence[str], selected: str | None,
                   labels: pd.DataFrame | None = None, density: pd.DataFrame | None = None) -> alt.Chart | alt.LayerChart:
    """The 2-D map of prompts; clicking a point selects its cluster (selection ``PICK``, on
    the points alone); ``density`` (``views.map_density``) shades the crowded parts under
    the points, ``labels`` (``views.map_labels``) names the areas and the largest clusters."""
    layers = [_map_points(points, colour_by=colour_by, areas=areas, selected=selected)]
    if density is not None and not density.empty:
        layers.insert(0, _map_density(density))
    if labels is not None and not labels.empty:
        clusters = labels[labels["level"] == "cluster"]
        layers.append(alt.Chart(clusters).mark_text(fontSize=10, color="#333333", dy=-6).encode(
            x=_axisless("x"), y=_axisless("y"), text="text:N"))
        layers.append(alt.Chart(labels[labels["level"] == "area"]).mark_text(
            fontSize=17, fontWeight="bold", opacity=0.8).encode(
            x=_axisless("x"), y=_axisless("y"), text="text:N",
            color=alt.Color("area:N", scale=area_scale(areas), legend=None)))
    if len(layers) == 1:
        return layers[0]
    # each layer its own colour scale: the density's counts must not merge with the areas'
    # names (the area labels repeat the areas' scale, so they keep their colours)
    return alt.layer(*layers).resolve_scale(color="independent").properties(height=560)


DENSITY_OPACITY = 0.45  # the density picture stays behind the points, never hides them
DENSITY_SCHEME = "greys"  # no hue of its own: the areas keep theirs


def _map_density(density: pd.DataFrame) -> alt.Chart:
    return alt.Chart(density).mark_rect(opacity=DENSITY_OPACITY).encode(
        x=_axisless("x"), x2="x2", y=_axisless("y"), y2="y2",
        color=alt.Color("density:Q", scale=alt.Scale(scheme=DENSITY_SCHEME, domain=[0, 1]), legend=None),
    )


def _map_points(points: pd.DataFrame, *, colour_by: str, areas: Sequence[str], selected: str | None) -> alt.Chart:
    frame = points.assign(selected=points["cluster_id"] == (selected or ""))
    pick = alt.selection_point(name=PICK, fields=["cluster_id"], on="click", clear="dblclick")
    colour = (alt.Color("area:N", scale=area_scale(areas), title="area") if colour_by == "area"
              else alt.Color("cluster_id:N", legend=None, scale=alt.Scale(scheme="tableau20")))
    return (
        alt.Chart(frame)
        .mark_circle()
        .encode(
            x=_axisless("x"), y=_axisless("y"), color=colour,
            size=alt.condition("datum.selected", alt.value(60), alt.value(10)),
            opacity=alt.condition("datum.selected", alt.value(1.0), alt.value(0.5 if selected else 0.7)),
            tooltip=["cluster_id:N", "area:N", alt.Tooltip("keywords:N", title="topics")],
        )
        .add_params(pick)
        .properties(height=520)
    )


def account_overlay(background: pd.DataFrame, mine: pd.DataFrame, *, areas: Sequence[str]) -> alt.LayerChart:
    """An account's prompts (coloured by area, sized by requests) over the grey map."""
    base = alt.Chart(background).mark_circle(size=8, color=NOISE_COLOUR, opacity=0.35).encode(
        x=_axisless("x"), y=_axisless("y"))
    top = alt.Chart(mine).mark_circle(opacity=0.9, stroke="black", strokeWidth=0.4).encode(
        x=_axisless("x"), y=_axisless("y"),
        color=alt.Color("area:N", scale=area_scale(areas), title="area"),
        size=alt.Size("requests:Q", scale=alt.Scale(range=[30, 240]), legend=None),
        tooltip=["cluster_id:N", "area:N", "requests:Q"],
    )
    return alt.layer(base, top).properties(height=420)


def coverage_over_time(frame: pd.DataFrame, area: str) -> alt.Chart:
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("day:T", title="day (UTC)"),
        y=alt.Y("covered_clusters:Q", title=f"{area.replace('_', ' ')} clusters reached so far", axis=count_axis()),
        tooltip=["day:T", "requests:Q", "area_requests:Q", "covered_clusters:Q"],
    ).properties(height=220)


def daily_requests(frame: pd.DataFrame) -> alt.Chart:
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("day:T", title="day (UTC)"), y=alt.Y("requests:Q", title="requests", axis=count_axis()),
        tooltip=["day:T", "requests:Q"],
    ).properties(height=180)


def hours(frame: pd.DataFrame) -> alt.Chart:
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("hour:O", title="hour of day (UTC)"), y=alt.Y("requests:Q", title="requests", axis=count_axis()),
        tooltip=["hour:O", "requests:Q"],
    ).properties(height=180)


def area_shares(frame: pd.DataFrame, areas: Sequence[str]) -> alt.Chart:
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X("share:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]), title="share of requests"),
        y=alt.Y("area:N", sort="-x", title=None),
        color=alt.Color("area:N", scale=area_scale(areas), legend=None),
        tooltip=["area:N", alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=140)


def severity_by_area(counts: pd.DataFrame) -> alt.LayerChart:
    """Flagged accounts per area, stacked by severity (``counts`` from area_severity_counts),
    every area named on its bar's axis and its total written at the bar's end."""
    levels = [s for s in SEVERITY_COLOURS if s in counts.columns]
    wide = counts.reset_index()[["area", *levels]]
    long = wide.melt(id_vars="area", value_vars=levels, var_name="severity", value_name="accounts")
    y = alt.Y("area:N", title=None, axis=label_axis())
    bars = alt.Chart(long).mark_bar().encode(
        x=alt.X("accounts:Q", title="flagged accounts", axis=count_axis()),
        y=y,
        color=alt.Color("severity:N", scale=alt.Scale(domain=list(SEVERITY_COLOURS), range=list(SEVERITY_COLOURS.values()))),
        order=alt.Order("severity_rank:Q"),
        tooltip=["area:N", "severity:N", "accounts:Q"],
    ).transform_calculate(
        severity_rank="indexof(['low', 'medium', 'high', 'critical'], datum.severity)"
    )
    totals = wide.assign(accounts=wide[levels].sum(axis=1))[["area", "accounts"]]
    labels = alt.Chart(totals).mark_text(align="left", dx=4).encode(
        x=alt.X("accounts:Q"), y=y, text=alt.Text("accounts:Q", format="d"))
    return alt.layer(bars, labels).properties(height=max(120, 40 + 36 * counts.shape[0]))


def nightly_trend(trend: pd.DataFrame, areas: Sequence[str], measure: str = "flagged_accounts") -> alt.Chart:
    return alt.Chart(trend).mark_line(point=True).encode(
        x=alt.X("as_of:O", title="scored night", axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{measure}:Q", title=measure.replace("_", " "), axis=count_axis()),
        color=alt.Color("area:N", scale=area_scale(areas), title="area"),
        tooltip=["as_of:O", "area:N", "flagged_accounts:Q", "flagged_requests:Q", "campaigns:Q"],
    ).properties(height=260)



def canary_trend(history: pd.DataFrame) -> alt.Chart:
    """Recall of each canary kind over the recorded canary runs."""
    frame = history.assign(series=history["kind"] + history["adaptive"].map(lambda a: f" ({a})" if a else ""))
    return alt.Chart(frame).mark_line(point=True).encode(
        x=alt.X("recorded_at:T", title="canary run (UTC)"),
        y=alt.Y("recall:Q", title="canary recall", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("series:N", title="canary"),
        tooltip=["recorded_at:T", "as_of:N", "series:N", alt.Tooltip("recall:Q", format=".2f"), "found:Q", "accounts:Q",
                 "median_rank:Q"],
    ).properties(height=220)

def member_timeline(frame: pd.DataFrame) -> alt.Chart:
    """Requests per member and day: a coordinated campaign starts and stops together."""
    order = list(dict.fromkeys(frame["account_id"]))
    return alt.Chart(frame).mark_rect().encode(
        x=alt.X("day:O", title="day (UTC)", timeUnit="yearmonthdate"),
        y=alt.Y("account_id:N", sort=order, title=None),
        color=alt.Color("requests:Q", scale=alt.Scale(scheme="orangered"), title="requests"),
        tooltip=["account_id:N", alt.Tooltip("day:T", timeUnit="yearmonthdate"), "requests:Q"],
    ).properties(height=max(120, 16 * len(order)))
