"""The app's selection, filter and layout logic: pure functions, no Streamlit."""

from __future__ import annotations

import io
import sys

import numpy as np
import pandas as pd
import pytest

from targeting.app import views as V
from targeting.app.data import resolve_root, workspace_arg
from targeting.app.serve import ADDRESS, streamlit_command


@pytest.fixture
def scores() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["acct-a", "acct-b", "acct-c", "acct-d", "ACCT-E"],
        "risk_score": [0.9, 0.2, 0.6, 0.6, 0.05],
        "flagged": [True, False, True, True, False],
        "severity": ["critical", "none", "medium", "low", "none"],
        "dominant_area": ["reasoning", "other", "tool_use", "reasoning", "other"],
        "n_requests": [300, 10, 80, 40, 3],
        "coverage": [2.5, 0.4, 1.2, np.nan, 0.1],
        "campaign_id": ["k1", "", "k1", "k2", ""],
        "verdict": ["", "", "dismissed", "confirmed", ""],
        "reasons": ["r (a; b); c", "x", "y", "z", "w"],
        "share_reasoning": [0.9, 0.1, 0.2, 0.8, 0.0],
        "share_tool_use": [0.05, 0.1, 0.7, 0.1, 0.0],
        "share_agentic_coding": [0.0, 0.0, 0.05, 0.0, 0.0],
        "share_other": [0.05, 0.8, 0.05, 0.1, 1.0],
    })


# --- text ---------------------------------------------------------------------------------------------
def test_truncate_makes_one_short_line():
    assert V.truncate("short") == "short"
    assert V.truncate("a\n\n  b   c\n") == "a ⏎ b c"
    cut = V.truncate("word " * 100, 20)
    assert len(cut) == 20 and cut.endswith("…")
    assert V.truncate(None) == "" and V.truncate(float("nan")) == ""


def test_split_reasons_keeps_parenthesised_semicolons():
    text = "100% in reasoning (top 0.1%); shares templates (campaign k1: 24 accounts; 96% reasoning); [dismissed; x] y"
    assert V.split_reasons(text) == [
        "100% in reasoning (top 0.1%)", "shares templates (campaign k1: 24 accounts; 96% reasoning)", "[dismissed; x] y",
    ]
    assert V.split_reasons("") == [] and V.split_reasons(None) == []


# --- filters -----------------------------------------------------------------------------------------
def test_default_filter_keeps_everything_ranked_by_risk_then_id(scores):
    out = V.filter_accounts(scores, V.AccountFilter())
    assert out["account_id"].tolist() == ["acct-a", "acct-c", "acct-d", "acct-b", "ACCT-E"]


@pytest.mark.parametrize("f, expected", [
    (V.AccountFilter(flagged_only=True), ["acct-a", "acct-c", "acct-d"]),
    (V.AccountFilter(areas=("reasoning",)), ["acct-a", "acct-d"]),
    (V.AccountFilter(severities=("medium", "low")), ["acct-c", "acct-d"]),
    (V.AccountFilter(campaign="k1"), ["acct-a", "acct-c"]),
    (V.AccountFilter(campaign=V.IN_CAMPAIGN), ["acct-a", "acct-c", "acct-d"]),
    (V.AccountFilter(campaign=V.NO_CAMPAIGN), ["acct-b", "ACCT-E"]),
    (V.AccountFilter(risk=(0.5, 0.7)), ["acct-c", "acct-d"]),
    (V.AccountFilter(coverage=(1.0, 3.0)), ["acct-a", "acct-c"]),
    (V.AccountFilter(coverage=(0.0, 0.5)), ["acct-d", "acct-b", "ACCT-E"]),  # unknown coverage counts as 0
    (V.AccountFilter(text="acct-e"), ["ACCT-E"]),
    (V.AccountFilter(text=" -C "), ["acct-c"]),
    (V.AccountFilter(verdicts=(V.NO_VERDICT,)), ["acct-a", "acct-b", "ACCT-E"]),
    (V.AccountFilter(verdicts=("dismissed", "confirmed")), ["acct-c", "acct-d"]),
    (V.AccountFilter(min_requests=50), ["acct-a", "acct-c"]),
    (V.AccountFilter(flagged_only=True, areas=("reasoning",), campaign="k2"), ["acct-d"]),
])
def test_filters(scores, f, expected):
    assert V.filter_accounts(scores, f)["account_id"].tolist() == expected


