"""Per-account signals, one module per family; ``compute_signals`` runs them all."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.signals.areas import area_shares
from targeting.signals.base import ACCOUNT, TIME, SignalContext
from targeting.signals.coverage import coverage
from targeting.signals.elicitation import cot_share
from targeting.signals.novelty import novelty
from targeting.signals.spread import spread
from targeting.signals.templates import TemplateKeys, TemplateParts, templates
from targeting.signals.timing import timing

__all__ = ["SignalContext", "compute_signals"]


def volume(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby(ACCOUNT)[TIME]
    out = pd.DataFrame({"n_requests": g.size(), "first_seen": g.min(), "last_seen": g.max()})
    hours = (out["last_seen"] - out["first_seen"]).dt.total_seconds() / 3600.0
    out["active_days"] = frame.groupby(ACCOUNT)[TIME].apply(lambda t: t.dt.floor("D").nunique())
    out["span_hours"] = hours
    return out


def compute_signals(
    frame: pd.DataFrame, ctx: SignalContext, prompt_cot: np.ndarray, template_parts: TemplateParts | None = None
) -> tuple[pd.DataFrame, TemplateKeys]:
    """All signal columns per account, and the template keys of each distinct prompt
    (``template_parts``: the distinct prompts' precomputed parts, default from ``ctx.texts``)."""
    frame = frame.reset_index(drop=True)
    base = volume(frame)
    areas = area_shares(frame, ctx, prompt_cot)
    # coverage and spread count the clusters of what the account's requests are about
    cov = coverage(frame, ctx, areas["content_area"])
    spr = spread(frame, ctx, areas["content_area"])
    nov = novelty(frame, ctx)
    tmpl, keys = templates(frame, ctx, template_parts)
    cot = cot_share(frame, ctx, prompt_cot)
    tim = timing(frame, ctx)
    out = base.join([areas, cov, spr, nov, tmpl, cot, tim])
    out.index.name = ACCOUNT
    return out, keys
