"""The JSON Lines reader (plain or gzip): Arrow's reader on blocks of lines, the Python path
for what it rejects, lines over the size cap quarantined unread."""

from __future__ import annotations

import codecs
import gzip
import json
import math
import re
from itertools import repeat
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from targeting import schema as sc
from targeting.errors import InputError
from targeting.ingest.base import IngestConfig, CONTRACT, RAW_TEXT_CHARS, READ_ERRORS, one_line
from targeting.ingest.rows import Chunk, Field, arrow_chunk
from targeting.ingest.values import canon_json, np_bool, raw_json, safe_text, str_array


_JSON_SPACE = " \t\n\r"
_JSON_SPACE_BYTES = _JSON_SPACE.encode()
_WS = frozenset(b" \t\r\n\x0b\x0c")
_NEWLINE = ord("\n")
_LONG_LINE_HEAD = 4 * RAW_TEXT_CHARS  # bytes of a line too long kept for its quarantine row
_LONG_LINE_CHUNK = 1 << 20  # bytes of a line too long read (and dropped) at a time


def _finite_number_text(v: int | float) -> str | None:
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        if v.is_integer() and abs(v) < 2.0**62:
            return str(int(v))
        return repr(v)
    return str(v)


def _py_field(values: list, kind: str) -> Field:
    """Python values of one contract column -> Field.

    kind: "id" (text; numbers -> text; other types bad), "time" (text or numbers; other types
    bad), "prompt" (text only), "opt" (text; anything else -> text / compact JSON).
    """
    try:
        return Field(pa.array(values, type=pa.string()))
    except (pa.ArrowException, UnicodeEncodeError):
        pass
    out: list[str | None] = []
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        tv = type(v)
        if tv is str:
            out.append(safe_text(v))
        elif v is None:
            out.append(None)
        elif kind == "opt":
            if tv is bool:
                out.append("true" if v else "false")
            elif tv is int or tv is float:
                out.append(_finite_number_text(v))
            else:
                out.append(canon_json(v))
        elif (tv is int or tv is float) and kind != "prompt":
            text = _finite_number_text(v)
            out.append(text)
            if text is None:
                bad[i] = True
        else:
            out.append(None)
            bad[i] = True
    return Field(str_array(out), bad=bad)


_KINDS = {
    sc.ACCOUNT_ID: "id",
    sc.TIMESTAMP: "time",
    sc.PROMPT: "prompt",
    sc.ACCOUNT_CREATED_AT: "time",
}


def _jsonl_chunk(linenos: np.ndarray, lines: list[bytes]) -> Chunk:
    records: list[dict] = []
    rows: list[int] = []
    pre: list[tuple[int, str, str, str]] = []
    # json.loads without its per-call overhead; strict=False accepts raw control characters
    # inside strings (they are removed from the prompt later)
    scan = json.JSONDecoder(strict=False).scan_once
    for lineno, raw_line in zip(linenos.tolist(), lines):
        text = raw_line.decode("utf-8", "replace").strip(_JSON_SPACE)
        why = "invalid JSON"
        try:
            obj, end = scan(text, 0)
        except (StopIteration, ValueError):
            obj, end = None, -1
        except RecursionError:  # Python's parser recurses once per level
            obj, end, why = None, -1, "invalid JSON (nested too deep to parse)"
        if end != len(text) or type(obj) is not dict:
            pre.append((lineno, "_row", why, raw_json(text)))
            continue
        records.append(obj)
        rows.append(lineno)

    cols: dict[str, Field] = {}
    for name in sc.CONTRACT_COLUMNS:
        values = list(map(dict.get, records, repeat(name)))
        f = _py_field(values, _KINDS.get(name, "opt"))
        if name == sc.PROMPT and f.values.null_count:
            f.absent = np.fromiter((name not in r for r in records), dtype=bool,
                                   count=len(records))
        cols[name] = f

    meta: list[str | None] = []
    any_meta = False
    for r in records:
        if r.keys() <= CONTRACT:
            meta.append(None)
            continue
        text = canon_json({k: v for k, v in r.items() if k not in CONTRACT})
        if text != "{}":
            any_meta = True
            meta.append(text)
        else:
            meta.append(None)

    return Chunk(
        n=len(records),
        rows=np.asarray(rows, dtype=np.int64),
        cols=cols,
        metadata=str_array(meta) if any_meta else None,
        raw=lambda idx: [raw_json(records[i]) for i in idx],
        pre_quarantine=pre,
    )


