"""Generated hostile input files with their expected outcome: the fuzz test's and
``bench/fuzz_ingest.py``'s cases (hypothesis strategies, no product code).

A case is one input file in one of the accepted formats (JSON Lines plain or gzip, ``.ndjson``,
CSV plain or gzip, Parquet) of rows whose every text field is hostile: control and format
characters (ESC, NUL, U+202E, zero-width and no-break spaces), lone surrogates, invalid UTF-8
bytes, ``tools`` and ``system`` JSON of any depth and size, extra metadata columns. Each row
carries at most one deliberate defect, so the oracle knows its fate: stored (exactly once, by
its request id) or quarantined with the field the product must name. A row over the line
cap is quarantined as ``_row``; a damaged file (broken gzip, a cut or bit-flipped Parquet file)
may only end in ``InputError`` naming it, or, when the damage goes unnoticed, in a complete,
consistent read.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import strategies as st

FORMATS = ("jsonl", "jsonl.gz", "ndjson", "csv", "csv.gz", "parquet")
COLUMNS = ("request_id", "account_id", "timestamp", "prompt", "system", "tools", "ip", "note")
HOSTILE = "\x1b[31m\u202e\u200b\u200d\ufeff\xa0\x00\x07\t\r\n\u2028\U0001f600é\u0301,\"'`|<>=+-@"
INVALID_UTF8 = "\ue000"  # stands for the bytes b"\xff\xfe" in the written file (not Parquet)
LINE_CAP = 4096  # the cases' [ingest] max_line_bytes
DAY = "2026-11-02"

GOOD_TIMES = (f"{DAY}T10:00:00Z", f"{DAY} 23:59:59", f"{DAY}T08:30:00+05:30", f"{DAY}T10:00:00.123456-02:00",
              "1793613600", "1793613600000", f" {DAY}T10:00:00Z ")
BAD_TIMES = ("not a time", "2026-13-45T99:00:00Z", "1e400", "NaN")
OLD_TIMES = ("1980-01-01T00:00:00Z", "2200-01-01T00:00:00Z", "12")


@dataclass
class Row:
    values: dict[str, Any]  # column -> value (absent: key missing)
    expect: str  # "good", or the field the quarantine names
    raw: str | None = None  # a record written as this text instead (a broken line)


@dataclass
class Case:
    fmt: str
    rows: list[Row]
    duplicate_of: list[int] = field(default_factory=list)  # rows repeated exactly at the end
    damage: str = "none"  # "none", "truncate", "flip" (compressed formats only)
    flip_at: int = 0

    @property
    def suffix(self) -> str:
        return "." + self.fmt

    @property
    def compressed(self) -> bool:
        return self.fmt.endswith(".gz")


def _hostile_text(draw, *, min_letters: int = 1, max_size: int = 40) -> str:
    """Text with at least ``min_letters`` ASCII letters among hostile characters (so it is
    never blank after the product's cleaning), any Unicode included lone surrogates."""
    letters = draw(st.text(alphabet="abcxyzQ", min_size=min_letters, max_size=8))
    noise = draw(st.text(alphabet=st.sampled_from(HOSTILE) | st.characters(), max_size=max_size))
    cut = draw(st.integers(0, len(noise)))
    return noise[:cut] + letters + noise[cut:]


_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
JSON_VALUE = st.recursive(_JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)


@st.composite
def tools_value(draw) -> Any:
    """``tools`` as any JSON value, OpenAI-style definitions, text nested thousands deep,
    unbalanced brackets, plain text, or a large definition."""
    kind = draw(st.sampled_from(["json", "openai", "deep", "unbalanced", "text", "large", "absent"]))
    if kind == "json":
        return json.dumps(draw(JSON_VALUE)) if draw(st.booleans()) else draw(JSON_VALUE)
    if kind == "openai":
        name = _hostile_text(draw, max_size=10)
        return json.dumps([{"type": "function", "function": {"name": name, "description": _hostile_text(draw),
                                                             "parameters": {"properties": {name: {}}}}}])
    if kind == "deep":
        n = draw(st.integers(60, 3000))
        return draw(st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[{" * n]))
    if kind == "unbalanced":
        return draw(st.sampled_from(["[", "]]]", '{"a": [', '[{"name": "x"}']))
    if kind == "text":
        return _hostile_text(draw)
    if kind == "large":
        return json.dumps([{"name": "big", "description": "d" * draw(st.integers(100, 3000))}])
    return None


DEFECTS = ("none", "none", "none", "account_missing", "account_blank", "account_list", "time_missing",
           "time_bad", "time_old", "prompt_missing", "prompt_blank", "prompt_number", "too_long", "broken_line",
           "extra_fields")


def _defect_ok(defect: str, fmt: str) -> bool:
    if defect in ("account_list", "prompt_number") and not fmt.startswith(("jsonl", "ndjson")):
        return False  # a CSV cell or a Parquet string column is always text
    if defect in ("too_long", "broken_line") and fmt == "parquet":
        return False
    if defect == "extra_fields" and not fmt.startswith("csv"):
        return False
    return True


@st.composite
def row(draw, i: int, fmt: str) -> Row:
    defect = draw(st.sampled_from([d for d in DEFECTS if _defect_ok(d, fmt)]))
    values: dict[str, Any] = {
        "request_id": f"fz-{i}" if draw(st.integers(0, 4)) else None,
        "account_id": _hostile_text(draw, max_size=12),
        "timestamp": draw(st.sampled_from(GOOD_TIMES)),
        "prompt": f"{i} " + _hostile_text(draw),
        "system": _hostile_text(draw, min_letters=0) if draw(st.booleans()) else None,
        "tools": draw(tools_value()),
        "ip": draw(st.sampled_from([None, "10.0.0.1", " 2001:db8::1 ", "not an ip"])),
        "note": draw(JSON_VALUE) if draw(st.booleans()) else None,
    }
    if fmt != "parquet" and draw(st.integers(0, 5)) == 0:
        values["prompt"] += INVALID_UTF8
    return _with_defect(draw, values, defect, i)


def _with_defect(draw, values: dict[str, Any], defect: str, i: int) -> Row:
    blank = draw(st.sampled_from(["", " ", "\t \u3000", "\x00\x07 "]))
    expect = {"account": "account_id", "time": "timestamp", "prompt": "prompt"}.get(defect.split("_")[0], "_row")
    if defect == "none":
        return Row(values, "good")
    if defect == "account_missing":
        values["account_id"] = None
    elif defect == "account_blank":
        values["account_id"] = blank.replace("\x00", " ").replace("\x07", " ")  # ids keep control characters
    elif defect == "account_list":
        values["account_id"] = [values["account_id"]]
    elif defect == "time_missing":
        values["timestamp"] = None
    elif defect == "time_bad":
        values["timestamp"] = draw(st.sampled_from(BAD_TIMES))
    elif defect == "time_old":
        values["timestamp"] = draw(st.sampled_from(OLD_TIMES))
    elif defect == "prompt_missing":
        values["prompt"] = None
    elif defect == "prompt_blank":
        values["prompt"] = blank
    elif defect == "prompt_number":
        values["prompt"] = draw(st.integers() | st.floats(allow_nan=False))
    elif defect == "too_long":
        values["system"] = "s" * (LINE_CAP + draw(st.integers(1, 3000)))
    elif defect == "broken_line":
        return Row(values, "_row", raw=draw(st.sampled_from(['{"account_id": "x"', "[1, 2]", "null", "{]",
                                                            '"text"', "\x00{}"])))
    elif defect == "extra_fields":
        return Row(values, "_row", raw="a,b")
    return Row(values, expect)


@st.composite
def case(draw) -> Case:
    fmt = draw(st.sampled_from(FORMATS))
    n = draw(st.integers(1, 12))
    rows = [draw(row(i, fmt)) for i in range(n)]
    good = [i for i, r in enumerate(rows) if r.expect == "good"]
    dup = draw(st.lists(st.sampled_from(good), max_size=2)) if good else []
    damageable = fmt.endswith(".gz") or fmt == "parquet"
    damage = draw(st.sampled_from(["none"] * 6 + ["truncate", "flip"])) if damageable else "none"
    return Case(fmt, rows, dup, damage, draw(st.integers(0, 1 << 16)))


# --- writing a case ---------------------------------------------------------------------------------------

def _jsonl_record(values: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in values.items() if v is not None or k == "note"}, ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _csv_record(values: dict[str, Any]) -> str:
    out = io.StringIO()  # "\r\n" as the terminator: a field holding either is quoted
    csv.writer(out, lineterminator="\r\n").writerow([_cell(values.get(c)) for c in COLUMNS])
    return out.getvalue()[:-2]


def _encode(text: str) -> bytes:
    """UTF-8, lone surrogates as invalid bytes (mixed encodings), the marker as b"\\xff\\xfe"."""
    return text.encode("utf-8", "surrogatepass").replace(INVALID_UTF8.encode(), b"\xff\xfe")


def records(c: Case) -> list[Row]:
    """The rows in file order: the case's rows, then its exact duplicates."""
    return c.rows + [c.rows[i] for i in c.duplicate_of]


def file_bytes(c: Case) -> bytes:
    """The case's file (before any damage)."""
    if c.fmt == "parquet":
        return _parquet_bytes(records(c))
    if c.fmt.startswith("csv"):
        lines = [",".join(COLUMNS)] + [r.raw if r.raw is not None else _csv_record(r.values) for r in records(c)]
    else:
        lines = [r.raw if r.raw is not None else _jsonl_record(r.values) for r in records(c)]
    data = b"".join(_encode(line) + b"\n" for line in lines)
    return gzip.compress(data, mtime=0) if c.compressed else data


def _parquet_bytes(rows: list[Row]) -> bytes:
    columns = {c: pa.array([_parquet_value(r.values.get(c)) for r in rows], pa.string()) for c in COLUMNS}
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def _parquet_value(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def damaged(c: Case, data: bytes) -> bytes:
    """Broken compression or a damaged Parquet file: cut it short, or flip a byte past its
    header (a gzip's deflate stream; a Parquet file's pages or footer)."""
    if c.damage == "truncate":
        return data[: max(1, len(data) - 1 - c.flip_at % max(1, len(data) - 1))]
    if c.damage == "flip":
        out = bytearray(data)
        at = 10 + c.flip_at % max(1, len(out) - 18)  # past the header, before the trailer
        out[at] ^= 0xA5
        return bytes(out)
    return data


def write_case(c: Case, folder: Path, name: str) -> Path:
    path = folder / f"{name}{c.suffix}"
    path.write_bytes(damaged(c, file_bytes(c)))
    return path


def expected_line_too_long(c: Case, r: Row) -> bool:
    """Whether the row's record is longer than the cap (it then fails as ``_row``)."""
    if c.fmt == "parquet" or r.raw is not None:
        return False
    text = _csv_record(r.values) if c.fmt.startswith("csv") else _jsonl_record(r.values)
    return len(_encode(text)) > LINE_CAP


def outcome(c: Case) -> tuple[dict[str, int], dict[int, str], int]:
    """(request id -> row number of the good rows with an id, row number -> field named for
    each bad row, the number of good rows without an id). Row numbers are 1-based, in file
    order; a duplicate's row is neither (it is skipped as a duplicate)."""
    good: dict[str, int] = {}
    bad: dict[int, str] = {}
    hashed = 0
    for number, r in enumerate(c.rows, start=1):
        expect = "_row" if expected_line_too_long(c, r) else r.expect
        if expect != "good":
            bad[number] = expect
        elif r.values.get("request_id"):
            good[r.values["request_id"]] = number
        else:
            hashed += 1
    for k, i in enumerate(c.duplicate_of):
        if expected_line_too_long(c, c.rows[i]):
            bad[len(c.rows) + k + 1] = "_row"
    return good, bad, hashed

