"""Shift alerts: an account or campaign that moves its traffic to another area, or surges
near a model release, overnight.

Everything here is a pure function of daily counts, one row per (target, day, area) with the
number of requests ``n`` (``daily_area_counts`` makes them from assigned requests,
``campaign_counts`` pools a campaign's members). For the scored night ``as_of`` each target
active that night is compared with

* its *history*: its requests of the ``history_days`` nights before, pooled;
* its *previous night*: the last night before ``as_of`` with any of its requests.

The *move* is the total-variation distance between two area mixes, the share of the night's
traffic that sits in other areas than before (0: the same mix, 1: all of it elsewhere). A
*shift* is a move of at least ``shift_share`` against the history *and* against the
previous night (sudden, not a drift over weeks), on at least ``min_requests`` requests on
each side, whose most-gaining area rose by ``min_z`` standard errors (a two-proportion test:
a small account's random mix never passes). A *surge* is a night of ``volume_ratio`` times
the usual daily volume; it is an alert only within ``release_days`` after a model release
named in the settings (``ShiftConfig.releases``), and any shift there names the release.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Sequence

import numpy as np
import pandas as pd

from targeting import schema as S
from targeting.config import ShiftConfig

TARGET, DAY, N = "target_id", "day", "n"
ACCOUNT, CAMPAIGN = "account", "campaign"
COLUMNS = tuple(S.SHIFT_SCHEMA.names)


def daily_area_counts(assigned: pd.DataFrame) -> pd.DataFrame:
    """Requests per (account, UTC day, area) of assigned requests: target_id, day, area, n."""
    if assigned.empty:
        return pd.DataFrame({TARGET: pd.Series(dtype=str), DAY: pd.Series(dtype="datetime64[ns]"),
                             S.AREA: pd.Series(dtype=str), N: pd.Series(dtype=np.int64)})
    days = pd.to_datetime(assigned[S.DATE]).dt.normalize()
    counts = (pd.DataFrame({TARGET: assigned[S.ACCOUNT_ID].astype(str).to_numpy(), DAY: days.to_numpy(),
                            S.AREA: assigned[S.AREA].astype(str).to_numpy()})
              .groupby([TARGET, DAY, S.AREA], sort=True).size().rename(N).reset_index())
    counts[N] = counts[N].astype(np.int64)
    return counts


def combine_counts(*frames: pd.DataFrame) -> pd.DataFrame:
    """Daily counts of several sources (history read from the store, the scored window) summed."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return daily_area_counts(pd.DataFrame())
    both = pd.concat(frames, ignore_index=True)
    both[N] = both[N].astype(np.int64)
    both[DAY] = pd.to_datetime(both[DAY]).dt.normalize()
    return both.groupby([TARGET, DAY, S.AREA], sort=True)[N].sum().reset_index()


def campaign_counts(counts: pd.DataFrame, campaign_of: pd.Series) -> pd.DataFrame:
    """The daily counts of each campaign: its members' counts summed (``campaign_of`` maps an
    account id to its campaign id; accounts without one are left out)."""
    campaign_of = campaign_of[campaign_of.fillna("").astype(str) != ""].astype(str)
    member = counts[TARGET].map(campaign_of)
    pooled = counts[member.notna()].assign(**{TARGET: member[member.notna()]})
    return pooled.groupby([TARGET, DAY, S.AREA], sort=True)[N].sum().reset_index()


def _mix(counts: pd.DataFrame, areas: Sequence[str]) -> pd.DataFrame:
    """Requests per target (rows) and area (columns, every one of ``areas``)."""
    table = counts.pivot_table(index=TARGET, columns=S.AREA, values=N, aggfunc="sum", fill_value=0)
    return table.reindex(columns=list(areas), fill_value=0).astype(float)


