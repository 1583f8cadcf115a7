"""Indicators other providers can use: STIX 2.1 bundles out, received bundles matched in.

The end-to-end tests build two small workspaces from the simulator with different seeds
(the same campaign design: one campaign of each kind, the same template banks) with the
real pipeline and the hashing test encoder (``app_workspace``): a campaign exported from
the first, confirmed by an analyst, is imported into the second, where the accounts of
that campaign's second sighting must take the indicator reason.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_instance, validate_string

from targeting import workspace as W
from targeting.config import load_settings
from targeting.errors import IndicatorBundleError
from targeting.indicators import (
    ReceivedCampaign, account_ref, key_scheme, match_accounts, parse_bundle, select_indicators,
    with_indicator_reasons,
)
from targeting.indicators import bundle as B
from targeting.indicators.match import MAX_KEYS_PER_KIND, MAX_MATCH_SHARE, REASON_PREFIX
from targeting.verdicts import record_verdict

SEEDS = (3, 11)  # two sightings of one campaign design
ACCOUNTS = 100
VOLUME = 0.3
PROVIDER = "Provider A"


def _build(root: Path, seed: int) -> tuple[Path, pd.DataFrame]:
    from app_workspace import HashingEncoder

    from targeting.jobs import run
    from targeting.simulate import SimConfig, simulate, write_traffic

    requests, labels = simulate(SimConfig(seed=seed, n_accounts=ACCOUNTS, volume_scale=VOLUME))
    write_traffic(root / "traffic", requests, labels)
    run([root / "traffic" / "requests.parquet"], root / "ws", load_settings(environ={}), encoder=HashingEncoder())
    return root / "ws", labels.drop_duplicates("account_id").set_index("account_id")


@pytest.fixture(scope="module")
def sightings(tmp_path_factory) -> dict[int, tuple[Path, pd.DataFrame]]:
    return {seed: _build(tmp_path_factory.mktemp(f"seed{seed}"), seed) for seed in SEEDS}


def _pure_campaign(ws: Path, labels: pd.DataFrame) -> tuple[str, str]:
    """(campaign id, simulator campaign) of a linked group whose members are all attackers of
    one simulated campaign (the largest such)."""
    scores = W.read_latest_scores(W.open_workspace(ws)).to_pandas()
    members = scores[scores["campaign_id"] != ""]
    found = []
    for cid, group in members.groupby("campaign_id"):
        sims = set(labels.loc[group["account_id"], "campaign"])
        if len(sims) == 1 and "" not in sims and not any(pd.isna(s) for s in sims):
            found.append((len(group), cid, sims.pop()))
    assert found, "the first sighting has no linked group of one simulated campaign"
    _, cid, sim = max(found)
    return cid, sim


@pytest.fixture(scope="module")
def exported(sightings, tmp_path_factory) -> dict:
    from typer.testing import CliRunner

    from targeting import cli

    ws, labels = sightings[SEEDS[0]]
    campaign, sim = _pure_campaign(ws, labels)
    record_verdict(W.open_workspace(ws), target_kind="campaign", target_id=campaign, verdict="confirmed",
                   note="the reasoning sweep", analyst="ana")
    out = tmp_path_factory.mktemp("bundle") / "bundle.json"
    result = CliRunner().invoke(cli.app, ["indicators", "export", campaign, "--workspace", str(ws), "--out", str(out),
                                          "--provider", PROVIDER])
    assert result.exit_code == 0, result.output
    return {"campaign": campaign, "sim": sim, "out": out, "output": result.output}


def test_exported_bundle_passes_the_stix_validator(exported):
    text = exported["out"].read_text()
    strict = ValidationOptions(version="2.1", strict=True, enforce_refs=True)
    checked = validate_string(text, strict)
    assert checked.is_valid, [e.message for e in checked.errors] + list(checked.warnings)
    assert not checked.warnings
    assert validate_instance(json.loads(text), strict).is_valid
    kinds = {o.get("x_targeting_kind") for o in json.loads(text)["objects"] if o["type"] == "indicator"}
    assert "template" in kinds
    assert "not confirmed" not in exported["output"]  # an analyst confirmed it
    assert stat.S_IMODE(exported["out"].stat().st_mode) == 0o600


def test_bundle_carries_no_prompt_text_and_no_clear_account_id(sightings, exported):
    ws, _ = sightings[SEEDS[0]]
    text = exported["out"].read_text()
    store = W.open_workspace(ws)
    requests = W.read_requests(store, ["account_id", "prompt", "system"]).to_pandas()
    for account in requests["account_id"].unique():
        assert account not in text
    scores = W.read_latest_scores(store).to_pandas()
    members = scores.loc[scores["campaign_id"] == exported["campaign"], "account_id"]
    assert exported["campaign"] not in text  # the campaign id is derived from account ids
    mine = requests[requests["account_id"].isin(set(members))]
    words = re.compile(r"[A-Za-z]{3,}")
    for prompt in pd.concat([mine["prompt"], mine["system"].dropna()]).unique():
        tokens = words.findall(prompt)
        for i in range(len(tokens) - 4):  # no run of five words of any member prompt
            assert not re.search(r"\W+".join(tokens[i:i + 5]), text), tokens[i:i + 5]
    # accounts are named by keyed hashes under the workspace's own secret, kept owner-only
    secret_path = store.indicator_secret_path
    assert stat.S_IMODE(secret_path.stat().st_mode) == 0o600
    campaign = next(o for o in json.loads(text)["objects"] if o["type"] == "campaign")
    secret = W.indicator_secret(store)
    assert sorted(campaign["x_targeting_account_refs"]) == sorted(account_ref(secret, a) for a in members)
    assert secret.hex() not in text


def test_a_second_sighting_of_the_campaign_takes_the_indicator_reason(sightings, exported, invoke, tmp_path):
    ws, labels = sightings[SEEDS[1]]
    result = invoke("indicators", "import", exported["out"], "--workspace", ws)
    assert result.exit_code == 0, result.output
    same = set(labels.index[labels["campaign"] == exported["sim"]])
    matches = W.read_indicator_matches(W.open_workspace(ws))
    found = set(matches["account_id"])
    assert len(found & same) >= max(2, round(0.66 * len(same))), (found, same)
    assert len(found - same) <= 1, matches
    for account in found & same:
        assert account in result.output
    out = tmp_path / "accounts.csv"
    assert invoke("export", "accounts", "--workspace", ws, "--out", out).exit_code == 0
    table = pd.read_csv(out).set_index("account_id")
    for account in found & same:
        assert f"{REASON_PREFIX}{PROVIDER}" in table.loc[account, "reasons"]
        assert table.loc[account, "indicator_matches"] == 1
    untouched = table.drop(index=list(found))
    assert not untouched["reasons"].fillna("").str.contains(REASON_PREFIX).any()
    explained = invoke("explain", sorted(found & same)[0], "--workspace", ws)
    assert explained.exit_code == 0 and f"{REASON_PREFIX}{PROVIDER}" in explained.output
    # the analyst app's scores show it too
    from targeting.app import data

    shown = data.current_scores(data.context(str(ws))).set_index("account_id")
    for account in found & same:
        assert f"{REASON_PREFIX}{PROVIDER}" in shown.loc[account, "reasons"]
    # imported again: the campaign's rows are replaced, not repeated
    assert invoke("indicators", "import", exported["out"], "--workspace", ws).exit_code == 0
    assert len(W.read_indicator_matches(W.open_workspace(ws))) == len(matches)


HOSTILE = {
    "not JSON": b"{'type': 'bundle'",
    "not UTF-8": b"\xff\xfe{}",
    "nested deep": b"[" * 5000 + b"]" * 5000,
    "no bundle": json.dumps({"type": "indicator"}).encode(),
    "objects not a list": json.dumps({"type": "bundle", "id": "bundle--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12,
                                      "objects": "x"}).encode(),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_malformed_bundle_is_refused(case):
    with pytest.raises(IndicatorBundleError, match="indicator bundle refused"):
        parse_bundle(HOSTILE[case])


def _doctored(exported, change) -> bytes:
    doc = json.loads(exported["out"].read_text())
    change(doc)
    return json.dumps(doc).encode()


def _indicator(doc) -> dict:
    return next(o for o in doc["objects"] if o["type"] == "indicator" and o["x_targeting_kind"] == "template")


def test_hostile_patterns_and_names_are_refused(exported, monkeypatch):
    sql = "' OR 1=1; DROP TABLE requests; --"
    cases = [
        lambda d: _indicator(d).update(pattern=f"[x-llm-prompt:template_key = '{sql}']"),
        lambda d: _indicator(d).update(pattern="[x-llm-prompt:template_key = 'ab'] AND [file:name = 'x']"),
        lambda d: _indicator(d).update(pattern=" OR ".join([f"[x-llm-prompt:template_key = '{'a' * 32}']"] * 5000)),
        lambda d: next(o for o in d["objects"] if o["type"] == "campaign").update(name="x" * 10_000),
        lambda d: _indicator(d).update(valid_from="not a time"),
    ]
    for change in cases:
        with pytest.raises(IndicatorBundleError):
            parse_bundle(_doctored(exported, change))
    # the most keys a pattern may hold still parse (stix2's parser recurses per term)
    most = " OR ".join(f"[x-llm-prompt:template_key = '{i:032x}']" for i in range(B.MAX_TERMS))
    received = parse_bundle(_doctored(exported, lambda d: _indicator(d).update(pattern=most)))
    assert len(received.campaigns[0].keys["template"]) == B.MAX_TERMS >= MAX_KEYS_PER_KIND
    monkeypatch.setattr(B, "MAX_BUNDLE_BYTES", 1000)
    with pytest.raises(IndicatorBundleError, match="more than 1,000 bytes"):
        parse_bundle(exported["out"].read_bytes())


ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                       st.text(max_size=300), st.lists(st.text(max_size=5), max_size=3),
                       st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))


def _paths(node, prefix=()):
    """Every (path, value) in a JSON document."""
    yield prefix, node
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from _paths(value, (*prefix, key))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_value_put_anywhere_is_read_or_refused_never_a_crash(exported_text, data):
    doc = json.loads(exported_text)
    places = [p for p, _ in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(places))
        node = doc
        for key in path[:-1]:
            node = node[key] if isinstance(node, (dict, list)) and (isinstance(node, dict) and key in node or
                                                                   isinstance(node, list) and key < len(node)) else None
        if isinstance(node, dict) or (isinstance(node, list) and path[-1] < len(node)):
            node[path[-1]] = data.draw(ODD_VALUES)
    try:
        parse_bundle(json.dumps(doc).encode())
    except IndicatorBundleError:
        pass


@pytest.fixture(scope="module")
def exported_text() -> str:
    """A bundle of every kind of key, built without a workspace."""
    from datetime import datetime, timezone

    from targeting.indicators import CampaignFacts, build_bundle

    when = datetime(2026, 11, 1, tzinfo=timezone.utc)
    facts = CampaignFacts(ref="f" * 64, size=3, area="reasoning", first_seen=when, last_seen=when, verdict="confirmed",
                          account_refs=("a" * 64, "b" * 64), scheme=key_scheme(0))
    keys = {"template": [f"{i:032x}" for i in range(5)], "system_family": ["c" * 32], "tool_set": ["d" * 32],
            "address_range": ["203.0.113.0/24", "2001:db8:1::/48"]}
    text = build_bundle(facts, keys, provider=PROVIDER, created=when)
    assert parse_bundle(text.encode()).campaigns[0].keys["address_range"] == tuple(keys["address_range"])
    return text


def test_the_command_refuses_a_bad_bundle_and_keeps_the_workspace(sightings, invoke, tmp_path):
    ws, _ = sightings[SEEDS[1]]
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"[" * 100_000)
    before = sorted((p.relative_to(ws), p.read_bytes()) for p in ws.rglob("*") if p.is_file() and p.name != ".lock")
    result = invoke("indicators", "import", bad, "--workspace", ws)
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: indicator bundle refused: not JSON")
    after = sorted((p.relative_to(ws), p.read_bytes()) for p in ws.rglob("*") if p.is_file() and p.name != ".lock")
    assert before == after
    assert invoke("indicators", "import", tmp_path / "missing.json", "--workspace", ws).exit_code == 2


def test_foreign_indicators_are_left_alone(exported):
    def add_foreign(doc):
        doc["objects"].append({"type": "indicator", "spec_version": "2.1", "id": "indicator--" + "1" * 8 + "-1111-4111-8111-"
                               + "1" * 12, "created": "2026-11-01T00:00:00Z", "modified": "2026-11-01T00:00:00Z",
                               "pattern": "[file:hashes.'SHA-256' = '" + "a" * 64 + "']", "pattern_type": "stix",
                               "valid_from": "2026-11-01T00:00:00Z"})
    received = parse_bundle(_doctored(exported, add_foreign))
    assert received.ignored == 1
    assert len(received.campaigns) == 1 and received.campaigns[0].provider == PROVIDER


# --- the pure functions on small frames ------------------------------------------------------------
def _keys(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["account_id", "kind", "key", "item"])


def test_a_campaign_keeps_only_the_keys_its_members_share_and_others_rarely_use():
    rows = [(a, "template", "k_shared", f"p{a}") for a in ("m1", "m2", "m3")]
    rows += [("m1", "template", "k_alone", "p")]  # one member only: coincidence
    rows += [(a, "template", "k_common", f"p{a}") for a in ("m1", "m2", "u1", "u2", "u3")]  # mostly others'
    chosen = select_indicators(_keys(rows), {"m1", "m2", "m3"})
    assert chosen["template"] == ["k_shared"]


def _received(keys: list[str]) -> ReceivedCampaign:
    return ReceivedCampaign(stix_id="campaign--x", name="c", provider=PROVIDER, scheme=key_scheme(0),
                            keys={"template": tuple(keys)})


def test_an_account_matches_on_recurring_signatures_and_not_on_boilerplate_here():
    keys = [f"k{i}" for i in range(10)]
    rows = [("hit", "template", k, f"p{i % 3}") for i, k in enumerate(keys[:6])]  # 6 keys on 3 prompts
    rows += [("one_prompt", "template", k, "p0") for k in keys[:6]]  # 6 keys, one prompt
    rows += [("few", "template", k, f"p{i}") for i, k in enumerate(keys[:2])]  # 2 keys
    rows += [(f"u{j}", "template", "k9", "p") for j in range(40)]  # k9 is boilerplate here
    rows += [("boiler", "template", k, f"p{i}") for i, k in enumerate(keys[7:])]  # k7 k8 and boilerplate k9
    matched, note = match_accounts(_keys(rows), _received(keys), n_accounts=100, bundle="b1", provider=PROVIDER)
    assert list(matched["account_id"]) == ["hit"]
    assert matched["reason"].iloc[0].startswith(f"{REASON_PREFIX}{PROVIDER} (campaign c): 6 of 10 template signatures")
    assert "1 received keys are common here" in note


def test_a_campaign_matching_a_crowd_is_too_broad():
    n = 50
    crowd = int(MAX_MATCH_SHARE * n) + 1
    keys = [f"k{i}" for i in range(3 * crowd)]  # each account its own three: none is common here
    rows = [(f"a{j}", "template", keys[3 * j + i], f"p{i}") for j in range(crowd) for i in range(3)]
    matched, note = match_accounts(_keys(rows), _received(keys), n_accounts=n, bundle="b1", provider=PROVIDER)
    assert matched.empty and "too broad" in note


def test_indicator_reasons_join_the_account_table_without_changing_scores():
    scores = pd.DataFrame({"account_id": ["a", "b"], "reasons": ["own evidence", ""], "risk_score": [0.4, 0.1],
                           "flagged": [False, False]})
    matches = pd.DataFrame({"account_id": ["a", "b"], "reason": [f"{REASON_PREFIX}P: x", f"{REASON_PREFIX}P: y"]})
    out = with_indicator_reasons(scores, matches)
    assert list(out["reasons"]) == [f"own evidence; {REASON_PREFIX}P: x", f"{REASON_PREFIX}P: y"]
    assert list(out["indicator_matches"]) == [1, 1]
    assert out[["risk_score", "flagged"]].equals(scores[["risk_score", "flagged"]])
    assert with_indicator_reasons(scores, None)["reasons"].equals(scores["reasons"])


def test_the_indicator_secret_is_made_once_per_workspace_owner_only(tmp_path):
    one = W.open_workspace(tmp_path / "one", create=True)
    two = W.open_workspace(tmp_path / "two", create=True)
    first = W.indicator_secret(one)
    assert W.indicator_secret(one) == first and W.indicator_secret(two) != first
    assert stat.S_IMODE(one.indicator_secret_path.stat().st_mode) == 0o600
    assert account_ref(first, "acct-1") != account_ref(W.indicator_secret(two), "acct-1")


def test_keys_of_tools_and_system_prompts_are_canonical_digests():
    from targeting.indicators import request_keys

    tools_a = json.dumps([{"name": "read_file", "parameters": {"path": {}}}, {"name": "run_tests"}])
    tools_b = json.dumps([{"name": "run_tests"}, {"parameters": {"path": {}}, "name": "read_file"}])
    system = ("You are an expert software engineer working as an autonomous coding agent in the repository at {p}. "
              "Work methodically: explore the relevant files, write a short plan, implement the change, run the "
              "test suite and iterate until everything passes.")
    requests = pd.DataFrame({
        "account_id": ["a", "b"], "prompt_hash": ["h1", "h2"], "prompt": ["fix the bug", "add a test"],
        "context_hash": ["c1", "c2"], "system": [system.format(p="/repo"), system.format(p="/workspace")],
        "tools": [tools_a, tools_b], "ip": ["203.0.113.7", "203.0.113.9"],
    })
    keys = request_keys(requests, seed=0)
    by = {kind: keys[keys["kind"] == kind].groupby("account_id")["key"].agg(set) for kind in keys["kind"].unique()}
    assert by["tool_set"]["a"] == by["tool_set"]["b"]  # the same tools in another order: one set
    assert len(by["system_family"]["a"] & by["system_family"]["b"]) >= 8  # two variants of one family
    assert by["address_range"]["a"] == {"203.0.113.0/24"}
    hashed = keys[keys["kind"] != "address_range"]["key"]
    assert hashed.str.fullmatch(r"[0-9a-f]{32}").all()
    assert request_keys(requests, seed=1)["key"].isin(set(keys["key"])).sum() == 2  # only the ranges stay


def test_a_bundle_under_another_key_scheme_is_reported_not_matched():
    from targeting.indicators import Received
    from targeting.jobs.share import ImportResult, _match_all

    foreign = ReceivedCampaign(stix_id="campaign--y", name="c", provider=PROVIDER, scheme=key_scheme(1),
                               keys={"template": ("a" * 32,)})
    keys = _keys([("x", "template", "a" * 32, "p1")])
    result = ImportResult(bundle="b1")
    _match_all(Received("bundle--z", "0" * 64, (foreign,), 0), keys, 10, key_scheme(0), result)
    assert result.matches.empty and result.campaigns == [(PROVIDER, "c", 0)]
    assert "not matched" in result.notes[0] and key_scheme(1) in result.notes[0]
