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
from targeting.capmap.taxonomy import tool_lines
from targeting.ids import normalise_id
from targeting.queries import current_model_key, requests_of
from targeting.signals.elicitation import THRESHOLD, CotDetector, load_cot_exemplars, train_cot_detector
from targeting.signals.templates import minhash, skeleton
from targeting.summaries import campaign_summaries

MIN_AFFIX_CHARS = 24  # a shared start or end shorter than this is not shown as a wrapper
EXAMPLES = 3
CAMPAIGN_MAX_REQUESTS = 20_000  # campaign evidence reads at most this many requests (a stable sample)
MIN_SHARED_MEMBERS = 2  # a template shared by fewer members is not evidence
# a system prompt or tool set is campaign evidence only when at least half the members send it:
# generic ones ("You are a helpful assistant") are shared by a few members of any large group
MIN_CONTEXT_MEMBER_SHARE = 0.5
FAMILY_JACCARD = 0.5  # skeleton similarity of two variants of one system prompt
CONTEXT_KEY_WORDS = 8  # system prompts sent "in variations" are grouped by their first words


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


def account_evidence(
    ws: W.Workspace, account_id: str, examples: int = EXAMPLES, detector: CotDetector | None = None
) -> list[Evidence]:
    account_id = normalise_id(account_id)  # as ingest stores ids
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
            "coordination",
            f"campaign {campaign}: {len(members)} accounts share rare templates, wrappers or system-prompt variants",
            [f"{mine}\n    ~ {theirs} (account {acct})" for mine, theirs, acct in pairs],
            {"campaign_id": campaign, "members": members},
        ))
        family = _system_family(ws, table, account_id, others, examples)
        if family is not None:
            out.append(family)
    if row["cot_share"] > 0:
        detector = detector or train_cot_detector(*load_cot_exemplars())  # callers may cache one
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


def _system_family(ws: W.Workspace, table: pd.DataFrame, account_id: str, others: list[str], k: int) -> Evidence | None:
    """The account's system prompt family (first words of the skeleton) when other campaign
    members send it too: its variants, the evidence behind a system-prompt-family link."""
    members = table.loc[[account_id, *others], ["first_seen", "last_seen"]].reset_index()
    return system_family_evidence(_campaign_requests(ws, members), account_id, k)


def system_family_evidence(reqs: pd.DataFrame, account_id: str, k: int = EXAMPLES) -> Evidence | None:
    """From campaign requests (account_id, system): the family of the account's most used
    system prompt (prompts whose masked skeletons have an estimated Jaccard similarity of at
    least ``FAMILY_JACCARD`` with it, as the linking's LSH bands find them), when another
    account sends it too."""
    has = reqs["system"].map(lambda v: isinstance(v, str) and bool(v.strip()))
    own = reqs[has & (reqs["account_id"] == account_id)]
    if own.empty:
        return None
    distinct = reqs.loc[has, "system"].drop_duplicates().tolist()
    sigs, eligible = minhash(distinct)
    top = distinct.index(own["system"].value_counts().index[0])
    if not eligible[top]:
        return None
    similar = eligible & ((sigs == sigs[top]).mean(axis=1) >= FAMILY_JACCARD)
    family = {t for t, keep in zip(distinct, similar) if keep}
    rows = has & reqs["system"].isin(family)
    users = int(reqs.loc[rows, "account_id"].nunique())
    if users < 2:
        return None
    mine = reqs.loc[rows & (reqs["account_id"] == account_id), "system"]
    variants = mine.value_counts()
    return Evidence(
        "system_prompt",
        f"sends {len(variants)} variant{'s' if len(variants) != 1 else ''} of one system prompt on "
        f"{100 * len(mine) / max(int((reqs['account_id'] == account_id).sum()), 1):.0f}% of its requests; "
        f"{users - 1} other campaign member{'s' if users != 2 else ''} send the same prompt family",
        variants.index[:k].tolist(), {"variants": int(len(variants)), "members": users - 1},
    )


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


