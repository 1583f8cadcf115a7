"""Format a ``ReportData`` as self-contained HTML or as Markdown with chart files.

HTML embeds its charts as ``data:`` URIs and its style inline, so the file opens offline
and loads nothing from the network (no scripts, fonts or images from elsewhere). Markdown
refers to its charts as PNG files in a folder beside it (``<name>_files/``).
"""

from __future__ import annotations

import base64
import io
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from targeting.display import safe_text
from targeting.report import charts as C
from targeting.report.data import MAX_LONE_ACCOUNTS, ReportData, markdown_safe

TEMPLATES = Path(__file__).parent / "templates"
FORMATS = ("html", "md")
Format = Literal["html", "md"]

EVAL_ROWS = (
    ("accounts", "labelled accounts scored"),
    ("attackers", "attacker accounts among them"),
    ("auroc", "account-level AUROC"),
    ("auprc", "account-level AUPRC"),
    ("recall_at_1pct_fpr", "recall at 1% false-positive rate"),
    ("flag_recall", "recall of the flag"),
    ("flag_fpr", "false-positive rate of the flag"),
    ("dominant_area_accuracy", "area accuracy on attackers"),
    ("campaign_ari", "campaign grouping (adjusted Rand index)"),
)
CHANGE_ROWS = (
    ("newly_flagged", "accounts newly flagged"),
    ("no_longer_flagged", "accounts no longer flagged"),
    ("new_campaign", "new campaigns"),
    ("ended_campaign", "campaigns no longer seen"),
    ("score_rise", "large score rises (+0.15 or more)"),
)


@dataclass(frozen=True)
class Charts:
    """PNG bytes of each chart: the overview trend, severities, one per area targeted in the period."""

    trend: bytes | None
    severity: bytes | None
    areas: dict[str, bytes]
    campaigns: dict[str, bytes] = field(default_factory=dict)  # campaign id -> beside-typical map

    def campaign_file(self, campaign_id: str) -> str:
        """The file name of a campaign's map: its place in the report, never its id (ids come
        from the logs' account names)."""
        return f"campaign-{list(self.campaigns).index(campaign_id) + 1}.png"

    def files(self) -> dict[str, bytes]:
        out = {"trend.png": self.trend, "severity.png": self.severity}
        out.update({f"area-{a}.png": png for a, png in self.areas.items()})
        out.update({self.campaign_file(c): png for c, png in self.campaigns.items()})
        return {name: png for name, png in out.items() if png is not None}


def make_charts(r: ReportData) -> Charts:
    targeted = [a for a in r.areas if a.targeted]  # flagged on some night of the period
    areas = [a.area for a in targeted]
    return Charts(
        trend=C.trend_chart(r.trend, areas) if areas else None,
        severity=C.severity_chart(r.area_table) if r.headline.get("n_flagged") else None,
        areas={a.area: C.area_trend_chart(a.trend, a.area, i) for i, a in enumerate(targeted)},
        campaigns={c.campaign_id: C.beside_map_chart(c.beside.background, c.beside.subject, c.beside.typical,
                                                     (c.beside.subject_title, c.beside.typical_title),
                                                     [a.area for a in r.areas])
                   for c in r.campaigns if c.beside is not None},
    )


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _day(value: Any) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


def _codeblock(text: str) -> str:
    """A fenced Markdown code block of ``text`` (control and format characters but newline and
    tab shown escaped: ``safe_text``) whose fence is longer than any backtick run in it."""
    text = safe_text(text, keep="\n\t")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _shown(text: Any, keep: str = "") -> str:
    """``safe_text(text)``: what every output shows of text from the logs (``\\x1b``, ``\\u202e``)."""
    return safe_text(text, keep=keep)


def environment(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=html,  # always for HTML: prompts are untrusted text (template names end in .j2)
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    # shown: text from the logs (ids, verdicts, evidence, prompts) with control and format
    # characters escaped (``safe_text``), the rule of the terminal and Markdown; HTML escaping follows
    env.filters.update(fmt=_fmt, day=_day, md=markdown_safe, codeblock=_codeblock, shown=_shown)
    return env


def data_uri(png: bytes | None) -> str | None:
    return None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(r: ReportData, charts: Charts | None = None) -> str:
    """The report as one self-contained HTML page."""
    charts = charts or make_charts(r)
    uris = {"trend": data_uri(charts.trend), "severity": data_uri(charts.severity),
            "areas": {a: data_uri(png) for a, png in charts.areas.items()}}
    uris["areas"].update({a.area: None for a in r.areas if a.area not in uris["areas"]})
    uris["campaigns"] = {c.campaign_id: data_uri(charts.campaigns.get(c.campaign_id)) for c in r.campaigns}
    template = environment(html=True).get_template("report.html.j2")
    return template.render(r=r, h=r.headline, charts=uris, eval_rows=EVAL_ROWS, change_rows=CHANGE_ROWS,
                           max_lone=MAX_LONE_ACCOUNTS)


def render_markdown(r: ReportData, assets: str, charts: Charts | None = None) -> tuple[str, dict[str, bytes]]:
    """The report as Markdown whose charts are ``assets/NAME.png``, and those files' bytes."""
    charts = charts or make_charts(r)
    files = charts.files()
    link = {name: f"{assets}/{name}" for name in files}
    refs = {"trend": link.get("trend.png"), "severity": link.get("severity.png"),
            "areas": {a.area: link.get(f"area-{a.area}.png") for a in r.areas},
            "campaigns": {c.campaign_id: link.get(charts.campaign_file(c.campaign_id)) if c.campaign_id in charts.campaigns
                          else None for c in r.campaigns}}
    template = environment(html=False).get_template("report.md.j2")
    text = template.render(r=r, h=r.headline, charts=refs, eval_rows=EVAL_ROWS, change_rows=CHANGE_ROWS,
                           max_lone=MAX_LONE_ACCOUNTS)
    return text, files


def assets_dir_name(out: Path) -> str:
    """The folder beside a Markdown report that holds its charts."""
    return f"{out.stem}_files"


def markdown_zip(r: ReportData, name: str = "report") -> bytes:
    """``name.md`` and its chart folder in one zip archive (what a download button offers)."""
    text, files = render_markdown(r, f"{name}_files")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.md", text)
        for fname, png in sorted(files.items()):
            zf.writestr(f"{name}_files/{fname}", png)
    return buf.getvalue()


def format_for(out: Path) -> Format:
    """The report format a file name asks for (.html/.htm or .md/.markdown)."""
    suffix = out.suffix.lower()
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "md"
    raise ValueError(f"{out}: use a .html or .md file name")
