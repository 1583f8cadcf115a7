"""The real app in headless Chromium: `targeting app` serves it, Playwright clicks through.

Opens every page, opens an account by clicking a cell of its row in the accounts table,
checks the verdict form has no verdict chosen in advance, records one and checks the
workspace stored it. Uses Debian's /usr/bin/chromium (``.ci/run`` installs it), never a
downloaded browser. Screenshots of the main pages are taken on the way; set
``APP_SCREENSHOTS_DIR`` (e.g. ``docs/screenshots``) to keep them (the README's come from
``APP_SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest tests/test_browser_app.py``).
``APP_TEST_WORKSPACE=DIR`` runs the same test on a copy of another workspace (the README's
screenshots show a 1,000-account workspace embedded with the real model).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from app_workspace import shared
from targeting import workspace as W
from targeting.verdicts import read_verdicts

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]
START_TIMEOUT_S = 60
STEP_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1400, "height": 900}
SETTLE_MS = 1500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"`targeting app` exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the app did not answer on {url} within {START_TIMEOUT_S}s")


@contextlib.contextmanager
def serve_app(root: Path):
    """`targeting app` on ``root`` at a free port, healthy; stopped (and its log closed) after."""
    port = _free_port()
    env = dict(os.environ, STREAMLIT_SERVER_HEADLESS="true", STREAMLIT_SERVER_FILE_WATCHER_TYPE="none",
               STREAMLIT_SERVER_RUN_ON_SAVE="false")
    log = open(root.parent / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "targeting.cli", "app", "--workspace", str(root), "--port", str(port)],
                            cwd=root.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A copy of the test workspace served by the real `targeting app` command on a free port."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    pytest.importorskip("playwright")
    source = Path(os.environ["APP_TEST_WORKSPACE"]) if os.environ.get("APP_TEST_WORKSPACE") else shared(tmp_path_factory)
    root = tmp_path_factory.mktemp("browser") / "workspace"
    shutil.copytree(source, root)
    with serve_app(root) as url:
        yield root, url


def _shoot(page, name: str, tmp_path: Path) -> None:
    """A screenshot into the test's folder, and into APP_SCREENSHOTS_DIR when set (small PNGs)."""
    path = tmp_path / f"app-{name}.png"
    page.wait_for_timeout(SETTLE_MS)  # charts and tables paint after the rerun has finished
    page.screenshot(path=str(path))
    keep = os.environ.get("APP_SCREENSHOTS_DIR")
    if keep:
        from PIL import Image

        Path(keep).mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:  # a 256-colour palette keeps UI screenshots small (the map keeps its shades)
            image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
                Path(keep) / path.name, optimize=True)


def _go(page, link: str, title: str) -> None:
    """Open a page from the sidebar (same browser session, so selections carry over)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    page.get_by_role("heading", name=title).first.wait_for()
    _settled(page)


def _to_top(locator) -> None:
    """Scroll so the element is at the top of the view (for the screenshots)."""
    locator.evaluate("e => e.scrollIntoView({block: 'start'})")
    locator.page.wait_for_timeout(400)


def _settled(page) -> None:
    """Wait until Streamlit has finished the rerun: no 'Running' status and no spinner, twice
    in a row (the status widget only appears a moment after a rerun starts)."""
    busy = page.locator('[data-testid="stStatusWidget"], [data-testid="stSpinner"]')
    quiet = 0
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while quiet < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(400)
        running = any(busy.nth(i).is_visible() for i in range(busy.count()))
        quiet = 0 if running else quiet + 1
    assert quiet >= 2, "the app was still running after the step timeout"


def _click_cell(table, *, row: int, x: int) -> None:
    """Click the cell ``x`` pixels from the left of a dataframe, in data row ``row`` (the
    grid is a canvas: rows and the header are 35 pixels high)."""
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    table.page.mouse.click(box["x"] + x, box["y"] + 35 * (row + 1) + 17)


def _click_a_cluster_on_the_map(page, *, step: int = 5, tries: int = 1500) -> str | None:
    """Hover over the map (from its middle outwards) until a point's tooltip names a
    cluster, click that point and return the cluster's id; None when no point was hit. The
    tooltip is Vega's, shown for the points layer only (the density shade and the names
    have none), so a hit proves the click lands on a point above the shade."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.scroll_into_view_if_needed()
    box = chart.bounding_box()
    cx, cy = box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2  # the legend is on the right
    spots = sorted(((dx, dy) for dx in range(-int(box["width"] * 0.4), int(box["width"] * 0.4), step)
                    for dy in range(-int(box["height"] / 2) + step, int(box["height"] / 2), step)),
                   key=lambda d: d[0] ** 2 + d[1] ** 2)
    tooltip = page.locator("#vg-tooltip-element")
    for dx, dy in spots[:tries]:
        page.mouse.move(cx + dx, cy + dy)
        if not tooltip.is_visible():
            continue
        found = re.search(r"cluster_id\s*:?\s*(\S+)", tooltip.inner_text())
        if found and not found.group(1).startswith("("):  # "(unclustered)" selects nothing
            page.mouse.click(cx + dx, cy + dy)
            return found.group(1)
    return None


