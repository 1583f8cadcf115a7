"""Benchmark: property-based fuzzing of the whole loading path, at volume (issue 12).

    .venv/bin/python bench/fuzz_ingest.py --cases 10000
    .venv/bin/python bench/fuzz_ingest.py --cases 500 --score-every 100 --score-cases 100 --seed 7

Generates ``--cases`` hostile input files with hypothesis (``tests/fuzz_cases.py``: every
accepted format, every column hostile, ``tools``/``system`` JSON of any depth and size,
control and format characters, invalid UTF-8, broken lines, records over the line cap,
broken gzip) and runs each through ingest and context parsing against its oracle
(``tests/fuzz_check.py``: no crash, a damaged file is an ``InputError`` naming it, every good
row stored once, every bad row quarantined with file, row and field). Every
``--score-every`` cases, the first ``--score-cases`` of that group (their undamaged ones) go
through one scoring pass:
``targeting score`` on all their files at once, into a copy of a workspace scored on a clean
simulated night, with a static model of random word vectors (no real model), checking that
every good row is stored once and assigned and every account with a stored row is scored.

Each case's file is written to ``WORKDIR/last-case.*`` before it is read, so a case that
kills the process (a crash in native code) is left there to reproduce. Prints the count of
cases tried, how they ended, the scoring passes and the wall time; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from fuzz_cases import DAY, case, write_case  # noqa: E402
from fuzz_check import base_workspace, run_case, score_cases  # noqa: E402


class Tally:
    def __init__(self, work: Path, base: Path, model: Path, score_every: int, score_cases: int) -> None:
        self.work, self.base, self.model = work, base, model
        self.score_every, self.score_cases = score_every, score_cases
        self.tried = self.ok = self.refused = 0
        self.passes: list[dict] = []
        self.group: list = []

    def one(self, c) -> None:
        self.tried += 1
        for old in self.work.glob("last-case.*"):
            old.unlink()
        write_case(c, self.work, "last-case")  # left behind if the process dies
        outcome = run_case(c, self.work / "cases", "case")
        self.ok += outcome == "ok"
        self.refused += outcome == "input-error"
        self.group.append(c)
        if len(self.group) >= self.score_every:
            self.score_group()
        if self.tried % 1000 == 0:
            print(f"  {self.tried:,} cases ...", flush=True)

    def score_group(self) -> None:
        group, self.group = self.group[: self.score_cases], []
        if not group:
            return
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            ws = Path(shutil.copytree(self.base, Path(tmp) / "ws"))
            self.passes.append(score_cases(group, ws, Path(tmp) / "landing", self.model, DAY))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--score-every", type=int, default=2_000, help="cases per group")
    parser.add_argument("--score-cases", type=int, default=500,
                        help="cases of each group (its first) that go through the group's scoring pass")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="fuzz-ingest-"))
    (work / "cases").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    base, model = base_workspace(work / "base")
    tally = Tally(work, base, model, args.score_every, args.score_cases)

    @seed(args.seed)
    @settings(max_examples=args.cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(c=case())
    def fuzz(c) -> None:
        tally.one(c)

    failure = None
    try:
        fuzz()
        tally.score_group()
    except Exception as exc:  # noqa: BLE001 - report any property that failed, then exit 1
        failure = exc
    seconds = time.perf_counter() - start
    rows = sum(p["stored"] for p in tally.passes)
    print(f"cases tried: {tally.tried:,} ({tally.ok:,} read and checked, {tally.refused:,} damaged files "
          f"refused with InputError)")
    print(f"scoring passes: {len(tally.passes)} over {sum(p['cases'] for p in tally.passes):,} undamaged cases "
          f"({rows:,} rows stored, scored and assigned)")
    print(f"result: {'FAILED: ' + type(failure).__name__ + ': ' + str(failure)[:2000] if failure else '0 failures, 0 crashes'}")
    print(f"wall time: {seconds:.0f} s (work folder {work})")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
