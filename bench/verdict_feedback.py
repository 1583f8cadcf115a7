"""Verdicts that teach, measured: recall at 1% FPR and AUPRC with feedback off and on.

    .venv/bin/python bench/verdict_feedback.py --workspace WS --truth TRUTH_DIR \
        --workdir /tmp/verdict-feedback [--seed 0] [--share 0.1] [--name external]

For a scored workspace and its truth (``labels.parquet``: one row per account with ``role``
in organic, eval_harness, stress_test, agent_product, attacker) this copies the workspace
into ``WORKDIR`` (the original is never written), and for "with metadata" and "without
metadata" (``TARGETING_SIGNALS__USE_METADATA=false``) runs what a user runs:

1. ``targeting score`` over the whole period with feedback off (``TARGETING_FEEDBACK__ENABLED=false``)
   and ``export accounts``: the label-free scores;
2. once, with a fixed seed: records verdicts, through ``targeting.verdicts.record_verdict``,
   for a random ``share`` of the attackers (confirmed) and of the hard negatives (eval
   harnesses, stress tests, agent products: dismissed) among the scored accounts;
3. ``targeting score`` with feedback on and ``export accounts``.

The truth picks the verdict accounts and judges the result, nothing else. Both scores are
judged on the same accounts, those without a verdict: recall of the attackers at the score
above which 1% of the other accounts fall, and the area under the precision-recall curve.
``--mistaken N`` also confirms N random organic accounts (a wrong verdict; held out from the
figures too). Prints one row per (metadata, feedback), with the accounts other than
attackers that are flagged and the kinds of those (``account_meta.parquet``'s subgroup where the
truth has it) most often above the 1% bar, and writes every kind's figures to ``WORKDIR/NAME.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from targeting import workspace as W  # noqa: E402
from targeting.verdicts import read_verdicts, record_verdict  # noqa: E402

TARGETING = [sys.executable, "-m", "targeting.cli", "--quiet"]
HARD_NEGATIVE_KINDS = ("eval_harness", "stress_test", "agent_product")
FPR = 0.01


def _cli(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(TARGETING + args, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)


def scores(ws: Path, out: Path, *, metadata: bool, feedback: bool) -> pd.DataFrame:
    """The workspace scored over its whole period, as ``export accounts`` writes it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TARGETING_NIGHTLY__WINDOW_DAYS="366",
               TARGETING_SIGNALS__USE_METADATA=str(metadata).lower(), TARGETING_FEEDBACK__ENABLED=str(feedback).lower())
    _cli(["score", "--workspace", str(ws)], env)
    _cli(["export", "accounts", "--all-columns", "--workspace", str(ws), "--out", str(out)], env)
    return pd.read_parquet(out)


def pick_verdicts(labels: pd.DataFrame, scored: pd.Series, share: float, seed: int, mistaken: int = 0) -> pd.DataFrame:
    """(account_id, verdict): a random ``share`` of the scored attackers (confirmed) and of the
    scored hard negatives (dismissed), with a fixed seed; then ``mistaken`` organic accounts
    confirmed by mistake."""
    rng = np.random.default_rng(seed)
    known = labels[labels["account_id"].isin(set(scored))].sort_values("account_id")
    picked = []
    for roles, verdict in ((("attacker",), "confirmed"), (HARD_NEGATIVE_KINDS, "dismissed")):
        pool = known.loc[known["role"].isin(roles), "account_id"].to_numpy()
        n = int(round(share * len(pool)))
        picked += [(a, verdict) for a in sorted(rng.choice(pool, n, replace=False))] if n else []
    if mistaken:
        pool = known.loc[known["role"] == "organic", "account_id"].to_numpy()
        picked += [(a, "confirmed") for a in sorted(rng.choice(pool, mistaken, replace=False))]
    return pd.DataFrame(picked, columns=["account_id", "verdict"])


def record(ws: Path, picked: pd.DataFrame, risk: pd.Series, seed: int) -> None:
    workspace = W.open_workspace(ws)
    for account, verdict in picked.itertuples(index=False):
        record_verdict(workspace, target_kind="account", target_id=account, verdict=verdict,
                       note=f"bench/verdict_feedback.py: simulated verdict (seed {seed})", analyst="bench",
                       risk_score=float(risk[account]))


def recall_at_fpr(y: np.ndarray, s: np.ndarray, fpr: float = FPR) -> float:
    """Share of positives scored above the score that at most ``fpr`` of the negatives exceed."""
    neg = np.sort(s[~y])[::-1]
    bar = neg[int(np.floor(fpr * len(neg)))] if len(neg) else -np.inf
    return float((s[y] > bar).mean()) if y.any() else float("nan")


