"""Text written by the watched is shown escaped: terminal, Markdown report, the app's code spans."""

from __future__ import annotations

import unicodedata
from types import SimpleNamespace

import pyarrow as pa
import pytest
from markdown_it import MarkdownIt

from targeting import cli
from targeting import workspace as W
from targeting.display import code_span, safe_text

HOSTILE_ID = "evil\x1b[31mred\u202eusr\u200b\u00a0x"


def _unsafe(text: str) -> list[str]:
    """Control and format characters (and other non-printables but space) left in ``text``."""
    return [ch for ch in text if not ch.isprintable() and ch not in "\n"]


def test_safe_text_escapes_control_and_format_characters_and_keeps_the_rest():
    assert safe_text("a\x1b[31mb") == "a\\x1b[31mb"
    assert safe_text("x\u202ey") == "x\\u202ey"
    assert safe_text("a\u200bb") == "a\\u200bb"
    assert safe_text("nbsp\u00a0id") == "nbsp\\xa0id"
    assert safe_text("line\nbreak\ttab") == "line\\nbreak\\ttab"
    assert safe_text("line\nbreak\ttab", keep="\n\t") == "line\nbreak\ttab"
    assert safe_text("\U000e0041") == "\\U000e0041"  # a tag character (Cf) outside the BMP
    assert safe_text("héllo wörld — ok, 数学 \u0301") == "héllo wörld — ok, 数学 \u0301"
    assert safe_text(None) == "None" and safe_text(7) == "7"
    once = safe_text(HOSTILE_ID)
    assert safe_text(once) == once and not _unsafe(once)


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "`lead", "trail`", "a\nb", HOSTILE_ID, "<b>x</b>", "$x$"])
def test_code_span_is_one_code_element_showing_the_escaped_text(text):
    html = MarkdownIt("commonmark").renderInline(f"**Verdict on account {code_span(text)}** tail")
    assert html.count("<code>") == 1 and html.endswith("</strong> tail")
    inner = html.split("<code>", 1)[1].split("</code>", 1)[0]
    unescaped = inner.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    assert unescaped == safe_text(text)


def _fake_workspace(monkeypatch, tmp_path, account: str):
    root = tmp_path / "ws"
    root.mkdir()
    scores = pa.table({"account_id": [account], "risk_score": [0.9], "flagged": [True], "severity": ["high"],
                       "reasons": [f"shares a template with {account}"]})
    monkeypatch.setattr(W, "read_latest_scores", lambda ws: scores)
    seen = {}

    def evidence(ws, account_id, examples=3):
        if account_id != account:
            raise KeyError(f"account {account_id!r} is not in the latest scores")
        seen["account"] = account_id
        return [SimpleNamespace(kind="wrapper", summary=f"fixed start \u202e{account}",
                                examples=["p\u202eq\x1b]0;title\x07 line1\nline2"])]

    import targeting.evidence

    monkeypatch.setattr(targeting.evidence, "account_evidence", evidence)
    return root, seen


def test_explain_escapes_the_id_reasons_and_prompts(monkeypatch, tmp_path, capsys):
    root, _ = _fake_workspace(monkeypatch, tmp_path, HOSTILE_ID)
    assert cli.main(["explain", HOSTILE_ID, "--workspace", str(root)]) == 0
    out = capsys.readouterr().out
    assert not _unsafe(out), [unicodedata.name(c, hex(ord(c))) for c in _unsafe(out)]
    assert safe_text(HOSTILE_ID) in out and "\\x1b]0;title\\x07" in out


def test_explain_finds_an_id_typed_in_another_normal_form(monkeypatch, tmp_path, capsys):
    root, seen = _fake_workspace(monkeypatch, tmp_path, "\u00e9t")
    assert cli.main(["explain", "e\u0301t ", "--workspace", str(root)]) == 0
    assert seen["account"] == "\u00e9t"


def test_an_error_naming_a_hostile_id_is_one_escaped_line(monkeypatch, tmp_path, capsys):
    root, _ = _fake_workspace(monkeypatch, tmp_path, "someone")
    assert cli.main(["explain", "x\x1b[2J\ny\u202e", "--workspace", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and not _unsafe(err)
    assert "\\x1b[2J" in err


def test_the_error_boundary_escapes_what_a_message_echoes(tmp_path, capsys):
    missing = tmp_path / "x\x1b[2Jy\u202ez"
    assert cli.main(["export", "accounts", "--workspace", str(missing), "--out", str(tmp_path / "a.csv")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and not _unsafe(err) and "x\\x1b[2Jy\\u202ez" in err


def test_markdown_report_filters_escape_control_and_format_characters():
    from targeting.report.data import markdown_safe
    from targeting.report.render import _codeblock

    cell = markdown_safe(HOSTILE_ID + "|`x`")
    assert not _unsafe(cell) and "\\|" in cell and "\\`" in cell
    block = _codeblock("first \u202eline\nsecond \x1b[31m")
    assert not _unsafe(block) and "\nsecond \\x1b[31m\n" in block and "first \\u202eline" in block


def test_the_app_puts_ids_in_code_spans_and_escapes_selectbox_labels():
    from pathlib import Path

    import targeting.app.widgets as ui

    pages = Path(ui.__file__).parent
    for path in [pages / "widgets.py", *sorted((pages / "pages").glob("*.py"))]:
        source = path.read_text()
        for needle in ("`{target_id}`", "`{account}`", "`{campaign}`", "`{cluster}`"):
            assert needle not in source, (path.name, needle)
    assert ui.synced_selectbox.__defaults__[0] is safe_text