def _quote(text: str, limit: int = 160) -> str:
    """A shared text as one quoted line, cut at ``limit`` characters."""
    line = " ".join(str(text).split())
    return "“" + (line[:limit].rstrip() + "…" if len(line) > limit else line) + "”"


def _campaign_requests(ws: W.Workspace, members: pd.DataFrame) -> pd.DataFrame:
    """The members' requests within each member's scored window, with area and cluster.

    At most ``CAMPAIGN_MAX_REQUESTS``, a sample stable across calls (ordered by a hash of the
    request id), so a campaign of thousands of accounts stays cheap to explain.
    """
    accounts = members["account_id"].astype(str).tolist()
    start = pd.Timestamp(members["first_seen"].min()).to_pydatetime()
    end = pd.Timestamp(members["last_seen"].max()).to_pydatetime()
    reqs = W.request_sample(ws, accounts, start=start, end=end, limit=CAMPAIGN_MAX_REQUESTS).to_pandas()
    window = members.set_index("account_id")[["first_seen", "last_seen"]]
    ts = pd.to_datetime(reqs["timestamp"], utc=True)
    lo = pd.to_datetime(reqs["account_id"].map(window["first_seen"]), utc=True)
    hi = pd.to_datetime(reqs["account_id"].map(window["last_seen"]), utc=True)
    return reqs[(ts >= lo) & (ts <= hi)].reset_index(drop=True)


def _whole_words(text: str, part: str, prompts: pd.Series) -> str:
    """A shared start or end cut back to whole words.

    A shared end can begin inside a word ("...@corp.example.com. Before answering"): the
    fragment belongs to the prompts' varying part (here an e-mail address) and is dropped.
    """
    if not text:
        return text
    carriers = prompts[prompts.str.endswith(text) if part == "end" else prompts.str.startswith(text)]
    if part == "end":
        cut_inside = any(len(p) > len(text) and not p[-len(text) - 1].isspace() for p in carriers)
        text = text.split(None, 1)[1] if cut_inside and len(text.split(None, 1)) > 1 else ("" if cut_inside else text)
    else:
        cut_inside = any(len(p) > len(text) and not p[len(text)].isspace() for p in carriers)
        text = text.rsplit(None, 1)[0] if cut_inside and len(text.rsplit(None, 1)) > 1 else ("" if cut_inside else text)
    return text.strip() if len(text.strip()) >= MIN_AFFIX_CHARS else ""


def _shared_context(reqs: pd.DataFrame, keys: pd.Series, n_members: int) -> tuple[pd.Series, str] | None:
    """The most widely shared non-empty key (by members): (its rows mask, a raw example)."""
    has = keys.notna() & (keys != "")
    if not has.any():
        return None
    spread = reqs[has].groupby(keys[has])["account_id"].nunique().sort_values(ascending=False, kind="stable")
    key, users = spread.index[0], int(spread.iloc[0])
    if users < max(MIN_SHARED_MEMBERS, MIN_CONTEXT_MEMBER_SHARE * n_members):
        return None
    rows = keys == key
    return rows, str(reqs.loc[rows].index[0])


def campaign_evidence(
    ws: W.Workspace, campaign_id: str, examples: int = 2, scores: pd.DataFrame | None = None
) -> list[Evidence]:
    """What ties a campaign's accounts together and what they target, in checkable words.

    One entry per kind found, in this order: ``coverage`` (the area and how much of it the
    pooled requests reach), ``wrapper`` (a fixed start or end of the prompts: an injected
    instruction), ``system_prompt`` (one system prompt, up to numbers and quoted text, sent
    by several members), ``tools`` (one tool set sent by several members), ``template``
    (masked prompt skeletons shared by several members) and ``examples`` (``examples``
    distinct prompts from different members and clusters): each kind a pure function of the
    members' requests below. Shared texts are quoted in the summaries and kept whole in
    ``detail``; nothing is redacted here (callers redact). ``scores`` defaults to the latest
    scores; pass a night's scores to explain that night.
    """
    members = _campaign_members(ws, campaign_id, scores)
    summary = campaign_summaries(members).iloc[0]
    reqs = _campaign_requests(ws, members)
    n = len(members)
    out = [coverage_evidence(summary, n)]
    if reqs.empty:
        return out
    out += wrapper_evidence(reqs, n)
    out += [e for e in (system_prompt_evidence(reqs, n), tools_evidence(reqs, n), template_evidence(reqs, n))
            if e is not None]
    out.append(example_evidence(reqs, str(summary["target_area"]), examples))
    return out


