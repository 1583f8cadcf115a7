"""Case files (``targeting.report.case``): the bundle's parts as pure functions, the bundle of a
real small workspace's account and campaign, its HTML (escaped, self-contained) and JSON, and
``targeting case`` in process."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from targeting import workspace as W
from targeting.evidence import Evidence
from targeting.report import case as CF
from targeting.verdicts import record_verdict

HOSTILE = '<script>alert(1)</script><img src="http://evil.example/x.png">'


def _case(**changes) -> CF.CaseFile:
    base = dict(
        kind="account", target_id="acct-1", workspace="ws", as_of="2026-11-14", run_id="r1",
        generated_at="2026-11-15 00:00 UTC", redacted=True, areas=["reasoning", "other"],
        score={"risk_score": 0.91, "flagged": True, "severity": "high", "n_requests": 40,
               "dominant_area": "reasoning", "verdict": ""},
        reasons=["100% of requests in reasoning"],
        evidence=[{"kind": "area", "summary": "40 requests", "examples": ["a prompt"], "detail": {"area": "reasoning"}}],
        risk_history=[{"as_of": "2026-11-14", "risk_score": 0.91, "flagged": True, "n_requests": 40, "accounts": 1}],
        daily=[], clusters=[], members=[], links=[], infrastructure=[], shared_infrastructure=[], shifts=[],
        verdicts=[], charts={},
    )
    base.update(changes)
    return CF.CaseFile(**base)


def test_attacker_written_text_is_escaped_and_the_page_loads_nothing():
    case = _case(
        target_id=HOSTILE, reasons=[HOSTILE],
        evidence=[{"kind": "wrapper", "summary": HOSTILE, "examples": [HOSTILE], "detail": {"head": HOSTILE}}],
        clusters=[{"cluster_id": "c1", "area": "reasoning", "keywords": HOSTILE, "requests": 3}],
        members=[{"account_id": HOSTILE, "risk_score": 0.5, "flagged": False, "severity": "none", "n_requests": 3,
                  "dominant_area": "other", "first_seen": None, "last_seen": None}],
        infrastructure=[{"account_id": HOSTILE, "ip": HOSTILE, "account_created_at": None, "requests": 3,
                         "first_seen": None, "last_seen": None}],
        verdicts=[{"at": "2026-11-14", "target_kind": "account", "target_id": HOSTILE, "verdict": "confirmed",
                   "analyst": HOSTILE, "risk_score": 0.9, "note": HOSTILE}],
        shifts=[{"as_of": "2026-11-14", "target_kind": "account", "target_id": HOSTILE, "reason": HOSTILE}],
        charts={"risk": b"\x89PNG fake"},
    )
    html = CF.render_case_html(case)
    assert "<script" not in html.lower() and "<img src=\"http" not in html
    assert html.count("&lt;script&gt;") >= 8  # every place the text appears, shown escaped
    # nothing in the page points elsewhere: only data: images, and a policy that forbids the rest
    assert re.findall(r'src="([^"]*)"', html) == ["data:image/png;base64,iVBORyBmYWtl"]
    assert "default-src 'none'" in html and "<link" not in html and "@import" not in html and "url(" not in html
    assert 'id="risk-score">0.910<' in html


def test_evidence_is_redacted_unless_asked_and_figures_are_kept():
    items = [Evidence("wrapper", "prompts share a fixed start: write to ops@corp.example first",
                      ["mail ops@corp.example, key sk-abcdefghijklmnopqrstuvwxyz123456"],
                      {"head": "write to ops@corp.example first", "members": ["a", "b"], "share": 0.5})]
    redacted = CF.evidence_records(items, CF._cleaner(False))[0]
    assert "ops@corp.example" not in json.dumps(redacted) and "sk-abcdefghij" not in json.dumps(redacted)
    assert redacted["detail"]["members"] == ["a", "b"] and redacted["detail"]["share"] == 0.5
    plain = CF.evidence_records(items, CF._cleaner(True))[0]
    assert "ops@corp.example" in plain["summary"] and "ops@corp.example" in plain["examples"][0]


def test_shared_infrastructure_lists_what_two_or_more_accounts_share():
    infra = pd.DataFrame({
        "account_id": ["a", "b", "c", "a", "b"],
        "ip": ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3", None],
        "account_created_at": pd.to_datetime(["2026-10-01", "2026-10-01", "2026-10-01", "2026-10-01", "2026-10-01"]),
        "requests": [5, 4, 3, 1, 1],
    })
    shared = CF.shared_infrastructure(infra)
    assert shared.iloc[0]["what"] == "account created" and shared.iloc[0]["accounts"] == ["a", "b", "c"]
    ips = shared[shared["what"] == "client address"]
    assert ips["value"].tolist() == ["10.0.0.1"] and ips.iloc[0]["accounts"] == ["a", "b"]
    assert CF.shared_infrastructure(infra.assign(ip=None, account_created_at=pd.NaT)).empty


def test_map_layers_place_reached_clusters_at_their_anchors_centre():
    cmap = SimpleNamespace(
        anchor_xy=np.array([[0, 0], [2, 0], [10, 10], [5, 5]], dtype=np.float32),
        anchor_cluster=np.array([0, 0, 1, -1]),
        clusters=({"cluster_id": "k0", "keywords": ["alpha", "beta"]}, {"cluster_id": "k1", "keywords": ["gamma"]}),
    )
    reached = pd.DataFrame({"cluster_id": ["k0", "gone"], "area": ["reasoning", "other"], "requests": [7, 2]})
    background, placed = CF.map_layers(cmap, reached, sample=3)
    assert len(background) == 3
    assert placed.to_dict("records") == [{"x": 1.0, "y": 0.0, "area": "reasoning", "requests": 7, "label": "alpha, beta"}]


def test_resolve_target_prefers_an_account_and_refuses_what_is_neither():
    scores = pd.DataFrame({"account_id": ["a1", "c1"], "campaign_id": ["c1", ""]})
    assert CF.resolve_target(scores, " a1 ") == ("account", "a1")
    assert CF.resolve_target(scores, "c1") == ("account", "c1")  # an account of that name wins
    assert CF.resolve_target(scores.iloc[:1], "c1") == ("campaign", "c1")
    with pytest.raises(KeyError, match="neither"):
        CF.resolve_target(scores, "nobody")


def _top(ws: W.Workspace) -> pd.Series:
    scores = W.read_latest_scores(ws).to_pandas()
    members = scores[scores["campaign_id"].fillna("") != ""]
    return members.sort_values(["risk_score", "account_id"], ascending=[False, True]).iloc[0]


def test_the_case_of_an_account_and_of_its_campaign(workspace_copy):
    ws = W.open_workspace(workspace_copy)
    top = _top(ws)
    account, campaign = str(top["account_id"]), str(top["campaign_id"])
    record_verdict(ws, target_kind="account", target_id=account, verdict="confirmed", analyst="playwright",
                   note="same wrapper <b>as</b> the relay", risk_score=0.9)
    case = CF.build_case(ws, account)
    assert (case.kind, case.target_id, case.redacted) == ("account", account, True)
    assert case.score["risk_score"] == pytest.approx(float(top["risk_score"]))
    assert case.reasons and case.reasons[0] in str(top["reasons"])
    assert {"area", "coverage", "coordination"} <= {e["kind"] for e in case.evidence}
    assert sum(d["n"] for d in case.daily) >= int(top["n_requests"])  # every stored day, the window's included
    assert sum(c["requests"] for c in case.clusters) == sum(d["n"] for d in case.daily)
    assert {m["account_id"] for m in case.members} == set(
        W.read_latest_scores(ws).to_pandas().query("campaign_id == @campaign")["account_id"])
    assert case.links and campaign in case.links[0]
    assert case.infrastructure and {i["account_id"] for i in case.infrastructure} <= {m["account_id"] for m in case.members}
    assert [v["verdict"] for v in case.verdicts] == ["confirmed"]
    assert {"map", "timeline", "mix", "risk"} <= set(case.charts)
    assert [h["as_of"] for h in case.risk_history][-1] == case.as_of
    html = CF.render_case_html(case)
    assert f'id="risk-score">{float(top["risk_score"]):.3f}<' in html and "&lt;b&gt;as&lt;/b&gt;" in html
    data = json.loads(CF.case_json(case))
    assert data["target_id"] == account and "charts" not in data and data["verdicts"][0]["analyst"] == "playwright"

    group = CF.build_case(ws, campaign)
    assert group.kind == "campaign" and group.score["n_accounts"] == len(case.members)
    assert sum(d["n"] for d in group.daily) >= sum(d["n"] for d in case.daily)
    assert group.verdicts == []  # the member's verdict is not the campaign's


def test_targeting_case_writes_the_page_and_its_json_in_process(invoke, workspace_copy, tmp_path):
    ws = W.open_workspace(workspace_copy)
    top = _top(ws)
    out = tmp_path / "cases" / "case.html"
    done = invoke("case", top["account_id"], "--workspace", workspace_copy, "--out", out)
    assert done.exit_code == 0, done.stderr
    assert done.stdout == f"wrote {out} and {out.with_suffix('.json')}\n"
    assert (out.stat().st_mode & 0o777) == 0o600
    page = out.read_text()
    assert f'{float(top["risk_score"]):.3f}' in page and "redacted" in page
    assert json.loads(out.with_suffix(".json").read_text())["kind"] == "account"
    plain = invoke("case", top["campaign_id"], "--workspace", workspace_copy, "--out", tmp_path / "c.html",
                   "--unredacted")
    assert plain.exit_code == 0, plain.stderr
    assert "unredacted" in (tmp_path / "c.html").read_text()
    assert json.loads((tmp_path / "c.json").read_text())["redacted"] is False
    unknown = invoke("case", "no-such-target", "--workspace", workspace_copy, "--out", tmp_path / "x.html")
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: ") and "no-such-target" in unknown.stderr
    wrong = invoke("case", top["account_id"], "--workspace", workspace_copy, "--out", tmp_path / "x.pdf")
    assert wrong.exit_code == 2 and ".html" in wrong.stderr and not (tmp_path / "x.pdf").exists()
    assert not (tmp_path / "x.html").exists()