def kind_fpr(frame: pd.DataFrame, y: np.ndarray, s: np.ndarray, fpr: float = FPR) -> dict[str, dict[str, float]]:
    """Per kind of account other than attackers (``kind``): the share flagged, and the share
    above the score that ``fpr`` of all of them exceed."""
    neg = np.sort(s[~y])[::-1]
    bar = neg[int(np.floor(fpr * len(neg)))] if len(neg) else -np.inf
    out = {}
    for kind, part in frame[~y].groupby("kind"):
        out[str(kind)] = {"accounts": len(part), "flagged": float(part["flagged"].astype(bool).mean()),
                          "above_1pct_bar": float((part["risk_score"].to_numpy(dtype=float) > bar).mean())}
    return out


def judge(table: pd.DataFrame, labels: pd.DataFrame, held_out: set[str]) -> dict[str, float]:
    frame = table[~table["account_id"].isin(held_out)].merge(labels[["account_id", "role", "kind"]], on="account_id")
    y = (frame["role"] == "attacker").to_numpy()
    s = frame["risk_score"].to_numpy(dtype=float)
    return {"accounts": len(frame), "attackers": int(y.sum()), "recall_at_1pct_fpr": recall_at_fpr(y, s),
            "auprc": float(average_precision_score(y, s)),
            "benign_flagged": int((frame["flagged"].astype(bool).to_numpy() & ~y).sum()),
            "fpr_by_kind": kind_fpr(frame, y, s),
            "moved": int((frame.get("feedback_delta", pd.Series(0.0)) != 0).sum()) if "feedback_delta" in frame else 0}


def truth_labels(truth: Path) -> pd.DataFrame:
    """account_id, role and kind: the account's subgroup (``account_meta.parquet``) where the
    truth has one, else its role."""
    labels = pd.read_parquet(truth / "labels.parquet", columns=["account_id", "role"])
    meta = truth / "account_meta.parquet"
    kinds = pd.read_parquet(meta, columns=["account_id", "subgroup"]) if meta.exists() else None
    labels["kind"] = labels["role"]
    if kinds is not None:
        sub = labels["account_id"].map(kinds.set_index("account_id")["subgroup"])
        labels["kind"] = (labels["role"] + "/" + sub.astype(str)).where(sub.notna(), labels["role"])
    return labels


def run(ws: Path, truth: Path, workdir: Path, name: str, share: float, seed: int, mistaken: int = 0) -> list[dict]:
    labels = truth_labels(truth)
    copy = workdir / f"{name}-ws"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(ws, copy)
    if not read_verdicts(W.open_workspace(copy)).empty:
        raise SystemExit(f"{ws} already holds verdicts: start from a workspace without any")
    rows, held_out = [], None
    for metadata in (True, False):
        off = scores(copy, workdir / f"{name}-{metadata}-off.parquet", metadata=metadata, feedback=False)
        if held_out is None:
            picked = pick_verdicts(labels, off["account_id"], share, seed, mistaken)
            record(copy, picked, off.set_index("account_id")["risk_score"], seed)
            held_out = set(picked["account_id"])
            print(f"{name}: {int((picked['verdict'] == 'confirmed').sum())} confirmed, "
                  f"{int((picked['verdict'] == 'dismissed').sum())} dismissed (seed {seed}; "
                  f"{mistaken} of the confirmed organic by mistake)")
        on = scores(copy, workdir / f"{name}-{metadata}-on.parquet", metadata=metadata, feedback=True)
        for feedback, table in (("off", off), ("on", on)):
            rows.append({"set": name, "metadata": metadata, "feedback": feedback, **judge(table, labels, held_out)})
            r = rows[-1]
            print(f"{name:<9} {'yes' if metadata else 'no':<4} {feedback:<4} recall@1%FPR {r['recall_at_1pct_fpr']:.3f}"
                  f"  AUPRC {r['auprc']:.3f}  ({r['accounts']} accounts, {r['attackers']} attackers, "
                  f"{r['moved']} moved, {r['benign_flagged']} others flagged)")
            worst = sorted(r["fpr_by_kind"].items(), key=lambda kv: -kv[1]["above_1pct_bar"])[:3]
            print("          highest kinds above the 1% bar: " + ", ".join(
                f"{k} {v['above_1pct_bar']:.3f} (flagged {v['flagged']:.3f}, n={v['accounts']})" for k, v in worst))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True, help="folder with labels.parquet")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/verdict-feedback"))
    parser.add_argument("--name", default="set")
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mistaken", type=int, default=0, help="organic accounts also confirmed, by mistake")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows = run(args.workspace, args.truth, args.workdir, args.name, args.share, args.seed, args.mistaken)
    (args.workdir / f"{args.name}.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
