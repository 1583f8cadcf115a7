"""What every signal receives: the scored requests and the arrays they point into.

A signal is a pure function ``f(frame, ctx) -> DataFrame`` indexed by account id. It never
reads files or settings; everything arrives here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.config import SignalConfig

# columns of the request frame every signal receives
ACCOUNT = "account_id"
TIME = "timestamp"
ROW = "row"  # index of the request's distinct prompt in ctx.vectors / ctx.texts
AREA = "area"  # area index into ctx.areas
CLUSTER = "cluster"  # cluster index into ctx.cluster_area
CONTEXT = "context_hash"


@dataclass(frozen=True)
class SignalContext:
    vectors: np.ndarray  # (P, d) float32 unit vectors, one per distinct prompt
    texts: tuple[str, ...]  # (P,) the distinct prompts ('' where the nightly cache gave their text features)
    areas: tuple[str, ...]
    cluster_area: np.ndarray  # (C,) area index of each cluster
    target_areas: tuple[int, ...]  # areas worth extracting (all but the fallback area)
    config: SignalConfig
    # area that fallback-area requests eliciting articulated reasoning count toward in the
    # reported dominant area (``signals.areas``); None: none
    elicited_area: int | None = None

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_area)


def account_groups(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row positions of each account's requests, in time order."""
    if len(frame) == 0:
        return {}
    # integer codes for the ids and UTC datetime64 for the times: a lexsort over their object
    # arrays (strings, tz-aware Timestamps) took seconds a million rows
    codes, accounts = pd.factorize(frame[ACCOUNT].to_numpy(), sort=True)
    times = frame[TIME]
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert(None)
    positions = np.lexsort((times.to_numpy(), codes))  # positional
    ordered = codes[positions]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(ordered)]
    return {accounts[ordered[s]]: positions[s:e] for s, e in zip(starts, ends)}


def sample_rows(rows: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """At most ``cap`` of ``rows``, chosen deterministically."""
    if len(rows) <= cap:
        return rows
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, cap, replace=False))
