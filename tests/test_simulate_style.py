"""Unit tests for targeting.simulate.style: per-user writing habits (typos, lowercase, chatty,
terse, context) applied to prose only, never to code, JSON, links or addresses."""

from __future__ import annotations

import re

import pytest

from targeting.simulate import style as S
from targeting.simulate.rand import R

PROSE = "Please explain because this function returns wrong values"
PROTECTED = [
    "```python\ndef Function_Name(): return Something\n```",
    "`InlineCode`",
    '{"KeyName": "Value"}',
    "[LinkText]",
    "https://Example.com/Some/Path",
    "Mail@Example.COM",
]
MIXED = PROSE + " " + " and ".join(PROTECTED) + " Thanks Again"
QUIET = S.Style(chatty=0.0, terse=0.0, polite=0.0, context=0.0)


# -- random styles ----------------------------------------------------------------------------

def test_random_style_ranges():
    r = R(1, "styles")
    for _ in range(300):
        s = S.random_style(r)
        assert s.lang in ("en",) + S.LANGS
        assert s.lowercase in (0.0, 0.15, 0.6, 0.95) and s.typos in (0.0, 0.01, 0.03, 0.07)
        assert 0 <= s.chatty <= 0.6 and 0 <= s.terse <= 0.6 and 0 <= s.polite <= 0.7
        assert 0 <= s.context <= 0.3
        if s.lang == "en":
            assert s.english_share == 1.0
        else:
            assert 0.1 <= s.english_share <= 0.5


def test_random_style_non_english_share():
    r = R(2, "langs")
    assert all(S.random_style(r, non_english=0.0).lang == "en" for _ in range(100))
    assert all(S.random_style(r, non_english=1.0).lang in S.LANGS for _ in range(100))


def test_random_style_deterministic_by_seed():
    assert S.random_style(R(3, "s")) == S.random_style(R(3, "s"))
    assert S.random_style(R(3, "s")) != S.random_style(R(4, "s"))


# -- typos ------------------------------------------------------------------------------------

def test_no_typos_at_rate_zero():
    assert S.add_typos(R(1, "t"), MIXED, 0.0) == MIXED


def test_every_long_prose_word_changed_at_rate_one():
    out = S.add_typos(R(1, "t"), PROSE, 1.0).split()
    for before, after in zip(PROSE.split(), out):
        assert before != after, (before, after)


def test_short_words_never_get_typos():
    text = "the cat sat on a mat and ran"
    assert S.add_typos(R(1, "t"), text, 1.0) == text


def test_typos_leave_code_json_links_and_addresses_alone():
    out = S.add_typos(R(5, "t"), MIXED, 1.0)
    for part in PROTECTED:
        assert part in out
    assert PROSE not in out


def test_typo_rate_is_per_word():
    words = " ".join(["keyboard"] * 2000)
    out = S.add_typos(R(6, "t"), words, 0.1).split()
    assert 0.07 < sum(w != "keyboard" for w in out) / len(out) < 0.13


# -- lowercase and punctuation ----------------------------------------------------------------

def test_lowercase_only_prose():
    out = S.lowercase(MIXED)
    assert out.startswith(PROSE.lower())
    assert out.endswith("thanks again")
    for part in PROTECTED:
        assert part in out


@pytest.mark.parametrize("text,out", [
    ("Hello?", "Hello"), ("Hello.  ", "Hello"), ("Hello!", "Hello!"), ("Hello", "Hello"),
    ("Hello..", "Hello."),  # one mark only
    ("see ```x```.", "see ```x```."),  # a mark right after code stays
])
def test_strip_trailing_punct(text, out):
    assert S.strip_trailing_punct(text) == out


def test_context_line_article_agrees():
    r = R(7, "ctx")
    for _ in range(200):
        line = S.context_line(r)
        assert "{" not in line
        for art, job in re.findall(r"\b(a|an) (\w+)", line):
            if job in {j.split()[0] for j in S.JOBS}:
                assert (art == "an") == (job[0] in "aeiou")


# -- decorate ---------------------------------------------------------------------------------

def test_decorate_with_no_habits_keeps_the_text():
    r = R(8, "d")
    for _ in range(50):
        assert S.decorate(r, "What is a monad?", QUIET) == "What is a monad?"


def test_decorate_lowercase_and_terse():
    r = R(9, "d")
    style = S.Style(chatty=0.0, terse=1.0, context=0.0, lowercase=1.0)
    assert S.decorate(r, "What Is A Monad?", style) == "what is a monad"


def test_decorate_context_line_first():
    r = R(10, "d")
    style = S.Style(chatty=0.0, terse=0.0, context=1.0)
    out = S.decorate(r, "What is a monad?", style)
    assert out.endswith("What is a monad?") and out != "What is a monad?"
    assert S.decorate(r, "Q?", style, allow_context=False) == "Q?"


def test_decorate_chatty_adds_known_openers_or_closers():
    r = R(11, "d")
    style = S.Style(chatty=1.0, terse=0.0, context=0.0)
    changed = 0
    for _ in range(100):
        out = S.decorate(r, "What is a monad?", style)
        assert "What is a monad?" in out
        head, _, tail = out.partition("What is a monad?")
        assert head.strip() in {""} | {o.strip() for o in S.OPENERS_CHATTY}
        assert tail.strip() in {""} | set(S.CLOSERS_CHATTY)
        changed += out != "What is a monad?"
    assert changed > 60  # opener 60 %, closer 50 %: at least one 80 % of the time


def test_decorate_keeps_code_intact_under_every_habit():
    r = R(12, "d")
    style = S.Style(chatty=1.0, terse=1.0, context=1.0, lowercase=1.0, typos=1.0)
    for _ in range(30):
        out = S.decorate(r, MIXED, style)
        for part in PROTECTED:
            assert part in out
