"""The nightly job on Ray Data (``--engine ray``) gives what the local engine gives: the same
assignments, stored vectors, scores and per-account activity, on a local Ray (2 CPUs, a
small object store, one actor per pool)."""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from targeting import activity as A
from targeting import schema as S
from targeting import workspace as W
from targeting.capmap import load_map
from targeting.cli import main
from targeting.config import load_settings
from targeting.errors import BadInputError
from targeting.jobs import score
from targeting.simulate import SimConfig, simulate

from nightly_traffic import write_bow_model, write_landing

START = date(2026, 11, 1)
DIM = 32
BATCH_ROWS = 150  # several Ray Data batches per night, so partials really merge
OBJECT_STORE = 150 * 1024 * 1024


def _day(i: int) -> date:
    return START + timedelta(days=i)


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray for the module: 2 CPUs, a small object store, no dashboard."""
    ray = pytest.importorskip("ray", reason="the targeting[ray] extra is not installed (./scripts/setup-venv)")
    ray.init(num_cpus=2, object_store_memory=OBJECT_STORE, include_dashboard=False, logging_level="WARNING")
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    requests, _ = simulate(SimConfig(seed=5, n_accounts=30, days=2, start=str(START), volume_scale=0.4))
    return requests


@pytest.fixture(scope="module")
def landing(traffic, tmp_path_factory) -> Path:
    return write_landing(traffic, tmp_path_factory.mktemp("landing"))


@pytest.fixture(scope="module")
def bow_model(traffic, tmp_path_factory) -> Path:
    """A static model on disk (random vectors per lower-case word): the actors load it by path."""
    return write_bow_model(traffic, tmp_path_factory.mktemp("models") / "bow", DIM)


def _settings(bow_model: Path, engine: str):
    return load_settings(overrides={
        "embed": {"model": str(bow_model), "progress": False},
        "scaleout": {"engine": engine, "actors": 1, "batch_rows": BATCH_ROWS},
    }, environ={})


@pytest.fixture(scope="module")
def nights(ray_local, landing, bow_model, tmp_path_factory) -> dict[str, Path]:
    """Two nights on copies of the same input, once per engine: the first fits the map, the
    second assigns to it; the Ray engine's second night runs through the CLI. The Ray
    engine's workspace path holds glob and URL characters (``[1]``, ``*``, ``?``, a quote):
    Ray's own path resolution found no file under a path with ``?``."""
    root = tmp_path_factory.mktemp("engines")
    local, ray_ws = root / "local", root / "ray [1]*?'"
    score(local, _settings(bow_model, "local"), inputs=[landing], as_of=_day(0))
    score(ray_ws, _settings(bow_model, "ray"), inputs=[landing], as_of=_day(0))
    shutil.copytree(local, root / "local-night0")
    shutil.copytree(ray_ws, root / "ray-night0")
    score(local, _settings(bow_model, "local"), inputs=[landing], as_of=_day(1))
    env = {"TARGETING_EMBED__MODEL": str(bow_model), "TARGETING_EMBED__PROGRESS": "false",
           "TARGETING_SCALEOUT__BATCH_ROWS": str(BATCH_ROWS)}
    code = _cli(["score", str(landing), "-w", str(ray_ws), "--as-of", str(_day(1)), "--engine", "ray",
                 "--actors", "1"], env)
    assert code == 0
    return {"local": local, "ray": ray_ws, "local-night0": root / "local-night0", "ray-night0": root / "ray-night0"}


def _cli(args: list[str], env: dict[str, str]) -> int:
    with mock.patch.dict(os.environ, env):
        return main(["--quiet", *args])


def _assignments(ws_path: Path) -> pd.DataFrame:
    table = W.read_assignments(W.open_workspace(ws_path)).to_pandas()
    return table.sort_values(S.REQUEST_ID, ignore_index=True)


def _vectors(ws_path: Path) -> dict[str, np.ndarray]:
    ws = W.open_workspace(ws_path)
    key = load_map(ws.map_dir(W.read_state(ws)["map_id"])).meta["model_key"]
    hashes, vectors = W.read_embeddings(ws, key)
    return dict(zip(hashes, vectors))


def _scores(ws_path: Path, day: date) -> pd.DataFrame:
    frame = pd.read_parquet(W.open_workspace(ws_path).scores_path(str(day)))
    return frame.drop(columns=["run_id"]).sort_values("account_id", ignore_index=True)


def _activity(ws_path: Path, day: date) -> pd.DataFrame:
    frame = pd.read_parquet(W.open_workspace(ws_path).activity_path(str(day)))
    return frame.drop(columns=["run_id"]).sort_values("account_id", ignore_index=True)


def _night(ws_path: Path, day: date) -> dict:
    return next(n for n in W.read_nights(W.open_workspace(ws_path)) if n["as_of"] == str(day))


