"""The three jobs, each a short composition of the shared stages (``targeting.jobs.stages``).

``run`` takes new logs all the way to account scores; ``score`` is the nightly job (new
partitions in, a window of accounts scored); ``fit`` refreshes the capability map. Each
commits through one workspace transaction, so a job killed at any stage leaves the workspace
as it was (apart from the content-addressed embedding cache, which the next run reuses).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Sequence

from targeting import workspace as W
from targeting.config import Settings
from targeting.embed import Encoder, load_encoder
from targeting.engines import LocalEngine, open_engine
from targeting.errors import BadInputError
from targeting.ingest import expand_inputs
from targeting.jobs import stages as st
from targeting.jobs.manifest import RunResult, Timer


def run(inputs: Sequence[str | Path], workspace: str | Path, settings: Settings, *, refit: bool = False,
        encoder: Encoder | None = None) -> RunResult:
    """Ingest logs, embed, fit the map if there is none (or ``refit``), assign, index and score everything."""
    files = expand_inputs(inputs)
    ws = W.open_workspace(workspace, create=True)
    result = RunResult(run_id=W.new_run_id("run"))
    stage, engine = Timer(result), LocalEngine(settings)
    with W.locked(ws), W.transaction(ws, result.run_id) as tx:
        with stage("ingest"):
            got = st.ingest_new(tx, files, settings, result)
        with stage("load model"):
            encoder = encoder or load_encoder(settings.embed)
        cmap = None if refit else st.current_map(ws, encoder)
        with stage("embed"):
            store, hashes, texts = st.embed_everything(engine, tx, encoder, got, refit=cmap is None, result=result,
                                                       pieces=st.context_pieces_for(cmap, settings))
        if cmap is None:
            with stage("fit map"):
                cmap = st.fit_and_save_map(tx, result, encoder, store, hashes, [texts[h] for h in hashes], settings)
        result.map_id = cmap.map_id
        with stage("assign"):
            st.assign_everything(engine, tx, cmap, encoder, store, got, refit=result.map_fitted)
        with stage("index"):
            st.rebuild_index(tx, cmap.map_id, store, hashes, encoder.dim, settings)
        with stage("score"):
            assigned = st.window_assignments(ws, got, None, None, stored=not result.map_fitted)
            day = st.last_day(assigned)
            st.score_window(tx, result, assigned, got, cmap, store, settings, day=day, start=None,
                            path=ws.scores_path(day), latest=True)
        return st.commit(tx, result, settings, encoder, got.files, "run")


def score(workspace: str | Path, settings: Settings, *, inputs: Sequence[str | Path] = (), as_of: date | None = None,
          window_days: int | None = None, encoder: Encoder | None = None) -> RunResult:
    """The nightly job: ingest the input files not ingested yet (dated up to ``as_of``), embed
    and assign their new requests on the configured engine (``targeting.engines``), measure
    drift, score the accounts active in the ``window_days`` ending at ``as_of``. Without inputs
    it re-scores what is stored; re-running a night replaces that night's results."""
    window_days = window_days or settings.nightly.window_days
    primary = window_days == settings.nightly.window_days  # another window is a view beside the history
    ws = W.open_workspace(workspace, create=bool(inputs))
    result = RunResult(run_id=W.new_run_id("score"))
    stage = Timer(result)
    with W.locked(ws), open_engine(settings) as engine, W.transaction(ws, result.run_id) as tx:
        with stage("ingest"):
            files, later = st.new_input_files(ws, inputs, as_of)
            got = st.ingest_new(tx, files, settings, result)
            inputs_info = st.register_inputs(tx, files, got)
        cmap, store, drift, new = st.current_map(ws), None, None, not got.requests.empty
        if cmap is None and not new:
            raise BadInputError(f"workspace {ws.root} has no capability map and no new input: "
                                "give log files, or run `targeting run` first")
        if new:
            with stage("load model"):
                encoder = st.checked_encoder(cmap, encoder, settings)
            with stage("embed"):
                store = st.embed_new(engine, tx, encoder, got, result, st.context_pieces_for(cmap, settings))
            if cmap is None:
                with stage("fit map"):
                    cmap = st.fit_and_save_map(tx, result, encoder, store, *st.night_prompts(got), settings)
            with stage("assign"):
                st.assign_night(engine, tx, cmap, encoder, store, got)
            with stage("drift"):
                drift = st.night_drift(got, cmap, settings)
        result.map_id = cmap.map_id
        with stage("score"):
            day = st.window_end(ws, as_of, "scored requests", got.requests)
            start = day - timedelta(days=window_days - 1)
            st.score_window(tx, result, st.window_assignments(ws, got, start, day), got, cmap, store, settings,
                            day=str(day), start=str(start), window_days=window_days,
                            path=ws.scores_path(str(day), None if primary else window_days), record_shifts=primary,
                            latest=primary and str(day) >= W.latest_scores_day(ws))  # a backfill leaves it
        if settings.nightly.update_index and new:
            with stage("index"):
                st.extend_index(tx, cmap.map_id, store, list(got.prompts), encoder.dim, settings)
        result.drift = drift.to_dict() if drift is not None else None
        night = st.night_summary(result, got, cmap, start=start, window_days=window_days, files=files, later=later)
        if primary or new:
            st.write_night(tx, night, got.activity)
        return st.commit(tx, result, settings, encoder, inputs_info, "score", window_days=window_days, night=night)


def fit(workspace: str | Path, settings: Settings, *, days: int | None = None, as_of: date | None = None,
        if_drift: bool = False, encoder: Encoder | None = None) -> RunResult:
    """Refresh the capability map on a sample of the last ``days`` of prompts; clusters that
    match the previous map's keep their ids (``capmap.match``); every stored request is
    assigned to the new map. With ``if_drift``, only when the latest night reported drift."""
    days = days or settings.nightly.refit_days
    ws = W.open_workspace(workspace)
    result = RunResult(run_id=W.new_run_id("fit"))
    stage, engine = Timer(result), LocalEngine(settings)
    with W.locked(ws):
        old = st.current_map(ws)
        if old is None:
            raise BadInputError(f"workspace {ws.root} has no capability map yet: run `targeting run` first")
        result.map_id = old.map_id
        if if_drift and st.skip_without_drift(ws, result):
            return result
        with W.transaction(ws, result.run_id) as tx:
            with stage("load model"):
                encoder = encoder or load_encoder(settings.embed)
            with stage("sample"):
                day = st.window_end(ws, as_of, "requests")
                hashes, texts = st.sample_prompts(ws, day - timedelta(days=days - 1), day, settings)
                store = st.embed_prompts(engine, tx, encoder, hashes, texts)
            with stage("fit map"):
                cmap = st.fit_and_save_map(tx, result, encoder, store, hashes, texts, settings, previous=old)
            with stage("assign"):
                st.reassign_all(engine, tx, result, cmap, encoder)
            with stage("index"):
                st.carry_index(tx, old, cmap, encoder)  # same vectors, same index: it moves with the map
            return st.commit(tx, result, settings, encoder, [], "fit", days=days, previous_map_id=old.map_id,
                             matched_from=cmap.meta.get("matched_from"), clusters_kept=result.clusters_kept)
