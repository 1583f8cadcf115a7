"""Benchmark: simulate traffic, run the whole pipeline, print wall time, rates and peak memory.

    .venv/bin/python bench/run_pipeline.py --accounts 1000 --seed 0 [--evaluate]

Prints one line per stage (seconds, requests/s and distinct prompts/s where it applies),
the whole run's wall time and the process's peak resident memory, and with --evaluate the
detection metrics against the generator's labels.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from targeting import workspace as W
from targeting.config import load_settings
from targeting.evaluate import evaluate, format_report
from targeting.jobs import run
from targeting.simulate import SimConfig, simulate, write_traffic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-metadata", action="store_true")
    parser.add_argument("--cover-traffic", type=float, default=0.0)
    parser.add_argument("--paraphrase", action="store_true")
    parser.add_argument("--small-accounts", action="store_true")
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--evaluate", action="store_true", help="print detection metrics too")
    parser.add_argument("--keep", type=Path, default=None, help="keep the workspace in this folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    cfg = SimConfig(
        seed=args.seed, n_accounts=args.accounts, include_metadata=not args.no_metadata,
        cover_traffic=args.cover_traffic, paraphrase=args.paraphrase,
        small_accounts=args.small_accounts, slow=args.slow,
    )
    tmp = Path(tempfile.mkdtemp(prefix="targeting-bench-"))
    try:
        t0 = time.perf_counter()
        requests, labels = simulate(cfg)
        write_traffic(tmp / "traffic", requests, labels)
        sim_s = time.perf_counter() - t0
        n = len(requests)
        distinct = requests["prompt"].nunique()
        ws = args.keep or tmp / "ws"
        if args.keep and ws.exists():
            shutil.rmtree(ws)
        settings = load_settings(overrides={"embed": {"progress": False}})
        t0 = time.perf_counter()
        result = run([tmp / "traffic" / "requests.parquet"], ws, settings)
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cores = os.cpu_count() or 1
        print(f"traffic: {n:,} requests, {distinct:,} distinct prompts, {args.accounts:,} accounts "
              f"(simulated in {sim_s:.1f}s); {cores} cores")
        for stage, secs in result.timings.items():
            rate = f"{n / secs:,.0f} requests/s" if secs > 0 else "-"
            extra = f", {distinct / secs:,.0f} distinct prompts/s" if stage == "embed" and secs > 0 else ""
            print(f"  {stage:<11} {secs:8.1f}s  {rate}{extra}")
        print(f"total wall time {wall:.1f}s ({n / wall:,.0f} requests/s, {n / wall / cores:,.0f} per core); "
              f"peak memory {peak_mb:,.0f} MiB")
        figures = {"requests": n, "distinct_prompts": int(distinct), "accounts": args.accounts,
                   "timings": result.timings, "wall_s": wall, "peak_mib": peak_mb}
        if args.evaluate:
            wsp = W.open_workspace(ws)
            metrics = evaluate(
                W.read_latest_scores(wsp).to_pandas(), pd.read_parquet(tmp / "traffic" / "labels.parquet"),
                W.read_assignments(wsp, ["request_id", "area"]).to_pandas(),
            )
            print(format_report(metrics))
            figures["metrics"] = metrics
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
