"""When requests arrive. All times are float seconds since the Unix epoch (UTC)."""

from __future__ import annotations

import datetime as _dt
import math

import numpy as np

from .rand import R

DAY = 86400.0
HOUR = 3600.0


class Window:
    def __init__(self, start: str, days: int) -> None:
        d = _dt.date.fromisoformat(start)
        self.t0 = _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc).timestamp()
        self.days = days
        self.t1 = self.t0 + days * DAY
        self.weekday0 = d.weekday()  # Monday=0

    def weekday(self, day_index: int) -> int:
        return (self.weekday0 + day_index) % 7

    def clip(self, t: float) -> float:
        return min(max(t, self.t0 + 1.0), self.t1 - 1.0)

    def fit(self, ts: list[float]) -> list[float]:
        """Shift a session (sorted times) so it lies inside the window, keeping its gaps."""
        if not ts:
            return ts
        shift = 0.0
        if ts[-1] > self.t1 - 1.0:  # same local time, a day earlier
            shift = -DAY * math.ceil((ts[-1] - (self.t1 - 1.0)) / DAY)
        if ts[0] + shift < self.t0 + 1.0:
            shift += DAY * math.ceil((self.t0 + 1.0 - ts[0] - shift) / DAY)
        return [self.clip(t + shift) for t in ts]


# timezones (UTC offset, hours) and rough share of users
TZ_BY_LANG = {"es": [-6, -5, -3, 1], "de": [1], "fr": [1], "zh": [8], "ja": [9]}
TZ_ALL = [-8, -7, -6, -5, -4, -3, 0, 1, 2, 3, 5.5, 7, 8, 9, 10]
TZ_W = [8, 3, 6, 10, 2, 4, 6, 14, 5, 3, 9, 3, 5, 4, 3]


def pick_tz(r: R, lang: str = "en") -> float:
    if lang in TZ_BY_LANG:
        return r.pick(TZ_BY_LANG[lang])
    return r.wpick(TZ_ALL, TZ_W)


def local_hour(r: R, owl: float = 0.05) -> float:
    if r.maybe(owl):
        return r.uniform(0, 24)
    u = r.random()
    if u < 0.27:
        h = r.gauss(10.0, 1.4)
    elif u < 0.62:
        h = r.gauss(15.0, 1.8)
    else:
        h = r.gauss(20.5, 1.5)
    return min(max(h, 6.0), 24.8)


def work_hour(r: R) -> float:
    """Local hour of a request sent from the office: a morning and an afternoon block."""
    h = r.gauss(10.5, 1.1) if r.maybe(0.45) else r.gauss(14.8, 1.5)
    return min(max(h, 8.0), 18.5)


def pick_days(r: R, w: Window, k: int, weekend_w: float = 0.45, pool: list[int] | None = None) -> list[int]:
    days = pool if pool is not None else list(range(w.days))
    weights = [weekend_w if w.weekday(d) >= 5 else 1.0 for d in days]
    chosen: list[int] = []
    days, weights = list(days), list(weights)
    for _ in range(min(k, len(days))):
        d = r.choices(range(len(days)), weights=weights, k=1)[0]
        chosen.append(days.pop(d))
        weights.pop(d)
    return chosen


def human_sessions(r: R, w: Window, sizes: list[int], tz: float, *, weekend_w: float = 0.45,
                   owl: float = 0.05, day_pool: list[int] | None = None,
                   gap_median: float = 75.0, work_hours: bool = False) -> list[list[float]]:
    """Times for sessions of the given sizes: daytime in the user's timezone, clumpy days
    (office hours only with ``work_hours``)."""
    n_sess = len(sizes)
    k_days = max(1, min(w.days, int(math.ceil(n_sess * r.uniform(0.35, 0.9)))))
    active = pick_days(r, w, k_days, weekend_w, day_pool)
    out: list[list[float]] = []
    for size in sizes:
        day = r.pick(active)
        start = w.t0 + day * DAY + ((work_hour(r) if work_hours else local_hour(r, owl)) - tz) * HOUR
        ts = [start]
        for _ in range(size - 1):
            gap = math.exp(math.log(gap_median) + 0.9 * r.gauss(0, 1))
            ts.append(ts[-1] + min(max(gap, 6.0), 1800.0))
        out.append(w.fit(ts))
    return out


def session_sizes(r: R, n: int, mean: float = 3.0) -> list[int]:
    sizes: list[int] = []
    left = n
    p = 1.0 / mean
    while left > 0:
        s = 1
        while r.random() > p and s < 25:
            s += 1
        s = min(s, left)
        sizes.append(s)
        left -= s
    return sizes


def uniform(r: R, n: int, t0: float, t1: float) -> np.ndarray:
    return np.sort(r.np.uniform(t0, t1, size=n))


def diurnal(r: R, n: int, w: Window, tz: float, depth: float) -> np.ndarray:
    """Round the clock with a daily swing of relative size ``depth`` (0 = flat)."""
    out = np.empty(0)
    while out.size < n:
        t = r.np.uniform(w.t0, w.t1, size=2 * n + 16)
        h = ((t - w.t0) / HOUR + tz) % 24.0
        p = (1.0 - depth) + depth * 0.5 * (1 + np.cos((h - 15.0) / 24.0 * 2 * math.pi))
        keep = r.np.uniform(0, 1, size=t.size) < p
        out = np.concatenate([out, t[keep]])
    return np.sort(out[:n])


def even(r: R, n: int, t0: float, t1: float, jitter: float = 0.35) -> np.ndarray:
    """Evenly spaced with jitter (a load-balancer's round-robin)."""
    if n <= 0:
        return np.empty(0)
    gap = (t1 - t0) / n
    base = t0 + gap * (np.arange(n) + 0.5)
    return np.sort(np.clip(base + r.np.uniform(-jitter, jitter, size=n) * gap, t0, t1))


def burst(r: R, n: int, t_start: float, mean_gap: float) -> np.ndarray:
    gaps = r.np.exponential(mean_gap, size=n)
    return t_start + np.cumsum(gaps)
