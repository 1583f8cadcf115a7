"""Summaries of committed scores against a workspace whose campaigns are known by construction."""

import json
from datetime import date

import pandas as pd
import pytest

from policy_workspace import EXPECTED, MAP_ID, NIGHTS, THRESHOLD, build
from targeting import summaries as SM
from targeting.evidence import campaign_evidence


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return build(tmp_path_factory.mktemp("policy") / "ws")


@pytest.fixture(scope="module")
def history(ws):
    return SM.score_history(ws)


def test_latest_run_describes_the_latest_scores(ws):
    run = SM.latest_run(ws)
    assert run is not None
    assert run.as_of == date.fromisoformat(NIGHTS[-1])
    assert run.run_id.startswith("20260302")
    assert run.n_accounts == EXPECTED["n_accounts"] and run.n_requests == EXPECTED["n_requests"]
    assert run.n_flagged == EXPECTED["n_flagged"]
    assert run.threshold == pytest.approx(THRESHOLD) and run.window_days == 1
    assert run.finished_at is not None and run.finished_at.year == 2026


def test_latest_run_of_an_empty_workspace_is_none(tmp_path):
    from targeting import workspace as W

    assert SM.latest_run(W.open_workspace(tmp_path, create=True)) is None
    assert SM.score_history(W.open_workspace(tmp_path)).empty


def test_score_history_has_every_night_once_and_filters_by_date(ws, history):
    assert sorted(history["as_of"].unique()) == list(NIGHTS)
    assert len(history) == 2 * EXPECTED["n_accounts"]
    only = SM.score_history(ws, start=date.fromisoformat(NIGHTS[1]))
    assert set(only["as_of"]) == {NIGHTS[1]}
    assert set(SM.score_history(ws, end=date.fromisoformat(NIGHTS[0]))["as_of"]) == {NIGHTS[0]}


def test_headline_counts_match_the_constructed_campaigns(ws):
    h = SM.headline(SM.latest_scores(ws))
    for key in ("n_accounts", "n_requests", "n_flagged", "n_campaigns", "n_linked_groups", "n_actors",
                "flagged_requests", "flagged_by_area", "flagged_requests_by_area"):
        assert h[key] == EXPECTED[key], key
    assert h["flagged_request_share"] == pytest.approx(EXPECTED["flagged_requests"] / EXPECTED["n_requests"])
    assert h["areas_targeted"] == ["reasoning", "tool_use", "agentic_coding"]  # largest flagged volume first
    assert h["actors_by_area"] == {"reasoning": 1, "tool_use": 1, "agentic_coding": 1}
    assert h["severity_counts"] == {"low": 1, "medium": 3, "high": 3, "critical": 1}


def test_headline_of_no_scores_is_all_zero():
    h = SM.headline(pd.DataFrame())
    assert h["n_flagged"] == 0 and h["areas_targeted"] == [] and h["flagged_request_share"] == 0.0


def test_area_severity_counts(ws):
    table = SM.area_severity_counts(SM.latest_scores(ws))
    assert table.loc["reasoning", "critical"] == 1 and table.loc["reasoning", "medium"] == 3
    assert table.loc["tool_use", "high"] == 3 and table.loc["agentic_coding", "low"] == 1
    # all accounts of the area's actors, flagged or not: kAAAA + kCCCC + 10 users
    assert table.loc["reasoning", "accounts"] == 4 + 3 + 10
    assert table.loc["reasoning", "requests"] == 40 + 18 + 50
    assert table.loc["reasoning", "flagged_requests"] == 40
    assert table.loc["reasoning", "campaigns"] == 1 and table.loc["agentic_coding", "campaigns"] == 0
    assert list(table.index[:3]) == ["reasoning", "tool_use", "agentic_coding"]


def test_every_area_of_the_taxonomy_is_counted_zeros_included(ws, history):
    """Night 1: tool use has traffic but no flagged account; "other" has no traffic at all."""
    areas = SM.capability_areas(ws)
    assert areas == ("reasoning", "tool_use", "agentic_coding", "other")  # the map's taxonomy, in order
    table = SM.area_severity_counts(SM.night(history, NIGHTS[0]), areas)
    assert list(table.index) == ["reasoning", "agentic_coding", "tool_use", "other"]
    assert table.loc["tool_use", ["accounts", "requests", "flagged_accounts", "flagged_requests", "campaigns"]].tolist() \
        == [3, 30, 0, 0, 0]
    assert (table.loc["other"] == 0).all()
    assert SM.area_status("tool_use", table.loc["tool_use"]) == "tool use: 3 accounts, 30 requests measured; none flagged."
    assert SM.area_status("other", table.loc["other"]) == "other: 0 accounts, 0 requests measured; none flagged."
    empty = SM.area_severity_counts(pd.DataFrame(), areas)
    assert list(empty.index) == list(areas) and (empty == 0).all().all()


