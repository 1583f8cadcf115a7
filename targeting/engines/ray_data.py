"""The Ray engine: the nightly job's embed and assign stages on Ray Data (``[scaleout] engine = "ray"``).

Install with ``pip install 'targeting[ray]'``; Ray is imported only when this engine runs.
The rest of the job (ingest, fitting a first map, drift, scoring, the index) runs on the
driver exactly as with the local engine, and both engines store the same things:

* **embed**: the night's distinct prompts and contexts with no cached vector (the driver
  knows them from ingest: it reads the cache once, as the local engine does) become a
  dataset of (hash, text) blocks, length-sorted as the local engine sorts them, and
  ``map_batches`` runs ``Embedder`` actors over it: each loads the encoder once and writes
  each batch's vectors straight to the content-addressed embedding cache (a checkpoint per
  batch, like the local engine's ``embed_checkpoint``). Each distinct text is embedded
  once in the night. With ``gpus_per_actor`` the actors take a GPU each.
* **assign**: the request partitions ingest staged are read as a Ray dataset (a dataset of
  the staged files' paths, each file read by a worker into one block: never a driver object
  per row, and never a path handed to Ray's path resolution, which reads ``?`` in a
  workspace path as a URL query and finds no file) and ``Assigner`` actors, each
  holding the capability map, load their batch's vectors from the cache, assign the batch
  through ``capmap.assign.assign_requests`` (the one assignment path), stage its rows in the
  run's ``assignments/date=DAY/`` partitions and return the batch's partial per-account
  aggregates (``targeting.activity``). The driver merges those by sum, min and max (no
  shuffle of rows) into the night's activity, then reads the staged assignments back for
  drift and scoring, in ingest order, and checks that every request was assigned once.

Workers read and write the workspace themselves, so on a cluster the workspace (and the
model folder) must be on storage every node mounts at the same path.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from targeting import activity
from targeting import nightly
from targeting import schema as S
from targeting import workspace as W
from targeting.capmap import CapabilityMap
from targeting.capmap.assign import assign_requests, context_key, context_pieces
from targeting.config import ScaleoutConfig, Settings
from targeting.embed import Encoder, VectorStore, load_encoder, text_hash
from targeting.errors import BadInputError, ScaleoutError

log = logging.getLogger("targeting")

INSTALL_HINT = "pip install 'targeting[ray]' (./scripts/setup-venv installs it)"
ASSIGN_COLUMNS = [S.REQUEST_ID, S.ACCOUNT_ID, S.TIMESTAMP, S.PROMPT_HASH, S.CONTEXT_HASH, S.TOOLS, S.DATE]


def import_ray():
    """``ray`` with Ray Data, or a clear error naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401 - the extra's Data library, not only Ray core
    except ImportError as exc:
        raise BadInputError(f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}") from exc
    return ray


def _batch_name(ids: Sequence[str]) -> str:
    """A file-name part derived from a batch's content: a retried batch rewrites its own file."""
    return text_hash("\x1f".join(ids))[:16]


# --- the actors (constructed by Ray Data, once per actor) ------------------------------------------------
class Embedder:
    """Embeds batches of distinct (hash, text) rows into the embedding cache."""

    def __init__(self, *, settings: Settings, root: str, run_id: str, gpu: bool) -> None:
        # one CPU per actor (Ray's accounting): one thread, not one per core of the node
        config = dataclasses.replace(settings.embed, progress=False, threads=1, device="cuda" if gpu else "cpu")
        if gpu:
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError("[scaleout] gpus_per_actor > 0 but this Ray worker sees no CUDA device")
        self.encoder = load_encoder(config)
        self.folder = W.Workspace(Path(root)).embeddings_dir(self.encoder.model_key)
        self.run_id = run_id

    def __call__(self, batch: pa.Table) -> pa.Table:
        hashes = batch.column("hash").to_pylist()
        vectors = self.encoder.encode(batch.column("text").to_pylist())
        path = self.folder / f"part-{self.run_id}-r{_batch_name(hashes)}.parquet"
        W.write_cache_parquet(path, W.embeddings_table(np.array(hashes, dtype=object), vectors))
        return pa.table({"embedded": pa.array([len(hashes)], type=pa.int64())})


