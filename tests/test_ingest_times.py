"""Unit tests for targeting.ingest.times: any Arrow array of times -> (UTC microseconds, status)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pytest

from targeting.ingest.base import T_BAD, T_MISSING, T_OK, T_RANGE, TIME_HI, TIME_LO
from targeting.ingest.times import _py_iso, parse_time, us_to_timestamp

NOON = 1_709_294_400  # 2024-03-01T12:00:00Z in epoch seconds
NOON_US = NOON * 1_000_000


def one(value, type_=None) -> tuple[int, int]:
    us, status = parse_time(pa.array([value], type_))
    return int(us[0]), int(status[0])


@pytest.mark.parametrize("text", [
    "2024-03-01T12:00:00Z",
    "2024-03-01T12:00:00+00:00",
    "2024-03-01T14:00:00+02:00",  # a zone is converted to UTC
    "2024-03-01T07:00:00-05:00",
    "2024-03-01T12:00:00",  # no zone: read as UTC
    "2024-03-01 12:00:00",
    "  2024-03-01T12:00:00Z\t",  # surrounding whitespace ignored
])
def test_iso_text_to_utc_microseconds(text):
    assert one(text) == (NOON_US, T_OK)


def test_iso_text_keeps_fractional_seconds():
    assert one("2024-03-01T12:00:00.123456Z") == (NOON_US + 123_456, T_OK)


def test_iso_date_only_is_midnight_utc():
    assert one("2024-03-01") == (NOON_US - 12 * 3600 * 1_000_000, T_OK)


@pytest.mark.parametrize("text", ["1709294400", "1709294400000", "1709294400.0", "+1709294400"])
def test_numeric_text_is_epoch_seconds_or_milliseconds(text):
    assert one(text) == (NOON_US, T_OK)


def test_numeric_text_keeps_fraction_of_a_second():
    assert one("1709294400.5") == (NOON_US + 500_000, T_OK)


@pytest.mark.parametrize("value", [NOON, NOON * 1000, float(NOON), float(NOON * 1000)])
def test_epoch_numbers_seconds_or_milliseconds(value):
    assert one(value) == (NOON_US, T_OK)


def test_milliseconds_threshold_is_1e11():
    # at or below 1e11 a number is seconds (1e11 s is year 5138: out of range); above it,
    # milliseconds (1e11 + 1 ms is 1973: out of range); 2000-01-01 in ms is accepted
    assert one(100_000_000_000)[1] == T_RANGE
    assert one(100_000_000_001)[1] == T_RANGE
    assert one(946_684_800_000) == (946_684_800 * 1_000_000, T_OK)


@pytest.mark.parametrize("text,status", [
    ("1990-01-01T00:00:00Z", T_OK),
    ("1989-12-31T23:59:59Z", T_RANGE),
    ("2099-12-31T23:59:59Z", T_OK),
    ("2100-01-01T00:00:00Z", T_RANGE),  # upper bound excluded
    ("1970-01-01T00:00:00Z", T_RANGE),
    ("-5", T_RANGE),
    ("0", T_RANGE),
])
def test_range_is_1990_inclusive_to_2100_exclusive(text, status):
    us, st = one(text)
    assert st == status
    if status == T_RANGE:
        assert us == 0  # an unusable time never carries a value


def test_range_bounds_for_numbers():
    lo, hi = TIME_LO // 1_000_000, TIME_HI // 1_000_000
    assert one(lo) == (TIME_LO, T_OK)
    assert one(lo - 1)[1] == T_RANGE
    assert one(hi - 1) == (TIME_HI - 1_000_000, T_OK)
    assert one(hi)[1] == T_RANGE


@pytest.mark.parametrize("text", ["not a date", "2024-13-01", "2024-02-30T00:00:00Z", "12:00",
                                  "1e400", "1" * 400])
def test_unparsable_text_is_bad(text):
    assert one(text) == (0, T_BAD)


@pytest.mark.parametrize("text", ["2300-01-01", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_iso_dates_beyond_pandas_nanosecond_range_are_out_of_range_not_unparsable(text):
    assert one(text) == (0, T_RANGE)


@pytest.mark.parametrize("text", ["2024-03-01T25:00:00", "2024-03-01T12:00:00Z[UTC]", "NaT", "nan",
                                  "None", "0x10", "1_000"])
def test_near_misses_are_unparsable(text):
    assert one(text) == (0, T_BAD)


@pytest.mark.parametrize("text", ["now", "today", " now "])
def test_now_and_today_are_not_times(text):
    """pandas reads them as the wall clock: a row stamped with the time of ingest, a derived
    request id that changes from run to run. An ISO-8601 time starts with its year."""
    assert one(text) == (0, T_BAD)


@pytest.mark.parametrize("value", [None, "", "   ", "\t\n"])
def test_null_or_blank_text_is_missing(value):
    assert one(value, pa.string()) == (0, T_MISSING)


def test_non_finite_floats_are_bad_and_null_numbers_missing():
    us, st = parse_time(pa.array([float("nan"), float("inf"), None], pa.float64()))
    assert st.tolist() == [T_BAD, T_BAD, T_MISSING]
    assert us.tolist() == [0, 0, 0]


def test_mixed_text_column_each_row_its_own_status():
    us, st = parse_time(pa.array(["2024-03-01T12:00:00Z", "1709294400000", "junk", None,
                                  "1980-01-01"]))
    assert st.tolist() == [T_OK, T_OK, T_BAD, T_MISSING, T_RANGE]
    assert us.tolist() == [NOON_US, NOON_US, 0, 0, 0]
    assert us.dtype == np.int64 and st.dtype == np.int8


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_arrow_timestamps_of_every_unit(unit):
    t = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    assert one(t, pa.timestamp(unit, "UTC")) == (NOON_US, T_OK)


def test_arrow_timestamps_out_of_range_and_null():
    arr = pa.array([datetime(1985, 1, 1), datetime(2150, 1, 1), None], pa.timestamp("us"))
    us, st = parse_time(arr)
    assert st.tolist() == [T_RANGE, T_RANGE, T_MISSING]
    assert us.tolist() == [0, 0, 0]


def test_arrow_dates_are_midnight_utc():
    midnight = NOON_US - 12 * 3600 * 1_000_000
    assert one(date(2024, 3, 1), pa.date32()) == (midnight, T_OK)
    assert one(date(2024, 3, 1), pa.date64()) == (midnight, T_OK)
    assert one(date(1980, 1, 1), pa.date32())[1] == T_RANGE


def test_dictionary_encoded_text_is_decoded():
    us, st = parse_time(pa.array(["2024-03-01T12:00:00Z", "junk"]).dictionary_encode())
    assert st.tolist() == [T_OK, T_BAD]
    assert us[0] == NOON_US


def test_binary_text_is_read_as_utf8():
    assert one(b"2024-03-01T12:00:00Z", pa.binary()) == (NOON_US, T_OK)


def test_all_null_column_is_missing():
    us, st = parse_time(pa.nulls(3))
    assert st.tolist() == [T_MISSING] * 3 and us.tolist() == [0] * 3


def test_other_types_are_bad_nulls_missing():
    _, st = parse_time(pa.array([True, None]))
    assert st.tolist() == [T_BAD, T_MISSING]
    _, st = parse_time(pa.array([[1], None], pa.list_(pa.int64())))
    assert st.tolist() == [T_BAD, T_MISSING]


def test_empty_array():
    us, st = parse_time(pa.array([], pa.string()))
    assert len(us) == 0 and len(st) == 0


def test_us_to_timestamp_masks_rows_not_ok():
    ts = us_to_timestamp(np.array([NOON_US, 123]), np.array([True, False]))
    assert ts.type == pa.timestamp("us", tz="UTC")
    assert ts.to_pylist() == [datetime(2024, 3, 1, 12, tzinfo=timezone.utc), None]


def test_us_to_timestamp_without_mask_keeps_all():
    ts = us_to_timestamp(np.array([NOON_US, NOON_US + 1]))
    assert ts.null_count == 0
    assert ts[1].as_py() - ts[0].as_py() == timedelta(microseconds=1)


def test_fallback_iso_parser_reads_naive_as_utc_and_keeps_zones():
    # the one-by-one path used when pandas rejects a column even in coerce mode
    assert _py_iso("2024-03-01T12:00:00") == datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    aware = _py_iso("2024-03-01T14:00:00+02:00")
    assert aware.utcoffset() == timedelta(hours=2)
    assert aware == datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    assert _py_iso("junk") is None and _py_iso(None) is None
