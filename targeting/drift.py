"""Drift of new traffic away from the capability map, measured every night.

A new prompt is *far* when its cosine distance to the nearest anchor of the map exceeds
what the map's own prompts show: the ``far_quantile`` (99% by default) of the anchors'
leave-one-out nearest-anchor distances, i.e. of the distance a prompt drawn like the fitted
sample has to the rest of the sample. On traffic like the fitted sample about 1% of new
prompts are far; when the night's share exceeds ``drift_share`` (5% by default) the map no
longer describes the traffic and ``targeting fit`` should refresh it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from targeting.capmap import CapabilityMap
from targeting.config import NightlyConfig

LOO_SAMPLE = 20_000  # anchors used to estimate the leave-one-out distance distribution


@dataclass(frozen=True)
class Drift:
    prompts: int  # distinct new prompts measured
    far: int  # of which far from every anchor
    share: float  # far / prompts
    threshold: float  # the cosine distance that counts as far
    alert_share: float  # share above which a refit is due
    alert: bool

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        verdict = "refit due (targeting fit)" if self.alert else "map still fits"
        return (f"{100 * self.share:.1f}% of {self.prompts:,} new prompts far from every cluster "
                f"(distance > {self.threshold:.3f}; alert above {100 * self.alert_share:.0f}%): {verdict}")


def far_threshold(cmap: CapabilityMap, quantile: float, seed: int = 0) -> float:
    """The ``quantile`` of the anchors' leave-one-out nearest-anchor cosine distance."""
    import faiss

    anchors = np.ascontiguousarray(cmap.anchors, dtype=np.float32)
    if len(anchors) < 3:
        return 1.0
    index = faiss.IndexFlatIP(anchors.shape[1])
    index.add(anchors)
    rng = np.random.default_rng(seed)
    probe = anchors if len(anchors) <= LOO_SAMPLE else anchors[rng.choice(len(anchors), LOO_SAMPLE, replace=False)]
    sims, ids = index.search(probe, 2)
    # the first hit is the anchor itself (or an identical one): the second is its nearest other
    loo = 1.0 - sims[:, 1]
    return float(np.quantile(np.clip(loo, 0.0, 2.0), quantile))


def measure_drift(distances: np.ndarray, cmap: CapabilityMap, config: NightlyConfig) -> Drift:
    """Drift of the new distinct prompts whose nearest-anchor ``distances`` are given."""
    threshold = config.far_distance or far_threshold(cmap, config.far_quantile)
    distances = np.asarray(distances, dtype=np.float32)
    far = int((distances > threshold).sum())
    share = far / len(distances) if len(distances) else 0.0
    return Drift(
        prompts=int(len(distances)), far=far, share=round(float(share), 6), threshold=round(float(threshold), 6),
        alert_share=config.drift_share, alert=bool(len(distances) > 0 and share > config.drift_share),
    )