class Assigner:
    """Assigns batches of requests to the map, stages them, returns their partial activity."""

    def __init__(self, *, cmap: CapabilityMap, settings: Settings, root: str, run_id: str, model_key: str) -> None:
        self.cmap, self.settings, self.run_id, self.model_key = cmap, settings, run_id, model_key
        self.ws = W.Workspace(Path(root))
        self.tx = W.Transaction(self.ws, run_id)  # only to place files in the run's staging folder
        self.dim = int(cmap.anchors.shape[1])

    def __call__(self, batch: pa.Table) -> pa.Table:
        requests = batch.to_pandas()
        pieces = context_pieces(self.cmap)
        hashes = set(requests[S.PROMPT_HASH]) | {context_key(h, pieces) for h in requests[S.CONTEXT_HASH].dropna()}
        store = nightly.load_vectors(self.ws, self.model_key, hashes)
        assigned = assign_requests(self.cmap, requests, store, self.dim, self.settings.map)
        part = f"{self.run_id}-r{_batch_name(requests[S.REQUEST_ID].tolist())}"
        W.stage_partitioned(self.tx, assigned, S.ASSIGNMENT_SCHEMA, "assignments", part=part)
        return activity.partial_to_arrow(activity.partial_activity(assigned))


def read_staged_requests(batch: pa.Table) -> pa.Table:
    """The assign stage's columns of the staged request files named in ``batch`` (column
    ``path``), read by the worker itself: the exact file, whatever characters its path holds
    (``[1]``, ``*``, ``?``: nothing is globbed or parsed as a URL)."""
    tables = [pq.read_table(path, columns=ASSIGN_COLUMNS) for path in batch.column("path").to_pylist()]
    if not tables:
        return pa.schema([S.REQUEST_SCHEMA.field(c) for c in ASSIGN_COLUMNS]).empty_table()
    return pa.concat_tables(tables)