def test_capability_areas_without_a_map_are_the_shipped_taxonomy(tmp_path):
    from targeting import workspace as W
    from targeting.capmap import load_taxonomy

    assert SM.capability_areas(W.open_workspace(tmp_path, create=True)) == load_taxonomy().areas


def test_nightly_trend_per_night_and_area(history):
    trend = SM.nightly_trend(history).set_index(["as_of", "area"])
    assert trend.loc[(NIGHTS[0], "tool_use"), "flagged_accounts"] == 0  # present, with zeros
    assert trend.loc[(NIGHTS[1], "tool_use"), "flagged_accounts"] == 3
    assert trend.loc[(NIGHTS[1], "tool_use"), "flagged_requests"] == 30
    assert trend.loc[(NIGHTS[0], "reasoning"), "campaigns"] == 1
    assert trend.loc[(NIGHTS[0], "agentic_coding"), "actors"] == 1
    assert trend.groupby("as_of")["flagged_accounts"].sum().tolist() == [EXPECTED["night1_flagged"],
                                                                         EXPECTED["n_flagged"]]


def test_changes_find_the_new_campaign_and_its_accounts(history):
    prev, cur = SM.night(history, NIGHTS[0]), SM.night(history, NIGHTS[1])
    changed = SM.changes(cur, prev)
    kinds = changed.groupby("change")["target_id"].apply(sorted).to_dict()
    assert kinds["newly_flagged"] == ["b1", "b2", "b3"]
    assert kinds["new_campaign"] == ["kBBBB"]
    assert kinds["score_rise"] == ["b1", "b2", "b3"]  # 0.3 -> 0.7
    assert "no_longer_flagged" not in kinds and "ended_campaign" not in kinds
    # and backwards: the campaign ends, its accounts are no longer flagged
    back = SM.changes(prev, cur).groupby("change")["target_id"].apply(sorted).to_dict()
    assert back["ended_campaign"] == ["kBBBB"] and back["no_longer_flagged"] == ["b1", "b2", "b3"]
    assert SM.changes(cur, None).empty


def test_biggest_change_names_the_new_campaign(history):
    prev, cur = SM.night(history, NIGHTS[0]), SM.night(history, NIGHTS[1])
    sentence = SM.biggest_change(cur, prev)
    assert "tool use" in sentence and "kBBBB" in sentence and "30 requests" in sentence
    assert SM.biggest_change(cur, None) == "No earlier scored night to compare with."
    assert SM.biggest_change(cur, cur).startswith("No change")


def test_campaign_summaries(ws, history):
    camps = SM.campaign_summaries(SM.latest_scores(ws)).set_index("campaign_id")
    assert list(camps.index) == ["kAAAA", "kBBBB", "kCCCC"]  # flagged members first
    a = camps.loc["kAAAA"]
    assert (a["target_area"], a["n_accounts"], a["n_requests"], a["flagged_members"]) == ("reasoning", 4, 40, 4)
    assert a["coverage"] == pytest.approx(3 / 4) and a["max_severity"] == "critical"
    assert a["mean_risk"] == pytest.approx((0.82 + 3 * 0.62) / 4)
    assert camps.loc["kBBBB", "coverage"] == pytest.approx(1.0)
    assert camps.loc["kCCCC", "flagged_members"] == 0
    # over the whole history: first seen on the first night, figures of the latest
    both = SM.campaign_summaries(history).set_index("campaign_id")
    assert str(both.loc["kAAAA", "first_seen"].date()) == NIGHTS[0]
    assert both.loc["kAAAA", "n_requests"] == 40
    # one night's scores dated back by the members' history
    latest = SM.campaign_summaries(SM.latest_scores(ws))
    assert str(latest.set_index("campaign_id").loc["kAAAA", "first_seen"].date()) == NIGHTS[1]
    dated = SM.campaign_summaries(SM.latest_scores(ws), history=history).set_index("campaign_id")
    assert str(dated.loc["kAAAA", "first_seen"].date()) == NIGHTS[0]


