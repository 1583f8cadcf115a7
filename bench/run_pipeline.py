"""Benchmark: the whole pipeline on one traffic, where the time goes, against a naive loop.

    .venv/bin/python bench/run_pipeline.py --accounts 1000 --seed 0 [--evaluate]
    .venv/bin/python bench/run_pipeline.py --traffic ../shared/devsets/external-s3/requests.parquet \\
        --labels ../shared/devsets/external-s3/labels.parquet --evaluate [--model models/static-minilm]

Runs ``targeting run`` (the real job, default settings unless ``--model`` names another
encoder, e.g. the static fast path) on generated traffic or on ``--traffic FILE``, and
prints one line per stage: seconds, requests/s, distinct texts/s where it applies, and the
process's peak resident memory at the end of the stage. Then, in the same process, a naive
sentence-transformers encode loop (``SentenceTransformer(model).encode``, batches of 32, the
model's own 256-word-piece limit, the library's default threads) over ``--naive`` distinct
prompts of the same traffic drawn at random (seed 0), in arrival order, and the ratio of
the whole run's distinct prompts per second (distinct prompts / wall time, every stage
included) to the naive loop's prompts per second. ``--evaluate`` adds the detection metrics
against the generator's labels (other labels, such as an external set's, are scored from an
export with that set's own scorer).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoders import naive_rate  # noqa: E402  the same naive loop as bench/encoders.py

NAIVE_DEFAULT = 1000  # distinct prompts the naive loop embeds (about 40 s on 2 cores)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traffic", type=Path, default=None, help="a requests file to run on instead of generated traffic")
    parser.add_argument("--labels", type=Path, default=None, help="labels of --traffic (for --evaluate)")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-metadata", action="store_true")
    parser.add_argument("--cover-traffic", type=float, default=0.0)
    parser.add_argument("--paraphrase", action="store_true")
    parser.add_argument("--small-accounts", action="store_true")
    parser.add_argument("--slow", action="store_true")
    parser.add_argument("--model", default=None, help="embedding model ([embed] model); default: the settings' default")
    parser.add_argument("--naive", type=int, default=NAIVE_DEFAULT, help="distinct prompts for the naive loop (0: skip)")
    parser.add_argument("--evaluate", action="store_true", help="print detection metrics too")
    parser.add_argument("--keep", type=Path, default=None, help="keep the workspace in this folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    return parser.parse_args()


def _traffic(args: argparse.Namespace, tmp: Path) -> tuple[Path, Path | None, str]:
    """(requests file, labels file or None, a description of where they came from)."""
    if args.traffic is not None:
        return args.traffic, args.labels, str(args.traffic)
    cfg = SimConfig(
        seed=args.seed, n_accounts=args.accounts, include_metadata=not args.no_metadata,
        cover_traffic=args.cover_traffic, paraphrase=args.paraphrase,
        small_accounts=args.small_accounts, slow=args.slow,
    )
    t0 = time.perf_counter()
    requests, labels = simulate(cfg)
    write_traffic(tmp / "traffic", requests, labels)
    return (tmp / "traffic" / "requests.parquet", tmp / "traffic" / "labels.parquet",
            f"{args.accounts:,} simulated accounts, seed {args.seed} ({time.perf_counter() - t0:.1f}s)")


def _read_requests(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_json(path, lines=True)


def _stage_lines(result, n: int) -> list[str]:
    lines = []
    for stage, secs in result.timings.items():
        rate = f"{n / secs:,.0f} requests/s" if secs > 0 else "-"
        if stage == "embed" and secs > 0:
            rate += f", {result.prompts_embedded / secs:,.0f} distinct texts/s ({result.prompts_embedded:,} texts)"
        lines.append(f"  {stage:<11} {secs:8.1f}s  {result.peak_mib.get(stage, 0):>7,} MiB  {rate}")
    return lines


def _naive_sample(requests: pd.DataFrame, k: int) -> list[str]:
    """``k`` distinct prompts drawn at random (seed 0), kept in arrival order."""
    first = requests.drop_duplicates("prompt")
    return first.sample(min(k, len(first)), random_state=0).sort_index()["prompt"].astype(str).tolist()


def main() -> None:
    args = _arguments()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="targeting-bench-"))
    try:
        traffic, labels, source = _traffic(args, tmp)
        requests = _read_requests(traffic)
        n, distinct = len(requests), int(requests["prompt"].nunique())
        ws = args.keep or tmp / "ws"
        if args.keep and ws.exists():
            shutil.rmtree(ws)
        embed = {"progress": False, **({"model": args.model} if args.model else {})}
        settings = load_settings(overrides={"embed": embed})
        t0 = time.perf_counter()
        result = run([traffic], ws, settings)
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cores = os.cpu_count() or 1
        load = os.getloadavg()
        print(f"traffic: {n:,} requests, {distinct:,} distinct prompts, {source}; {cores} cores; "
              f"model {settings.embed.model}")
        print(f"  {'stage':<11} {'seconds':>9}  {'peak':>11}  rate")
        print("\n".join(_stage_lines(result, n)))
        print(f"whole run {wall:.1f}s: {n / wall:,.0f} requests/s ({n / wall / cores:,.0f} per core), "
              f"{distinct / wall:,.1f} distinct prompts/s; peak memory {peak_mb:,.0f} MiB; "
              f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
        figures = {"traffic": source, "requests": n, "distinct_prompts": distinct, "model": settings.embed.model,
                   "timings": result.timings, "peak_mib_by_stage": result.peak_mib,
                   "texts_embedded": result.prompts_embedded, "wall_s": wall, "peak_mib": peak_mb, "load": load}
        if args.naive:
            sample = _naive_sample(requests, args.naive)
            naive = naive_rate(sample)
            ratio = distinct / wall / naive
            print(f"naive sentence-transformers loop, same process: {naive:,.1f} prompts/s over {len(sample):,} "
                  f"distinct prompts; whole run / naive = {ratio:.2f}x (distinct prompts per second)")
            figures.update(naive_prompts_per_s=naive, naive_prompts=len(sample), ratio_vs_naive=ratio)
        truth = pd.read_parquet(labels) if args.evaluate and labels is not None else None
        simulator_labels = truth is not None and {"kind", "campaign"} <= set(truth.columns)
        if args.evaluate and not simulator_labels:
            print("--evaluate: these labels are not the simulator's; score an export with "
                  "../shared/tools/score_detection.py (keep the workspace with --keep)")
        if args.evaluate and simulator_labels:
            wsp = W.open_workspace(ws)
            metrics = evaluate(W.read_latest_scores(wsp).to_pandas(), truth,
                               W.read_assignments(wsp, ["request_id", "area"]).to_pandas())
            print(format_report(metrics))
            figures["metrics"] = metrics
        if args.json:
            args.json.write_text(json.dumps(figures, indent=2, default=str))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
