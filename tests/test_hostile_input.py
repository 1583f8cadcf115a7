"""Hostile input (issue 12): every field of a log is written by the accounts being watched.

Tools nested thousands of levels deep, a gzip with a corrupt deflate block, one line of tens
of megabytes, and a request id reused with another account or prompt: each is quarantined,
refused with one clear line, or counted, and the night goes on.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from targeting import schema as S
from targeting import workspace as W
from targeting.capmap.taxonomy import context_text, tool_lines
from targeting.cli import main
from targeting.config import load_settings
from targeting.errors import InputError
from targeting.ingest import IngestConfig, iter_batches
from targeting.jsonlimits import MAX_DEPTH, loads_bounded, nesting_depth
from targeting.jobs.stages import CONFLICT_REASON, ingest

sys.path.insert(0, str(Path(__file__).parent))
from nightly_traffic import write_bow_model  # noqa: E402

DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
TOOL = [{"type": "function", "function": {"name": "search", "description": "find",
                                          "parameters": {"properties": {"q": {"type": "string"}}}}}]


def _row(i: int, **extra) -> dict:
    return {S.REQUEST_ID: f"r{i}", S.ACCOUNT_ID: f"acct-{i % 3}", S.TIMESTAMP: f"2026-11-02T10:00:{i % 60:02d}Z",
            S.PROMPT: f"prompt number {i}", **extra}


def _jsonl(path: Path, rows: list) -> Path:
    data = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def _read(path: Path, config: IngestConfig | None = None):
    batches = list(iter_batches([path], config or IngestConfig()))
    good = [r for b in batches for r in b.good.to_pylist()]
    bad = [r for b in batches for r in b.quarantine.to_pylist()]
    assert sum(b.rows_read for b in batches) == len(good) + len(bad)
    return good, bad


# --- 1. tools nested thousands of levels deep ----------------------------------------------------

def test_nesting_depth_is_measured_without_recursion():
    assert nesting_depth('{"a": [1, {"b": "[[[[ {{{"}], "c": "\\"]]"}') == 3
    assert nesting_depth("12") == 0
    assert nesting_depth("[" * 1_000_000 + "]" * 1_000_000) == 1_000_000
    assert loads_bounded("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(ValueError, match="nested"):
        loads_bounded("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ValueError):
        loads_bounded(DEEP_OBJECT[:-1])


@pytest.mark.parametrize("tools", [DEEP_ARRAY, DEEP_OBJECT, "[" * 990 + "]" * 990, "[" * 5000])
def test_deeply_nested_tools_are_unparsable_text_not_a_crash(tools):
    assert tool_lines(tools) == []
    assert context_text(None, tools) is None
    assert context_text("be brief", tools) == "System: be brief"
    assert tool_lines(json.dumps(TOOL)) == ["search(q): find"]


def test_ingest_keeps_deep_tools_as_text_and_names_a_line_too_deep_to_parse(tmp_path):
    raw_deep = json.dumps(_row(3))[:-1] + ', "tools": ' + DEEP_ARRAY + "}"
    path = _jsonl(tmp_path / "night.jsonl", [_row(1, tools=DEEP_ARRAY), _row(2, tools=DEEP_OBJECT), raw_deep,
                                             _row(4, tools=json.dumps(TOOL))])
    good, bad = _read(path)
    tools = {r[S.REQUEST_ID]: r[S.TOOLS] for r in good}
    assert tools["r1"] == DEEP_ARRAY and tools["r2"] == DEEP_OBJECT  # kept, as the text it was
    assert json.loads(tools["r4"]) == TOOL
    assert [(b["file"], b["row"], b["field"], b["reason"]) for b in bad] == [
        (str(path), 3, "_row", "invalid JSON (nested too deep to parse)")]


# --- 2. a gzip with a corrupt deflate block -----------------------------------------------------

def _corrupt_gzip(path: Path, text: bytes) -> Path:
    """A gzip whose second deflate block has an invalid block type (zlib: "invalid block
    type"), its first half readable: a full flush ends the first block on a byte boundary."""
    half = len(text) // 2
    co = zlib.compressobj(6, zlib.DEFLATED, 31)
    first = co.compress(text[:half]) + co.flush(zlib.Z_FULL_FLUSH)
    data = bytearray(first + co.compress(text[half:]) + co.flush())
    data[len(first)] |= 0b110  # BTYPE = 11: reserved
    path.write_bytes(bytes(data))
    return path


def _lines_text(n: int) -> bytes:
    return "".join(json.dumps(_row(i, pad="x" * (i % 97))) + "\n" for i in range(n)).encode()


def _csv_text(n: int) -> bytes:
    return ("request_id,account_id,timestamp,prompt\n"
            + "".join(f"r{i},acct-{i % 3},2026-11-02T10:00:00Z,prompt {i} {'x' * (i % 97)}\n"
                      for i in range(n))).encode()


@pytest.mark.parametrize("name,text", [("n.jsonl.gz", _lines_text(3000)), ("n.ndjson.gz", _lines_text(3000)),
                                       ("n.csv.gz", _csv_text(3000)), ("small.csv.gz", _csv_text(20)),
                                       ("small.jsonl.gz", _lines_text(20))])
def test_a_corrupt_deflate_block_is_an_input_error_naming_the_file(tmp_path, name, text):
    path = _corrupt_gzip(tmp_path / name, text)
    with pytest.raises(zlib.error, match="invalid block type"):
        gzip.decompress(path.read_bytes())
    with pytest.raises(InputError, match=f"{name}: unreadable"):
        list(iter_batches([path], IngestConfig(batch_rows=500)))


def test_cli_exits_2_with_one_line_on_a_corrupt_gzip(tmp_path, capsys):
    path = _corrupt_gzip(tmp_path / "night.jsonl.gz", _lines_text(3000))
    for command in (["run", str(path), "-w", str(tmp_path / "ws-run")],
                    ["score", str(path), "-w", str(tmp_path / "ws-score"), "--as-of", "2026-11-02"]):
        assert main(["--quiet", *command]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert err.startswith("error: ") and "night.jsonl.gz: unreadable" in err and "invalid block type" in err


# --- 3. one line of tens of megabytes --------------------------------------------------------------

def _huge_line_file(path: Path, size: int) -> bytes:
    """Rows r1, r2 and r3; r2's line holds ``size`` bytes of "a" (written streaming: the
    gzip is a few hundred KB). Returns the start of line 2."""
    head = json.dumps(_row(2))[:-1].encode() + b', "junk": "'
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(json.dumps(_row(1)).encode() + b"\n")
        fh.write(head)
        for _ in range(size // (1 << 20)):
            fh.write(b"a" * (1 << 20))
        fh.write(b'"}\n' + json.dumps(_row(3)).encode() + b"\n")
    return head


def _traced_read(path: Path, config: IngestConfig):
    tracemalloc.start()
    try:
        good, bad = _read(path, config)
        return good, bad, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_line_over_the_default_cap_is_quarantined_with_flat_memory(tmp_path):
    size = 96 << 20
    path = tmp_path / "huge.jsonl.gz"
    _huge_line_file(path, size)
    good, bad, peak = _traced_read(path, IngestConfig())
    assert [r[S.REQUEST_ID] for r in good] == ["r1", "r3"]
    assert [(b["row"], b["field"], b["reason"]) for b in bad] == [(2, "_row", "line longer than 8388608 bytes")]
    assert peak < size / 4, f"peak {peak / 2**20:.1f} MiB while reading a {size >> 20} MiB line"


def test_a_line_over_the_cap_is_quarantined_with_flat_memory(tmp_path):
    path = tmp_path / "huge.jsonl.gz"
    size = 40 << 20
    head = _huge_line_file(path, size)
    cap = 1 << 20
    good, bad, peak = _traced_read(path, IngestConfig(max_line_bytes=cap))
    assert [r[S.REQUEST_ID] for r in good] == ["r1", "r3"]
    assert [(b["file"], b["row"], b["field"], b["reason"]) for b in bad] == [
        (str(path), 2, "_row", f"line longer than {cap} bytes")]
    assert json.loads(bad[0]["raw"]).startswith(head.decode()[:100])  # the line's start, cut
    assert peak < size / 4, f"peak {peak / 2**20:.1f} MiB while reading a {size >> 20} MiB line"


def test_line_cap_boundaries_and_default(tmp_path):
    row = json.dumps(_row(1)).encode()
    exactly = row[:-1] + b', "p": ""}'
    cap = len(exactly)
    longer = exactly[:-2] + b'x"}'
    path = tmp_path / "edge.jsonl"
    path.write_bytes(exactly + b"\n" + longer + b"\n" + exactly.replace(b"r1", b"r9") + b"\n" + longer)
    good, bad = _read(path, IngestConfig(max_line_bytes=cap, batch_rows=2))
    assert [r[S.REQUEST_ID] for r in good] == ["r1", "r9"]
    assert [(b["row"], b["reason"]) for b in bad] == [(2, f"line longer than {cap} bytes"),
                                                      (4, f"line longer than {cap} bytes")]
    assert IngestConfig().max_line_bytes == 8 << 20
    settings = load_settings(environ={"TARGETING_INGEST__MAX_LINE_BYTES": "4096"})
    assert settings.ingest.max_line_bytes == 4096
    with pytest.raises(ValueError, match="max_line_bytes"):
        IngestConfig(max_line_bytes=0)


def _huge_csv_file(path: Path, size: int) -> bytes:
    """CSV rows r1, r2 and r3; r2's prompt is a quoted field of ``size`` bytes holding commas,
    line ends and doubled quotes (written streaming). Returns the start of record 2."""
    head = b'r2,acct-2,2026-11-02T10:00:02Z,"a long one, ""quoted""\n'
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b"request_id,account_id,timestamp,prompt\n")
        fh.write(b"r1,acct-1,2026-11-02T10:00:01Z,first\n")
        fh.write(head)
        chunk = (b'x,y ""z""\r\n' * 100_000)[: 1 << 20]
        for _ in range(size // len(chunk)):
            fh.write(chunk)
        fh.write(b'"\r\nr3,acct-0,2026-11-02T10:00:03Z,"third, and last"\n')
    return head


@pytest.mark.parametrize("size,cap", [(96 << 20, None), (64 << 20, 1 << 20)])
def test_a_csv_record_over_the_cap_is_quarantined_with_flat_memory(tmp_path, size, cap):
    path = tmp_path / "huge.csv.gz"
    head = _huge_csv_file(path, size)
    config = IngestConfig() if cap is None else IngestConfig(max_line_bytes=cap)
    good, bad, peak = _traced_read(path, config)
    assert [(r[S.REQUEST_ID], r[S.PROMPT]) for r in good] == [("r1", "first"), ("r3", "third, and last")]
    assert [(b["file"], b["row"], b["field"], b["reason"]) for b in bad] == [
        (str(path), 2, "_row", f"record longer than {config.max_line_bytes} bytes")]
    assert json.loads(bad[0]["raw"]).startswith(head.decode())  # the record's start
    assert peak < size / 4, f"peak {peak / 2**20:.1f} MiB while reading a {size >> 20} MiB CSV record"


_PEAK_SCRIPT = """
import sys
from pathlib import Path
from targeting.ingest import IngestConfig, iter_batches
def peak_mib():
    return next(int(l.split()[1]) >> 10 for l in open("/proc/self/status") if l.startswith("VmHWM"))
before = peak_mib()
rows = sum(b.rows_read for b in iter_batches([Path(sys.argv[1])], IngestConfig()))
print(rows, peak_mib() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from /proc")
def test_a_csv_record_over_the_cap_keeps_the_process_small(tmp_path):
    """The whole process, Arrow's memory included (tracemalloc sees only Python's): a 96 MiB
    record grows the peak by about 45 MiB (it was about 510 MiB)."""
    path = tmp_path / "huge.csv.gz"
    _huge_csv_file(path, 96 << 20)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(path)], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    rows, grown = map(int, done.stdout.split())
    assert rows == 3 and grown < 120, f"reading a 96 MiB CSV record grew the peak by {grown} MiB"


def test_csv_record_cap_boundaries_across_batches(tmp_path):
    record = 'r{i},acct-1,2026-11-02T10:00:01Z,"p {pad}"'
    exactly = record.format(i=1, pad="x" * 20)
    cap = len(exactly.encode())
    rows = [exactly, record.format(i=2, pad="x" * 21), record.format(i=3, pad="x" * 20),
            'r4,acct-1,2026-11-02T10:00:01Z,"multi\nline"', record.format(i=5, pad="y" * 40),
            "r6,acct-2,2026-11-02T10:00:01Z,plain", "r7,too,few"]
    path = tmp_path / "edge.csv"
    path.write_bytes(("request_id,account_id,timestamp,prompt\r\n" + "\r\n".join(rows)).encode())
    good, bad = _read(path, IngestConfig(max_line_bytes=cap, batch_rows=2))
    assert [r[S.REQUEST_ID] for r in good] == ["r1", "r3", "r4", "r6"]
    assert [(b["row"], b["reason"]) for b in bad] == [
        (2, f"record longer than {cap} bytes"), (5, f"record longer than {cap} bytes"),
        (7, "malformed CSV record (expected 4 fields, got 3)")]


def test_a_csv_header_over_the_cap_is_an_input_error(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_bytes(b"request_id,account_id,timestamp,prompt," + b"x" * 5000 + b"\nr1,a,2026-11-02,p,q\n")
    with pytest.raises(InputError, match="wide.csv: CSV header longer than 1000 bytes"):
        _read(path, IngestConfig(max_line_bytes=1000))


# --- 4. a request id reused with another account or prompt -----------------------------------------

def _stored(rows: list[dict]):
    import hashlib

    frame = pd.DataFrame({S.REQUEST_ID: [r[S.REQUEST_ID] for r in rows],
                          S.ACCOUNT_ID: [r[S.ACCOUNT_ID] for r in rows],
                          S.PROMPT_HASH: [hashlib.sha256(r[S.PROMPT].encode()).hexdigest() for r in rows]})
    return lambda ids: frame[frame[S.REQUEST_ID].isin(ids)]


def test_conflicting_duplicates_are_skipped_counted_and_quarantined(tmp_path):
    a = _jsonl(tmp_path / "a.jsonl", [
        _row(1), _row(1),  # an exact duplicate
        _row(1, **{S.ACCOUNT_ID: "someone-else"}),  # line 3: another account
        _row(2), _row(2, **{S.PROMPT: "another prompt"}),  # line 5: another prompt
        _row(7), _row(8, **{S.ACCOUNT_ID: "thief"}),  # r7 stored as is; r8 stored with another account
        {S.ACCOUNT_ID: "acct-x", S.TIMESTAMP: "2026-11-02T11:00:00Z"},  # malformed (no prompt)
    ])
    b = _jsonl(tmp_path / "b.csv", [])
    b.write_text("request_id,account_id,timestamp,prompt\nr2,acct-2,2026-11-02T10:00:02Z,prompt number 2\n"
                 "r2,acct-2,2026-11-02T10:00:02Z,prompt number two\nr5,acct-2,2026-11-02T10:00:05Z,p5\n")
    settings = load_settings(environ={})
    got = ingest([a, b], _stored([_row(7), _row(8)]), settings)
    assert sorted(got.requests[S.REQUEST_ID]) == ["r1", "r2", "r5"]
    assert got.duplicates == 3  # r1 (a.jsonl line 2), r7 (stored), r2 (b.csv row 1)
    assert got.quarantine.num_rows == 1
    conflicts = [(r["file"], r["row"], r["field"], r["reason"]) for r in got.conflicts.to_pylist()]
    assert conflicts == [(str(a), 3, S.REQUEST_ID, CONFLICT_REASON), (str(a), 5, S.REQUEST_ID, CONFLICT_REASON),
                         (str(a), 7, S.REQUEST_ID, CONFLICT_REASON), (str(b), 2, S.REQUEST_ID, CONFLICT_REASON)]
    raw = json.loads(got.conflicts.to_pylist()[0]["raw"])
    assert raw[S.REQUEST_ID] == "r1" and raw[S.ACCOUNT_ID] == "someone-else"
    assert got.rows_read == len(got.requests) + got.duplicates + got.quarantine.num_rows + got.conflicts.num_rows


# --- the whole command on a hostile night ---------------------------------------------------------

@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Two nights of generated logs: night 1 clean, scored into a workspace; a file of night 1
    with tools nested 5,000 deep; night 2 with conflicting and exact duplicates."""
    from targeting.simulate import SimConfig, simulate

    root = tmp_path_factory.mktemp("hostile")
    requests, _ = simulate(SimConfig(seed=2, n_accounts=30, days=2, start="2026-11-01", volume_scale=0.3))
    model = write_bow_model(requests, root / "bow", 32)
    rows = json.loads(requests.to_json(orient="records", date_format="iso"))
    night1 = [r for r in rows if r[S.TIMESTAMP].startswith("2026-11-01")]
    night2 = [r for r in rows if r[S.TIMESTAMP].startswith("2026-11-02")]
    deep = [dict(night1[0], request_id="deep-1", prompt="deep one", tools=DEEP_ARRAY),
            dict(night1[1], request_id="deep-2", prompt="deep two", tools=DEEP_OBJECT)]
    # night 2 reuses a stored id with another account, one of its own with another prompt, and
    # repeats one request exactly
    night2 += [dict(night2[0], request_id=night1[5][S.REQUEST_ID], account_id="someone-else"),
               dict(night2[1], prompt="not what was logged first"), dict(night2[2])]
    _jsonl(root / "night1.jsonl.gz", night1)
    _jsonl(root / "deep.jsonl.gz", night1[:40] + deep)
    _jsonl(root / "night2.jsonl.gz", night2)
    ws = root / "ws"
    assert _cli(["score", str(root / "night1.jsonl.gz"), "-w", str(ws), "--as-of", "2026-11-01"], model) == 0
    return root, model, ws, len(night2)


def _cli(args: list[str], model: Path) -> int:
    old = os.environ.get("TARGETING_EMBED__MODEL")
    os.environ["TARGETING_EMBED__MODEL"] = str(model)
    try:
        return main(["--quiet", *args])
    finally:
        if old is None:
            os.environ.pop("TARGETING_EMBED__MODEL")
        else:
            os.environ["TARGETING_EMBED__MODEL"] = old


def _last_run(ws: Path) -> tuple[str, dict]:
    run_id = json.loads((ws / "state.json").read_text())["runs"][-1]
    return run_id, json.loads((ws / "runs" / f"{run_id}.json").read_text())


def test_run_and_score_complete_a_night_with_deeply_nested_tools(nights, tmp_path):
    root, model, ws, _ = nights
    ws = Path(shutil.copytree(ws, tmp_path / "ws"))
    assert _cli(["score", str(root / "deep.jsonl.gz"), "-w", str(ws), "--as-of", "2026-11-01"], model) == 0
    assert _cli(["run", str(root / "deep.jsonl.gz"), "-w", str(tmp_path / "ws-run")], model) == 0
    for folder in (ws, tmp_path / "ws-run"):
        stored = W.read_requests(W.open_workspace(folder), [S.REQUEST_ID, S.TOOLS]).to_pandas()
        tools = stored.set_index(S.REQUEST_ID)[S.TOOLS]
        assert tools["deep-1"] == DEEP_ARRAY and tools["deep-2"] == DEEP_OBJECT  # kept, as text


def test_a_night_counts_and_quarantines_conflicting_duplicates(nights, tmp_path, capsys):
    root, model, ws, n2 = nights
    ws = Path(shutil.copytree(ws, tmp_path / "ws"))
    capsys.readouterr()
    assert _cli(["score", str(root / "night2.jsonl.gz"), "-w", str(ws), "--as-of", "2026-11-02"], model) == 0
    assert "duplicates skipped 1; quarantined 2 (2 conflicting duplicates" in capsys.readouterr().out
    run_id, manifest = _last_run(ws)
    counts = manifest["counts"]
    assert (counts["rows_read"], counts["rows_stored"], counts["duplicates"], counts.get("conflicting_duplicates"),
            counts["quarantined"]) == (n2, n2 - 3, 1, 2, 2)
    quarantine = pq.read_table(ws / "quarantine" / f"part-{run_id}.parquet").to_pylist()
    assert sorted((Path(r["file"]).name, r["row"], r["field"], r["reason"]) for r in quarantine) == [
        ("night2.jsonl.gz", n2 - 2, S.REQUEST_ID, CONFLICT_REASON),
        ("night2.jsonl.gz", n2 - 1, S.REQUEST_ID, CONFLICT_REASON)]


# --- found by the fuzz test (tests/test_fuzz_ingest.py) ---------------------------------------------

_GOOD_LINE = json.dumps(_row(1))


@pytest.mark.parametrize("lines", [["null", _GOOD_LINE], [_GOOD_LINE, "null"], ["  null ", "[1]", _GOOD_LINE, '"x"']])
def test_a_json_line_null_is_invalid_json_not_a_crash(tmp_path, lines):
    """A line holding just ``null`` crashed the process (a segmentation fault in pyarrow 26's
    JSON reader): read in a child process, so a crash fails this test instead of the run."""
    path = tmp_path / "nulls.jsonl"
    path.write_text("\n".join(lines) + "\n")
    script = ("import sys, json; from pathlib import Path; from targeting.ingest import iter_batches; "
              "b = list(iter_batches([Path(sys.argv[1])])); "
              "print(json.dumps([[q['row'], q['field'], q['reason']] for x in b for q in x.quarantine.to_pylist()]), "
              "sum(x.good.num_rows for x in b))")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-500:]}"
    bad, good = done.stdout.rsplit(" ", 1)
    expected = [[i + 1, "_row", "invalid JSON"] for i, line in enumerate(lines) if line != _GOOD_LINE]
    assert json.loads(bad) == expected and int(good) == 1


