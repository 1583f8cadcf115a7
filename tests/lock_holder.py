"""Another process that holds a workspace's lock, for the lock tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import targeting.workspace as W

_HOLD_LOCK = (
    "import fcntl, sys\n"
    "fh = open(sys.argv[1], 'a+')\n"
    "fcntl.flock(fh.fileno(), fcntl.LOCK_EX)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


class LockHolder:
    """Another process holding the lock of the workspace at ``root`` until ``release``."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(root / W.LOCK_FILE)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self) -> int:
        """Let the holder exit (releasing the lock); its exit status."""
        self.proc.stdin.close()
        code = self.proc.wait(timeout=20)
        self.proc.stdout.close()
        return code