def _campaign_members(ws: W.Workspace, campaign_id: str, scores: pd.DataFrame | None) -> pd.DataFrame:
    """The score rows of a campaign's members on the latest night of ``scores`` (default: the
    workspace's latest scores)."""
    if scores is None:
        table = W.read_latest_scores(ws)
        if table is None:
            raise ValueError(f"workspace {ws.root} has no scores")
        scores = table.to_pandas()
    if "as_of" in scores.columns and scores["as_of"].nunique() > 1:
        scores = scores[scores["as_of"] == scores["as_of"].max()]
    members = scores[scores["campaign_id"].fillna("").astype(str) == campaign_id]
    if members.empty:
        raise KeyError(f"campaign {campaign_id!r} is not in the scores")
    return members


def coverage_evidence(summary: pd.Series, n: int) -> Evidence:
    """``coverage``: the campaign's target area, its share of the ``n`` members' requests and
    how many of the area's clusters they reach together (a row of ``campaign_summaries``)."""
    area = str(summary["target_area"])
    words = area.replace("_", " ")
    covered, of = summary["covered_clusters"], summary["area_clusters"]
    reach = (f"; together their {words} requests fall in {int(covered)} distinct clusters "
             f"(the map has {int(of)} {words} clusters: coverage {100 * summary['coverage']:.0f}%)"
             if pd.notna(covered) and pd.notna(of) else "")
    share = summary["target_share"]
    return Evidence(
        "coverage",
        f"{n} accounts, {int(summary['n_requests']):,} requests"
        + (f", {100 * share:.0f}% of them in {words}" if pd.notna(share) else f", targeting {words}") + reach,
        [], {"area": area, "covered_clusters": covered, "area_clusters": of, "target_share": share},
    )


def wrapper_evidence(reqs: pd.DataFrame, n: int) -> list[Evidence]:
    """``wrapper``: a fixed start and/or end (whole words) of the members' prompts, one entry each."""
    distinct = reqs.drop_duplicates("prompt")
    head, tail = (_whole_words(t, part, distinct["prompt"]) for t, part in
                  zip(shared_affixes(distinct["prompt"].tolist()), ("start", "end")))
    out = []
    for part, text in (("start", head), ("end", tail)):
        if not text:
            continue
        has = reqs["prompt"].str.startswith(text) if part == "start" else reqs["prompt"].str.endswith(text)
        users = int(reqs.loc[has, "account_id"].nunique())
        out.append(Evidence(
            "wrapper",
            f"{users} of {n} accounts {part} {100 * has.mean():.0f}% of their prompts with the same text: {_quote(text)}",
            [], {"part": part, "text": text, "accounts": users, "share": float(has.mean())},
        ))
    return out


