"""Verdicts that teach: the accounts that resemble a verdict's account move with it.

After the label-free score (``targeting.risk``) and before the analysts' verdicts are joined
on (``targeting.verdicts.apply_verdicts``), each standing **confirmed** or **dismissed**
verdict (an account's, or a campaign's: its members) moves the scored accounts that resemble
it, and only those:

- resemblance is the larger of two, each in [0, 1]:
  *graph*: the weight of the account-graph edge (``campaigns.Links.similarity``: shared
  templates, system-prompt families, tool schemas, infrastructure corroborated by wording)
  between the look-alike and the verdict's account;
  *profile*: ``1 - d / D``, d the distance of the two accounts' standardised profiles (their
  label-free evidence per family, ``evidence_<family>``, and their area shares ``share_*``:
  what is unusual about them and which areas they sweep), D the median distance between the
  verdict accounts and every account (a typical pair);
- each verdict moves at most ``neighbours`` (K) accounts: its nearest look-alikes with a
  resemblance of at least ``min_resemblance``;
- an account's change, in log-odds of its risk score, is ``step`` x (sum of the resemblances
  to confirmed verdicts - sum of those to dismissed ones), clipped to +/- ``cap``.

So one mistaken verdict moves at most K accounts, none by more than ``cap`` in log-odds;
accounts with a verdict of their own (or their campaign's) are left to ``apply_verdicts``;
nothing runs before ``min_verdicts`` confirmed + dismissed verdicts stand on scored
accounts, and then an account no verdict resembles keeps its score bit for bit.

The flag stays the label-free one's bar: the threshold is calibrated on the label-free
scores (``risk.calibrate_threshold`` describes the benign bulk, which a few verdicts must not
move for everyone), and an account is flagged when its adjusted score reaches it
(allowlisted accounts never). Every moved account carries ``risk_score_label_free``,
``feedback_delta`` (log-odds) and a reason naming the verdicts it came from.

Pure: frames and arrays in, a frame out; the caller reads the verdicts and the graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial.distance import cdist

from targeting.config import EVIDENCE_FAMILIES, FeedbackConfig
from targeting.risk import severity

TEACHING = ("confirmed", "dismissed")
SIGN = {"confirmed": 1.0, "dismissed": -1.0}
RISK_EPS = 1e-9  # keeps a risk score of 0 (or 1) finite in log-odds
REASONS_NAMED = 2  # verdicts a reason names (the strongest); the others are counted
SOURCE_BLOCK = 256  # a verdict's accounts whose profile distances are taken at once


@dataclass(frozen=True)
class Teacher:
    """One standing confirmed or dismissed verdict and the scored accounts it is about."""

    target_kind: str  # account or campaign
    target_id: str
    verdict: str  # confirmed or dismissed
    analyst: str
    at: pd.Timestamp
    rows: np.ndarray  # positions in the score table of its account (or its campaign's members)


def teachers(table: pd.DataFrame, latest: pd.DataFrame) -> list[Teacher]:
    """The standing confirmed and dismissed verdicts that name accounts of ``table`` (by
    account id, or by campaign id for a campaign's verdict), in recording order."""
    if latest is None or latest.empty:
        return []
    accounts = table["account_id"].astype(str).to_numpy()
    campaigns = table["campaign_id"].fillna("").astype(str).to_numpy() if "campaign_id" in table else None
    out = []
    for row in latest[latest["verdict"].isin(TEACHING)].itertuples(index=False):
        target = str(row.target_id)
        if row.target_kind == "account":
            rows = np.flatnonzero(accounts == target)
        elif row.target_kind == "campaign" and campaigns is not None and target:
            rows = np.flatnonzero(campaigns == target)
        else:
            continue
        if len(rows):
            out.append(Teacher(row.target_kind, target, row.verdict, str(row.analyst), pd.Timestamp(row.at), rows))
    return out


def aligned_graph(graph: sparse.spmatrix, graph_accounts: np.ndarray, accounts: np.ndarray) -> sparse.csr_matrix:
    """The symmetric account graph with rows and columns in the order of ``accounts`` (an
    account the graph lacks has no edges)."""
    pos = pd.Index(np.asarray(graph_accounts).astype(str)).get_indexer(np.asarray(accounts).astype(str))
    valid = np.flatnonzero(pos >= 0)
    pick = sparse.csr_matrix((np.ones(len(valid)), (valid, pos[valid])), shape=(len(accounts), graph.shape[0]))
    g = (pick @ sparse.csr_matrix(graph) @ pick.T).tocsr()
    return g.maximum(g.T).tocsr()


def profiles(table: pd.DataFrame) -> np.ndarray:
    """(N, F) standardised profile of each account: its label-free evidence per family and
    its area shares (a missing value at its column's median; a constant column is 0)."""
    columns = [f"evidence_{f}" for f in EVIDENCE_FAMILIES if f"evidence_{f}" in table]
    columns += sorted(c for c in table.columns if c.startswith("share_"))
    if not columns:
        return np.zeros((len(table), 0))
    x = table[columns].apply(pd.to_numeric, errors="coerce").astype(float)
    x = x.fillna(x.median()).fillna(0.0).to_numpy()
    scale = x.std(axis=0)
    return np.divide(x - x.mean(axis=0), scale, out=np.zeros_like(x), where=scale > 0)


def distances(z: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N,) each account's profile distance to the nearest of ``rows`` (a campaign's members
    ``SOURCE_BLOCK`` at a time: N x members distances at once grow with the campaign)."""
    if z.shape[1] == 0:
        return np.full(len(z), np.inf)
    nearest = np.full(len(z), np.inf)
    for start in range(0, len(rows), SOURCE_BLOCK):
        nearest = np.minimum(nearest, cdist(z, z[rows[start : start + SOURCE_BLOCK]]).min(axis=1))
    return nearest


@dataclass(frozen=True)
class Influence:
    """Which accounts each verdict moves: parallel arrays, one entry per (verdict, account)."""

    teacher: np.ndarray  # index into the teachers
    row: np.ndarray  # position of the moved account in the table
    resemblance: np.ndarray  # in [min_resemblance, 1]
    graph: np.ndarray  # the graph edge weight (0: none)
    distance: np.ndarray  # profile distance
    typical: float  # the typical profile distance D


def influence(graph: sparse.csr_matrix, z: np.ndarray, found: list[Teacher], config: FeedbackConfig) -> Influence:
    """Each verdict's at most K nearest look-alikes (resemblance >= ``min_resemblance``), never
    an account with a teaching verdict of its own or its campaign's."""
    n = graph.shape[0]
    held = np.zeros(n, dtype=bool)
    for t in found:
        held[t.rows] = True
    dist = np.vstack([distances(z, t.rows) for t in found]) if found else np.zeros((0, n))
    finite = dist[np.isfinite(dist) & (dist > 0)]
    typical = float(np.median(finite)) if len(finite) else 1.0
    parts: list[tuple[np.ndarray, ...]] = []
    for i, t in enumerate(found):
        tie = np.asarray(graph[t.rows].max(axis=0).todense()).ravel()
        near = np.clip(1.0 - dist[i] / typical, 0.0, 1.0)
        score = np.where(held, 0.0, np.maximum(tie, near))
        order = np.lexsort((np.arange(n), -score))[: config.neighbours]  # nearest first, ties by position
        order = order[score[order] >= config.min_resemblance]
        parts.append((np.full(len(order), i), order, score[order], tie[order], dist[i][order]))
    if not parts:
        empty = np.zeros(0)
        return Influence(empty.astype(int), empty.astype(int), empty, empty, empty, typical)
    cols = [np.concatenate(c) for c in zip(*parts)]
    return Influence(cols[0].astype(int), cols[1].astype(int), cols[2], cols[3], cols[4], typical)


