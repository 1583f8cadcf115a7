"""Stream request logs, validate them against the input contract, quarantine bad rows.

The input contract is ``shared/CONTRACT.md`` ("Input: request logs"); the output layouts are
``schema.REQUEST_SCHEMA`` (good rows) and ``schema.QUARANTINE_SCHEMA`` (bad rows).

* :func:`expand_inputs` turns files, folders and globs into a sorted list of files.
* :func:`iter_batches` streams each file (never the whole file in memory) and yields one
  :class:`IngestBatch` per at most ``IngestConfig.batch_rows`` rows of the file: the rows that
  passed, normalised, and one quarantine row for every row that did not.

Every row read ends up either in ``good`` or in ``quarantine``, exactly once, so
``good.num_rows + quarantine.num_rows == rows_read`` for every batch. The module is pure:
it writes nothing, prints nothing and keeps no state between calls. The bad-share check
(``IngestConfig.max_bad_share``) belongs to the caller. Deduplication by request_id is not
done here.

Formats (by file name, case-insensitive): ``.parquet``/``.pq``; ``.jsonl``/``.ndjson``
(optionally ``.gz``); ``.csv`` (optionally ``.gz``). CSV columns are all read as text (no
type inference: ``007`` stays ``007``, ``NA`` stays ``NA``); an empty CSV cell is a missing
value. Blank JSONL lines are skipped and are not rows.

Normalisation, in short:

* ``account_id``: text (numbers accepted), normalised by ``ids.normalise_id`` (NFC, surrounding
  whitespace trimmed, every other character kept); empty -> quarantined.
* ``timestamp`` / ``account_created_at``: Arrow timestamps (naive = UTC), dates, ISO-8601
  strings with or without zone (no zone = UTC), epoch seconds as numbers or numeric strings
  (values above 1e11 are epoch milliseconds). Valid range: 1990-01-01 to 2100-01-01 UTC.
  A bad ``timestamp`` quarantines the row; a bad ``account_created_at`` becomes null.
* ``prompt``: must be text; invalid UTF-8 is replaced (U+FFFD), control characters other than
  ``\n \t \r`` (Unicode category Cc) are removed; empty / whitespace-only or longer than
  ``max_prompt_chars`` after cleaning -> quarantined. The prompt is otherwise kept as is.
* ``system`` / ``tools`` / ``ip`` / ``request_id``: optional text; empty -> null; ``ip`` and
  ``request_id`` are stripped, control characters are removed from ``system`` and ``tools``.
  Non-text values (JSON arrays/objects, Parquet lists/structs) become canonical JSON: compact,
  sorted keys, null object members left out, integral floats written as ints. ``tools`` given
  as JSON text is canonicalised the same way, so the same tool set gives the same text (and
  ``context_hash``) whatever the file format; text that is not JSON or is nested deeper than
  ``jsonlimits.MAX_DEPTH`` is kept as it is (unparsable tools).
* ``request_id`` when absent: ``"h-" + sha256("\x1f".join([account_id, timestamp ISO,
  prompt, system or "", tools or ""]))[:32]`` (hex) with the ISO form
  ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds) and the normalised values above.
* Derived: ``prompt_hash`` (sha256 hex of the cleaned prompt), ``context_hash`` (sha256 hex of
  ``(system or "") + "\x1f" + (tools or "")`` when either is present), ``date`` (UTC day),
  ``metadata`` (canonical JSON object of the non-contract columns that have a value in the
  row; null when none).

Quarantine rows: ``file`` (the path as given), ``row`` (1-based: the data row for Parquet and
CSV, header excluded, counting CSV records rather than physical lines; the line number for
JSON Lines), ``field`` and ``reason``:

=================  =============================================================
field              reason
=================  =============================================================
_row               ``invalid JSON`` (not JSON, or not an object);
                   ``invalid JSON (nested too deep to parse)``;
                   ``line longer than N bytes`` (N = ``max_line_bytes``: the line is
                   skipped to its newline unread, ``raw`` is its start);
                   ``record longer than N bytes`` (a CSV record over the same cap:
                   dropped as it streams past, ``csvcap.RecordCap``; ``raw`` its start);
                   ``malformed CSV record (expected N fields, got M)``
account_id         ``column missing``, ``missing account_id``, ``account_id is not text``
timestamp          ``column missing``, ``missing timestamp``, ``unparsable timestamp``,
                   ``timestamp out of range (before 1990 or after 2100)``
prompt             ``column missing``, ``missing prompt`` (JSON key absent),
                   ``prompt is not text`` (number, list, object, null),
                   ``empty prompt``, ``prompt over size cap (N chars)`` (N = the cap)
=================  =============================================================

(the first failing field, in that order, is reported) and ``raw``: the row as compact JSON,
the prompt cut to 200 characters and other text to 1,000 (for an unparsable record: the
record's text as a JSON string).

Missing, unsupported and unreadable (corrupt, truncated; for gzip also a corrupt deflate
block) files raise :class:`InputError`; bad rows never do.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import hashlib
import json
import math
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from datetime import time as dt_time
from itertools import repeat
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from . import schema as sc
from .csvcap import RecordCap
from .errors import InputError
from .ids import normalise_id_array
from .jsonlimits import loads_bounded

__all__ = ["IngestConfig", "IngestBatch", "expand_inputs", "iter_batches", "quarantine_good_rows"]


@dataclass(frozen=True)
class IngestConfig:
    batch_rows: int = 50_000  # rows per yielded batch
    max_prompt_chars: int = 200_000  # longer prompts are quarantined
    max_bad_share: float = 0.05  # checked by the caller, kept here as the single home
    # longer JSON lines are quarantined unread: room for a prompt at the cap in the widest
    # JSON escaping (12 bytes a character) plus a long system prompt and tools
    max_line_bytes: int = 8 << 20

    def __post_init__(self) -> None:
        if int(self.batch_rows) < 1:
            raise ValueError(f"batch_rows must be at least 1, got {self.batch_rows}")
        if int(self.max_prompt_chars) < 1:
            raise ValueError(f"max_prompt_chars must be at least 1, got {self.max_prompt_chars}")
        if int(self.max_line_bytes) < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {self.max_line_bytes}")
        if not 0.0 <= float(self.max_bad_share) <= 1.0:
            raise ValueError(f"max_bad_share must be between 0 and 1, got {self.max_bad_share}")


_NO_ROWS = np.zeros(0, np.int64)


@dataclass(frozen=True)
class IngestBatch:
    good: pa.Table  # exactly schema.REQUEST_SCHEMA
    quarantine: pa.Table  # exactly schema.QUARANTINE_SCHEMA
    source: Path
    rows_read: int  # rows of the file covered by this batch
    # 1-based row (JSON Lines: line) of each good row in the file
    good_rows: np.ndarray = field(default_factory=lambda: _NO_ROWS)


# --------------------------------------------------------------------------------------
# input expansion
# --------------------------------------------------------------------------------------

_FORMATS: tuple[tuple[str, str], ...] = (
    (".parquet", "parquet"),
    (".pq", "parquet"),
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".csv.gz", "csv"),
    (".csv", "csv"),
)
_SUPPORTED_TEXT = ", ".join(ext for ext, _ in _FORMATS)


def _format_of(path: Path) -> str | None:
    name = path.name.lower()
    for ext, fmt in _FORMATS:
        if name.endswith(ext):
            return fmt
    return None


def _is_hidden(path: Path, root: Path) -> bool:
    """Hidden or bookkeeping files inside a folder (``.crc``, ``_SUCCESS``, ``.git/``)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:  # pragma: no cover - rglob stays under root
        parts = path.parts
    return any(p.startswith((".", "_")) for p in parts)