def test_filter_options(scores):
    opts = V.filter_options(scores)
    assert opts["areas"] == ["other", "reasoning", "tool_use"]
    assert opts["severities"] == ["critical", "medium", "low", "none"]
    assert opts["campaigns"] == ["k1", "k2"]  # largest first
    assert opts["verdicts"] == [V.NO_VERDICT, "confirmed", "dismissed"]
    assert opts["risk"] == (0.0, 1.0) and opts["coverage"] == (0.0, 2.5)


def test_account_table_and_exports(scores):
    table = V.account_table(scores)
    assert table.columns[0] == "account_id" and "reasons" in table and "share_other" not in table
    export = V.export_frame(scores, ["account_id", "risk_score", "flagged", "missing_column"])
    assert list(export.columns) == ["account_id", "risk_score", "flagged", "severity", "verdict"]
    assert pd.read_csv(io.BytesIO(V.to_csv_bytes(export)), keep_default_na=False)["account_id"].tolist() == \
        scores["account_id"].tolist()
    back = pd.read_parquet(io.BytesIO(V.to_parquet_bytes(export)))
    pd.testing.assert_frame_equal(back, export)


def test_selected_row_and_chart_picks():
    assert V.selected_row_id([1], ["a", "b"]) == "b"
    assert V.selected_row_id([], ["a"]) is None and V.selected_row_id([5], ["a"]) is None
    assert V.picked_value({"pick": [{"cluster_id": "c1", "x": 1}]}, "pick", "cluster_id") == "c1"
    assert V.picked_value({"pick": {"cluster_id": ["c2"]}}, "pick", "cluster_id") == "c2"
    assert V.picked_value({"pick": []}, "pick", "cluster_id") is None
    assert V.picked_value(None, "pick", "cluster_id") is None


def test_a_clicked_cell_picks_its_row_and_the_newest_pick_wins():
    cell = {"rows": [], "columns": [], "cells": [(2, "risk_score")]}
    assert V.picked_row(cell) == 2  # a click on any cell of row 2
    assert V.picked_row(cell, before=cell) == 2  # the same cell again after the page was left
    assert V.picked_row({"rows": [0], "cells": []}) == 0  # the row-marker checkbox
    ticked = {"rows": [0], "cells": [(2, "risk_score")]}  # selections add up: the new one wins
    assert V.picked_row(ticked, before=cell) == 0
    assert V.picked_row({"rows": [0], "cells": [(1, "account_id")]}, before=ticked) == 1
    assert V.picked_row({"rows": [], "cells": []}, before=ticked) is None  # cleared: nothing opens


def test_a_cell_click_in_a_table_opens_the_row_it_is_in(monkeypatch):
    """The tables' on_select callback (``widgets.table_select_callback``) on the events a click
    on a cell, then a ticked row, then another cell send (Streamlit's session state stubbed)."""
    import streamlit as st

    from targeting.app import widgets as ui

    state: dict = {}
    monkeypatch.setattr(st, "session_state", state)
    assert set(ui.PICK_ROW) == {"single-row", "single-cell"}
    callback = ui.table_select_callback("t", ["acct-a", "acct-b", "acct-c"], ui.SELECTED_ACCOUNT)
    for selection, opened in (({"rows": [], "cells": [[2, "reasons"]]}, "acct-c"),
                              ({"rows": [0], "cells": [[2, "reasons"]]}, "acct-a"),
                              ({"rows": [0], "cells": [[1, "risk_score"]]}, "acct-b")):
        state["t"] = {"selection": {"columns": [], **selection}}
        callback()
        assert state[ui.SELECTED_ACCOUNT] == opened


def test_table_height_fits_its_rows():
    assert V.table_height(3) == 4 * V.TABLE_ROW_PX + 3  # header and three rows, no empty rows below
    assert V.table_height(50, max_rows=8) == V.table_height(8) and V.table_height(0) == V.table_height(1)


