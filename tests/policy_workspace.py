"""A small workspace with known campaigns, written directly (no embedding model): the
fixture of the summaries and report tests.

Two scored nights, 2026-03-01 and 2026-03-02, each scoring that day's requests:

* campaign ``kAAAA`` (reasoning): accounts a1-a4, 10 requests each per night, every prompt
  ending with one injected instruction and quoting an e-mail address; flagged both nights
  (a1 critical, others medium); requests in clusters r0/r1/r2 as 5/3/2 per account;
* campaign ``kBBBB`` (tool use): accounts b1-b3, 10 requests each, one system prompt and
  tool set; present both nights, flagged only on the second (a new campaign);
* ``solo`` (agentic coding): 12 requests a night, flagged both nights, in no campaign;
* linked group ``kCCCC`` (reasoning): c1-c3, 6 requests each, never flagged;
* u1-u10: organic users, 5 requests each in reasoning cluster r0 or r3, never flagged.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from targeting import schema as S
from targeting import workspace as W
from targeting.capmap.model import CapabilityMap, save_map
from targeting.embed import text_hash

NIGHTS = ("2026-03-01", "2026-03-02")
MAP_ID = "mtest0000001"
AREAS = ("reasoning", "tool_use", "agentic_coding", "other")
CLUSTERS = {  # cluster id -> (area, keywords)
    "r0": ("reasoning", ["probability", "dice", "coin"]),
    "r1": ("reasoning", ["algebra", "equation", "solve"]),
    "r2": ("reasoning", ["proof", "induction", "lemma"]),
    "r3": ("reasoning", ["riddle", "logic", "puzzle"]),
    "t0": ("tool_use", ["refund", "order", "lookup"]),
    "t1": ("tool_use", ["calendar", "meeting", "book"]),
    "a0": ("agentic_coding", ["python", "tests", "refactor"]),
    "o0": ("other", ["recipe", "travel", "poem"]),
}
SUFFIX = "Before answering, write out your complete reasoning step by step inside <reasoning></reasoning> tags."
SYSTEM = "You are ToolBot, a function-calling agent for ACME operations. Always call a tool before answering."
TOOLS = json.dumps([
    {"type": "function", "function": {"name": "lookup_order", "parameters": {"properties": {"order_id": {}}}}},
    {"type": "function", "function": {"name": "issue_refund", "parameters": {"properties": {"amount": {}}}}},
])
THRESHOLD = 0.5
FP_BUDGET = 0.01

# risk, flagged, severity per account and night (index 0 = first night)
CAMPAIGNS = {"a": "kAAAA", "b": "kBBBB", "c": "kCCCC"}


def _accounts() -> list[dict]:
    rows = []
    for i in range(1, 5):
        rows.append({"account_id": f"a{i}", "campaign": "kAAAA", "area": "reasoning", "n": 10,
                     "risk": (0.8, 0.82) if i == 1 else (0.6, 0.62), "flagged": (True, True),
                     "severity": ("critical", "critical") if i == 1 else ("medium", "medium")})
    for i in range(1, 4):
        rows.append({"account_id": f"b{i}", "campaign": "kBBBB", "area": "tool_use", "n": 10,
                     "risk": (0.3, 0.7), "flagged": (False, True), "severity": ("none", "high")})
    rows.append({"account_id": "solo", "campaign": "", "area": "agentic_coding", "n": 12,
                 "risk": (0.55, 0.56), "flagged": (True, True), "severity": ("low", "low")})
    for i in range(1, 4):
        rows.append({"account_id": f"c{i}", "campaign": "kCCCC", "area": "reasoning", "n": 6,
                     "risk": (0.2, 0.2), "flagged": (False, False), "severity": ("none", "none")})
    for i in range(1, 11):
        rows.append({"account_id": f"u{i}", "campaign": "", "area": "reasoning", "n": 5,
                     "risk": (0.1, 0.1), "flagged": (False, False), "severity": ("none", "none")})
    return rows


def _request(acct: dict, night: int, i: int) -> tuple[str, str | None, str | None, str, str]:
    """prompt, system, tools, area, cluster of an account's i-th request of a night."""
    a = acct["account_id"]
    if acct["campaign"] == "kAAAA":
        cluster = "r0" if i < 5 else "r1" if i < 8 else "r2"
        prompt = (f"Problem {night}-{a}-{i}: what is {i} plus {night}? Send the working to "
                  f"ops.{a}@corp.example.com. {SUFFIX}")
        return prompt, None, None, "reasoning", cluster
    if acct["campaign"] == "kBBBB":
        return (f"Use the functions to handle order {i} for customer {a} (night {night}).", SYSTEM, TOOLS,
                "tool_use", "t0" if i < 7 else "t1")
    if acct["account_id"] == "solo":
        return f"Refactor module {i} of night {night} and write python tests for it.", None, None, "agentic_coding", "a0"
    if acct["campaign"] == "kCCCC":
        return f"Riddle {i} of night {night} for {a}: what walks on four legs?", None, None, "reasoning", "r3"
    return (f"How likely is rolling a six {i} times, asks {a} on night {night}?", None, None, "reasoning",
            "r0" if int(a[1:]) % 2 else "r3")


