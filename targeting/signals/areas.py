"""Area concentration: shares of each area, the content and dominant areas, entropy over areas.

Two areas per account answer two questions. ``content_area`` is the area most of its
requests are about (the map's assignment): the accounts an account is compared with
(``targeting.peers``) and the clusters its coverage counts are those of its content area.
``dominant_area`` is the capability its traffic draws out of the model, the one reported:
the same count, except that a request of the fallback area ("other") whose prompt elicits
articulated reasoning counts toward ``ctx.elicited_area`` (reasoning in the default
taxonomy). A relay that appends "think inside <reasoning> tags" to its users' everyday
questions harvests reasoning traces whatever the topics are; its content stays "other".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.schema import share_column
from targeting.signals.base import ACCOUNT, AREA, ROW, SignalContext
from targeting.signals.elicitation import THRESHOLD


def _counts(frame: pd.DataFrame, areas: np.ndarray, n_areas: int) -> pd.DataFrame:
    return (
        pd.crosstab(frame[ACCOUNT].to_numpy(), areas, rownames=[ACCOUNT])
        .reindex(columns=range(n_areas), fill_value=0)
        .astype(float)
    )


def elicited_areas(frame: pd.DataFrame, ctx: SignalContext, prompt_cot: np.ndarray | None) -> np.ndarray:
    """Each request's area, with fallback-area requests that elicit reasoning moved to
    ``ctx.elicited_area`` (unchanged when there is none or no probabilities are given)."""
    area = frame[AREA].to_numpy().copy()
    if ctx.elicited_area is None or prompt_cot is None or not len(area):
        return area
    fallback = [i for i in range(len(ctx.areas)) if i not in ctx.target_areas]
    eliciting = prompt_cot[frame[ROW].to_numpy()] >= THRESHOLD
    area[np.isin(area, fallback) & eliciting] = ctx.elicited_area
    return area


def area_shares(frame: pd.DataFrame, ctx: SignalContext, prompt_cot: np.ndarray | None = None) -> pd.DataFrame:
    """share_<area> (sums to 1), content_area, dominant_area, target_share, target_area and
    area_entropy (0..1); ``prompt_cot`` (each distinct prompt's elicitation probability)
    decides the dominant area (see the module doc)."""
    n_areas = len(ctx.areas)
    counts = _counts(frame, frame[AREA].to_numpy(), n_areas)
    shares = counts.div(counts.sum(axis=1), axis=0)
    out = pd.DataFrame(index=shares.index)
    for i, area in enumerate(ctx.areas):
        out[share_column(area)] = shares[i]
    values = shares.to_numpy()
    out["content_area"] = [ctx.areas[i] for i in values.argmax(axis=1)]
    drawn = _counts(frame, elicited_areas(frame, ctx, prompt_cot), n_areas).reindex(shares.index)
    out["dominant_area"] = [ctx.areas[i] for i in drawn.to_numpy().argmax(axis=1)]
    targets = list(ctx.target_areas)
    # concentration in the most-used area worth extracting
    out["target_share"] = values[:, targets].max(axis=1) if targets else 0.0
    out["target_area"] = [ctx.areas[targets[i]] for i in values[:, targets].argmax(axis=1)] if targets else ""
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(values > 0, values * np.log(values), 0.0), axis=1)
    out["area_entropy"] = ent / np.log(n_areas) if n_areas > 1 else 0.0
    return out