def test_campaign_counts_are_named_as_everywhere_else():
    assert V.campaigns_caption(3, 13, show_all=False).startswith("3 campaigns (linked groups with a flagged member) of 13")
    assert V.campaigns_caption(3, 13, show_all=True).startswith("13 linked groups, 3 of them campaigns")
    assert "3 of the 13 linked groups" in V.campaigns_help(3, 13)


def test_a_verdict_needs_a_choice_and_a_confirmation_needs_a_note():
    assert "Choose a verdict" in V.verdict_problem(None, "a note")
    assert "needs a note" in V.verdict_problem("confirmed", "  ")
    assert V.verdict_problem("confirmed", "same wrapper as k1") is None
    assert V.verdict_problem("dismissed", "") is None and V.verdict_problem("needs_review", None) is None


def test_overview_chart_names_every_area_and_counts_in_whole_numbers():
    from targeting.app import charts

    counts = pd.DataFrame({"area": ["reasoning", "tool_use", "agentic_coding"], "low": [1, 0, 2], "medium": [2, 1, 0],
                           "high": [0, 0, 1], "critical": [0, 0, 0]}).set_index("area")
    bars, totals = charts.severity_by_area(counts).to_dict()["layer"]
    assert bars["encoding"]["x"]["axis"] == {"format": "d", "tickMinStep": 1}
    y_axis = bars["encoding"]["y"]["axis"]
    assert y_axis["labelOverlap"] is False and y_axis["labelFlush"] is False  # no area label dropped
    assert totals["mark"]["type"] == "text" and totals["encoding"]["text"]["field"] == "accounts"
    trend = pd.DataFrame({"as_of": ["d1", "d2"], "area": ["reasoning"] * 2, "flagged_accounts": [1, 2]})
    assert charts.nightly_trend(trend, ["reasoning"]).to_dict()["encoding"]["y"]["axis"]["format"] == "d"


# --- the map --------------------------------------------------------------------------------------------
CLUSTERS = [
    {"cluster_id": "c1", "area": "reasoning", "keywords": ["proof", "prime", "odd"], "size": 30},
    {"cluster_id": "c2", "area": "tool_use", "keywords": ["weather", "api"], "size": 20},
]


def test_map_points_are_a_stable_sample_labelled_by_cluster():
    rng = np.random.default_rng(1)
    xy = rng.normal(size=(100, 2)).astype(np.float32)
    labels = np.array([0] * 50 + [1] * 40 + [-1] * 10)
    pts = V.map_points(xy, labels, CLUSTERS, n=30)
    assert len(pts) == 30 and pts.equals(V.map_points(xy, labels, CLUSTERS, n=30))
    assert set(pts["cluster_id"]) <= {"c1", "c2", V.NOISE}
    full = V.map_points(xy, labels, CLUSTERS, n=1000)
    assert len(full) == 100 and (full["area"] == V.NOISE).sum() == 10
    assert full.loc[0, "keywords"] == "proof, prime, odd" and full.loc[0, "x"] == xy[0, 0]


def test_map_labels_name_areas_and_the_largest_clusters_where_their_prompts_are():
    xy = np.concatenate([np.full((50, 2), [0.0, 0.0]), np.full((40, 2), [10.0, 5.0]), np.full((10, 2), [99.0, 99.0])])
    xy += np.random.default_rng(2).normal(scale=0.1, size=xy.shape)
    labels = np.array([0] * 50 + [1] * 40 + [-1] * 10)
    got = V.map_labels(xy.astype(np.float32), labels, CLUSTERS)
    areas = got[got["level"] == "area"].set_index("area")
    assert areas.loc["reasoning", "text"] == "REASONING" and areas.loc["tool_use", "text"] == "TOOL USE"
    assert abs(areas.loc["tool_use", "x"] - 10) < 0.5 and abs(areas.loc["tool_use", "y"] - 5) < 0.5
    named = got[got["level"] == "cluster"]
    assert named["text"].tolist() == ["proof, prime", "weather, api"]  # largest first, two keywords
    assert abs(named.iloc[0]["x"]) < 0.5  # noise (far away) pulls nobody's label
    assert V.map_labels(xy, labels, CLUSTERS, n=1)["level"].tolist() == ["area", "area", "cluster"]
    # a map whose clusters have topic phrases is named by the first phrase
    named = V.map_labels(xy, labels, [dict(CLUSTERS[0], phrases=["prime number proof", "odd numbers"]), CLUSTERS[1]])
    assert named.loc[named["level"] == "cluster", "text"].tolist() == ["prime number proof", "weather, api"]


