"""Read-only questions over a workspace, shared by the command line, the app and reports.

Nothing here computes scores: it reads what the pipeline committed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting import workspace as W
from targeting.capmap import CapabilityMap, load_map
from targeting.embed import Encoder
from targeting.index import PromptIndex, load_index, search


@dataclass(frozen=True)
class SearchHit:
    prompt_hash: str
    similarity: float
    prompt: str
    accounts: tuple[str, ...]
    requests: int


def current_map(ws: W.Workspace) -> CapabilityMap | None:
    state = W.read_state(ws)
    return load_map(ws.map_dir(state["map_id"])) if state.get("map_id") else None


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
    quoted = ", ".join("'" + h.replace("'", "") + "'" for h in hits["prompt_hash"])
    rows = W.query(
        "SELECT prompt_hash, any_value(prompt) AS prompt, list(DISTINCT account_id) AS accounts, "
        f"count(*) AS requests FROM read_parquet('{ws.requests_glob()}') "
        f"WHERE prompt_hash IN ({quoted}) GROUP BY prompt_hash"
    ).to_pandas()
    out = hits.merge(rows, on="prompt_hash", how="left")
    return out.sort_values("similarity", ascending=False, ignore_index=True)


def latest_accounts(ws: W.Workspace) -> pd.DataFrame:
    table = W.read_latest_scores(ws)
    return table.to_pandas() if table is not None else pd.DataFrame()


def account_requests(ws: W.Workspace, account_id: str) -> pd.DataFrame:
    """An account's requests with their area and cluster, oldest first."""
    safe = account_id.replace("'", "''")
    return W.query(
        "SELECT r.request_id, r.timestamp, r.prompt, r.system, a.area, a.cluster_id "
        f"FROM read_parquet('{ws.requests_glob()}') r "
        f"JOIN read_parquet('{ws.assignments_glob()}') a USING (request_id) "
        f"WHERE r.account_id = '{safe}' ORDER BY r.timestamp"
    ).to_pandas()
