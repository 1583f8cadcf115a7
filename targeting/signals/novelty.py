"""Novelty: the share of an account's requests that do not repeat its own earlier prompts.

A request repeats when its prompt is an exact copy of an earlier prompt of the account, or
a near-duplicate (cosine similarity >= ``near_duplicate_sim``) of one. Evaluation harnesses
re-run fixed suites and stress tests resend one prompt: both score low. Extraction wants
new outputs and rarely repeats.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.signals.base import ACCOUNT, ROW, SignalContext, account_groups

BLOCK = 1024
MAX_DISTINCT = 5000  # distinct prompts per account compared pairwise; the rest count as novel


def near_duplicate_of_earlier(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """For vectors in first-seen order: True where a vector is close to an earlier one."""
    n = len(vectors)
    dup = np.zeros(n, dtype=bool)
    for start in range(1, n, BLOCK):
        block = vectors[start : start + BLOCK]
        sims = block @ vectors[: start + len(block)].T
        # only earlier vectors count: mask the diagonal and everything after it
        cols = np.arange(sims.shape[1])
        rows = start + np.arange(len(block))
        sims[cols[None, :] >= rows[:, None]] = -1.0
        dup[start : start + len(block)] = sims.max(axis=1) >= threshold
    return dup


def novelty(frame: pd.DataFrame, ctx: SignalContext) -> pd.DataFrame:
    threshold = ctx.config.near_duplicate_sim
    rows_all = frame[ROW].to_numpy()
    records = []
    for account, positions in account_groups(frame).items():
        rows = rows_all[positions]
        distinct, first = np.unique(rows, return_index=True)
        order = np.argsort(first)
        distinct = distinct[order]  # distinct prompts in first-seen order
        exact_repeats = len(rows) - len(distinct)
        near = near_duplicate_of_earlier(ctx.vectors[distinct[:MAX_DISTINCT]], threshold)
        near_repeats = int(near.sum())
        n = len(rows)
        records.append(
            (account, 1.0 - (exact_repeats + near_repeats) / n, exact_repeats / n, near_repeats / n)
        )
    out = pd.DataFrame(records, columns=[ACCOUNT, "novelty", "exact_repeat_share", "near_repeat_share"])
    return out.set_index(ACCOUNT)
