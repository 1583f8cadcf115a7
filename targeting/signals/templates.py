"""Template reuse: distinct prompts that instantiate one skeleton with different slot values.

Each distinct prompt is reduced to a skeleton (lower case; code blocks, quoted strings,
numbers, URLs and e-mail addresses masked) and shingled into word 3-grams. MinHash
signatures and LSH banding propose pairs; a pair is linked when its estimated Jaccard
similarity reaches ``template_jaccard``; connected groups with at least
``template_min_group`` distinct prompts are templates. The number of accounts sharing a
template is kept: one account reusing its own wrapper is an app, many accounts sharing one
skeleton is coordination.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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
    tokens = _TOKEN.findall(skeleton(text))
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


def template_groups(texts: Sequence[str], jaccard: float, min_group: int, seed: int = 0) -> np.ndarray:
    """Group label per text (-1: not part of any template)."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    sigs, eligible = minhash(texts, seed)
    idx = np.flatnonzero(eligible)
    src, dst = [], []
    for band in range(BANDS):
        cols = sigs[idx, band * ROWS_PER_BAND : (band + 1) * ROWS_PER_BAND]
        _, first, inverse = np.unique(cols, axis=0, return_index=True, return_inverse=True)
        leader = idx[first[inverse.ravel()]]
        member = idx
        keep = leader != member
        if not keep.any():
            continue
        est = (sigs[member[keep]] == sigs[leader[keep]]).mean(axis=1)
        ok = est >= jaccard
        src.append(member[keep][ok])
        dst.append(leader[keep][ok])
    labels = np.full(n, -1, dtype=np.int64)
    if not src:
        return labels
    src_a, dst_a = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(src_a)), (src_a, dst_a)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    big = sizes[comp] >= min_group
    labels[big] = comp[big]
    return labels


BOILERPLATE_DOMINANCE = 0.3  # median share of its users' requests below which shared text is boilerplate
AFFIX_WORDS = 8  # words of a prompt's start and end compared for shared wrappers


def affix_keys(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Masked first and last ``AFFIX_WORDS`` words of each prompt ("" when too short)."""
    heads, tails = [], []
    for text in texts:
        words = skeleton(text).split()
        if len(words) < 2 * AFFIX_WORDS:
            heads.append("")
            tails.append("")
            continue
        heads.append(" ".join(words[:AFFIX_WORDS]))
        tails.append(" ".join(words[-AFFIX_WORDS:]))
    return np.array(heads, dtype=object), np.array(tails, dtype=object)


def affix_groups(texts: Sequence[str], min_group: int) -> np.ndarray:
    """Group label per text for prompts sharing an exact wrapper start or end (-1: none).

    Catches injected instructions appended to otherwise unrelated prompts, which MinHash
    over the whole prompt misses when the relayed text is longer than the instruction.
    """
    n = len(texts)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    heads, tails = affix_keys(texts)
    src, dst = [], []
    for keys in (heads, tails):
        valid = keys != ""
        idx = np.flatnonzero(valid)
        if len(idx) == 0:
            continue
        _, first, inverse, counts = np.unique(keys[idx].astype(str), return_index=True, return_inverse=True, return_counts=True)
        big = counts[inverse.ravel()] >= min_group
        src.append(idx[big])
        dst.append(idx[first[inverse.ravel()]][big])
    if not src or not sum(len(s) for s in src):
        return labels
    src_a, dst_a = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(src_a)), (src_a, dst_a)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    member = sizes[comp] >= min_group
    labels[member] = comp[member]
    return labels


def merge_groups(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two groupings of the same items (-1 = ungrouped in both)."""
    n = len(a)
    src, dst = [], []
    for labels in (a, b):
        idx = np.flatnonzero(labels >= 0)
        if len(idx) == 0:
            continue
        _, first, inverse = np.unique(labels[idx], return_index=True, return_inverse=True)
        src.append(idx)
        dst.append(idx[first[inverse.ravel()]])
    out = np.full(n, -1, dtype=np.int64)
    if not src:
        return out
    src_a, dst_a = np.concatenate(src), np.concatenate(dst)
    graph = coo_matrix((np.ones(len(src_a)), (src_a, dst_a)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    grouped = np.zeros(n, dtype=bool)
    grouped[src_a] = True
    out[grouped] = comp[grouped]
    return out


def template_id(member_texts: Sequence[str]) -> str:
    first = min(hashlib.sha256(t.encode("utf-8", "replace")).hexdigest() for t in member_texts)
    return f"t{first[:10]}"


def templates(frame: pd.DataFrame, ctx: SignalContext) -> tuple[pd.DataFrame, np.ndarray]:
    """Per account: template_share, template_accounts, top_template. Also the group per prompt."""
    cfg = ctx.config
    groups = merge_groups(
        template_groups(ctx.texts, cfg.template_jaccard, cfg.template_min_group, cfg.seed),
        affix_groups(ctx.texts, cfg.template_min_group),
    )
    req_group = groups[frame[ROW].to_numpy()]
    tmp = pd.DataFrame({ACCOUNT: frame[ACCOUNT].to_numpy(), "g": req_group})
    # Boilerplate is shared text that its users put in a small part of their traffic;
    # a template or wrapper carries most of its users' traffic. Drop the former.
    totals = tmp.groupby(ACCOUNT).size()
    use = tmp[tmp["g"] >= 0].groupby(["g", ACCOUNT]).size().rename("n").reset_index()
    use["frac"] = use["n"] / use[ACCOUNT].map(totals)
    dominance = use.groupby("g")["frac"].median()
    boilerplate = dominance.index[dominance < BOILERPLATE_DOMINANCE].to_numpy()
    if len(boilerplate):
        groups = np.where(np.isin(groups, boilerplate), -1, groups)
        tmp.loc[tmp["g"].isin(boilerplate), "g"] = -1
    in_tmpl = tmp[tmp["g"] >= 0]
    accounts_per_group = in_tmpl.groupby("g")[ACCOUNT].nunique()
    share = (tmp["g"] >= 0).groupby(tmp[ACCOUNT]).mean()
    out = pd.DataFrame(index=share.index)
    out["template_share"] = share
    if len(in_tmpl):
        counts = in_tmpl.groupby([ACCOUNT, "g"]).size().rename("n").reset_index()
        counts["accounts"] = counts["g"].map(accounts_per_group)
        top = counts.sort_values(["n", "accounts"], ascending=False).drop_duplicates(ACCOUNT).set_index(ACCOUNT)
        # the widest-shared template among those carrying a tenth of the account's requests
        counts["frac"] = counts["n"] / counts[ACCOUNT].map(totals)
        wide = counts[counts["frac"] >= 0.1].groupby(ACCOUNT)["accounts"].max()
        out["template_accounts"] = wide.reindex(out.index).fillna(0).astype(int)
        out["top_template"] = top["g"].reindex(out.index)
    else:
        out["template_accounts"] = 0
        out["top_template"] = np.nan
    return out, groups
