"""Canary campaigns (``targeting canary``, ``score --canaries``): a labelled simulated campaign
scored inside the latest window of a real small workspace (``app_workspace``: the real
pipeline, a hashing encoder instead of the model), the workspace only read."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pandas as pd
import pytest

from app_workspace import FP_BUDGET, HashingEncoder
from targeting import workspace as W
from targeting.config import load_settings
from targeting.jobs.canary import KINDS, PREFIX, CanaryOptions, canary_accounts, run_canary
from targeting.simulate import SimConfig, campaign

pytestmark = pytest.mark.slow  # builds the shared small workspace once per session


def _tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _settings():
    return load_settings(environ={}, overrides={"risk": {"fp_budget": FP_BUDGET}})


@pytest.fixture
def budget_env(monkeypatch):
    """The CLI reads the shared workspace's false-positive budget from the environment."""
    monkeypatch.setenv("TARGETING_RISK__FP_BUDGET", str(FP_BUDGET))


def test_a_campaign_alone_has_prefixed_ids_inside_the_days_asked():
    requests, labels = campaign(SimConfig(seed=5, start="2026-11-08", days=7), "relay", 4)
    assert requests["account_id"].nunique() == 4
    assert requests["account_id"].str.startswith("canary-relay-").all()
    assert requests["request_id"].str.startswith("canary-req-").all()
    assert requests["timestamp"].min() >= pd.Timestamp("2026-11-08", tz="UTC")
    assert requests["timestamp"].max() < pd.Timestamp("2026-11-15", tz="UTC")
    assert set(labels["role"]) == {"attacker"} and set(labels["kind"]) == {"relay"}
    with pytest.raises(ValueError, match="unknown campaign kind"):
        campaign(SimConfig(), "phishing", 3)


def test_ranks_count_every_account_and_ties_share_the_best():
    table = pd.DataFrame({"account_id": ["a", "canary-x", "b", "canary-y"], "risk_score": [0.9, 0.8, 0.8, 0.1],
                          "flagged": [True, True, True, False], "n_requests": [5, 6, 7, 8],
                          "campaign_id": ["", "k1", "", ""], "reasons": ["r"] * 4})
    got = canary_accounts(table, ["canary-x", "canary-y"], run_threshold=0.5)
    assert got["account_id"].tolist() == ["canary-x", "canary-y"]
    assert got["rank"].tolist() == [2, 4]
    assert got["above_run_threshold"].tolist() == [True, False]
    assert got["flagged"].tolist() == [True, False]


def test_a_canary_is_found_ranked_and_explained_and_the_workspace_is_byte_identical(workspace_copy, hashing_model,
                                                                                    caplog):
    before = _tree_hashes(workspace_copy)
    with caplog.at_level(logging.INFO, logger="targeting"):
        report = run_canary(workspace_copy, _settings(), CanaryOptions(kind="reasoning", accounts=6, seed=1),
                            encoder=HashingEncoder())
    assert _tree_hashes(workspace_copy) == before
    assert "canary reasoning: 6 accounts" in caplog.text
    prompts, _ = campaign(SimConfig(seed=1, start="2026-11-08", days=7), "reasoning", 6)
    assert not any(p[:40] in caplog.text for p in prompts["prompt"])  # no prompt text in the logs
    accounts = report.accounts
    assert len(accounts) == 6 and accounts["account_id"].str.startswith(PREFIX + "reasoning-").all()
    assert accounts["rank"].between(1, report.n_scored).all() and accounts["rank"].is_monotonic_increasing
    assert report.n_scored > 6 and report.n_requests > 0
    # a templated chain-of-thought sweep over six coordinated accounts is unlike the real traffic: found
    assert report.recall >= 0.5, accounts
    flagged = accounts[accounts["flagged"]]
    assert (flagged["reasons"].str.len() > 0).all()
    assert report.as_of == "2026-11-14" and report.window_start == "2026-11-08"
    assert report.run_threshold is not None and 0 <= report.recall_at_run_threshold <= 1


