"""Helpers of the nightly job (``jobs.score``): which inputs are new, checkpointed
embedding, the window's texts. Each is a function of its inputs; paths come from
``targeting.workspace``.

New partitions. The job is given the log folders (or files, globs) every night. A file is
new when the workspace's registry (``inputs/files.json``) has no entry with the same path,
size and modification time; new files are hashed (SHA-256) and recorded with the run that
ingested them. A file whose path names a day (``date=2026-11-03/``, ``2026-11-03.jsonl``...)
is taken only on nights on or after that day, so a backfill of a range takes each day's
partition on its own night. Rows already stored (same ``request_id``) are skipped as in
``targeting run``.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from targeting import schema as S
from targeting import workspace as W
from targeting.embed import Encoder, VectorStore, progress_bar
from targeting.hashing import file_sha256
from targeting.signals.elicitation import CotDetector, load_cot_exemplars, train_cot_detector
from targeting.signals.templates import N_PERM, SKETCH, TemplateParts, template_parts_key

log = logging.getLogger("targeting")

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def partition_day(path: Path) -> date | None:
    """The day a log file's path names (the last YYYY-MM-DD in it), or None."""
    found = _DAY.findall(str(path))
    if not found:
        return None
    try:
        return date(*(int(x) for x in found[-1]))
    except ValueError:
        return None


def new_input_files(
    files: Sequence[Path], registry: dict[str, dict[str, Any]], as_of: date | None
) -> tuple[list[Path], list[Path]]:
    """(new files to ingest, files left for a later night) among ``files``."""
    new, later = [], []
    for path in files:
        stat = path.stat()
        known = registry.get(str(path.resolve()))
        if known and known.get("size") == stat.st_size and known.get("mtime_ns") == stat.st_mtime_ns:
            continue
        day = partition_day(path)
        if as_of is not None and day is not None and day > as_of:
            later.append(path)
        else:
            new.append(path)
    return new, later