@pytest.mark.ray
@pytest.mark.parametrize("night", [0, 1])
def test_ray_engine_stores_what_the_local_engine_stores(nights, night):
    local, ray_ws = (nights["local-night0"], nights["ray-night0"]) if night == 0 else (nights["local"], nights["ray"])
    assert W.read_state(W.open_workspace(ray_ws))["map_id"] == W.read_state(W.open_workspace(local))["map_id"]
    got, want = _assignments(ray_ws), _assignments(local)
    exact = [c for c in S.ASSIGNMENT_SCHEMA.names if c != "distance"]
    pd.testing.assert_frame_equal(got[exact], want[exact])
    assert np.allclose(got["distance"], want["distance"], atol=1e-5)
    got_v, want_v = _vectors(ray_ws), _vectors(local)
    assert got_v.keys() == want_v.keys()
    assert all(np.array_equal(got_v[h], want_v[h]) for h in want_v)
    pd.testing.assert_frame_equal(_scores(ray_ws, _day(night)), _scores(local, _day(night)))
    pd.testing.assert_frame_equal(_activity(ray_ws, _day(night)), _activity(local, _day(night)))
    keep = ("rows_stored", "prompts_embedded", "accounts", "flagged", "drift", "active_accounts", "requests_by_area")
    n_ray, n_local = _night(ray_ws, _day(night)), _night(local, _day(night))
    assert {k: n_ray[k] for k in keep} == {k: n_local[k] for k in keep}
    assert n_ray["prompts_embedded"] > 0 and n_ray["rows_stored"] > 0


@pytest.mark.ray
def test_ray_workers_stage_one_file_per_batch_and_the_merged_activity_is_the_nights(nights, traffic):
    ray_ws = W.open_workspace(nights["ray"])
    day = _day(1)
    files = W.partition_files(ray_ws, "assignments", str(day), str(day))
    assert len(files) >= 2  # the night went through several batches
    manifest = W.read_manifest(ray_ws, _night(nights["ray"], day)["run_id"])
    assert manifest["config"]["scaleout"]["engine"] == "ray"
    # the merged partial aggregates equal the same aggregates computed directly
    night = W.read_partitions(ray_ws, "assignments", str(day), str(day)).to_pandas()
    areas = load_map(ray_ws.map_dir(W.read_state(ray_ws)["map_id"])).areas
    ts = pd.to_datetime(night[S.TIMESTAMP], utc=True)
    by = night.assign(ts=ts).groupby(S.ACCOUNT_ID)
    direct = pd.DataFrame({
        A.REQUESTS: by.size(), A.FIRST_SEEN: by["ts"].min(), A.LAST_SEEN: by["ts"].max(),
        A.DAYS: by[S.DATE].nunique(), A.CLUSTERS: by[S.CLUSTER_ID].nunique(),
    })
    for area in areas:
        direct[A.requests_column(area)] = night[night[S.AREA] == area].groupby(S.ACCOUNT_ID).size()
    direct = direct.fillna(0).reset_index()
    stored = _activity(nights["ray"], day)
    assert len(stored) == len(direct) == traffic.loc[traffic["timestamp"].dt.date == day, "account_id"].nunique()
    direct = direct.sort_values(S.ACCOUNT_ID, ignore_index=True)
    assert (stored[S.ACCOUNT_ID] == direct[S.ACCOUNT_ID]).all()
    for column in [A.REQUESTS, A.DAYS, A.CLUSTERS, *map(A.requests_column, areas)]:
        assert (stored[column].to_numpy() == direct[column].to_numpy()).all(), column
    for column in (A.FIRST_SEEN, A.LAST_SEEN):
        assert (pd.to_datetime(stored[column], utc=True) == pd.to_datetime(direct[column], utc=True)).all(), column
    assert int(stored[A.REQUESTS].sum()) == _night(nights["ray"], day)["rows_stored"]


def test_the_ray_engine_without_ray_installed_names_the_extra(monkeypatch, tmp_path, capsys):
    from targeting.engines import ray_data as scaleout

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(BadInputError, match=r"targeting\[ray\]"):
        scaleout.import_ray()
    # the command stops before ingesting anything, with exit code 2 and the extra's name
    code = main(["score", str(tmp_path / "logs"), "-w", str(tmp_path / "ws"), "--engine", "ray"])
    assert code == 2 and "targeting[ray]" in capsys.readouterr().err
    assert not (tmp_path / "ws" / "requests").exists()


def test_ray_options_need_the_ray_engine(tmp_path, capsys):
    code = main(["score", "-w", str(tmp_path / "ws"), "--address", "auto"])
    assert code == 2 and "--engine ray" in capsys.readouterr().err
    assert main(["score", "-w", str(tmp_path / "ws"), "--engine", "spark"]) == 2
