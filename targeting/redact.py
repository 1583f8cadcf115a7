"""Mask personal data and secrets in prompt text before it leaves the analysts' tools.

Reports travel further than the workspace (policy teams, e-mail, slides), so the prompts
quoted in them are redacted by default: e-mail addresses, URLs, API keys and tokens
(known prefixes, ``key=value`` secrets, bearer tokens, JWTs and long random-looking
strings) and long numbers (phone, card, account numbers) become bracketed labels such as
``[email]``. Redaction is deliberately greedy: masking a harmless long identifier costs
little, leaking a customer's key costs a lot. It is idempotent (the labels match no
pattern), so text redacted twice reads the same.
"""

from __future__ import annotations

import re
from typing import Callable, Match

URL_LABEL, EMAIL_LABEL, KEY_LABEL, NUMBER_LABEL, IP_LABEL = "[url]", "[email]", "[key]", "[number]", "[ip]"
MIN_NUMBER_DIGITS = 7  # shorter numbers (years, amounts, small figures in maths problems) stay
MIN_RANDOM_TOKEN = 20  # a letters+digits run this long is taken for a key or a token
_TRAILING = ".,;:!?)]}'\"”’>"  # punctuation that ends a sentence rather than a URL

_URL = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>\"'`]+")
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[A-Za-z0-9](?:[\w-]*[A-Za-z0-9])?(?:\.[\w-]+)+")
_ASSIGNED_SECRET = re.compile(
    r"(?i)\b((?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password|passwd|pwd)"
    r"\s*[:=]\s*)(\"[^\"\n]*\"|'[^'\n]*'|[^\s,;]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_KNOWN_KEYS = re.compile(
    r"\b(?:"
    r"(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"  # OpenAI / Anthropic / Stripe style
    r"|AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[0-9A-Za-z_-]{30,}"  # Google
    r"|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"  # JWT
    r")"
)
_RANDOM_TOKEN = re.compile(rf"[A-Za-z0-9_+/=-]{{{MIN_RANDOM_TOKEN},}}")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_LONG_NUMBER = re.compile(r"\+?\d(?:[ .()-]{0,2}\d)+")


def _url(match: Match[str]) -> str:
    text = match.group(0)
    kept = text.rstrip(_TRAILING)
    return URL_LABEL + text[len(kept):]


def _random_token(match: Match[str]) -> str:
    text = match.group(0)
    has_digit = any(c.isdigit() for c in text)
    has_alpha = any(c.isalpha() for c in text)
    return KEY_LABEL if has_digit and has_alpha else text


def _long_number(match: Match[str]) -> str:
    text = match.group(0)
    return NUMBER_LABEL if sum(c.isdigit() for c in text) >= MIN_NUMBER_DIGITS else text


# order matters: URLs and e-mails hold tokens and numbers; a labelled span is never re-read
RULES: tuple[tuple[str, re.Pattern[str], str | Callable[[Match[str]], str]], ...] = (
    ("url", _URL, _url),
    ("email", _EMAIL, EMAIL_LABEL),
    ("assigned_secret", _ASSIGNED_SECRET, lambda m: m.group(1) + KEY_LABEL),
    ("bearer", _BEARER, lambda m: m.group(1) + " " + KEY_LABEL),
    ("known_key", _KNOWN_KEYS, KEY_LABEL),
    ("random_token", _RANDOM_TOKEN, _random_token),
    ("ip", _IPV4, IP_LABEL),
    ("long_number", _LONG_NUMBER, _long_number),
)


def redact(text: str) -> str:
    """``text`` with e-mails, URLs, keys and tokens, IP addresses and long numbers masked."""
    if not text:
        return text
    for _, pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def shorten(text: str, limit: int = 240) -> str:
    """One line of at most ``limit`` characters (whitespace collapsed, '…' where cut)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"