def deltas(found: list[Teacher], inf: Influence, n: int, config: FeedbackConfig) -> np.ndarray:
    """(N,) the change of each account's risk in log-odds: step x (confirmed - dismissed
    resemblances), clipped to +/- cap."""
    sign = np.array([SIGN[t.verdict] for t in found])[inf.teacher] if len(inf.row) else np.zeros(0)
    total = np.bincount(inf.row, weights=config.step * sign * inf.resemblance, minlength=n)
    return np.clip(total, -config.cap, config.cap)


def _why(t: Teacher, inf: Influence, k: int) -> str:
    name = f"campaign {t.target_id}" if t.target_kind == "campaign" else t.target_id
    day = t.at.strftime("%Y-%m-%d") if pd.notna(t.at) else "?"
    if inf.graph[k] >= inf.resemblance[k]:
        how = f"account-graph tie {inf.graph[k]:.2f} (shared templates, system prompts or infrastructure)"
    else:
        how = f"near evidence and area profile (distance {inf.distance[k]:.2f}, typical {inf.typical:.2f})"
    return f"resembles {name} {t.verdict} by {t.analyst} on {day}: {how}"


def reason_texts(found: list[Teacher], inf: Influence, delta: np.ndarray) -> dict[int, str]:
    """Per moved account (table position), the note naming the verdicts behind its change,
    strongest first."""
    out: dict[int, str] = {}
    for row in np.flatnonzero(delta != 0):
        ks = np.flatnonzero(inf.row == row)
        ks = ks[np.argsort(-inf.resemblance[ks], kind="stable")]
        named = [_why(found[inf.teacher[k]], inf, k) for k in ks[:REASONS_NAMED]]
        more = f"; and {len(ks) - REASONS_NAMED} more verdicts" if len(ks) > REASONS_NAMED else ""
        out[int(row)] = f"[{'raised' if delta[row] > 0 else 'lowered'} by verdicts ({delta[row]:+.2f} log-odds): " \
                        f"{'; '.join(named)}{more}] "
    return out


