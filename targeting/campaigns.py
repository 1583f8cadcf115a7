"""Coordinated groups of accounts: an account graph over shared templates, and its communities.

Each account is described by the template keys of its distinct prompts (LSH bands of the
masked skeleton, wrapper heads and tails) and by their phrase keys (see
``signals.templates``), each key weighted by the share of the account's prompts carrying it
(tf) and by its rarity across accounts (idf). The cosine similarity of these profiles weighs
the edge between two accounts: at ``LINK_SIM`` or more as it is, from ``WEAK_LINK`` times how
related the two accounts' traffic is (``communities.content_affinity``). Keys used by more
than ``MAX_KEY_ACCOUNTS_SHARE`` of all accounts are boilerplate and never link anyone unless
the accounts behind them are related (``signature_keys``), so "You are a helpful assistant"
does not make a campaign. Campaigns are the dense, coherent communities of this weighted
graph (``targeting.communities``); their ids are derived from the sorted member ids, so the
same group keeps its id across runs.

When the logs carry client addresses or account creation times, infrastructure links
(``targeting.linking``: rare addresses shared, creation batches) join the same graph: a
pool of small accounts that rotates through one proxy pool is one actor even when its
prompts are paraphrased. Such evidence only strengthens a link that shared wording starts,
and only as far as the two accounts' traffic is related: a company's or classroom's accounts
share a gateway and were created together too, and a cloud egress serves strangers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy import sparse

from targeting.communities import (
    account_centroids, affinity_reference, campaign_id, communities, content_affinity, distinct_pairs, pair_affinity,
)
from targeting.linking import Infrastructure
from targeting.signals.areas import area_shares
from targeting.signals.base import SignalContext
from targeting.signals.coverage import coverage, reference_frequencies
from targeting.signals.elicitation import cot_share
from targeting.signals.novelty import novelty
from targeting.signals.spread import spread, spread_reference
from targeting.signals.timing import timing

LINK_SIM = 0.3  # cosine similarity of template profiles that links two accounts
MAX_KEY_ACCOUNTS_SHARE = 0.05  # keys used by more accounts than this share are boilerplate
MIN_KEY_ACCOUNTS_CAP = 50  # ... but never fewer than this many accounts


@dataclass(frozen=True)
class Links:
    accounts: np.ndarray  # (N,) account ids
    similarity: sparse.csr_matrix  # (N, N) edge weights of the account graph
    campaign: pd.Series  # campaign id per account ('' when none)
    partners: pd.Series  # number of accounts linked by shared templates or wrappers
    max_similarity: pd.Series  # strongest template link
    infra_partners: pd.Series  # number of accounts linked by infrastructure only
    tie: pd.Series  # mean edge weight to the other members of its campaign (0 outside one)
    coherence: pd.Series  # its campaign's weighted density (0 outside one)
    sizes: np.ndarray  # members of each campaign (for the run summary)


@dataclass(frozen=True)
class ContextKeys:
    """The context of each request (its system prompt), as template keys."""

    of_request: np.ndarray  # (R,) row into ``keys`` of each request's context, -1 when none
    keys: np.ndarray  # (C, K) uint64 from ``signals.templates.system_keys``; 0 = none
    families: np.ndarray | None = None  # (C, B) uint64 from ``signals.templates.system_families``


CONTEXT_SUPPORT = 0.15  # template similarity from which shared contexts can complete a link
MIN_SHARED_CONTEXTS = 2  # distinct rare system-prompt skeletons two accounts must share
MIN_VARIANTS = 2  # distinct skeletons of one system-prompt family an account must send for it to link


def _prompt_tf(acc_idx, n_accounts, row_of_request, keys, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, key, tf) triples: the share of the account's distinct prompts carrying each key."""
    pairs, _ = distinct_pairs(acc_idx, row_of_request)  # distinct (account, prompt)
    n_distinct = np.bincount(pairs[:, 0], minlength=n_accounts).astype(float)
    k = keys[pairs[:, 1]]  # (pairs, columns)
    cols = np.broadcast_to(np.arange(keys.shape[1]), k.shape)
    mask = k != 0
    rows_acc = np.broadcast_to(pairs[:, :1], k.shape)[mask]
    return rows_acc, k[mask], weights[cols[mask]] / n_distinct[rows_acc]


