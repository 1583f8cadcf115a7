"""The policy report: its figures against a workspace with known campaigns, self-containment,
redaction, the command, and a real headless Chromium rendering the HTML.

Set TARGETING_REPORT_WS to a real workspace to render that one in the browser test instead
of the constructed one, and TARGETING_REPORT_SCREENSHOT to keep the screenshot (that is how
docs/screenshots/report.png is made; see the README's "Policy report").
"""

import io
import os
import re
import zipfile
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from policy_workspace import EXPECTED, NIGHTS, build
from targeting import summaries as SM
from targeting import workspace as W
from targeting.cli import main
from targeting.report import build_report, render_html, render_report, write_report
from targeting.report.data import REFERENCE_EVALUATION

NOW = datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return build(tmp_path_factory.mktemp("report") / "ws")


@pytest.fixture(scope="module")
def html(ws):
    return render_report(ws, "html", now=NOW)


class _Refs(HTMLParser):
    """Every URL-bearing attribute and every tag of a page."""

    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href", "srcset", "action", "data", "poster")]


def test_report_figures_match_the_workspace(ws):
    r = build_report(ws, now=NOW)
    assert r.as_of == NIGHTS[1] and r.previous_as_of == NIGHTS[0] and r.nights == list(NIGHTS)
    assert r.headline == SM.headline(SM.latest_scores(ws))  # the app's function, the same figures
    h = r.headline
    assert (h["n_flagged"], h["n_campaigns"], h["n_actors"]) == (EXPECTED["n_flagged"], 2, 3)
    # every area of the taxonomy: the targeted ones, then "other", measured with no traffic at all
    assert [a.area for a in r.areas] == ["reasoning", "tool_use", "agentic_coding", "other"]
    assert [a.targeted for a in r.areas] == [True, True, True, False]
    reasoning = r.areas[0]
    assert (reasoning.flagged_accounts, reasoning.flagged_requests, reasoning.actors) == (4, 40, 1)
    assert reasoning.clusters["cluster_id"].tolist() == ["r0", "r1", "r2"]
    assert [c.campaign_id for c in r.campaigns] == ["kAAAA", "kBBBB"]  # flagged campaigns, by volume
    a = r.campaigns[0]
    # first seen: the members' earliest scored request, on the first night, not the latest window's start
    assert (a.n_accounts, a.n_requests, a.flagged_members, a.first_seen, a.max_severity) == (4, 40, 4, NIGHTS[0], "critical")
    assert a.coverage == pytest.approx(0.75) and len(a.examples) == 2
    # on the map beside as many ordinary reasoning accounts of about its volume; the tool-use
    # campaign has no ordinary account of its area to stand beside
    assert a.beside is not None and a.beside.subject_title == "The campaign: its 4 accounts"
    assert a.beside.typical_title == "4 typical accounts of reasoning, about 10 requests each"
    assert r.campaigns[1].beside is None
    assert r.lone_accounts["account_id"].tolist() == ["solo"]
    assert r.change_counts == {"newly_flagged": 3, "new_campaign": 1, "score_rise": 3}
    assert "kBBBB" in r.biggest_change
    assert r.threshold == pytest.approx(0.5) and r.fp_budget == pytest.approx(0.01)


def test_html_states_the_figures_in_words(html):
    text = re.sub(r"<[^>]+>", " ", html)
    text = re.sub(r"\s+", " ", text)
    assert f"{EXPECTED['n_flagged']} accounts of {EXPECTED['n_accounts']} active were flagged" in text
    assert "operated by 3 actors: 2 coordinated campaigns and 1 single account" in text
    assert "reasoning (1 actor, 4 accounts, 40 requests); tool use (1 actor, 3 accounts, 30 requests)" in text
    assert f"{EXPECTED['flagged_requests']} of {EXPECTED['n_requests']} requests" in text
    assert f"{100 * EXPECTED['flagged_requests'] / EXPECTED['n_requests']:.1f}% of API volume" in text
    assert f"Biggest change (compared with {NIGHTS[0]}): A tool use campaign (kBBBB" in text
    for heading in ("1. Executive summary", "2. Capability areas", "3. Campaigns", "4. Method and caveats"):
        assert heading in text
    assert "probability, dice, coin" in text  # sub-topics by keywords
    assert "ToolBot" in text and "issue_refund, lookup_order" in text  # evidence in words
    assert "75% (3 clusters reached; the area has 4)" in text


