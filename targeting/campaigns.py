"""Coordinated groups of accounts: an account graph and its connected communities.

v1 links two accounts when they share a template or wrapper that carries a real part of
both accounts' traffic (``MIN_USE``) and that is shared by at least ``MIN_ACCOUNTS``
accounts. Boilerplate was already removed by the template signal. Campaign ids are derived
from the sorted member ids, so the same group keeps its id across runs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

MIN_USE = 0.1  # share of an account's requests that must use the shared template
MIN_ACCOUNTS = 3  # accounts sharing a template before it links them
MIN_CAMPAIGN = 3  # members of a campaign


def campaign_id(members: list[str]) -> str:
    return "k" + hashlib.sha256("\x1f".join(sorted(members)).encode()).hexdigest()[:10]


def link_accounts(account_of_request: np.ndarray, group_of_request: np.ndarray) -> pd.Series:
    """Campaign id per account ('' when not in a campaign)."""
    accounts, acc_idx = np.unique(account_of_request, return_inverse=True)
    out = pd.Series("", index=accounts, dtype=object)
    mask = group_of_request >= 0
    if not mask.any():
        return out
    df = pd.DataFrame({"a": acc_idx[mask], "g": group_of_request[mask]})
    use = df.groupby(["g", "a"]).size().rename("n").reset_index()
    totals = np.bincount(acc_idx, minlength=len(accounts))
    use = use[use["n"] / totals[use["a"]] >= MIN_USE]
    spread = use.groupby("g")["a"].transform("nunique")
    use = use[spread >= MIN_ACCOUNTS]
    if use.empty:
        return out
    # star edges: every user of a template to its first user
    first = use.groupby("g")["a"].transform("min")
    graph = coo_matrix(
        (np.ones(len(use)), (use["a"].to_numpy(), first.to_numpy())), shape=(len(accounts), len(accounts))
    )
    _, comp = connected_components(graph, directed=False)
    linked = np.zeros(len(accounts), dtype=bool)
    linked[use["a"].to_numpy()] = True
    for c in np.unique(comp[linked]):
        members = np.flatnonzero((comp == c) & linked)
        if len(members) >= MIN_CAMPAIGN:
            ids = [str(accounts[m]) for m in members]
            out.iloc[members] = campaign_id(ids)
    return out
