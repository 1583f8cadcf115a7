"""Public benchmark material that strangers share: coding items, and a tool-calling prompt format.

A public benchmark's tasks are on the internet: an operation that sweeps agentic coding seeds
its plan with them, and the users of an AI coding product paste the same items to try the
product out. So an operation and the products next to it share exact prompts that neither
copied from the other, and the textual link between them is real but says nothing about
coordination (on traffic generated elsewhere, agent products joined the edge of a coding
operation this way). ``public_coding_tasks`` is the benchmark: one fixed set per simulation
seed, drawn from its own stream so that every other draw stays as it was.

A public function-calling benchmark writes its items in one wrapper: the function definitions
inline, then the request (``public_tool_prompt``). A tool-use operation sends part of its sweep
in that wrapper, and some people who try a model with tool prompts copy it. Their prompts share
the wrapper's wording with the operation's and with each other's, and a person sending a few
such prompts looks like a weak member of the operation (on traffic generated elsewhere, one such
user joined a tool-use operation's group): the wording is as much outsiders' as the group's.
"""

from __future__ import annotations

import json

from . import text_coding as TC
from .rand import R

N_TASKS = 120
OPERATION_SHARE = 0.2  # of an agentic-coding operation's requests whose task is a public item
PRODUCT_SHARE = 0.1  # of a coding product's user requests that paste a public item
TOOL_OPERATION_SHARE = 0.1  # of a tool-use operation's requests written in the public tool format
TOOL_USER_SHARE = 0.05  # of the people who send tool requests, those who write them in that format


def public_coding_tasks(seed: int, n: int = N_TASKS) -> tuple[str, ...]:
    """``n`` distinct coding tasks (fix a test, explain a trace, write a feature...), the same
    for every account of one simulation."""
    r = R(seed, "public-coding-benchmark")
    tasks: list[str] = []
    seen: set[str] = set()
    while len(tasks) < n:
        task = TC.task(r, TC.repo(r))
        if task not in seen:
            seen.add(task)
            tasks.append(task)
    return tuple(tasks)


def maybe_public(r: R, share: float, public: tuple[str, ...]) -> str | None:
    """A public item with probability ``share`` (``r`` is a stream of its own), else None."""
    if public and r.maybe(share):
        return r.pick(list(public))
    return None


def public_tool_prompt(funcs: list[dict], request: str) -> str:
    """``request`` with the function definitions ``funcs`` inline, in the public benchmark's
    wrapper (no tools field: the definitions are in the prompt)."""
    return "### Functions\n" + json.dumps(funcs, ensure_ascii=False) + "\n\n### Query\n" + request