def test_every_area_is_listed_and_one_with_nothing_flagged_says_what_was_measured(ws, tmp_path):
    """Night 1: tool use has traffic (campaign kBBBB, 3 accounts, 30 requests) but nothing flagged,
    and "other" has no traffic at all; both appear, with their counts, in HTML and Markdown."""
    r = build_report(ws, end=date.fromisoformat(NIGHTS[0]), now=NOW)
    tool = next(a for a in r.areas if a.area == "tool_use")
    assert (tool.accounts, tool.requests, tool.flagged_accounts, tool.campaigns) == (3, 30, 0, 0)
    assert tool.sentence == f"3 accounts, 30 requests measured in the scoring window of {NIGHTS[0]}; none flagged."
    other = next(a for a in r.areas if a.area == "other")
    assert other.sentence.startswith("0 accounts, 0 requests measured") and other.sentence.endswith("none flagged.")
    measured = "Areas measured with no account flagged: tool use (3 accounts, 30 requests); other (0 accounts, 0 requests)."
    assert measured in r.summary
    table = SM.area_severity_counts(SM.night(SM.score_history(ws), NIGHTS[0]), SM.capability_areas(ws))
    assert {a.area: (a.accounts, a.requests) for a in r.areas} == {
        a: (int(row["accounts"]), int(row["requests"])) for a, row in table.iterrows()}  # the summaries' numbers
    html = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", render_html(r)))
    assert measured in html and tool.sentence in html and "Tool use" in html and "Other" in html
    out = tmp_path / "first.md"
    write_report(ws, out, end=date.fromisoformat(NIGHTS[0]), now=NOW)
    text = out.read_text()
    assert "### Tool use" in text and "### Other" in text and tool.sentence in text
    assert "| tool use | 3 | 30 | 0 | 0 | 0 | 0 |" in text
    assert not any("tool_use" in p.name or "other" in p.name for p in (tmp_path / "first_files").iterdir())


