"""The entry point: each file streamed by its format's reader into normalised batches."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from targeting import schema as sc
from targeting.errors import InputError
from targeting.ingest.base import IngestBatch, IngestConfig
from targeting.ingest.csv_reader import iter_csv
from targeting.ingest.files import SUPPORTED_TEXT, format_of
from targeting.ingest.jsonl import iter_jsonl
from targeting.ingest.parquet import iter_parquet
from targeting.ingest.rows import Chunk, arrow_chunk, empty_good, normalise, quarantine_table
from targeting.ingest.values import raw_json


_READERS: dict[str, Callable[[Path, IngestConfig], Iterator[Chunk | list[Chunk]]]] = {
    "parquet": iter_parquet,
    "jsonl": iter_jsonl,
    "csv": iter_csv,
}


REQUIRED_COLUMNS = (sc.ACCOUNT_ID, sc.TIMESTAMP, sc.PROMPT)


def _require_columns(path: Path, first: Chunk | list[Chunk]) -> None:
    """Raise :class:`InputError` (``FILE: column `prompt` is missing``) when the file's
    columns (a Parquet schema, a CSV header: those of its first block of rows) lack a
    required one; without this every row would be quarantined and the run would fail as
    "N of N rows are malformed". JSON Lines have no header: a record without a key is a bad
    row (``missing prompt``), never a missing column."""
    parts = [c for c in (first if isinstance(first, list) else [first]) if c.n]
    for name in REQUIRED_COLUMNS:
        if parts and all(c.cols.get(name) is None for c in parts):
            raise InputError(f"{path}: column `{name}` is missing")


def iter_batches(
    files: Sequence[Path], config: IngestConfig | None = None
) -> Iterator[IngestBatch]:
    """Stream each file in batches of at most ``config.batch_rows`` rows read.

    Parquet is read with ``ParquetFile.iter_batches``; CSV with ``pyarrow.csv.open_csv``
    (streaming, every column as text, invalid UTF-8 replaced, malformed records and records
    longer than ``config.max_line_bytes`` quarantined, the long ones without being held);
    JSON Lines (plain or gzip) line by line, a line longer than ``config.max_line_bytes``
    quarantined without being held. Every file yields at least one batch (an empty one for a
    file without rows). Raises :class:`InputError` for a missing, unsupported or unreadable
    (corrupt, truncated) file; malformed rows never raise.
    """
    cfg = config if config is not None else IngestConfig()
    for f in files:
        path = Path(f)
        fmt = format_of(path)
        if fmt is None:
            raise InputError(f"{path}: unsupported file type (expected {SUPPORTED_TEXT})")
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        yielded = False
        for chunk in _READERS[fmt](path, cfg):
            if not yielded:
                _require_columns(path, chunk)
            yielded = True
            if isinstance(chunk, list):  # parts of one block: one batch
                parts = [normalise(c, path, cfg) for c in chunk]
                yield IngestBatch(
                    pa.concat_tables([b.good for b in parts]),
                    pa.concat_tables([b.quarantine for b in parts]).sort_by("row"),
                    path,
                    sum(b.rows_read for b in parts),
                    np.concatenate([b.good_rows for b in parts]),
                )
            else:
                yield normalise(chunk, path, cfg)
        if not yielded:
            yield IngestBatch(empty_good(), quarantine_table(path, []), path, 0)


def normalise_table(table: pa.Table, source: Path, config: IngestConfig | None = None) -> IngestBatch:
    """Rows already in memory (an Arrow table with the contract's columns), checked and
    normalised as a Parquet file's rows are (``iter_batches``): one batch, ``source`` naming
    where they came from in quarantine rows."""
    cfg = config if config is not None else IngestConfig()
    parts, start = [], 0
    for batch in table.to_batches(max_chunksize=cfg.batch_rows):
        rows = np.arange(start + 1, start + batch.num_rows + 1, dtype=np.int64)
        start += batch.num_rows
        parts.append(normalise(arrow_chunk(batch, rows, empty_is_null=False, pre=[]), source, cfg))
    if not parts:
        return IngestBatch(empty_good(), quarantine_table(source, []), source, 0)
    return IngestBatch(pa.concat_tables([b.good for b in parts]), pa.concat_tables([b.quarantine for b in parts]),
                       source, start, np.concatenate([b.good_rows for b in parts]))


def quarantine_good_rows(batch: IngestBatch, idx: np.ndarray, field_name: str, reason: str) -> pa.Table:
    """Quarantine rows (``schema.QUARANTINE_SCHEMA``) for the good rows ``idx`` of ``batch``,
    rejected after ingest (a request id already seen with another account or prompt): the
    file, the row's number in it, ``field_name``, ``reason`` and the row's contract fields as
    compact JSON, long text cut as for every quarantined row."""
    idx = np.asarray(idx, dtype=np.int64)
    names = [n for n in sc.CONTRACT_COLUMNS if n in batch.good.schema.names]
    records = batch.good.select(names).take(pa.array(idx, pa.int64())).to_pylist()
    entries = [(int(batch.good_rows[i]), field_name, reason, raw_json(rec))
               for i, rec in zip(idx.tolist(), records)]
    return quarantine_table(batch.source, entries)
