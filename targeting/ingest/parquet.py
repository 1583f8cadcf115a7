"""The Parquet reader: record batches streamed from the file."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from targeting.errors import InputError
from targeting.ingest.base import IngestConfig, one_line
from targeting.ingest.rows import Chunk, arrow_chunk


def iter_parquet(path: Path, cfg: IngestConfig) -> Iterator[Chunk]:
    try:
        pf = pq.ParquetFile(path)
        batches = pf.iter_batches(batch_size=cfg.batch_rows)
    except (pa.ArrowException, OSError, ValueError) as exc:  # a damaged footer: even UnicodeDecodeError
        raise InputError(f"{path}: not a readable Parquet file ({one_line(exc)})") from exc
    start = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(
                f"{path}: unreadable Parquet after row {start} ({one_line(exc)})"
            ) from exc
        rows = np.arange(start + 1, start + batch.num_rows + 1, dtype=np.int64)
        start += batch.num_rows
        yield arrow_chunk(batch, rows, empty_is_null=False, pre=[])
