"""Campaign communities: density, not mere connection; coherence; content affinity."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from targeting.communities import (
    MERGE_RATIO, MIN_CAMPAIGN, _merge_parts, communities, content_affinity, size_distribution,
)


def _graph(n: int, edges: list[tuple[int, int, float]]) -> sparse.csr_matrix:
    r, c, w = zip(*edges) if edges else ((), (), ())
    m = sparse.csr_matrix((w, (r, c)), shape=(n, n))
    return m.maximum(m.T).tocsr()


def _clique(members: range, weight: float) -> list[tuple[int, int, float]]:
    return [(a, b, weight) for a in members for b in members if a < b]


def test_a_chain_of_pairwise_links_is_no_campaign():
    # 300 strangers, each sharing one gateway or one generic line with the next: connected,
    # and exactly what chained 719 accounts into one "campaign" before
    n = 300
    found = communities(_graph(n, [(i, i + 1, 0.6) for i in range(n - 1)]))
    assert len(found.sizes) == 0 and (found.label == -1).all()


def test_two_dense_groups_joined_by_a_bridge_stay_two_campaigns():
    edges = _clique(range(0, 20), 0.4) + _clique(range(20, 45), 0.3) + [(5, 30, 0.9)]
    found = communities(_graph(60, edges))
    assert len(found.sizes) == 2
    assert sorted(found.sizes.tolist()) == [20, 25]
    assert len(set(found.label[:20])) == 1 and len(set(found.label[20:45])) == 1
    assert (found.label[45:] == -1).all()
    assert found.coherence.min() >= 0.29


def test_a_member_tied_to_the_group_by_a_thread_leaves_it():
    edges = _clique(range(10), 0.5) + [(10, 0, 0.4), (10, 1, 0.4)]  # 10 shares a little with two members
    found = communities(_graph(11, edges))
    assert found.label[10] == -1 and found.tie[10] == 0
    assert (found.label[:10] == found.label[0]).all() and found.tie[:10].min() > 0.45


def test_pairs_and_isolated_accounts_are_no_campaign():
    found = communities(_graph(6, [(0, 1, 1.0), (2, 3, 1.0)]))
    assert (found.label == -1).all() and MIN_CAMPAIGN == 3


def test_content_affinity_separates_related_from_unrelated_accounts():
    rng = np.random.default_rng(0)
    centroids = rng.normal(size=(200, 32))
    base = rng.normal(size=32)
    centroids[:5] = base + 0.1 * rng.normal(size=(5, 32))  # one operation's accounts
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    pairs = sparse.coo_matrix((np.ones(3), ([0, 1, 10], [1, 2, 11])), shape=(200, 200))
    aff = content_affinity(pairs, centroids).toarray()
    assert aff[0, 1] == 1.0 and aff[1, 2] == 1.0
    assert aff[10, 11] < 1.0


def test_size_distribution_bands():
    assert size_distribution(np.array([3, 4, 7, 30, 200])) == {
        "3-5": 2, "6-10": 1, "11-25": 0, "26-50": 1, "51-100": 0, "101+": 1}


def test_a_group_held_together_by_faint_links_is_no_campaign():
    # four accounts that each share a little with every other (a tool-use attacker, a product
    # and two apps on one public tool format): dense enough for Leiden, but no member has the
    # equivalent of one full-strength link to the others
    faint = communities(_graph(4, _clique(range(4), 0.12)))
    assert (faint.label == -1).all() and len(faint.sizes) == 0
    # the same four at a third of full strength each: one full link's worth per member, a campaign
    held = communities(_graph(4, _clique(range(4), 0.34)))
    assert len(held.sizes) == 1 and (held.label == 0).all()
    # and a large operation whose members are each faintly tied keeps them all: 60 x 0.09 = 5.3 links each
    large = communities(_graph(60, _clique(range(60), 0.09)))
    assert large.sizes.tolist() == [60]


def test_a_member_without_the_groups_own_evidence_leaves_it():
    # 8 is tied to the group as strongly as its weakest member, so density alone keeps it;
    # the member test (``campaigns.recurring_members`` in the pipeline) says it shares only a
    # format that outsiders use as much: it leaves, and the others' campaign stands
    edges = _clique(range(8), 0.4) + [(8, m, 0.35) for m in range(8)]
    graph = _graph(9, edges)
    assert (communities(graph).label == 0).all()
    found = communities(graph, recurring=lambda members: members != 8)
    assert found.label[8] == -1 and found.tie[8] == 0
    assert (found.label[:8] == 0).all() and found.sizes.tolist() == [8]


def test_two_groups_tied_by_many_faint_links_are_two_campaigns():
    # an operation (18 accounts) and 12 people who write a public prompt format that part of
    # its sweep uses too: each block is dense, and every pair across them shares a little of
    # the format. The cross ties (0.1) are twice ``DENSITY``, so one CPM community holds both;
    # they are a fifth of either block's own density: two actors
    edges = _clique(range(18), 0.5) + _clique(range(18, 30), 0.5)
    edges += [(a, b, 0.1) for a in range(18) for b in range(18, 30)]
    found = communities(_graph(30, edges))
    assert sorted(found.sizes.tolist()) == [12, 18]
    assert len(set(found.label[:18])) == 1 and len(set(found.label[18:])) == 1
    assert found.label[0] != found.label[18]


def test_one_actor_with_uneven_ties_stays_one_campaign():
    # one operation whose members are tied unevenly (some pairs share much, some little, a
    # third nothing): no block structure, so it is not cut into pieces
    rng = np.random.default_rng(3)
    n = 40
    edges = [(a, b, float(rng.uniform(0.1, 0.7))) for a in range(n) for b in range(a + 1, n) if rng.random() < 0.65]
    found = communities(_graph(n, edges))
    assert found.sizes.tolist() == [n]


def _part_weights(size: list[int], density: list[list[float]]) -> np.ndarray:
    """Summed ordered-pair weights between parts of ``size`` accounts tied at ``density``."""
    n = np.asarray(size, dtype=float)
    pairs = np.outer(n, n) - np.diag(n)
    return np.asarray(density) * pairs


def test_parts_merge_while_their_cross_ties_reach_a_share_of_the_weaker_inside():
    # A and B: one operation's two shifts (cross ties 0.3 against 0.5 and 0.4 inside, 0.75 of
    # the weaker); C: a group tied to both at 0.1, a quarter of its own 0.4; D: one account
    # tied to A at 0.3, as much as the candidate's members are on average (its own density)
    density = [[0.5, 0.3, 0.1, 0.3],
               [0.3, 0.4, 0.1, 0.0],
               [0.1, 0.1, 0.4, 0.0],
               [0.3, 0.0, 0.0, 0.0]]
    into = _merge_parts(_part_weights([10, 10, 8, 1], density), np.array([10, 10, 8, 1]), 0.3)
    assert into[0] == into[1] == into[3] and into[2] != into[0]
    assert MERGE_RATIO == 0.45
    # tied to A at 0.2, under MERGE_RATIO of both A's density and the candidate's: no part of it
    density[0][3] = density[3][0] = 0.2
    alone = _merge_parts(_part_weights([10, 10, 8, 1], density), np.array([10, 10, 8, 1]), 0.45)
    assert alone[3] == 3 and alone[0] == alone[1]
    # two parts tied at just under ``MERGE_RATIO`` of the weaker's own density stay apart, just over it join
    for cross, joined in ((0.17, False), (0.19, True)):
        d = [[0.4, cross], [cross, 0.4]]
        assert bool(_merge_parts(_part_weights([6, 6], d), np.array([6, 6]), 0.3)[1] == 0) == joined


def _merge_by_rereading(weights: np.ndarray, size: np.ndarray, density: float) -> np.ndarray:
    """``_merge_parts`` the plain way: every pair's ratio read again after every merge."""
    w, size = weights.astype(float).copy(), size.astype(float).copy()
    alive, into = np.ones(len(size), dtype=bool), np.arange(len(size))
    while alive.sum() > 1:
        pairs = np.outer(size, size) - np.diag(size)
        dens = np.divide(w, pairs, out=np.zeros_like(w), where=pairs > 0)
        inner = np.where(size > 1, np.diag(dens), density)
        weaker = np.minimum.outer(inner, inner)
        q = np.divide(dens, weaker, out=np.where(dens > 0, np.inf, 0.0), where=weaker > 0)
        q[~alive] = q[:, ~alive] = -1.0
        np.fill_diagonal(q, -1.0)
        i, j = np.unravel_index(np.argmax(q), q.shape)
        if q[i, j] < MERGE_RATIO:
            break
        w[i] += w[j]
        w[:, i] += w[:, j]
        w[j] = w[:, j] = 0.0
        size[i] += size[j]
        alive[j] = False
        into[into == j] = i
    return into


