"""Shift alerts (``targeting.shifts``): a move of half an account's traffic to another area in
one night is an alert with its figures in words; a steady account never is."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from targeting import schema as S
from targeting import shifts as SH
from targeting.config import ShiftConfig, load_settings

AREAS = ("reasoning", "tool_use", "agentic_coding", "other")
NIGHT = date(2026, 11, 15)


def _requests(account: str, day: date, mix: dict[str, float], n: int, rng: np.random.Generator | None) -> pd.DataFrame:
    """``n`` requests drawn at random from ``mix`` (exactly in its proportions without ``rng``)."""
    if rng is None:
        areas = np.repeat(list(mix), [round(n * share) for share in mix.values()])
    else:
        areas = rng.choice(list(mix), size=n, p=np.array(list(mix.values())) / sum(mix.values()))
    return pd.DataFrame({S.ACCOUNT_ID: account, S.DATE: pd.Timestamp(day), S.AREA: areas})


def _traffic(days: int = 14, n: int = 60, seed: int = 0, mover_night: dict | None = None) -> pd.DataFrame:
    """A steady account, a mover (reasoning, then half its traffic to agentic coding on NIGHT)
    and a small noisy account, every day up to NIGHT."""
    rng = np.random.default_rng(seed)
    usual = {"reasoning": 0.8, "tool_use": 0.15, "other": 0.05}
    frames = []
    for back in range(days, -1, -1):
        day = NIGHT - timedelta(days=back)
        frames.append(_requests("steady", day, {"reasoning": 0.6, "tool_use": 0.3, "other": 0.1}, n, rng))
        frames.append(_requests("small", day, {"reasoning": 0.34, "tool_use": 0.33, "other": 0.33}, 8, rng))
        mix = (mover_night or {"reasoning": 0.4, "tool_use": 0.075, "other": 0.025, "agentic_coding": 0.5}) \
            if day == NIGHT else usual
        frames.append(_requests("mover", day, mix, n, None if day == NIGHT else rng))
    return pd.concat(frames, ignore_index=True)


def _shifts(assigned: pd.DataFrame, config: ShiftConfig = ShiftConfig(), as_of: date = NIGHT,
            campaigns: dict | None = None) -> pd.DataFrame:
    counts = SH.daily_area_counts(assigned)
    return SH.shift_table(counts, pd.Series(campaigns or {}, dtype=object), as_of=as_of, areas=AREAS, config=config)


def test_an_account_that_moves_half_its_traffic_in_one_night_is_an_alert_with_a_reason():
    table = _shifts(_traffic())
    alerts = table[table["alert"]]
    assert alerts["target_id"].tolist() == ["mover"]
    row = alerts.iloc[0]
    assert row["to_area"] == "agentic_coding" and row["target_kind"] == "account"
    assert row["move_history"] >= 0.4 and row["move_previous"] >= 0.4 and row["to_share"] == pytest.approx(0.5)
    assert row["from_share"] == 0 and row["history_days"] == 14 and row["requests"] == 60
    assert "agentic coding" in row["reason"] and "moved" in row["reason"] and "2026-11-15" in row["reason"]
    quiet = table[~table["alert"]]
    assert set(quiet["target_id"]) == {"steady", "small"} and (quiet["reason"] == "").all()


@pytest.mark.parametrize("seed", range(8))
def test_a_steady_account_never_alerts(seed):
    # every night of three weeks of steady traffic, small and large accounts, many seeds
    assigned = _traffic(days=21, seed=seed, mover_night={"reasoning": 0.8, "tool_use": 0.15, "other": 0.05})
    for back in range(0, 7):
        table = _shifts(assigned, as_of=NIGHT - timedelta(days=back))
        assert not table["alert"].any(), table[table["alert"]]


def test_the_night_before_the_move_and_a_move_spread_over_weeks_are_no_alert():
    assigned = _traffic()
    assert not _shifts(assigned, as_of=NIGHT - timedelta(days=1))["alert"].any()
    # a slow drift: each night 3% more in agentic coding; the last night differs little from the one before
    rng = np.random.default_rng(1)
    frames = [_requests("drifter", NIGHT - timedelta(days=back),
                        {"reasoning": 0.2 + 0.03 * back, "agentic_coding": 0.8 - 0.03 * back}, 200, rng)
              for back in range(14, -1, -1)]
    table = _shifts(pd.concat(frames, ignore_index=True))
    row = table.iloc[0]
    assert row["move_history"] >= 0.15 and row["move_previous"] < 0.4 and not row["alert"]


def test_too_few_requests_are_no_evidence():
    config = ShiftConfig(min_requests=100)
    assert not _shifts(_traffic(), config)["alert"].any()


def test_a_campaign_moving_together_alerts_as_a_campaign():
    # two members, each moving half of their traffic (each alone also alerts)
    assigned = _traffic()
    second = assigned[assigned[S.ACCOUNT_ID] == "mover"].assign(**{S.ACCOUNT_ID: "mover-2"})
    table = _shifts(pd.concat([assigned, second]), campaigns={"mover": "c1", "mover-2": "c1", "steady": "c2"})
    campaigns = table[table["target_kind"] == "campaign"].set_index("target_id")
    assert campaigns.loc["c1", "alert"] and not campaigns.loc["c2", "alert"]
    assert campaigns.loc["c1", "requests"] == 120
    assert table.iloc[0]["target_kind"] == "campaign"  # alerts first, campaigns before accounts


def test_a_surge_after_a_model_release_alerts_and_the_reason_names_the_release():
    rng = np.random.default_rng(2)
    frames = [_requests("surger", NIGHT - timedelta(days=back), {"reasoning": 1.0}, 40, rng) for back in range(14, 0, -1)]
    frames.append(_requests("surger", NIGHT, {"reasoning": 1.0}, 200, rng))
    assigned = pd.concat(frames, ignore_index=True)
    assert not _shifts(assigned)["alert"].any()  # a surge alone is no alert
    config = ShiftConfig(releases=("model-x=2026-11-14",))
    row = _shifts(assigned, config).iloc[0]
    assert row["alert"] and row["volume_ratio"] == pytest.approx(5.0)
    assert "5.0 times its usual volume" in row["reason"] and "1 day after the release of model-x (2026-11-14)" in row["reason"]
    assert row["release"] == "model-x (2026-11-14)"
    late = ShiftConfig(releases=("model-x=2026-11-01",))
    assert not _shifts(assigned, late)["alert"].any()  # long after the release: no alert
    # a shift within the release window names the release too
    moved = _shifts(_traffic(), ShiftConfig(releases=("model-y=2026-11-15",))).iloc[0]
    assert moved["alert"] and "on the day of the release of model-y (2026-11-15)" in moved["reason"]


def test_releases_are_checked_when_settings_load():
    settings = load_settings(environ={"TARGETING_SHIFTS__RELEASES": "a=2026-11-01, b=2026-10-02"})
    assert [d.isoformat() for _, d in settings.shifts.release_dates()] == ["2026-10-02", "2026-11-01"]
    with pytest.raises(ValueError, match="NAME=YYYY-MM-DD"):
        load_settings(environ={"TARGETING_SHIFTS__RELEASES": "model-x"})


def test_a_first_night_without_history_has_figures_and_no_alert():
    assigned = _traffic(days=0)
    table = _shifts(assigned)
    assert set(table["target_id"]) == {"steady", "small", "mover"} and not table["alert"].any()
    assert (table["history_requests"] == 0).all() and (table["previous_day"] == "").all()
    assert (table["move_history"] == 0).all() and table["daily_mean"].isna().all()


def test_no_traffic_on_the_night_gives_an_empty_table():
    table = _shifts(_traffic(), as_of=NIGHT + timedelta(days=3))
    assert table.empty and list(table.columns) == list(SH.COLUMNS)
    assert SH.daily_area_counts(pd.DataFrame()).empty


def test_the_nightly_job_records_the_shift_alert_of_an_account_that_moves(workspace_copy, tmp_path):
    """End to end: the night after the test workspace's last, one account sends half its
    requests in another area; `score` keeps the alert in the workspace's shift history."""
    from app_workspace import FP_BUDGET, WINDOW_DAYS, HashingEncoder
    from shift_traffic import add_shift_night

    from targeting import workspace as W
    from targeting.jobs import score

    night = add_shift_night(workspace_copy, tmp_path / "night" / "requests.parquet")
    settings = load_settings(environ={}, overrides={"risk": {"fp_budget": FP_BUDGET}})
    score(workspace_copy, settings, inputs=[night.path], as_of=night.night, window_days=WINDOW_DAYS,
          encoder=HashingEncoder())
    ws = W.open_workspace(workspace_copy)
    history = W.read_shift_history(ws).to_pandas()
    tonight = history[history["as_of"] == str(night.night)].set_index("target_id")
    accounts = tonight[tonight["target_kind"] == "account"]
    assert accounts.loc[night.mover, "alert"], accounts.loc[night.mover]
    assert accounts.loc[night.mover, "to_area"] == night.to_area
    assert accounts.loc[night.mover, "move_history"] >= 0.4
    assert not accounts.loc[night.steady, "alert"]
    alerts = W.read_shift_history(ws, alerts_only=True, target_kind="account").to_pandas()
    assert night.mover in set(alerts["target_id"]) and night.steady not in set(alerts["target_id"])
    assert len(set(history["as_of"])) >= 3  # earlier nights are kept beside the new one
    # the policy report lists it, with its reason, in HTML and Markdown
    from targeting.report import build_report, render_html, render_markdown

    report = build_report(ws)
    assert night.mover in set(report.shift_alerts["target_id"])
    html = render_html(report)
    reason = alerts[alerts["target_id"] == night.mover]["reason"].iloc[0]
    assert "Shift alerts" in html and night.mover in html and reason.split(":")[0] in html
    text, _ = render_markdown(report, "assets")
    assert "### Shift alerts" in text and night.mover in text
    # the workspace reads one target's rows, and the mover's case file carries its alert
    from targeting.report.case import build_case

    mine = W.read_shift_history(ws, target_ids=[night.mover]).to_pandas()
    assert set(mine["target_id"]) == {night.mover} and len(mine) >= 1
    case_alerts = build_case(ws, night.mover).shifts
    assert any(s["target_id"] == night.mover and s["as_of"] == str(night.night) for s in case_alerts)
