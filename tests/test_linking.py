"""Infrastructure evidence: rare shared addresses and creation batches link accounts; a
single shared trait or a busy gateway does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.campaigns import link_accounts
from targeting.linking import (
    address_keys,
    creation_batches,
    infrastructure,
    rare_cap,
    shared_counts,
)


def test_address_keys_v4_v6_and_garbage():
    assert address_keys("73.12.4.9") == ("73.12.4.9", "73.12.4.0/24")
    addr, rng = address_keys("2a02:1:2:3:4:5::9")
    assert addr == "2a02:1:2:3::/64" and rng == "2a02:1:2::/48"
    assert address_keys("not an ip") is None
    assert address_keys("") is None


def test_rare_cap_has_a_floor():
    assert rare_cap(10) == 50
    assert rare_cap(10_000) == 500


def test_shared_counts_ignores_keys_of_one_account_and_boilerplate():
    acc = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    keys = np.array(["a", "b", "a", "b", "a", "z", "y", "x"], dtype=object)
    got = shared_counts(acc, keys, 4, cap=3).toarray()
    assert got[0, 1] == 2 and got[1, 0] == 2  # a and b
    assert got[0, 2] == 1
    assert got[3].sum() == 0  # y, x are its own
    assert np.all(np.diag(got) == 0)
    # 'a' used by 3 accounts is boilerplate when the cap is 2
    assert shared_counts(acc, keys, 4, cap=2).toarray()[0, 2] == 0


def test_creation_batches_pairs_within_window_and_skips_busy_hours():
    t = np.array([0.0, 600.0, 1200.0, 10 * 3600.0, np.nan])
    got = creation_batches(t, cap=10, window=3600).toarray()
    assert got[0, 1] == got[0, 2] == got[1, 2] == 1
    assert got[0, 3] == 0 and got[4].sum() == 0
    # the same three creations in an hour that saw more than the cap: no batch
    assert creation_batches(t, cap=2, window=3600).toarray()[0, 1] == 0


def _requests(rows: list[tuple[str, str]]):
    accounts = np.array([a for a, _ in rows])
    ips = np.array([ip for _, ip in rows], dtype=object)
    return np.unique(accounts), accounts, ips


def test_two_shared_rare_addresses_link_one_does_not():
    rows = [("a", "5.1.1.1"), ("a", "31.2.2.2"), ("b", "5.1.1.1"), ("b", "31.2.2.2"),
            ("c", "5.1.1.1"), ("c", "90.9.9.9")]
    accounts, acc, ips = _requests(rows)
    infra = infrastructure(accounts, acc, ips, None)
    links = infra.links.toarray()
    assert links[0, 1] == 1  # a-b: two addresses
    assert links[0, 2] == 0 and links[1, 2] == 0  # c shares one address (and its /24) only
    assert infra.evidence.toarray()[0, 2] == pytest.approx(1.5)


def test_a_creation_batch_completes_weak_evidence_but_never_links_alone():
    rows = [("a", "5.1.1.1"), ("b", "5.1.1.1"), ("c", "90.9.9.9"), ("d", "91.8.8.8")]
    accounts, acc, ips = _requests(rows)
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    created = pd.Series([t0, t0 + pd.Timedelta(minutes=5), t0 + pd.Timedelta(minutes=6),
                         t0 + pd.Timedelta(minutes=7)], index=accounts)
    infra = infrastructure(accounts, acc, ips, created)
    links = infra.links.toarray()
    assert links[0, 1] == 1  # one shared address + same batch
    assert links[2, 3] == 0 and links[0, 2] == 0  # same batch, nothing else shared
    assert infra.batch_size.loc["a"] == 4


def test_a_gateway_shared_by_many_accounts_is_no_evidence():
    n = 120  # more than the cap's floor of 50
    rows = [(f"u{i:03d}", "100.64.0.1") for i in range(n)] + [(f"u{i:03d}", "100.64.9.1") for i in range(n)]
    accounts, acc, ips = _requests(rows)
    infra = infrastructure(accounts, acc, ips, None)
    assert infra.links.nnz == 0 and infra.evidence.nnz == 0


PER_ACCOUNT = 8  # requests of each pool account; one of them carries a rare phrase the four share


def _pool_traffic(related: bool, shared_phrase: bool = True, seed: int = 0):
    """Four accounts rotating through one small proxy pool, and 60 strangers elsewhere; the
    pool's accounts send related prompts (one direction plus noise) or unrelated ones, and
    share one rare phrase in two of their eight prompts each (a weak textual link, below
    what makes a campaign on its own; in one prompt only it would be coincidence,
    ``campaigns.prompt_support``) or nothing."""
    rng = np.random.default_rng(seed)
    pool = [f"5.{i}.{i}.{i}" for i in range(1, 7)]
    rows = []
    for k, a in enumerate("wxyz"):
        rows += [(a, pool[(k + j) % len(pool)]) for j in range(PER_ACCOUNT)]
    rows += [(f"s{i:02d}", f"9.9.{i}.{j}") for i in range(60) for j in range(2)]
    accounts, acc, ips = _requests(rows)
    n_pool = 4 * PER_ACCOUNT
    vectors = rng.normal(size=(len(rows), 16))
    if related:
        vectors[:n_pool] = rng.normal(size=16) + 0.2 * rng.normal(size=(n_pool, 16))
    else:  # w and x ask the opposite of each other, y and z too, and the two pairs are unrelated
        d1, d2 = np.eye(16)[0], np.eye(16)[1]
        for k, direction in enumerate((d1, -d1, d2, -d2)):
            block = slice(PER_ACCOUNT * k, PER_ACCOUNT * (k + 1))
            vectors[block] = direction + 0.05 * rng.normal(size=(PER_ACCOUNT, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = np.zeros((len(rows), 34), dtype=np.uint64)
    keys[:, 32] = np.arange(1, len(rows) + 1)  # every prompt its own template
    if shared_phrase:
        keys[np.r_[np.arange(4) * PER_ACCOUNT, np.arange(4) * PER_ACCOUNT + 1], 33] = 999
    return accounts, acc, ips, keys, vectors


def test_shared_infrastructure_strengthens_a_weak_textual_link():
    accounts, acc, ips, keys, vectors = _pool_traffic(related=True)
    infra = infrastructure(accounts, acc, ips, None)
    assert infra.links.nnz > 0
    rows, weights = np.arange(len(acc)), np.ones(34)
    plain = link_accounts(acc, rows, keys, weights, vectors=vectors)
    joined = link_accounts(acc, rows, keys, weights, infra, vectors=vectors)
    # one phrase in two prompts of eight ties them faintly, short of a campaign (no member has
    # one full link's worth of ties, ``communities.MIN_DEGREE``); the proxy pool they rotate
    # through makes the same group a tight one
    assert (plain.campaign == "").all()
    pool = joined.campaign.loc[list("wxyz")]
    assert pool.nunique() == 1 and (pool != "").all()
    assert (joined.campaign.drop(list("wxyz")) == "").all()
    assert (joined.tie.loc[list("wxyz")] > 0.5).all() and joined.coherence.loc["w"] > 0.5
    assert (joined.partners == 0).all() and (joined.infra_partners == 0).all()


def test_infrastructure_alone_makes_no_campaign():
    accounts, acc, ips, keys, vectors = _pool_traffic(related=True, shared_phrase=False)
    infra = infrastructure(accounts, acc, ips, None)
    assert infra.links.nnz > 0
    joined = link_accounts(acc, np.arange(len(acc)), keys, np.ones(34), infra, vectors=vectors)
    assert (joined.campaign == "").all()


def test_an_address_shared_by_accounts_with_unrelated_traffic_is_a_gateway_not_an_actor():
    accounts, acc, ips, keys, vectors = _pool_traffic(related=False)
    infra = infrastructure(accounts, acc, ips, None)
    assert infra.links.nnz > 0  # the addresses alone would link them
    joined = link_accounts(acc, np.arange(len(acc)), keys, np.ones(34), infra, vectors=vectors)
    assert (joined.campaign == "").all()
