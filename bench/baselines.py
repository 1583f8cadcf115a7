"""Benchmark: published-style baseline detectors beside ours, on the same traffic and vectors.

    .venv/bin/python bench/baselines.py --workspace WS --labels LABELS.parquet [--json OUT]

Reads a workspace built by ``targeting run`` (never writes to it): the requests of the
latest scores' accounts and window (from the assignments), the stored prompt embeddings of
the map's model and our ``risk_score``. Every baseline scores each account from the same
embeddings our detector used; nothing is re-embedded and no labels are used to score.

Baselines (pure functions over arrays, one account at a time; higher = more suspicious):

* ``volume``: the number of requests. The per-account rate limit / quota that every
  deployed API has; the signal attackers defeat by scaling sideways over many accounts.
* ``seat_pairs``: SEAT (Zhang et al., "SEAT: Similarity Encoder by Adversarial Training
  for Detecting Model Extraction Attack Queries", AISec 2021): count the pairs of an
  account's queries whose embeddings are closer than a threshold (here cosine >= 0.9 in the
  stored sentence embedding, standing in for SEAT's adversarially trained encoder) and flag
  accounts whose count is high. SEAT's statistic is a raw count that grows with the
  account's volume, so we keep it *unnormalised*: at most 400 requests are sampled per
  account and the sample's count is scaled by C(n,2)/C(m,2) to estimate the count over
  the account's whole history.
* ``hyperplane_coverage``: coverage of embedding space measured with random-hyperplane
  LSH (SimHash, Charikar 2002), the way query-coverage detectors of model extraction
  measure how much of the input space an account explores. 16 seeded Gaussian hyperplanes
  split the unit sphere into 2^16 buckets; score = distinct buckets hit by the account's
  requests / min(n, 2^16), i.e. the share of the buckets the account *could* have reached
  with n queries that it did reach (volume-adjusted, in (0, 1]). ``--coverage-norm sqrt``
  divides by sqrt(n) instead (grows with volume for a spread-out account: closer to
  "coverage x volume", a stronger but less pure coverage signal).
* ``mmd``: kernel maximum mean discrepancy (Gretton et al., JMLR 2012) between the
  account's prompt embeddings (at most 200 sampled requests) and a reference of 2,000
  requests drawn uniformly from ALL the traffic (label-free, as a deployed detector would
  have it; the published window-level detector compares query windows with benign
  reference traffic this way). RBF kernel exp(-|x-y|^2 / (2 sigma^2)), sigma = median
  pairwise distance of the reference (median heuristic). The statistic is the unbiased
  MMD^2 (within-sample means exclude the diagonal); an account with a single request has
  no within-account pair, so that term is replaced by its null expectation (the
  reference's own mean off-diagonal kernel value). Higher = more unusual.

For each baseline and for ours: AUROC, AUPRC (average precision), recall at 1% false-
positive rate (``targeting.evaluate.recall_at_fpr``) and that recall per campaign kind
(the campaign name without its last "-N"), printed as one Markdown table on stdout.
All sampling is seeded (per account from a hash of its id, so the result does not depend
on account order): two runs print the same table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from targeting import workspace as W
from targeting.evaluate import ATTACKER, FPR_TARGET, account_labels, recall_at_fpr

SEED = 0
SEAT_THRESHOLD = 0.9
SEAT_MAX_PROMPTS = 400
N_HYPERPLANES = 16
MMD_MAX_PROMPTS = 200
MMD_REFERENCE_SIZE = 2000
DETECTORS = ("ours", "volume", "seat_pairs", "hyperplane_coverage", "mmd")


# --- helpers -------------------------------------------------------------------------------
def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); zero rows stay zero."""
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def account_rng(account_id: str, seed: int = SEED) -> np.random.Generator:
    """A generator that depends only on the seed and the account id (not on account order)."""
    return np.random.default_rng([seed, zlib.crc32(str(account_id).encode())])


def _sample_rows(n: int, k: int, rng: np.random.Generator | None) -> np.ndarray:
    if n <= k:
        return np.arange(n)
    rng = rng or np.random.default_rng(SEED)
    return np.sort(rng.choice(n, size=k, replace=False))