def _marks(spec: dict) -> list[str]:
    return [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]


def _picking_layer(spec: dict) -> dict:
    """The one layer the click selection ``PICK`` listens on (Altair lifts it to the top with
    the layer's name in ``views``, or leaves it in the layer)."""
    from targeting.app import charts

    picks = [p for p in spec.get("params", []) if p.get("name") == charts.PICK]
    on = [layer for layer in spec["layer"]
          if any(p.get("name") == charts.PICK for p in layer.get("params", []))
          or any(layer.get("name") in p.get("views", []) for p in picks)]
    assert len(on) == 1, on
    return on[0]


def test_the_map_chart_writes_the_names_in_layers_and_keeps_its_selection():
    from targeting.app import charts

    xy = np.random.default_rng(1).normal(size=(100, 2)).astype(np.float32)
    labels = np.array([0] * 50 + [1] * 40 + [-1] * 10)
    points = V.map_points(xy, labels, CLUSTERS)
    spec = charts.capability_map(points, colour_by="area", areas=["reasoning", "tool_use", V.NOISE], selected=None,
                                 labels=V.map_labels(xy, labels, CLUSTERS)).to_dict()
    assert _marks(spec) == ["circle", "text", "text"]
    assert _picking_layer(spec)["mark"]["type"] == "circle"
    plain = charts.capability_map(points, colour_by="area", areas=["reasoning"], selected=None).to_dict()
    assert "layer" not in plain


def test_map_density_is_high_where_the_prompts_crowd_and_absent_where_there_are_none():
    rng = np.random.default_rng(4)
    xy = np.concatenate([rng.normal([0, 0], 0.3, (900, 2)), rng.normal([10, 0], 0.3, (100, 2))])
    points = pd.DataFrame({"x": xy[:, 0].astype(np.float32), "y": xy[:, 1].astype(np.float32)})
    got = V.map_density(points, bins=20)
    assert list(got.columns) == ["x", "x2", "y", "y2", "points", "density"]
    side = (got["x2"] - got["x"]).iloc[0]
    assert np.allclose(got["x2"] - got["x"], side) and np.allclose(got["y2"] - got["y"], side)
    span = max(np.ptp(points["x"]), np.ptp(points["y"]))
    assert abs(side - span / 20) < 1e-6  # the wider side over ``bins`` cells
    assert got["density"].max() == 1.0 and got["density"].min() >= V.DENSITY_FLOOR
    densest = got.loc[got["density"].idxmax()]
    assert densest["x"] - side <= 0 <= densest["x2"] + side and densest["y"] - side <= 0 <= densest["y2"] + side

    def near(cx: float) -> float:
        cells = got[(got["x"] <= cx + 1) & (got["x2"] >= cx - 1) & (got["y"] <= 1) & (got["y2"] >= -1)]
        return float(cells["points"].sum())

    assert near(0) > 5 * near(10) > 0  # nine times the prompts, several times the density
    empty = got[(got["x"] > 4) & (got["x2"] < 6)]  # between the two clumps: nothing drawn
    assert empty.empty
    # every point is inside the drawn grid, smoothing keeps the total, and the cells are few
    assert got["x"].min() < xy[:, 0].min() and got["x2"].max() > xy[:, 0].max()
    assert abs(V.map_density(points, bins=20, floor=0.0)["points"].sum() - len(points)) < 1e-6
    assert len(got) < 20 * 20
    assert got.equals(V.map_density(points.sample(frac=1.0, random_state=0), bins=20))  # order does not matter
    assert V.map_density(points.iloc[:0]).empty and V.map_density(points.iloc[:1]).shape[0] >= 1