def _context_tf(acc_idx, n_accounts, context: ContextKeys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, key, tf) triples: the share of the account's requests sent with each context."""
    n_requests = np.bincount(acc_idx, minlength=n_accounts).astype(float)
    has = context.of_request >= 0
    k = context.keys[context.of_request[has]]
    acc = np.broadcast_to(acc_idx[has][:, None], k.shape)
    mask = k != 0
    return acc[mask], k[mask], 1.0 / n_requests[acc[mask]]


def _family_tf(acc_idx, n_accounts, context: ContextKeys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, family key, tf) triples for the system-prompt families each account sends
    *in variations* (at least ``MIN_VARIANTS`` distinct skeletons): tf is the share of its
    requests in the family, each of the B band keys weighing 1/B.

    One fixed prompt on every request (an agent product, an app) is left out: the keys
    describe a prompt that is rewritten from request to request, the operation's "expert"
    prompt of the threat model. Numbers and dates are masked in skeletons, so a date in
    the system prompt is not a variation."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.uint64), np.zeros(0))
    if context.families is None or not len(context.families):
        return empty
    has = context.of_request >= 0
    if not has.any():
        return empty
    pairs, counts = distinct_pairs(acc_idx[has], context.of_request[has])
    n_bands = context.families.shape[1]
    fam = context.families[pairs[:, 1]]  # (pairs, B)
    long = pd.DataFrame({
        "account": np.repeat(pairs[:, 0], n_bands),
        "family": fam.ravel(),
        "variant": np.repeat(context.keys[pairs[:, 1], 0], n_bands),
        "requests": np.repeat(counts, n_bands),
    })
    long = long[(long["family"] != 0) & (long["variant"] != 0)]
    if long.empty:
        return empty
    per = long.groupby(["account", "family"], sort=False).agg(
        variants=("variant", "nunique"), requests=("requests", "sum"))
    per = per[per["variants"] >= MIN_VARIANTS].reset_index()
    n_requests = np.bincount(acc_idx, minlength=n_accounts).astype(float)
    accounts = per["account"].to_numpy(dtype=np.int64)
    tf = per["requests"].to_numpy(dtype=float) / n_requests[accounts] / n_bands
    return accounts, per["family"].to_numpy(dtype=np.uint64), tf


