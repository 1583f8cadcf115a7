"""A night on which one account of a scored workspace moves half its traffic to another area.

``add_shift_night`` writes the requests of the night after the workspace's latest scores: the
busiest account of its last night (the *mover*) sends as many requests as usual, half of them
its own earlier prompts and half prompts that other accounts sent in the area where it sent
the least; the next busiest account (the *steady* one) resends its own earlier prompts in
their usual mix. The same prompt with the same system prompt and tools is assigned the same
area, so the mover's new area is known before the night is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from targeting import workspace as W

NIGHT_REQUESTS = 40  # each account's requests on the new night
SEED = 5


@dataclass(frozen=True)
class ShiftNight:
    path: Path  # the night's request log (Parquet)
    night: date
    mover: str
    steady: str
    to_area: str


def _history(ws: W.Workspace, accounts: list[str], last: date) -> pd.DataFrame:
    start = datetime.combine(last - timedelta(days=30), time.min, tzinfo=timezone.utc)
    end = datetime.combine(last, time.max, tzinfo=timezone.utc)
    return W.request_sample(ws, accounts, start=start, end=end, limit=1_000_000).to_pandas()


def add_shift_night(root: Path, out: Path) -> ShiftNight:
    """Write the new night's requests to ``out`` (Parquet) for the workspace at ``root``."""
    ws = W.open_workspace(root)
    last = date.fromisoformat(W.latest_scores_day(ws))
    counts = W.account_area_day_counts(ws, start_date=last, end_date=last).to_pandas()
    busiest = counts.groupby("target_id")["n"].sum().sort_values(ascending=False, kind="stable").index.tolist()
    mover, steady = busiest[0], busiest[1]
    everyone = _history(ws, sorted(set(W.account_area_day_counts(ws).to_pandas()["target_id"])), last)
    mine = everyone[everyone["account_id"] == mover]
    shares = mine["area"].value_counts(normalize=True)
    others = everyone[everyone["account_id"] != mover]
    candidates = [a for a in others["area"].value_counts().index if others["area"].eq(a).sum() >= NIGHT_REQUESTS // 2]
    to_area = min(candidates, key=lambda a: (shares.get(a, 0.0), a))
    rng = np.random.default_rng(SEED)
    pick = lambda frame, n: frame.iloc[rng.choice(len(frame), n, replace=len(frame) < n)]  # noqa: E731
    half = NIGHT_REQUESTS // 2
    rows = pd.concat([
        pick(mine, half).assign(account_id=mover),
        pick(others[others["area"] == to_area], half).assign(account_id=mover),
        pick(everyone[everyone["account_id"] == steady], NIGHT_REQUESTS).assign(account_id=steady),
    ], ignore_index=True)
    night = last + timedelta(days=1)
    seconds = rng.integers(0, 86_400, len(rows))
    frame = pd.DataFrame({
        "request_id": [f"shift-{night}-{i}" for i in range(len(rows))],
        "account_id": rows["account_id"],
        "timestamp": pd.Timestamp(night, tz="UTC") + pd.to_timedelta(seconds, unit="s"),
        "prompt": rows["prompt"], "system": rows["system"], "tools": rows["tools"],
    })
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    return ShiftNight(out, night, mover, steady, to_area)