def _files_under(folder: Path) -> list[Path]:
    return [
        f
        for f in folder.rglob("*")
        if f.is_file() and _format_of(f) is not None and not _is_hidden(f, folder)
    ]


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files, folders and globs -> sorted unique list of (absolute) files.

    Folders are searched recursively for supported files (hidden and ``_``-prefixed entries
    skipped, other file types ignored). Globs (``*``, ``?``, ``[``; ``**`` recurses) keep the
    supported files they match and expand matched folders. Raises :class:`InputError` for a
    path or glob that matches no supported file, and for a named file whose extension is not
    supported.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    found: dict[str, Path] = {}
    for item in inputs:
        text = os.path.expanduser(str(item))
        if not text.strip():
            raise InputError("empty input path")
        path = Path(text)
        if path.is_dir():
            files = _files_under(path)
            if not files:
                raise InputError(
                    f"{item}: folder holds no input files (expected {_SUPPORTED_TEXT})"
                )
        elif path.is_file():
            if _format_of(path) is None:
                raise InputError(f"{item}: unsupported file type (expected {_SUPPORTED_TEXT})")
            files = [path]
        elif any(ch in text for ch in "*?["):
            files = []
            for match in sorted(glob.glob(text, recursive=True)):
                m = Path(match)
                if m.is_dir():
                    files.extend(_files_under(m))
                elif m.is_file() and _format_of(m) is not None:
                    files.append(m)
            if not files:
                raise InputError(f"{item}: matches no input files (expected {_SUPPORTED_TEXT})")
        else:
            raise InputError(f"{item}: no such file or folder")
        for f in files:
            resolved = f.resolve()
            found.setdefault(str(resolved), resolved)
    return [found[k] for k in sorted(found)]


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

_CONTRACT = frozenset(sc.CONTRACT_COLUMNS)
_CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # Unicode Cc minus \t \n \r
_NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_US = 1_000_000
_TIME_LO = 631_152_000 * _US  # 1990-01-01T00:00:00Z
_TIME_HI = 4_102_444_800 * _US  # 2100-01-01T00:00:00Z
_EPOCH_MS_ABOVE = 1e11
_RAW_PROMPT_CHARS = 200
_RAW_TEXT_CHARS = 1_000
_RAW_DEPTH = 8
_CSV_BLOCK = 16 << 20
_CSV_MAX_BLOCK = 1 << 30
_NULL_STR = pa.scalar(None, pa.string())
# what reading a damaged file raises: I/O errors, gzip's BadGzipFile (an OSError), a
# truncated gzip (EOFError), a corrupt deflate block ("invalid block type": zlib.error)
_READ_ERRORS = (OSError, EOFError, zlib.error)

# per-row time status
_T_OK, _T_MISSING, _T_BAD, _T_RANGE = 0, 1, 2, 3


def _safe_text(s: str) -> str:
    """Replace lone surrogates (from JSON escapes such as "\\udc80") with U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _str_array(values: list) -> pa.Array:
    """Python list of str/None -> Arrow string array; never fails on surrogates."""
    try:
        return pa.array(values, type=pa.string())
    except (UnicodeEncodeError, pa.ArrowException):
        return pa.array(
            [None if v is None else _safe_text(v if isinstance(v, str) else str(v))
             for v in values],
            type=pa.string(),
        )


def _canon(value: Any, depth: int = 0) -> Any:
    """A JSON-like value in canonical form, the same whichever reader produced it.

    Object members whose value is null are dropped (Arrow fills absent struct members with
    null), integral floats become ints (Arrow widens mixed int/float to float), NaN/inf
    become null, times become ISO text, bytes are decoded.
    """
    if isinstance(value, dict):
        if depth > 64:
            return _compact_json(value)
        out = {}
        for k, v in value.items():
            v = _canon(v, depth + 1)
            if v is not None:
                out[str(k)] = v
        return out
    if isinstance(value, (list, tuple)):
        if depth > 64:
            return _compact_json(list(value))
        return [_canon(v, depth + 1) for v in value]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < 2.0**53:
            return int(value)
        return value
    if isinstance(value, (datetime, date, dt_time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _canon_json(value: Any) -> str:
    return _compact_json(_canon(value))


def _canon_json_many(values: list) -> list[str | None]:
    """_canon_json of each value (None stays None), computed once per distinct value."""
    cache: dict[str, str] = {}
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        key = repr(v)
        text = cache.get(key)
        if text is None:
            text = cache[key] = _canon_json(v)
        out.append(text)
    return out


_JSON_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _json_values(arr: pa.Array, *, empty_is_null: bool) -> pa.Array:
    """Each value as its canonical JSON text (what _canon_json would write), null for null."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        text = _repair_utf8(arr.cast(pa.string()))
        if empty_is_null:
            text = pc.if_else(pc.equal(text, ""), _NULL_STR, text)
        quoted = pc.binary_join_element_wise('"', text, '"', "")
        escape = _np_bool(pc.match_substring_regex(text, _JSON_NEEDS_ESCAPE))
        if escape.any():
            idx = np.flatnonzero(escape)
            fixed = [json.dumps(v, ensure_ascii=False) for v in text.take(idx).to_pylist()]
            mask = np.zeros(len(text), dtype=bool)
            mask[idx] = True
            quoted = pc.replace_with_mask(quoted, pa.array(mask), _str_array(fixed))
        return quoted
    if pa.types.is_integer(t):
        return arr.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    return _str_array(_canon_json_many(_pylist(arr)))


def _metadata(batch: pa.RecordBatch, extras: list[int], *, empty_is_null: bool) -> pa.Array:
    """JSON object (sorted keys, null members left out) of the extra columns, per row;
    null for a row without any. The same text as _canon_json of the row's extras dict."""
    names = batch.schema.names
    joined: pa.Array = pa.nulls(batch.num_rows, pa.string())
    first = {}
    for i in extras:  # a name given twice (CSV header): the first column wins
        first.setdefault(names[i], i)
    for i in sorted(first.values(), key=lambda i: names[i]):
        values = _json_values(batch.column(i), empty_is_null=empty_is_null)
        key = json.dumps(names[i], ensure_ascii=False) + ":"
        member = pc.binary_join_element_wise(key, values, "")  # null where the value is
        # (binary_join_element_wise's null_handling="skip" drops rows in pyarrow 26)
        joined = pc.coalesce(pc.binary_join_element_wise(joined, member, ","), joined, member)
    return pc.binary_join_element_wise("{", joined, "}", "")


def _compact_json(value: Any, *, sort_keys: bool = True) -> str:
    try:
        return json.dumps(value, sort_keys=sort_keys, ensure_ascii=False, separators=(",", ":"),
                          default=str)
    except (TypeError, ValueError, RecursionError):
        try:
            return json.dumps(repr(value), ensure_ascii=False)
        except RecursionError:  # nested deeper than Python can print
            return json.dumps(f"<unprintable {type(value).__name__}>")


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _pylist(arr: pa.Array) -> list:
    """``arr.to_pylist()``, also for strings that are not valid UTF-8 (Parquet does not check,
    nor does Arrow's JSON reader): those are repaired (U+FFFD), at any depth."""
    try:
        return arr.to_pylist()
    except UnicodeDecodeError:
        pass
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _repair_utf8(arr.cast(pa.string())).to_pylist()
    out = []
    for i in range(len(arr)):
        try:
            out.append(arr[i].as_py())
        except UnicodeDecodeError:
            out.append("\ufffd")
    return out


def _repair_utf8(arr: pa.Array) -> pa.Array:
    """A string array whose bytes may not be valid UTF-8 (Parquet does not check) -> valid."""
    try:
        arr.validate(full=True)
        return arr
    except pa.ArrowInvalid:
        raw = arr.cast(pa.binary()).to_pylist()
        return pa.array([None if b is None else b.decode("utf-8", "replace") for b in raw],
                        type=pa.string())


def _float_text(arr: pa.Array) -> pa.Array:
    """Numbers -> text; integral floats print without ".0"; NaN/inf -> null."""
    f = pc.cast(arr, pa.float64(), safe=False)
    finite = pc.is_finite(f)
    integral = pc.and_(finite, pc.and_(pc.equal(f, pc.floor(f)), pc.less(pc.abs(f), 2.0**62)))
    as_int = pc.cast(pc.if_else(integral, f, 0.0), pa.int64(), safe=False).cast(pa.string())
    as_float = pc.cast(f, pa.string())
    out = pc.if_else(integral, as_int, as_float)
    return pc.if_else(finite, out, _NULL_STR)


def _as_text(arr: pa.Array, *, numbers: bool, other: bool) -> tuple[pa.Array, np.ndarray]:
    """Any Arrow array -> (string array, mask of non-null values that are not acceptable).

    numbers: numbers become text. other: booleans, times, lists and structs become text
    (compact JSON); otherwise they are flagged as not text.
    """
    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    ok = np.zeros(n, dtype=bool)
    if pa.types.is_null(t):
        return pa.nulls(n, pa.string()), ok
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _repair_utf8(arr.cast(pa.string())), ok
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) \
            or pa.types.is_binary_view(t):
        raw = arr.to_pylist()
        return pa.array([None if b is None else bytes(b).decode("utf-8", "replace") for b in raw],
                        type=pa.string()), ok
    if numbers or other:
        if pa.types.is_integer(t):
            return arr.cast(pa.string()), ok
        if pa.types.is_floating(t) or pa.types.is_decimal(t):
            return _float_text(arr), ok
    if other:
        if pa.types.is_boolean(t) or pa.types.is_temporal(t):
            return arr.cast(pa.string()), ok
        return _str_array(_canon_json_many(_pylist(arr))), ok
    return pa.nulls(n, pa.string()), _np_bool(arr.is_valid())


