"""The local engine: embed and assign in this process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from targeting import activity, nightly
from targeting import schema as S
from targeting import workspace as W
from targeting.capmap import CapabilityMap
from targeting.capmap.assign import assign_requests
from targeting.config import Settings
from targeting.embed import Encoder, VectorStore


@dataclass
class LocalEngine:
    """``[scaleout] engine = "local"``: checkpointed embedding (``nightly.embed_checkpointed``)
    and ``assign_requests`` over the whole frame."""

    settings: Settings

    def embed(self, ws: W.Workspace, run_id: str, encoder: Encoder, store: VectorStore, hashes: Sequence[str],
              texts: Sequence[str]) -> int:
        return nightly.embed_checkpointed(ws, run_id, encoder, store, hashes, texts,
                                          self.settings.nightly.embed_checkpoint, self.settings.embed.progress)

    def assign(self, tx: W.Transaction, cmap: CapabilityMap, encoder: Encoder, store: VectorStore,
               requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        assigned = assign_requests(cmap, requests, store, encoder.dim, self.settings.map)
        W.stage_partitioned(tx, assigned, S.ASSIGNMENT_SCHEMA, "assignments")
        return assigned, activity.partial_activity(assigned)

    def close(self) -> None:
        pass
