"""Benchmark: the nightly job (`targeting score`) on one night of generated traffic.

    .venv/bin/targeting distill --out models/static-minilm            # once, ~2 minutes
    .venv/bin/python bench/nightly.py --requests 1000000 --model models/static-minilm
    .venv/bin/python bench/nightly.py --requests 20000 --model default  # the default model
    .venv/bin/python bench/nightly.py --requests 50000 --engine both    # local vs Ray Data, same night

Traffic: ``targeting.simulate`` with ``n_accounts = requests / 50`` (the generator's
14-day volume is ~50 requests per account), every timestamp then compressed into the one
night (``night + (t - start) / 14``, order and relative gaps kept). So the night has the
generator's mix of organic users, hard negatives and campaigns, and its share of distinct
prompts (~70%). A bootstrap partition (``--bootstrap`` requests of another seed, on the
day before) is scored first: that run fits the capability map. Then the timed run: the
real command, in its own process, takes the night's partition from the landing folder
(ingest, embed the prompts not cached, assign to the map, drift, score the accounts active
in the 7-day window, extend the search index).

Prints per-stage seconds and throughput (requests/s, per core), the nightly run's wall
time and peak resident memory (the child process's maximum RSS), and writes the figures as
JSON with ``--json``. ``--engine ray`` times the night on Ray Data (``targeting[ray]``; a
local Ray started by the command, ``[scaleout]`` settings from ``TARGETING_SCALEOUT__*``);
``--engine both`` times it once per engine on two copies of the bootstrapped workspace and
checks that both stored the same scores. With Ray the peak memory is the driver's: the
Ray workers are other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from targeting.simulate import SimConfig, simulate

NIGHT = date(2026, 12, 1)
SIM_DAYS = 14
REQUESTS_PER_ACCOUNT = 50  # what the generator produces per account over 14 days


def generate(requests: int, seed: int, day: date) -> pd.DataFrame:
    """About ``requests`` simulated requests, all on ``day`` (see the module docstring)."""
    start = pd.Timestamp("2026-11-01", tz="UTC")
    frame, _ = simulate(SimConfig(seed=seed, n_accounts=max(30, requests // REQUESTS_PER_ACCOUNT), days=SIM_DAYS,
                                  start=str(start.date())))
    if len(frame) > requests:
        frame = frame.iloc[:requests]
    frame = frame.copy()
    night = pd.Timestamp(day, tz="UTC")
    frame["timestamp"] = night + (frame["timestamp"] - start) / SIM_DAYS
    frame["timestamp"] = frame["timestamp"].clip(upper=night + pd.Timedelta(hours=23, minutes=59))
    return frame.reset_index(drop=True)


def write_partition(frame: pd.DataFrame, landing: Path, day: date, rows_per_file: int = 250_000) -> None:
    folder = landing / f"date={day}"
    folder.mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, len(frame), rows_per_file)):
        frame.iloc[start : start + rows_per_file].to_parquet(folder / f"part-{i:05d}.parquet", index=False)


def run_night(ws: Path, landing: Path, day: date, model: str, extra_env: dict[str, str]) -> tuple[float, float, int]:
    """Run `targeting score` in a child process: (wall seconds, peak MiB of that child, exit code)."""
    env = dict(os.environ, TARGETING_EMBED__MODEL=model, **extra_env)
    cmd = [sys.executable, "-m", "targeting.cli", "score", str(landing), "--workspace", str(ws), "--as-of", str(day)]
    with tempfile.TemporaryFile("w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=sys.stderr, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak resident memory
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        sys.stdout.write(out.read())
    return wall, usage.ru_maxrss / 1024, proc.returncode


def time_night(ws: Path, landing: Path, n: int, model: str, env: dict[str, str], cores: int) -> dict:
    """Run the timed night on ``ws``, print its stage table, return its figures."""
    engine = env.get("TARGETING_SCALEOUT__ENGINE", "local")
    wall, peak_mib, code = run_night(ws, landing, NIGHT, model, env)
    if code != 0:
        sys.exit(f"the night ({engine} engine) failed with exit code {code}")
    state = json.loads((ws / "state.json").read_text())
    manifest = json.loads((ws / "runs" / f"{state['runs'][-1]}.json").read_text())
    timings = manifest["timings"]
    embedded = manifest["night"]["prompts_embedded"]
    print(f"\nnight {NIGHT} ({engine} engine): {n:,} requests, {embedded:,} prompts embedded, "
          f"{manifest['counts']['accounts']:,} accounts scored (7-day window)")
    peaks = manifest.get("peak_mib", {})
    print(f"  {'stage':<11} {'seconds':>8}  {'peak MiB':>8}  throughput")
    order = ["ingest", "load model", "embed", "fit map", "assign", "drift", "score", "index"]
    for stage, secs in sorted(timings.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
        rate = n / secs if secs > 0 else float("inf")
        extra = f"; {embedded / secs:,.0f} prompts/s ({embedded / secs / cores:,.0f} per core)" if (
            stage == "embed" and secs > 0) else ""
        print(f"  {stage:<11} {secs:8.1f}  {peaks.get(stage, 0):8,}  "
              f"{rate:,.0f} requests/s ({rate / cores:,.0f} per core){extra}")
    print(f"  {'total':<11} {wall:8.1f}  {peak_mib:8,.0f}  {n / wall:,.0f} requests/s "
          f"({n / wall / cores:,.0f} per core)")
    print(f"  drift: {manifest['night']['drift']}")
    return {"engine": engine, "wall_s": wall, "peak_mib": peak_mib, "timings": timings,
            "prompts_embedded": embedded, "night": manifest["night"]}


def _same_scores(a: Path, b: Path) -> bool:
    """Both workspaces stored the same account scores for the night (run ids aside)."""
    path = Path("scores") / f"as_of={NIGHT}" / "accounts.parquet"
    left, right = (pd.read_parquet(ws / path).drop(columns=["run_id"]).sort_values("account_id", ignore_index=True)
                   for ws in (a, b))
    return left.equals(right)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests in the timed night")
    parser.add_argument("--bootstrap", type=int, default=50_000, help="requests of the night before (fits the map)")
    parser.add_argument("--model", default="models/static-minilm", help="'default' or a model folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="keep workspace + landing in this folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--engine", choices=("local", "ray", "both"), default="local",
                        help="engine of the timed night (both: once each, on copies of the same workspace)")
    parser.add_argument("--generate-into", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_into:  # the child that writes the landing folder
        write_partition(generate(args.bootstrap, args.seed + 1, NIGHT - timedelta(days=1)), args.generate_into,
                        NIGHT - timedelta(days=1))
        night = generate(args.requests, args.seed, NIGHT)
        write_partition(night, args.generate_into, NIGHT)
        print(len(night), night["prompt"].nunique(), night["account_id"].nunique())
        return
    if args.model != "default" and not (Path(args.model) / "modules.json").exists():
        parser.error(f"{args.model} is not a model folder: run `targeting distill --out {args.model}` first")

    root = args.keep or Path(tempfile.mkdtemp(prefix="targeting-nightly-"))
    if args.keep and root.exists():
        shutil.rmtree(root)
    landing, ws = root / "landing", root / "ws"
    cores = os.cpu_count() or 1
    try:
        t0 = time.perf_counter()
        # generated in a child process: a child's peak memory counts its parent's at fork time
        gen = subprocess.run([sys.executable, __file__, "--generate-into", str(landing), "--requests",
                              str(args.requests), "--bootstrap", str(args.bootstrap), "--seed", str(args.seed)],
                             stdout=subprocess.PIPE, text=True, check=True)
        n, distinct, accounts = (int(x) for x in gen.stdout.split())
        gen_s = time.perf_counter() - t0
        print(f"generated {n:,} requests ({distinct:,} distinct prompts, {accounts:,} accounts) for {NIGHT} "
              f"+ {args.bootstrap:,} for the night before, in {gen_s:.0f}s; {cores} cores; model {args.model}")

        env = {"TARGETING_EMBED__PROGRESS": "false"}
        boot_wall, _, code = run_night(ws, landing, NIGHT - timedelta(days=1), args.model, env)
        if code != 0:
            sys.exit(f"bootstrap night failed with exit code {code}")
        print(f"bootstrap night (fits the map): {boot_wall:.0f}s")

        engines = ["local", "ray"] if args.engine == "both" else [args.engine]
        figures = {"requests": n, "distinct_prompts": distinct, "accounts": accounts, "model": args.model,
                   "cores": cores, "bootstrap_s": boot_wall}
        for engine in engines:
            night_ws = ws if len(engines) == 1 else root / f"ws-{engine}"
            if night_ws != ws:
                shutil.copytree(ws, night_ws)
            run = time_night(night_ws, landing, n, args.model, dict(env, TARGETING_SCALEOUT__ENGINE=engine), cores)
            if len(engines) == 1:
                figures.update(run)  # the figures' layout before --engine existed
            else:
                figures.setdefault("engines", {})[engine] = run
        if len(engines) > 1:
            same = _same_scores(root / "ws-local", root / "ws-ray")
            figures["same_scores"] = same
            local_s, ray_s = (figures["engines"][e]["wall_s"] for e in engines)
            print(f"\nlocal {local_s:.1f}s, ray {ray_s:.1f}s (ray/local {ray_s / local_s:.2f}); "
                  f"same scores: {same}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(figures, indent=2, default=str))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
