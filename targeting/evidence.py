"""The prompts behind each reason: what an analyst reads to check a score.

``account_evidence`` returns, for one account of the latest scores, one entry per kind of
evidence with the figures from the score table and example prompts: its dominant area, the
clusters it covers, the template or wrapper it shares (the common start or end of its
prompts, and the closest prompts of its campaign's other members), prompts that elicit
reasoning, and its repeats. Read-only; prompts are returned whole (callers truncate).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from targeting import workspace as W
from targeting.queries import current_model_key, requests_of
from targeting.signals.elicitation import THRESHOLD, load_cot_exemplars, train_cot_detector

MIN_AFFIX_CHARS = 24  # a shared start or end shorter than this is not shown as a wrapper
EXAMPLES = 3


@dataclass(frozen=True)
class Evidence:
    kind: str  # area | coverage | coordination | wrapper | elicitation | repeats
    summary: str
    examples: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


def shared_affixes(prompts: list[str]) -> tuple[str, str]:
    """The longest start and end shared by at least half of the prompts (may be '')."""
    if len(prompts) < 2:
        return "", ""
    rng = np.random.default_rng(0)
    sample = [prompts[i] for i in rng.choice(len(prompts), min(len(prompts), 40), replace=False)]
    best_head, best_tail = "", ""
    for anchor in sample[:8]:
        heads = sorted((os.path.commonprefix([anchor, p]) for p in sample), key=len, reverse=True)
        tails = sorted((os.path.commonprefix([anchor[::-1], p[::-1]])[::-1] for p in sample), key=len, reverse=True)
        head, tail = heads[len(heads) // 2], tails[len(tails) // 2]  # shared by half the sample
        best_head = max(best_head, head, key=len)
        best_tail = max(best_tail, tail, key=len)
    return (best_head.strip() if len(best_head.strip()) >= MIN_AFFIX_CHARS else "",
            best_tail.strip() if len(best_tail.strip()) >= MIN_AFFIX_CHARS else "")


def account_evidence(ws: W.Workspace, account_id: str, examples: int = EXAMPLES) -> list[Evidence]:
    scores = W.read_latest_scores(ws)
    if scores is None:
        raise ValueError(f"workspace {ws.root} has no scores")
    table = scores.to_pandas().set_index("account_id")
    if account_id not in table.index:
        raise KeyError(f"account {account_id!r} is not in the latest scores")
    row = table.loc[account_id]
    reqs = requests_of(ws, [account_id])
    out: list[Evidence] = []
    area = str(row["dominant_area"])
    in_area = reqs[reqs["area"] == area]
    out.append(Evidence(
        "area", f"{100 * row[f'share_{area}']:.0f}% of {int(row['n_requests'])} requests in {area}",
        in_area["prompt"].drop_duplicates().head(examples).tolist(), {"area": area},
    ))
    per_cluster = in_area.drop_duplicates("cluster_id")
    out.append(Evidence(
        "coverage",
        f"covers {int(row['covered_clusters'])} of {int(row['area_clusters'])} {area} clusters "
        f"(expected {row['expected_clusters']:.1f} for this volume)",
        per_cluster["prompt"].head(examples).tolist(), {"clusters": per_cluster["cluster_id"].tolist()},
    ))
    distinct = reqs["prompt"].drop_duplicates().tolist()
    head, tail = shared_affixes(distinct)
    if head or tail:
        out.append(Evidence(
            "wrapper", "prompts share a fixed " + (" and ".join(p for p, s in (("start", head), ("end", tail)) if s)),
            [t for t in (head, tail) if t], {"head": head, "tail": tail},
        ))
    campaign = str(row.get("campaign_id") or "")
    if campaign:
        members = table.index[table["campaign_id"] == campaign].tolist()
        others = [m for m in members if m != account_id][:20]
        pairs = _closest_pairs(ws, reqs, requests_of(ws, others) if others else reqs.iloc[:0], examples)
        out.append(Evidence(
            "coordination", f"campaign {campaign}: {len(members)} accounts share rare templates or wrappers",
            [f"{mine}\n    ~ {theirs} (account {acct})" for mine, theirs, acct in pairs],
            {"campaign_id": campaign, "members": members},
        ))
    if row["cot_share"] > 0:
        detector = train_cot_detector(*load_cot_exemplars())
        p = detector.probability(distinct)
        cot = [t for t, s in sorted(zip(distinct, p), key=lambda x: -x[1]) if s >= THRESHOLD]
        out.append(Evidence("elicitation", f"{100 * row['cot_share']:.0f}% of prompts elicit reasoning or grading",
                            cot[:examples]))
    counts = reqs["prompt"].value_counts()
    repeated = counts[counts > 1]
    if len(repeated):
        out.append(Evidence("repeats", f"{int(repeated.sum() - len(repeated))} requests repeat an earlier prompt exactly",
                            repeated.index[:examples].tolist(), {"counts": repeated.head(examples).tolist()}))
    return out


def _closest_pairs(ws: W.Workspace, mine: pd.DataFrame, theirs: pd.DataFrame, k: int) -> list[tuple[str, str, str]]:
    """The account's prompts with the most similar prompt of another campaign member."""
    if mine.empty or theirs.empty:
        return []
    a = mine.drop_duplicates("prompt_hash").head(200)
    b = theirs.drop_duplicates("prompt_hash").head(2000)
    hashes, vectors = W.read_embeddings(ws, current_model_key(ws), only=set(a["prompt_hash"]) | set(b["prompt_hash"]))
    where = {h: i for i, h in enumerate(hashes)}
    va = vectors[[where[h] for h in a["prompt_hash"]]].astype(np.float32)
    vb = vectors[[where[h] for h in b["prompt_hash"]]].astype(np.float32)
    sims = va @ vb.T
    best = sims.argmax(axis=1)
    order = np.argsort(-sims[np.arange(len(a)), best])[:k]
    return [(a["prompt"].iloc[i], b["prompt"].iloc[best[i]], b["account_id"].iloc[best[i]]) for i in order]
