"""Unit tests for targeting.simulate.timing: the window, time zones, session times and the
arrival processes (uniform, diurnal, even, burst); deterministic by seed."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from targeting.simulate import timing as TM
from targeting.simulate.rand import R

W = TM.Window("2024-03-04", 7)  # a Monday


# -- window -----------------------------------------------------------------------------------

def test_window_is_whole_utc_days():
    assert W.t0 == datetime(2024, 3, 4, tzinfo=timezone.utc).timestamp()
    assert W.t1 - W.t0 == 7 * TM.DAY


def test_window_weekdays_from_its_first_day():
    assert [W.weekday(i) for i in range(8)] == [0, 1, 2, 3, 4, 5, 6, 0]
    assert TM.Window("2024-03-09", 1).weekday(0) == 5  # a Saturday


def test_clip_keeps_a_second_inside_each_end():
    assert W.clip(W.t0 - 100) == W.t0 + 1
    assert W.clip(W.t1 + 100) == W.t1 - 1
    assert W.clip(W.t0 + 50) == W.t0 + 50


def test_fit_moves_a_late_session_back_whole_days_keeping_gaps():
    ts = [W.t1 + 3600, W.t1 + 3660, W.t1 + 4000]
    out = W.fit(ts)
    assert np.diff(out).tolist() == np.diff(ts).tolist()
    assert out[0] == ts[0] - TM.DAY  # same local time, a day earlier
    assert W.t0 < out[0] and out[-1] < W.t1


def test_fit_moves_an_early_session_forward_whole_days():
    ts = [W.t0 - 2 * TM.DAY + 60, W.t0 - 2 * TM.DAY + 120]
    out = W.fit(ts)
    assert out == [ts[0] + 2 * TM.DAY, ts[1] + 2 * TM.DAY]


def test_fit_leaves_an_inside_session_and_an_empty_one():
    ts = [W.t0 + 100, W.t0 + 200]
    assert W.fit(ts) == ts
    assert W.fit([]) == []


# -- time zones and hours ---------------------------------------------------------------------

def test_pick_tz_follows_the_language():
    r = R(1, "tz")
    assert {TM.pick_tz(r, "ja") for _ in range(20)} == {9}
    assert {TM.pick_tz(r, "es") for _ in range(200)} <= set(TM.TZ_BY_LANG["es"])
    assert {TM.pick_tz(r, "en") for _ in range(500)} <= set(TM.TZ_ALL)


def test_local_hour_is_daytime_unless_night_owl():
    r = R(1, "hours")
    hours = [TM.local_hour(r, owl=0.0) for _ in range(2000)]
    assert min(hours) >= 6.0 and max(hours) <= 24.8
    owl = [TM.local_hour(r, owl=1.0) for _ in range(2000)]
    assert min(owl) < 6.0 and 0 <= min(owl) and max(owl) < 24


def test_work_hour_is_office_hours():
    r = R(1, "work")
    hours = [TM.work_hour(r) for _ in range(2000)]
    assert 8.0 <= min(hours) and max(hours) <= 18.5
    assert 11.0 < float(np.mean(hours)) < 14.5


# -- days and sessions ------------------------------------------------------------------------

def test_pick_days_distinct_capped_and_from_pool():
    r = R(2, "days")
    days = TM.pick_days(r, W, 5)
    assert len(days) == len(set(days)) == 5 and set(days) <= set(range(7))
    assert sorted(TM.pick_days(r, W, 20)) == list(range(7))
    assert set(TM.pick_days(r, W, 2, pool=[1, 3, 5])) <= {1, 3, 5}


def test_pick_days_without_weekend_weight_skips_weekends():
    r = R(2, "weekdays")
    for _ in range(20):
        assert all(W.weekday(d) < 5 for d in TM.pick_days(r, W, 5, weekend_w=0.0))


def test_session_sizes_sum_to_n_and_are_capped():
    r = R(3, "sizes")
    sizes = TM.session_sizes(r, 500, mean=3.0)
    assert sum(sizes) == 500
    assert min(sizes) >= 1 and max(sizes) <= 25
    assert 2.0 < float(np.mean(sizes)) < 4.0
    assert TM.session_sizes(r, 0) == []


def test_human_sessions_sizes_sorted_inside_window_with_bounded_gaps():
    r = R(4, "sessions")
    sessions = TM.human_sessions(r, W, [1, 5, 12, 3], tz=-5)
    assert [len(s) for s in sessions] == [1, 5, 12, 3]
    for s in sessions:
        assert W.t0 < s[0] and s[-1] < W.t1
        gaps = np.diff(s)
        assert ((gaps >= 6.0) & (gaps <= 1800.0)).all()


def test_human_sessions_work_hours_start_in_office_hours_local_time():
    r = R(5, "office")
    tz = 1.0
    for s in TM.human_sessions(r, W, [2] * 30, tz=tz, work_hours=True):
        local = ((s[0] - W.t0) / TM.HOUR + tz) % 24
        assert 8.0 <= local <= 18.5


def test_human_sessions_use_only_the_day_pool():
    r = R(6, "pool")
    for s in TM.human_sessions(r, W, [1] * 20, tz=0.0, day_pool=[2], owl=0.0):
        hours_into_day_2 = (s[0] - W.t0 - 2 * TM.DAY) / TM.HOUR
        assert 6.0 <= hours_into_day_2 <= 24.8  # a late evening may run past midnight


# -- arrival processes ------------------------------------------------------------------------

def test_uniform_sorted_inside_bounds():
    t = TM.uniform(R(7, "u"), 100, 10.0, 20.0)
    assert len(t) == 100 and (np.diff(t) >= 0).all()
    assert t.min() >= 10.0 and t.max() <= 20.0


def test_diurnal_count_bounds_and_daily_swing():
    t = TM.diurnal(R(8, "d"), 3000, W, tz=0.0, depth=1.0)
    assert len(t) == 3000 and (np.diff(t) >= 0).all()
    assert t.min() >= W.t0 and t.max() <= W.t1
    hour = ((t - W.t0) / TM.HOUR) % 24
    afternoon = ((hour >= 13) & (hour < 17)).sum()
    night = ((hour >= 1) & (hour < 5)).sum()
    assert afternoon > 5 * night  # at full depth the 3 a.m. trough is near empty


def test_diurnal_depth_zero_is_flat():
    t = TM.diurnal(R(8, "flat"), 4000, W, tz=0.0, depth=0.0)
    hour = ((t - W.t0) / TM.HOUR) % 24
    counts = np.histogram(hour, bins=4, range=(0, 24))[0]
    assert counts.min() > 0.8 * counts.max()


def test_even_one_request_per_slot():
    t0, t1, n = 0.0, 100.0, 10
    t = TM.even(R(9, "e"), n, t0, t1)
    assert len(t) == n
    slot = np.floor(t / ((t1 - t0) / n))
    assert slot.tolist() == list(range(n))  # jitter stays within each slot
    assert len(TM.even(R(9, "e"), 0, t0, t1)) == 0


def test_burst_increasing_after_start_with_mean_gap():
    t = TM.burst(R(10, "b"), 2000, 1000.0, mean_gap=2.0)
    assert (np.diff(t) > 0).all() and t[0] > 1000.0
    assert 1.8 < float(np.mean(np.diff(t))) < 2.2


# -- determinism ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda r: TM.human_sessions(r, W, [3, 4], tz=2.0),
    lambda r: TM.diurnal(r, 50, W, 0.0, 0.5).tolist(),
    lambda r: TM.even(r, 20, 0.0, 10.0).tolist(),
    lambda r: TM.burst(r, 20, 0.0, 1.0).tolist(),
    lambda r: TM.session_sizes(r, 40),
])
def test_same_seed_same_times_other_seed_other_times(make):
    assert make(R(11, "x")) == make(R(11, "x"))
    assert make(R(11, "x")) != make(R(12, "x"))
