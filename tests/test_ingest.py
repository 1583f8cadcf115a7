"""Tests for targeting.ingest: reading, validation, quarantine (all data made in tmp_path)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targeting.ingest import csv_reader
from targeting import schema as sc
from targeting.errors import InputError
from targeting.ingest import IngestBatch, IngestConfig, expand_inputs, iter_batches

UTC = timezone.utc

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def rows_ok(n: int = 5) -> list[dict]:
    return [
        {
            sc.ACCOUNT_ID: f"acct-{i % 2}",
            sc.TIMESTAMP: f"2026-11-02T10:00:0{i}Z",
            sc.PROMPT: f"prompt number {i}",
            sc.SYSTEM: "be brief" if i % 2 else None,
            sc.IP: f"10.0.0.{i}",
        }
        for i in range(n)
    ]


def write_jsonl(path: Path, rows: list, *, gz: bool = False) -> Path:
    data = b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows
    )
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return path


def read_all(
    files, config: IngestConfig | None = None
) -> tuple[pa.Table, pa.Table, list[IngestBatch]]:
    batches = list(iter_batches([Path(f) for f in files], config or IngestConfig()))
    for b in batches:
        assert b.good.schema.equals(sc.REQUEST_SCHEMA, check_metadata=False)
        assert b.quarantine.schema.equals(sc.QUARANTINE_SCHEMA, check_metadata=False)
        assert b.good.num_rows + b.quarantine.num_rows == b.rows_read
    good = pa.concat_tables([sc.REQUEST_SCHEMA.empty_table()] + [b.good for b in batches])
    quar = pa.concat_tables([sc.QUARANTINE_SCHEMA.empty_table()] + [b.quarantine for b in batches])
    return good, quar, batches


def quarantined(quar: pa.Table) -> dict[int, tuple[str, str]]:
    return {r["row"]: (r["field"], r["reason"]) for r in quar.to_pylist()}


def expected_request_id(account: str, ts: datetime, prompt: str, system: str | None = None,
                        tools: str | None = None) -> str:
    iso = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    key = "\x1f".join([account, iso, prompt, system or "", tools or ""])
    return "h-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def assert_good_rows_valid(good: pa.Table) -> None:
    for r in good.to_pylist():
        assert r[sc.REQUEST_ID]
        assert r[sc.ACCOUNT_ID] and r[sc.ACCOUNT_ID] == r[sc.ACCOUNT_ID].strip()
        p = r[sc.PROMPT]
        assert isinstance(p, str) and p.strip()
        assert not any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in p)
        p.encode("utf-8")  # no lone surrogates
        ts = r[sc.TIMESTAMP]
        assert datetime(1990, 1, 1, tzinfo=UTC) <= ts < datetime(2100, 1, 1, tzinfo=UTC)
        assert r[sc.DATE] == ts.astimezone(UTC).date()
        assert r[sc.PROMPT_HASH] == hashlib.sha256(p.encode()).hexdigest()
        if r[sc.METADATA] is not None:
            assert isinstance(json.loads(r[sc.METADATA]), dict)
    for name in (sc.REQUEST_ID, sc.ACCOUNT_ID, sc.TIMESTAMP, sc.PROMPT, sc.PROMPT_HASH, sc.DATE):
        assert good.column(name).null_count == 0


# --------------------------------------------------------------------------------------
# config and expansion
# --------------------------------------------------------------------------------------


def test_config_defaults_and_validation():
    cfg = IngestConfig()
    assert (cfg.batch_rows, cfg.max_prompt_chars, cfg.max_bad_share) == (50_000, 200_000, 0.05)
    with pytest.raises(ValueError):
        IngestConfig(batch_rows=0)
    with pytest.raises(ValueError):
        IngestConfig(max_bad_share=1.5)
    assert issubclass(InputError, ValueError)


def test_expand_folder_recursive_and_glob(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    f1 = write_jsonl(tmp_path / "a" / "x.jsonl", rows_ok(1))
    f2 = write_csv(tmp_path / "a" / "b" / "y.csv", rows_ok(1))
    f3 = write_jsonl(tmp_path / "a" / "b" / "z.jsonl.gz", rows_ok(1), gz=True)
    pq.write_table(pa.Table.from_pylist(rows_ok(1)), tmp_path / "a" / "w.parquet")
    f4 = tmp_path / "a" / "w.parquet"
    (tmp_path / "a" / "README.txt").write_text("not data")
    (tmp_path / "a" / "_SUCCESS").write_text("")
    write_jsonl(tmp_path / "a" / ".hidden.jsonl", rows_ok(1))

    got = expand_inputs([tmp_path / "a"])
    assert got == sorted([f1.resolve(), f2.resolve(), f3.resolve(), f4.resolve()], key=str)

    # globs (plain and recursive), duplicates collapse, result is sorted
    got = expand_inputs([str(tmp_path / "a" / "*.jsonl"), str(tmp_path / "a" / "**" / "*.csv"),
                         str(f1)])
    assert got == sorted([f1.resolve(), f2.resolve()], key=str)
    assert expand_inputs(str(f2)) == [f2.resolve()]


def test_expand_errors(tmp_path):
    bad = tmp_path / "data.txt"
    bad.write_text("x")
    with pytest.raises(InputError, match="data.txt"):
        expand_inputs([bad])
    with pytest.raises(InputError, match="nope.jsonl"):
        expand_inputs([tmp_path / "nope.jsonl"])
    with pytest.raises(InputError, match=r"\*\.parquet"):
        expand_inputs([str(tmp_path / "*.parquet")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty"):
        expand_inputs([tmp_path / "empty"])
    try:
        expand_inputs([bad])
    except InputError as exc:
        assert "\n" not in str(exc)
    with pytest.raises(InputError):
        list(iter_batches([bad], IngestConfig()))


# --------------------------------------------------------------------------------------
# formats round-trip
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "jsonl.gz", "csv", "csv.gz"])
def test_round_trip_each_format(tmp_path, fmt):
    rows = rows_ok(5)
    path = tmp_path / f"logs.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt.startswith("jsonl"):
        write_jsonl(path, rows, gz=fmt.endswith("gz"))
    else:
        plain = write_csv(tmp_path / "plain.csv", rows)
        if fmt.endswith("gz"):
            path.write_bytes(gzip.compress(plain.read_bytes()))
        else:
            path = plain
    good, quar, batches = read_all([path])
    assert quar.num_rows == 0
    assert sum(b.rows_read for b in batches) == 5
    assert all(b.source == path for b in batches)
    for name in (sc.ACCOUNT_ID, sc.PROMPT, sc.SYSTEM, sc.IP):
        assert good.column(name).to_pylist() == [r[name] for r in rows]
    assert [t.isoformat() for t in good.column(sc.TIMESTAMP).to_pylist()] == [
        f"2026-11-02T10:00:0{i}+00:00" for i in range(5)
    ]
    assert good.column(sc.METADATA).null_count == 5
    assert good.column(sc.DATE).to_pylist()[0].isoformat() == "2026-11-02"
    # the same rows give the same ids and hashes whatever the format
    first = rows[0]
    ts = datetime(2026, 11, 2, 10, 0, 0, tzinfo=UTC)
    assert good.column(sc.REQUEST_ID)[0].as_py() == expected_request_id(
        first[sc.ACCOUNT_ID], ts, first[sc.PROMPT])
    assert good.column(sc.CONTEXT_HASH)[0].as_py() is None
    assert good.column(sc.CONTEXT_HASH)[1].as_py() == hashlib.sha256(
        "be brief\x1f".encode()).hexdigest()
    assert_good_rows_valid(good)


def test_all_formats_agree(tmp_path):
    rows = rows_ok(6)
    for r in rows:
        r["tools"] = json.dumps([{"name": "f", "parameters": {"b": 1, "a": 2}}])
        r["client"] = "sdk 1.2"
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    write_jsonl(tmp_path / "a.jsonl", rows)
    write_csv(tmp_path / "a.csv", rows)
    tables = [read_all([tmp_path / f"a.{ext}"])[0] for ext in ("parquet", "jsonl", "csv")]
    for t in tables[1:]:
        assert t.equals(tables[0])
    assert tables[0].column(sc.TOOLS)[0].as_py() == '[{"name":"f","parameters":{"a":2,"b":1}}]'
    assert tables[0].column(sc.METADATA)[0].as_py() == '{"client":"sdk 1.2"}'


def test_jsonl_fast_and_fallback_paths_agree(tmp_path):
    """The Arrow JSON fast path and the line-by-line path give the same rows."""
    rows = [
        {sc.ACCOUNT_ID: "a", sc.TIMESTAMP: "2026-01-02T03:04:05+02:00", sc.PROMPT: "hi",
         sc.TOOLS: [{"name": "f", "x": 1.0}, {"name": "g", "y": None, "z": [1, 2.5]}],
         "client": {"v": 2, "n": None}, "seen": "2026-01-01T00:00:00", "k": 1.5, "flag": True,
         "note": 'say "hi"\n'},
        {sc.ACCOUNT_ID: "b", sc.TIMESTAMP: "2026-01-02", sc.PROMPT: "yo", sc.REQUEST_ID: " r1 ",
         sc.ACCOUNT_CREATED_AT: "2025-12-01T00:00:00Z", "seen": "2026-01-01 00:00:00"},
        {sc.ACCOUNT_ID: "c", sc.TIMESTAMP: "2026-01-02 10:00", sc.PROMPT: None},
        {sc.ACCOUNT_ID: "d", sc.TIMESTAMP: "2026-01-02 10:00"},
    ]
    fast = write_jsonl(tmp_path / "fast.jsonl", rows)
    slow = write_jsonl(tmp_path / "slow.jsonl", rows + [b"{not json"])
    g1, q1, _ = read_all([fast])
    g2, q2, _ = read_all([slow])
    assert g1.equals(g2)
    assert quarantined(q1) == {3: (sc.PROMPT, "prompt is not text"),
                               4: (sc.PROMPT, "missing prompt")}
    assert quarantined(q2) == {**quarantined(q1), 5: ("_row", "invalid JSON")}
    r0, r1 = g1.to_pylist()
    assert r0[sc.TOOLS] == '[{"name":"f","x":1},{"name":"g","z":[1,2.5]}]'
    assert json.loads(r0[sc.METADATA]) == {"client": {"v": 2}, "seen": "2026-01-01T00:00:00",
                                           "k": 1.5, "flag": True, "note": 'say "hi"\n'}
    assert list(json.loads(r0[sc.METADATA])) == sorted(json.loads(r0[sc.METADATA]))
    assert r0[sc.TIMESTAMP] == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert r1[sc.REQUEST_ID] == "r1"
    assert r1[sc.ACCOUNT_CREATED_AT] == datetime(2025, 12, 1, tzinfo=UTC)
    assert r1[sc.METADATA] == '{"seen":"2026-01-01 00:00:00"}'


def test_parquet_types(tmp_path):
    berlin = pd.Timestamp("2026-06-01 12:00", tz="Europe/Berlin")
    table = pa.table({
        sc.ACCOUNT_ID: pa.array([7, 8, 9], pa.int64()),
        sc.TIMESTAMP: pa.array([berlin, berlin, berlin], pa.timestamp("ns", tz="Europe/Berlin")),
        sc.PROMPT: pa.array(["a", "b", "c"]).dictionary_encode(),
        sc.TOOLS: pa.array([[{"name": "f", "d": None}], None, []]),
        sc.ACCOUNT_CREATED_AT: pa.array([datetime(2020, 1, 1), None, datetime(1800, 1, 1)],
                                        pa.timestamp("us")),
        "score": pa.array([1.0, None, 2.5]),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    good, quar, _ = read_all([tmp_path / "t.parquet"])
    assert quar.num_rows == 0
    r = good.to_pylist()
    assert [x[sc.ACCOUNT_ID] for x in r] == ["7", "8", "9"]
    assert r[0][sc.TIMESTAMP] == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert [x[sc.TOOLS] for x in r] == ['[{"name":"f"}]', None, "[]"]
    assert [x[sc.ACCOUNT_CREATED_AT] for x in r] == [datetime(2020, 1, 1, tzinfo=UTC), None, None]
    assert [x[sc.METADATA] for x in r] == ['{"score":1}', None, '{"score":2.5}']
    naive = pa.table({sc.ACCOUNT_ID: ["a"], sc.TIMESTAMP: pa.array([datetime(2026, 1, 1, 5)]),
                      sc.PROMPT: [5]})
    pq.write_table(naive, tmp_path / "n.parquet")
    good, quar, _ = read_all([tmp_path / "n.parquet"])
    assert quarantined(quar) == {1: (sc.PROMPT, "prompt is not text")}


# --------------------------------------------------------------------------------------
# bad rows
# --------------------------------------------------------------------------------------


def test_bad_rows_quarantined_good_rows_go_on(tmp_path):
    rows = [
        {sc.ACCOUNT_ID: "ok", sc.TIMESTAMP: "2026-11-02T10:00:00Z", sc.PROMPT: "fine"},  # 1
        {sc.TIMESTAMP: "2026-11-02T10:00:00Z", sc.PROMPT: "no account"},  # 2
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: "yesterday-ish", sc.PROMPT: "bad time"},  # 3
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: "2026-11-02", sc.PROMPT: 12345},  # 4
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: "2026-11-02", sc.PROMPT: ""},  # 5
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: "2026-11-02", sc.PROMPT: " \n\t \x00 "},  # 6
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: "2026-11-02", sc.PROMPT: "y" * 1_000_000},  # 7
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: "1989-12-31T23:59:59Z", sc.PROMPT: "old"},  # 8
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: None, sc.PROMPT: "no time"},  # 9
        {sc.ACCOUNT_ID: ["x"], sc.TIMESTAMP: "2026-11-02", sc.PROMPT: "list id"},  # 10
        {sc.ACCOUNT_ID: "x", sc.TIMESTAMP: "2026-11-02", sc.PROMPT: ["a"]},  # 11
        {sc.ACCOUNT_ID: "ok2", sc.TIMESTAMP: 1_700_000_000, sc.PROMPT: "fine too"},  # 12
    ]
    expected = {
        2: (sc.ACCOUNT_ID, "missing account_id"),
        3: (sc.TIMESTAMP, "unparsable timestamp"),
        4: (sc.PROMPT, "prompt is not text"),
        5: (sc.PROMPT, "empty prompt"),
        6: (sc.PROMPT, "empty prompt"),
        7: (sc.PROMPT, "prompt over size cap (200000 chars)"),
        8: (sc.TIMESTAMP, "timestamp out of range (before 1990 or after 2100)"),
        9: (sc.TIMESTAMP, "missing timestamp"),
        10: (sc.ACCOUNT_ID, "account_id is not text"),
        11: (sc.PROMPT, "prompt is not text"),
    }
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    good, quar, _ = read_all([path])
    assert quarantined(quar) == expected
    assert good.column(sc.ACCOUNT_ID).to_pylist() == ["ok", "ok2"]
    assert set(quar.column("file").to_pylist()) == {str(path)}
    raws = {r["row"]: json.loads(r["raw"]) for r in quar.to_pylist()}
    assert len(raws[7][sc.PROMPT]) <= 201  # prompt truncated in the raw copy
    assert raws[4] == rows[3]

    # the same in CSV (every value is text there: a numeric prompt is text)
    csv_rows = [r for i, r in enumerate(rows, 1) if i not in (10, 11)]
    good, quar, _ = read_all([write_csv(tmp_path / "bad.csv", csv_rows)])
    q = quarantined(quar)
    assert q[2] == (sc.ACCOUNT_ID, "missing account_id")
    assert q[3] == (sc.TIMESTAMP, "unparsable timestamp")
    assert 4 not in q and q[5][0] == q[6][0] == q[7][0] == sc.PROMPT
    assert q[9] == (sc.TIMESTAMP, "missing timestamp")
    assert good.column(sc.PROMPT).to_pylist() == ["fine", "12345", "fine too"]


def test_small_prompt_cap(tmp_path):
    rows = [{sc.ACCOUNT_ID: "a", sc.TIMESTAMP: "2026-01-01", sc.PROMPT: "x" * n} for n in (10, 11)]
    good, quar, _ = read_all([write_jsonl(tmp_path / "c.jsonl", rows)],
                             IngestConfig(max_prompt_chars=10))
    assert good.num_rows == 1
    assert quarantined(quar) == {2: (sc.PROMPT, "prompt over size cap (10 chars)")}


def test_control_characters_stripped(tmp_path):
    text = "a\x00b\x07c\nd\te\r\x7ff\x85g\x1bh é€"
    rows = [{sc.ACCOUNT_ID: "a", sc.TIMESTAMP: "2026-01-01", sc.PROMPT: text,
             sc.SYSTEM: "s\x00ys"}]
    for path in (write_jsonl(tmp_path / "c.jsonl", rows), write_csv(tmp_path / "c.csv", rows)):
        good, quar, _ = read_all([path])
        assert quar.num_rows == 0
        assert good.column(sc.PROMPT)[0].as_py() == "abc\nd\te\rfgh é€"
        assert good.column(sc.SYSTEM)[0].as_py() == "sys"
        assert good.column(sc.PROMPT_HASH)[0].as_py() == hashlib.sha256(
            "abc\nd\te\rfgh é€".encode()).hexdigest()


def test_invalid_utf8_and_invalid_json_lines(tmp_path):
    lines = [
        b'{"account_id": "a", "timestamp": "2026-01-01", "prompt": "caf\xc3 \xff ok"}',
        b"{this is not json",
        b"",
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"account_id": "b", "timestamp": "2026-01-01", "prompt": "lone \\udc80 surrogate"}',
        b'{"account_id": "c", "timestamp": "2026-01-01", "prompt": "trailing"} junk',
    ]
    path = tmp_path / "u.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    good, quar, batches = read_all([path])
    assert sum(b.rows_read for b in batches) == 6  # the blank line is not a row
    assert good.column(sc.PROMPT).to_pylist() == ["caf\ufffd \ufffd ok", "lone \ufffd surrogate"]
    assert quarantined(quar) == {2: ("_row", "invalid JSON"), 4: ("_row", "invalid JSON"),
                                 5: ("_row", "invalid JSON"), 7: ("_row", "invalid JSON")}
    assert all(r is not None for r in quar.column("raw").to_pylist())


def test_invalid_utf8_in_csv_and_parquet(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes(b"account_id,timestamp,prompt\na\xff,2026-01-01,caf\xc3 ok\n")
    good, quar, _ = read_all([path])
    assert quar.num_rows == 0
    assert good.column(sc.PROMPT).to_pylist() == ["caf\ufffd ok"]
    assert good.column(sc.ACCOUNT_ID).to_pylist() == ["a\ufffd"]
    table = pa.table({sc.ACCOUNT_ID: ["a"], sc.TIMESTAMP: ["2026-01-01"],
                      sc.PROMPT: pa.array([b"bad \xff byte"], pa.binary())})
    pq.write_table(table, tmp_path / "u.parquet")
    good, quar, _ = read_all([tmp_path / "u.parquet"])
    assert good.column(sc.PROMPT).to_pylist() == ["bad \ufffd byte"]


def test_malformed_csv_record(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "account_id,timestamp,prompt\n"
        "a,2026-01-01,one\n"
        'a,2026-01-01,"two\nlines"\n'
        "a,2026-01-01,three,EXTRA\n"
        "a,2026-01-01\n"
        "a,2026-01-01,five\n"
    )
    good, quar, batches = read_all([path])
    assert sum(b.rows_read for b in batches) == 5
    assert good.column(sc.PROMPT).to_pylist() == ["one", "two\nlines", "five"]
    q = quarantined(quar)
    assert set(q) == {3, 4}
    assert q[3][0] == "_row" and "malformed CSV record" in q[3][1]
    assert "three,EXTRA" in json.loads(quar.to_pylist()[0]["raw"])


def test_a_required_column_missing_from_the_file_is_named_not_counted_as_bad_rows(tmp_path):
    """A CSV header or Parquet schema without a required column is unusable input naming the
    file and the column (exit 2 at the command line), not N rows quarantined and "N of N
    rows are malformed"; checked on the first block, so nothing of the file is read on."""
    no_account = [{sc.TIMESTAMP: "2026-01-01", sc.PROMPT: "p"}] * 3
    no_prompt = [{sc.ACCOUNT_ID: "a", sc.TIMESTAMP: "2026-01-01", "text": "p"}] * 2
    pq.write_table(pa.Table.from_pylist(no_prompt), tmp_path / "m.parquet")
    files = {write_csv(tmp_path / "m.csv", no_account): sc.ACCOUNT_ID, tmp_path / "m.parquet": sc.PROMPT}
    for path, column in files.items():
        with pytest.raises(InputError) as err:
            read_all([path], IngestConfig(batch_rows=1))
        assert str(err.value) == f"{path}: column `{column}` is missing"
    header_only = tmp_path / "empty.csv"
    header_only.write_text("account_id,timestamp\n")  # no rows: nothing to judge, nothing read
    good, quar, _ = read_all([header_only])
    assert good.num_rows == quar.num_rows == 0