def test_analyst_opens_every_page_and_records_a_verdict(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    root, url = served
    ws = W.open_workspace(root)
    scores = W.read_latest_scores(ws).to_pandas()
    top = scores.sort_values(["risk_score", "account_id"], ascending=[False, True]).iloc[0]  # the table's first row
    assert top["flagged"]
    account = str(top["account_id"])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(STEP_TIMEOUT_MS)

            page.goto(url)  # the Overview is the default page
            page.get_by_role("heading", name="Overview").first.wait_for()
            _settled(page)
            expect(page.get_by_text("Flagged accounts").first).to_be_visible()
            expect(page.get_by_text(str(top["run_id"])).first).to_be_visible()  # says which run
            _shoot(page, "overview", tmp_path)

            _go(page, "Capability map", "Capability map")
            expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
            _shoot(page, "map", tmp_path)
            # a click on a point (above the density shade) selects its cluster and lists its accounts
            expect(page.get_by_text("Select a cluster in the table, on the map or above.")).to_be_visible()
            cluster = _click_a_cluster_on_the_map(page)
            assert cluster, "no point of a cluster found under the mouse on the map"
            _settled(page)
            picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Cluster").last
            expect(picker.get_by_role("combobox")).to_have_value(re.compile("^" + re.escape(cluster)))
            expect(page.get_by_text("Accounts most concentrated here", exact=False)).to_be_visible()

            # Accounts: click a cell (not the row's checkbox) of the top row; its detail opens
            _go(page, "Accounts", "Accounts")
            _click_cell(page.locator('[data-testid="stDataFrame"]').first, row=0, x=160)
            _settled(page)
            picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Account").last
            expect(picker.get_by_role("combobox")).to_have_value(account)  # the picker's input shows it
            expect(page.get_by_text("Reasons", exact=True)).to_be_visible()
            risk = page.locator('[data-testid="stMetricValue"]').filter(has_text=f"{top['risk_score']:.3f}")
            expect(risk.first).to_be_visible()
            _to_top(page.get_by_role("heading", name="Account detail"))
            _shoot(page, "accounts", tmp_path)
            page.get_by_role("tab", name="On the map").click()
            overlay = page.get_by_role("tabpanel", name="On the map").locator('[data-testid="stVegaLiteChart"]')
            expect(overlay.last).to_be_visible()
            expect(overlay).to_have_count(3)  # area shares; the account and a typical account on the map
            expect(page.get_by_text("Beside it: a typical account of", exact=False)).to_be_visible()
            _to_top(page.get_by_role("tablist").first)
            _shoot(page, "account-map", tmp_path)

            # its campaign, opened from the account (the selection travels with the session)
            campaign = str(top["campaign_id"] or "")
            if campaign:
                page.get_by_role("tab", name="Campaign").click()
                page.get_by_role("button", name="Open this campaign").click()
                page.get_by_role("heading", name="Campaigns").first.wait_for()
                _settled(page)
                expect(page.get_by_text("Union coverage")).to_be_visible()
                _to_top(page.get_by_role("heading", name="Campaign detail"))
                _shoot(page, "campaigns", tmp_path)
            else:
                _go(page, "Campaigns", "Campaigns")

            # back to the account: record a verdict in its Verdict tab
            _go(page, "Accounts", "Accounts")
            page.get_by_role("tab", name="Verdict").click()
            form = page.locator('[data-testid="stForm"]').first
            expect(form.get_by_role("radio")).to_have_count(3)
            expect(form.get_by_role("radio", checked=True)).to_have_count(0)  # no verdict chosen in advance
            form.get_by_text("confirmed", exact=True).click()
            form.get_by_label("Note").fill("same wrapper as the relay campaign; confirmed by hand")
            form.get_by_label("Analyst").fill("playwright")
            form.get_by_role("button", name="Record verdict").click()
            expect(page.get_by_text(f"Recorded: account {account} confirmed by playwright.")).to_be_visible()
            _settled(page)

            _go(page, "Review", "Review")
            expect(page.get_by_text("Standing verdicts")).to_be_visible()
            expect(page.get_by_text("1 verdict recorded", exact=False)).to_be_visible()
            _to_top(page.get_by_role("heading", name="Review queue"))
            _shoot(page, "review", tmp_path)
        finally:
            browser.close()

    trail = read_verdicts(ws)
    assert len(trail) == 1
    row = trail.iloc[0]
    assert (row["target_kind"], row["target_id"], row["verdict"], row["analyst"]) == \
        ("account", account, "confirmed", "playwright")
    assert "relay campaign" in row["note"] and pd.notna(row["at"])
    prompts = W.requests_with_assignments(ws, [account]).to_pandas()["prompt"]
    server_log = (root.parent / "app.log").read_text()
    assert not any(p[:40] in server_log for p in prompts if len(p) >= 40)  # no prompt text in the logs
