"""Long pasted material: documents, logs, code and problem sheets people paste around a question.

Real prompts are not all one-liners. A share of ordinary users paste a few paragraphs of a
document, an application log or a block of code (hundreds to a couple of thousand characters)
ahead of or after what they ask. Without them every organic prompt is short, and prompt length
alone would separate people from templated campaigns, which it does not in real traffic.

``attach(r, question, area, ...)`` returns the question with material for its area; the
material's length is drawn log-uniformly between ``MIN_CHARS`` and ``MAX_CHARS``.
"""

from __future__ import annotations

import json
import math

from . import text_coding as TC
from . import text_common as C
from . import text_other as TO
from . import text_reasoning as TR
from . import text_tools as TT
from .rand import R

MIN_CHARS, MAX_CHARS = 300, 2000

_DOC_HEAD = {
    "meeting": ["Meeting notes", "Notes from today's sync", "Minutes - weekly leads meeting"],
    "article": ["From the local paper:", "Article:", "Here's the article"],
    "review": ["Customer feedback we got:", "Review:", "Copied from the reviews page:"],
    "report": ["Draft of the quarterly update", "Report excerpt:", "Section 2 - results"],
    "policy": ["Our current policy:", "From the employee handbook", "Section 4.2"],
    "spec": ["Product spec (draft)", "Requirements", "From the design doc:"],
    "email": ["The email I got:", "Forwarded message", "Thread so far:"],
}
# sentence banks beyond text_other's, so long pasted documents do not repeat themselves
_DOC_SENTS = {
    "policy": ["Employees may work remotely up to {n} days per month with their manager's approval.",
               "Expenses above {money} require a receipt and sign-off from finance.",
               "Requests must be submitted at least {m} business days in advance.",
               "Exceptions are reviewed case by case by the {city} HR team.",
               "Unused leave does not carry over past the end of the calendar year.",
               "Contractors are not covered by this policy unless their agreement says otherwise.",
               "Violations may result in disciplinary action up to and including termination."],
    "spec": ["Users should be able to export their data as CSV from the settings page.",
             "The export must finish within {n} seconds for accounts with up to {money}K rows.",
             "Admins can restrict exports to specific roles.", "Out of scope for v1: scheduled exports.",
             "Open question from {name}: do we need an audit log entry for every export?",
             "Success metric: support tickets about data access drop by {n}% within a quarter.",
             "The feature ships behind a flag and rolls out to the {city} region first."],
    "email": ["Hi {name}, thanks for getting back to me so quickly.",
              "Unfortunately the delivery we expected on {day} still hasn't arrived.",
              "Our contract says replacements ship within {m} business days.",
              "Could you confirm a new date by the end of the week?",
              "If that's not possible we'd like a refund of {money} to the original card.",
              "I've copied {name2}, who handles our account on the finance side.",
              "Best regards, and apologies for the long message."],
}
_DOC_ASK = [
    "Summarize this in 3 bullet points.", "Can you make this sound more professional?",
    "What are the main action items here?", "Rewrite this for a general audience.",
    "Is anything in this unclear or contradictory?", "shorten this to one paragraph",
    "What's the tone of this? Too negative?", "turn this into an email to the team",
]
_SHEET_ASK = [
    "Can you help me with number {k}?", "I'm stuck on question {k}, can you explain how to start?",
    "how do i do {k}", "Check my thinking on problem {k}, I got a different answer than the key.",
    "Can you walk me through #{k}? The rest I think I get.",
]
_LOG_ASK = [
    "Why is this failing?", "what does this error mean", "Can you find the bug?",
    "Any idea what's going on here? It started after the last deploy.", "how do i fix this",
    "This only happens in production, not locally. Ideas?",
]
_JSON_ASK = [
    "This is what the API returned. Why is the field empty?", "Can you turn this response into a table?",
    "What's the cleanest way to parse this?", "Is this response valid for the schema I sent?",
]
_LOG_MSG = [
    "{verb} {noun} id={n} took {ms}ms", "retrying {fn} in {s}s (attempt {a}/5)",
    "connection pool exhausted (size={m}), waiting", "GET /api/{noun}s/{n} 500 in {ms}ms",
    "cache miss for {noun}:{n}", "{field} missing on {noun} {n}, using default",
    "worker {m} heartbeat ok", "POST /api/{noun}s 201 in {ms}ms", "slow query on {noun}s ({ms}ms)",
]


def target_len(r: R) -> int:
    """Log-uniform between MIN_CHARS and MAX_CHARS: a few hundred characters most often."""
    return int(math.exp(r.uniform(math.log(MIN_CHARS), math.log(MAX_CHARS * 0.9))))


def _grow(make, n: int, sep: str, cap: int = MAX_CHARS, max_parts: int = 60) -> str:
    """Join up to ``max_parts`` pieces from ``make()`` until about ``n`` characters, never over ``cap``."""
    parts: list[str] = []
    total = 0
    while total < n and len(parts) < max_parts:
        p = make()
        if parts and total + len(sep) + len(p) > cap:
            break
        parts.append(p)
        total += len(p) + (len(sep) if len(parts) > 1 else 0)
    return sep.join(parts)[:cap]