def test_json_lines_have_no_header_so_a_record_without_a_key_is_a_bad_row(tmp_path):
    rows = [{sc.ACCOUNT_ID: "a", sc.TIMESTAMP: "2026-01-01T00:00:00Z"}] + rows_ok(3)
    good, quar, _ = read_all([write_jsonl(tmp_path / "some.jsonl", rows)], IngestConfig(batch_rows=1))
    assert good.num_rows == 3 and quarantined(quar) == {1: (sc.PROMPT, "missing prompt")}


def test_csv_text_is_kept_verbatim(tmp_path):
    """No type inference: ids keep leading zeros, "NA"/"null" are text."""
    rows = [{sc.ACCOUNT_ID: "007", sc.TIMESTAMP: "2026-01-01", sc.PROMPT: "NA", "extra": "null"}]
    good, _, _ = read_all([write_csv(tmp_path / "v.csv", rows)])
    r = good.to_pylist()[0]
    assert (r[sc.ACCOUNT_ID], r[sc.PROMPT], r[sc.METADATA]) == ("007", "NA", '{"extra":"null"}')


def test_csv_record_larger_than_block(tmp_path, monkeypatch):
    """A record larger than Arrow's block: the file is read again with bigger blocks and
    every row still comes out exactly once, with its own row number."""
    monkeypatch.setattr(csv_reader, "CSV_BLOCK", 4096)
    rows = [{sc.ACCOUNT_ID: "a", sc.TIMESTAMP: "2026-01-01", sc.PROMPT: f"p{i}"}
            for i in range(300)]
    rows[150][sc.PROMPT] = "big " * 5000
    path = write_csv(tmp_path / "big.csv", rows)
    lines = path.read_text().splitlines()
    for at in (290, 152, 100, 3):  # malformed records before and after the big one
        lines.insert(at, "too,many,fields,here")
    path.write_text("\n".join(lines) + "\n")
    good, quar, batches = read_all([path], IngestConfig(batch_rows=40))
    assert good.column(sc.PROMPT).to_pylist() == [r[sc.PROMPT] for r in rows]
    assert sum(b.rows_read for b in batches) == 304
    assert sorted(quar.column("row").to_pylist()) == [3, 101, 154, 293]  # later inserts shift
    assert set(quar.column("field").to_pylist()) == {"_row"}