# --- the driver's side ----------------------------------------------------------------------------------
class RayEngine:
    """The ``Engine`` on Ray Data, one job's Ray session: connects (or starts a local Ray) on first use, so a night
    without new requests never starts Ray; ``close`` stops only what it started."""

    def __init__(self, settings: Settings) -> None:
        import_ray()  # fail before ingest when the extra is missing; connect only when needed
        model = Path(settings.embed.model).expanduser()
        if model.is_dir():  # workers may run elsewhere: the same folder by absolute path (shared storage)
            settings = dataclasses.replace(settings, embed=dataclasses.replace(settings.embed, model=str(model.resolve())))
        self.settings = settings
        self.config: ScaleoutConfig = settings.scaleout
        self._ray: Any = None
        self._started = False

    # connection ------------------------------------------------------------------------------------
    def _connect(self):
        if self._ray is not None:
            return self._ray
        ray = import_ray()
        if not ray.is_initialized():
            if self.config.address:
                log.info("scale-out: connecting to the Ray cluster at %s", self.config.address)
                ray.init(address=self.config.address, logging_level=logging.WARNING)
            else:
                log.info("scale-out: starting a local Ray")
                ray.init(
                    address="local", include_dashboard=False, logging_level=logging.WARNING,
                    num_cpus=self.config.local_cpus or None,
                    object_store_memory=(self.config.local_object_store_mb << 20) or None,
                )
            self._started = True
        ray.data.DataContext.get_current().enable_progress_bars = bool(self.settings.embed.progress)
        self._ray = ray
        return ray

    def close(self) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False

    def _pool(self, gpus: float = 0.0):
        """The actor pool: ``[scaleout] actors``, or one less than the cluster's CPUs; with
        GPUs, no more actors than GPUs allow."""
        ray = self._ray
        resources = ray.cluster_resources()
        size = self.config.actors or max(1, int(resources.get("CPU", 1)) - 1)
        if gpus > 0:
            available = int(resources.get("GPU", 0) // gpus)
            if available < 1:
                raise BadInputError(f"[scaleout] gpus_per_actor = {gpus} but the Ray cluster has "
                                    f"{resources.get('GPU', 0):g} GPUs")
            size = min(size, available)
        return ray.data.ActorPoolStrategy(size=size)

    # stages ----------------------------------------------------------------------------------------
    def embed(self, ws: W.Workspace, run_id: str, encoder: Encoder, store: VectorStore, hashes: Sequence[str],
              texts: Sequence[str]) -> int:
        """Embed the distinct texts whose hash ``store`` lacks into the embedding cache, then add
        their vectors to ``store`` from there (as ``nightly.embed_checkpointed`` does in this
        process). Returns how many."""
        model_key = encoder.model_key
        todo: dict[str, str] = {}
        for h, t in zip(hashes, texts):
            if h not in store:
                todo.setdefault(h, t)
        if not todo:
            return 0
        ray = self._connect()
        order = sorted(todo, key=lambda h: len(todo[h]))  # length-sorted across the night, as locally
        table = pa.table({"hash": pa.array(order, type=pa.string()),
                          "text": pa.array([todo[h] for h in order], type=pa.string())})
        rows = max(1, self.config.batch_rows)
        data = ray.data.from_arrow([table.slice(s, rows) for s in range(0, table.num_rows, rows)])
        gpus = float(self.config.gpus_per_actor)
        done = data.map_batches(
            Embedder, batch_size=rows, batch_format="pyarrow", compute=self._pool(gpus),
            fn_constructor_kwargs={"settings": self.settings, "root": str(ws.root), "run_id": run_id,
                                   "gpu": gpus > 0},
            num_cpus=1, num_gpus=gpus or None,
        )
        embedded = sum(sum(b.column("embedded").to_pylist())
                       for b in done.iter_batches(batch_format="pyarrow", batch_size=None))
        nightly.load_vectors(ws, model_key, set(order), store)
        missing = sum(h not in store for h in order)
        if embedded != len(order) or missing:
            raise ScaleoutError(f"scale-out embedded {embedded:,} of {len(order):,} texts; {missing:,} are not "
                                f"in the cache of model {model_key} (do the workers load the same model?)")
        return embedded

    def assign(self, tx: W.Transaction, cmap: CapabilityMap, encoder: Encoder, store: VectorStore,
               requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Assign the requests this run staged (the workers read their vectors from the cache,
        not ``store``); returns (the night's assignments in the order of ``requests``, the
        merged partial activity)."""
        model_key, request_ids = encoder.model_key, requests[S.REQUEST_ID].to_numpy()
        ray = self._connect()
        files = [str(f) for f in tx.staged_files("requests")]
        rows = max(1, self.config.batch_rows)
        data = ray.data.from_items([{"path": f} for f in files]).map_batches(
            read_staged_requests, batch_size=1, batch_format="pyarrow", num_cpus=1)
        partials = data.map_batches(
            Assigner, batch_size=rows, batch_format="pyarrow", compute=self._pool(),
            fn_constructor_kwargs={"cmap": cmap, "settings": self.settings, "root": str(tx.ws.root),
                                   "run_id": tx.run_id, "model_key": model_key},
            num_cpus=1,
        )
        merged = activity.merge_activity([])
        for block in partials.iter_batches(batch_format="pandas", batch_size=None):
            merged = activity.merge_activity([merged, block])
        assigned = _read_staged(tx.staged_files("assignments"))
        counted = int(merged[activity.REQUESTS].sum())
        ids = pd.Index(assigned[S.REQUEST_ID])
        position = ids.get_indexer(request_ids) if ids.is_unique else np.full(len(request_ids), -1)
        if len(assigned) != len(request_ids) or (position < 0).any() or counted != len(request_ids):
            raise ScaleoutError(f"scale-out assigned {len(assigned):,} rows (activity counts {counted:,}) "
                                f"for {len(request_ids):,} new requests")
        return assigned.iloc[position].reset_index(drop=True), merged


def _read_staged(files: Sequence[Path]) -> pd.DataFrame:
    if not files:
        return S.ASSIGNMENT_SCHEMA.empty_table().to_pandas()
    return pa.concat_tables([pq.read_table(f) for f in files]).to_pandas()