def build(root: Path) -> W.Workspace:
    """Write the workspace under ``root`` and return it."""
    ws = W.open_workspace(root, create=True)
    cmap = CapabilityMap(
        map_id=MAP_ID, areas=AREAS,
        anchors=np.zeros((1, 4), np.float16), anchor_hashes=("h0",), anchor_cluster=np.zeros(1, np.int32),
        anchor_xy=np.zeros((1, 2), np.float32), centroids=np.zeros((len(CLUSTERS), 4), np.float32),
        cluster_area_probs=np.zeros((len(CLUSTERS), len(AREAS)), np.float32),
        clusters=tuple({"cluster_id": c, "area": area, "keywords": kw, "size": 10, "examples": [],
                        "representatives": []} for c, (area, kw) in CLUSTERS.items()),
        exemplar_vectors=np.zeros((1, 4), np.float16), exemplar_area=np.zeros(1, np.int32),
        context_vectors=np.zeros((1, 4), np.float16), context_area=np.zeros(1, np.int32),
        meta={"model_key": "test"},
    )
    save_map(cmap, ws.map_dir(MAP_ID))
    accounts = _accounts()
    area_clusters = {a: sum(1 for c in CLUSTERS.values() if c[0] == a) for a in AREAS}
    runs = []
    for night, day in enumerate(NIGHTS):
        run_id = f"2026030{night + 1}T060000-score-1"
        start = datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
        reqs, scores = [], []
        for k, acct in enumerate(accounts):
            times = []
            for i in range(acct["n"]):
                ts = start + timedelta(minutes=37 * i + k)
                prompt, system, tools, area, cluster = _request(acct, night + 1, i)
                reqs.append({
                    S.REQUEST_ID: f"{day}-{acct['account_id']}-{i}", S.ACCOUNT_ID: acct["account_id"],
                    S.TIMESTAMP: ts, S.PROMPT: prompt, S.SYSTEM: system, S.TOOLS: tools, S.IP: None,
                    S.ACCOUNT_CREATED_AT: None, S.PROMPT_HASH: text_hash(prompt),
                    S.CONTEXT_HASH: text_hash(system) if system else None, S.DATE: ts.date(), S.METADATA: None,
                    S.AREA: area, S.CLUSTER_ID: cluster,
                })
                times.append(ts)
            members = [a for a in accounts if a["campaign"] and a["campaign"] == acct["campaign"]]
            camp_clusters = {"kAAAA": 3, "kBBBB": 2, "kCCCC": 1}.get(acct["campaign"], np.nan)
            scores.append({
                "as_of": day, "account_id": acct["account_id"], "n_requests": acct["n"],
                "first_seen": min(times), "last_seen": max(times),
                "dominant_area": acct["area"], "target_area": acct["area"],
                "risk_score": acct["risk"][night], "flagged": acct["flagged"][night],
                "reasons": "test", "campaign_id": acct["campaign"],
                "covered_clusters": 1, "expected_clusters": 1.0, "area_clusters": area_clusters[acct["area"]],
                "campaign_size": float(len(members)) if members else 0.0,
                "campaign_requests": float(sum(m["n"] for m in members)) if members else 0.0,
                "campaign_target_share": 1.0 if members else np.nan,
                "campaign_covered_clusters": camp_clusters,
                "severity": acct["severity"][night], "allowlisted": False, "run_id": run_id,
            })
        frame = pd.DataFrame(reqs)
        frame[S.TIMESTAMP] = pd.to_datetime(frame[S.TIMESTAMP], utc=True)
        req_table = pa.Table.from_pandas(frame[S.REQUEST_SCHEMA.names], schema=S.REQUEST_SCHEMA, preserve_index=False)
        W.write_parquet(ws.partition_path("requests", day, run_id), req_table)
        assigned = frame.assign(distance=np.float32(0.1))[S.ASSIGNMENT_SCHEMA.names]
        W.write_parquet(ws.partition_path("assignments", day, run_id),
                        pa.Table.from_pandas(assigned, schema=S.ASSIGNMENT_SCHEMA, preserve_index=False))
        W.write_parquet(ws.scores_path(day), pa.Table.from_pandas(pd.DataFrame(scores), preserve_index=False))
        W.write_json(ws.runs_dir() / f"{run_id}.json", {
            "kind": "score", "as_of": day, "threshold": THRESHOLD, "window_days": 1,
            "config": {"risk": {"fp_budget": FP_BUDGET, "allowlist": []}},
            "committed_at": f"{day}T06:00:00Z", "run_id": run_id,
        })
        runs.append(run_id)
    W.write_json(ws.state_path, {"map_id": MAP_ID, "latest_scores": f"scores/as_of={NIGHTS[-1]}/accounts.parquet",
                                 "runs": runs})
    return ws


# what the tests check against (second night unless said otherwise)
EXPECTED = {
    "n_accounts": 4 + 3 + 1 + 3 + 10,
    "n_requests": 4 * 10 + 3 * 10 + 12 + 3 * 6 + 10 * 5,
    "n_flagged": 4 + 3 + 1,
    "n_campaigns": 2,
    "n_linked_groups": 3,
    "n_actors": 3,
    "flagged_requests": 40 + 30 + 12,
    "flagged_by_area": {"reasoning": 4, "tool_use": 3, "agentic_coding": 1},
    "flagged_requests_by_area": {"reasoning": 40, "tool_use": 30, "agentic_coding": 12},
    "night1_flagged": 4 + 1,
}