def test_jsonl_block_with_one_bad_line(tmp_path):
    """One odd line does not send a whole block down the slow path, and changes nothing."""
    rows = [{sc.ACCOUNT_ID: f"a{i % 7}", sc.TIMESTAMP: 1_700_000_000 + i, sc.PROMPT: f"p {i}",
             sc.TOOLS: [{"name": "t", "n": i % 3}], "k": i} for i in range(3000)]
    clean = write_jsonl(tmp_path / "clean.jsonl", rows)
    dirty = write_jsonl(tmp_path / "dirty.jsonl", rows[:1234] + [b'{"broken": '] + rows[1234:])
    g1, q1, _ = read_all([clean])
    g2, q2, b2 = read_all([dirty])
    assert g1.equals(g2)
    assert quarantined(q2) == {1235: ("_row", "invalid JSON")}
    assert q1.num_rows == 0 and len(b2) == 1 and b2[0].rows_read == 3001


def test_jsonl_numbers_then_text_across_batches(tmp_path):
    times = [1_700_000_000, 1_700_000_001, "2026-01-01T00:00:00Z", "2026-01-02", 1_700_000_002_000]
    rows = [{sc.ACCOUNT_ID: i, sc.TIMESTAMP: t, sc.PROMPT: "p"} for i, t in enumerate(times)]
    good, quar, batches = read_all([write_jsonl(tmp_path / "n.jsonl", rows)],
                                   IngestConfig(batch_rows=2))
    assert quar.num_rows == 0 and len(batches) == 3
    assert good.column(sc.ACCOUNT_ID).to_pylist() == ["0", "1", "2", "3", "4"]
    assert [t.isoformat() for t in good.column(sc.TIMESTAMP).to_pylist()] == [
        "2023-11-14T22:13:20+00:00", "2023-11-14T22:13:21+00:00", "2026-01-01T00:00:00+00:00",
        "2026-01-02T00:00:00+00:00", "2023-11-14T22:13:22+00:00"]


