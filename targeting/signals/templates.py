"""Template reuse: distinct prompts that instantiate one skeleton with different slot values.

Each distinct prompt is reduced to a skeleton (lower case; code blocks, quoted strings,
numbers, URLs and e-mail addresses masked) and shingled into word 3-grams. MinHash
signatures are cut into LSH bands; a prompt instantiates a template when it shares a band
with another prompt and their estimated Jaccard similarity reaches ``template_jaccard``, or
when its first or last ``AFFIX_WORDS`` words (a wrapper or an injected instruction) are
shared by at least ``template_min_group`` distinct prompts.

The band and wrapper keys of each prompt are also returned: ``targeting.campaigns`` compares
accounts over them, weighted by rarity, to find accounts that share templates.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from targeting.signals.base import ACCOUNT, ROW, SignalContext

N_PERM = 64
BANDS = 32  # 32 bands of 2 rows: pairs at Jaccard 0.5 meet in some band with p > 0.999
ROWS_PER_BAND = N_PERM // BANDS
SHINGLE = 3
MIN_SHINGLES = 5
EDGE_CHARS = 1500  # skeleton characters kept from each end of a long prompt
PRIME = (1 << 61) - 1

_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)
_QUOTED = re.compile(r"\"[^\"\n]{1,400}\"|'[^'\n]{2,400}'|“[^”\n]{1,400}”")
_URL = re.compile(r"https?://\S+|www\.\S+")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_NUMBER = re.compile(r"[-+]?\d[\d,._:/]*")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.U)


def skeleton(text: str) -> str:
    """The prompt with its slot-like content masked."""
    text = _CODE.sub(" ⟨code⟩ ", text)
    text = _URL.sub(" ⟨url⟩ ", text)
    text = _EMAIL.sub(" ⟨email⟩ ", text)
    text = _QUOTED.sub(" ⟨q⟩ ", text)
    text = _NUMBER.sub(" ⟨n⟩ ", text)
    text = text.lower()
    if len(text) > 2 * EDGE_CHARS:
        text = text[:EDGE_CHARS] + " … " + text[-EDGE_CHARS:]
    return text


def shingles(text: str) -> np.ndarray:
    return _skeleton_shingles(skeleton(text))


def _skeleton_shingles(skel: str) -> np.ndarray:
    tokens = _TOKEN.findall(skel)
    grams = {" ".join(tokens[i : i + SHINGLE]) for i in range(max(0, len(tokens) - SHINGLE + 1))}
    return np.fromiter((zlib.crc32(g.encode()) for g in grams), dtype=np.uint64, count=len(grams))


def _permutations(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 1 << 32, N_PERM, dtype=np.uint64)  # a * crc32 < 2^64: no overflow
    b = rng.integers(0, PRIME, N_PERM, dtype=np.uint64)
    return a, b


def minhash(texts: Sequence[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(signatures (n, N_PERM) uint64, eligible mask) for each text."""
    a, b = _permutations(seed)
    sigs = np.full((len(texts), N_PERM), np.iinfo(np.uint64).max, dtype=np.uint64)
    eligible = np.zeros(len(texts), dtype=bool)
    for i, text in enumerate(texts):
        sh = shingles(text)
        if len(sh) < MIN_SHINGLES:
            continue
        eligible[i] = True
        hashed = (np.multiply.outer(sh, a) % PRIME + b) % PRIME  # (a*x + b) mod p
        sigs[i] = hashed.min(axis=0)
    return sigs, eligible


AFFIX_WORDS = 8  # words of a prompt's start and end compared for shared wrappers
SIBLING_CHUNK = 65536  # prompt pairs whose signatures are compared at once


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads combined keys over 64 bits."""
    x = np.asarray(x, dtype=np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def band_keys(sigs: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(n, BANDS) uint64 key of each LSH band (0 where the prompt is too short to have one)."""
    keys = np.zeros((len(sigs), BANDS), dtype=np.uint64)
    for band in range(BANDS):
        acc = _mix64(np.full(len(sigs), band + 1, dtype=np.uint64))
        for r in range(ROWS_PER_BAND):
            acc = _mix64(acc ^ sigs[:, band * ROWS_PER_BAND + r])
        keys[:, band] = acc
    keys[~eligible] = 0
    return keys


def _text_key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).digest(), "little") or 1


