"""JSON text from the logs, parsed with a nesting limit, never by recursion on its depth.

Every field of a log is written by the accounts being watched. Python's ``json`` module
parses recursively: a ``tools`` value nested thousands of levels deep (``"[" * 5000``)
raises RecursionError wherever it is parsed, and a value just under the interpreter's limit
parses in one place and fails in another, deeper in the stack. :func:`loads_bounded` measures
the nesting first, without parsing and without recursion (:func:`nesting_depth`), and refuses
text nested deeper than :data:`MAX_DEPTH` with a ValueError, as it refuses invalid JSON;
what it returns is never deeper than that, so code walking it recursively stays bounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

__all__ = ["MAX_DEPTH", "loads_bounded", "nesting_depth"]

MAX_DEPTH = 64  # arrays and objects inside each other; tool definitions need a handful
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # a JSON string (its brackets don't nest)
_CHUNK = 1 << 20  # characters whose running depth is computed at once
_OPEN = (ord("["), ord("{"))
_CLOSE = (ord("]"), ord("}"))


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON ``text`` (0 for a scalar).

    Brackets inside strings do not count; the brackets of an unterminated string do (an
    upper bound for such invalid text). A running sum over the characters, a million at a
    time: no parsing, no recursion, memory bounded whatever the text.
    """
    if "[" not in text and "{" not in text:
        return 0
    bare = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(bare, dtype=np.uint8)
    depth = deepest = 0
    for start in range(0, len(codes), _CHUNK):
        part = codes[start:start + _CHUNK]
        step = np.isin(part, _OPEN).astype(np.int32) - np.isin(part, _CLOSE).astype(np.int32)
        running = np.cumsum(step, dtype=np.int64) + depth
        deepest = max(deepest, int(running.max()))
        depth = int(running[-1])
    return deepest


def loads_bounded(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)``; ValueError for invalid JSON and for arrays or objects nested more
    than ``max_depth`` deep (checked before parsing, so the parser never recurses deeper)."""
    opened = text.count("[") + text.count("{")
    if opened > max_depth:
        depth = nesting_depth(text)
        if depth > max_depth:
            raise ValueError(f"JSON nested {depth} levels deep (more than {max_depth})")
    return json.loads(text)
