"""Run the ``targeting`` command and SIGKILL it at its K-th file-system step: the kill-anywhere
tests' helper (``python tests/kill_at.py K COUNT_FILE ARGS...``).

A file-system step is an audit event (``sys.addaudithook``) of ``FS_EVENTS``: every file
opened from Python (read or written: ``open``, ``os.open``), ``tempfile.mkstemp``,
``os.chmod``/``fchmod``, ``os.mkdir``, ``os.remove`` and ``os.rename`` (also raised by
``os.replace``). The hook runs before the step, so killing at the rename leaves the whole
temporary file unrenamed. With K = 0 nothing is killed and the number of steps is written
to COUNT_FILE: a run of the same command on the same workspace takes the same steps, so
K = 1 ... N kills it before each one in turn. Audit hooks cost nothing between events: the
command runs at its own speed.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

FS_EVENTS = frozenset({"open", "tempfile.mkstemp", "os.chmod", "os.mkdir", "os.remove", "os.rename"})


def main() -> int:
    kill_at, count_file, args = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    steps = 0
    armed = False

    def hook(event: str, _args: tuple) -> None:
        nonlocal steps
        if armed and event in FS_EVENTS:
            steps += 1
            if steps == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    from targeting.cli import main as cli

    sys.addaudithook(hook)  # cannot be removed: disarmed instead
    armed = True
    code = cli(args)
    armed = False
    count_file.write_text(str(steps))
    return code


if __name__ == "__main__":
    sys.exit(main())