# --- baselines -----------------------------------------------------------------------------
def volume(n_requests: int) -> float:
    """Number of requests (the per-account quota / rate-limit baseline)."""
    return float(n_requests)


def seat_pairs(
    vectors: np.ndarray,
    threshold: float = SEAT_THRESHOLD,
    max_prompts: int = SEAT_MAX_PROMPTS,
    rng: np.random.Generator | None = None,
) -> float:
    """SEAT similar-pair count of one account (rows: one embedding per request, repeats kept).

    Counts pairs i < j with cosine similarity >= ``threshold`` among at most ``max_prompts``
    sampled requests and scales the sample's count by C(n,2)/C(m,2): an estimate of the
    number of similar pairs over the account's whole history (unnormalised, as in SEAT).
    """
    n = len(vectors)
    if n < 2:
        return 0.0
    idx = _sample_rows(n, max_prompts, rng)
    x = unit_rows(vectors[idx])
    m = len(x)
    sims = x @ x.T
    pairs = int(np.count_nonzero(np.triu(sims >= threshold - 1e-6, k=1)))
    return float(pairs * (n * (n - 1)) / (m * (m - 1)))


def random_hyperplanes(dim: int, n_planes: int = N_HYPERPLANES, seed: int = SEED) -> np.ndarray:
    """``n_planes`` seeded Gaussian normals, shape (n_planes, dim)."""
    if n_planes > 63:
        raise ValueError("at most 63 hyperplanes (bucket ids are int64)")
    return np.random.default_rng(seed).standard_normal((n_planes, dim)).astype(np.float32)


