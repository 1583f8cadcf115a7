"""Campaigns as dense communities of a weighted account graph, each with its coherence.

Connected components of a link graph percolate: one shared gateway address or one generic
line joins two groups, and a few such bridges chain hundreds of strangers into one
"campaign" (measured on independently generated traffic: 719 of 1,223 accounts in one
component). Here campaigns must be *dense*:

1. Every edge carries a weight in [0, 1], the strength of the evidence that two accounts
   belong to one actor (``targeting.campaigns``: shared rare templates and system-prompt
   families; shared rare infrastructure, counted only as far as the two accounts' traffic is
   related, see ``content_affinity``).
2. Leiden (``leidenalg``) optimises the constant Potts model with resolution ``DENSITY``:
   a group is kept together only when its members' mean tie to each other exceeds
   ``DENSITY``, so a chain of pairwise links (density ~ 2 / n) falls apart into its pairs.
3. Each candidate is then tested for coherence: a member's *tie* is its mean edge weight to
   the other members; members tied by less than ``MIN_TIE`` leave (repeatedly), as do
   members that do not share the group's own evidence repeatedly (the caller's ``recurring``
   test: ``campaigns.recurring_members``, wording in two prompts or more that is more the
   group's than outsiders'), and what is
   left with at least ``MIN_CAMPAIGN`` members is a campaign. Its *coherence* is its weighted
   density (the mean tie), reported with it and used by ``targeting.risk`` to decide how
   much the campaign's evidence counts for each member.
4. A candidate that passes is cut into the actors it holds (``_blocks``): Leiden proposes
   parts at the candidate's own density (``SPLIT_RESOLUTION``), and two parts merge back
   while the density of the ties between them is at least ``MERGE_RATIO`` of the density
   inside the weaker of the two (``_merge_parts``); each part left goes through
   steps 3-4 on its own. One resolution for the whole graph cannot tell one actor from two
   dense groups tied by many faint links: an operation, and the people who write a public
   prompt format that part of its sweep uses too, share a little in every pair across them,
   more than ``DENSITY``. Measured on the own simulator with the format three times as
   common as it now writes it (``simulate.benchmarks``): a tool-use operation's members tied
   to each other at 0.65, 28 of the format's users at 0.33, and 0.10 across (0.30-0.34 of
   the weaker part's density), were one 66-account group with a second operation. An actor
   whose ties are uneven without blocks has parts tied to each other at more than half of
   that (the proposed parts of external-s3's tool-use operation: 0.58-0.60) and stays
   whole. ``MERGE_RATIO`` sits between the two; 0.4-0.5 give the same campaigns on both
   sets, 0.6 cuts operations of the simulator, 0.3 keeps the format's users in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

DENSITY = 0.05  # CPM resolution: the mean tie a group's members need to stay one community (= WEAK_LINK, the weakest link weighed)
MIN_TIE = DENSITY  # a member tied to its campaign by less than this (mean edge weight) leaves it
TIE_RATIO = 0.5  # ... or by less than this share of the members' median tie
MIN_PARTNERS = 2  # members each member must share evidence with
MIN_LINKED_SHARE = 0.25  # ... and at least this share of the other members
MIN_CAMPAIGN = 3  # members of a campaign
MIN_DEGREE = 1.0  # a member's summed edge weight to the other members: at least one full-strength link
AFFINITY_SAMPLE = 20_000  # random account pairs that describe how related strangers' traffic is
AFFINITY_FLOOR = 0.5  # pairs less related than the median stranger pair: infrastructure counts for nothing
PAIR_CHUNK = 65_536  # account pairs whose centroid cosines are computed at once
AFFINITY_FULL = 0.95  # ... more related than 95% of stranger pairs: infrastructure counts fully


def campaign_id(members: list[str]) -> str:
    return "k" + hashlib.sha256("\x1f".join(sorted(members)).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Communities:
    label: np.ndarray  # (N,) community index per account, -1 for none
    tie: np.ndarray  # (N,) mean edge weight to the other members (0 outside campaigns)
    coherence: np.ndarray  # (C,) weighted density of each community
    sizes: np.ndarray  # (C,) members of each community


def distinct_pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct (first, second) pairs of non-negative integers as an (M, 2) int64 array, sorted
    by first then second, and how often each occurs): ``np.unique(np.c_[first, second],
    axis=0, return_counts=True)``, through one int64 key per pair (the 2-D unique sorts rows
    as records, many times slower at a million)."""
    first, second = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
    if not len(first):
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    base = int(second.max()) + 1
    keys, counts = np.unique(first * base + second, return_counts=True)
    return np.c_[keys // base, keys % base], counts


def account_centroids(acc_idx: np.ndarray, n_accounts: int, rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(N, dim) unit mean vector of each account's distinct prompts."""
    pairs, _ = distinct_pairs(acc_idx, rows)
    sums = np.zeros((n_accounts, vectors.shape[1]), dtype=np.float32)
    np.add.at(sums, pairs[:, 0], vectors[pairs[:, 1]])
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)


def affinity_reference(centroids: np.ndarray, seed: int = 0) -> np.ndarray:
    """Sorted centroid cosines of ``AFFINITY_SAMPLE`` random account pairs: how related
    strangers' traffic is."""
    n = centroids.shape[0]
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, AFFINITY_SAMPLE), rng.integers(0, n, AFFINITY_SAMPLE)
    keep = a != b
    return np.sort(np.einsum("ij,ij->i", centroids[a[keep]], centroids[b[keep]]))