# Contract columns that the Arrow fast path reads as text; those in _JSON_MAY_BE_NUMBER are
# left to inference (numbers) when a chunk holds numbers there (epoch times, numeric ids).
_JSON_TEXT_COLUMNS = (sc.ACCOUNT_ID, sc.TIMESTAMP, sc.PROMPT, sc.REQUEST_ID, sc.SYSTEM, sc.IP,
                      sc.ACCOUNT_CREATED_AT)
_JSON_MAY_BE_NUMBER = frozenset((sc.ACCOUNT_ID, sc.TIMESTAMP, sc.ACCOUNT_CREATED_AT,
                                 sc.REQUEST_ID, sc.IP))
_JSON_NUMBER_ERROR = re.compile(r"Column\(/([^)/]*)\) changed from string to number")
_JSON_MAX_BLOCK = (1 << 31) - 1
_JSON_MAX_DEPTH = 32  # deeper values take the Python path
_JSON_SPLIT = 16  # parts a block is cut into when Arrow's reader rejects it
_JSON_SPLIT_MIN = 64  # ... when each part would have at least this many lines


def _type_depth(t: pa.DataType) -> int:
    """Nesting depth of an Arrow type (without recursion: JSON can nest very deep)."""
    deepest, stack = 0, [(t, 1)]
    while stack:
        t, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((t.field(i).type, d + 1) for i in range(t.num_fields))
    return deepest


def _without_timestamps(t: pa.DataType) -> pa.DataType:
    """The same type with every (inferred) timestamp replaced by string, at any depth."""
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_without_timestamps(f.type)) for f in t])
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_without_timestamps(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_without_timestamps(t.value_type)))
    return t


def _read_json_block(buf: bytes, block: int, explicit: pa.Schema) -> pa.Table:
    return pajson.read_json(
        pa.BufferReader(buf),
        read_options=pajson.ReadOptions(use_threads=True, block_size=block),
        parse_options=pajson.ParseOptions(explicit_schema=explicit,
                                          unexpected_field_behavior="infer"),
    )


def _all_objects(lines: list[bytes]) -> bool:
    """Whether every (non-blank) line starts a JSON object: only then may Arrow's JSON reader
    see the block. A line holding just ``null`` makes pyarrow 26's reader crash the process
    (a segmentation fault, found by the fuzz test); a scalar or an array is not a row."""
    for line in lines:
        if line[:1] != b"{" and line.lstrip(_JSON_SPACE_BYTES)[:1] != b"{":
            return False
    return True


def _valid_utf8(table: pa.Table) -> bool:
    try:
        table.validate(full=True)  # checks every string's UTF-8, nested ones too
        return True
    except pa.ArrowInvalid:
        return False


def _table_to_batch(table: pa.Table) -> pa.RecordBatch:
    arrays = []
    for col in table.columns:
        chunks = col.chunks
        if len(chunks) == 1:
            arrays.append(chunks[0])
        elif chunks:
            arrays.append(pa.concat_arrays(chunks))
        else:
            arrays.append(pa.nulls(0, col.type))
    return pa.RecordBatch.from_arrays(arrays, schema=table.schema)


