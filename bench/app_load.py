"""How fast the analyst app's pages load on a large workspace (100,000 requests, 5,000 accounts; or 1M).

The workspace is built once (or reused with ``--workspace``) from generated traffic through
the real pipeline, with the tests' hashing encoder (``tests/app_workspace.py``) in place of
the embedding model: the app reads vectors but never embeds (except a search query, not
timed here), and embedding 100,000 requests with MiniLM would take half an hour on 2 cores.
Two extra nightly runs (``--nights``; 14-day windows, so every account and request is
scored) give the Overview its trend.

Each page is run with ``streamlit.testing.v1.AppTest``, the way Streamlit runs it for a
browser session, minus the browser: the time is the page script's, from the rerun request
to the last element sent. "first" is a new session with empty caches (process start
excluded); "next" is the median of ``--repeat`` reruns in new sessions once the caches hold
the run (what an analyst waits for after the first visit). Detail views are timed with a
selection: the top flagged account, the busiest cluster, the largest flagged campaign.

    .venv/bin/python bench/app_load.py --workspace /tmp/app-bench [--browser]   # builds it if missing
    .venv/bin/python bench/app_load.py --workspace /tmp/app1m --accounts 20000 --volume 1.0 --nights 0   # ~1M requests

At a million requests the build (through the same pipeline) takes about 25 minutes on 2
cores (its scoring stage alone 15 minutes); ``--nights 0`` skips the two nightly rescorings of
the fortnight (each a scoring stage of its own, not measured here), so the Overview has one night and no trend; the run
scores every request already, and the other pages never need a previous night.

``--browser`` also times the pages through ``targeting app`` in headless Chromium (Debian's
/usr/bin/chromium), rendering included.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the hashing encoder and the workspace builder

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from targeting import workspace as W  # noqa: E402

APP = ROOT / "app.py"
TIMEOUT_S = 600
WINDOW_DAYS = 14  # nightly runs over the whole generated fortnight: every account and request is scored
# A generous budget: with the hashing encoder the detector's threshold on this traffic was
# 1.0 at a 5% budget (nothing flagged) and 0.48 at 30% (135 of 5,000 flagged). The pages must
# be timed with flagged accounts and campaigns to show; the budget moves the threshold only.
FP_BUDGET = 0.3


def build_if_missing(path: Path, accounts: int, volume: float, nights: int = 2) -> Path:
    from app_workspace import NIGHTS, build

    ws = path / "workspace"
    if (ws / "state.json").exists():
        return ws
    path.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"building a workspace of {accounts:,} accounts (volume x{volume}) in {path} ...", flush=True)
    build(path, accounts=accounts, volume=volume, fp_budget=FP_BUDGET, window_days=WINDOW_DAYS,
          nights=NIGHTS[len(NIGHTS) - nights:] if nights else ())
    print(f"built in {time.perf_counter() - started:.0f}s", flush=True)
    return ws


def load(ws: Path, page: str, state: dict[str, str]) -> float:
    """Seconds for one page load in a new session (caches as they are)."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.session_state["workspace"] = str(ws)
    for key, value in state.items():
        at.session_state[key] = value
    at.switch_page(f"targeting/app/pages/{page}.py")
    started = time.perf_counter()
    at.run()
    took = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {at.exception[0].value}")
    return took


def browser_loads(ws: Path, repeat: int) -> list[dict[str, object]]:
    """The same pages through `targeting app` in headless Chromium: from navigation until the
    page's rerun has finished and its charts and tables are on screen. The first visit of
    each page is after a server start (empty caches); next visits open the page in a new tab."""
    import os
    import socket
    import subprocess
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, STREAMLIT_SERVER_HEADLESS="true", STREAMLIT_SERVER_FILE_WATCHER_TYPE="none")
    proc = subprocess.Popen([sys.executable, "-m", "targeting.cli", "app", "--workspace", str(ws), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    rows: list[dict[str, object]] = []
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            try:
                for path, title in (("", "Overview"), ("map", "Capability map"), ("accounts", "Accounts"),
                                    ("campaigns", "Campaigns"), ("review", "Review")):
                    times = []
                    for _ in range(repeat + 1):
                        page = browser.new_page(viewport={"width": 1400, "height": 900})
                        started = time.perf_counter()
                        page.goto(f"{url}/{path}")
                        page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
                        page.wait_for_timeout(200)
                        page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=120_000)
                        for selector in ('[data-testid="stVegaLiteChart"]', '[data-testid="stDataFrame"]'):
                            if page.locator(selector).count():
                                page.locator(selector).first.wait_for(state="visible", timeout=120_000)
                        times.append(time.perf_counter() - started - 0.2)
                        page.close()
                    rows.append({"page": f"{title} (browser)", "first load (s)": round(times[0], 2),
                                 "next loads (s, median)": round(statistics.median(times[1:]), 2)})
                    print(f"  {title + ' (browser)':<36} first {times[0]:6.2f}s   next {statistics.median(times[1:]):5.2f}s",
                          flush=True)
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/app-bench"), help="Folder (built if empty).")
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--volume", type=float, default=0.4, help="Requests per account, x the generator's default.")
    parser.add_argument("--nights", type=int, default=2, choices=(0, 1, 2),
                        help="Nightly runs after the first run (they give the Overview its trend; 0 at 1M requests, "
                             "where each rescoring of the fortnight takes a quarter of an hour).")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--browser", action="store_true", help="Also time the pages in headless Chromium.")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # Streamlit's bare-mode warnings
    ws = build_if_missing(args.workspace, args.accounts, args.volume, args.nights)
    scores = W.read_latest_scores(W.open_workspace(ws)).to_pandas()
    flagged = scores[scores["flagged"]].sort_values("risk_score", ascending=False)
    top = str((flagged if len(flagged) else scores.sort_values("risk_score", ascending=False)).iloc[0]["account_id"])
    camps = flagged.loc[flagged["campaign_id"] != "", "campaign_id"].value_counts()
    counts = W.read_assignments(W.open_workspace(ws), ["cluster_id"]).to_pandas()["cluster_id"].value_counts()
    print(f"workspace {ws}: {int(scores['n_requests'].sum()):,} requests scored, {len(scores):,} accounts, "
          f"{len(flagged):,} flagged, {len(camps):,} flagged campaigns")
    views = [
        ("overview", "Overview", {}),
        ("map", "Capability map", {}),
        ("map", "Capability map, a cluster selected", {"selected_cluster": str(counts.index[0])}),
        ("accounts", "Accounts (table)", {}),
        ("accounts", "Accounts, an account selected", {"selected_account": top}),
        ("campaigns", "Campaigns", {}),
        ("review", "Review", {}),
    ]
    if len(camps):
        views.insert(6, ("campaigns", "Campaigns, a campaign selected", {"selected_campaign": str(camps.index[0])}))
    rows = []
    for page, label, state in views:
        st.cache_data.clear()
        st.cache_resource.clear()
        first = load(ws, page, state)
        nxt = statistics.median(load(ws, page, state) for _ in range(args.repeat))
        rows.append({"page": label, "first load (s)": round(first, 2), "next loads (s, median)": round(nxt, 2)})
        print(f"  {label:<36} first {first:6.2f}s   next {nxt:5.2f}s", flush=True)
    if args.browser:
        rows += browser_loads(ws, args.repeat)
    print()
    print(pd.DataFrame(rows).to_markdown(index=False) if _has_tabulate() else pd.DataFrame(rows).to_string(index=False))


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