def _tfidf(
    triples: tuple[np.ndarray, np.ndarray, np.ndarray], n_accounts: int, centroids: np.ndarray | None = None
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(tf-idf profile matrix restricted to linking keys, full profile norms) of (account,
    key, tf) triples. Keys of one account never link; nor do keys of more accounts than the
    boilerplate cap, unless ``centroids`` (each account's mean prompt vector) show that the
    accounts behind the key send related traffic (``signature_keys``)."""
    rows_acc, keys, tf = triples
    if len(keys) == 0:
        return sparse.csr_matrix((n_accounts, 0)), np.zeros(n_accounts)
    key_vals, key_idx = np.unique(keys, return_inverse=True)
    matrix = sparse.csr_matrix((tf, (rows_acc, key_idx.ravel())), shape=(n_accounts, len(key_vals)))
    matrix.sum_duplicates()
    df = np.diff(matrix.tocsc().indptr)  # accounts per key
    n_users = max(n_accounts, 1)
    idf = np.log((1.0 + n_users) / (1.0 + df)) + 1.0  # smooth: a key of every account still counts
    weighted = matrix @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    cap = max(MAX_KEY_ACCOUNTS_SHARE * n_users, MIN_KEY_ACCOUNTS_CAP)
    linking = (df >= 2) & (df <= cap)
    if centroids is not None:
        linking |= signature_keys(sparse.csc_matrix(matrix), df, cap, centroids)
    return weighted[:, linking].tocsr(), norms


SIGNATURE_MAX_SHARE = 0.25  # keys of more accounts than this share are boilerplate, whoever uses them
SIGNATURE_AFFINITY = 0.8  # mean content affinity of a busy key's accounts that makes it a signature
SIGNATURE_PAIRS = 40  # account pairs sampled per busy key


def signature_keys(matrix: sparse.csc_matrix, df: np.ndarray, cap: float, centroids: np.ndarray) -> np.ndarray:
    """Busy keys (more accounts than ``cap``, at most ``SIGNATURE_MAX_SHARE`` of them) that are
    an operation's signature rather than boilerplate: the accounts behind them send related
    traffic (mean ``communities.content_affinity`` of sampled pairs of them at least
    ``SIGNATURE_AFFINITY``). A generic line ("You are a helpful assistant", "step by step")
    is used by strangers asking unrelated things; a campaign's wording is used by accounts
    that all work one area the same way. The cap alone dropped the signature of any campaign
    larger than 5% of the accounts (a 70-account operation among 1,200 accounts)."""
    n = matrix.shape[0]
    keep = np.zeros(matrix.shape[1], dtype=bool)
    busy = np.flatnonzero((df > cap) & (df <= SIGNATURE_MAX_SHARE * n))
    if not len(busy):
        return keep
    rng = np.random.default_rng(0)
    reference = affinity_reference(centroids)
    for k in busy:
        users = matrix.indices[matrix.indptr[k] : matrix.indptr[k + 1]]
        a, b = rng.choice(users, SIGNATURE_PAIRS), rng.choice(users, SIGNATURE_PAIRS)
        ok = a != b
        keep[k] = ok.any() and pair_affinity(a[ok], b[ok], centroids, reference).mean() >= SIGNATURE_AFFINITY
    return keep


def account_profiles(
    acc_idx: np.ndarray, n_accounts: int, row_of_request: np.ndarray, keys: np.ndarray, weights: np.ndarray,
    centroids: np.ndarray | None = None,
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """(tf-idf profile matrix restricted to linking keys, full profile norms).

    ``keys`` (distinct prompts x columns, 0 = no key) holds the template keys of the prompt
    each request points to through ``row_of_request``; ``weights`` weighs the columns."""
    if len(row_of_request) == 0 or keys.shape[0] == 0:
        return sparse.csr_matrix((n_accounts, 0)), np.zeros(n_accounts)
    return _tfidf(_prompt_tf(acc_idx, n_accounts, np.asarray(row_of_request), keys, weights), n_accounts, centroids)


def context_profiles(acc_idx: np.ndarray, n_accounts: int, context: ContextKeys) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Like ``account_profiles``, over each request's context keys."""
    return _tfidf(_context_tf(acc_idx, n_accounts, context), n_accounts)


SIMILAR_BLOCK = 1024  # accounts whose similarities are computed at once


def _similar(profiles: sparse.csr_matrix, norms: np.ndarray, n: int, floor: float = LINK_SIM) -> sparse.csr_matrix:
    """Cosine similarity of account profiles, for the pairs at ``floor`` or above.

    The product is taken ``SIMILAR_BLOCK`` rows at a time and filtered as it goes: every pair
    sharing any key at once took 3.2 GB for 20,383 accounts (a 1,000,000-request night); each
    entry is summed as in one product, so the values are the same."""
    profiles = sparse.csr_matrix(profiles)
    right = profiles.T.tocsr()
    rows, cols, values = [], [], []
    for start in range(0, profiles.shape[0], SIMILAR_BLOCK):
        sims = (profiles[start : start + SIMILAR_BLOCK] @ right).tocoo()
        row = sims.row + start
        denom = norms[row] * norms[sims.col]
        value = np.divide(sims.data, denom, out=np.zeros_like(sims.data), where=denom > 0)
        keep = (row != sims.col) & (value >= floor) & (value > 0)
        rows.append(row[keep])
        cols.append(sims.col[keep])
        values.append(value[keep])
    if not rows:
        return sparse.csr_matrix((n, n))
    return sparse.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def content_similarity(
    acc_idx: np.ndarray, n: int, row_of_request: np.ndarray, keys: np.ndarray, weights: np.ndarray,
    context: ContextKeys | None = None, floor: float = LINK_SIM,
) -> sparse.csr_matrix:
    """Template similarity of account pairs (>= ``floor``), completed by shared contexts.

    A shared system prompt never links two accounts on its own: a framework's default
    prompt is shared by strangers and chained 228 unrelated accounts of 600 into one
    "campaign" when it did. Nor does one fixed prompt complete a link: that is what the
    accounts of one agent product share (measured: it grouped 16 product accounts and
    raised them above a paraphrasing campaign). Operations send their system prompt *in
    variations* (the threat model's "expert" prompt), so two accounts sharing at least
    ``MIN_SHARED_CONTEXTS`` rare system-prompt skeletons have their template similarity s,
    when at least ``CONTEXT_SUPPORT``, raised to s + (1 - s) c, c being the cosine of
    their context profiles.

    A rare system-prompt *family* (near-duplicate prompts, ``signals.templates.system_families``)
    that both accounts send in variations is evidence by itself: their family profiles'
    cosine similarity links them at ``LINK_SIM`` like template profiles do."""
    profiles, norms = account_profiles(acc_idx, n, row_of_request, keys, weights)
    if context is None:
        return _similar(profiles, norms, n, floor)
    text = _similar(profiles, norms, n, floor=min(floor, CONTEXT_SUPPORT))
    cprof, cnorms = context_profiles(acc_idx, n, context)
    present = (cprof > 0).astype(float)
    variants = (present @ present.T) >= MIN_SHARED_CONTEXTS  # pairs sharing several rare system prompts
    shared = _similar(cprof, cnorms, n, floor=0.0).multiply(text > 0).multiply(variants).tocsr()
    combined = (text + shared - text.multiply(shared)).tocsr()
    combined.data[combined.data < floor] = 0
    combined.eliminate_zeros()
    # a rare system-prompt family that both accounts send in variations links them by itself
    family = _similar(*_tfidf(_family_tf(acc_idx, n, context), n), n, floor)
    return combined.maximum(family).tocsr()


MIN_SUPPORT = 2  # distinct prompts of an account that must carry wording another account uses too


@dataclass(frozen=True)
class SharedKeys:
    """The keys of one key matrix that two or more accounts carry, and where they occur: for
    each distinct prompt, the positions in ``keys`` of its keys that are shared (a CSR row)."""

    keys: np.ndarray  # (S,) sorted uint64 keys that two or more accounts carry
    n_users: np.ndarray  # (S,) how many accounts carry each
    indptr: np.ndarray  # (P + 1,) offsets of each prompt's shared keys in ``slots``
    slots: np.ndarray  # (sum,) int64 position in ``keys`` of each shared key of each prompt

    @classmethod
    def of(cls, matrix: np.ndarray, keys: np.ndarray, n_users: np.ndarray) -> "SharedKeys":
        counts, found = [], []
        for start in range(0, len(matrix), SLOT_CHUNK):  # a (chunk, K) position matrix at a time
            k = matrix[start : start + SLOT_CHUNK]
            slot = np.minimum(np.searchsorted(keys, k), max(len(keys) - 1, 0))
            known = (keys[slot] == k) & (k != 0) if len(keys) else np.zeros(k.shape, dtype=bool)
            counts.append(known.sum(axis=1))
            found.append(slot[known])
        indptr = np.zeros(len(matrix) + 1, dtype=np.int64)
        if counts:
            np.cumsum(np.concatenate(counts), out=indptr[1:])
        slots = np.concatenate(found).astype(np.int64, copy=False) if found else np.zeros(0, dtype=np.int64)
        return cls(keys, n_users, indptr, slots)

    def of_prompts(self, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in ``prompts`` of each occurrence, its slot) of the prompts' shared keys."""
        starts, counts = self.indptr[prompts], self.indptr[prompts + 1] - self.indptr[prompts]
        item = np.repeat(np.arange(len(prompts)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return item, self.slots[np.repeat(starts, counts) + within]


SLOT_CHUNK = 65536  # prompts whose key positions are looked up at once


@dataclass(frozen=True)
class KeyUse:
    """Which accounts carry which keys (``key_use``): each account's prompt support, and what
    ``recurring_members`` needs to judge a candidate campaign's members by their own wording."""

    support: np.ndarray  # (N,) distinct prompts of each account carrying a key another account carries too
    by_account: np.ndarray  # (N + 1,) offsets of each account's distinct prompts in ``item_row``
    item_row: np.ndarray  # (I,) the prompt row of each distinct (account, prompt) pair, sorted by account
    shared: tuple[SharedKeys, ...]  # per key matrix: its shared keys and the prompts carrying them


def _runs(key: np.ndarray, user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whether each occurrence starts a run of one key, distinct users of each run) of
    non-empty (key, user) occurrences sorted by key and, within a key, by user."""
    first = np.r_[True, key[1:] != key[:-1]]
    new_user = first | np.r_[True, user[1:] != user[:-1]]
    return first, np.add.reduceat(new_user.astype(np.int64), np.flatnonzero(first))


def key_use(acc_idx: np.ndarray, n_accounts: int, rows: np.ndarray, *key_matrices: np.ndarray | None) -> KeyUse:
    """``KeyUse`` of the accounts' distinct prompts (``rows``: each request's prompt row of the
    ``key_matrices``, whose rows are distinct prompts; a None or empty matrix is skipped)."""
    pairs, _ = distinct_pairs(acc_idx, rows)  # distinct (account, prompt), sorted by account
    carried = np.zeros(len(pairs), dtype=bool)
    matrices = tuple(m for m in key_matrices if m is not None and m.shape[0])
    shared_keys, n_users = [], []
    for keys in matrices:
        # one (pairs, K) copy at a time and each key once: a million requests' phrase keys are
        # 45 million, and the copies of each used to add up to 3 GB
        k = keys[pairs[:, 1]]
        present = k != 0
        per_pair = present.sum(axis=1)
        key = k[present]  # row-major: the pairs' order
        del k, present
        order = np.argsort(key, kind="stable")  # stable: one key's accounts stay in the pairs' (account) order
        key = key[order]
        pair_of = np.repeat(np.arange(len(pairs), dtype=np.int32 if len(pairs) < 2**31 else np.int64), per_pair)[order]
        del order
        account = pairs[pair_of, 0]
        if not len(key):
            shared_keys.append(np.zeros(0, np.uint64))
            n_users.append(np.zeros(0, np.int64))
            continue
        first, users = _runs(key, account)
        carried[pair_of[(users >= 2)[np.cumsum(first) - 1]]] = True
        shared_keys.append(key[first][users >= 2])
        n_users.append(users[users >= 2])
    return KeyUse(
        support=np.bincount(pairs[carried, 0], minlength=n_accounts),
        by_account=np.searchsorted(pairs[:, 0], np.arange(n_accounts + 1)),
        item_row=pairs[:, 1],
        shared=tuple(SharedKeys.of(m, k, u) for m, k, u in zip(matrices, shared_keys, n_users)),
    )


def prompt_support(acc_idx: np.ndarray, n_accounts: int, rows: np.ndarray, *key_matrices: np.ndarray) -> np.ndarray:
    """(N,) how many of each account's distinct prompts carry a key (any column of
    ``key_matrices``, rows = distinct prompts) that another account's prompts carry too.

    Shared wording is evidence of one actor when it recurs: an account whose only shared
    prompt is one public item (a benchmark question, a tool schema in a common format, sent
    once or repeated verbatim) matches a sweep of that benchmark by coincidence, however
    high the cosine of its one-prompt profile."""
    return key_use(acc_idx, n_accounts, rows, *key_matrices).support


def _users_per_key(key: np.ndarray, user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct keys, distinct users carrying each) of (key, user) occurrences."""
    if not len(key):
        return key, np.zeros(0, np.int64)
    order = np.lexsort((user, key))
    first, users = _runs(key[order], user[order])
    return key[order][first], users


def recurring_members(use: KeyUse, members: np.ndarray) -> np.ndarray:
    """(len(members),) bool: whether each member of a candidate campaign shares the group's
    own wording in at least ``MIN_SUPPORT`` of its distinct prompts.

    Wording is the group's own, for a member carrying it, when more of the *other* accounts
    that carry it are members than are not: evidence that is as typical of outsiders as of
    the group does not say the member is one of them. This is ``prompt_support`` asked of the
    group rather than of anyone. Measured on independently generated traffic: an organic
    user sending tool requests in a public benchmark's format shared that format with seven
    members of a tool-use operation and with seven outsiders, and joined the operation; every
    attacker member of both labelled sets shares, in two prompts or more, wording that only
    members carry."""
    members = np.asarray(members, dtype=np.int64)
    starts, ends = use.by_account[members], use.by_account[members + 1]
    sizes = ends - starts
    member_of = np.repeat(np.arange(len(members)), sizes)  # position in ``members`` of each item
    within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    prompt = use.item_row[np.repeat(starts, sizes) + within]
    hit = np.zeros(len(prompt), dtype=bool)
    for shared in use.shared:
        item, slot = shared.of_prompts(prompt)  # the items' shared keys, as positions in shared.keys
        inside, in_group = _users_per_key(slot, member_of[item])
        own = np.zeros(len(shared.keys), dtype=bool)
        total = shared.n_users[inside]
        own[inside[(in_group >= 2) & (in_group - 1 > total - in_group)]] = True  # others inside > outside
        hit[item[own[slot]]] = True
    return np.bincount(member_of[hit], minlength=len(members)) >= MIN_SUPPORT


WEAK_LINK = 0.05  # template similarity from which a link is weighed (below LINK_SIM: times content affinity)
INFRA_FULL = 4.0  # infrastructure evidence (``targeting.linking``) that counts as a full-weight edge


def infrastructure_weights(infra: Infrastructure, centroids: np.ndarray, reference: np.ndarray) -> sparse.csr_matrix:
    """Edge weights from shared infrastructure: pairs whose evidence reaches
    ``linking.LINK_EVIDENCE`` weigh min(1, evidence / ``INFRA_FULL``), times how related the
    two accounts' traffic is (``communities.content_affinity``): an address shared by people
    who ask unrelated things is a gateway, not an actor."""
    linked = infra.evidence.multiply(infra.links > 0).tocsr()
    if linked.nnz == 0:
        return sparse.csr_matrix(linked.shape)
    strength = linked.copy()
    strength.data = np.minimum(1.0, strength.data / INFRA_FULL)
    return strength.multiply(content_affinity(linked, centroids, reference=reference)).tocsr()


def link_accounts(
    account_of_request: np.ndarray,
    row_of_request: np.ndarray,
    keys: np.ndarray,
    weights: np.ndarray,
    infra: Infrastructure | None = None,
    context: ContextKeys | None = None,
    vectors: np.ndarray | None = None,
    seed: int = 0,
    phrases: np.ndarray | None = None,
) -> Links:
    """The weighted account graph and its campaigns (``targeting.communities``).

    Edges: template and system-prompt-family similarity (``content_similarity``), and, when
    ``infra`` is given (computed over ``np.unique(account_of_request)``), shared rare
    infrastructure weighed by how related the two accounts' traffic is; ``vectors`` holds
    the distinct prompts' unit vectors that ``row_of_request`` points into (needed to judge
    infrastructure; without them infrastructure does not link)."""
    accounts, acc_idx = np.unique(np.asarray(account_of_request).astype(str), return_inverse=True)
    n = len(accounts)
    rows = np.asarray(row_of_request)
    centroids = account_centroids(acc_idx, n, rows, vectors) if vectors is not None and len(vectors) else None
    text = content_similarity(acc_idx, n, rows, keys, weights, context, floor=WEAK_LINK)
    if phrases is not None and phrases.shape[0]:
        shared = _similar(*account_profiles(acc_idx, n, rows, phrases, np.full(phrases.shape[1], 1.0 / phrases.shape[1]),
                                            centroids), n, WEAK_LINK)
        text = text.maximum(shared)
    text = text.maximum(text.T).tocsr()
    # wording shared through a single prompt is coincidence, not an actor (``prompt_support``)
    use = key_use(acc_idx, n, rows, keys, phrases)
    recurs = sparse.diags((use.support >= MIN_SUPPORT).astype(float))
    text = (recurs @ text @ recurs).tocsr()
    text.eliminate_zeros()
    strong = text.multiply(text >= LINK_SIM).tocsr()
    partners = np.diff(strong.indptr)
    max_sim = np.zeros(n)
    if text.nnz:
        max_sim = np.asarray(text.max(axis=1).todense()).ravel()
    graph = strong
    weak = (text - strong).tocsr()
    weak.eliminate_zeros()
    reference = affinity_reference(centroids, seed) if centroids is not None else None
    if weak.nnz and centroids is not None:
        # a weak textual link counts as far as the two accounts' traffic is related
        graph = graph.maximum(weak.multiply(content_affinity(weak, centroids, reference=reference))).tocsr()
    if infra is not None and infra.links.nnz and centroids is not None:
        extra = infrastructure_weights(infra, centroids, reference)
        graph = graph.maximum(extra.maximum(extra.T).multiply(text > 0)).tocsr()  # corroborated by shared wording
    found = communities(graph, seed, recurring=partial(recurring_members, use))
    campaign = np.full(n, "", dtype=object)
    coherence = np.zeros(n)
    for c in range(len(found.sizes)):
        members = np.flatnonzero(found.label == c)
        campaign[members] = campaign_id([str(accounts[m]) for m in members])
        coherence[members] = found.coherence[c]
    index = pd.Index(accounts, name="account_id")
    return Links(
        accounts=accounts,
        similarity=graph,
        campaign=pd.Series(campaign, index=index, name="campaign_id"),
        partners=pd.Series(partners, index=index, name="linked_accounts"),
        max_similarity=pd.Series(max_sim, index=index, name="max_link_similarity"),
        # infrastructure no longer links by itself (it strengthens links shared wording starts):
        # the column stays for the app and exports, always 0
        infra_partners=pd.Series(np.zeros(n), index=index, name="infra_linked_accounts"),
        tie=pd.Series(found.tie, index=index, name="campaign_tie"),
        coherence=pd.Series(coherence, index=index, name="campaign_coherence"),
        sizes=found.sizes,
    )


def campaign_frame(frame: pd.DataFrame, campaign: pd.Series, account_column: str = "account_id") -> pd.DataFrame:
    """The requests of campaign members with the campaign id in place of the account id.

    Lets every per-account signal be computed for whole campaigns: the actor is the unit.
    """
    ids = campaign.reindex(frame[account_column].to_numpy()).fillna("").to_numpy()
    members = ids != ""
    out = frame.loc[members].reset_index(drop=True)
    out[account_column] = ids[members]
    return out


def campaign_signals(
    frame: pd.DataFrame, ctx: SignalContext, links: Links, prompt_cot: np.ndarray, content: pd.Series
) -> pd.DataFrame:
    """Per member account: its campaign's signals, computed by the per-account signal
    functions on the campaign's pooled requests (the actor is the unit). ``content`` is each
    account's content area (the reference population of regularity)."""

    columns = ["campaign_size", "campaign_requests", "campaign_target_share", "campaign_coverage",
               "campaign_covered_clusters", "campaign_expected_clusters", "campaign_exact_repeat_share",
               "campaign_cot_share", "campaign_hour_coverage", "campaign_content_share", "campaign_regularity",
               "campaign_distinct_in_area"]
    members = links.campaign[links.campaign != ""]
    out = pd.DataFrame(index=links.campaign.index, columns=columns, dtype=float)
    out[["campaign_size", "campaign_requests"]] = 0.0
    if members.empty:
        return out
    cframe = campaign_frame(frame, links.campaign)
    areas = area_shares(cframe, ctx)
    ref = reference_frequencies(frame, ctx.n_clusters, len(ctx.areas))
    cov = coverage(cframe, ctx, areas["content_area"], reference=ref)
    spr = spread(cframe, ctx, areas["content_area"], reference=spread_reference(frame, ctx, content))
    per = pd.DataFrame(
        {
            "campaign_size": members.value_counts(),
            "campaign_requests": cframe.groupby("account_id").size(),
            "campaign_target_share": areas["target_share"],
            "campaign_coverage": cov["coverage_ratio"],
            "campaign_covered_clusters": cov["covered_clusters"],
            "campaign_expected_clusters": cov["expected_clusters"],
            "campaign_exact_repeat_share": novelty(cframe, ctx)["exact_repeat_share"],
            "campaign_cot_share": cot_share(cframe, ctx, prompt_cot)["cot_share"],
            "campaign_hour_coverage": timing(cframe, ctx)["hour_coverage"],
            "campaign_regularity": spr["regularity"],
            "campaign_distinct_in_area": spr["distinct_in_area"],
            # members linked by shared text (the rest only by infrastructure)
            "campaign_content_share": (links.partners[members.index] > 0).groupby(members).mean(),
        }
    )
    joined = per.reindex(links.campaign.to_numpy())
    joined.index = links.campaign.index
    out.loc[members.index] = joined.loc[members.index, columns].to_numpy(dtype=float)
    return out