def _jsonl_chunk_arrow(linenos: np.ndarray, lines: list[bytes],
                       number_cols: set[str]) -> Chunk | None:
    """Fast path: the chunk parsed by Arrow's JSON reader. None when anything is unusual
    (invalid JSON or UTF-8, a non-object line, a column of mixed types, nested system...):
    the caller then uses the line-by-line Python path, which gives the same result.

    number_cols: contract columns seen holding numbers earlier in this file (updated here),
    so that a file of epoch-second timestamps is not parsed twice per chunk.
    """
    if not _all_objects(lines):
        return None  # a line `null` crashes Arrow's reader (pyarrow 26); others are not rows
    longest = max(map(len, lines))
    buf = b"".join(lines)
    if not buf.endswith(b"\n"):
        buf += b"\n"
    block = min(max(4 << 20, 2 * longest + 2), _JSON_MAX_BLOCK)
    if 2 * longest + 2 > _JSON_MAX_BLOCK:
        return None
    text_cols = [name for name in _JSON_TEXT_COLUMNS if name not in number_cols]
    table = None
    for _ in range(len(_JSON_MAY_BE_NUMBER) + 1):
        explicit = pa.schema([pa.field(name, pa.string()) for name in text_cols])
        try:
            table = _read_json_block(buf, block, explicit)
            break
        except (pa.ArrowException, ValueError) as exc:
            m = _JSON_NUMBER_ERROR.search(str(exc))
            if m is None or m.group(1) not in _JSON_MAY_BE_NUMBER or m.group(1) not in text_cols:
                return None
            text_cols.remove(m.group(1))
            number_cols.add(m.group(1))
    if table is None or table.num_rows != len(lines) or not _valid_utf8(table):
        return None  # invalid UTF-8 (Arrow's JSON reader keeps it): the Python path replaces it
    if any(_type_depth(f.type) > _JSON_MAX_DEPTH for f in table.schema):
        return None  # deeply nested values: the Python path copes with them
    if any(_without_timestamps(f.type) != f.type for f in table.schema
           if f.name not in text_cols):
        # ISO-looking strings were turned into timestamps: read them again as the text they
        # were (metadata keeps the original text; contract times are parsed by parse_time)
        explicit = pa.schema([f.with_type(_without_timestamps(f.type)) for f in table.schema])
        try:
            table = _read_json_block(buf, block, explicit)
        except (pa.ArrowException, ValueError):
            return None
        if table.num_rows != len(lines):
            return None
    batch = _table_to_batch(table)
    chunk = arrow_chunk(batch, linenos, empty_is_null=False, pre=[])
    prompt = chunk.cols.get(sc.PROMPT)
    if prompt is None:
        chunk.cols[sc.PROMPT] = Field(pa.nulls(len(lines), pa.string()),
                                       absent=np.ones(len(lines), dtype=bool))
    elif prompt.values.null_count:
        absent = np.zeros(len(lines), dtype=bool)
        for i in np.flatnonzero(np_bool(prompt.values.is_null())):
            try:
                obj = json.JSONDecoder(strict=False).decode(lines[i].decode("utf-8", "replace"))
                absent[i] = isinstance(obj, dict) and sc.PROMPT not in obj
            except (ValueError, RecursionError):
                pass
        prompt.absent = absent
    for name in sc.CONTRACT_COLUMNS:  # JSON Lines have no header: an absent key is a null
        chunk.cols.setdefault(name, Field(pa.nulls(len(lines), pa.string())))
    return chunk


def _jsonl_chunks(linenos: np.ndarray, lines: list[bytes], number_cols: set[str]) -> list[Chunk]:
    """A block of lines -> chunks: Arrow's reader when it can; when it cannot (one bad line
    spoils the whole block), the block is tried again in parts so that only the parts with
    unusual lines take the slower line-by-line path."""
    chunk = _jsonl_chunk_arrow(linenos, lines, number_cols)
    if chunk is not None:
        return [chunk]
    if len(lines) < _JSON_SPLIT * _JSON_SPLIT_MIN:
        return [_jsonl_chunk(linenos, lines)]
    out = []
    bounds = np.linspace(0, len(lines), _JSON_SPLIT + 1).astype(int)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        part_nos, part = linenos[lo:hi], lines[lo:hi]
        out.append(_jsonl_chunk_arrow(part_nos, part, number_cols) or _jsonl_chunk(part_nos, part))
    return out


