"""Unit tests for targeting.ingest.rows: the format-independent normaliser on small hand-built
chunks (one validator per contract field, first problem reported, derived columns)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from targeting import schema as sc
from targeting.ingest.base import IngestBatch, IngestConfig
from targeting.ingest.rows import Chunk, Field, arrow_chunk, normalise, quarantine_table

PATH = Path("logs/day.csv")
T = "2024-03-01T12:00:00Z"
NOON = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)


def run(columns: dict, *, cfg: IngestConfig | None = None, rows=None, pre=(),
        empty_is_null: bool = True) -> IngestBatch:
    batch = pa.record_batch(columns)
    rows = np.arange(1, batch.num_rows + 1) if rows is None else np.asarray(rows)
    chunk = arrow_chunk(batch, rows, empty_is_null=empty_is_null, pre=list(pre))
    return normalise(chunk, PATH, cfg or IngestConfig())


def good_rows(columns: dict, **kw) -> list[dict]:
    out = run(columns, **kw)
    assert out.quarantine.num_rows == 0, out.quarantine.to_pylist()
    return out.good.to_pylist()


def problems(columns: dict, **kw) -> dict[int, tuple[str, str]]:
    q = run(columns, **kw).quarantine.to_pylist()
    return {r["row"]: (r["field"], r["reason"]) for r in q}


def ok(n: int = 1, **over) -> dict:
    cols = {sc.ACCOUNT_ID: ["acct"] * n, sc.TIMESTAMP: [T] * n, sc.PROMPT: ["hello"] * n}
    cols.update(over)
    return cols


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- a good row -------------------------------------------------------------------------------

def test_good_row_in_the_contract_schema():
    out = run(ok())
    assert out.good.schema == sc.REQUEST_SCHEMA
    assert out.quarantine.schema == sc.QUARANTINE_SCHEMA
    (row,) = out.good.to_pylist()
    assert (row[sc.ACCOUNT_ID], row[sc.TIMESTAMP], row[sc.PROMPT]) == ("acct", NOON, "hello")
    assert row[sc.DATE] == date(2024, 3, 1)
    assert row[sc.PROMPT_HASH] == sha("hello")
    assert row[sc.SYSTEM] is row[sc.TOOLS] is row[sc.IP] is row[sc.CONTEXT_HASH] is None
    assert row[sc.ACCOUNT_CREATED_AT] is None and row[sc.METADATA] is None


def test_good_rows_keep_their_file_row_numbers():
    out = run(ok(3, **{sc.PROMPT: ["a", "", "c"]}), rows=[10, 11, 12])
    assert out.good_rows.tolist() == [10, 12]
    assert out.quarantine.column("row").to_pylist() == [11]
    assert out.rows_read == 3


def test_date_is_the_utc_day():
    (row,) = good_rows(ok(**{sc.TIMESTAMP: ["2024-03-01T23:30:00-05:00"]}))
    assert row[sc.DATE] == date(2024, 3, 2)


# -- account_id -------------------------------------------------------------------------------

def test_account_id_nfc_normalised_and_trimmed_inner_characters_kept():
    (row,) = good_rows(ok(**{sc.ACCOUNT_ID: ["  e\u0301\u200bx \t"]}))
    assert row[sc.ACCOUNT_ID] == "\u00e9\u200bx"


def test_account_id_numbers_accepted():
    (row,) = good_rows(ok(**{sc.ACCOUNT_ID: pa.array([42], pa.int64())}))
    assert row[sc.ACCOUNT_ID] == "42"


@pytest.mark.parametrize("value,reason", [
    (None, "missing account_id"), ("", "missing account_id"), ("  \t", "missing account_id"),
])
def test_account_id_blank(value, reason):
    cols = ok(**{sc.ACCOUNT_ID: pa.array([value], pa.string())})
    assert problems(cols) == {1: (sc.ACCOUNT_ID, reason)}


def test_account_id_not_text():
    cols = ok(**{sc.ACCOUNT_ID: [True]})
    assert problems(cols) == {1: (sc.ACCOUNT_ID, "account_id is not text")}


# -- timestamp --------------------------------------------------------------------------------

@pytest.mark.parametrize("value,reason", [
    (None, "missing timestamp"),
    ("", "missing timestamp"),
    ("yesterday", "unparsable timestamp"),
    ("1989-12-31T23:59:59Z", "timestamp out of range (before 1990 or after 2100)"),
    ("2100-01-01T00:00:00Z", "timestamp out of range (before 1990 or after 2100)"),
])
def test_timestamp_problems(value, reason):
    cols = ok(**{sc.TIMESTAMP: pa.array([value], pa.string())})
    assert problems(cols) == {1: (sc.TIMESTAMP, reason)}


def test_timestamp_epoch_numbers():
    rows = good_rows(ok(2, **{sc.TIMESTAMP: [1_709_294_400, 1_709_294_400_000]}))
    assert [r[sc.TIMESTAMP] for r in rows] == [NOON, NOON]


# -- prompt -----------------------------------------------------------------------------------

def test_prompt_control_characters_removed_newlines_kept_and_hashed_clean():
    (row,) = good_rows(ok(**{sc.PROMPT: ["a\x00b\nc\td\x1b"]}))
    assert row[sc.PROMPT] == "ab\nc\td"
    assert row[sc.PROMPT_HASH] == sha("ab\nc\td")


def test_prompt_otherwise_kept_as_is():
    (row,) = good_rows(ok(**{sc.PROMPT: ["  spaced  "]}))
    assert row[sc.PROMPT] == "  spaced  "


@pytest.mark.parametrize("values,reason", [
    (pa.array([7], pa.int64()), "prompt is not text"),
    (pa.array([None], pa.string()), "prompt is not text"),
    (pa.array([["a"]], pa.list_(pa.string())), "prompt is not text"),
    (pa.array(["   "]), "empty prompt"),
    (pa.array(["\x00\x01"]), "empty prompt"),  # empty once cleaned
])
def test_prompt_problems(values, reason):
    assert problems(ok(**{sc.PROMPT: values})) == {1: (sc.PROMPT, reason)}


def test_prompt_size_cap_counts_characters_after_cleaning():
    cfg = IngestConfig(max_prompt_chars=5)
    cols = ok(3, **{sc.PROMPT: ["12345", "123456", "1234\x005"]})
    assert problems(cols, cfg=cfg) == {2: (sc.PROMPT, "prompt over size cap (5 chars)")}


def test_prompt_absent_key_is_missing_prompt():
    # a JSON Lines reader marks records without the key: "missing prompt", not "not text"
    chunk = Chunk(
        n=2, rows=np.array([1, 2]),
        cols={sc.ACCOUNT_ID: Field(pa.array(["a", "a"])), sc.TIMESTAMP: Field(pa.array([T, T])),
              sc.PROMPT: Field(pa.array([None, None], pa.string()),
                               absent=np.array([True, False]))},
        metadata=None, raw=lambda idx: ["{}"] * len(idx), pre_quarantine=[])
    q = normalise(chunk, PATH, IngestConfig()).quarantine.to_pylist()
    assert [(r["row"], r["reason"]) for r in q] == [(1, "missing prompt"), (2, "prompt is not text")]


def test_reader_bad_mask_flags_values_it_could_not_use():
    chunk = Chunk(
        n=2, rows=np.array([1, 2]),
        cols={sc.ACCOUNT_ID: Field(pa.array(["a", "b"]), bad=np.array([True, False])),
              sc.TIMESTAMP: Field(pa.array([T, T]), bad=np.array([False, True])),
              sc.PROMPT: Field(pa.array(["p", "p"]))},
        metadata=None, raw=lambda idx: ["{}"] * len(idx), pre_quarantine=[])
    q = normalise(chunk, PATH, IngestConfig()).quarantine.to_pylist()
    assert [(r["field"], r["reason"]) for r in q] == [
        (sc.ACCOUNT_ID, "account_id is not text"), (sc.TIMESTAMP, "unparsable timestamp")]


# -- first failing field, in the documented order ---------------------------------------------

def test_first_failing_field_reported_in_order():
    cols = {sc.ACCOUNT_ID: ["", "a", "a", "a"],
            sc.TIMESTAMP: ["junk", "junk", T, T],
            sc.PROMPT: ["", "", "", "fine"]}
    assert problems(cols) == {
        1: (sc.ACCOUNT_ID, "missing account_id"),
        2: (sc.TIMESTAMP, "unparsable timestamp"),
        3: (sc.PROMPT, "empty prompt"),
    }


def test_blank_prompt_reported_as_empty_not_over_cap():
    cfg = IngestConfig(max_prompt_chars=1)
    cols = ok(2, **{sc.PROMPT: ["   ", "ab"]})
    assert problems(cols, cfg=cfg) == {1: (sc.PROMPT, "empty prompt"),
                                       2: (sc.PROMPT, "prompt over size cap (1 chars)")}


@pytest.mark.parametrize("drop", [sc.ACCOUNT_ID, sc.TIMESTAMP, sc.PROMPT])
def test_missing_required_column_flags_every_row(drop):
    cols = ok(2)
    del cols[drop]
    assert problems(cols) == {1: (drop, "column missing"), 2: (drop, "column missing")}


def test_missing_account_column_reported_before_missing_prompt_column():
    assert problems({sc.TIMESTAMP: [T]}) == {1: (sc.ACCOUNT_ID, "column missing")}


# -- quarantine -------------------------------------------------------------------------------

def test_quarantine_raw_is_the_row_with_prompt_cut():
    long = "x" * 500
    q = run(ok(**{sc.TIMESTAMP: ["junk"], sc.PROMPT: [long], "extra": ["e"]})).quarantine
    (rec,) = q.to_pylist()
    assert rec["file"] == str(PATH)
    assert json.loads(rec["raw"]) == {sc.ACCOUNT_ID: "acct", sc.TIMESTAMP: "junk",
                                      sc.PROMPT: "x" * 200 + "…", "extra": "e"}


def test_reader_quarantine_merged_sorted_by_row_and_counted():
    pre = [(4, "_row", "invalid JSON", '"{"')]
    out = run(ok(2, **{sc.PROMPT: ["p", ""]}), rows=[3, 5], pre=pre)
    assert out.quarantine.column("row").to_pylist() == [4, 5]
    assert out.rows_read == 3
    assert out.good.num_rows + out.quarantine.num_rows == out.rows_read


def test_all_rows_bad_gives_empty_good_table():
    out = run(ok(2, **{sc.PROMPT: ["", " "]}))
    assert out.good.num_rows == 0 and out.good.schema == sc.REQUEST_SCHEMA
    assert out.good_rows.tolist() == []


def test_quarantine_table_sorted_with_schema():
    t = quarantine_table(PATH, [(9, "f", "r", "b\udc80"), (2, "f", "r", "a")])
    assert t.schema == sc.QUARANTINE_SCHEMA
    assert t.column("row").to_pylist() == [2, 9]
    assert t.column("raw").to_pylist() == ["a", "b\ufffd"]


# -- optional columns -------------------------------------------------------------------------

def test_optional_text_columns():
    (row,) = good_rows(ok(**{sc.SYSTEM: [" be\x00 brief "], sc.IP: [" 10.0.0.1 "],
                             sc.REQUEST_ID: [" r-1 "]}))
    assert row[sc.SYSTEM] == " be brief "  # controls removed, spaces kept
    assert row[sc.IP] == "10.0.0.1"
    assert row[sc.REQUEST_ID] == "r-1"


def test_empty_optional_values_become_null():
    (row,) = good_rows(ok(**{sc.SYSTEM: [""], sc.TOOLS: ["  "], sc.IP: [""],
                             sc.REQUEST_ID: ["  "]}))
    assert row[sc.SYSTEM] is row[sc.TOOLS] is row[sc.IP] is None
    assert row[sc.REQUEST_ID].startswith("h-")


def test_tools_canonicalised_whatever_the_spelling():
    rows = good_rows(ok(2, **{sc.TOOLS: ['[{"name": "f", "p": 1.0}]', '[{"p":1,"name":"f"}]']}))
    assert rows[0][sc.TOOLS] == rows[1][sc.TOOLS] == '[{"name":"f","p":1}]'
    assert rows[0][sc.CONTEXT_HASH] == rows[1][sc.CONTEXT_HASH]


def test_structured_tools_become_canonical_json():
    tools = pa.array([[{"name": "f", "d": None}]], pa.list_(pa.struct([("name", pa.string()),
                                                                       ("d", pa.string())])))
    (row,) = good_rows(ok(**{sc.TOOLS: tools}))
    assert row[sc.TOOLS] == '[{"name":"f"}]'


def test_account_created_at_parsed_or_null():
    rows = good_rows(ok(3, **{sc.ACCOUNT_CREATED_AT: ["2023-01-01T00:00:00Z", "junk", "1970-01-01"]}))
    assert [r[sc.ACCOUNT_CREATED_AT] for r in rows] == [
        datetime(2023, 1, 1, tzinfo=timezone.utc), None, None]


# -- derived: context hash, request id, metadata ----------------------------------------------

def test_context_hash_of_system_and_tools():
    rows = good_rows(ok(3, **{sc.SYSTEM: ["sys", None, "sys"], sc.TOOLS: [None, "t", "t"]}))
    assert [r[sc.CONTEXT_HASH] for r in rows] == [
        sha("sys\x1f"), sha("\x1ft"), sha("sys\x1ft")]


def test_context_hash_null_without_context_and_same_for_same_pair():
    rows = good_rows(ok(3, **{sc.SYSTEM: [None, "s", "s"]}))
    assert rows[0][sc.CONTEXT_HASH] is None
    assert rows[1][sc.CONTEXT_HASH] == rows[2][sc.CONTEXT_HASH] == sha("s\x1f")


def test_request_id_derived_from_content_when_absent():
    (row,) = good_rows(ok(**{sc.ACCOUNT_ID: [" acct "], sc.SYSTEM: ["s"], sc.TOOLS: ["x"]}))
    key = "\x1f".join(["acct", "2024-03-01T12:00:00.000000Z", "hello", "s", "x"])
    assert row[sc.REQUEST_ID] == "h-" + sha(key)[:32]


def test_derived_request_id_without_context_uses_empty_parts():
    (row,) = good_rows(ok(**{sc.TIMESTAMP: ["2024-03-01T12:00:00.5Z"]}))
    key = "\x1f".join(["acct", "2024-03-01T12:00:00.500000Z", "hello", "", ""])
    assert row[sc.REQUEST_ID] == "h-" + sha(key)[:32]


def test_derived_request_ids_differ_by_content_and_given_ids_kept():
    rows = good_rows(ok(3, **{sc.PROMPT: ["a", "b", "a"], sc.REQUEST_ID: [None, None, "given"]}))
    ids = [r[sc.REQUEST_ID] for r in rows]
    assert ids[0] != ids[1] and ids[2] == "given"
    assert all(i.startswith("h-") and len(i) == 34 for i in ids[:2])


def test_metadata_of_extra_columns_sorted_and_null_when_none():
    rows = good_rows(ok(2, zeta=["z", None], alpha=[1, None]))
    assert rows[0][sc.METADATA] == '{"alpha":1,"zeta":"z"}'
    assert rows[1][sc.METADATA] is None


def test_metadata_empty_text_is_null_or_kept():
    assert good_rows(ok(extra=[""]))[0][sc.METADATA] is None
    assert good_rows(ok(extra=[""]), empty_is_null=False)[0][sc.METADATA] == '{"extra":""}'