def affix_keys(texts: Sequence[str]) -> np.ndarray:
    """(n, 2) uint64 keys of the masked first and last ``AFFIX_WORDS`` words (0: too short)."""
    keys = np.zeros((len(texts), 2), dtype=np.uint64)
    for i, text in enumerate(texts):
        _affix(skeleton(text), keys[i])
    return keys


def _affix(skel: str, out: np.ndarray) -> None:
    words = skel.split()
    if len(words) >= 2 * AFFIX_WORDS:
        out[0] = _text_key("head " + " ".join(words[:AFFIX_WORDS]))
        out[1] = _text_key("tail " + " ".join(words[-AFFIX_WORDS:]))


def _shared(column: np.ndarray, min_count: int) -> np.ndarray:
    """True where a non-zero key occurs at least ``min_count`` times in the column."""
    valid = column != 0
    out = np.zeros(len(column), dtype=bool)
    if valid.any():
        _, inverse, counts = np.unique(column[valid], return_inverse=True, return_counts=True)
        out[valid] = counts[inverse.ravel()] >= min_count
    return out


def template_siblings(sigs: np.ndarray, eligible: np.ndarray, bands: np.ndarray, jaccard: float) -> np.ndarray:
    """True for prompts with a near-template sibling: a shared band and Jaccard >= ``jaccard``."""
    n = len(sigs)
    sibling = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(eligible)
    if len(idx) < 2:
        return sibling
    for band in range(bands.shape[1]):
        _, first, inverse = np.unique(bands[idx, band], return_index=True, return_inverse=True)
        leader = idx[first[inverse.ravel()]]
        keep = leader != idx
        if not keep.any():
            continue
        members, leaders = idx[keep], leader[keep]
        for start in range(0, len(members), SIBLING_CHUNK):  # two signature copies per pair: chunked
            m, lead = members[start : start + SIBLING_CHUNK], leaders[start : start + SIBLING_CHUNK]
            ok = (sigs[m] == sigs[lead]).mean(axis=1) >= jaccard
            sibling[m[ok]] = True
            sibling[lead[ok]] = True
    return sibling


@dataclass(frozen=True)
class TemplateKeys:
    """Per distinct prompt: whether it instantiates a template, and its comparison keys."""

    templated: np.ndarray  # (P,) bool
    keys: np.ndarray  # (P, BANDS + 2) uint64: LSH bands, then wrapper head and tail; 0 = none
    weights: np.ndarray  # (BANDS + 2,) weight of each key column in account comparisons
    phrases: np.ndarray | None = None  # (P, SKETCH) uint64 phrase keys (``phrase_sketch``)


@dataclass(frozen=True)
class TemplateParts:
    """What template keys need of each distinct prompt, a function of its text alone (so the
    nightly job caches it by prompt hash: ``nightly.FeatureCache``)."""

    sigs: np.ndarray  # (P, N_PERM) uint64 MinHash signature of the skeleton's shingles (``minhash``)
    eligible: np.ndarray  # (P,) bool: enough shingles for a signature
    affixes: np.ndarray  # (P, 2) uint64 wrapper head and tail keys (``affix_keys``)
    sketch: np.ndarray  # (P, SKETCH) uint64 phrase keys (``phrase_sketch``); 0 = none

    @classmethod
    def empty(cls, n: int) -> "TemplateParts":
        """``n`` rows to fill: the values ``template_parts`` gives a text too short for keys."""
        return cls(np.full((n, N_PERM), np.iinfo(np.uint64).max, dtype=np.uint64), np.zeros(n, dtype=bool),
                   np.zeros((n, 2), dtype=np.uint64), np.zeros((n, SKETCH), dtype=np.uint64))


def template_parts(texts: Sequence[str], seed: int = 0) -> TemplateParts:
    """``minhash`` and ``affix_keys`` of each text, masking each text once."""
    a, b = _permutations(seed)
    parts = TemplateParts.empty(len(texts))
    sigs, eligible, affixes = parts.sigs, parts.eligible, parts.affixes
    for i, text in enumerate(texts):
        skel = skeleton(text)
        sh = _skeleton_shingles(skel)
        if len(sh) >= MIN_SHINGLES:
            eligible[i] = True
            sigs[i] = ((np.multiply.outer(sh, a) % PRIME + b) % PRIME).min(axis=0)
            phrase_sketch(sh, parts.sketch[i])
        _affix(skel, affixes[i])
    return parts


SKETCH = 64  # phrase keys kept per prompt


