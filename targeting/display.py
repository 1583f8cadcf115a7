"""Text written by the watched, made safe to show: one rule for the terminal, Markdown and the app.

Account ids, prompts, reasons and notes may hold escape sequences (``ESC[31m`` recolours or
clears a terminal), bidi overrides (U+202E reverses what follows), zero-width and no-break
spaces (two ids that look the same). ``safe_text`` shows every character Python does not
count as printable (Unicode categories Cc, Cf, Cs, Co, Cn, Zl, Zp, and Zs except the plain
space) as its escape, ``\\x1b``, ``\\u202e``, ``\\xa0``, the way ``repr`` writes it; all
other characters are kept. A backslash is not escaped, so the rule is idempotent
(``safe_text(safe_text(s)) == safe_text(s)``).

``code_span`` puts such text in a Markdown inline code span that a backtick in the text
cannot close early (the app's ``st.markdown`` lines that name an id).
"""

from __future__ import annotations

import re
from typing import Any


def _escape(ch: str) -> str:
    """``ch`` as ``repr`` escapes it: ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``."""
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(text: Any, *, keep: str = "") -> str:
    """``str(text)`` with every non-printable character but a space escaped (``\\x1b``,
    ``\\u202e``); the characters in ``keep`` (e.g. ``"\\n"`` in a code block) are left as they are."""
    out = str(text)
    if out.isprintable() and not keep:
        return out
    return "".join(ch if ch.isprintable() or ch in keep else _escape(ch) for ch in out)


def code_span(text: Any) -> str:
    """A Markdown inline code span showing ``safe_text(text)`` literally: its fence is one
    backtick longer than the longest backtick run inside, padded with spaces when needed."""
    shown = safe_text(text)
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    if not longest:
        return f"`{shown}`" if shown else "` `"
    fence = "`" * (longest + 1)
    return f"{fence} {shown} {fence}"
