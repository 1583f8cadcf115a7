"""Shift alerts and case files in headless Chromium (Debian's /usr/bin/chromium, as
tests/test_browser_app.py): a case file opens with no network request and shows the account's
score; on the served app, after a night on which an account moved half its traffic to another
area, the Overview shows the alert and the account page's button downloads the case file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from app_workspace import FP_BUDGET, WINDOW_DAYS, HashingEncoder, shared
from shift_traffic import add_shift_night

from targeting import workspace as W
from targeting.config import load_settings
from targeting.jobs import score
from targeting.jobs.canary import CanaryOptions, run_canaries
from targeting.report.case import write_case
from test_browser_app import CHROMIUM, LAUNCH_ARGS, STEP_TIMEOUT_MS, VIEWPORT, _click_cell, _go, _settled, serve_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """A copy of the test workspace scored one more night, on which one account moved."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    pytest.importorskip("playwright")
    base = tmp_path_factory.mktemp("browser-shift")
    root = base / "workspace"
    shutil.copytree(shared(tmp_path_factory), root)
    night = add_shift_night(root, base / "night" / "requests.parquet")
    settings = load_settings(environ={}, overrides={"risk": {"fp_budget": FP_BUDGET}})
    score(root, settings, inputs=[night.path], as_of=night.night, window_days=WINDOW_DAYS, encoder=HashingEncoder())
    # a recorded canary run (a real one, in memory): the Overview shows its recall
    run_canaries(root, settings, [CanaryOptions(kind="reasoning", accounts=6, seed=1)], record=True,
                 encoder=HashingEncoder())
    return root, night


@pytest.fixture(scope="module")
def served(shifted):
    root, night = shifted
    with serve_app(root) as url:
        yield root, night, url


def _browser(pw):
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)


def _top(root: Path):
    scores = W.read_latest_scores(W.open_workspace(root)).to_pandas()
    return scores.sort_values(["risk_score", "account_id"], ascending=[False, True]).iloc[0]


def test_a_case_file_opens_offline_and_shows_the_accounts_score(shifted, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    root, night = shifted
    top = _top(root)
    out = tmp_path / "case.html"
    write_case(W.open_workspace(root), str(top["account_id"]), out)
    requested, blocked = [], []

    def only_the_file(route):
        if route.request.url == out.as_uri():
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("request", lambda request: requested.append(request.url))
            page.route("**/*", only_the_file)
            page.goto(out.as_uri())
            page.wait_for_load_state("networkidle")
            expect(page.locator("#risk-score")).to_have_text(f"{top['risk_score']:.3f}")
            expect(page.locator("#target")).to_have_text(str(top["account_id"]))
            assert page.locator("img.chart").count() >= 3  # inline charts rendered
            loaded = page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            assert loaded
        finally:
            browser.close()
    # data: images are no request; the page itself is the only one
    assert [u for u in requested if not u.startswith("data:")] == [out.as_uri()] and blocked == []
    assert json.loads(out.with_suffix(".json").read_text())["target_id"] == top["account_id"]


def test_the_overview_shows_the_shift_alert_and_the_case_file_button_downloads_it(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    root, night, url = served
    top = _top(root)
    with sync_playwright() as pw:
        browser = _browser(pw)
        try:
            page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
            page.set_default_timeout(STEP_TIMEOUT_MS)
            page.goto(url)
            page.get_by_role("heading", name="Overview").first.wait_for()
            _settled(page)
            alert = page.locator('[data-testid="stAlertContentWarning"]').filter(has_text=night.mover)
            expect(alert.first).to_be_visible()
            expect(alert.first).to_contain_text("of its traffic to another area overnight")
            expect(alert.first).to_contain_text(night.to_area.replace("_", " "))
            history = W.read_canary_history(W.open_workspace(root))
            assert history is not None and len(history) == 1
            expect(page.get_by_role("heading", name="Canary recall")).to_be_visible()
            expect(page.get_by_text("Share of each injected canary campaign", exact=False)).to_be_visible()

            _go(page, "Accounts", "Accounts")
            _click_cell(page.locator('[data-testid="stDataFrame"]').first, row=0, x=160)
            _settled(page)
            button = page.get_by_role("button", name="Case file (HTML)")
            expect(button).to_be_visible()
            with page.expect_download(timeout=120_000) as download:
                button.click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
        finally:
            browser.close()
    html = saved.read_text()
    assert saved.name.startswith(f"case-account-{top['account_id']}") and saved.suffix == ".html"
    assert f'id="risk-score">{top["risk_score"]:.3f}<' in html and str(top["account_id"]) in html
