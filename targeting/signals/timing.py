"""Timing: round-the-clock activity and the regularity of inter-arrival times.

``hour_coverage`` is the share of the 24 UTC hours of the day in which the account sent
at least one request, divided by the share expected if its requests were spread uniformly
over the day (so small accounts are not penalised for having few requests): ~1 for
round-the-clock senders, well below 1 for people, who sleep. ``interarrival_cv`` is the
coefficient of variation of the gaps between requests: near 0 for fixed-interval scripts,
near 1 for random (Poisson) senders, above 1 for bursty human sessions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.signals.base import ACCOUNT, TIME, SignalContext

HOURS = 24


def expected_hours(n: np.ndarray) -> np.ndarray:
    """Expected distinct hours of the day hit by n requests spread uniformly."""
    return HOURS * (1.0 - (1.0 - 1.0 / HOURS) ** np.asarray(n, dtype=float))


def timing(frame: pd.DataFrame, ctx: SignalContext | None = None) -> pd.DataFrame:
    times = pd.to_datetime(frame[TIME], utc=True)
    hours = times.dt.hour.to_numpy()
    accounts = frame[ACCOUNT].to_numpy()
    seconds = (times - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()  # any resolution
    tmp = pd.DataFrame({ACCOUNT: accounts, "h": hours, "t": seconds})
    g = tmp.groupby(ACCOUNT)
    n = g.size()
    distinct = g["h"].nunique()
    coverage = (distinct / HOURS) / (expected_hours(n.to_numpy()) / HOURS)

    def cv(t: pd.Series) -> float:
        gaps = np.diff(np.sort(t.to_numpy()))
        if len(gaps) < 2 or gaps.mean() <= 0:
            return float("nan")
        return float(gaps.std() / gaps.mean())

    return pd.DataFrame(
        {"hour_coverage": coverage.clip(upper=1.0), "interarrival_cv": g["t"].apply(cv)}
    )