def test_html_is_self_contained(html):
    parser = _Refs()
    parser.feed(html)
    assert {"script", "link", "iframe", "object", "embed", "base"}.isdisjoint(parser.tags)
    assert parser.refs, "the charts are images"
    for tag, attr, value in parser.refs:
        assert value.startswith("data:image/png;base64,") or value.startswith("#"), (tag, attr, value[:60])
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|url\(|@import", html, re.I)
    assert html.count("<img") >= 5  # trend, severity and one per targeted area


def test_prompts_are_redacted_by_default_and_escaped(ws, html):
    assert "corp.example.com" not in html and "[email]" in html
    assert "<reasoning>" not in html and "&lt;reasoning&gt;" in html  # quoted prompt text is escaped
    assert "are redacted" in html
    full = render_report(ws, "html", include_examples=True, now=NOW)
    assert re.search(r"ops\.a\d@corp\.example\.com", full)
    assert "unredacted" in full


def test_example_prompts_are_at_most_two_and_short(ws):
    for c in build_report(ws, now=NOW).campaigns:
        assert len(c.examples) <= 2 and all(len(x) <= 240 for x in c.examples)


def test_markdown_report_writes_its_charts_beside_it(ws, tmp_path):
    out = tmp_path / "policy.md"
    written = write_report(ws, out, now=NOW)
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all((tmp_path / link).is_file() for link in links)
    assert {p.name for p in written[1:]} == {Path(link).name for link in links}
    assert all(link.startswith("policy_files/") for link in links)
    assert "policy_files/campaign-1.png" in links and "policy_files/campaign-2.png" not in links  # kBBBB has none
    assert "corp.example.com" not in text and "\\<reasoning\\>" in text
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    archive = zipfile.ZipFile(io.BytesIO(render_report(ws, "md", now=NOW)))
    names = archive.namelist()
    assert "report.md" in names and any(n.startswith("report_files/") and n.endswith(".png") for n in names)


def test_period_filters_nights(ws):
    first = build_report(ws, end=date.fromisoformat(NIGHTS[0]), now=NOW)
    assert first.as_of == NIGHTS[0] and first.previous_as_of is None
    assert first.headline["n_flagged"] == EXPECTED["night1_flagged"]
    assert first.biggest_change == "No earlier scored night to compare with."
    assert [a.area for a in first.areas] == ["reasoning", "agentic_coding", "tool_use", "other"]
    second = build_report(ws, start=date.fromisoformat(NIGHTS[1]), now=NOW)
    assert second.nights == [NIGHTS[1]] and second.previous_as_of == NIGHTS[0]  # compared with the night before
    with pytest.raises(ValueError):
        build_report(ws, start=date(2030, 1, 1))


def test_verdicts_appear_on_their_campaign(tmp_path):
    verdicts = pytest.importorskip("targeting.verdicts")
    ws = build(tmp_path / "ws")
    verdicts.record_verdict(ws, target_kind="campaign", target_id="kAAAA", verdict="confirmed",
                            note="same operator as ticket 4821; mail ops@corp.example.com", analyst="alice")
    r = build_report(ws, now=NOW)
    text = r.campaigns[0].verdict
    assert text.startswith("confirmed by alice") and "[email]" in text and "corp.example.com" not in text
    assert r.campaigns[1].verdict == ""
    assert r.verdict_counts == {"confirmed": 1}


def test_evaluation_is_cited_or_its_absence_stated(ws, tmp_path, html):
    assert "No labelled evaluation is recorded for this workspace" in html
    for _, _, value in REFERENCE_EVALUATION:
        assert value in html
    other = build(tmp_path / "ws")
    W.write_json(other.evaluation_path, {"metrics": {"auroc": 0.9123, "recall_at_1pct_fpr": 0.75, "flag_fpr": 0.004},
                                         "labels": "labels.parquet", "as_of": NIGHTS[1]})
    cited = render_report(other, "html", now=NOW)
    assert "No labelled evaluation is recorded" not in cited
    assert "0.912" in cited and "0.750" in cited and "labels.parquet" in cited


def test_reference_figures_are_the_readme_figures():
    readme = README.read_text()
    section = readme[readme.index("### Detection quality"):]
    for _, _, value in REFERENCE_EVALUATION:
        assert value in section, f"README no longer states {value}: update REFERENCE_EVALUATION"


def test_report_command(ws, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", "--workspace", str(ws.root), "--out", str(out), "--from", NIGHTS[0]]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", "--workspace", str(ws.root), "--out", str(tmp_path / "r.pdf")]) == 2
    assert main(["report", "--workspace", str(ws.root), "--out", str(out), "--from", NIGHTS[1], "--to", NIGHTS[0]]) == 2
    assert main(["report", "--workspace", str(ws.root), "--out", str(out), "--to", "yesterday"]) == 2
    assert main(["report", "--workspace", str(tmp_path / "none"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "use a .html or .md file name" in err and "not a date" in err


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_report_renders_offline_in_headless_chromium(ws, tmp_path):
    """Open the HTML in a real browser: nothing is fetched, every chart decodes, text is there."""
    sync_api = pytest.importorskip("playwright.sync_api")
    real = os.environ.get("TARGETING_REPORT_WS")
    source = W.open_workspace(real) if real else ws
    page_path = tmp_path / "report.html"
    write_report(source, page_path, now=None if real else NOW)
    shot = Path(os.environ.get("TARGETING_REPORT_SCREENSHOT") or tmp_path / "report.png")
    requests = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.on("request", lambda req: requests.append(req.url))
            page.goto(page_path.as_uri(), wait_until="load")
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
            body = page.inner_text("body")
            page.screenshot(path=str(shot), full_page=False)
        finally:
            browser.close()
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert images and all(done and width > 100 for done, width in images)
    assert "Executive summary" in body and "Method and caveats" in body
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_markdown_code_blocks_outlast_backticks_in_prompts():
    from targeting.report.render import _codeblock

    block = _codeblock("run ```python\nx = 1\n``` and ````")
    fence = block.split("text", 1)[0]
    assert fence == "`" * 5 and block.endswith("\n" + fence)
    assert _codeblock("plain").startswith("```text\n")


HOSTILE_ID = "<script>alert(1)</script>\x1b[31m\u202eevil"


def test_hostile_ids_are_shown_escaped_in_html_and_markdown(ws):
    """Account and campaign ids (and verdicts) go through ``safe_text`` in both formats, then
    HTML escaping: no tag, no escape sequence, no bidi override reaches the page."""
    from dataclasses import replace

    from targeting.report.render import render_html, render_markdown

    r = build_report(ws, now=NOW)
    assert r.campaigns and len(r.lone_accounts)
    lone = r.lone_accounts.copy()
    lone["account_id"] = HOSTILE_ID
    lone["verdict"] = "dismissed " + HOSTILE_ID
    campaigns = [replace(c, campaign_id=HOSTILE_ID, verdict=HOSTILE_ID, evidence=[HOSTILE_ID]) for c in r.campaigns]
    other = r.other_campaigns.copy()
    if len(other):
        other["campaign_id"] = HOSTILE_ID
    hostile = replace(r, lone_accounts=lone, campaigns=campaigns, other_campaigns=other)
    page = render_html(hostile)
    markdown, _ = render_markdown(hostile, "report_files")
    for text in (page, markdown):
        assert "\x1b" not in text and "\u202e" not in text
        assert "\\x1b" in text and "\\u202eevil" in text
    assert "\\x1b[31m" in page and "\\x1b\\[31m" in markdown  # Markdown escapes the bracket too
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'id="campaign-&lt;script&gt;' in page  # the attribute is escaped too
    assert "<script>" not in markdown and "\\<script\\>" in markdown
