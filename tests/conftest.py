"""Fixtures shared by the test modules: the command line in process, the light test encoder
in place of the real model, a copy of the small real workspace, and a held workspace lock."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pytest

if TYPE_CHECKING:
    from click.testing import Result

    from app_workspace import HashingEncoder
    from lock_holder import LockHolder


@pytest.fixture
def invoke() -> Callable[..., Result]:
    """``invoke("score", "--workspace", ws)``: the ``targeting`` command run in process by
    Typer's ``CliRunner``, with the console script's exit codes and one-line errors."""
    from typer.testing import CliRunner

    from targeting import cli

    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, [str(a) for a in args])


@pytest.fixture
def hashing_model(monkeypatch) -> HashingEncoder:
    """The jobs embed with ``HashingEncoder`` (no model, no I/O) whatever the settings name."""
    import targeting.jobs.jobs
    import targeting.jobs.stages
    from app_workspace import HashingEncoder

    encoder = HashingEncoder()
    for module in (targeting.jobs.jobs, targeting.jobs.stages):
        monkeypatch.setattr(module, "load_encoder", lambda config: encoder)
    return encoder


@pytest.fixture
def workspace_copy(tmp_path_factory, tmp_path) -> Path:
    """A copy of the session's small real workspace (``app_workspace``: scored nights, a map
    fitted with ``HashingEncoder``), for a test that may change it."""
    from app_workspace import shared

    copy = tmp_path / "workspace"
    shutil.copytree(shared(tmp_path_factory), copy)
    return copy


@pytest.fixture
def hold_lock() -> Iterator[Callable[[Path], LockHolder]]:
    """``hold_lock(root)``: another process holds the workspace lock at ``root`` until the test
    ends or it calls the holder's ``release``."""
    from lock_holder import LockHolder

    holders: list[LockHolder] = []

    def hold(root: Path) -> LockHolder:
        root.mkdir(parents=True, exist_ok=True)
        holders.append(LockHolder(root))
        return holders[-1]

    yield hold
    for holder in holders:
        if holder.proc.poll() is None:
            holder.release()
