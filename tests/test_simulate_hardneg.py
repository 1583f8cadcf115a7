"""Unit tests for targeting.simulate.hardneg: legitimate accounts that look like extraction
(evaluation harnesses, load tests, agent products), at tiny scale."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from targeting.simulate import hardneg as H
from targeting.simulate import network as N
from targeting.simulate import timing as TM
from targeting.simulate.personas import Account
from targeting.simulate.rand import R

W = TM.Window("2024-03-04", 7)
POOLS = N.SharedPools(1)
AREAS = ("reasoning", "other", "tool_use", "agentic_coding")
CLOUD = {p.split(".")[0] for p in N.CLOUD_PREFIXES}


def check_account(acc: Account, kind: str) -> None:
    assert (acc.role, acc.kind) == ("hard_negative", kind)
    assert len(acc.times) == len(acc.reqs) == len(acc.ips) > 0
    assert all(W.t0 <= t < W.t1 for t in acc.times)
    assert acc.created_at < min(acc.times)
    assert all(q.prompt.strip() for q in acc.reqs)


# -- evaluation items and suites --------------------------------------------------------------

@pytest.mark.parametrize("area", AREAS)
@pytest.mark.parametrize("fmt", range(4))
def test_eval_item_has_its_area_and_a_prompt(area, fmt):
    q = H.eval_item(R(1, "item", area, fmt), area, fmt)
    assert q.area == area and q.prompt.strip() and q.system is None


def test_eval_item_reasoning_formats():
    assert "\\boxed{}" in H.eval_item(R(1, "f1"), "reasoning", 1).prompt
    mc = H.eval_item(R(1, "f2"), "reasoning", 2).prompt
    assert mc.endswith("Answer:") and all(f"\n{x}) " in mc for x in "ABCD")
    assert H.eval_item(R(1, "f3"), "reasoning", 3).prompt.startswith("[Instruction] Please act as an impartial judge")


def test_eval_item_tool_use_offers_tools_as_json():
    q = H.eval_item(R(2, "tools"), "tool_use", 0)
    tools = json.loads(q.tools)
    assert isinstance(tools, list) and 1 <= len(tools) <= 4


def test_eval_item_coding_completion_is_fenced_code():
    q = H.eval_item(R(3, "code"), "agentic_coding", 0)
    assert "Complete the following" in q.prompt and q.prompt.rstrip().endswith("```")


def test_eval_suite_mix_and_one_system_prompt():
    suite = H.eval_suite(R(4, "suite"), 40)
    assert len(suite) == 40
    assert len({q.system for q in suite}) == 1
    assert Counter(q.area for q in suite) == {"reasoning": 14, "other": 10, "tool_use": 8,
                                              "agentic_coding": 8}


# -- eval harness -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_eval_harness_replays_one_suite_from_one_address(seed):
    acc = H.eval_harness(R(seed, "harness"), W, POOLS, scale=0.05)
    check_account(acc, "eval_harness")
    assert len(set(acc.ips)) == 1
    counts = Counter(q.prompt for q in acc.reqs)
    assert max(counts.values()) >= 2  # the suite is run again on other days
    assert len(counts) >= 10


def test_eval_harness_one_day_window_always_has_requests():
    """A run drawn to start after a one-day window ends (its start is 8-22 h local time, up
    to 30 h in UTC) starts in the window's last hour instead."""
    one_day = TM.Window("2024-03-04", 1)
    for seed in range(40):
        acc = H.eval_harness(R(seed, "harness"), one_day, POOLS, scale=0.05)
        assert acc.times and all(one_day.t0 <= t < one_day.t1 for t in acc.times)


def test_eval_harness_runs_fast_bursts():
    acc = H.eval_harness(R(1, "harness"), W, POOLS, scale=0.05, suite=H.eval_suite(R(9, "s"), 12))
    gaps = sorted(b - a for a, b in zip(acc.times, acc.times[1:]) if b - a < 600)
    assert gaps and gaps[len(gaps) // 2] < 10.0
    assert {q.prompt for q in acc.reqs} <= {q.prompt for q in H.eval_suite(R(9, "s"), 12)}


# -- stress test ------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_stress_test_one_prompt_variant_family_from_one_address(seed):
    acc = H.stress_test(R(seed, "stress"), W, POOLS, scale=0.02)
    check_account(acc, "stress_test")
    assert len(acc.reqs) >= 5 and len(set(acc.ips)) == 1
    assert any(all(q.prompt.startswith(base) for q in acc.reqs) for base, _ in H._STRESS)
    assert len({q.area for q in acc.reqs}) == 1


def test_stress_test_tool_prompt_carries_the_weather_tool():
    for seed in range(200):
        acc = H.stress_test(R(seed, "stress"), W, POOLS, scale=0.01)
        if acc.reqs[0].area == "tool_use":
            assert "weather" in acc.reqs[0].tools.lower()
            return
    pytest.fail("no tool_use stress test in 200 seeds")


# -- agent product ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_agent_product_fixed_system_prompt_and_tools_from_cloud(seed):
    acc = H.agent_product(R(seed, "agent"), W, POOLS, scale=0.01)
    check_account(acc, "agent_product")
    assert len(acc.reqs) == 20  # the floor at tiny scale
    assert len({(q.system, q.tools, q.area) for q in acc.reqs}) == 1
    assert acc.reqs[0].area in ("agentic_coding", "tool_use")
    assert json.loads(acc.reqs[0].tools)
    assert 1 <= len(set(acc.ips)) <= 4
    assert {ip.split(".")[0] for ip in acc.ips} <= CLOUD


def test_agent_product_names_itself_in_its_system_prompt():
    for seed in range(20):
        acc = H.agent_product(R(seed, "agent"), W, POOLS, scale=0.01)
        if acc.reqs[0].area == "agentic_coding":
            assert any(p in acc.reqs[0].system for p in H._PRODUCTS)


# -- determinism ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda seed: H.eval_harness(R(seed, "h"), W, POOLS, 0.05),
    lambda seed: H.stress_test(R(seed, "s"), W, POOLS, 0.02),
    lambda seed: H.agent_product(R(seed, "a"), W, POOLS, 0.01),
])
def test_same_seed_same_account(make):
    assert make(1) == make(1)
    assert make(1) != make(2)