def test_invalid_utf8_in_a_quarantined_row_is_replaced_not_a_crash(tmp_path):
    """Arrow's JSON reader and Parquet keep invalid UTF-8; writing such a row's ``raw`` for the
    quarantine raised UnicodeDecodeError (exit 1)."""
    line = json.dumps({S.TIMESTAMP: "2026-11-02T10:00:00Z", S.PROMPT: "p \ue000", "note": {"k": "\ue000"}},
                      ensure_ascii=False)
    path = tmp_path / "bad-utf8.jsonl"
    path.write_bytes((line + "\n" + json.dumps(_row(2)) + "\n").encode().replace("\ue000".encode(), b"\xff\xfe"))
    good, bad = _read(path)
    assert [r[S.REQUEST_ID] for r in good] == ["r2"]
    assert [(b["row"], b["field"]) for b in bad] == [(1, S.ACCOUNT_ID)] and "\ufffd" in bad[0]["raw"]
    import pyarrow as pa

    parquet = tmp_path / "bad-utf8.parquet"
    prompt = pa.array([b"p \xff\xfe", b"fine"], pa.binary()).cast(pa.string(), safe=False)
    pq.write_table(pa.table({S.ACCOUNT_ID: pa.array([None, "a"], pa.string()),
                             S.TIMESTAMP: ["2026-11-02T10:00:00Z"] * 2, S.PROMPT: prompt}), parquet)
    good, bad = _read(parquet)
    assert len(good) == 1 and [(b["row"], b["field"]) for b in bad] == [(1, S.ACCOUNT_ID)]
    assert "\ufffd" in bad[0]["raw"]


def test_a_parquet_footer_with_invalid_utf8_is_an_input_error(tmp_path):
    """A damaged Parquet footer whose column name is not UTF-8 raised UnicodeDecodeError from
    pyarrow (exit 1); found by flipping bytes of Parquet files."""
    path = tmp_path / "damaged.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({S.ACCOUNT_ID: ["a"], S.TIMESTAMP: ["2026-11-02T10:00:00Z"], S.PROMPT: ["p1"]}), path,
                   store_schema=False)
    path.write_bytes(path.read_bytes().replace(S.PROMPT.encode(), b"pr\x98mpt"))  # the column's name
    with pytest.raises(InputError, match="damaged.parquet: not a readable Parquet file"):
        _read(path)