def _clean_text(arr: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(arr, _CONTROL_RE, "")


def _blank(arr: pa.Array) -> pa.Array:
    """True where null or empty / whitespace-only."""
    return pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0), True)


def _optional_text(arr: pa.Array, *, strip: bool) -> pa.Array:
    txt, _ = _as_text(arr, numbers=True, other=True)
    if strip:
        txt = pc.utf8_trim_whitespace(txt)
    else:
        txt = _clean_text(txt)
    return pc.if_else(_blank(txt), _NULL_STR, txt)


def _canonical_tools(arr: pa.Array) -> pa.Array:
    """Tools given as JSON text -> compact JSON with sorted keys (same tools, same text).

    Text that is not JSON, or nested deeper than ``jsonlimits.MAX_DEPTH`` (checked before
    parsing, without recursion), is kept as it is: unparsable tools, which later stages
    read as no tool definitions.
    """
    if arr.null_count == len(arr):
        return arr
    uniq = pc.unique(arr.drop_null())
    canon = []
    for s in uniq.to_pylist():
        try:
            value = loads_bounded(s)
        except (ValueError, RecursionError):
            canon.append(s)
            continue
        canon.append(_canon_json(value) if isinstance(value, (list, dict)) else s)
    return pc.take(_str_array(canon), pc.index_in(arr, value_set=uniq))


