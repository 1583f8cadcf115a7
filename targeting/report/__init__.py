"""The policy report: which capability areas are targeted, by how many actors, with how much
volume, how it is changing and how sure we are.

``build_report`` (data.py) gathers the figures through ``targeting.summaries``, the same
functions the analyst app shows; ``render`` formats them; charts.py draws the PNGs. Entry
points:

* ``render_report(ws, "html", ...) -> str``: one self-contained HTML page;
* ``render_report(ws, "md", ...) -> bytes``: a zip of ``report.md`` and its chart folder
  (a Markdown file alone cannot carry its charts); what the app offers for download;
* ``write_report(ws, out, ...) -> list[Path]``: the command line's writer (.html, or .md
  with a ``<name>_files/`` folder of charts beside it).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from targeting import workspace as W
from targeting.exports import write_file
from targeting.report.data import ReportData, build_report
from targeting.report.render import (
    FORMATS,
    Format,
    assets_dir_name,
    format_for,
    make_charts,
    markdown_zip,
    render_html,
    render_markdown,
)

__all__ = [
    "FORMATS", "ReportData", "build_report", "format_for", "render_html", "render_markdown", "render_report",
    "write_report",
]


def render_report(
    ws: W.Workspace,
    fmt: Format = "html",
    start: date | None = None,
    end: date | None = None,
    include_examples: bool = False,
    *,
    now: datetime | None = None,
) -> str | bytes:
    """The report of the scored nights between ``start`` and ``end``: HTML text, or for
    ``fmt="md"`` the bytes of a zip holding ``report.md`` and ``report_files/*.png``.

    Prompts are redacted unless ``include_examples``. Raises ValueError for an unknown
    format or a period without scored nights.
    """
    if fmt not in FORMATS:
        raise ValueError(f"report format {fmt!r}: use one of {', '.join(FORMATS)}")
    data = build_report(ws, start, end, include_examples=include_examples, now=now)
    return render_html(data) if fmt == "html" else markdown_zip(data)


def write_report(
    ws: W.Workspace,
    out: Path,
    start: date | None = None,
    end: date | None = None,
    include_examples: bool = False,
    *,
    now: datetime | None = None,
) -> list[Path]:
    """Write the report to ``out`` (format from its extension); returns the files written.

    Files are created readable by their owner only: the report quotes customers' prompts.
    """
    fmt = format_for(out)
    data = build_report(ws, start, end, include_examples=include_examples, now=now)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        _write(out, render_html(data).encode("utf-8"))
        return [out]
    assets = assets_dir_name(out)
    text, files = render_markdown(data, assets, make_charts(data))
    written = []
    folder = out.parent / assets
    if files:
        folder.mkdir(exist_ok=True)
    for name, png in sorted(files.items()):
        _write(folder / name, png)
        written.append(folder / name)
    _write(out, text.encode("utf-8"))
    return [out, *written]


def _write(path: Path, data: bytes) -> None:
    """Atomically, owner-only, never through a symlink (``exports.write_file``)."""
    write_file(path, lambda handle: handle.write(data))
