"""Start the app: ``streamlit run app.py`` on 127.0.0.1 with the workspace as its argument.

The app is bound to 127.0.0.1 always: prompts are sensitive, and exposing them is a
deliberate step (a reverse proxy with login), not a flag. Without ``--port``, Streamlit's
own settings apply (``.streamlit/config.toml``, ``STREAMLIT_SERVER_PORT``...). Usage
statistics and the developer toolbar are switched off unless
``STREAMLIT_BROWSER_GATHER_USAGE_STATS`` / ``STREAMLIT_CLIENT_TOOLBAR_MODE`` say otherwise.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping, NoReturn

ADDRESS = "127.0.0.1"
STATS_ENV = "STREAMLIT_BROWSER_GATHER_USAGE_STATS"
TOOLBAR_ENV = "STREAMLIT_CLIENT_TOOLBAR_MODE"
REPO_SCRIPT = Path(__file__).resolve().parents[2] / "app.py"  # the repository's entry script
PACKAGED_SCRIPT = Path(__file__).resolve().parent / "entry.py"  # the same, for installs without the repository


def app_script() -> Path:
    return REPO_SCRIPT if REPO_SCRIPT.exists() else PACKAGED_SCRIPT


def streamlit_command(script: Path, workspace: Path, port: int | None, environ: Mapping[str, str]) -> list[str]:
    """The ``streamlit run`` command line for ``workspace`` (pure, so it is tested directly)."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.address", ADDRESS]
    if port is not None:
        cmd += ["--server.port", str(port)]
    if STATS_ENV not in environ:
        cmd += ["--browser.gatherUsageStats", "false"]
    if TOOLBAR_ENV not in environ:
        cmd += ["--client.toolbarMode", "viewer"]  # analysts get no developer menu or Deploy button
    return [*cmd, "--", "--workspace", str(workspace)]


def serve(workspace: Path, port: int | None, environ: Mapping[str, str]) -> NoReturn:
    """Replace this process with the Streamlit server, so Ctrl-C or a service manager's
    SIGTERM reaches the server itself (a parent process would leave it orphaned)."""
    cmd = streamlit_command(app_script(), workspace, port, environ)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)
