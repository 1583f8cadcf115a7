"""The protocol every engine implements: where a job's embed and assign stages run."""

from __future__ import annotations

from typing import Protocol, Sequence

import pandas as pd

from targeting import workspace as W
from targeting.capmap import CapabilityMap
from targeting.embed import Encoder, VectorStore


class Engine(Protocol):
    """Embeds texts into the embedding cache and assigns requests to a map. Both engines store
    the same vectors and assignments; the job calls these and never asks which engine runs."""

    def embed(self, ws: W.Workspace, run_id: str, encoder: Encoder, store: VectorStore, hashes: Sequence[str],
              texts: Sequence[str]) -> int:
        """Embed the distinct texts whose hash ``store`` lacks into the workspace's embedding
        cache (checkpoint files named after ``run_id``) and add their vectors to ``store``.
        Returns how many were embedded."""
        ...

    def assign(self, tx: W.Transaction, cmap: CapabilityMap, encoder: Encoder, store: VectorStore,
               requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Assign ``requests`` (all staged by ``tx``'s ingest, whose vectors are in ``store`` or
        the cache) to ``cmap`` and stage their rows in ``assignments``. Returns (the assignments
        in the order of ``requests``, their partial per-account activity, ``targeting.activity``)."""
        ...

    def close(self) -> None:
        """Release what the engine started."""
        ...
