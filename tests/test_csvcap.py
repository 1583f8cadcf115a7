"""CSV records with a size cap (``targeting.csvcap``): the transform reads CSV as Arrow does,
passes whole records on unchanged, and replaces only records longer than the cap, whatever
the chunks Arrow hands it and whichever of its two scans (numpy, exact) runs."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targeting.csvcap import HEAD_BYTES, RecordCap

TOKENS = [b"a", b"bc", b",", b'"', b'""', b"\n", b"\r", b"\r\n", b"x y", b"\xff", b"\xc3\xa9"]
CSV_BODY = st.lists(st.sampled_from(TOKENS), max_size=80).map(b"".join)


def _feed(cap: RecordCap, data: bytes, cuts: list[int]) -> bytes:
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    pieces = [cap(data[a:b]) for a, b in zip(bounds, bounds[1:])]
    return b"".join(pieces) + cap(b"")


class _ExactOnly(RecordCap):
    """The byte-exact scan alone, as a reference for the numpy one."""

    def _fast(self, buf, out):  # noqa: ARG002 - never takes the fast path
        return False


def _parse(data: bytes) -> tuple[list[dict], list[str]]:
    bad: list[str] = []

    def on_invalid(row):
        bad.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(data),
        read_options=pacsv.ReadOptions(use_threads=False, block_size=1 << 12),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(strings_can_be_null=False,
                                             column_types={k: pa.binary() for k in "abc"}),
    )
    return table.to_pylist(), bad


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=CSV_BODY, cuts=st.lists(st.integers(0, 400), max_size=6), cap=st.integers(1, 40))
def test_any_chunking_and_either_scan_give_the_same_bytes(body, cuts, cap):
    data = b"a,b,c\n" + body
    reference = _ExactOnly(cap)
    want = _feed(reference, data, [])
    got_cap = RecordCap(cap)
    got = _feed(got_cap, data, cuts)
    assert got.replace(got_cap.nonce.encode(), b"N") == want.replace(reference.nonce.encode(), b"N")
    assert got_cap.records == reference.records
    assert all(r.length > cap and len(r.head) <= min(HEAD_BYTES, r.length) for r in got_cap.records)


@settings(max_examples=300, deadline=None)
@given(body=CSV_BODY, cuts=st.lists(st.integers(0, 400), max_size=6))
def test_under_the_cap_the_bytes_pass_unchanged_and_arrow_reads_the_same(body, cuts):
    data = (b"a,b,c\n" + body).decode("utf-8", "replace").encode()  # as ingest repairs it for Arrow
    cap = RecordCap(1 << 20)
    out = _feed(cap, data, cuts)
    assert out == data and cap.records == []
    try:
        want = _parse(data)
    except pa.ArrowInvalid:
        return  # Arrow refuses this text either way (e.g. a quote left open at the end)
    assert _parse(out) == want


def test_a_record_over_the_cap_becomes_one_marker_row_and_the_rest_goes_on():
    data = b'a,b,c\n1,2,3\n4,"' + b'x\n"",' * 50 + b'",6\r\n7,8,9\n10,"short",12'
    cap = RecordCap(32)
    out = _feed(cap, data, [20, 100, 101])
    rows, bad = _parse(out)
    assert [r["a"] for r in rows] == [b"1", b"7", b"10"]
    assert len(bad) == 1 and cap.too_long(bad[0]).head.startswith(b'4,"x\n""')
    assert cap.records[0].length == len(b'4,"' + b'x\n"",' * 50 + b'",6')
    assert cap.too_long("\x00targeting-record-too-long-forged-0") is None  # the nonce cannot be guessed


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError, match="cap"):
        RecordCap(0)
