"""The app's shift alerts (Overview) and case-file buttons (account and campaign pages) under
streamlit.testing.v1.AppTest, on a copy of the small real workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app_workspace import shared
from targeting import schema as S
from targeting import workspace as W

pytestmark = pytest.mark.slow  # runs the pipeline once per session to build the workspace

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("app-shift-case") / "workspace"
    shutil.copytree(shared(tmp_path_factory), copy)
    return copy


@pytest.fixture(autouse=True)
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield


def open_page(root: Path, name: str, **state) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state["workspace"] = str(root)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if name != "overview":
        at.switch_page(f"targeting/app/pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _alert_row(as_of: str, target: str) -> dict:
    return {"as_of": as_of, "target_kind": "account", "target_id": target, "requests": 40, "history_days": 7,
            "history_requests": 200, "daily_mean": 28.6, "volume_ratio": 1.4, "previous_day": "2026-11-13",
            "previous_requests": 30, "move_history": 0.5, "move_previous": 0.48, "to_area": "agentic_coding",
            "to_share": 0.5, "from_share": 0.0, "z": 7.1, "release": "", "alert": True,
            "reason": "moved 50% of its traffic to another area overnight: agentic coding went from 0% to 50%"}


def test_the_overview_says_when_no_account_shifted_and_shows_an_alert_when_one_did(root):
    at = open_page(root, "overview")
    assert "Shift alerts" in [s.value for s in at.subheader]
    assert any("No shift alert on 2026-11-14" in i.value for i in at.info)
    ws = W.open_workspace(root)
    target = "acct-**bold**<b>"
    rows = pd.DataFrame([_alert_row("2026-11-14", target), {**_alert_row("2026-11-13", "acct-old"), "alert": True}])
    W.write_parquet(ws.shifts_path("2026-11-14"),
                    pa.Table.from_pandas(rows.iloc[:1], schema=S.SHIFT_SCHEMA, preserve_index=False))
    W.write_parquet(ws.shifts_path("2026-11-13"),
                    pa.Table.from_pandas(rows.iloc[1:], schema=S.SHIFT_SCHEMA, preserve_index=False))
    st.cache_data.clear()  # a new night's alerts come with a new run, which the cache is keyed on
    at = open_page(root, "overview")
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "moved 50% of its traffic" in warnings[0]
    assert "`acct-**bold**<b>`" in warnings[0]  # the id as code, never as markup
    table = next(d.value for d in at.dataframe if "move_history" in d.value.columns)
    assert table["target_id"].tolist() == [target, "acct-old"]  # newest night first
    for night in ("2026-11-14", "2026-11-13"):
        ws.shifts_path(night).unlink()


def test_account_and_campaign_pages_offer_the_case_file(root):
    scores = W.read_latest_scores(W.open_workspace(root)).to_pandas()
    top = scores[scores["campaign_id"].fillna("") != ""].sort_values("risk_score", ascending=False).iloc[0]
    at = open_page(root, "accounts", selected_account=top["account_id"])
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Case file (HTML)", "Case file (JSON)"} <= set(labels)
    assert at.checkbox(key="case_unredacted_account").value is False
    at = open_page(root, "campaigns", selected_campaign=top["campaign_id"])
    assert {"Case file (HTML)", "Case file (JSON)"} <= {b.proto.label for b in at.get("download_button")}