def phrase_sketch(shingles: np.ndarray, out: np.ndarray) -> None:
    """The ``SKETCH`` smallest hashed shingles (word 3-grams of the skeleton) of one prompt,
    into ``out``: a bottom-k sketch under one hash function shared by every prompt, so a
    phrase whose hash is small is kept in *every* prompt that contains it (where MinHash
    components keep a phrase only where it beats all of the prompt's other phrases). Two
    prompts that recombine an operation's wording bank ("then, using the result,", "make
    the function calls in sequence") around different task texts share those keys; rare
    shared phrases link accounts like rare templates do (``targeting.campaigns``), common ones
    are boilerplate and link nobody."""
    mixed = np.unique(_mix64(shingles ^ np.uint64(0x5EED_F00D)))[:SKETCH]
    out[: len(mixed)] = mixed


TEMPLATE_PARTS_VERSION = 2  # bump when skeleton, shingles, minhash or affix keys change meaning


def template_parts_key(seed: int = 0) -> str:
    """Digest of what ``template_parts`` depends on besides the text: names its cache."""
    a, b = _permutations(seed)
    spec = [TEMPLATE_PARTS_VERSION, N_PERM, SHINGLE, MIN_SHINGLES, EDGE_CHARS, AFFIX_WORDS, PRIME, SKETCH,
            *(r.pattern for r in (_CODE, _QUOTED, _URL, _EMAIL, _NUMBER, _TOKEN))]
    digest = hashlib.sha256(repr(spec).encode())
    digest.update(a.tobytes())
    digest.update(b.tobytes())
    return digest.hexdigest()[:16]


def template_keys(
    texts: Sequence[str], jaccard: float, min_group: int, seed: int = 0, parts: TemplateParts | None = None
) -> TemplateKeys:
    """Template flags and keys of the distinct prompts ``texts`` (or of their precomputed
    ``parts``, in the same order: then ``texts`` is not read)."""
    parts = parts if parts is not None else template_parts(texts, seed)
    sigs, eligible, affixes = parts.sigs, parts.eligible, parts.affixes
    bands = band_keys(sigs, eligible)
    templated = template_siblings(sigs, eligible, bands, jaccard)
    templated |= _shared(affixes[:, 0], min_group) | _shared(affixes[:, 1], min_group)
    # a prompt's bands together weigh as much as one wrapper end: a whole-prompt template
    # and an injected instruction count alike
    weights = np.r_[np.full(BANDS, 1.0 / BANDS), 1.0, 1.0]
    return TemplateKeys(templated, np.hstack([bands, affixes]), weights, parts.sketch)


def system_keys(systems: Sequence[str | None]) -> np.ndarray:
    """(n, 1) uint64 key of each request's system prompt skeleton (numbers, dates, quoted
    values and paths masked, so "Today's date is ..." variants meet); 0 where absent.

    Tool-schema sets are deliberately not keys: agent products built on one open-source
    framework send the same standard tool set (read_file, run_tests, ...), which linked
    unrelated products and their users when it was one."""
    keys = np.zeros((len(systems), 1), dtype=np.uint64)
    for i, system in enumerate(systems):
        if isinstance(system, str) and system.strip():
            keys[i, 0] = _text_key("system " + " ".join(skeleton(system).split()))
    return keys


def system_families(systems: Sequence[str | None], seed: int = 0) -> np.ndarray:
    """(n, BANDS) uint64 LSH band keys of each system prompt's skeleton; 0 where absent or
    too short. Two variations of one system prompt (a slot filled differently, a sentence
    added) share bands with high probability: the keys name a prompt's *family*."""
    texts = [s if isinstance(s, str) else "" for s in systems]
    sigs, eligible = minhash(texts, seed)
    return band_keys(sigs, eligible)


def templates(
    frame: pd.DataFrame, ctx: SignalContext, parts: TemplateParts | None = None
) -> tuple[pd.DataFrame, TemplateKeys]:
    """Per account: template_share (share of requests instantiating a template). ``parts``:
    the distinct prompts' precomputed ``template_parts`` (default: from ``ctx.texts``)."""
    cfg = ctx.config
    tk = template_keys(ctx.texts, cfg.template_jaccard, cfg.template_min_group, cfg.seed, parts)
    flags = tk.templated[frame[ROW].to_numpy()]
    share = pd.Series(flags, index=frame.index).groupby(frame[ACCOUNT].to_numpy()).mean()
    return pd.DataFrame({"template_share": share}), tk