def test_empty_files(tmp_path):
    (tmp_path / "e.jsonl").write_bytes(b"\n\n")
    (tmp_path / "e.csv").write_bytes(b"")
    (tmp_path / "h.csv").write_text("account_id,timestamp,prompt\n")
    pq.write_table(pa.Table.from_pylist([], schema=pa.schema([(sc.PROMPT, pa.string())])),
                   tmp_path / "e.parquet")
    files = [tmp_path / n for n in ("e.jsonl", "e.csv", "h.csv", "e.parquet")]
    good, quar, batches = read_all(files)
    assert good.num_rows == quar.num_rows == 0
    assert [b.source for b in batches] == files
    assert all(b.rows_read == 0 for b in batches)


def test_unreadable_files_raise_input_error(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="x.parquet"):
        list(iter_batches([tmp_path / "x.parquet"], IngestConfig()))
    data = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows_ok(50)))
    (tmp_path / "t.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="t.jsonl.gz"):
        list(iter_batches([tmp_path / "t.jsonl.gz"], IngestConfig()))
    with pytest.raises(InputError, match="gone.jsonl"):
        list(iter_batches([tmp_path / "gone.jsonl"], IngestConfig()))


# --------------------------------------------------------------------------------------
# timestamps
# --------------------------------------------------------------------------------------


def test_timestamp_forms(tmp_path):
    values = [
        ("2026-11-02T10:00:00Z", datetime(2026, 11, 2, 10, tzinfo=UTC)),
        ("2026-11-02 10:00:00+02:00", datetime(2026, 11, 2, 8, tzinfo=UTC)),
        ("2026-11-02", datetime(2026, 11, 2, tzinfo=UTC)),
        ("2026-11-02T10:00:00", datetime(2026, 11, 2, 10, tzinfo=UTC)),  # no zone = UTC
        ("2026-11-02T10:00:00.250-05:00", datetime(2026, 11, 2, 15, 0, 0, 250000, tzinfo=UTC)),
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # epoch seconds
        (1_700_000_000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (1_700_000_000_123, datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),  # millis
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000123", datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),
        (" 2026-11-02T10:00:00Z ", datetime(2026, 11, 2, 10, tzinfo=UTC)),
        ("2099-12-31T23:59:59Z", datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ]
    bad = ["2026-13-01", "not a time", "1989-06-01", "2100-01-01T00:00:00Z", -5, 5e9, "1e400",
           "NaN", True]
    rows = [{sc.ACCOUNT_ID: "a", sc.TIMESTAMP: v, sc.PROMPT: f"p{i}"}
            for i, v in enumerate([v for v, _ in values] + bad)]
    good, quar, _ = read_all([write_jsonl(tmp_path / "t.jsonl", rows)])
    assert good.column(sc.TIMESTAMP).to_pylist() == [t for _, t in values]
    q = quarantined(quar)
    assert sorted(q) == list(range(len(values) + 1, len(rows) + 1))
    assert {f for f, _ in q.values()} == {sc.TIMESTAMP}
    # every form in a mixed CSV column (everything is text there)
    good, quar, _ = read_all([write_csv(tmp_path / "t.csv", rows[: len(values)])])
    assert good.column(sc.TIMESTAMP).to_pylist() == [t for _, t in values]
    # epoch numbers in a Parquet column, and a date column
    pq.write_table(pa.table({sc.ACCOUNT_ID: ["a", "b"],
                             sc.TIMESTAMP: [1_700_000_000, 1_700_000_000_123],
                             sc.PROMPT: ["x", "y"]}), tmp_path / "e.parquet")
    good, _, _ = read_all([tmp_path / "e.parquet"])
    assert good.column(sc.TIMESTAMP).to_pylist() == [values[5][1], values[7][1]]


def test_account_created_at_is_optional_and_lenient(tmp_path):
    rows = [{sc.ACCOUNT_ID: "a", sc.TIMESTAMP: "2026-01-01", sc.PROMPT: "p",
             sc.ACCOUNT_CREATED_AT: v} for v in ("2025-01-01", "garbage", 1_600_000_000, None, [1])]
    good, quar, _ = read_all([write_jsonl(tmp_path / "c.jsonl", rows)])
    assert quar.num_rows == 0
    assert good.column(sc.ACCOUNT_CREATED_AT).to_pylist() == [
        datetime(2025, 1, 1, tzinfo=UTC), None, datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC),
        None, None]


# --------------------------------------------------------------------------------------
# request ids, batching
# --------------------------------------------------------------------------------------


def test_request_id_stable_hash(tmp_path):
    base = {sc.ACCOUNT_ID: "acc", sc.TIMESTAMP: "2026-11-02T10:00:00Z", sc.PROMPT: "hello",
            sc.SYSTEM: "sys", sc.TOOLS: '[{"name":"t"}]'}
    rows = [base, dict(base), {**base, sc.PROMPT: "hello!"}, {**base, sc.SYSTEM: None},
            {**base, sc.REQUEST_ID: "given-1"}, {**base, sc.REQUEST_ID: "   "},
            {**base, sc.ACCOUNT_ID: 42}]
    path = write_jsonl(tmp_path / "r.jsonl", rows)
    ids1 = read_all([path])[0].column(sc.REQUEST_ID).to_pylist()
    ids2 = read_all([path])[0].column(sc.REQUEST_ID).to_pylist()
    assert ids1 == ids2  # same rows, same ids, run after run
    ts = datetime(2026, 11, 2, 10, tzinfo=UTC)
    assert ids1[0] == ids1[1] == ids1[5] == expected_request_id("acc", ts, "hello", "sys",
                                                                '[{"name":"t"}]')
    assert len({ids1[0], ids1[2], ids1[3], ids1[6]}) == 4
    assert ids1[4] == "given-1"
    assert all(i.startswith("h-") and len(i) == 34 for i in ids1[:4])
    # the same rows in CSV give the same ids
    from_csv = read_all([write_csv(tmp_path / "r.csv", rows)])[0]
    assert from_csv.column(sc.REQUEST_ID).to_pylist() == ids1


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_batches_never_exceed_batch_rows(tmp_path, fmt):
    rows = [{sc.ACCOUNT_ID: f"a{i}", sc.TIMESTAMP: "2026-01-01", sc.PROMPT: f"p{i}"}
            for i in range(103)]
    path = tmp_path / f"b.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, rows[:50] + [b"oops"] * 9 + rows[50:])
    elif fmt == "csv":
        write_csv(path, rows)
        text = path.read_text().splitlines()
        path.write_text("\n".join(text[:40] + ["x,y,z,too,many"] * 25 + text[40:]) + "\n")
    else:
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=30)
    good, quar, batches = read_all([path], IngestConfig(batch_rows=7))
    assert all(0 < b.rows_read <= 7 for b in batches)
    assert good.column(sc.ACCOUNT_ID).to_pylist() == [r[sc.ACCOUNT_ID] for r in rows]
    total = sum(b.rows_read for b in batches)
    assert total == good.num_rows + quar.num_rows == {"jsonl": 112, "csv": 128, "parquet": 103}[fmt]
    # quarantine row numbers are the file's data rows (header excluded), each once
    q_rows = sorted(quar.column("row").to_pylist())
    assert len(set(q_rows)) == len(q_rows) and all(1 <= r <= total for r in q_rows)
    if fmt == "csv":
        assert q_rows == list(range(40, 65))
    if fmt == "jsonl":
        assert q_rows == list(range(51, 60))


# --------------------------------------------------------------------------------------
# property: never raises, every row accounted for, good rows satisfy the schema
# --------------------------------------------------------------------------------------

_ANY_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30)
_ISO = st.tuples(
    st.datetimes(min_value=datetime(1980, 1, 1), max_value=datetime(2110, 1, 1),
                 timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30))])),
    st.sampled_from("T "),
).map(lambda t: t[0].isoformat(sep=t[1]))
_TIMES = st.one_of(
    _ISO,
    st.dates(min_value=datetime(1985, 1, 1).date()).map(str),
    st.integers(min_value=-10**13, max_value=10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=631_152_000, max_value=4_102_444_799),
    _ANY_TEXT,
    st.none(),
)
_MISSING = "<missing>"
_GOOD_TIMES = st.one_of(
    st.datetimes(min_value=datetime(1990, 1, 2), max_value=datetime(2099, 12, 30)).map(
        lambda d: d.isoformat()),
    st.integers(min_value=631_152_000, max_value=4_102_444_799),
)
_OPTIONAL = {
    sc.SYSTEM: st.one_of(_ANY_TEXT, st.none()),
    sc.TOOLS: st.one_of(_ANY_TEXT, st.lists(st.dictionaries(_ANY_TEXT, st.integers(), max_size=2),
                                            max_size=2)),
    sc.ACCOUNT_CREATED_AT: _TIMES,
    "extra": st.one_of(_ANY_TEXT, st.integers(), st.booleans()),
}
_ROW = st.fixed_dictionaries(
    {
        sc.ACCOUNT_ID: st.one_of(st.just("acct"), st.text(min_size=1, max_size=8), st.integers(),
                                 _ANY_TEXT, st.none(), st.just(_MISSING)),
        sc.TIMESTAMP: st.one_of(_GOOD_TIMES, _GOOD_TIMES, _TIMES, st.just(_MISSING)),
        sc.PROMPT: st.one_of(_ANY_TEXT, st.text(min_size=1), st.text(min_size=1), st.integers(),
                             st.none(), st.lists(st.integers(), max_size=2), st.just(_MISSING)),
    },
    optional={**_OPTIONAL, sc.REQUEST_ID: st.one_of(_ANY_TEXT, st.none())},
).map(lambda r: {k: v for k, v in r.items() if v != _MISSING})
# rows that should pass (with noisy text: control characters, surrogates, odd spaces)
_CLEAN_ROW = st.fixed_dictionaries(
    {
        sc.ACCOUNT_ID: st.one_of(st.text("abc123", min_size=1, max_size=5), st.integers()),
        sc.TIMESTAMP: _GOOD_TIMES,
        sc.PROMPT: st.tuples(_ANY_TEXT, st.text("xyz", min_size=1, max_size=3), _ANY_TEXT).map(
            "".join),
    },
    optional=_OPTIONAL,
)
_ROWS = st.lists(st.one_of(_CLEAN_ROW, _ROW), max_size=25)


