"""How an account's distinct prompts fill their region: diversity and regularity.

``diversity`` is the mean pairwise cosine distance of the account's distinct prompts, and
``vendi_score`` their Vendi score (Friedman & Dieng, 2023): the exponential of the entropy of
the eigenvalues of their similarity matrix, i.e. the effective number of distinct prompts
(1 for one prompt repeated with small edits, m for m unrelated prompts). Diversity is
comparable across volumes; the Vendi score grows with volume and says how many genuinely
different things an account asked.

``regularity`` is a Clark-Evans style index. The account's mean nearest-neighbour distance
``d_obs`` (over its m distinct prompts in its dominant area) is divided by the mean
nearest-neighbour distance of m prompts drawn at random from the area's traffic (one
prompt per randomly chosen account, so heavy accounts do not define the area),
``d_ref(m)``; the ratio is then divided by its median over the area's accounts, so ~1
means "like the area's typical account", > 1 spread out evenly, < 1 clumped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.signals.base import ACCOUNT, AREA, ROW, SignalContext, account_groups, sample_rows

REF_SIZES = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
REF_DRAWS = 4


def mean_nn_distance(vectors: np.ndarray) -> float:
    """Mean cosine distance from each unit vector to its nearest other vector."""
    if len(vectors) < 2:
        return float("nan")
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return float(np.mean(1.0 - sims.max(axis=1)))


def mean_pairwise_distance(vectors: np.ndarray) -> float:
    m = len(vectors)
    if m < 2:
        return 0.0
    total = vectors.sum(axis=0)
    sum_sims = float(total @ total) - float(np.einsum("ij,ij->", vectors, vectors))
    return float(1.0 - sum_sims / (m * (m - 1)))


def vendi_score(vectors: np.ndarray) -> float:
    """Effective number of distinct items among unit ``vectors`` (cosine kernel).

    The non-zero eigenvalues of K / m (K = V V^T) are those of V^T V / m, so the smaller of
    the two Gram matrices is decomposed (symmetric eigenvalues: about 3x faster than an SVD
    of V, which took 43% of scoring at a million requests)."""
    m = len(vectors)
    if m == 0:
        return 0.0
    v = np.asarray(vectors, dtype=np.float64)
    gram = v @ v.T if m <= v.shape[1] else v.T @ v
    lam = np.linalg.eigvalsh(gram / m)
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()
    return float(np.exp(-(lam * np.log(lam)).sum()))


def reference_nn_curve(
    area_rows_by_account: list[np.ndarray], vectors: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """d_ref(m) on a grid of m: NN distance of m prompts from m random accounts of the area."""
    rng = np.random.default_rng(seed)
    sizes, values = [], []
    n_acc = len(area_rows_by_account)
    if n_acc < 2:
        return np.array([]), np.array([])
    for m in REF_SIZES:
        draws = []
        for _ in range(REF_DRAWS):
            accounts = rng.choice(n_acc, m, replace=m > n_acc)
            rows = np.array([rng.choice(area_rows_by_account[a]) for a in accounts])
            rows = np.unique(rows)
            if len(rows) >= 2:
                draws.append(mean_nn_distance(vectors[rows]))
        if draws:
            sizes.append(m)
            values.append(float(np.mean(draws)))
    return np.array(sizes, dtype=float), np.array(values)


def _interp(curve: tuple[np.ndarray, np.ndarray], m: int) -> float:
    sizes, values = curve
    if len(sizes) == 0:
        return float("nan")
    return float(np.interp(np.log(m), np.log(sizes), values))


@dataclass(frozen=True)
class SpreadReference:
    """What regularity is measured against: per area, the nearest-neighbour distance curve
    of random draws from its accounts, and the median ratio of those accounts."""

    curves: dict[int, tuple[np.ndarray, np.ndarray]]
    medians: dict[int, float]


def _raw(frame: pd.DataFrame, ctx: SignalContext, dominant: pd.Series, curves, measures: bool = True) -> pd.DataFrame:
    """Per account: the raw ratio d_obs / d_ref(m) in its area and, with ``measures``,
    diversity and Vendi score (the costly part; a reference needs only the ratios)."""
    cfg = ctx.config
    area_index = {a: i for i, a in enumerate(ctx.areas)}
    rows_all = frame[ROW].to_numpy()
    areas_all = frame[AREA].to_numpy()
    records = []
    for account, positions in account_groups(frame).items():
        a = area_index[dominant[account]]
        in_area = np.unique(rows_all[positions][areas_all[positions] == a])
        in_area = sample_rows(in_area, cfg.max_prompts_per_account, cfg.seed)
        raw = float("nan")
        if len(in_area) >= 2:
            ref = _interp(curves[a], len(in_area))
            if ref > 0:
                raw = mean_nn_distance(ctx.vectors[in_area]) / ref
        record = {ACCOUNT: account, "regularity_raw": raw, "_area": a, "distinct_in_area": len(in_area)}
        if measures:
            sample = sample_rows(np.unique(rows_all[positions]), cfg.max_prompts_per_account, cfg.seed)
            record["diversity"] = mean_pairwise_distance(ctx.vectors[sample])
            record["vendi_score"] = vendi_score(ctx.vectors[sample])
        records.append(record)
    columns = [ACCOUNT, *(["diversity", "vendi_score"] if measures else []), "regularity_raw", "_area",
               "distinct_in_area"]
    return pd.DataFrame(records, columns=columns).set_index(ACCOUNT)


def _curves(frame: pd.DataFrame, ctx: SignalContext) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    rows_all = frame[ROW].to_numpy()
    areas_all = frame[AREA].to_numpy()
    per_area: dict[int, list[np.ndarray]] = {a: [] for a in range(len(ctx.areas))}
    for positions in account_groups(frame).values():
        for a in np.unique(areas_all[positions]):
            per_area[int(a)].append(np.unique(rows_all[positions][areas_all[positions] == a]))
    return {a: reference_nn_curve(lists, ctx.vectors, ctx.config.seed + a) for a, lists in per_area.items()}


def _medians(raw: pd.DataFrame) -> dict[int, float]:
    return {int(k): float(v) for k, v in raw.groupby("_area")["regularity_raw"].median().items()}


def spread_reference(frame: pd.DataFrame, ctx: SignalContext, dominant: pd.Series) -> SpreadReference:
    """The reference of every account in ``frame`` (its population)."""
    curves = _curves(frame, ctx)
    return SpreadReference(curves=curves, medians=_medians(_raw(frame, ctx, dominant, curves, measures=False)))


def spread(
    frame: pd.DataFrame, ctx: SignalContext, dominant: pd.Series, reference: SpreadReference | None = None
) -> pd.DataFrame:
    """diversity, vendi_score, regularity and distinct_in_area per account of ``frame``.

    ``reference`` (default: ``frame``'s own accounts) lets a campaign's pooled prompts be
    judged against individual accounts: members that split an area between them fill it
    more evenly together than any one of them shows."""
    if reference is None:
        curves = _curves(frame, ctx)
        out = _raw(frame, ctx, dominant, curves)
        medians = _medians(out)
    else:
        out = _raw(frame, ctx, dominant, reference.curves)
        medians = reference.medians
    out["regularity"] = (out["regularity_raw"] / out["_area"].map(medians).astype(float)).fillna(1.0)
    return out.drop(columns=["_area", "regularity_raw"])
