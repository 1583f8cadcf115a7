"""Deterministic random streams and ids.

Every account draws from its own stream, derived from the config seed and stable tags, so
one persona's output never depends on how many random numbers another persona used. That
keeps benign traffic identical when only attacker options change.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Sequence, TypeVar

import numpy as np

T = TypeVar("T")


def stable_int(*tags: object) -> int:
    """A 64-bit integer hashed from the tags (stable across runs and platforms)."""
    h = hashlib.blake2b("\x1f".join(map(str, tags)).encode("utf-8"), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def stable_hex(*tags: object, n: int = 12) -> str:
    h = hashlib.blake2b("\x1f".join(map(str, tags)).encode("utf-8"), digest_size=max(4, (n + 1) // 2))
    return h.hexdigest()[:n]


class R(random.Random):
    """``random.Random`` with a few helpers and a matching numpy Generator (``.np``)."""

    def __init__(self, *tags: object) -> None:
        s = stable_int(*tags)
        super().__init__(s)
        self._np_seed = s
        self._np: np.random.Generator | None = None

    @property
    def np(self) -> np.random.Generator:
        if self._np is None:
            self._np = np.random.default_rng(self._np_seed)
        return self._np

    def child(self, *tags: object) -> "R":
        return R(self._np_seed, *tags)

    def pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.random() * len(seq))]

    def maybe(self, p: float) -> bool:
        return self.random() < p

    def wpick(self, items: Sequence[T], weights: Sequence[float]) -> T:
        return self.choices(items, weights=weights, k=1)[0]

    def some(self, seq: Sequence[T], lo: int, hi: int) -> list[T]:
        k = min(len(seq), self.randint(lo, hi))
        return self.sample(list(seq), k)

    def lognormal_int(self, median: float, sigma: float, lo: int, hi: int) -> int:
        v = int(round(math.exp(math.log(median) + sigma * self.gauss(0.0, 1.0))))
        return max(lo, min(hi, v))
