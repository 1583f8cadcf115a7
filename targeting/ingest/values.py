"""Text and JSON values: UTF-8 repair, control characters, canonical JSON, quarantine raw."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime
from datetime import time as dt_time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from targeting import schema as sc
from targeting.jsonlimits import loads_bounded
from targeting.ingest.base import CONTROL_RE, NULL_STR, RAW_DEPTH, RAW_PROMPT_CHARS, RAW_TEXT_CHARS


def safe_text(s: str) -> str:
    """Replace lone surrogates (from JSON escapes such as "\\udc80") with U+FFFD."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def str_array(values: list) -> pa.Array:
    """Python list of str/None -> Arrow string array; never fails on surrogates."""
    try:
        return pa.array(values, type=pa.string())
    except (UnicodeEncodeError, pa.ArrowException):
        return pa.array(
            [None if v is None else safe_text(v if isinstance(v, str) else str(v))
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


def canon_json(value: Any) -> str:
    return _compact_json(_canon(value))


def _canon_json_many(values: list) -> list[str | None]:
    """canon_json of each value (None stays None), computed once per distinct value."""
    cache: dict[str, str] = {}
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        key = repr(v)
        text = cache.get(key)
        if text is None:
            text = cache[key] = canon_json(v)
        out.append(text)
    return out


_JSON_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _json_values(arr: pa.Array, *, empty_is_null: bool) -> pa.Array:
    """Each value as its canonical JSON text (what canon_json would write), null for null."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        text = _repair_utf8(arr.cast(pa.string()))
        if empty_is_null:
            text = pc.if_else(pc.equal(text, ""), NULL_STR, text)
        quoted = pc.binary_join_element_wise('"', text, '"', "")
        escape = np_bool(pc.match_substring_regex(text, _JSON_NEEDS_ESCAPE))
        if escape.any():
            idx = np.flatnonzero(escape)
            fixed = [json.dumps(v, ensure_ascii=False) for v in text.take(idx).to_pylist()]
            mask = np.zeros(len(text), dtype=bool)
            mask[idx] = True
            quoted = pc.replace_with_mask(quoted, pa.array(mask), str_array(fixed))
        return quoted
    if pa.types.is_integer(t):
        return arr.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(arr, "true", "false")
    # a value canonical JSON writes as null (NaN, infinity) is a null member: left out, as
    # canon_json leaves it out of the row's extras
    return str_array([None if v == "null" else v for v in _canon_json_many(pylist(arr))])


def extras_json(batch: pa.RecordBatch, extras: list[int], *, empty_is_null: bool) -> pa.Array:
    """JSON object (sorted keys, null members left out) of the extra columns, per row;
    null for a row without any. The same text as canon_json of the row's extras dict."""
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


def np_bool(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def pylist(arr: pa.Array) -> list:
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
    return pc.if_else(finite, out, NULL_STR)


def as_text(arr: pa.Array, *, numbers: bool, other: bool) -> tuple[pa.Array, np.ndarray]:
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
        return str_array(_canon_json_many(pylist(arr))), ok
    return pa.nulls(n, pa.string()), np_bool(arr.is_valid())


def clean_text(arr: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(arr, CONTROL_RE, "")


def is_blank(arr: pa.Array) -> pa.Array:
    """True where null or empty / whitespace-only."""
    return pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0), True)


def optional_text(arr: pa.Array, *, strip: bool) -> pa.Array:
    txt, _ = as_text(arr, numbers=True, other=True)
    if strip:
        txt = pc.utf8_trim_whitespace(txt)
    else:
        txt = clean_text(txt)
    return pc.if_else(is_blank(txt), NULL_STR, txt)


def canonical_tools(arr: pa.Array) -> pa.Array:
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
        canon.append(canon_json(value) if isinstance(value, (list, dict)) else s)
    return pc.take(str_array(canon), pc.index_in(arr, value_set=uniq))


def sha256_array(arr: pa.Array) -> pa.Array:
    """sha256 hex of each (UTF-8) string; null stays null."""
    sha = hashlib.sha256
    return pa.array(
        [None if b is None else sha(b).hexdigest() for b in arr.cast(pa.binary()).to_pylist()],
        pa.string(),
    )


def _truncate(value: Any, key: str | None = None, depth: int = 0) -> Any:
    if isinstance(value, str):
        cap = RAW_PROMPT_CHARS if key == sc.PROMPT else RAW_TEXT_CHARS
        return value if len(value) <= cap else value[:cap] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bytes, bytearray)):
        return _truncate(bytes(value).decode("utf-8", "replace"), key, depth)
    if depth >= RAW_DEPTH and isinstance(value, (dict, list, tuple)):
        return "…"
    if isinstance(value, dict):
        return {str(k): _truncate(v, str(k) if depth == 0 else None, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) > 50:
            value = list(value[:50]) + ["…"]
        return [_truncate(v, None, depth + 1) for v in value]
    return value


def raw_json(row: Any) -> str:
    """A row (dict, or the text of an unparsable record) as compact JSON, long text cut."""
    return _compact_json(_truncate(row), sort_keys=False)