def pair_affinity(a: np.ndarray, b: np.ndarray, centroids: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """How related the traffic of accounts ``a[i]`` and ``b[i]`` is, in [0, 1]: their centroid
    cosine as a percentile among stranger pairs (``reference``), 0 up to ``AFFINITY_FLOOR``,
    1 from ``AFFINITY_FULL``."""
    cos = np.empty(len(a))
    for start in range(0, len(a), PAIR_CHUNK):  # (pairs, dim) copies of the centroids, a chunk at a time
        end = start + PAIR_CHUNK
        cos[start:end] = np.einsum("ij,ij->i", centroids[a[start:end]], centroids[b[start:end]])
    pct = np.searchsorted(reference, cos, side="right") / max(len(reference), 1)
    return np.clip((pct - AFFINITY_FLOOR) / (AFFINITY_FULL - AFFINITY_FLOOR), 0.0, 1.0)


def content_affinity(pairs: sparse.spmatrix, centroids: np.ndarray, seed: int = 0,
                     reference: np.ndarray | None = None) -> sparse.csr_matrix:
    """``pair_affinity`` for the account pairs of ``pairs`` (an (N, N) pattern).

    This is how shared traits are judged by the accounts behind them: a carrier NAT, a VPN
    exit, a company gateway, a cloud egress or a generic line serve people who ask
    unrelated things, while the accounts of one operation send the same kind of traffic."""
    pairs = sparse.coo_matrix(pairs)
    n = centroids.shape[0]
    if pairs.nnz == 0 or n < 2:
        return sparse.csr_matrix((n, n))
    reference = affinity_reference(centroids, seed) if reference is None else reference
    weight = pair_affinity(pairs.row, pairs.col, centroids, reference)
    return sparse.csr_matrix((weight, (pairs.row, pairs.col)), shape=(n, n))


PROPOSAL_ITERATIONS = 2  # Leiden passes over the whole graph (its communities are only proposals)
EDGE_CHUNK = 1 << 19  # edges handed to igraph at once


def _leiden(graph: sparse.csr_matrix, seed: int, resolution: float = DENSITY, iterations: int = -1) -> np.ndarray:
    """Community index per node of a symmetric weighted graph (CPM at ``resolution``), after
    ``iterations`` passes (-1: until a pass changes nothing)."""
    import igraph as ig
    import leidenalg

    upper = sparse.triu(graph, k=1).tocoo()
    g = ig.Graph(n=graph.shape[0], directed=False)
    # added EDGE_CHUNK edges at a time: igraph converts what it is given through Python objects
    # (6.1 million edges at once: +1.1 GB for a moment and 4.8 s; in chunks +0.2 GB and 1.9 s)
    for start in range(0, upper.nnz, EDGE_CHUNK):
        stop = start + EDGE_CHUNK
        g.add_edges(np.c_[upper.row[start:stop], upper.col[start:stop]])
    g.es["weight"] = upper.data
    part = leidenalg.find_partition(
        g, leidenalg.CPMVertexPartition, weights="weight", resolution_parameter=resolution, seed=seed,
        n_iterations=iterations
    )
    return np.asarray(part.membership, dtype=np.int64)


def _mean_tie(graph: sparse.csr_matrix, members: np.ndarray) -> np.ndarray:
    sub = graph[members][:, members]
    return np.asarray(sub.sum(axis=1)).ravel() / max(len(members) - 1, 1)


def _coherent(graph: sparse.csr_matrix, members: np.ndarray,
              recurring: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The members left after the peripheral ones have left, one at a time (the weakest
    first: its leaving lowers the others' ties). A member is peripheral when its tie is below
    ``MIN_TIE`` or below ``TIE_RATIO`` of the members' median tie (it shares a little with
    many members, a public benchmark item or a common wrapper, where the members share their
    wording with each other), or when it shares evidence with fewer than ``MIN_PARTNERS``
    members or ``MIN_LINKED_SHARE`` of them: a chain of pairwise links, however strong, loses
    its ends one after the other and leaves nothing. With ``recurring`` (members -> bool per
    member), a member of a group the graph keeps is also peripheral when it does not share
    the group's own evidence repeatedly (``campaigns.recurring_members``): strong ties from
    one coincidence. It is asked once the graph's tests pass, so a large candidate shedding
    its edge is not re-read after every removal."""
    members = np.asarray(members)
    while len(members) >= MIN_CAMPAIGN:
        sub = graph[members][:, members]
        tie = np.asarray(sub.sum(axis=1)).ravel() / (len(members) - 1)
        linked = np.diff(sub.indptr)
        enough = np.maximum(MIN_PARTNERS, MIN_LINKED_SHARE * (len(members) - 1))
        degree = tie * (len(members) - 1)
        weak = (tie < max(MIN_TIE, TIE_RATIO * float(np.median(tie)))) | (linked < enough) | (degree < MIN_DEGREE)
        if recurring is not None and not weak.any():  # asked of a group the graph keeps (a member
            weak = ~recurring(members)  # that fails it fails in any smaller group: nothing is lost)
        if not weak.any():
            return members
        members = np.delete(members, int(np.argmin(np.where(weak, tie, np.inf))))
    return members[:0]


SPLIT_RESOLUTION = 1.0  # parts are proposed by CPM at this multiple of the candidate's own density
MERGE_RATIO = 0.45  # two parts are one actor when their cross ties reach this share of the weaker part's own


def _merge_ratios(w: np.ndarray, size: np.ndarray, density: float, rows: np.ndarray) -> np.ndarray:
    """(len(rows), P) for parts ``rows`` and every part: the density of the ties between the two
    over the lower density inside either (a lone account's inside is ``density``)."""
    inner = np.where(size > 1, np.diag(w) / np.maximum(size * (size - 1), 1), density)
    pairs = np.outer(size[rows], size)
    pairs[np.arange(len(rows)), rows] = 0  # a part with itself is no pair
    dens = np.divide(w[rows], pairs, out=np.zeros(pairs.shape), where=pairs > 0)
    weaker = np.minimum.outer(inner[rows], inner)  # a part of several accounts tied to nothing inside merges
    q = np.divide(dens, weaker, out=np.where(dens > 0, np.inf, 0.0), where=weaker > 0)
    q[pairs == 0] = -1.0
    return q


def _merge_parts(weights: np.ndarray, size: np.ndarray, density: float) -> np.ndarray:
    """(P,) the part each proposed part ends in, merging the two most tied parts while the
    density of the ties between them is at least ``MERGE_RATIO`` of the lower density inside
    either. A single account has no inside: its own density is taken as the candidate's
    (``density``), what a member's ties are on average. ``weights[i, j]`` is the summed weight
    between parts i and j (ordered pairs, so the diagonal holds twice the part's own).

    Each merge changes one part's ratios only, so each row's best ratio is kept and only the
    rows whose best partner merged are read again: a candidate proposed as thousands of lone
    accounts costs seconds, not the minutes of re-reading every pair after every merge."""
    w, size = weights.astype(float).copy(), size.astype(float).copy()
    into = np.arange(len(size))
    q = _merge_ratios(w, size, density, np.arange(len(size)))
    best, partner = q.max(axis=1), q.argmax(axis=1)
    while True:  # each pass merges one part away or stops
        i = int(np.argmax(best))
        j = int(partner[i])
        if best[i] < MERGE_RATIO:
            break
        w[i] += w[j]
        w[:, i] += w[:, j]
        w[j] = w[:, j] = 0.0
        size[i] += size[j]
        size[j] = 0.0  # gone: no pair with it counts
        into[into == j] = i
        q[j], q[:, j], best[j] = -1.0, -1.0, -np.inf
        row = _merge_ratios(w, size, density, np.array([i]))[0]
        q[i], q[:, i] = row, row
        stale = (partner == i) | (partner == j)
        stale[i] = True
        stale[j] = False
        raised = ~stale & (row > best) & (size > 0)
        best[raised], partner[raised] = row[raised], i
        rows = np.flatnonzero(stale)
        best[rows], partner[rows] = q[rows].max(axis=1), q[rows].argmax(axis=1)
    return into


def _blocks(graph: sparse.csr_matrix, members: np.ndarray, seed: int) -> list[np.ndarray]:
    """The actors of a candidate campaign: parts proposed at ``SPLIT_RESOLUTION`` times its
    own density, merged back while the ties between two of them are as dense as
    ``MERGE_RATIO`` of the ties inside them (``_merge_parts``). One actor's members are tied
    to each other alike, while two groups joined by a few strong ties, or by many faint ones,
    are two dense blocks with little between them."""
    sub = graph[members][:, members]
    n = len(members)
    density = sub.sum() / (n * (n - 1))
    part = np.unique(_leiden(sub, seed, SPLIT_RESOLUTION * density), return_inverse=True)[1]
    if part.max() == 0:
        return [members]
    indicator = sparse.csr_matrix((np.ones(n), (np.arange(n), part)), shape=(n, part.max() + 1))
    weights = (indicator.T @ sub @ indicator).toarray()
    final = _merge_parts(weights, np.bincount(part), density)[part]
    return [members[final == p] for p in np.unique(final)]


def communities(graph: sparse.csr_matrix, seed: int = 0,
                recurring: Callable[[np.ndarray], np.ndarray] | None = None) -> Communities:
    """Dense, coherent communities of the weighted account graph (see the module's doc);
    ``recurring`` tells which members of a candidate share its evidence repeatedly (``_coherent``)."""
    graph = sparse.csr_matrix(graph)
    graph = graph.maximum(graph.T).tocsr()
    graph.setdiag(0)
    graph.eliminate_zeros()
    n = graph.shape[0]
    label = np.full(n, -1, dtype=np.int64)
    tie = np.zeros(n)
    coherence: list[float] = []
    sizes: list[int] = []
    if graph.nnz == 0:
        return Communities(label, tie, np.zeros(0), np.zeros(0, dtype=np.int64))
    linked = np.flatnonzero(np.diff(graph.indptr) > 0)  # isolated accounts are nobody's campaign
    sub = graph[linked][:, linked]
    # the whole graph's communities are candidates, each tested and cut into its actors below:
    # two passes give them (a million requests' 18,820 linked accounts and 6.1 million edges:
    # the same 1,053 communities, ARI 0.9999, in 31 s against 98 s until nothing changes)
    membership = _leiden(sub, seed, iterations=PROPOSAL_ITERATIONS)
    candidates = [linked[membership == c] for c in np.unique(membership)]
    while candidates:
        members = candidates.pop()
        if len(members) < MIN_CAMPAIGN:
            continue
        members = _coherent(graph, members, recurring)
        if len(members) < MIN_CAMPAIGN:
            continue
        parts = _blocks(graph, members, seed)
        if len(parts) > 1:
            candidates.extend(parts)
            continue
        own = _mean_tie(graph, members)
        label[members] = len(sizes)
        tie[members] = own
        coherence.append(float(own.mean()))
        sizes.append(len(members))
    return Communities(label, tie, np.asarray(coherence), np.asarray(sizes, dtype=np.int64))


def size_distribution(sizes: np.ndarray) -> dict[str, int]:
    """Campaigns by size band, for the run summary."""
    bands = ((3, 5), (6, 10), (11, 25), (26, 50), (51, 100), (101, None))
    out = {}
    for lo, hi in bands:
        key = f"{lo}-{hi}" if hi else f"{lo}+"
        out[key] = int(((sizes >= lo) & ((sizes <= hi) if hi else True)).sum())
    return out