def _doc_paragraph(r: R, kind: str) -> str:
    if kind not in _DOC_SENTS:
        return TO.paragraph(r, kind, (3, 6))
    n1, n2 = C.two_names(r)
    return " ".join(x.format(name=n1, name2=n2, n=r.randint(2, 40), m=r.randint(2, 10), money=r.randint(50, 900),
                             day=r.pick(C.WEEKDAYS), city=C.city(r)) for x in r.some(_DOC_SENTS[kind], 3, 6))


def document(r: R, n: int) -> str:
    """Paragraphs of a pasted document, each kind of paragraph at most once."""
    kinds = r.sample(list(_DOC_HEAD), len(_DOC_HEAD))
    it = iter(kinds)
    body = _grow(lambda: _doc_paragraph(r, next(it)), n, "\n\n", cap=MAX_CHARS - 60, max_parts=len(kinds))
    return (r.pick(_DOC_HEAD[kinds[0]]) + "\n\n" + body) if r.maybe(0.5) else body


def sheet(r: R, n: int, topics: list[str]) -> tuple[str, int]:
    """A pasted problem sheet (numbered problems) and how many problems it has."""
    k = [0]

    def one() -> str:
        k[0] += 1
        return f"{k[0]}. {TR.problem(r, r.pick(topics)).text}"

    return _grow(one, n, "\n"), k[0]


def app_log(r: R, n: int, rp: TC.Repo, date: str) -> str:
    """Timestamped service log lines ending in the exception that brought the user here."""
    ids = TC._ids(r, rp)
    sec = [r.randint(0, 86000)]

    def line() -> str:
        sec[0] += r.randint(1, 40)
        h, m, s = sec[0] // 3600 % 24, sec[0] // 60 % 60, sec[0] % 60
        lvl = r.wpick(["INFO", "DEBUG", "WARN", "ERROR"], [6, 2, 2, 1])
        msg = r.pick(_LOG_MSG).format(ms=r.randint(3, 9000), s=r.randint(1, 30), a=r.randint(2, 5), **ids)
        return f"{date}T{h:02d}:{m:02d}:{s:02d}.{r.randint(0, 999):03d}Z {lvl:5s} [{ids['noun']}-{r.randint(1, 8)}] {msg}"

    tail = TC.trace(r, rp, ids)
    head = _grow(line, max(150, n - len(tail)), "\n", cap=MAX_CHARS - len(tail) - 1)
    return f"{head}\n{tail}" if head else tail


def code(r: R, n: int, rp: TC.Repo) -> str:
    """A pasted file excerpt: distinct functions of the repository's language, then the test
    output when the functions alone are shorter than the target."""
    funcs = r.sample(TC.SNIPPETS[rp.lang], len(TC.SNIPPETS[rp.lang]))
    it = iter(funcs)
    body = _grow(lambda: next(it).format(**TC._ids(r, rp)), n, "\n\n", cap=MAX_CHARS - 20, max_parts=len(funcs))
    text = f"```{TC.FENCE[rp.lang]}\n{body}\n```"
    out = TC.test_output(r, rp, TC._ids(r, rp))
    if len(text) < n and len(text) + len(out) < MAX_CHARS - 20:
        text += f"\n\ntest output:\n```\n{out}\n```"
    return text


def api_json(r: R, n: int, entities: list[str]) -> str:
    """A pasted API response: a JSON array of records, whole records only."""
    items: list = []
    text = "[]"
    while len(text) < n and len(items) < 30:
        more = json.dumps(items + [json.loads(TT.tool_result(r, TT.ENTITIES[r.pick(entities)]))],
                          ensure_ascii=False, indent=2)
        if items and len(more) > MAX_CHARS:
            break
        items, text = json.loads(more), more
    return text


def _join(r: R, question: str, material: str) -> str:
    """Material ahead of the question (often with a lead-in) or after it."""
    if r.maybe(0.5):
        quoted = r.maybe(0.2)
        lead = "" if quoted else r.pick(["", "", "Here's what I have:\n\n", "Context below.\n\n"])
        body = f'"""\n{material}\n"""' if quoted else material
        return f"{lead}{body}\n\n{question}"
    return question + r.pick(["\n\n", "\n\n---\n", "\n\nhere it is:\n"]) + material


def attach(r: R, question: str, area: str, *, topics: list[str], date: str, repo: TC.Repo | None = None,
           entities: list[str] | None = None) -> str:
    """``question`` with pasted material for ``area``; half the time the question becomes one
    about the material itself (summarize this, why does this fail, help with number 3)."""
    n = target_len(r)
    own = r.maybe(0.5)
    if area == "agentic_coding" and repo is not None:
        if r.maybe(0.55):
            return _join(r, r.pick(_LOG_ASK) if own else question, app_log(r, n, repo, date))
        return _join(r, r.pick(_LOG_ASK) if own else question, code(r, n, repo))
    if area == "reasoning":
        text, k = sheet(r, n, topics)
        return _join(r, r.pick(_SHEET_ASK).format(k=r.randint(1, max(1, k))) if own else question, text)
    if area == "tool_use" and entities:
        return _join(r, r.pick(_JSON_ASK) if own else question, api_json(r, n, entities))
    return _join(r, r.pick(_DOC_ASK) if own else question, document(r, n))
