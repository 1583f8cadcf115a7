"""The nightly job: incremental ingest and embedding, idempotent nights, backfill, the lock,
runs killed at any stage, and map refresh with cluster ids kept."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from targeting import schema as S
from targeting import workspace as W
from targeting.cli import EXIT_LOCKED, main
from targeting.config import load_settings
from targeting.jobs import fit, score
from targeting.simulate import SimConfig, simulate

from nightly_traffic import write_bow_model, write_landing

DAYS = 4
START = date(2026, 11, 1)
DIM = 32


def _day(i: int) -> date:
    return START + timedelta(days=i)


@pytest.fixture(scope="module")
def traffic() -> pd.DataFrame:
    requests, _ = simulate(SimConfig(seed=2, n_accounts=40, days=DAYS, start=str(START), volume_scale=0.4))
    return requests


@pytest.fixture(scope="module")
def landing(traffic, tmp_path_factory) -> Path:
    return write_landing(traffic, tmp_path_factory.mktemp("landing"))


@pytest.fixture(scope="module")
def bow_model(traffic, tmp_path_factory) -> Path:
    """A static model written directly (no distillation): random vectors per lower-case word."""
    return write_bow_model(traffic, tmp_path_factory.mktemp("models") / "bow", DIM)


@pytest.fixture(scope="module")
def settings(bow_model):
    return load_settings(overrides={"embed": {"model": str(bow_model), "progress": False}}, environ={})


@pytest.fixture(scope="module")
def night1(landing, settings, tmp_path_factory) -> Path:
    """A workspace after its first night (the map is fitted on that night)."""
    ws = tmp_path_factory.mktemp("night1") / "ws"
    result = score(ws, settings, inputs=[landing], as_of=_day(0))
    assert result.map_fitted and result.rows_stored > 0
    return ws


def _copy(ws: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(ws, dst)
    return dst


def _scores(ws: Path, day: date) -> pd.DataFrame:
    return pd.read_parquet(W.open_workspace(ws).scores_path(str(day)))


def _stored_requests(ws: Path) -> int:
    return W.read_requests(W.open_workspace(ws), [S.REQUEST_ID]).num_rows


def test_first_night_takes_only_its_own_partition(night1, landing, traffic):
    ws = W.open_workspace(night1)
    assert _stored_requests(night1) == int((traffic["timestamp"].dt.date == _day(0)).sum())
    registry = W.read_ingested_files(ws)
    assert len(registry) == 1 and all(len(e["sha256"]) == 64 for e in registry.values())
    night = W.read_nights(ws)[-1]
    assert night["as_of"] == str(_day(0)) and night["files_left_for_later"] == DAYS - 1
    assert night["drift"]["prompts"] > 0 and 0 <= night["drift"]["share"] <= 1


def test_next_night_ingests_and_embeds_only_what_is_new(night1, landing, settings, traffic, tmp_path):
    ws_path = _copy(night1, tmp_path)
    ws = W.open_workspace(ws_path)
    before = W.read_embeddings(ws, _model_key(ws))[0]
    result = score(ws_path, settings, inputs=[landing], as_of=_day(1))
    day1 = traffic[traffic["timestamp"].dt.date == _day(1)]
    assert result.rows_stored == len(day1) and not result.map_fitted
    rows = W.read_partitions(ws, "requests", str(_day(1)), str(_day(1))).to_pandas()
    new_prompts = set(rows[S.PROMPT_HASH]) - set(before)
    new_contexts = set(rows[S.CONTEXT_HASH].dropna()) - set(before)
    assert len(new_prompts) <= result.prompts_embedded <= len(new_prompts) + len(new_contexts)
    assert len(new_prompts) < rows[S.PROMPT_HASH].nunique()  # some of the night's prompts were cached
    manifest = W.read_manifest(ws, result.run_id)
    assert manifest["status"] == "committed" and manifest["config_hash"] and manifest["model"]["weights_sha256"]
    assert [Path(f["file"]).parent.name for f in manifest["files"]] == [f"date={_day(1)}"]
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    assert {"ingest", "embed", "assign", "drift", "score"} <= set(manifest["timings"])
    assert manifest["versions"]["numpy"] and manifest["night"]["drift"]["threshold"] > 0
    scores = _scores(ws_path, _day(1))
    window = traffic[traffic["timestamp"].dt.date <= _day(1)]
    assert set(scores["account_id"]) == set(window["account_id"])
    assert (scores["run_id"] == result.run_id).all() and (scores["as_of"] == str(_day(1))).all()


def _feature_files(ws: Path) -> set[str]:
    return {str(p.relative_to(ws)) for p in (ws / "features").rglob("*.parquet")}


def _prompt_hashes(ws: W.Workspace, start: date, end: date) -> set[str]:
    return set(W.read_partitions(ws, "requests", str(start), str(end), [S.PROMPT_HASH]).column(0).to_pylist())


def test_next_night_computes_text_features_of_its_new_prompts_only(night1, landing, settings, tmp_path):
    """The per-prompt text features (chain-of-thought probability, template parts) of the
    first night are cached; the second night computes and stores only its new prompts' and
    scores as a run without the cache does."""
    ws_path = _copy(night1, tmp_path)
    ws = W.open_workspace(ws_path)
    first = _feature_files(night1)
    assert sorted(Path(f).parent.name.split("-")[0] for f in first) == ["cot", "templates"]
    result = score(ws_path, settings, inputs=[landing], as_of=_day(1))
    new_files = _feature_files(ws_path) - first
    assert len(new_files) == 2 and all(result.run_id in f for f in new_files)
    new_prompts = _prompt_hashes(ws, _day(0), _day(1)) - _prompt_hashes(ws, _day(0), _day(0))
    assert new_prompts
    for f in new_files:
        assert set(pd.read_parquet(ws_path / f, columns=["prompt_hash"])["prompt_hash"]) == new_prompts
    # the same night on a workspace without the cache: the same scores
    cold = _copy(night1, tmp_path / "cold")
    shutil.rmtree(cold / "features")
    score(cold, settings, inputs=[landing], as_of=_day(1))
    pd.testing.assert_frame_equal(_scores(ws_path, _day(1)).drop(columns="run_id"),
                                  _scores(cold, _day(1)).drop(columns="run_id"), rtol=0, atol=1e-9)


def test_cached_prompt_features_equal_computed_ones_and_need_no_text(night1, settings):
    from targeting.nightly import COT, TEMPLATES, FeatureCache
    from targeting.jobs.stages import _prompt_features

    ws = W.open_workspace(night1)
    rows = W.read_partitions(ws, "requests", str(_day(0)), str(_day(0)), [S.PROMPT_HASH, S.PROMPT]).to_pandas()
    texts = dict(zip(rows[S.PROMPT_HASH], rows[S.PROMPT]))
    distinct = np.array(sorted(texts), dtype=object)
    seed = settings.signals.seed
    cache = FeatureCache.open(ws, seed)  # read-only: no transaction
    assert cache.load(set(distinct)) == set()  # every prompt of the night is cached: no text needed
    cot, parts, prompt_texts = _prompt_features(distinct, {}, cache.detector, seed, cache)
    assert set(prompt_texts) == {""} and cache.computed == {COT: 0, TEMPLATES: 0}
    want_cot, want_parts, want_texts = _prompt_features(distinct, texts, cache.detector, seed, None)
    assert want_texts == tuple(texts[h] for h in distinct)
    assert np.array_equal(cot, want_cot) and (want_cot > 0).any()
    for name in ("sigs", "eligible", "affixes"):
        assert np.array_equal(getattr(parts, name), getattr(want_parts, name)), name


def _model_key(ws: W.Workspace) -> str:
    from targeting.capmap import load_map

    return load_map(ws.map_dir(W.read_state(ws)["map_id"])).meta["model_key"]


def test_rerunning_a_night_replaces_its_results(night1, landing, settings, tmp_path):
    ws_path = _copy(night1, tmp_path)
    first = score(ws_path, settings, inputs=[landing], as_of=_day(1))
    stored = _stored_requests(ws_path)
    a = _scores(ws_path, _day(1))
    again = score(ws_path, settings, inputs=[landing], as_of=_day(1))
    assert again.rows_stored == 0 and again.prompts_embedded == 0
    assert _stored_requests(ws_path) == stored
    b = _scores(ws_path, _day(1))
    assert (b["run_id"] == again.run_id).all()
    assert len(list((ws_path / "scores").glob(f"as_of={_day(1)}/*.parquet"))) == 1
    history = W.read_score_history(W.open_workspace(ws_path)).to_pandas()
    assert set(history.loc[history["as_of"] == str(_day(1)), "run_id"]) == {again.run_id}
    assert first.accounts == again.accounts
    merged = a.merge(b, on="account_id", suffixes=("", "_again"))
    assert len(merged) == len(a) and np.allclose(merged["risk_score"], merged["risk_score_again"], atol=1e-9)


def test_backfill_of_a_range_scores_each_night_and_keeps_latest(night1, landing, bow_model, tmp_path):
    ws_path = _copy(night1, tmp_path)
    env = {"TARGETING_EMBED__MODEL": str(bow_model), "TARGETING_EMBED__PROGRESS": "false"}
    code = _cli(["score", str(landing), "-w", str(ws_path), "--from", str(_day(1)), "--to", str(_day(DAYS - 1))], env)
    assert code == 0
    ws = W.open_workspace(ws_path)
    nights = {n["as_of"]: n for n in W.read_nights(ws)}
    assert sorted(nights) == [str(_day(i)) for i in range(DAYS)]
    assert all(nights[str(_day(i))]["files_ingested"] == 1 for i in range(DAYS))
    assert W.read_state(ws)["latest_scores"].startswith(f"scores/as_of={_day(DAYS - 1)}")
    # re-scoring an older night (a backfill) leaves "latest" on the newest night
    assert _cli(["score", "-w", str(ws_path), "--as-of", str(_day(1))], env) == 0
    assert W.read_state(ws)["latest_scores"].startswith(f"scores/as_of={_day(DAYS - 1)}")
    assert _stored_requests(ws_path) == sum(n["rows_stored"] for n in nights.values())


def _cli(args: list[str], env: dict[str, str]) -> int:
    with mock.patch.dict(os.environ, env):
        return main(["--quiet", *args])


def test_a_second_run_on_a_locked_workspace_exits_75(night1, landing, bow_model, tmp_path, capsys):
    ws_path = _copy(night1, tmp_path)
    env = {"TARGETING_EMBED__MODEL": str(bow_model)}
    with W.locked(W.open_workspace(ws_path)):
        code = _cli(["score", str(landing), "-w", str(ws_path), "--as-of", str(_day(1))], env)
    assert code == EXIT_LOCKED
    assert capsys.readouterr().err == "workspace is busy (another run holds it): retry later\n"
    assert _stored_requests(ws_path) == _stored_requests(night1)  # nothing happened


@pytest.mark.parametrize("kill_at", ["stage ingest", "stage embed", "stage assign", "stage score", "stage index"])
def test_a_run_killed_at_any_stage_is_completed_by_the_next(night1, landing, bow_model, settings, tmp_path,
                                                            kill_at):
    """SIGKILL the real command when it logs a stage; the workspace stays readable and the
    next run produces exactly what an uninterrupted run does."""
    ws_path = _copy(night1, tmp_path)
    env = dict(os.environ, TARGETING_EMBED__MODEL=str(bow_model), TARGETING_EMBED__PROGRESS="false",
               TARGETING_NIGHTLY__EMBED_CHECKPOINT="50")
    cmd = [sys.executable, "-m", "targeting.cli", "score", str(landing), "-w", str(ws_path), "--as-of", str(_day(1))]
    assert _killed_at(cmd, env, kill_at), f"the command never logged {kill_at!r}"
    ws = W.open_workspace(ws_path)
    # the committed state is still the first night's: readers see it whole
    state = W.read_state(ws)
    assert state["latest_scores"].startswith(f"scores/as_of={_day(0)}")
    assert _stored_requests(ws_path) == _stored_requests(night1)
    assert _feature_files(ws_path) == _feature_files(night1)  # the killed run's features were staged only
    # the next run completes the night
    result = score(ws_path, settings, inputs=[landing], as_of=_day(1))
    assert not (ws_path / W.STAGING).exists() or not any((ws_path / W.STAGING).iterdir())
    reference = _copy(night1, tmp_path / "ref")
    score(reference, settings, inputs=[landing], as_of=_day(1))
    got, want = _scores(ws_path, _day(1)), _scores(reference, _day(1))
    merged = got.merge(want, on="account_id", suffixes=("", "_ref"))
    assert len(merged) == len(want) == len(got)
    assert np.allclose(merged["risk_score"], merged["risk_score_ref"], atol=1e-6)
    assert _stored_requests(ws_path) == _stored_requests(reference)
    assert result.rows_stored == _stored_requests(reference) - _stored_requests(night1)


def _killed_at(cmd: list[str], env: dict[str, str], kill_at: str) -> bool:
    """Run ``cmd``; SIGKILL it when its log names ``kill_at``. Whether it was killed."""
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    deadline = time.monotonic() + 180
    killed = False
    for line in proc.stderr:
        if kill_at in line:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        if time.monotonic() > deadline:
            break
    proc.wait(timeout=60)
    return killed


def _assignment_map(ws_path: Path) -> dict[str, str]:
    table = W.read_assignments(W.open_workspace(ws_path), [S.REQUEST_ID, S.CLUSTER_ID]).to_pydict()
    return dict(zip(table[S.REQUEST_ID], table[S.CLUSTER_ID]))


@pytest.mark.parametrize("kill_at", ["stage load model", "stage sample", "stage fit map", "stage assign",
                                     "stage index"])
def test_a_fit_killed_at_any_stage_keeps_the_old_map_and_the_next_fit_completes(night1, bow_model, settings,
                                                                                tmp_path, kill_at):
    """SIGKILL `targeting fit` when it logs a stage: the workspace keeps its committed map and
    every request's assignment to it, readers see it whole, and the next fit gives what an
    uninterrupted fit gives."""
    ws_path = _copy(night1, tmp_path)
    before_map, before = W.read_state(W.open_workspace(ws_path))["map_id"], _assignment_map(ws_path)
    env = dict(os.environ, TARGETING_EMBED__MODEL=str(bow_model), TARGETING_EMBED__PROGRESS="false")
    cmd = [sys.executable, "-m", "targeting.cli", "fit", "-w", str(ws_path), "--days", "1"]
    assert _killed_at(cmd, env, kill_at), f"the command never logged {kill_at!r}"
    assert W.read_state(W.open_workspace(ws_path))["map_id"] == before_map
    assert _assignment_map(ws_path) == before
    assert _scores(ws_path, _day(0)).equals(_scores(night1, _day(0)))
    result = fit(ws_path, settings, days=1)
    assert not (ws_path / W.STAGING).exists() or not any((ws_path / W.STAGING).iterdir())
    reference = fit(_copy(night1, tmp_path / "ref"), settings, days=1)
    assert result.map_id == reference.map_id  # content-derived: the same sample gives the same map
    assert W.read_state(W.open_workspace(ws_path))["map_id"] == result.map_id
    assert _assignment_map(ws_path) == _assignment_map(tmp_path / "ref" / "ws")


def test_fit_refreshes_the_map_and_keeps_matching_cluster_ids(night1, landing, settings, tmp_path):
    ws_path = _copy(night1, tmp_path)
    for i in range(1, DAYS):
        score(ws_path, settings, inputs=[landing], as_of=_day(i))
    ws = W.open_workspace(ws_path)
    old_map = W.read_state(ws)["map_id"]
    old_ids = set(W.read_assignments(ws, [S.CLUSTER_ID]).column(0).to_pylist())
    n_assigned = W.read_assignments(ws, [S.REQUEST_ID]).num_rows
    result = fit(ws_path, settings, days=2)
    assert result.map_id != old_map and result.clusters_kept > 0
    new_ids = set(W.read_assignments(ws, [S.CLUSTER_ID]).column(0).to_pylist())
    assert W.read_assignments(ws, [S.REQUEST_ID]).num_rows == n_assigned
    assert len(new_ids & old_ids) >= result.clusters_kept * 0.5
    manifest = W.read_manifest(ws, result.run_id)
    assert manifest["kind"] == "fit" and manifest["previous_map_id"] == old_map
    assert (ws.index_dir(result.map_id) / "prompts.faiss").exists()
    # the next night scores on the new map
    again = score(ws_path, settings, as_of=_day(DAYS - 1))
    assert again.map_id == result.map_id and again.accounts > 0


def test_fit_if_drift_does_nothing_without_drift(night1, settings, tmp_path):
    ws_path = _copy(night1, tmp_path)
    ws = W.open_workspace(ws_path)
    nights = W.read_nights(ws)
    before = W.read_state(ws)["map_id"]
    result = fit(ws_path, settings, if_drift=True)
    if nights[-1]["drift"]["alert"]:
        pytest.skip("the first night reported drift on this data")
    assert result.skipped and W.read_state(ws)["map_id"] == before


def test_another_window_is_written_beside_the_nights_history(night1, landing, settings, tmp_path):
    ws_path = _copy(night1, tmp_path)
    weekly = score(ws_path, settings, inputs=[landing], as_of=_day(1))
    ws = W.open_workspace(ws_path)
    state = W.read_state(ws)
    night = (ws_path / "nights" / f"as_of={_day(1)}.json").read_text()
    monthly = score(ws_path, settings, as_of=_day(1), window_days=30)
    assert monthly.scores_path == str(ws.scores_path(str(_day(1)), 30))
    assert (pd.read_parquet(monthly.scores_path)["window_days"] == 30).all()
    assert (_scores(ws_path, _day(1))["run_id"] == weekly.run_id).all()  # the history is untouched
    assert W.read_state(ws)["latest_scores"] == state["latest_scores"]
    assert (ws_path / "nights" / f"as_of={_day(1)}.json").read_text() == night
    history = W.read_score_history(ws).to_pandas()
    assert set(history["window_days"]) == {settings.nightly.window_days}


def test_contexts_are_embedded_cut_as_the_map_says_whatever_the_settings_later_say(landing, bow_model, tmp_path):
    """``[map] context_pieces`` cuts each context before it is embedded, caches its vector under
    a key naming the cut, and becomes the map's: later nights cut their new contexts the
    map's way even when the settings changed, until a refit."""
    from targeting.capmap import load_map
    from targeting.capmap.assign import context_key, context_pieces

    def settings_with(pieces: int):
        return load_settings(overrides={"embed": {"model": str(bow_model), "progress": False},
                                        "map": {"context_pieces": pieces}}, environ={})

    ws_path = tmp_path / "ws"
    score(ws_path, settings_with(3), inputs=[landing], as_of=_day(0))
    ws = W.open_workspace(ws_path)
    cmap = load_map(ws.map_dir(W.read_state(ws)["map_id"]))
    assert context_pieces(cmap) == 3
    score(ws_path, settings_with(0), inputs=[landing], as_of=_day(1))  # the settings say: whole
    keys = set(W.read_embeddings(ws, _model_key(ws))[0])
    contexts = set(W.read_requests(ws, [S.CONTEXT_HASH]).column(0).drop_null().to_pylist())
    assert contexts and {context_key(h, 3) for h in contexts} <= keys
    assert not contexts & keys  # no whole context was embedded
    fit(ws_path, settings_with(0), days=2, as_of=_day(1))  # a new map takes the settings' cut
    assert context_pieces(load_map(ws.map_dir(W.read_state(ws)["map_id"]))) == 0
    assert contexts <= set(W.read_embeddings(ws, _model_key(ws))[0])