def test_the_map_chart_draws_its_density_under_the_points_and_keeps_the_selection_on_them():
    from targeting.app import charts

    xy = np.random.default_rng(1).normal(size=(100, 2)).astype(np.float32)
    labels = np.array([0] * 50 + [1] * 40 + [-1] * 10)
    points = V.map_points(xy, labels, CLUSTERS)
    areas = ["reasoning", "tool_use", V.NOISE]
    density = V.map_density(points)
    spec = charts.capability_map(points, colour_by="area", areas=areas, selected="c1",
                                 labels=V.map_labels(xy, labels, CLUSTERS), density=density).to_dict()
    assert _marks(spec) == ["rect", "circle", "text", "text"]  # the shade first: under everything
    shade = spec["layer"][0]
    assert shade["mark"]["opacity"] < 0.6 and "params" not in shade
    assert shade["encoding"]["color"]["field"] == "density" and shade["encoding"]["x2"]["field"] == "x2"
    assert len(spec["datasets"][shade["data"]["name"]]) == len(density)  # the precomputed cells, not the points
    assert _picking_layer(spec)["mark"]["type"] == "circle"
    assert spec["resolve"]["scale"]["color"] == "independent"  # the shade's numbers stay off the area colours
    alone = charts.capability_map(points, colour_by="cluster", areas=areas, selected=None, density=density).to_dict()
    assert _marks(alone) == ["rect", "circle"] and _picking_layer(alone)["mark"]["type"] == "circle"
    off = charts.capability_map(points, colour_by="area", areas=areas, selected=None, density=None,
                                labels=V.map_labels(xy, labels, CLUSTERS)).to_dict()
    assert "rect" not in _marks(off)
    assert "layer" not in charts.capability_map(points, colour_by="area", areas=areas, selected=None,
                                                density=density.iloc[:0]).to_dict()


def test_the_map_shows_a_cluster_by_its_phrases_and_an_old_map_by_its_keywords():
    named = [dict(CLUSTERS[0], phrases=["prime number proof", "odd numbers"]), CLUSTERS[1]]  # c2: an old map's
    xy = np.zeros((3, 2), dtype=np.float32)
    pts = V.map_points(xy, np.array([0, 1, -1]), named)
    assert pts["keywords"].tolist() == ["prime number proof, odd numbers", "weather, api", ""]
    table = V.cluster_table(named, pd.DataFrame(columns=["account_id", "cluster_id", "area", "n"])).set_index("cluster_id")
    assert table.loc["c1", "keywords"] == "prime number proof, odd numbers" and table.loc["c2", "keywords"] == "weather, api"


@pytest.fixture
def counts() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["a", "a", "b", "b", "c", "d"],
        "cluster_id": ["c1", "c2", "c1", "c2", "c1", "c2"],
        "area": ["reasoning", "tool_use", "reasoning", "tool_use", "reasoning", "tool_use"],
        "n": [90, 10, 5, 95, 3, 1],
    })


def test_cluster_table_counts_requests_accounts_and_flagged(counts):
    table = V.cluster_table(CLUSTERS, counts, flagged=["a", "d"]).set_index("cluster_id")
    assert table.loc["c1", ["requests", "accounts", "flagged_accounts"]].tolist() == [98, 3, 1]
    assert table.loc["c2", ["requests", "accounts", "flagged_accounts"]].tolist() == [106, 3, 2]
    assert table.index.tolist() == ["c2", "c1"]  # most requests first
    empty = V.cluster_table(CLUSTERS, counts.iloc[:0])
    assert empty["requests"].tolist() == [0, 0]


def test_cluster_accounts_ranks_by_concentration_not_volume(counts):
    scores = pd.DataFrame({"account_id": ["a", "b", "c", "d"], "risk_score": [0.9, 0.1, 0.3, 0.2],
                           "flagged": [True, False, False, False], "campaign_id": ["k", "", "", ""]})
    top = V.cluster_accounts(counts, "c1", scores)
    assert top["account_id"].tolist() == ["c", "a", "b"]  # c: 100% of its 3 requests; a 90%; b 5%
    assert top.loc[1, "share"] == pytest.approx(0.9) and top.loc[1, "flagged"]
    assert V.cluster_accounts(counts, "c2", scores, min_requests=2)["account_id"].tolist() == ["b", "a"]
    assert V.cluster_accounts(counts, "nope", scores).empty


