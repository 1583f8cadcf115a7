"""Read-only questions over a workspace, shared by the command line, the app and reports.

Nothing here computes scores: it reads what the pipeline committed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting import workspace as W
from targeting.capmap import load_map
from targeting.embed import Encoder
from targeting.ids import normalise_id
from targeting.index import PromptIndex, load_index, search


def current_model_key(ws: W.Workspace) -> str | None:
    """Key of the model the workspace's current map was fitted with (its vectors' key)."""
    state = W.read_state(ws)
    return load_map(ws.map_dir(state["map_id"])).meta["model_key"] if state.get("map_id") else None


def current_index(ws: W.Workspace) -> PromptIndex | None:
    state = W.read_state(ws)
    folder = ws.index_dir(state["map_id"]) if state.get("map_id") else None
    return load_index(folder) if folder is not None and folder.exists() else None


def search_prompts(
    ws: W.Workspace,
    pindex: PromptIndex,
    query: str | np.ndarray,
    *,
    encoder: Encoder | None = None,
    k: int = 10,
) -> pd.DataFrame:
    """Nearest stored prompts to a text (embedded with ``encoder``) or a vector, with accounts.

    Columns: prompt_hash, similarity, prompt, accounts (list), requests (count).
    """
    if isinstance(query, str):
        if encoder is None:
            raise ValueError("a text query needs the encoder the workspace was built with")
        vector = encoder.encode([query])
    else:
        vector = np.atleast_2d(np.asarray(query, dtype=np.float32))
    sims, hashes = search(pindex, vector, k)
    hits = pd.DataFrame({"prompt_hash": hashes[0].astype(str), "similarity": sims[0]})
    if hits.empty:
        return hits.assign(prompt=[], accounts=[], requests=[])
    rows = W.prompt_hash_usage(ws, hits["prompt_hash"].tolist()).to_pandas()
    out = hits.merge(rows, on="prompt_hash", how="left")
    return out.sort_values("similarity", ascending=False, ignore_index=True)


def requests_of(ws: W.Workspace, accounts: list[str]) -> pd.DataFrame:
    """The accounts' requests with their area and cluster, oldest first (ids normalised as
    ingest stores them: ``targeting.ids``)."""
    return W.requests_with_assignments(ws, [normalise_id(a) for a in accounts]).to_pandas()
