"""Every page of the analyst app under streamlit.testing.v1.AppTest on a real small workspace.

The workspace comes from the real pipeline on generated traffic (``app_workspace``, a hash
encoder instead of the model), shared by the app test modules; each module works on its own
copy because recording verdicts changes it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_workspace import HashingEncoder, shared
from targeting import summaries as Sm
from targeting.app.views import truncate
from targeting.capmap import load_map
from targeting import workspace as W
from targeting.verdicts import apply_verdicts, latest_verdicts, read_verdicts, record_verdict

pytestmark = pytest.mark.slow  # runs the pipeline once per session to build the workspace

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 120  # the first evidence view trains the elicitation classifier (seconds on 2 cores)
SUBMIT = "FormSubmitter:{}_form-Record verdict"


def page(name: str) -> str:
    return f"targeting/app/pages/{name}.py"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("app-pages") / "workspace"
    shutil.copytree(shared(tmp_path_factory), copy)
    return copy


@pytest.fixture(scope="module")
def scores(root) -> pd.DataFrame:
    return W.read_latest_scores(W.open_workspace(root)).to_pandas()


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def open_app(root: Path, name: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["workspace"] = str(root)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if name:
        at.switch_page(page(name)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page with that column (tables without selection have no key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def top_flagged(scores: pd.DataFrame) -> pd.Series:
    return scores[scores["flagged"]].sort_values("risk_score", ascending=False).iloc[0]


# --- pages --------------------------------------------------------------------------------------
def test_overview_counts_trend_and_changes(root, scores):
    at = open_app(root)
    assert texts(at.title) == ["Overview"]
    head = Sm.headline(apply_verdicts(scores, latest_verdicts(W.open_workspace(root))))
    shown = metrics(at)
    assert shown["Accounts"] == f"{head['n_accounts']:,}" and shown["Requests"] == f"{head['n_requests']:,}"
    assert shown["Flagged accounts"] == f"{head['n_flagged']:,}" and shown["Campaigns"] == f"{head['n_campaigns']:,}"
    assert "Trend over the scored nights" in texts(at.subheader)
    assert len(at.get("vega_lite_chart")) >= 2  # severity by area + the trend over two nights
    assert any("Compared with 2026-11-13" in t for t in texts(at.markdown))
    assert [b.proto.label for b in at.get("download_button")] == ["Report (HTML)", "Report (Markdown, zip)"]
    assert not any(col.get("download_button") for col in at.columns)  # a narrow column cut the label off
    assert head["n_linked_groups"] >= head["n_campaigns"]
    help_text = next(m.proto.help for m in at.metric if m.label == "Campaigns")
    assert f"{head['n_campaigns']:,} of the {head['n_linked_groups']:,} linked groups" in help_text
    sidebar = " ".join(texts(at.sidebar.caption))
    assert scores["run_id"].iloc[0] in sidebar and "2026-11-14" in sidebar
    # every area of the taxonomy, with the numbers the policy report uses (summaries, one function)
    ws = W.open_workspace(root)
    expected = Sm.area_severity_counts(apply_verdicts(scores, latest_verdicts(ws)), Sm.capability_areas(ws))
    shown_areas = frame_with(at, "flagged_accounts").set_index("area")
    assert list(shown_areas.index) == [a.replace("_", " ") for a in expected.index]
    assert set(expected.index) == set(load_map(ws.map_dir(W.read_state(ws)["map_id"])).areas)
    for column in ("requests", "accounts", "flagged_accounts", "campaigns"):
        assert shown_areas[column].tolist() == expected[column].tolist(), column


def test_map_lists_clusters_and_a_selected_cluster_shows_prompts_and_accounts(root):
    at = open_app(root, "map")
    assert texts(at.title) == ["Capability map"]
    assert len(at.get("vega_lite_chart")) == 1
    clusters = at.dataframe(key="clusters_table").value
    assert len(clusters) > 3 and {"keywords", "area", "accounts", "flagged_accounts"} <= set(clusters.columns)
    busiest = clusters.iloc[0]["cluster_id"]
    at.session_state["selected_cluster"] = busiest
    at.run()
    assert not at.exception
    assert at.selectbox(key="cluster_pick").value == busiest
    assert metrics(at)["Requests in this run"] == f"{int(clusters.iloc[0]['requests']):,}"
    ws = W.open_workspace(root)
    meta = next(c for c in load_map(ws.map_dir(W.read_state(ws)["map_id"])).clusters if c["cluster_id"] == busiest)
    examples = list(meta["examples"])[:5]
    assert texts(at.code) == [truncate(e) for e in examples]  # prompts shortened unless asked
    concentrated = at.dataframe(key="cluster_accounts").value
    assert len(concentrated) and concentrated["share"].is_monotonic_decreasing
    at.toggle(key="full_prompt_text").set_value(True).run()
    assert texts(at.code) == examples


def map_layers(at: AppTest) -> tuple[list[str], str | None]:
    """The map chart's layer marks (one mark for an unlayered chart) and the mark of the
    layer its click selection listens on."""
    import json

    from targeting.app.charts import PICK

    (chart,) = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    assert chart.proto.selection_mode == [PICK]
    layers = spec.get("layer", [spec])
    kind = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in layers]
    views = [v for p in spec.get("params", []) if p.get("name") == PICK for v in p.get("views", [])]
    picking = [k for k, layer in zip(kind, layers)
               if layer.get("name") in views or any(p.get("name") == PICK for p in layer.get("params", []))]
    return kind, picking[0] if len(picking) == 1 else None


def test_map_density_and_names_toggles_shape_the_chart_and_the_points_keep_the_click(root):
    at = open_app(root, "map")
    assert at.toggle(key="map_density").value and at.toggle(key="map_names").value
    assert map_layers(at) == (["rect", "circle", "text", "text"], "circle")
    at.toggle(key="map_density").set_value(False).run()
    assert not at.exception
    assert map_layers(at) == (["circle", "text", "text"], "circle")
    at.toggle(key="map_names").set_value(False).run()
    assert map_layers(at) == (["circle"], "circle")
    at.toggle(key="map_density").set_value(True).run()
    assert map_layers(at) == (["rect", "circle"], "circle")


def test_the_map_cluster_table_is_cached_per_run_and_follows_verdicts(root, tmp_path, scores):
    copy = tmp_path / "ws"
    shutil.copytree(root, copy)
    before = open_app(copy, "map").dataframe(key="clusters_table").value
    assert before["flagged_accounts"].sum() > 0
    ws = W.open_workspace(copy)
    for account in scores.loc[scores["flagged"], "account_id"]:
        record_verdict(ws, target_kind="account", target_id=account, verdict="dismissed", note="", analyst="ana")
    after = open_app(copy, "map").dataframe(key="clusters_table").value  # the caches as they are
    assert after["flagged_accounts"].sum() == 0
    assert after["requests"].tolist() == before["requests"].tolist()


def test_map_search_returns_nearest_prompts_and_their_accounts(root, monkeypatch):
    import targeting.embed

    monkeypatch.setattr(targeting.embed, "load_encoder", lambda config: HashingEncoder())
    ws = W.open_workspace(root)
    probe = W.read_requests(ws, ["account_id", "prompt"]).to_pandas().iloc[7]
    at = open_app(root, "map")
    at.text_input(key="search_query").input(probe["prompt"]).run()
    assert not at.exception and not at.warning
    hits = at.dataframe[-1].value
    assert hits.iloc[0]["similarity"] > 0.99 and hits.iloc[0]["accounts"] >= 1
    assert any(o.split(" ")[0] == probe["account_id"] for o in at.selectbox(key="search_account").options)


def test_search_says_why_when_the_model_is_unavailable(root, monkeypatch):
    import targeting.embed
    from targeting.errors import EmbeddingError

    def broken(config):
        raise EmbeddingError("no model here")

    monkeypatch.setattr(targeting.embed, "load_encoder", broken)
    at = open_app(root, "map")
    at.text_input(key="search_query").input("prove that there are infinitely many primes").run()
    assert not at.exception
    assert any("Search is unavailable" in w for w in texts(at.warning))


def test_accounts_table_filters_and_downloads(root, scores):
    at = open_app(root, "accounts")
    assert texts(at.title) == ["Accounts"]
    table = at.dataframe(key="accounts_table").value
    assert len(table) == len(scores) and table["risk_score"].is_monotonic_decreasing
    assert [b.proto.label for b in at.get("download_button")] == ["Download CSV", "Download Parquet"]
    at.checkbox(key="f_flagged").check().run()
    assert len(at.dataframe(key="accounts_table").value) == int(scores["flagged"].sum())
    at.checkbox(key="f_flagged").uncheck()
    at.text_input(key="f_text").input(scores["account_id"].iloc[-1]).run()
    assert at.dataframe(key="accounts_table").value["account_id"].tolist() == [scores["account_id"].iloc[-1]]


def test_selecting_an_account_drives_the_detail_view(root, scores):
    top = top_flagged(scores)
    at = open_app(root, "accounts")
    assert any("Select an account" in t for t in texts(at.info))
    at.session_state["selected_account"] = top["account_id"]
    at.run()
    assert not at.exception
    assert at.selectbox(key="account_pick").value == top["account_id"]
    shown = metrics(at)
    assert shown["Risk score"] == f"{top['risk_score']:.3f}" and shown["Flagged"] == "yes"
    assert [t.label for t in at.tabs] == ["Evidence", "On the map", "Coverage & timing", "Similar accounts",
                                          "Campaign", "Verdict"]
    assert any(t.startswith("**area**") for t in texts(at.markdown))  # evidence with its prompts
    assert len(at.get("vega_lite_chart")) >= 6  # shares, the two maps, coverage, daily, hours
    # on the map beside a typical account of its area and volume, each with what it reaches
    shown_md = [t.replace("\\", "") for t in texts(at.markdown)]  # markdown escapes undone
    assert f"**This account ({int(top['n_requests']):,} requests)**" in shown_md
    assert any(t.startswith("**Beside it: a typical account of ") for t in shown_md)
    assert sum(" clusters of " in t and "distinct prompts" in t for t in texts(at.caption)) == 2
    similar = at.dataframe(key="similar_table").value
    assert len(similar) and top["account_id"] not in set(similar["account_id"])
    # picking another account in the selectbox switches the detail view
    other = scores.sort_values("risk_score").iloc[0]["account_id"]
    at.selectbox(key="account_pick").set_value(other).run()
    assert at.session_state["selected_account"] == other
    assert metrics(at)["Requests"] == f"{int(scores.set_index('account_id').loc[other, 'n_requests']):,}"


def test_tables_open_a_row_from_any_cell_and_campaigns_has_no_empty_rows(root, scores, monkeypatch):
    """A click on any cell picks its row (selection modes single-row and single-cell: with
    single-row alone a cell click only focuses the cell); the campaigns table is as tall as
    its rows. The click itself is in tests/test_app_views.py and the browser test."""
    from streamlit.proto.Dataframe_pb2 import Dataframe as DataframeProto

    from targeting.app import views as V

    heights: dict = {}
    draw = st.dataframe

    def spy(data=None, *args, **kwargs):
        heights[kwargs.get("key")] = kwargs.get("height")
        return draw(data, *args, **kwargs)

    monkeypatch.setattr(st, "dataframe", spy)
    wanted = {DataframeProto.SelectionMode.SINGLE_ROW, DataframeProto.SelectionMode.SINGLE_CELL}
    at = open_app(root, "accounts")
    assert set(at.dataframe(key="accounts_table").proto.selection_mode) == wanted
    at = open_app(root, "campaigns")
    table = at.dataframe(key="campaigns_table")
    assert set(table.proto.selection_mode) == wanted
    assert heights["campaigns_table"] == V.table_height(len(table.value), 8)  # no empty rows below
    head = Sm.headline(apply_verdicts(scores, latest_verdicts(W.open_workspace(root))))
    assert any(V.campaigns_caption(head["n_campaigns"], head["n_linked_groups"], False) in t for t in texts(at.caption))
    assert len(table.value) == head["n_campaigns"]


def test_campaigns_page_shows_members_shared_evidence_and_timeline(root, scores):
    at = open_app(root, "campaigns")
    assert texts(at.title) == ["Campaigns"]
    listed = at.dataframe(key="campaigns_table").value
    assert len(listed) >= 1 and (listed["flagged_members"] > 0).all()
    campaign = listed.iloc[0]["campaign_id"]
    at.session_state["selected_campaign"] = campaign
    at.run()
    assert not at.exception
    members = at.dataframe(key="members_table").value
    assert set(members["account_id"]) == set(scores.loc[scores["campaign_id"] == campaign, "account_id"])
    assert metrics(at)["Accounts"] == f"{len(members):,}"
    assert any(t.startswith("**coverage**") for t in texts(at.markdown))
    assert [t.label for t in at.tabs] == ["What they share", "Members", "On the map", "Timeline", "Verdict"]
    assert len(at.get("vega_lite_chart")) == 3  # the campaign and typical accounts on the map, the timeline
    n_shown = min(len(members), 30)
    assert any(t.startswith(f"**Beside it: {n_shown} typical accounts of ") or
               t.startswith("**Beside it: a typical account of ") for t in texts(at.markdown))


def test_review_records_a_verdict_that_every_table_then_shows(root, scores):
    top = top_flagged(scores)
    ws = W.open_workspace(root)
    before = len(read_verdicts(ws))
    at = open_app(root, "review", selected_account=top["account_id"])
    assert texts(at.title) == ["Review"]
    assert top["account_id"] in at.dataframe(key="queue_table").value["account_id"].tolist()
    at.radio(key="review_verdict_verdict").set_value("dismissed")
    at.text_area(key="review_verdict_note").input("evaluation partner, contract on file")
    at.text_input(key="review_verdict_analyst").input("ana")
    at.button(key=SUBMIT.format("review_verdict")).click().run()
    assert not at.exception and not at.error
    assert any("Recorded" in t for t in texts(at.success))
    trail = read_verdicts(ws)
    assert len(trail) == before + 1
    row = trail.iloc[-1]
    assert (row["target_kind"], row["target_id"], row["verdict"], row["analyst"]) == \
        ("account", top["account_id"], "dismissed", "ana")
    assert row["risk_score"] == pytest.approx(top["risk_score"]) and row["run_id"] == top["run_id"]
    standing = frame_with(at, "reflag_above")
    assert top["account_id"] in standing["target_id"].tolist()
    assert top["account_id"] not in at.dataframe(key="queue_table").value["account_id"].tolist()
    at.switch_page(page("accounts")).run()
    table = at.dataframe(key="accounts_table").value.set_index("account_id")
    assert table.loc[top["account_id"], "verdict"] == "dismissed" and not table.loc[top["account_id"], "flagged"]


def test_a_verdict_needs_an_analyst(root, scores):
    ws = W.open_workspace(root)
    before = len(read_verdicts(ws))
    at = open_app(root, "review", selected_account=scores["account_id"].iloc[0])
    at.button(key=SUBMIT.format("review_verdict")).click().run()
    assert any("Enter your name" in t for t in texts(at.error))
    assert len(read_verdicts(ws)) == before


def test_with_login_on_a_verdict_records_the_logged_in_user(root, scores):
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s",
                          "client_id": "c", "client_secret": "x", "server_metadata_url": "https://idp/.well-known"}
    at.session_state["workspace"] = str(root)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception and [b.label for b in at.button] == ["Log in"] and not at.metric
    at.user = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}
    at.session_state["selected_campaign"] = scores.loc[scores["campaign_id"] != "", "campaign_id"].iloc[0]
    at.run()
    at.switch_page(page("review")).run()
    at.radio(key="review_kind").set_value("campaign").run()
    assert not at.text_input  # no name to type: the login says who it is
    at.radio(key="review_verdict_verdict").set_value("confirmed")
    at.text_area(key="review_verdict_note").input("same injected instruction in every member's prompts")
    at.button(key=SUBMIT.format("review_verdict")).click().run()
    assert not at.exception and not at.error
    row = read_verdicts(W.open_workspace(root)).iloc[-1]
    assert (row["target_kind"], row["analyst"], row["verdict"]) == ("campaign", "ana@example.com", "confirmed")


def test_the_verdict_form_preselects_nothing_and_a_confirmation_needs_a_note(root, scores):
    top = top_flagged(scores)
    ws = W.open_workspace(root)
    before = len(read_verdicts(ws))
    at = open_app(root, "review", selected_account=top["account_id"])
    assert at.radio(key="review_verdict_verdict").value is None  # no verdict chosen for the analyst
    at.text_input(key="review_verdict_analyst").input("ana")
    at.button(key=SUBMIT.format("review_verdict")).click().run()
    assert any("Choose a verdict" in t for t in texts(at.error))
    at.radio(key="review_verdict_verdict").set_value("confirmed")
    at.button(key=SUBMIT.format("review_verdict")).click().run()
    assert any("confirmed verdict needs a note" in t for t in texts(at.error))
    assert len(read_verdicts(ws)) == before  # neither click recorded anything
    at.text_area(key="review_verdict_note").input("the relay's injected instruction in all its prompts")
    at.button(key=SUBMIT.format("review_verdict")).click().run()
    assert not at.exception and not at.error
    row = read_verdicts(ws).iloc[-1]
    assert (row["target_id"], row["verdict"]) == (top["account_id"], "confirmed") and "relay" in row["note"]
    assert at.radio(key="review_verdict_verdict").value is None  # the next verdict is chosen afresh
    at.switch_page(page("accounts")).run()
    assert at.radio(key="account_verdict_verdict").value is None  # the account's own form too


# --- nothing to show --------------------------------------------------------------------------------
def test_no_workspace_or_an_empty_one_gives_a_message(tmp_path, monkeypatch):
    monkeypatch.delenv("TARGETING_APP_WORKSPACE", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception and any("No workspace given" in t for t in texts(at.error))
    at = open_app(tmp_path / "missing")
    assert any("Cannot open the workspace" in t for t in texts(at.error))
    (tmp_path / "empty").mkdir()
    for name in (None, "map", "accounts", "campaigns", "review"):
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
        at.session_state["workspace"] = str(tmp_path / "empty")
        at.run()
        assert not at.exception and any("no completed run yet" in t for t in texts(at.info))


def test_missing_map_and_no_flagged_accounts_give_messages(root, tmp_path, scores):
    copy = tmp_path / "ws"
    shutil.copytree(root, copy)
    shutil.rmtree(copy / "maps")
    ws = W.open_workspace(copy)
    for account in scores.loc[scores["flagged"], "account_id"]:
        record_verdict(ws, target_kind="account", target_id=account, verdict="dismissed", note="", analyst="ana")
    at = open_app(copy, "map")
    assert any("no capability map" in t for t in texts(at.info))
    at = open_app(copy, "overview")
    assert metrics(at)["Flagged accounts"] == "0"
    assert any("No account is flagged" in t for t in texts(at.info))
    # no map and nothing flagged: every area of the taxonomy is still listed, each as measured
    from targeting.capmap import load_taxonomy

    areas = load_taxonomy().areas
    assert set(frame_with(at, "flagged_accounts")["area"]) == {a.replace("_", " ") for a in areas}
    measured = [t for t in texts(at.caption) if t.endswith("measured; none flagged.")]
    assert len(measured) == len(areas)
    at = open_app(copy, "accounts", selected_account=top_flagged(scores)["account_id"])
    assert not at.exception
    assert any("no capability map" in t for t in texts(at.info))
    assert metrics(at)["Flagged"] == "dismissed"
    at = open_app(copy, "review")
    assert any("Nothing waits for review" in t for t in texts(at.success))


# --- living next to the nightly job ---------------------------------------------------------------
def test_a_nightly_run_commits_while_the_app_is_open_and_the_app_then_shows_it(root, tmp_path):
    from app_workspace import FP_BUDGET, WINDOW_DAYS

    from targeting.config import load_settings
    from targeting.jobs import score

    copy = tmp_path / "ws"
    shutil.copytree(root, copy)
    at = open_app(copy, "accounts", selected_account=W.read_latest_scores(W.open_workspace(copy))
                  .to_pandas()["account_id"].iloc[0])
    record_verdict(W.open_workspace(copy), target_kind="account", target_id="acct-x", verdict="confirmed",
                   note="", analyst="ana")  # the app's verdict store is open for writing too
    settings = load_settings(environ={}, overrides={"risk": {"fp_budget": FP_BUDGET}})
    result = score(copy, settings, as_of=pd.Timestamp("2026-11-14").date(), window_days=WINDOW_DAYS)
    at.run()  # the next interaction shows the newly committed run
    assert not at.exception
    assert result.run_id in " ".join(texts(at.sidebar.caption))


def test_prompt_text_never_reaches_the_logs(root, scores, caplog, monkeypatch):
    import logging

    import targeting.embed

    monkeypatch.setattr(targeting.embed, "load_encoder", lambda config: HashingEncoder())
    caplog.set_level(logging.DEBUG)
    secret = "zanzibar quokka ledger 7731 please"
    at = open_app(root, "map")
    at.text_input(key="search_query").input(secret).run()
    at.switch_page(page("accounts"))
    at.session_state["selected_account"] = top_flagged(scores)["account_id"]
    at.toggle(key="full_prompt_text").set_value(True) if at.toggle else None
    at.run()
    assert not at.exception
    prompts = W.requests_with_assignments(
        W.open_workspace(root), [top_flagged(scores)["account_id"]]).to_pandas()["prompt"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in logged
    assert not any(p[:40] in logged for p in prompts if len(p) >= 40)