def test_place_on_map_weights_neighbours_and_snaps_to_exact_anchors():
    anchors = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    sims = np.array([[0.5, 0.5, 0.1], [1.0, 0.4, 0.3], [0.9, 0.0, 0.0]])
    ids = np.array([[0, 1, -1], [2, 0, 1], [-1, -1, -1]])
    xy = V.place_on_map(anchors, sims, ids)
    assert xy[0].tolist() == pytest.approx([5.0, 0.0])
    assert xy[1].tolist() == pytest.approx([0.0, 10.0])
    assert np.isnan(xy[2]).all()


# --- one account -------------------------------------------------------------------------------------
def test_area_shares_largest_first(scores):
    shares = V.area_shares(scores.iloc[2].to_dict(), ["reasoning", "tool_use", "agentic_coding", "other"])
    assert shares["area"].tolist()[0] == "tool_use" and shares["share"].sum() == pytest.approx(1.0)


@pytest.fixture
def requests() -> pd.DataFrame:
    ts = pd.to_datetime(["2026-11-01 01:00", "2026-11-01 02:00", "2026-11-02 23:00", "2026-11-03 05:00",
                         "2026-11-03 06:00"], utc=True)
    return pd.DataFrame({"timestamp": ts, "area": ["reasoning", "reasoning", "reasoning", "other", "reasoning"],
                         "cluster_id": ["c1", "c1", "c2", "o1", "c3"]})