def _skip_rest_of_line(fh: Any, size: int) -> int:
    """Read and drop the rest of a line a chunk at a time, up to and including its newline;
    ``size``: the bytes of it read so far. Returns the line's length (newline excluded)."""
    while True:
        more = fh.readline(_LONG_LINE_CHUNK)
        size += len(more)
        if not more:
            return size
        if more[-1] == _NEWLINE:
            return size - 1


def _read_lines(fh: Any, n: int, cap: int) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Up to ``n`` lines of a binary file; a line longer than ``cap`` bytes is never held whole.

    Returns the lines (blank for a line too long) and, for each line longer than ``cap``
    bytes (newline excluded), (its index in the lines, its length, its first bytes): only
    its first ``cap + 1`` bytes are read at once, the rest is dropped a chunk at a time, so
    memory stays flat whatever the line's length.
    """
    readline = fh.readline
    limit = cap + 1
    lines: list[bytes] = []
    long: list[tuple[int, int, bytes]] = []
    for i in range(n):
        line = readline(limit)
        if not line:
            break
        if len(line) == limit and line[-1] != _NEWLINE:
            long.append((i, _skip_rest_of_line(fh, len(line)), line[:_LONG_LINE_HEAD]))
            line = b""
        lines.append(line)
    return lines, long


def _without_blank_lines(linenos: np.ndarray, block: list[bytes]) -> tuple[np.ndarray, list[bytes]]:
    """Blank lines (and lines left blank by _read_lines) are not rows: drop them."""
    blank = [i for i, line in enumerate(block) if not line or line[0] in _WS]  # cheap test first
    if blank:
        blank = [i for i in blank if not block[i].strip()]
    if not blank:
        return linenos, block
    keep = np.ones(len(block), dtype=bool)
    keep[blank] = False
    drop = set(blank)
    return linenos[keep], [line for i, line in enumerate(block) if i not in drop]


def _pre_quarantine_chunk(pre: list[tuple[int, str, str, str]]) -> Chunk:
    """A chunk of no records, only rows the reader quarantined itself."""
    return Chunk(n=0, rows=np.zeros(0, np.int64), cols={}, metadata=None, raw=lambda idx: [],
                  pre_quarantine=pre)


def iter_jsonl(path: Path, cfg: IngestConfig) -> Iterator[Chunk | list[Chunk]]:
    """JSON Lines (plain or gzip), ``batch_rows`` lines at a time; a line longer than
    ``max_line_bytes`` is quarantined without being held (``_read_lines``); an unreadable
    file (truncated or corrupt gzip, I/O error) raises :class:`InputError` naming it."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    cap = int(cfg.max_line_bytes)
    try:
        number_cols: set[str] = set()
        with opener(path, "rb") as fh:
            first = 1  # line number of block[0]
            while True:
                block, long = _read_lines(fh, cfg.batch_rows, cap)
                if not block:
                    return
                if first == 1 and block[0].startswith(codecs.BOM_UTF8):
                    block[0] = block[0][len(codecs.BOM_UTF8):]
                linenos = np.arange(first, first + len(block), dtype=np.int64)
                first += len(block)
                too_long = [(int(linenos[i]), "_row", f"line longer than {cap} bytes",
                             raw_json(head.decode("utf-8", "replace"))) for i, _, head in long]
                linenos, block = _without_blank_lines(linenos, block)
                parts = _jsonl_chunks(linenos, block, number_cols) if block else []
                if too_long:
                    parts.append(_pre_quarantine_chunk(too_long))
                if parts:
                    yield parts
    except READ_ERRORS as exc:
        raise InputError(f"{path}: unreadable ({one_line(exc)})") from exc
