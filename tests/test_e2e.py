"""End to end through the real `targeting` command with the real embedding model."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from targeting import schema as S
from targeting.capmap.labels import stop_words
from targeting.simulate import SimConfig, simulate, write_traffic

pytestmark = pytest.mark.slow


def targeting(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "targeting.cli", "--quiet", *args],
        capture_output=True, text=True, env=env, timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"targeting {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def traffic(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("traffic")
    requests, labels = simulate(SimConfig(seed=3, n_accounts=40, volume_scale=0.25))
    write_traffic(out, requests, labels, fmt="jsonl")
    return out


@pytest.fixture(scope="module")
def workspace(traffic, tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("ws") / "workspace"
    proc = targeting("run", str(traffic / "requests.jsonl"), "--workspace", str(ws))
    assert "run complete" in proc.stdout
    return ws


def test_run_builds_an_owner_only_workspace_with_scores(workspace):
    mode = stat.S_IMODE(workspace.stat().st_mode)
    assert mode == 0o700
    state = json.loads((workspace / "state.json").read_text())
    assert state["map_id"] and state["latest_scores"]
    manifest = json.loads((workspace / "runs" / f"{state['runs'][-1]}.json").read_text())
    assert manifest["model"]["weights_sha256"] and manifest["config_hash"]
    assert not list(workspace.rglob("*.pkl"))
    # each cluster named by topic phrases from the real model: none ends on a stop word
    clusters = json.loads((workspace / "maps" / state["map_id"] / "map.json").read_text())["clusters"]
    phrases = [p for c in clusters for p in c["phrases"]]
    assert sum(bool(c["phrases"]) for c in clusters) >= 0.8 * len(clusters) and len(set(phrases)) > len(clusters)
    assert not {w for p in phrases for w in (p.split()[0], p.split()[-1])} & stop_words()
    scores = pd.read_parquet(workspace / state["latest_scores"])
    # the generated logs carry addresses and creation times: infrastructure evidence is computed
    assert {"infra_linked_accounts", "campaign_content_share"} <= set(scores.columns)


def test_export_accounts_has_every_contract_column(workspace, traffic, tmp_path):
    out = tmp_path / "accounts.csv"
    targeting("export", "accounts", "--workspace", str(workspace), "--out", str(out))
    accounts = pd.read_csv(out, keep_default_na=False)
    assert list(accounts.columns[: len(S.SCORE_COLUMNS)]) == list(S.SCORE_COLUMNS)
    labels = pd.read_parquet(traffic / "labels.parquet")
    assert set(accounts["account_id"]) == set(labels["account_id"])
    shares = accounts[[S.share_column(a) for a in S.DEFAULT_AREAS]].sum(axis=1)
    assert ((shares - 1).abs() < 1e-6).all()
    assert set(accounts["dominant_area"]) <= set(S.DEFAULT_AREAS)
    assert (accounts["reasons"].str.len() > 0).all()


def test_export_requests_one_row_per_request(workspace, traffic, tmp_path):
    out = tmp_path / "requests.parquet"
    targeting("export", "requests", "--workspace", str(workspace), "--out", str(out))
    requests = pd.read_parquet(out)
    assert list(requests.columns) == ["request_id", "account_id", "area", "cluster_id"]
    labels = pd.read_parquet(traffic / "labels.parquet")
    assert len(requests) == len(labels) and requests["request_id"].is_unique
    merged = requests.merge(labels[["request_id", "area"]], on="request_id", suffixes=("", "_true"))
    assert (merged["area"] == merged["area_true"]).mean() >= 0.7


def test_rerun_of_the_same_logs_stores_nothing_twice(workspace, traffic, tmp_path):
    proc = targeting("run", str(traffic / "requests.jsonl"), "--workspace", str(workspace))
    assert "stored 0" in proc.stdout
    out = tmp_path / "requests.csv"
    targeting("export", "requests", "--workspace", str(workspace), "--out", str(out))
    assert pd.read_csv(out)["request_id"].is_unique


def test_evaluate_and_nightly_score(workspace, traffic):
    proc = targeting("evaluate", "--labels", str(traffic / "labels.parquet"), "--workspace", str(workspace), "--json")
    metrics = json.loads(proc.stdout)
    assert metrics["accounts"] == 40 and 0.0 <= metrics["auprc"] <= 1.0
    day = pd.read_parquet(traffic / "labels.parquet")  # any date inside the traffic
    proc = targeting("score", "--workspace", str(workspace), "--as-of", "2026-11-10", "--window-days", "7")
    assert "as of 2026-11-10" in proc.stdout
    assert (workspace / "scores" / "as_of=2026-11-10" / "accounts.parquet").exists()
    assert len(day)


def test_bad_input_fails_with_exit_2_and_keeps_the_workspace(workspace, tmp_path):
    bad = tmp_path / "bad.jsonl"
    rows = [{"account_id": "x", "timestamp": "not a time", "prompt": "hello"}] * 5
    rows += [{"account_id": "y", "timestamp": "2026-11-03T10:00:00Z", "prompt": "fine"}] * 5
    bad.write_text("\n".join(json.dumps(r) for r in rows))
    before = (workspace / "state.json").read_text()
    proc = targeting("run", str(bad), "--workspace", str(workspace), check=False)
    assert proc.returncode == 2
    assert "malformed" in proc.stderr and "timestamp" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert (workspace / "state.json").read_text() == before
    assert not (workspace / ".staging").exists() or not any((workspace / ".staging").iterdir())


def test_usage_errors_exit_2(tmp_path):
    proc = targeting("export", "accounts", "--workspace", str(tmp_path / "nowhere"), "--out", "x.csv", check=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = targeting("run", str(tmp_path / "missing.parquet"), "--workspace", str(tmp_path / "ws"), check=False)
    assert proc.returncode == 2
    proc = targeting("frobnicate", check=False)
    assert proc.returncode == 2


def test_search_finds_a_stored_prompt_and_its_accounts(workspace, traffic):
    from targeting import workspace as W
    from targeting.config import EmbedConfig
    from targeting.embed import load_encoder
    from targeting.queries import current_index, search_prompts

    ws = W.open_workspace(workspace)
    requests = pd.read_json(traffic / "requests.jsonl", lines=True)
    probe = requests.iloc[len(requests) // 2]
    encoder = load_encoder(EmbedConfig(progress=False))
    hits = search_prompts(ws, current_index(ws), probe["prompt"], encoder=encoder, k=5)
    assert len(hits) == 5
    assert hits.loc[0, "similarity"] > 0.99 and hits.loc[0, "prompt"] == probe["prompt"]
    assert probe["account_id"] in list(hits.loc[0, "accounts"])


def test_explain_shows_the_prompts_behind_each_reason(workspace):
    from targeting import workspace as W
    from targeting.evidence import account_evidence

    ws = W.open_workspace(workspace)
    scores = W.read_latest_scores(ws).to_pandas().sort_values("risk_score", ascending=False)
    top = scores.iloc[0]["account_id"]
    items = account_evidence(ws, top)
    kinds = [i.kind for i in items]
    assert kinds[:2] == ["area", "coverage"]
    assert all(i.examples for i in items if i.kind in ("area", "coverage", "elicitation", "repeats"))
    proc = targeting("explain", top, "--workspace", str(workspace))
    assert top in proc.stdout and "[area]" in proc.stdout
    assert targeting("explain", "no-such-account", "--workspace", str(workspace), check=False).returncode == 2