def test_coverage_grows_with_new_clusters_of_the_area(requests):
    cov = V.coverage_over_time(requests, "reasoning", area_clusters=10)
    assert cov["covered_clusters"].tolist() == [1, 2, 3]
    assert cov["requests"].tolist() == [2, 1, 2] and cov["area_requests"].tolist() == [2, 1, 1]
    assert cov["share_of_area"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert V.coverage_over_time(requests.iloc[:0], "reasoning").empty


def test_hour_profile_has_every_hour(requests):
    hours = V.hour_profile(requests)
    assert len(hours) == 24 and hours["requests"].sum() == 5 and hours.loc[23, "requests"] == 1
    assert V.hour_profile(requests.iloc[:0])["requests"].sum() == 0


def test_similar_accounts_by_cluster_mix(counts):
    more = pd.concat([counts, pd.DataFrame({"account_id": ["e"], "cluster_id": ["c1"], "area": ["reasoning"], "n": [7]})])
    ids, matrix = V.cluster_profiles(more)
    assert np.linalg.norm(matrix, axis=1) == pytest.approx(np.ones(len(ids)))
    similar = V.similar_accounts(ids, matrix, "c", k=3)
    assert similar["account_id"].tolist()[0] == "e" and similar["similarity"].iloc[0] == pytest.approx(1.0)
    assert "c" not in similar["account_id"].tolist() and len(similar) == 3
    assert V.similar_accounts(ids, matrix, "unknown").empty


# --- campaigns and review --------------------------------------------------------------------------------
def test_campaign_members_and_timeline(scores):
    members = V.campaign_members(scores, "k1")
    assert members["account_id"].tolist() == ["acct-a", "acct-c"]
    daily = pd.DataFrame({"account_id": ["acct-c", "acct-a", "acct-a", "x"],
                          "day": pd.to_datetime(["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-01"]),
                          "n": [4, 5, 6, 7]})
    timeline = V.member_timeline(daily, members["account_id"])
    assert timeline["account_id"].tolist() == ["acct-c", "acct-a", "acct-a"]  # first active first
    assert timeline["requests"].sum() == 15


def test_coverage_figures():
    assert V.coverage_figures(0.642, 18.0, 28.0) == ("64%", "18 of 28 clusters")
    assert V.coverage_figures(np.nan, np.nan, 28) == ("n/a", None)
    assert V.coverage_figures(0.5, 3, np.nan) == ("50%", "3 of ? clusters")


def test_target_risk(scores):
    assert V.target_risk(scores, "account", "acct-c") == pytest.approx(0.6)
    assert V.target_risk(scores, "campaign", "k1") == pytest.approx(0.9)
    assert V.target_risk(scores, "account", "nobody") is None


def test_review_queue_and_table(scores):
    scores = scores.assign(verdict=["", "", "dismissed", "needs_review", ""], flagged_by_model=scores["flagged"])
    assert V.review_queue(scores)["account_id"].tolist() == ["acct-a", "acct-d"]
    latest = pd.DataFrame({
        "target_kind": ["account", "campaign"], "target_id": ["acct-c", "k1"], "verdict": ["dismissed", "confirmed"],
        "note": ["", ""], "analyst": ["ana", "bo"], "risk_score": [0.5, 0.9], "run_id": ["r", "r"],
        "at": pd.to_datetime(["2026-11-20 10:00", "2026-11-20 11:00"], utc=True),
    })
    table = V.review_table(latest, scores)
    assert table["target_id"].tolist() == ["k1", "acct-c"]  # newest first
    row = table.set_index("target_id").loc["acct-c"]
    assert row["risk_now"] == pytest.approx(0.6) and row["reflag_above"] == pytest.approx(0.55)
    assert table.set_index("target_id").loc["k1", "risk_now"] == pytest.approx(0.9)
    assert V.review_table(latest.iloc[:0], scores).empty


def test_analyst_name_prefers_the_logged_in_user():
    assert V.analyst_name({"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}, "typed") == "ana@example.com"
    assert V.analyst_name({"is_logged_in": True, "name": "Ana"}, None) == "Ana"
    assert V.analyst_name({"is_logged_in": False, "email": "x@y"}, " bo ") == "bo"
    assert V.analyst_name(None, "  ") is None


def test_run_window():
    win = V.run_window({"as_of": "2026-11-14", "window_days": 7})
    assert win.start == pd.Timestamp("2026-11-08") and win.end == pd.Timestamp("2026-11-14")
    assert V.run_window({"as_of": "2026-11-14"}).start is None


# --- starting the app -----------------------------------------------------------------------------------
def test_workspace_argument_and_fallbacks():
    assert workspace_arg(["--workspace", "/w"]) == "/w"
    assert workspace_arg(["--workspace=/w2"]) == "/w2" and workspace_arg(["-w", "/w3"]) == "/w3"
    assert workspace_arg([]) is None
    assert resolve_root(None, [], {"TARGETING_APP_WORKSPACE": "/env"}) == "/env"
    assert resolve_root("/session", ["--workspace", "/arg"], {}) == "/session"
    assert resolve_root(None, [], {}) is None


def test_streamlit_command_binds_localhost_and_leaves_the_port_to_streamlit(tmp_path):
    cmd = streamlit_command(tmp_path / "app.py", tmp_path / "ws", None, {})
    assert cmd[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert cmd[cmd.index("--server.address") + 1] == ADDRESS == "127.0.0.1"
    assert "--server.port" not in cmd
    assert cmd[-3:] == ["--", "--workspace", str(tmp_path / "ws")]
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    cmd = streamlit_command(tmp_path / "app.py", tmp_path / "ws", 8600, {"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "1"})
    assert cmd[cmd.index("--server.port") + 1] == "8600" and "--browser.gatherUsageStats" not in cmd


def test_app_command_refuses_a_missing_workspace(tmp_path, capsys):
    from targeting.cli import main

    assert main(["app", "--workspace", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_area_table_lists_every_area_volume_first():
    from targeting import summaries as Sm

    frame = pd.DataFrame({"account_id": ["a", "b"], "n_requests": [10, 4], "flagged": [True, False],
                          "severity": ["high", "none"], "dominant_area": ["reasoning", "tool_use"],
                          "campaign_id": ["", ""]})
    table = V.area_table(Sm.area_severity_counts(frame, ("reasoning", "tool_use", "agentic_coding", "other")))
    assert table["area"].tolist() == ["reasoning", "tool use", "agentic coding", "other"]
    assert list(table.columns[:4]) == ["area", "requests", "accounts", "flagged_accounts"]
    assert table.set_index("area").loc["tool use", ["requests", "accounts", "flagged_accounts"]].tolist() == [4, 1, 0]
    assert (table.set_index("area").loc["agentic coding"] == 0).all()