def registry_entries(files: Sequence[Path], run_id: str, rows: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for path in files:
        stat = path.stat()
        out.append({
            "path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "sha256": file_sha256(path), "rows": rows.get(str(path), 0), "run_id": run_id,
        })
    return out


def load_vectors(ws: W.Workspace, model_key: str, hashes: set[str], store: VectorStore | None = None) -> VectorStore:
    """``store`` (or a new one) with the cached vectors of ``hashes`` it lacks."""
    store = store if store is not None else VectorStore()
    missing = {h for h in hashes if h not in store}
    if missing:
        got, vectors = W.read_embeddings(ws, model_key, only=missing)
        if len(got):
            store.add(list(got), vectors)
    return store


def embed_checkpointed(
    ws: W.Workspace, run_id: str, encoder: Encoder, store: VectorStore, hashes: Sequence[str],
    texts: Sequence[str], every: int, progress: bool = True,
) -> int:
    """Embed the distinct texts whose hash ``store`` lacks, saving a checkpoint file to the
    embedding cache every ``every`` prompts (a killed run keeps them). Returns how many."""
    todo: dict[str, str] = {}
    for h, t in zip(hashes, texts):
        if h not in store and h not in todo:
            todo[h] = t
    order = list(todo)
    if not order:
        return 0
    # length-sorted across the whole night, so every chunk's batches waste no padding
    order.sort(key=lambda h: len(todo[h]))
    bar = progress_bar(len(order), "embedding", enabled=progress)
    folder = ws.embeddings_dir(encoder.model_key)
    for n, start in enumerate(range(0, len(order), every)):
        chunk = order[start : start + every]
        vectors = encoder.encode([todo[h] for h in chunk])
        W.write_cache_parquet(folder / f"part-{run_id}-{n:05d}.parquet", W.embeddings_table(np.array(chunk), vectors))
        store.add(chunk, vectors)
        bar(len(chunk))
    bar.close()
    return len(order)


def window_texts(ws: W.Workspace, start: str, end: str, hashes: set[str], fresh: dict[str, str]) -> dict[str, str]:
    """Prompt text of each hash in ``hashes``: from ``fresh`` (the night's prompts, hash ->
    text), the window's stored partitions or, for a prompt first stored outside the window
    (seen on a backfill), any partition."""
    texts = {h: fresh[h] for h in hashes if h in fresh}
    for files in (W.partition_files(ws, "requests", start, end), None):
        missing = hashes - texts.keys()
        if not missing:
            break
        stored = W.read_distinct(ws, S.PROMPT_HASH, [S.PROMPT], missing, files)
        texts.update(zip(stored[S.PROMPT_HASH], stored[S.PROMPT]))
    return texts


# --- per-prompt text features, cached by prompt hash -------------------------------------------------
COT, TEMPLATES = "cot", "templates"


class FeatureCache:
    """The features of a prompt that depend on its text alone, cached by prompt hash in the
    workspace (``features/NAME-KEY/part-RUN.parquet``) like the vectors, so each night computes
    them for its new prompts only: the chain-of-thought probability (``cot``, keyed by the
    detector's digest: other exemplars or another fit make another cache) and the template
    parts (``templates``: MinHash signature and wrapper keys, keyed by their parameters and
    seed). ``load`` reads the cached features of the scored prompts and says which prompts
    still need their text; ``jobs.stages.score_frame`` takes the cached rows (``lookup``) and
    hands back what it computed (``add``), which is written into the run's transaction: a
    killed run leaves nothing (the next one computes them again), a committed one leaves them
    to the following nights. Without ``tx`` the cache is read-only."""

    def __init__(self, ws: W.Workspace, seed: int, detector: CotDetector, tx: W.Transaction | None = None) -> None:
        self.ws, self.tx, self.seed = ws, tx, seed
        self.detector = detector
        self.keys = {COT: self.detector.key, TEMPLATES: template_parts_key(seed)}
        self._tables: dict[str, pa.Table] | None = None
        self.cached = 0  # prompts whose features were all cached
        self.computed = {COT: 0, TEMPLATES: 0}  # prompts whose features this run computed
        self._parts: dict[str, W.ParquetParts] = {}

    @classmethod
    def open(cls, ws: W.Workspace, seed: int, tx: W.Transaction | None = None,
             detector: CotDetector | None = None) -> "FeatureCache":
        """The cache of ``ws`` for the chain-of-thought detector trained on the shipped
        exemplars with ``seed`` (or ``detector``); ``tx`` makes it writable."""
        return cls(ws, seed, detector or train_cot_detector(*load_cot_exemplars(), seed=seed), tx)

    def load(self, hashes: set[str]) -> set[str]:
        """Read the cached features of ``hashes``; returns the hashes lacking any of them (the
        prompts whose text is still needed)."""
        self._tables = {}
        missing: set[str] = set()
        for name, key in self.keys.items():
            table = W.read_features(self.ws, name, key, hashes)
            self._tables[name] = table
            found = set(table.column("prompt_hash").to_pylist()) if table.num_rows else set()
            missing |= hashes - found
        return missing

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, TemplateParts]:
        """(cot found, chain-of-thought probability, templates found, template parts) of
        ``hashes`` in their order: values where not found are placeholders, to be computed.
        Frees what ``load`` read."""
        if self._tables is None:
            self.load(set(hashes))
        tables, self._tables = self._tables or {}, None
        n = len(hashes)
        cot = np.zeros(n)
        parts = TemplateParts.empty(n)
        found = {}
        for name in (COT, TEMPLATES):
            table = tables.pop(name)
            pos = (pd.Index(table.column("prompt_hash").to_numpy(zero_copy_only=False)).get_indexer(hashes)
                   if table.num_rows else np.full(n, -1))
            hit = found[name] = pos >= 0
            rows = pos[hit]
            if not hit.any():
                continue
            if name == COT:
                cot[hit] = table.column("cot").to_numpy()[rows]
            else:
                sigs = table.column("sig").combine_chunks().flatten().to_numpy().reshape(-1, N_PERM)
                parts.sigs[hit] = sigs[rows]
                parts.eligible[hit] = table.column("eligible").to_numpy(zero_copy_only=False)[rows]
                parts.affixes[hit, 0] = table.column("head").to_numpy()[rows]
                parts.affixes[hit, 1] = table.column("tail").to_numpy()[rows]
                parts.sketch[hit] = table.column("sketch").combine_chunks().flatten().to_numpy().reshape(-1, SKETCH)[rows]
                del sigs
            del table
        self.cached = int((found[COT] & found[TEMPLATES]).sum())
        return found[COT], cot, found[TEMPLATES], parts

    def add(self, name: str, hashes: np.ndarray, values: np.ndarray | TemplateParts) -> None:
        """Features computed by this run (``cot`` probabilities or ``templates`` parts, a row per
        hash): written into its transaction, one file per feature, a row group per call
        (``flush`` closes them); dropped without a transaction."""
        self.computed[name] += len(hashes)
        if self.tx is None or len(hashes) == 0:
            return
        ids = pa.array(np.asarray(hashes, dtype=object), type=pa.string())
        if name == COT:
            table = pa.table({"prompt_hash": ids, "cot": pa.array(np.asarray(values, dtype=np.float64))})
        else:
            sigs = pa.array(np.ascontiguousarray(values.sigs, dtype=np.uint64).reshape(-1), type=pa.uint64())
            table = pa.table({
                "prompt_hash": ids,
                "sig": pa.FixedSizeListArray.from_arrays(sigs, N_PERM),
                "eligible": pa.array(values.eligible),
                "head": pa.array(np.ascontiguousarray(values.affixes[:, 0])),
                "tail": pa.array(np.ascontiguousarray(values.affixes[:, 1])),
                "sketch": pa.FixedSizeListArray.from_arrays(
                    pa.array(np.ascontiguousarray(values.sketch, dtype=np.uint64).reshape(-1), type=pa.uint64()), SKETCH),
            })
        if name not in self._parts:
            path = self.ws.features_dir(name, self.keys[name]) / f"part-{self.tx.run_id}.parquet"
            self._parts[name] = W.ParquetParts(self.tx.path(path))
        self._parts[name].write(table)

    def flush(self) -> None:
        """Close the files ``add`` wrote (one per feature per run), staged for the commit."""
        for parts in self._parts.values():
            parts.close()
        self._parts = {}