def system_prompt_evidence(reqs: pd.DataFrame, n: int) -> Evidence | None:
    """``system_prompt``: one system prompt (its skeleton's first words) sent by at least half the
    ``n`` members (``_shared_context``), with how many variants of it they send."""
    system_keys = reqs["system"].map(
        lambda s: " ".join(skeleton(s).split()[:CONTEXT_KEY_WORDS]) if isinstance(s, str) and s.strip() else ""
    )
    found = _shared_context(reqs, system_keys, n)
    if found is None:
        return None
    rows, _ = found
    users = int(reqs.loc[rows, "account_id"].nunique())
    variants = reqs.loc[rows, "system"].value_counts()
    text = str(variants.index[0])
    return Evidence(
        "system_prompt",
        f"{users} of {n} accounts send the same system prompt ({len(variants)} variant"
        f"{'s' if len(variants) != 1 else ''}) on {100 * rows.mean():.0f}% of requests: {_quote(text)}",
        [], {"text": text, "accounts": users, "share": float(rows.mean()), "variants": len(variants)},
    )


def _tool_key(tools: Any) -> str:
    """A request's tool set as its sorted tool names."""
    names = sorted({line.split("(", 1)[0] for line in tool_lines(tools) if line})
    return ", ".join(names)


def tools_evidence(reqs: pd.DataFrame, n: int) -> Evidence | None:
    """``tools``: one tool set (by tool names) sent by at least half the ``n`` members."""
    tool_keys = reqs["tools"].map(_tool_key)
    found = _shared_context(reqs, tool_keys, n)
    if found is None:
        return None
    rows, _ = found
    users = int(reqs.loc[rows, "account_id"].nunique())
    names = str(tool_keys[rows].iloc[0])
    return Evidence(
        "tools",
        f"{users} of {n} accounts send the same tool set ({names}) on {100 * rows.mean():.0f}% of requests",
        [], {"tools": names.split(", "), "accounts": users, "share": float(rows.mean())},
    )


def template_evidence(reqs: pd.DataFrame, n: int) -> Evidence | None:
    """``template``: masked prompt skeletons used by several of the ``n`` members, and the most used."""
    skeletons = reqs["prompt"].map(skeleton)
    spread = reqs.groupby(skeletons)["account_id"].nunique()
    shared = spread[spread >= min(MIN_SHARED_MEMBERS, n)]
    if not len(shared):
        return None
    in_shared = skeletons.isin(shared.index)
    top = skeletons[in_shared].value_counts().index[0]
    return Evidence(
        "template",
        f"{100 * in_shared.mean():.0f}% of requests fill one of {len(shared):,} prompt templates used by "
        f"several members (numbers, quotes and code masked); the most used, by {int(spread[top])} accounts: "
        f"{_quote(top)}",
        [], {"templates": int(len(shared)), "share": float(in_shared.mean()), "top": top},
    )


def example_evidence(reqs: pd.DataFrame, area: str, examples: int) -> Evidence:
    """``examples``: up to ``examples`` distinct prompts of the campaign, each from another member."""
    picks: list[str] = []
    used_accounts: set[str] = set()
    # examples from the target area's clusters that most members reach (the campaign's shared
    # ground, not one member's follow-ups), from different members, at the upper-quartile length:
    # short prompts are often follow-ups ("and if the numbers were doubled?") that show no frame
    distinct = reqs.drop_duplicates("prompt")
    in_area = distinct[distinct["area"] == area] if (distinct["area"] == area).any() else distinct
    by_cluster = in_area.assign(_len=in_area["prompt"].str.len()).sort_values(["_len", "request_id"])
    reach_by_cluster = reqs[reqs["area"] == area].groupby("cluster_id")["account_id"].nunique()
    ranked = reach_by_cluster.sort_values(ascending=False, kind="stable").index.tolist()
    for cluster in ranked + [c for c in reqs["cluster_id"].value_counts().index if c not in set(ranked)]:
        pool = by_cluster[(by_cluster["cluster_id"] == cluster) & ~by_cluster["account_id"].isin(used_accounts)]
        if pool.empty:
            continue
        row = pool.iloc[(3 * len(pool)) // 4]
        picks.append(str(row["prompt"]))
        used_accounts.add(str(row["account_id"]))
        if len(picks) >= examples:
            break
    return Evidence("examples", f"{len(picks)} example prompt{'s' if len(picks) != 1 else ''} of the campaign",
                    picks, {})
