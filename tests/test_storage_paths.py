"""Workspaces whose path holds SQL or glob characters, and values that look like SQL.

Every read lists its files with Python and hands DuckDB values, never SQL text: a workspace
at ``ws-it's`` or ``ws[1]`` reads, exports and reports its own data (not a sibling ``ws1``'s),
and an account id such as ``') OR 1=1 --`` is matched exactly.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from policy_workspace import EXPECTED, NIGHTS, build
from targeting import schema as S
from targeting import workspace as W
from targeting.cli import main
from targeting.queries import requests_of
from targeting.report import build_report

NOW = datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)
ODD_ROOTS = ["ws-it's", "ws[1]", "ws*"]
TOTAL_REQUESTS = 2 * EXPECTED["n_requests"]  # both nights


def _decoy(path: Path) -> None:
    """A smaller workspace at ``path`` (one night): what a glob-read of a sibling would find."""
    decoy = build(path)
    shutil.rmtree(decoy.partition_dir("requests", NIGHTS[1]))
    shutil.rmtree(decoy.partition_dir("assignments", NIGHTS[1]))
    shutil.rmtree(decoy.scores_path(NIGHTS[1]).parent)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> W.Workspace:
    return build(tmp_path_factory.mktemp("plain") / "ws")


@pytest.fixture(scope="module", params=ODD_ROOTS)
def odd(request, tmp_path_factory) -> W.Workspace:
    """The policy workspace under a path with ``'``, ``[1]`` or ``*``, beside decoys its
    name matches as a glob (``ws1``; ``wsX``)."""
    base = tmp_path_factory.mktemp("odd")
    _decoy(base / "ws1")
    _decoy(base / "wsX")
    return build(base / request.param)


def test_reads_find_the_workspace_own_data(odd, plain):
    assert W.read_requests(odd).equals(W.read_requests(plain))  # every row, same order and types
    assert W.read_assignments(odd, [S.REQUEST_ID]).num_rows == TOTAL_REQUESTS
    files = sorted((odd.root / "requests").rglob("*.parquet"))  # read with pyarrow, no DuckDB
    stored = {h for f in files for h in pq.read_table(f, columns=[S.PROMPT_HASH]).column(0).to_pylist()}
    assert W.distinct_prompt_hashes(odd) == stored
    assert W.read_partitions(odd, "requests", NIGHTS[1], NIGHTS[1]).num_rows == EXPECTED["n_requests"]
    assert sorted(set(W.read_score_history(odd).column("as_of").to_pylist())) == list(NIGHTS)
    ids = [f"{NIGHTS[1]}-a1-0", "missing"]
    assert W.stored_ids_among(odd, ids) == {ids[0]}
    counts = W.account_cluster_counts(odd).to_pandas()
    assert counts["n"].sum() == TOTAL_REQUESTS
    assert W.account_daily_counts(odd).to_pandas()["n"].sum() == TOTAL_REQUESTS
    assert len(requests_of(odd, ["a1"])) == 20


def test_nights_are_found(odd):
    W.write_json(odd.night_path(NIGHTS[0]), {"as_of": NIGHTS[0]})
    try:
        assert [n["as_of"] for n in W.read_nights(odd)] == [NIGHTS[0]]
    finally:
        odd.night_path(NIGHTS[0]).unlink()


def test_exports_find_the_workspace_own_data(odd, tmp_path):
    out = tmp_path / "requests.parquet"
    assert main(["export", "requests", "--workspace", str(odd.root), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == TOTAL_REQUESTS
    out = tmp_path / "accounts.csv"
    assert main(["export", "accounts", "--workspace", str(odd.root), "--out", str(out), "--all-columns"]) == 0
    assert len(pd.read_csv(out)) == EXPECTED["n_accounts"]


def test_report_finds_the_scored_nights(odd, tmp_path):
    r = build_report(odd, now=NOW)
    assert r.nights == list(NIGHTS)
    reasoning = r.areas[0]
    assert (reasoning.area, reasoning.flagged_requests) == ("reasoning", 40)
    assert reasoning.clusters["cluster_id"].tolist() == ["r0", "r1", "r2"]
    assert [c.campaign_id for c in r.campaigns] == ["kAAAA", "kBBBB"]
    assert len(r.campaigns[0].examples) == 2  # the campaign's requests were read
    out = tmp_path / "report.html"
    assert main(["report", "--workspace", str(odd.root), "--out", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


# --- values are never SQL text ----------------------------------------------------------------------
HOSTILE = ["a1", "it's", "') OR 1=1 --", "x' OR 'x'='x", "b\\'"]


@pytest.fixture
def hostile_ws(tmp_path) -> W.Workspace:
    """Two requests per account of ``HOSTILE``, stored and assigned, one prompt hash each."""
    ws = W.open_workspace(tmp_path / "ws", create=True)
    day = datetime(2026, 3, 1, tzinfo=timezone.utc)
    rows = [{S.REQUEST_ID: f"r{k}-{i}", S.ACCOUNT_ID: acct, S.TIMESTAMP: day.replace(hour=i + 1, minute=k),
             S.PROMPT: f"prompt of {acct}", S.SYSTEM: None, S.TOOLS: None, S.IP: None, S.ACCOUNT_CREATED_AT: None,
             S.PROMPT_HASH: f"h-{acct}", S.CONTEXT_HASH: None, S.DATE: day.date(), S.METADATA: None,
             S.AREA: "reasoning", S.CLUSTER_ID: f"c-{acct}", "distance": 0.1}
            for k, acct in enumerate(HOSTILE) for i in range(2)]
    frame = pd.DataFrame(rows)
    for table, schema in (("requests", S.REQUEST_SCHEMA), ("assignments", S.ASSIGNMENT_SCHEMA)):
        W.write_parquet(ws.partition_path(table, str(day.date()), "r"),
                        pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False))
    return ws


@pytest.mark.parametrize("account", HOSTILE[1:])
def test_account_reads_match_values_exactly(hostile_ws, account):
    ws = hostile_ws
    start, end = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 3, 2, tzinfo=timezone.utc)
    reads = {
        "assignments_of": W.assignments_of(ws, [account], [S.ACCOUNT_ID, S.CLUSTER_ID], area="reasoning",
                                           start=start, end=end),
        "requests_with_assignments": W.requests_with_assignments(ws, [account]),
        "request_sample": W.request_sample(ws, [account], start=start, end=end, limit=10),
        "requests_of": pa.Table.from_pandas(requests_of(ws, [account])),
    }
    for name, table in reads.items():
        assert table.column(S.ACCOUNT_ID).to_pylist() == [account, account], name
    assert W.cluster_request_counts(ws, [f"c-{account}"]).to_pylist() == [
        {S.CLUSTER_ID: f"c-{account}", "requests": 2}]
    usage = W.prompt_hash_usage(ws, [f"h-{account}"]).to_pylist()
    assert [(u["prompt"], u["accounts"], u["requests"]) for u in usage] == [(f"prompt of {account}", [account], 2)]
    assert W.read_distinct(ws, S.PROMPT_HASH, [S.PROMPT], {f"h-{account}"})[S.PROMPT].tolist() == [
        f"prompt of {account}"]


# --- the pipeline writes and reads a workspace at such a path ----------------------------------------
@pytest.mark.parametrize("name", ["ws-it's", "ws[1]"])
def test_run_and_score_in_an_odd_path(tmp_path, name):
    """``run`` then ``score`` with the hashing encoder (no model): every stage reads back what it
    stored, and a second run of the same input finds every request already stored."""
    from app_workspace import NIGHTS as APP_NIGHTS
    from app_workspace import HashingEncoder
    from app_workspace import build as build_app
    from targeting.config import load_settings
    from targeting.jobs import run

    base = tmp_path / name
    root = build_app(base, accounts=30, volume=0.05, nights=APP_NIGHTS[-1:])
    ws = W.open_workspace(root)
    traffic = base / "traffic" / "requests.parquet"
    n_requests = pq.read_metadata(traffic).num_rows
    assert W.read_requests(ws, [S.REQUEST_ID]).num_rows == n_requests
    nights = set(W.read_score_history(ws).column("as_of").to_pylist())
    assert str(APP_NIGHTS[-1]) in nights  # the run's night and the scored one
    assert nights == {p.parent.name[len("as_of="):] for p in (root / "scores").glob("as_of=*/accounts.parquet")}
    again = run([traffic], root, load_settings(environ={}), encoder=HashingEncoder())
    assert (again.rows_stored, again.duplicates, again.prompts_embedded) == (0, n_requests, 0)