def _csv_cell(v) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else json.dumps(v)


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=_ROWS, junk=st.lists(st.binary(max_size=20), max_size=3), batch_rows=st.integers(1, 8))
def test_property_never_raises_and_accounts_for_every_row(tmp_path, rows, junk, batch_rows):
    cfg = IngestConfig(batch_rows=batch_rows, max_prompt_chars=40)
    # JSON Lines: surrogates travel as \\u escapes; junk lines are arbitrary bytes
    lines = [json.dumps(r).encode() for r in rows]
    lines += [j.replace(b"\n", b" ").replace(b"\r", b" ") for j in junk]
    lines = [ln for ln in lines if ln.strip()]
    jpath = tmp_path / "p.jsonl"
    jpath.write_bytes(b"\n".join(lines) + b"\n")
    good, quar, batches = read_all([jpath], cfg)
    assert all(b.rows_read <= batch_rows for b in batches)
    assert good.num_rows + quar.num_rows == len(lines)
    assert_good_rows_valid(good)

    # CSV: every value as text, lone surrogates written as (invalid) UTF-8 bytes
    columns = list(sc.CONTRACT_COLUMNS) + ["extra"]
    cpath = tmp_path / "p.csv"
    with open(cpath, "w", newline="", encoding="utf-8", errors="surrogatepass") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([_csv_cell(r.get(c)) for c in columns])
    good, quar, batches = read_all([cpath], cfg)
    assert all(b.rows_read <= batch_rows for b in batches)
    assert good.num_rows + quar.num_rows == len(rows)
    assert_good_rows_valid(good)
