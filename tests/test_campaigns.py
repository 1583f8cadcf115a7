"""Campaigns: accounts linked by a shared template that carries a real part of their traffic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.campaigns import MIN_ACCOUNTS, MIN_USE, campaign_id, link_accounts


def _requests(spec: dict[str, list[tuple[int, int]]], seed: int = 0):
    """spec: account -> [(group, count), ...]; group -1 = no template. Shuffled request arrays."""
    accounts, groups = [], []
    for acc, parts in spec.items():
        for group, count in parts:
            accounts += [acc] * count
            groups += [group] * count
    order = np.random.default_rng(seed).permutation(len(accounts))
    return np.array(accounts, dtype=object)[order], np.array(groups, dtype=np.int64)[order]


BASE = {
    # four accounts that use template 7 for 25% of their traffic
    "acc-a": [(7, 5), (-1, 15)],
    "acc-b": [(7, 10), (-1, 10)],
    "acc-c": [(7, 3), (-1, 9)],
    "acc-d": [(7, 20)],
    # uses the template once in 50 requests: incidental, not linked
    "light": [(7, 1), (-1, 49)],
    # an ordinary account
    "solo": [(-1, 30), (3, 10)],
}


def test_constants_are_the_documented_ones():
    assert MIN_USE == pytest.approx(0.1)
    assert MIN_ACCOUNTS == 3


def test_links_accounts_sharing_a_template():
    out = link_accounts(*_requests(BASE))
    assert isinstance(out, pd.Series)
    assert list(out.index) == sorted(BASE)
    members = ["acc-a", "acc-b", "acc-c", "acc-d"]
    ids = out[members].unique()
    assert len(ids) == 1 and ids[0] != ""
    assert ids[0] == campaign_id(members)
    assert out["light"] == ""
    assert out["solo"] == ""


def test_incidental_use_does_not_count_towards_the_account_minimum():
    # only two heavy users + one incidental user: not a campaign
    spec = {"a": [(1, 5), (-1, 5)], "b": [(1, 5)], "light": [(1, 1), (-1, 49)]}
    out = link_accounts(*_requests(spec))
    assert (out == "").all()


def test_use_share_at_the_threshold_links():
    spec = {"a": [(1, 1), (-1, 9)], "b": [(1, 5)], "c": [(1, 2), (-1, 2)]}  # a: exactly 10%
    out = link_accounts(*_requests(spec))
    assert out["a"] == out["b"] == out["c"] == campaign_id(["a", "b", "c"])


def test_fewer_than_three_accounts_is_no_campaign():
    spec = {"a": [(4, 10)], "b": [(4, 10)], "c": [(-1, 10)]}
    out = link_accounts(*_requests(spec))
    assert list(out.index) == ["a", "b", "c"]
    assert (out == "").all()


def test_ids_are_stable_under_input_order():
    a = link_accounts(*_requests(BASE, seed=0))
    b = link_accounts(*_requests(BASE, seed=1))
    accounts, groups = _requests(BASE, seed=2)
    c = link_accounts(accounts[::-1], groups[::-1])
    pd.testing.assert_series_equal(a, b)
    pd.testing.assert_series_equal(a, c)


def test_campaign_id_depends_only_on_members():
    assert campaign_id(["b", "a", "c"]) == campaign_id(["c", "b", "a"])
    assert campaign_id(["a", "b", "c"]) != campaign_id(["a", "b", "d"])
    assert campaign_id(["a"]).startswith("k") and len(campaign_id(["a"])) == 11


def test_separate_templates_make_separate_campaigns():
    spec = {
        "a1": [(1, 5)], "a2": [(1, 5)], "a3": [(1, 5)],
        "b1": [(2, 5)], "b2": [(2, 5)], "b3": [(2, 5)], "b4": [(2, 5)],
    }
    out = link_accounts(*_requests(spec))
    assert set(out[["a1", "a2", "a3"]]) == {campaign_id(["a1", "a2", "a3"])}
    assert set(out[["b1", "b2", "b3", "b4"]]) == {campaign_id(["b1", "b2", "b3", "b4"])}


def test_accounts_bridging_two_templates_join_one_campaign():
    spec = {
        "a": [(1, 5)], "b": [(1, 5)],
        "c": [(1, 5), (2, 5)],
        "d": [(2, 5)], "e": [(2, 5)],
        "x": [(-1, 5)],
    }
    out = link_accounts(*_requests(spec))
    expected = campaign_id(["a", "b", "c", "d", "e"])
    assert (out[["a", "b", "c", "d", "e"]] == expected).all()
    assert out["x"] == ""


def test_no_templates_at_all():
    accounts = np.array(["a", "b", "a", "c"], dtype=object)
    out = link_accounts(accounts, np.full(4, -1))
    assert list(out.index) == ["a", "b", "c"]
    assert (out == "").all()


def test_empty_input():
    out = link_accounts(np.array([], dtype=object), np.array([], dtype=np.int64))
    assert len(out) == 0
