"""Time parsing: Arrow timestamps, dates, ISO-8601 text and epoch numbers to UTC microseconds."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from targeting.ingest.base import (
    EPOCH_MS_ABOVE, NUMBER_RE, TIME_HI, TIME_LO, T_BAD, T_MISSING, T_OK, T_RANGE, US,
)
from targeting.ingest.values import as_text, np_bool


def _epoch_to_us(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds (or milliseconds above 1e11) -> (microseconds, status)."""
    with np.errstate(invalid="ignore", over="ignore"):
        us = np.where(f > EPOCH_MS_ABOVE, f * 1e3, f * 1e6)
        ok = np.isfinite(us) & (us >= TIME_LO) & (us < TIME_HI)
    status = np.where(ok, T_OK, np.where(np.isfinite(f), T_RANGE, T_BAD)).astype(np.int8)
    return np.rint(np.where(ok, us, 0.0)).astype(np.int64), status


def _timestamps_to_us(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Arrow timestamp/date array (no nulls assumed filled) -> (microseconds, status)."""
    t = arr.type
    valid = np_bool(arr.is_valid())
    if pa.types.is_timestamp(t):
        raw = pc.fill_null(arr.view(pa.int64()), 0).to_numpy(zero_copy_only=False)
        per_us = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[t.unit]
    elif pa.types.is_date32(t):
        raw = pc.fill_null(arr.view(pa.int32()), 0).to_numpy(zero_copy_only=False).astype(np.int64)
        per_us = 86_400 * US
    else:  # date64: milliseconds
        raw = pc.fill_null(arr.view(pa.int64()), 0).to_numpy(zero_copy_only=False)
        per_us = 1_000
    raw = raw.astype(np.int64, copy=False)
    if per_us is None:
        us = raw // 1_000
        in_range = (us >= TIME_LO) & (us < TIME_HI)
    else:
        approx = raw.astype(np.float64) * per_us
        in_range = (approx >= TIME_LO) & (approx < TIME_HI)
        us = np.where(in_range, raw, 0) * per_us
    status = np.where(valid, np.where(in_range, T_OK, T_RANGE), T_MISSING).astype(np.int8)
    return np.where(status == T_OK, us, 0), status


def _parse_iso(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 strings (already stripped; nulls = not a date) -> (microseconds, status)."""
    try:
        parsed = pd.to_datetime(strings.to_pandas(), format="ISO8601", utc=True, errors="coerce")
        arr = pa.array(parsed)
    except Exception:  # pandas rejected something even in coerce mode: go one by one
        arr = pa.array([_py_iso(s) for s in strings.to_pylist()], type=pa.timestamp("us", "UTC"))
    us, status = _timestamps_to_us(arr)
    return us, np.where(status == T_MISSING, T_BAD, status).astype(np.int8)


def _py_iso(s: str | None) -> datetime | None:
    if s is None:
        return None
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        return None
    return d.replace(tzinfo=timezone.utc) if d.tzinfo is None else d


def parse_time(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Any Arrow array of times -> (int64 microseconds since epoch UTC, status per row)."""
    n = len(arr)
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if pa.types.is_null(t):
        return np.zeros(n, np.int64), np.full(n, T_MISSING, np.int8)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return _timestamps_to_us(arr)
    valid = np_bool(arr.is_valid())
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        f = pc.fill_null(pc.cast(arr, pa.float64(), safe=False), 0.0).to_numpy(zero_copy_only=False)
        us, status = _epoch_to_us(np.asarray(f, dtype=np.float64))
        return us, np.where(valid, status, T_MISSING).astype(np.int8)
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t)):
        return np.zeros(n, np.int64), np.where(valid, T_BAD, T_MISSING).astype(np.int8)
    text, _ = as_text(arr, numbers=True, other=False)
    text = pc.utf8_trim_whitespace(text)
    present = np_bool(pc.greater(pc.utf8_length(text), 0))
    is_num = np_bool(pc.match_substring_regex(text, NUMBER_RE))
    us = np.zeros(n, np.int64)
    status = np.full(n, T_MISSING, np.int8)
    if is_num.any():
        idx = np.flatnonzero(is_num)
        numbers = text.take(idx)
        try:
            f = pc.cast(numbers, pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowException:  # e.g. hundreds of digits
            f = [float(v) for v in numbers.to_pylist()]
        us[idx], status[idx] = _epoch_to_us(np.asarray(f, dtype=np.float64))
    # an ISO-8601 time starts with its year; pandas would read the words "now" and "today"
    # as the time of ingest (a row stamped with the wall clock, a request id that changes)
    dated = np_bool(pc.match_substring_regex(text, r"^\d"))
    status[present & ~is_num & ~dated] = T_BAD
    iso = present & ~is_num & dated
    if iso.any():
        idx = np.flatnonzero(iso)
        us[idx], status[idx] = _parse_iso(text.take(idx))
    return us, status


def us_to_timestamp(us: np.ndarray, ok: np.ndarray | None = None) -> pa.Array:
    mask = None if ok is None else ~ok
    return pa.array(us, type=pa.int64(), mask=mask).view(pa.timestamp("us", tz="UTC"))