def _sha256_array(arr: pa.Array) -> pa.Array:
    """sha256 hex of each (UTF-8) string; null stays null."""
    sha = hashlib.sha256
    return pa.array(
        [None if b is None else sha(b).hexdigest() for b in arr.cast(pa.binary()).to_pylist()],
        pa.string(),
    )


def _truncate(value: Any, key: str | None = None, depth: int = 0) -> Any:
    if isinstance(value, str):
        cap = _RAW_PROMPT_CHARS if key == sc.PROMPT else _RAW_TEXT_CHARS
        return value if len(value) <= cap else value[:cap] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return _truncate(bytes(value).decode("utf-8", "replace"), key, depth)
    if depth >= _RAW_DEPTH and isinstance(value, (dict, list, tuple)):
        return "…"
    if isinstance(value, dict):
        return {str(k): _truncate(v, str(k) if depth == 0 else None, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) > 50:
            value = list(value[:50]) + ["…"]
        return [_truncate(v, None, depth + 1) for v in value]
    return value


def _raw_json(row: Any) -> str:
    """A row (dict, or the text of an unparsable record) as compact JSON, long text cut."""
    return _compact_json(_truncate(row), sort_keys=False)


# --------------------------------------------------------------------------------------
# time parsing
# --------------------------------------------------------------------------------------


def _epoch_to_us(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds (or milliseconds above 1e11) -> (microseconds, status)."""
    with np.errstate(invalid="ignore", over="ignore"):
        us = np.where(f > _EPOCH_MS_ABOVE, f * 1e3, f * 1e6)
        ok = np.isfinite(us) & (us >= _TIME_LO) & (us < _TIME_HI)
    status = np.where(ok, _T_OK, np.where(np.isfinite(f), _T_RANGE, _T_BAD)).astype(np.int8)
    return np.rint(np.where(ok, us, 0.0)).astype(np.int64), status


def _timestamps_to_us(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Arrow timestamp/date array (no nulls assumed filled) -> (microseconds, status)."""
    t = arr.type
    valid = _np_bool(arr.is_valid())
    if pa.types.is_timestamp(t):
        raw = pc.fill_null(arr.view(pa.int64()), 0).to_numpy(zero_copy_only=False)
        per_us = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[t.unit]
    elif pa.types.is_date32(t):
        raw = pc.fill_null(arr.view(pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        per_us = 86_400 * _US
    else:  # date64: milliseconds
        raw = pc.fill_null(arr.view(pa.int64()), 0).to_numpy(zero_copy_only=False)
        per_us = 1_000
    raw = raw.astype(np.int64, copy=False)
    if per_us is None:
        us = raw // 1_000
        in_range = (us >= _TIME_LO) & (us < _TIME_HI)
    else:
        approx = raw.astype(np.float64) * per_us
        in_range = (approx >= _TIME_LO) & (approx < _TIME_HI)
        us = np.where(in_range, raw, 0) * per_us
    status = np.where(valid, np.where(in_range, _T_OK, _T_RANGE), _T_MISSING).astype(np.int8)
    return np.where(status == _T_OK, us, 0), status


def _parse_iso(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 strings (already stripped; nulls = not a date) -> (microseconds, status)."""
    try:
        parsed = pd.to_datetime(strings.to_pandas(), format="ISO8601", utc=True, errors="coerce")
        arr = pa.array(parsed)
    except Exception:  # pandas rejected something even in coerce mode: go one by one
        arr = pa.array([_py_iso(s) for s in strings.to_pylist()], type=pa.timestamp("us", "UTC"))
    us, status = _timestamps_to_us(arr)
    return us, np.where(status == _T_MISSING, _T_BAD, status).astype(np.int8)


def _py_iso(s: str | None) -> datetime | None:
    if s is None:
        return None
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return None
    return d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d


def _parse_time(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Any Arrow array of times -> (int64 microseconds since epoch UTC, status per row)."""
    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_null(t):
        return np.zeros(n, np.int64), np.full(n, _T_MISSING, np.int8)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return _timestamps_to_us(arr)
    valid = _np_bool(arr.is_valid())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        f = pc.fill_null(pc.cast(arr, pa.float64(), safe=False), 0.0).to_numpy(zero_copy_only=False)
        us, status = _epoch_to_us(np.asarray(f, dtype=np.float64))
        return us, np.where(valid, status, _T_MISSING).astype(np.int8)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return np.zeros(n, np.int64), np.where(valid, _T_BAD, _T_MISSING).astype(np.int8)
    text, _ = _as_text(arr, numbers=True, other=False)
    text = pc.utf8_trim_whitespace(text)
    present = _np_bool(pc.greater(pc.utf8_length(text), 0))
    is_num = _np_bool(pc.match_substring_regex(text, _NUMBER_RE))
    us = np.zeros(n, np.int64)
    status = np.full(n, _T_MISSING, np.int8)
    if is_num.any():
        idx = np.flatnonzero(is_num)
        numbers = text.take(idx)
        try:
            f = pc.cast(numbers, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowException:  # e.g. hundreds of digits
            f = [float(v) for v in numbers.to_pylist()]
        us[idx], status[idx] = _epoch_to_us(np.asarray(f, dtype=np.float64))
    iso = present & ~is_num
    if iso.any():
        idx = np.flatnonzero(iso)
        us[idx], status[idx] = _parse_iso(text.take(idx))
    return us, status


def _us_to_timestamp(us: np.ndarray, ok: np.ndarray | None = None) -> pa.Array:
    mask = None if ok is None else ~ok
    return pa.array(us, type=pa.int64(), mask=mask).view(pa.timestamp("us", tz="UTC"))


# --------------------------------------------------------------------------------------
# the normaliser (format independent)
# --------------------------------------------------------------------------------------


@dataclass
class _Field:
    values: pa.Array  # any Arrow type
    bad: np.ndarray | None = None  # value present but of a type the reader could not use
    absent: np.ndarray | None = None  # key absent from the record (JSON Lines)


@dataclass
class _Chunk:
    n: int  # records that reached the normaliser
    rows: np.ndarray  # their 1-based row numbers in the file
    cols: dict[str, _Field]  # contract columns present in the file
    metadata: pa.Array | None  # JSON text per record, or None when the file has no extras
    raw: Callable[[np.ndarray], list[str]]  # record indices -> raw JSON for quarantine
    pre_quarantine: list[tuple[int, str, str, str]]  # (row, field, reason, raw) found by reader


_SEP = "\x1f"  # between the parts of a hashed key (context, content-derived request id)


def _empty_good() -> pa.Table:
    return sc.REQUEST_SCHEMA.empty_table()


def _quarantine_table(path: Path, entries: list[tuple[int, str, str, str]]) -> pa.Table:
    entries = sorted(entries, key=lambda e: e[0])
    return pa.Table.from_arrays(
        [
            pa.array([str(path)] * len(entries), pa.string()),
            pa.array([e[0] for e in entries], pa.int64()),
            pa.array([e[1] for e in entries], pa.string()),
            pa.array([e[2] for e in entries], pa.string()),
            _str_array([e[3] for e in entries]),
        ],
        schema=sc.QUARANTINE_SCHEMA,
    )


class _Problems:
    """The first problem found in each record of a chunk: its field and reason (a record
    flagged once keeps its first problem)."""

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.field = np.empty(n, dtype=object)
        self.reason = np.empty(n, dtype=object)

    def __call__(self, mask: np.ndarray | pa.Array, name: str, why: str) -> None:
        m = (mask if isinstance(mask, np.ndarray) else _np_bool(mask)) & ~self.bad
        if m.any():
            self.field[m] = name
            self.reason[m] = why
            self.bad[m] = True


def _missing_column(n: int, flag: _Problems, name: str) -> pa.Array:
    """Every record flagged: the file has no ``name`` column (nulls in its place)."""
    flag(np.ones(n, dtype=bool), name, "column missing")
    return pa.nulls(n, pa.string())


def _text_values(f: _Field, *, numbers: bool) -> tuple[pa.Array, np.ndarray]:
    """A field's values as text, and which are not text (or were unusable to the reader)."""
    text, not_text = _as_text(f.values, numbers=numbers, other=False)
    return text, (not_text | f.bad) if f.bad is not None else not_text


def _valid_account(f: _Field | None, n: int, flag: _Problems) -> pa.Array:
    """``account_id``: text (numbers allowed), normalised (``ids``), not blank."""
    if f is None:
        return _missing_column(n, flag, sc.ACCOUNT_ID)
    account, not_text = _text_values(f, numbers=True)
    flag(not_text, sc.ACCOUNT_ID, f"{sc.ACCOUNT_ID} is not text")
    account = normalise_id_array(account)  # the one id rule: ingest, verdicts, queries, app
    flag(_blank(account), sc.ACCOUNT_ID, f"missing {sc.ACCOUNT_ID}")
    return account


def _valid_timestamp(f: _Field | None, n: int, flag: _Problems) -> np.ndarray:
    """``timestamp``: present, parsable, between 1990 and 2100; microseconds since the epoch."""
    if f is None:
        flag(np.ones(n, dtype=bool), sc.TIMESTAMP, "column missing")
        return np.zeros(n, np.int64)
    ts_us, ts_status = _parse_time(f.values)
    if f.bad is not None:
        ts_status = np.where(f.bad, _T_BAD, ts_status)
    flag(ts_status == _T_MISSING, sc.TIMESTAMP, f"missing {sc.TIMESTAMP}")
    flag(ts_status == _T_BAD, sc.TIMESTAMP, f"unparsable {sc.TIMESTAMP}")
    flag(ts_status == _T_RANGE, sc.TIMESTAMP, f"{sc.TIMESTAMP} out of range (before 1990 or after 2100)")
    return ts_us


def _valid_prompt(f: _Field | None, n: int, flag: _Problems, cap: int) -> pa.Array:
    """``prompt``: present, text, not blank once cleaned, at most ``cap`` characters."""
    if f is None:
        return _missing_column(n, flag, sc.PROMPT)
    prompt, not_text = _text_values(f, numbers=False)
    if f.absent is not None:
        flag(f.absent, sc.PROMPT, f"missing {sc.PROMPT}")
    flag(not_text | _np_bool(prompt.is_null()), sc.PROMPT, f"{sc.PROMPT} is not text")
    prompt = _clean_text(prompt)
    flag(_blank(prompt), sc.PROMPT, f"empty {sc.PROMPT}")
    flag(pc.greater(pc.utf8_length(prompt), cap), sc.PROMPT, f"{sc.PROMPT} over size cap ({cap} chars)")
    return prompt


def _chunk_quarantine(ch: _Chunk, path: Path, flag: _Problems) -> pa.Table:
    """The reader's quarantined rows and the flagged records, with their raw JSON."""
    entries = list(ch.pre_quarantine)
    q_idx = np.flatnonzero(flag.bad)
    if len(q_idx):
        raws = ch.raw(q_idx)
        entries.extend(
            (int(ch.rows[i]), str(flag.field[i]), str(flag.reason[i]), raw) for i, raw in zip(q_idx, raws)
        )
    return _quarantine_table(path, entries)


def _optional_time(f: _Field | None, take: pa.Array, g_idx: np.ndarray) -> pa.Array:
    """An optional time column (``account_created_at``) of the kept records: null where absent
    or unusable."""
    if f is None:
        return pa.nulls(len(g_idx), pa.timestamp("us", tz="UTC"))
    c_us, c_status = _parse_time(f.values.take(take))
    c_ok = c_status == _T_OK
    if f.bad is not None:
        c_ok &= ~f.bad[g_idx]
    return _us_to_timestamp(c_us, c_ok)


def _context_hashes(system: pa.Array, tools: pa.Array) -> pa.Array:
    """Each record's context hash: of its (system, tools) pair, hashed once per distinct pair;
    null without either."""
    has_ctx = pc.or_(system.is_valid(), tools.is_valid())
    ctx = pc.binary_join_element_wise(pc.fill_null(system, ""), pc.fill_null(tools, ""), _SEP)
    ctx = pc.if_else(has_ctx, ctx, _NULL_STR)
    distinct = pc.unique(ctx.drop_null())
    return pc.take(_sha256_array(distinct), pc.index_in(ctx, value_set=distinct))


def _fill_request_ids(request_id: pa.Array, account: pa.Array, us: np.ndarray, prompt: pa.Array,
                      system: pa.Array, tools: pa.Array) -> pa.Array:
    """``request_id``, with a content-derived id (``h-`` + hash of account, time, prompt and
    context) where the record had none."""
    no_id = np.flatnonzero(_np_bool(request_id.is_null()))
    if not len(no_id):
        return request_id
    at = pa.array(no_id, pa.int64())
    iso = pa.array(np.datetime_as_string(us[no_id].astype("datetime64[us]"), unit="us"), pa.string())
    key = pc.binary_join_element_wise(
        account.take(at), pc.binary_join_element_wise(iso, "Z", ""), prompt.take(at),
        pc.fill_null(system.take(at), ""), pc.fill_null(tools.take(at), ""), _SEP,
    )
    hashed = pc.binary_join_element_wise("h-", pc.utf8_slice_codeunits(_sha256_array(key), 0, 32), "")
    mask = np.zeros(len(request_id), dtype=bool)
    mask[no_id] = True
    return pc.replace_with_mask(request_id, pa.array(mask), hashed)


def _normalise(ch: _Chunk, path: Path, cfg: IngestConfig) -> IngestBatch:
    """A chunk's records checked field by field (one validator per contract field): the good
    rows in the contract's schema, the others quarantined with their first problem."""
    flag = _Problems(ch.n)
    account = _valid_account(ch.cols.get(sc.ACCOUNT_ID), ch.n, flag)
    ts_us = _valid_timestamp(ch.cols.get(sc.TIMESTAMP), ch.n, flag)
    prompt = _valid_prompt(ch.cols.get(sc.PROMPT), ch.n, flag, int(cfg.max_prompt_chars))
    quarantine = _chunk_quarantine(ch, path, flag)
    rows_read = ch.n + len(ch.pre_quarantine)
    g_idx = np.flatnonzero(~flag.bad)
    if len(g_idx) == 0:
        return IngestBatch(_empty_good(), quarantine, path, rows_read, _NO_ROWS)
    take = pa.array(g_idx, pa.int64())
    account, prompt, us = account.take(take), prompt.take(take), ts_us[g_idx]
    timestamp = _us_to_timestamp(us)

    def optional(name: str, *, strip: bool) -> pa.Array:
        f = ch.cols.get(name)
        if f is None:
            return pa.nulls(len(g_idx), pa.string())
        return _optional_text(f.values.take(take), strip=strip)

    system = optional(sc.SYSTEM, strip=False)
    tools = _canonical_tools(optional(sc.TOOLS, strip=False))
    columns = {
        sc.REQUEST_ID: _fill_request_ids(optional(sc.REQUEST_ID, strip=True), account, us, prompt, system, tools),
        sc.ACCOUNT_ID: account,
        sc.TIMESTAMP: timestamp,
        sc.PROMPT: prompt,
        sc.SYSTEM: system,
        sc.TOOLS: tools,
        sc.IP: optional(sc.IP, strip=True),
        sc.ACCOUNT_CREATED_AT: _optional_time(ch.cols.get(sc.ACCOUNT_CREATED_AT), take, g_idx),
        sc.PROMPT_HASH: _sha256_array(prompt),
        sc.CONTEXT_HASH: _context_hashes(system, tools),
        sc.DATE: pc.cast(timestamp, pa.date32()),
        sc.METADATA: pa.nulls(len(g_idx), pa.string()) if ch.metadata is None else ch.metadata.take(take),
    }
    good = pa.Table.from_arrays(
        [columns[f.name].cast(f.type) for f in sc.REQUEST_SCHEMA], schema=sc.REQUEST_SCHEMA
    )
    return IngestBatch(good, quarantine, path, rows_read, np.asarray(ch.rows, np.int64)[g_idx])


# --------------------------------------------------------------------------------------
# JSON Lines
# --------------------------------------------------------------------------------------

_JSON_SPACE = " \t\n\r"
_JSON_SPACE_BYTES = _JSON_SPACE.encode()
_WS = frozenset(b" \t\r\n\x0b\x0c")
_NEWLINE = ord("\n")
_LONG_LINE_HEAD = 4 * _RAW_TEXT_CHARS  # bytes of a line too long kept for its quarantine row
_LONG_LINE_CHUNK = 1 << 20  # bytes of a line too long read (and dropped) at a time


def _finite_number_text(v: int | float) -> str | None:
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        if v.is_integer() and abs(v) < 2.0**62:
            return str(int(v))
        return repr(v)
    return str(v)


def _py_field(values: list, kind: str) -> _Field:
    """Python values of one contract column -> _Field.

    kind: "id" (text; numbers -> text; other types bad), "time" (text or numbers; other types
    bad), "prompt" (text only), "opt" (text; anything else -> text / compact JSON).
    """
    try:
        return _Field(pa.array(values, type=pa.string()))
    except (pa.ArrowException, UnicodeEncodeError):
        pass
    out: list[str | None] = []
    bad = np.zeros(len(values), dtype=bool)
    for i, v in enumerate(values):
        tv = type(v)
        if tv is str:
            out.append(_safe_text(v))
        elif v is None:
            out.append(None)
        elif kind == "opt":
            if tv is bool:
                out.append("true" if v else "false")
            elif tv is int or tv is float:
                out.append(_finite_number_text(v))
            else:
                out.append(_canon_json(v))
        elif (tv is int or tv is float) and kind != "prompt":
            text = _finite_number_text(v)
            out.append(text)
            if text is None:
                bad[i] = True
        else:
            out.append(None)
            bad[i] = True
    return _Field(_str_array(out), bad=bad)


_KINDS = {
    sc.ACCOUNT_ID: "id",
    sc.TIMESTAMP: "time",
    sc.PROMPT: "prompt",
    sc.ACCOUNT_CREATED_AT: "time",
}


def _jsonl_chunk(linenos: np.ndarray, lines: list[bytes]) -> _Chunk:
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
            pre.append((lineno, "_row", why, _raw_json(text)))
            continue
        records.append(obj)
        rows.append(lineno)

    cols: dict[str, _Field] = {}
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
        if r.keys() <= _CONTRACT:
            meta.append(None)
            continue
        text = _canon_json({k: v for k, v in r.items() if k not in _CONTRACT})
        if text != "{}":
            any_meta = True
            meta.append(text)
        else:
            meta.append(None)

    return _Chunk(
        n=len(records),
        rows=np.asarray(rows, dtype=np.int64),
        cols=cols,
        metadata=_str_array(meta) if any_meta else None,
        raw=lambda idx: [_raw_json(records[i]) for i in idx],
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
                       number_cols: set[str]) -> _Chunk | None:
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
        # were (metadata keeps the original text; contract times are parsed by _parse_time)
        explicit = pa.schema([f.with_type(_without_timestamps(f.type)) for f in table.schema])
        try:
            table = _read_json_block(buf, block, explicit)
        except (pa.ArrowException, ValueError):
            return None
        if table.num_rows != len(lines):
            return None
    batch = _table_to_batch(table)
    chunk = _arrow_chunk(batch, linenos, empty_is_null=False, pre=[])
    prompt = chunk.cols.get(sc.PROMPT)
    if prompt is None:
        chunk.cols[sc.PROMPT] = _Field(pa.nulls(len(lines), pa.string()),
                                       absent=np.ones(len(lines), dtype=bool))
    elif prompt.values.null_count:
        absent = np.zeros(len(lines), dtype=bool)
        for i in np.flatnonzero(_np_bool(prompt.values.is_null())):
            try:
                obj = json.JSONDecoder(strict=False).decode(lines[i].decode("utf-8", "replace"))
                absent[i] = isinstance(obj, dict) and sc.PROMPT not in obj
            except (ValueError, RecursionError):
                pass
        prompt.absent = absent
    for name in sc.CONTRACT_COLUMNS:  # JSON Lines have no header: an absent key is a null
        chunk.cols.setdefault(name, _Field(pa.nulls(len(lines), pa.string())))
    return chunk


def _jsonl_chunks(linenos: np.ndarray, lines: list[bytes], number_cols: set[str]) -> list[_Chunk]:
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


def _pre_quarantine_chunk(pre: list[tuple[int, str, str, str]]) -> _Chunk:
    """A chunk of no records, only rows the reader quarantined itself."""
    return _Chunk(n=0, rows=np.zeros(0, np.int64), cols={}, metadata=None, raw=lambda idx: [],
                  pre_quarantine=pre)


def _iter_jsonl(path: Path, cfg: IngestConfig) -> Iterator[_Chunk | list[_Chunk]]:
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
                             _raw_json(head.decode("utf-8", "replace"))) for i, _, head in long]
                linenos, block = _without_blank_lines(linenos, block)
                parts = _jsonl_chunks(linenos, block, number_cols) if block else []
                if too_long:
                    parts.append(_pre_quarantine_chunk(too_long))
                if parts:
                    yield parts
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: unreadable ({_one_line(exc)})") from exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------
# Parquet and CSV (Arrow record batches)
# --------------------------------------------------------------------------------------


def _arrow_chunk(batch: pa.RecordBatch, rows: np.ndarray, *, empty_is_null: bool,
                 pre: list[tuple[int, str, str, str]]) -> _Chunk:
    names = batch.schema.names
    cols: dict[str, _Field] = {}
    for name in sc.CONTRACT_COLUMNS:
        if name in names:
            cols[name] = _Field(batch.column(names.index(name)))
    extras = [i for i, name in enumerate(names) if name not in _CONTRACT]
    metadata = _metadata(batch, extras, empty_is_null=empty_is_null) if extras else None

    def raw(idx: np.ndarray) -> list[str]:
        rows = batch.take(pa.array(idx, pa.int64()))
        columns = [_pylist(rows.column(i)) for i in range(rows.num_columns)]
        return [_raw_json(dict(zip(rows.schema.names, rec))) for rec in zip(*columns)] if columns \
            else [_raw_json({}) for _ in idx]

    return _Chunk(n=batch.num_rows, rows=rows, cols=cols, metadata=metadata, raw=raw,
                  pre_quarantine=pre)


def _iter_parquet(path: Path, cfg: IngestConfig) -> Iterator[_Chunk]:
    try:
        pf = pq.ParquetFile(path)
        batches = pf.iter_batches(batch_size=cfg.batch_rows)
    except (pa.ArrowException, OSError, ValueError) as exc:  # a damaged footer: even UnicodeDecodeError
        raise InputError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from exc
    start = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InputError(
                f"{path}: unreadable Parquet after row {start} ({_one_line(exc)})"
            ) from exc
        rows = np.arange(start + 1, start + batch.num_rows + 1, dtype=np.int64)
        start += batch.num_rows
        yield _arrow_chunk(batch, rows, empty_is_null=False, pre=[])


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
    except _READ_ERRORS as exc:
        raise InputError(f"{path}: unreadable ({_one_line(exc)})") from exc


class _CsvRetry(Exception):
    pass


@dataclass
class _CsvProgress:
    good_max: int = 0  # highest data-row number of a parsed record already yielded
    bad_done: set[int] = field(default_factory=set)  # malformed records already yielded


def _iter_csv(path: Path, cfg: IngestConfig) -> Iterator[_Chunk]:
    header = _csv_header(path, int(cfg.max_line_bytes))
    if header is None:
        return
    progress = _CsvProgress()
    block = _CSV_BLOCK
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
                _raw_json(long.head.decode("utf-8", "replace")))
    return (f"malformed CSV record (expected {row.expected_columns} fields, got {row.actual_columns})",
            _raw_json(text))


def _csv_pass(path: Path, cfg: IngestConfig, header: list[str], block: int,
              progress: _CsvProgress) -> Iterator[_Chunk]:
    events: list[tuple[int | None, str, str]] = []  # (record number, reason, raw)

    def on_invalid(row: Any) -> str:
        events.append((row.number, *_csv_bad_record(row, capper)))
        return "skip"

    def arrow_call(fn: Callable[[], Any], where: str) -> Any:
        try:
            return fn()
        except StopIteration:
            raise
        except (pa.ArrowException, *_READ_ERRORS) as exc:
            if "straddl" in str(exc) and block < _CSV_MAX_BLOCK:
                raise _CsvRetry() from exc
            raise InputError(f"{path}: unreadable CSV {where} ({_one_line(exc)})") from exc

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
            chunk = _arrow_chunk(piece, piece_rows, empty_is_null=True, pre=pre)
            if n_good:
                progress.good_max = max(progress.good_max, int(piece_rows[-1]))
            progress.bad_done.update(e[0] for e in pre)
            yield chunk
    while pending:
        pre, pending[:] = pending[:cap], pending[cap:]
        empty = pa.RecordBatch.from_pylist([], schema=reader.schema)
        progress.bad_done.update(e[0] for e in pre)
        yield _arrow_chunk(empty, np.zeros(0, np.int64), empty_is_null=True, pre=pre)


# --------------------------------------------------------------------------------------
# public entry point
# --------------------------------------------------------------------------------------

_READERS: dict[str, Callable[[Path, IngestConfig], Iterator[_Chunk | list[_Chunk]]]] = {
    "parquet": _iter_parquet,
    "jsonl": _iter_jsonl,
    "csv": _iter_csv,
}


REQUIRED_COLUMNS = (sc.ACCOUNT_ID, sc.TIMESTAMP, sc.PROMPT)


def _require_columns(path: Path, first: _Chunk | list[_Chunk]) -> None:
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
        fmt = _format_of(path)
        if fmt is None:
            raise InputError(f"{path}: unsupported file type (expected {_SUPPORTED_TEXT})")
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        yielded = False
        for chunk in _READERS[fmt](path, cfg):
            if not yielded:
                _require_columns(path, chunk)
            yielded = True
            if isinstance(chunk, list):  # parts of one block: one batch
                parts = [_normalise(c, path, cfg) for c in chunk]
                yield IngestBatch(
                    pa.concat_tables([b.good for b in parts]),
                    pa.concat_tables([b.quarantine for b in parts]).sort_by("row"),
                    path,
                    sum(b.rows_read for b in parts),
                    np.concatenate([b.good_rows for b in parts]),
                )
            else:
                yield _normalise(chunk, path, cfg)
        if not yielded:
            yield IngestBatch(_empty_good(), _quarantine_table(path, []), path, 0)


def normalise_table(table: pa.Table, source: Path, config: IngestConfig | None = None) -> IngestBatch:
    """Rows already in memory (an Arrow table with the contract's columns), checked and
    normalised as a Parquet file's rows are (``iter_batches``): one batch, ``source`` naming
    where they came from in quarantine rows."""
    cfg = config if config is not None else IngestConfig()
    parts, start = [], 0
    for batch in table.to_batches(max_chunksize=cfg.batch_rows):
        rows = np.arange(start + 1, start + batch.num_rows + 1, dtype=np.int64)
        start += batch.num_rows
        parts.append(_normalise(_arrow_chunk(batch, rows, empty_is_null=False, pre=[]), source, cfg))
    if not parts:
        return IngestBatch(_empty_good(), _quarantine_table(source, []), source, 0)
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
    entries = [(int(batch.good_rows[i]), field_name, reason, _raw_json(rec))
               for i, rec in zip(idx.tolist(), records)]
    return _quarantine_table(batch.source, entries)
