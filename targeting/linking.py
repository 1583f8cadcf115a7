"""Infrastructure evidence between accounts: shared client addresses and creation batches.

Request logs may carry the client address (``ip``) and the account's creation time
(``account_created_at``); many do not, so everything here is extra evidence on top of the
prompts (``targeting.campaigns``), never required.

Both are noisy (see the threat model's traps): carrier NAT, corporate gateways and VPN exits
put unrelated users on one address, and a large provider creates many accounts every hour.
So a single shared trait never links two accounts. Evidence is counted per pair::

    evidence = shared rare addresses + RANGE_WEIGHT * shared rare ranges + BATCH_WEIGHT * same batch

and two accounts are linked when it reaches ``LINK_EVIDENCE``: two rare addresses in common
(a proxy pool rotated through by both), or one rare address and a creation batch, or two
rare ranges and a batch. An address (IPv4, or the /64 of an IPv6 address) or range (IPv4
/24, IPv6 /48) is *rare* when at most ``rare_cap(n)`` accounts use it, the same boilerplate
rule the template keys follow; a gateway used by everyone is no evidence at all. Two
accounts are in the same creation batch when they were created within ``BATCH_SECONDS`` of
each other and that stretch of time saw at most ``rare_cap(n)`` creations.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

MAX_KEY_ACCOUNTS_SHARE = 0.05  # keys used by more accounts than this share are boilerplate
MIN_KEY_ACCOUNTS_CAP = 50  # ... but never fewer than this many accounts
RANGE_WEIGHT = 0.5  # a shared /24 (or /48) counts half an address
BATCH_WEIGHT = 1.0  # created together counts one address
LINK_EVIDENCE = 2.0  # evidence that links two accounts
BATCH_SECONDS = 3600.0  # creations this close together form a batch


def rare_cap(n_accounts: int) -> float:
    """Most accounts a shared key may have and still be evidence (more: boilerplate)."""
    return max(MAX_KEY_ACCOUNTS_SHARE * n_accounts, MIN_KEY_ACCOUNTS_CAP)


def address_keys(ip: str) -> tuple[str, str] | None:
    """(address, range) keys of a client address; None when it is not an address.

    IPv6 clients rotate within their /64, so the /64 is the address and the /48 the range.
    """
    try:
        addr = ipaddress.ip_address(str(ip).strip())
    except ValueError:
        return None
    if addr.version == 4:
        return str(addr), str(ipaddress.ip_network(f"{addr}/24", strict=False))
    return (str(ipaddress.ip_network(f"{addr}/64", strict=False)), str(ipaddress.ip_network(f"{addr}/48", strict=False)))


def _incidence(acc_idx: np.ndarray, keys: np.ndarray, n_accounts: int, cap: float) -> sparse.csr_matrix:
    """Binary account x key matrix of the rare keys (used by 2..cap accounts)."""
    if len(keys) == 0:
        return sparse.csr_matrix((n_accounts, 0))
    pairs = pd.DataFrame({"a": acc_idx, "k": keys}).drop_duplicates()
    key_vals, key_idx = np.unique(pairs["k"].to_numpy(), return_inverse=True)
    m = sparse.csr_matrix(
        (np.ones(len(pairs)), (pairs["a"].to_numpy(), key_idx.ravel())), shape=(n_accounts, len(key_vals))
    )
    df = np.diff(m.tocsc().indptr)
    return m[:, (df >= 2) & (df <= cap)].tocsr()


def shared_counts(acc_idx: np.ndarray, keys: np.ndarray, n_accounts: int, cap: float) -> sparse.csr_matrix:
    """(N, N) number of rare keys each pair of accounts shares (diagonal dropped)."""
    m = _incidence(acc_idx, keys, n_accounts, cap)
    shared = (m @ m.T).tocsr()
    shared.setdiag(0)
    shared.eliminate_zeros()
    return shared


def creation_batches(created: np.ndarray, cap: float, window: float = BATCH_SECONDS) -> sparse.csr_matrix:
    """(N, N) 1 for pairs of accounts created within ``window`` seconds of each other, in a
    stretch of time holding at most ``cap`` creations. ``created`` is epoch seconds, NaN when
    unknown."""
    n = len(created)
    known = np.flatnonzero(~np.isnan(created))
    order = known[np.argsort(created[known], kind="stable")]
    t = created[order]
    hi = np.searchsorted(t, t + window, side="right")  # first index beyond each account's window
    rows, cols = [], []
    for i in range(len(order)):
        j = np.arange(i + 1, hi[i])
        if len(j) == 0 or hi[i] - i > cap:
            continue
        rows.append(np.full(len(j), order[i]))
        cols.append(order[j])
    if not rows:
        return sparse.csr_matrix((n, n))
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    return ((m + m.T) > 0).astype(float).tocsr()


@dataclass(frozen=True)
class Infrastructure:
    evidence: sparse.csr_matrix  # (N, N) pair evidence (addresses + ranges + batch)
    links: sparse.csr_matrix  # (N, N) 1 where evidence >= LINK_EVIDENCE
    shared_addresses: pd.Series  # per account: rare addresses shared with any other account
    batch_size: pd.Series  # per account: accounts created in its batch (itself included)


def infrastructure(
    accounts: np.ndarray, account_of_request: np.ndarray, ips: np.ndarray | None, created: pd.Series | None
) -> Infrastructure:
    """Infrastructure evidence between ``accounts`` (sorted unique ids).

    ``ips`` holds the client address of each request (None/empty where unknown) and
    ``created`` each account's creation time (a Series indexed by account id)."""
    n = len(accounts)
    index = pd.Index(accounts, name="account_id")
    cap = rare_cap(n)
    evidence = sparse.csr_matrix((n, n))
    addr_shared = np.zeros(n)
    if ips is not None and len(ips):
        acc_idx = np.searchsorted(accounts, np.asarray(account_of_request).astype(str))
        ips = pd.Series(ips, dtype=object).where(lambda x: x.notna(), None).astype(str)
        parsed = {ip: address_keys(ip) for ip in ips.unique()}  # each distinct address once
        keys = ips.map(parsed)
        ok = keys.notna().to_numpy()
        if ok.any():
            a = acc_idx[ok]
            addrs = np.array([k[0] for k in keys[ok]], dtype=object)
            ranges = np.array([k[1] for k in keys[ok]], dtype=object)
            evidence = evidence + shared_counts(a, addrs, n, cap) + RANGE_WEIGHT * shared_counts(a, ranges, n, cap)
            addr_shared = np.asarray(_incidence(a, addrs, n, cap).sum(axis=1)).ravel()
    batch_size = np.ones(n)
    if created is not None and created.notna().any():
        when = pd.to_datetime(created.reindex(accounts), utc=True)
        secs = (when - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float)
        batches = creation_batches(secs, cap)
        batch_size = 1 + np.diff(batches.indptr)
        if evidence.nnz:
            # a batch adds to the evidence of pairs that already share something
            evidence = evidence + BATCH_WEIGHT * batches.multiply(evidence > 0)
    evidence = sparse.csr_matrix(evidence)
    links = (evidence >= LINK_EVIDENCE).astype(float).tocsr()
    links.eliminate_zeros()
    return Infrastructure(
        evidence=evidence,
        links=links,
        shared_addresses=pd.Series(addr_shared, index=index, name="shared_addresses"),
        batch_size=pd.Series(batch_size, index=index, name="creation_batch_size"),
    )
