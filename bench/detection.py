"""Detection figures on two kinds of traffic, scored by the same external scorer.

    .venv/bin/python bench/detection.py --external ../shared/devsets/external-s3 \
        --sim-accounts 1500 --sim-seed 5 --adaptive --workdir /tmp/detection [--reuse] [--ablation]

For each set (the project's own simulator, and a labelled set generated elsewhere, laid out
as ``../shared/devsets/README.md`` describes) this runs what a user runs: ``targeting run``
into a workspace, then for "with metadata" and "without metadata"
(``TARGETING_SIGNALS__USE_METADATA=false``, which ignores ``ip`` and ``account_created_at``)
``targeting score`` over the whole period, ``export accounts``, ``export requests`` and the
scorer (``../shared/tools/score_detection.py`` by default). The simulator's labels are first
written in the external set's layout (``labels.parquet``, ``request_labels.parquet``,
``account_meta.parquet``), so both sets are judged by one piece of code the detector never
sees. ``--ablation`` re-scores (with metadata) with each evidence family of ``targeting.risk``
off in turn (``TARGETING_RISK__DISABLE``). Prints one table row per (set, metadata, ablation) and writes
every scorer output to ``WORKDIR/figures.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
TARGETING = [sys.executable, "-m", "targeting.cli"]
HARD_NEGATIVE_KINDS = ("eval_harness", "stress_test", "agent_product")
ROW = ("{set:<9} {meta:<4} {ablation:<13} {auroc:6.3f} {auprc:6.3f} {recall:6.3f}  {campaigns:<27} "
       "{slow:5.2f} {hn:6.3f} {flag_p:5.2f}/{flag_r:4.2f} {area:5.3f} {ari:5.3f} {purity:5.2f} {largest:5}")


def truth_from_simulator(labels: pd.DataFrame, out: Path) -> None:
    """The simulator's per-request labels in the external sets' layout: one row per account
    (role, campaign_id, target_area), one per request (area, is_attack), and a subgroup."""
    out.mkdir(parents=True, exist_ok=True)
    first = labels.groupby("account_id", sort=True).agg(
        campaign=("campaign", lambda c: next((x for x in c if x), "")),
        target_area=("target_area", lambda c: next((x for x in c if x), "")),
        kind=("kind", "first"),
    )
    attacker = first["campaign"] != ""
    role = first["kind"].where(first["kind"].isin(HARD_NEGATIVE_KINDS), "organic").where(~attacker, "attacker")
    accounts = pd.DataFrame({"account_id": first.index, "role": role.to_numpy(),
                             "campaign_id": first["campaign"].where(attacker, None).to_numpy(),
                             "target_area": first["target_area"].where(attacker, None).to_numpy()})
    accounts.to_parquet(out / "labels.parquet", index=False)
    pd.DataFrame({"account_id": first.index, "subgroup": first["kind"].to_numpy()}).to_parquet(
        out / "account_meta.parquet", index=False)
    pd.DataFrame({"request_id": labels["request_id"], "area": labels["area"],
                  "is_attack": labels["role"] == "attacker"}).to_parquet(out / "request_labels.parquet", index=False)


def _targeting(args: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(TARGETING + ["--quiet", *args],
                   check=True, env={**os.environ, **(env or {})}, cwd=ROOT, stdout=subprocess.DEVNULL)


def prepare(name: str, requests: Path, workdir: Path, reuse: bool) -> Path:
    ws = workdir / f"{name}-ws"
    if not (reuse and (ws / "state.json").exists()):
        _targeting(["run", str(requests), "--workspace", str(ws)])
    return ws


def measure(ws: Path, truth: Path, out: Path, scorer: Path, env: dict[str, str]) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    # the whole period as the night's own window, so the scores become the workspace's latest
    _targeting(["score", "--workspace", str(ws)], {**env, "TARGETING_NIGHTLY__WINDOW_DAYS": "366"})
    _targeting(["export", "accounts", "--workspace", str(ws), "--out", str(out / "accounts.parquet")])
    _targeting(["export", "requests", "--workspace", str(ws), "--out", str(out / "requests.parquet")])
    subprocess.run([sys.executable, str(scorer), "--truth", str(truth), "--accounts", str(out / "accounts.parquet"),
                    "--requests", str(out / "requests.parquet"), "--out", str(out / "metrics.json")],
                   check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())


def row(name: str, meta: str, ablation: str, m: dict) -> str:
    camps = m["campaign_recall_at_1pct_fpr"]
    return ROW.format(
        set=name, meta=meta, ablation=ablation, auroc=m["auroc"], auprc=m["auprc"], recall=m["recall_at_1pct_fpr"],
        campaigns=" ".join(f"{v:.2f}" for v in camps.values()),
        slow=m.get("recall_by_subgroup", {}).get("attacker/low_and_slow", float("nan")),
        hn=m["hard_negative_fpr_at_1pct"], flag_p=m["flagged"]["precision"], flag_r=m["flagged"]["recall"],
        area=m.get("target_area_accuracy", float("nan")), ari=m.get("campaign_ari", float("nan")),
        purity=m.get("campaign_purity_min", float("nan")), largest=m.get("largest_campaign_with_attackers", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--external", type=Path, action="append", default=[], help="a labelled set's folder")
    parser.add_argument("--sim-accounts", type=int, default=1500)
    parser.add_argument("--sim-seed", type=int, default=5)
    parser.add_argument("--adaptive", action="store_true", help="every adaptive attacker option at once")
    parser.add_argument("--no-sim", action="store_true", help="only the external sets")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/detection"))
    parser.add_argument("--scorer", type=Path, default=ROOT.parent / "shared" / "tools" / "score_detection.py")
    parser.add_argument("--reuse", action="store_true", help="keep workspaces that exist (only re-score)")
    parser.add_argument("--ablation", action="store_true", help="each evidence family off in turn")
    args = parser.parse_args()
    from targeting.risk import FAMILIES

    args.workdir.mkdir(parents=True, exist_ok=True)
    sets: list[tuple[str, Path, Path]] = []
    if not args.no_sim:
        sim = args.workdir / f"sim-{args.sim_accounts}-s{args.sim_seed}{'-adaptive' if args.adaptive else ''}"
        if not (args.reuse and (sim / "requests.parquet").exists()):
            opts = ["--cover-traffic", "0.4", "--paraphrase", "--small-accounts", "--slow"] if args.adaptive else []
            _targeting(["simulate", "--out", str(sim), "--accounts", str(args.sim_accounts),
                        "--seed", str(args.sim_seed), *opts])
            truth_from_simulator(pd.read_parquet(sim / "labels.parquet"), sim / "truth")
        sets.append(("simulator", sim / "requests.parquet", sim / "truth"))
    for ext in args.external:
        sets.append((ext.name, ext / "requests.parquet", ext))
    figures: dict[str, dict] = {}
    print("set       meta ablation       AUROC  AUPRC  R@1%   per campaign                slow  HN-FPR flag P/R  area  ARI   pur.  size")
    for name, requests, truth in sets:
        ws = prepare(name, requests, args.workdir, args.reuse)
        ablations = [(f, {"TARGETING_RISK__DISABLE": f}) for f in FAMILIES] if args.ablation else []
        for meta in ("yes", "no"):
            for ablation, env in [("", {})] + (ablations if meta == "yes" else []):
                env = {**env, "TARGETING_SIGNALS__USE_METADATA": "true" if meta == "yes" else "false"}
                key = f"{name}/{meta}/{ablation or 'all'}"
                m = measure(ws, truth, args.workdir / "out" / key.replace("/", "-"), args.scorer, env)
                figures[key] = m
                print(row(name, meta, ablation or "-", m), flush=True)
    (args.workdir / "figures.json").write_text(json.dumps(figures, indent=1))
    print(f"wrote {args.workdir / 'figures.json'}")


if __name__ == "__main__":
    main()
