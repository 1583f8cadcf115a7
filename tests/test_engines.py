"""The engines behind one protocol, and the one manifest every job commits."""

from __future__ import annotations

import inspect

import pytest

from targeting.config import load_settings
from targeting.engines import Engine, LocalEngine, open_engine
from targeting.errors import BadInputError


def _parameters(method) -> list[str]:
    return list(inspect.signature(method).parameters)


@pytest.mark.parametrize("name", ["embed", "assign", "close"])
def test_both_engines_implement_the_protocol_with_its_parameters(name):
    ray_data = pytest.importorskip("targeting.engines.ray_data")  # imports Ray only when it runs
    wanted = _parameters(getattr(Engine, name))
    assert _parameters(getattr(LocalEngine, name)) == wanted
    assert _parameters(getattr(ray_data.RayEngine, name)) == wanted


def test_open_engine_gives_the_configured_engine_and_refuses_others():
    settings = load_settings(environ={})
    with open_engine(settings) as engine:
        assert isinstance(engine, LocalEngine)
    bad = load_settings(environ={"TARGETING_SCALEOUT__ENGINE": "spark"})
    with pytest.raises(BadInputError, match="spark"):
        with open_engine(bad):
            pass


def test_every_job_s_manifest_names_versions_and_peak_memory():
    from targeting.jobs.manifest import RunResult, manifest

    result = RunResult(run_id="run-x", rows_read=3, rows_stored=2, timings={"ingest": 0.1}, peak_mib={"ingest": 90})
    for kind in ("run", "score", "fit"):
        got = manifest(result, load_settings(environ={}), None, [], kind, days=7)
        assert got["kind"] == kind and got["status"] == "committed" and got["days"] == 7
        assert got["counts"]["rows_read"] == 3 and got["counts"]["rows_stored"] == 2
        assert got["versions"]["python"] and got["versions"]["numpy"] and got["peak_mib"] == {"ingest": 90}
        assert got["config_hash"] and got["model"] is None and got["timings"] == {"ingest": 0.1}