def test_cluster_keywords_show_phrases_and_fall_back_to_an_old_maps_keywords(tmp_path):
    ws = build(tmp_path / "ws")  # its map is an old one: keywords, no phrases
    assert SM.cluster_keywords(ws)["r0"] == "probability, dice, coin"
    doc_path = ws.map_dir(MAP_ID) / "map.json"
    doc = json.loads(doc_path.read_text())
    doc["clusters"][0]["phrases"] = ["dice probability", "coin flips"]
    doc_path.write_text(json.dumps(doc))
    words = SM.cluster_keywords(ws)
    assert words[doc["clusters"][0]["cluster_id"]] == "dice probability, coin flips"
    assert words[doc["clusters"][1]["cluster_id"]] == ", ".join(doc["clusters"][1]["keywords"])


def test_targeted_clusters_rank_by_flagged_requests(ws):
    top = SM.targeted_clusters(ws, SM.latest_scores(ws), "reasoning")
    assert top["cluster_id"].tolist() == ["r0", "r1", "r2"]
    assert top["flagged_requests"].tolist() == [20, 12, 8]
    assert top.loc[0, "keywords"] == "probability, dice, coin"
    # r0 also has the odd-numbered users' 5 x 5 requests
    assert top.loc[0, "requests"] == 20 + 25
    assert top.loc[0, "flagged_share"] == pytest.approx(20 / 45)
    assert SM.targeted_clusters(ws, SM.latest_scores(ws), "other").empty


def test_campaign_evidence_states_what_ties_the_accounts(ws):
    items = {e.kind: e for e in campaign_evidence(ws, "kBBBB")}
    assert "3 of 3 accounts" in items["system_prompt"].summary and "ToolBot" in items["system_prompt"].summary
    assert "issue_refund, lookup_order" in items["tools"].summary
    assert len(items["examples"].examples) == 2
    a = {e.kind: e for e in campaign_evidence(ws, "kAAAA", examples=1)}
    assert a["wrapper"].detail["part"] == "end" and a["wrapper"].detail["text"].startswith("Before answering")
    assert "4 of 4 accounts" in a["wrapper"].summary
    assert len(a["examples"].examples) == 1
    assert "tools" not in a and "system_prompt" not in a
    with pytest.raises(KeyError):
        campaign_evidence(ws, "kNOPE")


def test_linked_groups_and_campaigns_count_different_things():
    # three linked groups, one with a flagged member: 3 linked groups, 1 campaign
    scores = pd.DataFrame({
        "account_id": list("abcdefgh"),
        "campaign_id": ["k1", "k1", "k2", "k2", "k3", "k3", "", ""],
        "flagged": [True, False, False, False, False, False, True, False],
    })
    assert SM.group_counts(scores) == {"n_linked_groups": 3, "n_campaigns": 1}
    assert SM.group_counts(scores.assign(campaign_id="")) == {"n_linked_groups": 0, "n_campaigns": 0}


def test_an_unflagged_account_counts_where_its_requests_are_a_flagged_one_where_it_aims():
    """Chat mostly about nothing extractable belongs to "other", not to the extractable area it
    touched most (which would leave "other" empty however much ordinary chat there is); a
    flagged account counts in the area it targets."""
    scores = pd.DataFrame({
        "account_id": ["chat", "sweep", "coder"],
        "n_requests": [40, 90, 20],
        "content_area": ["other", "other", "agentic_coding"],
        "target_area": ["reasoning", "reasoning", "agentic_coding"],
        "dominant_area": ["other", "other", "agentic_coding"],
        "flagged": [False, True, False],
        "severity": ["none", "low", "none"],
        "campaign_id": ["", "", ""],
    })
    table = SM.area_severity_counts(scores, ("reasoning", "tool_use", "agentic_coding", "other"))
    assert table.loc["other", ["accounts", "requests", "flagged_accounts"]].tolist() == [1, 40, 0]
    assert table.loc["reasoning", ["accounts", "requests", "flagged_accounts", "low"]].tolist() == [1, 90, 1, 1]
    assert table.loc["agentic_coding", ["accounts", "requests"]].tolist() == [1, 20]
    older = scores.drop(columns=["content_area", "target_area"])  # scores written before both columns
    assert SM.area_severity_counts(older).loc["other", "accounts"] == 2