def hyperplane_buckets(vectors: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """SimHash bucket id of each row: bit k is set when the row lies on the positive side of plane k."""
    bits = (np.asarray(vectors, dtype=np.float32) @ planes.T) > 0
    weights = np.left_shift(np.int64(1), np.arange(planes.shape[0], dtype=np.int64))
    return bits.astype(np.int64) @ weights


def hyperplane_coverage(buckets: np.ndarray, n_planes: int = N_HYPERPLANES, norm: str = "n") -> float:
    """Distinct buckets hit by one account's requests / min(n, 2^n_planes) (``norm="sqrt"``: / sqrt(n))."""
    n = len(buckets)
    if n == 0:
        return 0.0
    distinct = len(np.unique(buckets))
    if norm == "sqrt":
        return float(distinct / math.sqrt(n))
    if norm != "n":
        raise ValueError(f"unknown coverage norm {norm!r} (n or sqrt)")
    return float(distinct / min(n, 2**n_planes))


def median_bandwidth(reference: np.ndarray) -> float:
    """Median heuristic: the median Euclidean distance between distinct reference rows (pairs i < j)."""
    y = np.asarray(reference, dtype=np.float64)
    sq = np.sum(y * y, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (y @ y.T), 0.0)
    iu = np.triu_indices(len(y), k=1)
    sigma = float(np.sqrt(np.median(d2[iu])))
    return sigma if sigma > 0 else 1.0


def _rbf(x: np.ndarray, y: np.ndarray, sigma: float) -> np.ndarray:
    sx, sy = np.sum(x * x, axis=1), np.sum(y * y, axis=1)
    d2 = np.maximum(sx[:, None] + sy[None, :] - 2.0 * (x @ y.T), 0.0)
    return np.exp(-d2 / (2.0 * sigma * sigma))


class MMDReference:
    """The reference sample with its bandwidth and its mean off-diagonal kernel value (computed once)."""

    def __init__(self, reference: np.ndarray, sigma: float | None = None) -> None:
        self.y = np.asarray(reference, dtype=np.float64)
        if len(self.y) < 2:
            raise ValueError("the MMD reference needs at least two rows")
        self.sigma = float(sigma) if sigma is not None else median_bandwidth(self.y)
        k = _rbf(self.y, self.y, self.sigma)
        r = len(self.y)
        self.kyy = float((k.sum() - np.trace(k)) / (r * (r - 1)))


def mmd(
    vectors: np.ndarray,
    reference: MMDReference | np.ndarray,
    max_prompts: int = MMD_MAX_PROMPTS,
    rng: np.random.Generator | None = None,
) -> float:
    """Unbiased MMD^2 (RBF kernel, median-heuristic bandwidth) between one account and the reference.

    At most ``max_prompts`` requests are sampled. With a single request the within-account
    term is replaced by its null expectation (the reference's mean off-diagonal kernel value).
    """
    ref = reference if isinstance(reference, MMDReference) else MMDReference(reference)
    n = len(vectors)
    if n == 0:
        return 0.0
    x = np.asarray(vectors[_sample_rows(n, max_prompts, rng)], dtype=np.float64)
    m = len(x)
    kxy = float(_rbf(x, ref.y, ref.sigma).mean())
    if m >= 2:
        kxx_m = _rbf(x, x, ref.sigma)
        kxx = float((kxx_m.sum() - np.trace(kxx_m)) / (m * (m - 1)))
    else:
        kxx = ref.kyy
    return kxx + ref.kyy - 2.0 * kxy


# --- metrics -------------------------------------------------------------------------------
def campaign_kind(campaign: Any) -> str:
    """'reasoning-1' -> 'reasoning'; missing -> 'unknown'."""
    if campaign is None or (isinstance(campaign, float) and math.isnan(campaign)) or campaign is pd.NA:
        return "unknown"
    text = str(campaign)
    return text.rsplit("-", 1)[0] if text else "unknown"


def detection_metrics(scores: np.ndarray, positive: np.ndarray, kinds: np.ndarray) -> dict[str, Any]:
    """AUROC, AUPRC, recall at 1% FPR and that recall per campaign kind (kinds: one per account)."""
    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    both = 0 < positive.sum() < len(positive)
    recall, threshold = recall_at_fpr(scores, positive, FPR_TARGET)
    by_kind = {}
    for k in sorted(set(kinds[positive])):
        sel = positive & (kinds == k)
        by_kind[k] = float((scores[sel] > threshold).mean()) if both else float("nan")
    return {
        "auroc": float(roc_auc_score(positive, scores)) if both else float("nan"),
        "auprc": float(average_precision_score(positive, scores)) if positive.any() else float("nan"),
        "recall_at_1pct_fpr": recall,
        "threshold_at_1pct_fpr": threshold,
        "recall_by_campaign_kind": by_kind,
    }


def format_table(results: dict[str, dict[str, Any]]) -> str:
    kinds = sorted({k for r in results.values() for k in r["recall_by_campaign_kind"]})
    head = ["detector", "AUROC", "AUPRC", "recall@1%FPR", *kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        cells = [name, f"{r['auroc']:.3f}", f"{r['auprc']:.3f}", f"{r['recall_at_1pct_fpr']:.3f}"]
        cells += [f"{r['recall_by_campaign_kind'].get(k, float('nan')):.3f}" for k in kinds]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- loading -------------------------------------------------------------------------------
def load_inputs(workspace: Path) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, pd.Index]:
    """(requests of the latest scores' accounts and window, our scores, unit vectors, their hash index)."""
    from targeting.capmap import load_map

    ws = W.open_workspace(workspace)
    state = W.read_state(ws)
    if not state.get("map_id"):
        raise SystemExit(f"workspace {ws.root} has no capability map: run `targeting run` first")
    scores = W.read_latest_scores(ws)
    if scores is None:
        raise SystemExit(f"workspace {ws.root} has no scores")
    scores = scores.to_pandas()
    model_key = load_map(ws.map_dir(state["map_id"])).meta["model_key"]
    req = W.read_assignments(ws, ["request_id", "account_id", "timestamp", "prompt_hash"]).to_pandas()
    # the same traffic our scores saw: their accounts, inside their window
    req = req[req["account_id"].isin(set(scores["account_id"]))]
    ts = pd.to_datetime(req["timestamp"], utc=True)
    lo = pd.to_datetime(scores["first_seen"], utc=True).min()
    hi = pd.to_datetime(scores["last_seen"], utc=True).max()
    req = req[(ts >= lo) & (ts <= hi)]
    req = req.sort_values(["account_id", "timestamp", "request_id"], kind="stable").reset_index(drop=True)
    hashes, vectors = W.read_embeddings(ws, model_key)
    index = pd.Index(hashes)
    keep = ~index.duplicated()
    return req, scores, unit_rows(vectors[keep]), index[keep]


def baseline_scores(
    req: pd.DataFrame, vectors: np.ndarray, index: pd.Index, seed: int = SEED,
    hyperplanes: int = N_HYPERPLANES, reference_size: int = MMD_REFERENCE_SIZE, coverage_norm: str = "n",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per account with every baseline's score; and notes (missing vectors, bandwidth)."""
    rows = index.get_indexer(req["prompt_hash"])
    missing = int((rows < 0).sum())
    embedded = req.assign(row=rows)[rows >= 0]
    planes = random_hyperplanes(vectors.shape[1], hyperplanes, seed)
    buckets = hyperplane_buckets(vectors, planes)
    ref_rows = embedded["row"].to_numpy()
    ref_pick = np.random.default_rng(seed).choice(len(ref_rows), size=min(reference_size, len(ref_rows)), replace=False)
    reference = MMDReference(vectors[ref_rows[np.sort(ref_pick)]])

    n_by_account = req.groupby("account_id", sort=True).size()
    groups = dict(iter(embedded.groupby("account_id", sort=True)["row"]))
    out = []
    for account, n in n_by_account.items():
        r = groups.get(account, pd.Series([], dtype=np.int64)).to_numpy()
        x = vectors[r]
        out.append(
            {
                "account_id": account,
                "volume": volume(int(n)),
                "seat_pairs": seat_pairs(x, rng=account_rng(account, seed)),
                "hyperplane_coverage": hyperplane_coverage(buckets[r], hyperplanes, coverage_norm),
                "mmd": mmd(x, reference, rng=account_rng(account, seed + 1)),
            }
        )
    notes = {
        "requests": int(len(req)),
        "requests_without_vector": missing,
        "distinct_prompts": int(req["prompt_hash"].nunique()),
        "mmd_reference_size": int(len(reference.y)),
        "mmd_sigma": reference.sigma,
    }
    return pd.DataFrame(out), notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--labels", type=Path, required=True, help="labels.parquet from `targeting simulate`")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--coverage-norm", choices=("n", "sqrt"), default="n",
        help="hyperplane_coverage: distinct buckets / min(n, 2^16) (default) or / sqrt(n)",
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    req, ours, vectors, index = load_inputs(args.workspace)
    labels = pd.read_parquet(args.labels, columns=["request_id", "account_id", "role", "kind", "campaign", "target_area"])
    t_load = time.perf_counter() - t0
    base, notes = baseline_scores(req, vectors, index, seed=args.seed, coverage_norm=args.coverage_norm)
    t_scores = time.perf_counter() - t0 - t_load

    acc = account_labels(labels)
    df = (
        ours[["account_id", "risk_score"]].rename(columns={"risk_score": "ours"})
        .merge(base, on="account_id", how="inner")
        .set_index("account_id")
        .join(acc, how="inner")
        .sort_index()
    )
    if df.empty:
        raise SystemExit("no scored account appears in the labels file")
    positive = (df["role"] == ATTACKER).to_numpy()
    kinds = np.array([campaign_kind(c) if p else "" for c, p in zip(df["campaign"], positive)], dtype=object)
    results = {name: detection_metrics(df[name].to_numpy(dtype=float), positive, kinds) for name in DETECTORS}
    elapsed = time.perf_counter() - t0

    print(format_table(results))
    print(
        f"{len(df)} accounts ({int(positive.sum())} attackers), {notes['requests']} requests, "
        f"{notes['distinct_prompts']} distinct prompts; {elapsed:.1f} s "
        f"(load {t_load:.1f} s, baselines {t_scores:.1f} s)",
        file=sys.stderr,
    )
    if notes["requests_without_vector"]:
        print(f"warning: {notes['requests_without_vector']} requests have no stored vector", file=sys.stderr)
    if args.json:
        doc = {
            "workspace": str(args.workspace), "labels": str(args.labels), "seed": args.seed,
            "accounts": int(len(df)), "attackers": int(positive.sum()), "seconds": elapsed,
            "params": {
                "seat_threshold": SEAT_THRESHOLD, "seat_max_prompts": SEAT_MAX_PROMPTS,
                "hyperplanes": N_HYPERPLANES, "coverage_norm": args.coverage_norm, "mmd_max_prompts": MMD_MAX_PROMPTS,
                "mmd_reference_size": MMD_REFERENCE_SIZE,
            },
            "notes": notes, "detectors": results,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
