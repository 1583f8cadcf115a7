"""Where the jobs' embed and assign stages run: ``local`` (this process) or ``ray`` (Ray Data
actors, ``targeting.engines.ray_data``), behind one protocol (``Engine``)."""

from __future__ import annotations

import contextlib
from typing import Iterator

from targeting.config import ENGINES, Settings
from targeting.engines.base import Engine
from targeting.engines.local import LocalEngine
from targeting.errors import BadInputError

__all__ = ["Engine", "LocalEngine", "open_engine"]


@contextlib.contextmanager
def open_engine(settings: Settings) -> Iterator[Engine]:
    """The engine ``[scaleout] engine`` names, closed on exit (Ray is imported here only for
    the ray engine, and started only when a stage first needs it)."""
    name = settings.scaleout.engine
    if name not in ENGINES:
        raise BadInputError(f"[scaleout] engine {name!r} is not one of {', '.join(ENGINES)}")
    if name == "local":
        engine: Engine = LocalEngine(settings)
    else:
        from targeting.engines.ray_data import RayEngine

        engine = RayEngine(settings)
    try:
        yield engine
    finally:
        engine.close()
