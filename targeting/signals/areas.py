"""Area concentration: shares of each area, the dominant area, and entropy over areas."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.schema import share_column
from targeting.signals.base import ACCOUNT, AREA, SignalContext


def area_shares(frame: pd.DataFrame, ctx: SignalContext) -> pd.DataFrame:
    """share_<area> (sums to 1), dominant_area, concentration and area_entropy (0..1)."""
    n_areas = len(ctx.areas)
    counts = (
        pd.crosstab(frame[ACCOUNT], frame[AREA])
        .reindex(columns=range(n_areas), fill_value=0)
        .astype(float)
    )
    shares = counts.div(counts.sum(axis=1), axis=0)
    out = pd.DataFrame(index=shares.index)
    for i, area in enumerate(ctx.areas):
        out[share_column(area)] = shares[i]
    values = shares.to_numpy()
    out["dominant_area"] = [ctx.areas[i] for i in values.argmax(axis=1)]
    targets = list(ctx.target_areas)
    # concentration in the most-used area worth extracting
    out["target_share"] = values[:, targets].max(axis=1) if targets else 0.0
    out["target_area"] = [ctx.areas[targets[i]] for i in values[:, targets].argmax(axis=1)] if targets else ""
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -np.nansum(np.where(values > 0, values * np.log(values), 0.0), axis=1)
    out["area_entropy"] = ent / np.log(n_areas) if n_areas > 1 else 0.0
    return out