def shifted(risk: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Risk scores moved by ``delta`` in log-odds; an unmoved score is returned as it was."""
    r = np.clip(risk, RISK_EPS, 1.0 - RISK_EPS)
    moved = 1.0 / (1.0 + np.exp(-(np.log(r / (1.0 - r)) + delta)))
    return np.where(delta != 0, moved, risk)


def apply_feedback(
    table: pd.DataFrame, graph: sparse.spmatrix, graph_accounts: np.ndarray, latest: pd.DataFrame,
    threshold: float, config: FeedbackConfig,
) -> pd.DataFrame:
    """The score table with the verdicts' look-alikes moved (see the module doc). ``table`` has
    one row per account (``account_id``, ``risk_score``, ``flagged``; ``evidence_*``,
    ``share_*``, ``campaign_id``, ``severity``, ``reasons``, ``allowlisted`` when it has them),
    ``graph`` the account graph over ``graph_accounts``, ``latest`` the standing verdicts
    (``verdicts.latest_of``), ``threshold`` the label-free flag's. The table itself is returned
    when feedback is off or fewer than ``min_verdicts`` teaching verdicts stand."""
    found = teachers(table, latest) if config.enabled else []
    if len(found) < config.min_verdicts:
        return table
    graph = aligned_graph(graph, graph_accounts, table["account_id"].to_numpy())
    inf = influence(graph, profiles(table), found, config)
    delta = deltas(found, inf, len(table), config)
    out = table.copy()
    risk = out["risk_score"].to_numpy(dtype=float)
    out["risk_score_label_free"] = risk
    out["feedback_delta"] = delta
    out["risk_score"] = shifted(risk, delta)
    moved = delta != 0
    allowed = out["allowlisted"].astype(bool).to_numpy() if "allowlisted" in out else np.zeros(len(out), bool)
    out.loc[moved, "flagged"] = (out["risk_score"].to_numpy() >= threshold)[moved] & ~allowed[moved]
    if "severity" in out:
        out.loc[moved, "severity"] = severity(out["risk_score"], out["flagged"].astype(bool), threshold)[moved]
    notes = reason_texts(found, inf, delta)
    out["feedback"] = [notes.get(i, "") for i in range(len(out))]
    if "reasons" in out:
        out["reasons"] = [notes.get(i, "") + str(r) for i, r in enumerate(out["reasons"])]
    return out