def test_merging_parts_agrees_with_rereading_every_pair():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 30))
        size = rng.integers(1, 6, n)
        density = rng.uniform(0, 0.6, (n, n)) * (rng.random((n, n)) < 0.5)
        density = np.maximum(density, density.T)
        weights = _part_weights(size.tolist(), density.tolist())
        mean = float(rng.uniform(0.1, 0.5))
        fast, plain = _merge_parts(weights, size, mean), _merge_by_rereading(weights, size, mean)
        # the same partition of the proposed parts (labels may differ)
        assert len(set(zip(fast, plain))) == len(set(fast)) == len(set(plain))


def test_distinct_pairs_are_numpys_row_unique():
    from targeting.communities import distinct_pairs

    rng = np.random.default_rng(0)
    first, second = rng.integers(0, 50, 2000), rng.integers(0, 3000, 2000)
    pairs, counts = distinct_pairs(first, second)
    want, want_counts = np.unique(np.c_[first, second], axis=0, return_counts=True)
    assert np.array_equal(pairs, want) and np.array_equal(counts, want_counts) and counts.sum() == 2000
    empty, none = distinct_pairs(np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    assert empty.shape == (0, 2) and len(none) == 0


def test_leiden_sees_the_same_graph_whatever_the_edge_chunks(monkeypatch):
    import targeting.communities as C

    rng = np.random.default_rng(3)
    block = np.kron(np.eye(3), np.ones((20, 20)))  # three groups of 20, faint ties across
    dense = np.where(block > 0, rng.uniform(0.5, 1.0, (60, 60)), rng.uniform(0, 0.05, (60, 60)))
    graph = sparse.csr_matrix(np.triu(dense, 1) + np.triu(dense, 1).T)
    whole = C._leiden(graph, seed=0, resolution=0.3)
    monkeypatch.setattr(C, "EDGE_CHUNK", 7)
    assert np.array_equal(C._leiden(graph, seed=0, resolution=0.3), whole) and len(np.unique(whole)) == 3