def test_the_command_reports_each_account_and_leaves_the_workspace_as_it_was(invoke, workspace_copy, hashing_model,
                                                                              budget_env):
    before = _tree_hashes(workspace_copy)
    result = invoke("canary", "--workspace", workspace_copy, "--kind", "tool_use", "--accounts", "4", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert _tree_hashes(workspace_copy) == before
    lines = result.output.splitlines()
    assert lines[0].startswith("canary tool_use: 4 accounts") and "recall" in lines[0]
    assert sum(line.startswith("  canary-tool_use-") and " rank " in line for line in lines) == 4
    result = invoke("canary", "--workspace", workspace_copy, "--kind", "relay", "--accounts", "3", "--seed", "2",
                    "--json", "--paraphrase", "--cover-traffic", "0.2")
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["kind"] == "relay" and report["adaptive"] == "cover=0.2,paraphrase"
    assert len(report["accounts"]) == 3 and all("reasons" in a and a["rank"] >= 1 for a in report["accounts"])


def test_record_appends_one_row_per_kind_and_canaries_reach_no_scores_or_export(invoke, workspace_copy,
                                                                               hashing_model, budget_env, tmp_path):
    ws = W.open_workspace(workspace_copy)
    assert W.read_canary_history(ws) is None
    scores_before = _tree_hashes(workspace_copy / "scores")
    result = invoke("canary", "--workspace", workspace_copy, "--accounts", "3", "--record")
    assert result.exit_code == 0, result.output
    history = W.read_canary_history(ws)
    assert sorted(history["kind"]) == sorted(KINDS) and len(history) == len(KINDS)
    assert history["recall"].between(0, 1).all() and (history["accounts"] == 3).all()
    assert not any(PREFIX in str(v) for v in history.astype(str).to_numpy().ravel())  # figures only
    result = invoke("canary", "--workspace", workspace_copy, "--kind", "relay", "--accounts", "3", "--record")
    assert result.exit_code == 0, result.output
    assert len(W.read_canary_history(ws)) == len(KINDS) + 1
    assert _tree_hashes(workspace_copy / "scores") == scores_before
    out = tmp_path / "accounts.csv"
    assert invoke("export", "accounts", "--workspace", workspace_copy, "--out", out).exit_code == 0
    assert not pd.read_csv(out)["account_id"].astype(str).str.startswith(PREFIX).any()


def test_score_with_canaries_records_every_kind_after_the_night(invoke, workspace_copy, hashing_model, budget_env,
                                                                 monkeypatch):
    monkeypatch.setenv("TARGETING_NIGHTLY__CANARY_ACCOUNTS", "3")
    result = invoke("score", "--workspace", workspace_copy, "--as-of", "2026-11-14", "--canaries")
    assert result.exit_code == 0, result.output
    history = W.read_canary_history(W.open_workspace(workspace_copy))
    assert sorted(history["kind"]) == sorted(KINDS) and (history["as_of"] == "2026-11-14").all()
    assert sum(line.startswith("canary ") for line in result.output.splitlines()) == len(KINDS)
    latest = W.read_latest_scores(W.open_workspace(workspace_copy)).to_pandas()
    assert not latest["account_id"].str.startswith(PREFIX).any()


@pytest.mark.parametrize("args, message", [
    (["--kind", "phishing"], "--kind 'phishing': use one of reasoning, tool_use, agentic_coding, relay"),
    (["--accounts", "1"], "--accounts"),
])
def test_a_bad_kind_or_size_is_a_usage_error_exit_2(invoke, workspace_copy, args, message):
    result = invoke("canary", "--workspace", workspace_copy, *args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_workspace_without_scores_is_exit_2(invoke, tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("canary", "--workspace", tmp_path / "empty", "--kind", "relay")
    assert result.exit_code == 2 and "run `targeting run` first" in result.output


def _history(kinds, nights):
    import pyarrow as pa

    from targeting.jobs.canary import HISTORY_SCHEMA

    rows = [{"recorded_at": f"{night}T03:00:00+00:00", "as_of": night, "window_start": "2026-11-08", "kind": kind,
             "adaptive": "", "seed": 1, "accounts": 4, "found": found, "recall": found / 4,
             "recall_at_run_threshold": found / 4, "linked": found, "median_rank": 3.0, "best_rank": 1,
             "scored_accounts": 90, "threshold": 0.5, "run_threshold": 0.5, "seconds": 9.0}
            for kind in kinds for night, found in zip(nights, (2, 4))]
    return pa.Table.from_pylist(rows, schema=HISTORY_SCHEMA)


def _overview(root: Path):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.session_state["workspace"] = str(root)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_overview_shows_the_canary_recall_history_and_nothing_without_one(workspace_copy):
    at = _overview(workspace_copy)
    assert "Canary recall" not in [s.value for s in at.subheader]
    ws = W.open_workspace(workspace_copy)
    W.append_canary_history(ws, _history(KINDS, ("2026-11-13", "2026-11-14")))
    at = _overview(workspace_copy)
    assert "Canary recall" in [s.value for s in at.subheader]
    table = next(d.value for d in at.dataframe if "mean_recall" in d.value.columns).set_index("kind")
    assert sorted(table.index) == sorted(KINDS)
    assert table.loc["relay", "recall"] == 1.0 and table.loc["relay", "previous"] == 0.5
    assert table.loc["relay", "runs"] == 2 and table.loc["relay", "last_as_of"] == "2026-11-14"
    charts = at.get("vega_lite_chart")
    assert any("canary recall" in str(c.proto.spec) for c in charts)  # the trend over the two runs
