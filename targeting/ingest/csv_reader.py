"""The CSV reader (plain or gzip): streamed by ``pyarrow.csv``, every column as text, invalid
UTF-8 replaced, malformed and over-long records quarantined."""

from __future__ import annotations

import codecs
import csv
import gzip
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from targeting.csvcap import RecordCap
from targeting.errors import InputError
from targeting.ingest.base import IngestConfig, CSV_BLOCK, CSV_MAX_BLOCK, READ_ERRORS, one_line
from targeting.ingest.rows import Chunk, arrow_chunk
from targeting.ingest.values import raw_json


class _Utf8Repair:
    """Stream transform: bytes -> the same bytes with invalid UTF-8 replaced by U+FFFD."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def __call__(self, buf: bytes) -> bytes:
        return self._decoder.decode(buf, len(buf) == 0).encode("utf-8")


def _capped_lines(fh: Any, path: Path, cap: int) -> Iterator[str]:
    """The lines of a text file, none read longer than ``cap`` characters: a longer one is an
    :class:`InputError` (only the header is read this way)."""
    while True:
        line = fh.readline(cap + 1)
        if not line:
            return
        if len(line) > cap:
            raise InputError(f"{path}: CSV header longer than {cap} bytes")
        yield line


def _csv_header(path: Path, cap: int) -> list[str] | None:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            return next(csv.reader(_capped_lines(fh, path, cap)))
    except StopIteration:
        return None
    except csv.Error:
        return []  # let Arrow read the header itself
    except READ_ERRORS as exc:
        raise InputError(f"{path}: unreadable ({one_line(exc)})") from exc


class _CsvRetry(Exception):
    pass


@dataclass
class _CsvProgress:
    good_max: int = 0  # highest data-row number of a parsed record already yielded
    bad_done: set[int] = field(default_factory=set)  # malformed records already yielded


def iter_csv(path: Path, cfg: IngestConfig) -> Iterator[Chunk]:
    header = _csv_header(path, int(cfg.max_line_bytes))
    if header is None:
        return
    progress = _CsvProgress()
    block = CSV_BLOCK
    while True:
        try:
            yield from _csv_pass(path, cfg, header, block, progress)
            return
        except _CsvRetry:
            block *= 4  # a record larger than a block: read again, skipping rows yielded


def _open_csv(path: Path, header: list[str], block: int, capper: RecordCap,
              on_invalid: Callable[[Any], str]) -> pacsv.CSVStreamingReader:
    """Arrow's streaming CSV reader over the file's bytes, records longer than the cap
    replaced by markers (``csvcap.RecordCap``), invalid UTF-8 replaced, every column text."""
    capped = pa.TransformInputStream(pa.input_stream(str(path)), capper)
    return pacsv.open_csv(
        pa.TransformInputStream(capped, _Utf8Repair()),
        read_options=pacsv.ReadOptions(use_threads=False, block_size=block),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
        ),
    )


def _csv_bad_record(row: Any, capper: RecordCap) -> tuple[str, str]:
    """(reason, raw) of a record Arrow could not use: one too long (a ``RecordCap`` marker:
    its length and start) or one with the wrong number of fields."""
    text = row.text or ""
    long = capper.too_long(text)
    if long is not None:
        return (f"record longer than {capper.cap} bytes",
                raw_json(long.head.decode("utf-8", "replace")))
    return (f"malformed CSV record (expected {row.expected_columns} fields, got {row.actual_columns})",
            raw_json(text))


def _csv_pass(path: Path, cfg: IngestConfig, header: list[str], block: int,
              progress: _CsvProgress) -> Iterator[Chunk]:
    events: list[tuple[int | None, str, str]] = []  # (record number, reason, raw)

    def on_invalid(row: Any) -> str:
        events.append((row.number, *_csv_bad_record(row, capper)))
        return "skip"

    def arrow_call(fn: Callable[[], Any], where: str) -> Any:
        try:
            return fn()
        except StopIteration:
            raise
        except (pa.ArrowException, *READ_ERRORS) as exc:
            if "straddl" in str(exc) and block < CSV_MAX_BLOCK:
                raise _CsvRetry() from exc
            raise InputError(f"{path}: unreadable CSV {where} ({one_line(exc)})") from exc

    capper = RecordCap(int(cfg.max_line_bytes))
    reader = arrow_call(lambda: _open_csv(path, header, block, capper, on_invalid), "at the header")
    next_row = 1  # next candidate data-row number for a parsed record
    pending_invalid: set[int] = set()  # malformed record numbers >= next_row
    pending: list[tuple[int, str, str, str]] = []  # malformed records not yet yielded
    pending_rows: set[int] = set()
    cap = cfg.batch_rows

    def drain_events() -> None:
        for number, why, raw in events:
            row = (number - 1) if number is not None else next_row  # header is record 1
            if number is not None:
                pending_invalid.add(row)
            if row in progress.bad_done or row in pending_rows:
                continue
            pending_rows.add(row)
            pending.append((row, "_row", why, raw))
        events.clear()

    while True:
        try:
            batch = arrow_call(reader.read_next_batch, f"after row {next_row - 1}")
        except StopIteration:
            batch = None
        drain_events()
        if batch is None:
            break
        m = batch.num_rows
        if m == 0:
            continue
        known = np.fromiter(pending_invalid, dtype=np.int64, count=len(pending_invalid))
        cand = np.arange(next_row, next_row + m + len(known), dtype=np.int64)
        rows = cand[~np.isin(cand, known)][:m]
        next_row = int(rows[-1]) + 1
        pending_invalid = {r for r in pending_invalid if r >= next_row}
        keep = rows > progress.good_max
        if not keep.all():  # a retry re-reads rows already yielded
            batch = batch.filter(pa.array(keep))
            rows = rows[keep]
        start = 0
        while start < len(rows) or len(pending) >= cap:
            n_bad = min(len(pending), cap)
            n_good = min(len(rows) - start, cap - n_bad)
            piece = batch.slice(start, n_good)
            piece_rows = rows[start:start + n_good]
            pre, pending[:] = pending[:n_bad], pending[n_bad:]
            start += n_good
            chunk = arrow_chunk(piece, piece_rows, empty_is_null=True, pre=pre)
            if n_good:
                progress.good_max = max(progress.good_max, int(piece_rows[-1]))
            progress.bad_done.update(e[0] for e in pre)
            yield chunk
    while pending:
        pre, pending[:] = pending[:cap], pending[cap:]
        empty = pa.RecordBatch.from_pylist([], schema=reader.schema)
        progress.bad_done.update(e[0] for e in pre)
        yield arrow_chunk(empty, np.zeros(0, np.int64), empty_is_null=True, pre=pre)