def _move(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Total-variation distance between the rows' area mixes (0 where either has no request)."""
    ta, tb = a.sum(axis=1, keepdims=True), b.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 0.5 * np.abs(a / ta - b / tb).sum(axis=1)
    return np.where((ta[:, 0] > 0) & (tb[:, 0] > 0), out, 0.0)


def _gain_z(night: np.ndarray, hist: np.ndarray, col: np.ndarray) -> np.ndarray:
    """Two-proportion z of the rise of area ``col`` (per row) from the history to the night."""
    rows = np.arange(len(night))
    n1, n0 = night.sum(axis=1), hist.sum(axis=1)
    c1, c0 = night[rows, col], hist[rows, col]
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p0 = c1 / n1, c0 / n0
        pooled = (c1 + c0) / (n1 + n0)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        z = (p1 - p0) / se
    return np.nan_to_num(np.where(se > 0, z, 0.0), nan=0.0, posinf=0.0, neginf=0.0)


def active_release(as_of: date, config: ShiftConfig) -> tuple[str, date] | None:
    """The latest model release at most ``release_days`` before ``as_of`` (or on it), if any."""
    near = [(name, day) for name, day in config.release_dates() if 0 <= (as_of - day).days <= config.release_days]
    return near[-1] if near else None


def _previous(counts: pd.DataFrame, areas: Sequence[str], targets: pd.Index) -> tuple[pd.DataFrame, pd.Series]:
    """Each target's last active day before the night: its mix and the day."""
    if counts.empty:
        return (pd.DataFrame(0.0, index=targets, columns=list(areas)),
                pd.Series(pd.NaT, index=targets, dtype="datetime64[ns]"))
    last = counts.groupby(TARGET)[DAY].max()
    prev = counts[counts[DAY].to_numpy() == counts[TARGET].map(last).to_numpy()]
    return _mix(prev, areas).reindex(targets, fill_value=0.0), last.reindex(targets)


def detect_shifts(counts: pd.DataFrame, *, as_of: date, areas: Sequence[str], config: ShiftConfig,
                  kind: str = ACCOUNT) -> pd.DataFrame:
    """One row per target active on ``as_of``: its night against its history and its previous
    night (``COLUMNS``), with ``alert`` and, for an alert, its ``reason`` in words."""
    night_day = pd.Timestamp(as_of)
    days = pd.to_datetime(counts[DAY]).dt.normalize()
    areas = list(dict.fromkeys([*areas, *sorted(counts[S.AREA].astype(str).unique())]))
    tonight = counts[days == night_day]
    if tonight.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    before = counts[(days < night_day) & (days >= night_day - pd.Timedelta(days=config.history_days))]
    night = _mix(tonight, areas)
    targets = night.index
    hist = _mix(before, areas).reindex(targets, fill_value=0.0)
    prev, prev_day = _previous(before.assign(**{DAY: pd.to_datetime(before[DAY])}), areas, targets)
    a, h, p = night.to_numpy(), hist.to_numpy(), prev.to_numpy()
    hist_days = before.groupby(TARGET)[DAY].nunique().reindex(targets, fill_value=0).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = a / a.sum(axis=1, keepdims=True) - np.nan_to_num(h / h.sum(axis=1, keepdims=True))
    to = gain.argmax(axis=1)
    rows = np.arange(len(targets))
    n_night, n_hist = a.sum(axis=1), h.sum(axis=1)
    daily_mean = np.where(hist_days > 0, n_hist / np.maximum(hist_days, 1), np.nan)
    out = pd.DataFrame({
        "as_of": str(as_of), "target_kind": kind, "target_id": targets.astype(str),
        "requests": n_night.astype(np.int64), "history_days": hist_days.astype(np.int64),
        "history_requests": n_hist.astype(np.int64), "daily_mean": daily_mean,
        "volume_ratio": n_night / daily_mean,
        "previous_day": [d.strftime("%Y-%m-%d") if pd.notna(d) else "" for d in prev_day],
        "previous_requests": p.sum(axis=1).astype(np.int64),
        "move_history": _move(a, h), "move_previous": _move(a, p),
        "to_area": [areas[i] for i in to], "to_share": a[rows, to] / n_night,
        "from_share": np.where(n_hist > 0, h[rows, to] / np.maximum(n_hist, 1), np.nan),
        "z": _gain_z(a, h, to),
    })
    return _judge(out, as_of, config)


def _judge(out: pd.DataFrame, as_of: date, config: ShiftConfig) -> pd.DataFrame:
    """Set ``release``, ``alert`` and ``reason`` on the figures of ``detect_shifts``."""
    enough = (out["requests"] >= config.min_requests) & (out["history_requests"] >= config.min_requests)
    shift = (enough & (out["move_history"] >= config.shift_share) & (out["move_previous"] >= config.shift_share)
             & (out["z"] >= config.min_z))
    release = active_release(as_of, config)
    surge = enough & (out["volume_ratio"] >= config.volume_ratio) & (release is not None)
    out["release"] = f"{release[0]} ({release[1]})" if release else ""
    out["alert"] = (shift | surge).astype(bool)
    out["reason"] = [shift_reason(row, is_shift, release, config) if alert else ""
                     for (_, row), is_shift, alert in zip(out.iterrows(), shift, out["alert"])]
    return out[list(COLUMNS)].sort_values(["alert", "move_history", "target_id"], ascending=[False, False, True],
                                          kind="stable").reset_index(drop=True)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def shift_reason(row: pd.Series, is_shift: bool, release: tuple[str, date] | None, config: ShiftConfig) -> str:
    """The alert in words, with its figures."""
    area = str(row["to_area"]).replace("_", " ")
    usual = (f"{row['daily_mean']:.0f} a day over {int(row['history_days'])} earlier "
             f"night{'s' if int(row['history_days']) != 1 else ''}")
    parts = []
    if is_shift:
        parts.append(
            f"moved {_pct(row['move_history'])} of its traffic to another area overnight: {area} went from "
            f"{_pct(row['from_share'])} of its requests (previous {config.history_days} days) to "
            f"{_pct(row['to_share'])} of {int(row['requests']):,} on {row['as_of']} "
            f"({_pct(row['move_previous'])} moved since {row['previous_day']}; z = {row['z']:.1f})")
    if release is not None and row["volume_ratio"] >= config.volume_ratio:
        parts.append(f"sent {row['volume_ratio']:.1f} times its usual volume ({int(row['requests']):,} requests "
                     f"against {usual})")
    if release is not None:
        days = (date.fromisoformat(str(row["as_of"])) - release[1]).days
        when = "on the day of" if days == 0 else f"{days} day{'s' if days > 1 else ''} after"
        parts.append(f"{when} the release of {release[0]} ({release[1]})")
    return "; ".join(parts)


def shift_table(counts: pd.DataFrame, campaign_of: pd.Series, *, as_of: date, areas: Sequence[str],
                config: ShiftConfig) -> pd.DataFrame:
    """The night's shift figures of every active account and campaign (alerts first)."""
    accounts = detect_shifts(counts, as_of=as_of, areas=areas, config=config, kind=ACCOUNT)
    campaigns = detect_shifts(campaign_counts(counts, campaign_of), as_of=as_of, areas=areas, config=config,
                              kind=CAMPAIGN)
    found = [f for f in (campaigns, accounts) if len(f)]
    both = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=list(COLUMNS))
    return both.sort_values(["alert", "target_kind", "move_history"], ascending=[False, False, False],
                            kind="stable").reset_index(drop=True)


def history_start(as_of: date, config: ShiftConfig) -> date:
    """The first day whose requests the night's comparison reads."""
    return as_of - timedelta(days=config.history_days)
