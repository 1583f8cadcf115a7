"""Kill-anywhere for the commands that write files people open (issue 12): `export` and
`report`, SIGKILLed before each of a spread of their file-system steps (``kill_at.py``). The file at
the destination is always either what was there before or the whole new file, never half of
one; the workspace is untouched; the next run writes what an uninterrupted run writes.
(The nightly job's and `fit`'s kill tests are in test_nightly.py.)"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from policy_workspace import build

HERE = Path(__file__).resolve().parent
OLD = b"the previous file, whole\n"
KILL_POINTS = 8  # spread over the command's file-system steps, the last steps (the rename) always among them


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("kill-anywhere") / "ws").root


def _run(kill_at: int, args: list[str], tmp: Path) -> tuple[int, int]:
    """(exit status, file-system steps taken) of the command killed at step ``kill_at`` (0: never)."""
    count = tmp / "steps"
    count.unlink(missing_ok=True)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    done = subprocess.run([sys.executable, str(HERE / "kill_at.py"), str(kill_at), str(count), "--quiet", *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr[-2000:]
    return done.returncode, int(count.read_text()) if count.exists() else -1


def _normal(data: bytes) -> bytes:
    """The file without its generation time (a report says when it was made)."""
    return re.sub(rb"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", b"generated <time>", data)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _points(steps: int) -> list[int]:
    spread = {max(1, steps * i // KILL_POINTS) for i in range(1, KILL_POINTS)}
    return sorted(spread | {max(1, steps - 1), steps})


COMMANDS = {
    "export accounts csv": (["export", "accounts", "--all-columns"], "accounts.csv"),  # the fixture has no signals
    "export requests parquet": (["export", "requests"], "requests.parquet"),
    "report html": (["report"], "policy.html"),
    "report md": (["report"], "policy.md"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_killed_export_or_report_leaves_the_old_file_or_the_whole_new_one(ws, tmp_path, name):
    command, filename = COMMANDS[name]
    out = tmp_path / "out" / filename
    out.parent.mkdir()
    args = [*command, "-w", str(ws), "--out", str(out)]
    before = _digest(ws)
    code, steps = _run(0, args, tmp_path)
    assert code == 0 and steps > 0
    reference = _normal(out.read_bytes())
    charts = out.parent / f"{out.stem}_files"
    reference_charts = _digest(charts) if charts.exists() else {}
    killed = 0
    for point in _points(steps):
        out.write_bytes(OLD)
        code, _ = _run(point, args, tmp_path)
        killed += code == -signal.SIGKILL
        got = out.read_bytes()
        assert got == OLD or _normal(got) == reference, f"killed at step {point} of {steps}: a partial {filename}"
        if charts.exists():  # each chart beside a Markdown report is whole too
            assert all(reference_charts.get(k) == v for k, v in _digest(charts).items())
        assert _digest(ws) == before, "the workspace changed"
    assert killed >= len(_points(steps)) - 1, f"only {killed} runs were killed"
    assert _run(0, args, tmp_path)[0] == 0
    assert _normal(out.read_bytes()) == reference
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert _digest(ws) == before
