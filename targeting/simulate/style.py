"""How a person writes: per-user habits applied on top of composed prompt text.

Code, JSON and other pasted material (fenced blocks, ``{...}`` spans, inline backticks) is
protected: typos and lowercasing only touch the prose around it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .rand import R

LANGS = ("es", "de", "fr", "zh", "ja")


@dataclass(frozen=True)
class Style:
    lang: str = "en"  # language of most prompts
    lowercase: float = 0.0  # probability a prompt is all lowercase
    typos: float = 0.0  # per-word typo probability
    chatty: float = 0.2  # probability of a chatty opener/closer
    terse: float = 0.2  # probability of dropping politeness and context
    polite: float = 0.3  # probability of please/thanks
    context: float = 0.1  # probability of a personal context paragraph
    english_share: float = 1.0  # for non-English speakers: share of prompts still in English


def random_style(r: R, non_english: float = 0.08) -> Style:
    lang = r.pick(LANGS) if r.maybe(non_english) else "en"
    lower = r.wpick([0.0, 0.15, 0.6, 0.95], [0.55, 0.2, 0.15, 0.1])
    typos = r.wpick([0.0, 0.01, 0.03, 0.07], [0.45, 0.3, 0.18, 0.07])
    return Style(
        lang=lang,
        lowercase=lower,
        typos=typos,
        chatty=r.uniform(0.0, 0.6),
        terse=r.uniform(0.0, 0.6),
        polite=r.uniform(0.0, 0.7),
        context=r.uniform(0.0, 0.3),
        english_share=r.uniform(0.1, 0.5) if lang != "en" else 1.0,
    )


_PROTECT = re.compile(r"```.*?```|`[^`\n]*`|\{.*\}|\[[^\]\n]*\]|https?://\S+|\S+@\S+", re.S)
_WORD = re.compile(r"[A-Za-z]{4,}")
_KEYB = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}
_COMMON_MISSPELL = {
    "because": "becuase", "definitely": "definately", "receive": "recieve", "separate": "seperate",
    "probability": "probabilty", "function": "fucntion", "through": "thru", "please": "pls",
    "thanks": "thx", "really": "realy", "which": "wich", "probably": "prob", "about": "abt",
    "question": "qestion", "answer": "anwser", "should": "shoud", "would": "woudl",
}


def _prose_map(text: str, fn) -> str:
    out, last = [], 0
    for m in _PROTECT.finditer(text):
        out.append(fn(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(fn(text[last:]))
    return "".join(out)


def _typo_word(r: R, w: str) -> str:
    lw = w.lower()
    if lw in _COMMON_MISSPELL and r.maybe(0.5):
        t = _COMMON_MISSPELL[lw]
        return t.capitalize() if w[0].isupper() else t
    i = r.randint(1, len(w) - 2)
    op = r.randint(0, 3)
    if op == 0:  # swap
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]
    if op == 1:  # drop
        return w[:i] + w[i + 1:]
    if op == 2:  # double
        return w[:i] + w[i] + w[i:]
    near = _KEYB.get(w[i].lower(), w[i])
    return w[:i] + r.pick(near) + w[i + 1:]


def add_typos(r: R, text: str, rate: float) -> str:
    if rate <= 0:
        return text

    def fn(seg: str) -> str:
        return _WORD.sub(lambda m: _typo_word(r, m.group(0)) if r.random() < rate else m.group(0), seg)

    return _prose_map(text, fn)


def lowercase(text: str) -> str:
    return _prose_map(text, lambda s: s.lower())


def strip_trailing_punct(text: str) -> str:
    t = text.rstrip()
    if t.endswith((".", "?")) and "```" not in t[-5:]:
        return t[:-1]
    return t


OPENERS_CHATTY = [
    "hey!", "hi there,", "Hello!", "ok so", "Quick question:", "Hi, hope you're well.",
    "So I've been stuck on this for a while.", "hey quick one", "Morning!", "yo",
    "Hi! I need some help.", "Hello, I have a question.", "Hiya -", "Good evening,",
    "Sorry if this is a dumb question, but", "Alright, next one.", "Hey, me again.",
]
CLOSERS_CHATTY = [
    "Thanks!", "thanks in advance", "thx", "Thank you so much!", "appreciate it",
    "Cheers.", "ty!", "Much appreciated.", "Thanks a lot :)", "🙏", "lmk",
]
POLITE_PREFIX = ["Please", "Could you please", "Can you", "Would you", "I'd like you to"]
CONTEXTS = [
    "Some context: I'm {job} and I'm trying to get better at this.",
    "For context, I'm {job} working on a side project.",
    "Background: I'm {job} and my {rel} asked me about this.",
    "I'm {job}, so please don't assume too much prior knowledge.",
    "Context: I'm preparing for {event} next week.",
    "A bit of background - I'm {job} and this came up at work today.",
    "I'm studying for {event} and this keeps tripping me up.",
]
JOBS = ["student", "nurse", "teacher", "software engineer", "data analyst", "product manager",
        "small business owner", "retired engineer", "high school student", "PhD student",
        "marketing specialist", "accountant", "freelance designer", "paramedic", "lawyer"]
RELS = ["kid", "boss", "partner", "friend", "student", "colleague", "dad", "mom"]
EVENTS = ["an exam", "a job interview", "my finals", "a certification exam", "a presentation",
          "the GRE", "a client meeting", "a coding interview"]


def context_line(r: R) -> str:
    job = r.pick(JOBS)
    job = ("an " if job[0] in "aeiou" else "a ") + job
    return r.pick(CONTEXTS).format(job=job, rel=r.pick(RELS), event=r.pick(EVENTS))


def decorate(r: R, text: str, style: Style, *, allow_context: bool = True) -> str:
    """Apply a user's habits to a composed English prompt."""
    t = text
    if allow_context and r.maybe(style.context):
        sep = "\n\n" if r.maybe(0.6) else " "
        t = context_line(r) + sep + t
    if r.maybe(style.chatty):
        if r.maybe(0.6):
            t = r.pick(OPENERS_CHATTY) + (" " if r.maybe(0.7) else "\n") + t
        if r.maybe(0.5):
            t = t.rstrip() + ("\n\n" if "```" in t[-4:] else " ") + r.pick(CLOSERS_CHATTY)
    if r.maybe(style.terse):
        t = strip_trailing_punct(t)
    if style.typos > 0:
        t = add_typos(r, t, style.typos)
    if r.maybe(style.lowercase):
        t = lowercase(t)
    return t
