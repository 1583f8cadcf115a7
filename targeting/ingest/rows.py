"""The normaliser (format independent): one validator per contract field, quarantine rows,
and the chunk of rows every reader hands it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from targeting import schema as sc
from targeting.ids import normalise_id_array
from targeting.ingest.base import (
    IngestBatch, IngestConfig, CONTRACT, NO_ROWS, NULL_STR, T_BAD, T_MISSING, T_OK, T_RANGE,
)
from targeting.ingest.times import parse_time, us_to_timestamp
from targeting.ingest.values import (
    as_text, is_blank, canonical_tools, clean_text, extras_json, np_bool, optional_text, pylist, raw_json,
    sha256_array, str_array,
)


@dataclass
class Field:
    values: pa.Array  # any Arrow type
    bad: np.ndarray | None = None  # value present but of a type the reader could not use
    absent: np.ndarray | None = None  # key absent from the record (JSON Lines)


@dataclass
class Chunk:
    n: int  # records that reached the normaliser
    rows: np.ndarray  # their 1-based row numbers in the file
    cols: dict[str, Field]  # contract columns present in the file
    metadata: pa.Array | None  # JSON text per record, or None when the file has no extras
    raw: Callable[[np.ndarray], list[str]]  # record indices -> raw JSON for quarantine
    pre_quarantine: list[tuple[int, str, str, str]]  # (row, field, reason, raw) found by reader


_SEP = "\x1f"  # between the parts of a hashed key (context, content-derived request id)


def empty_good() -> pa.Table:
    return sc.REQUEST_SCHEMA.empty_table()


def quarantine_table(path: Path, entries: list[tuple[int, str, str, str]]) -> pa.Table:
    entries = sorted(entries, key=lambda e: e[0])
    return pa.Table.from_arrays(
        [
            pa.array([str(path)] * len(entries), pa.string()),
            pa.array([e[0] for e in entries], pa.int64()),
            pa.array([e[1] for e in entries], pa.string()),
            pa.array([e[2] for e in entries], pa.string()),
            str_array([e[3] for e in entries]),
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
        m = (mask if isinstance(mask, np.ndarray) else np_bool(mask)) & ~self.bad
        if m.any():
            self.field[m] = name
            self.reason[m] = why
            self.bad[m] = True


def _missing_column(n: int, flag: _Problems, name: str) -> pa.Array:
    """Every record flagged: the file has no ``name`` column (nulls in its place)."""
    flag(np.ones(n, dtype=bool), name, "column missing")
    return pa.nulls(n, pa.string())


def _text_values(f: Field, *, numbers: bool) -> tuple[pa.Array, np.ndarray]:
    """A field's values as text, and which are not text (or were unusable to the reader)."""
    text, not_text = as_text(f.values, numbers=numbers, other=False)
    return text, (not_text | f.bad) if f.bad is not None else not_text


def _valid_account(f: Field | None, n: int, flag: _Problems) -> pa.Array:
    """``account_id``: text (numbers allowed), normalised (``ids``), not blank."""
    if f is None:
        return _missing_column(n, flag, sc.ACCOUNT_ID)
    account, not_text = _text_values(f, numbers=True)
    flag(not_text, sc.ACCOUNT_ID, f"{sc.ACCOUNT_ID} is not text")
    account = normalise_id_array(account)  # the one id rule: ingest, verdicts, queries, app
    flag(is_blank(account), sc.ACCOUNT_ID, f"missing {sc.ACCOUNT_ID}")
    return account


def _valid_timestamp(f: Field | None, n: int, flag: _Problems) -> np.ndarray:
    """``timestamp``: present, parsable, between 1990 and 2100; microseconds since the epoch."""
    if f is None:
        flag(np.ones(n, dtype=bool), sc.TIMESTAMP, "column missing")
        return np.zeros(n, np.int64)
    ts_us, ts_status = parse_time(f.values)
    if f.bad is not None:
        ts_status = np.where(f.bad, T_BAD, ts_status)
    flag(ts_status == T_MISSING, sc.TIMESTAMP, f"missing {sc.TIMESTAMP}")
    flag(ts_status == T_BAD, sc.TIMESTAMP, f"unparsable {sc.TIMESTAMP}")
    flag(ts_status == T_RANGE, sc.TIMESTAMP, f"{sc.TIMESTAMP} out of range (before 1990 or after 2100)")
    return ts_us


def _valid_prompt(f: Field | None, n: int, flag: _Problems, cap: int) -> pa.Array:
    """``prompt``: present, text, not blank once cleaned, at most ``cap`` characters."""
    if f is None:
        return _missing_column(n, flag, sc.PROMPT)
    prompt, not_text = _text_values(f, numbers=False)
    if f.absent is not None:
        flag(f.absent, sc.PROMPT, f"missing {sc.PROMPT}")
    flag(not_text | np_bool(prompt.is_null()), sc.PROMPT, f"{sc.PROMPT} is not text")
    prompt = clean_text(prompt)
    flag(is_blank(prompt), sc.PROMPT, f"empty {sc.PROMPT}")
    flag(pc.greater(pc.utf8_length(prompt), cap), sc.PROMPT, f"{sc.PROMPT} over size cap ({cap} chars)")
    return prompt


def _chunk_quarantine(ch: Chunk, path: Path, flag: _Problems) -> pa.Table:
    """The reader's quarantined rows and the flagged records, with their raw JSON."""
    entries = list(ch.pre_quarantine)
    q_idx = np.flatnonzero(flag.bad)
    if len(q_idx):
        raws = ch.raw(q_idx)
        entries.extend(
            (int(ch.rows[i]), str(flag.field[i]), str(flag.reason[i]), raw) for i, raw in zip(q_idx, raws)
        )
    return quarantine_table(path, entries)


def _optional_time(f: Field | None, take: pa.Array, g_idx: np.ndarray) -> pa.Array:
    """An optional time column (``account_created_at``) of the kept records: null where absent
    or unusable."""
    if f is None:
        return pa.nulls(len(g_idx), pa.timestamp("us", tz="UTC"))
    c_us, c_status = parse_time(f.values.take(take))
    c_ok = c_status == T_OK
    if f.bad is not None:
        c_ok &= ~f.bad[g_idx]
    return us_to_timestamp(c_us, c_ok)


def _context_hashes(system: pa.Array, tools: pa.Array) -> pa.Array:
    """Each record's context hash: of its (system, tools) pair, hashed once per distinct pair;
    null without either."""
    has_ctx = pc.or_(system.is_valid(), tools.is_valid())
    ctx = pc.binary_join_element_wise(pc.fill_null(system, ""), pc.fill_null(tools, ""), _SEP)
    ctx = pc.if_else(has_ctx, ctx, NULL_STR)
    distinct = pc.unique(ctx.drop_null())
    return pc.take(sha256_array(distinct), pc.index_in(ctx, value_set=distinct))


def _fill_request_ids(request_id: pa.Array, account: pa.Array, us: np.ndarray, prompt: pa.Array,
                      system: pa.Array, tools: pa.Array) -> pa.Array:
    """``request_id``, with a content-derived id (``h-`` + hash of account, time, prompt and
    context) where the record had none."""
    no_id = np.flatnonzero(np_bool(request_id.is_null()))
    if not len(no_id):
        return request_id
    at = pa.array(no_id, pa.int64())
    iso = pa.array(np.datetime_as_string(us[no_id].astype("datetime64[us]"), unit="us"), pa.string())
    key = pc.binary_join_element_wise(
        account.take(at), pc.binary_join_element_wise(iso, "Z", ""), prompt.take(at),
        pc.fill_null(system.take(at), ""), pc.fill_null(tools.take(at), ""), _SEP,
    )
    hashed = pc.binary_join_element_wise("h-", pc.utf8_slice_codeunits(sha256_array(key), 0, 32), "")
    mask = np.zeros(len(request_id), dtype=bool)
    mask[no_id] = True
    return pc.replace_with_mask(request_id, pa.array(mask), hashed)


def normalise(ch: Chunk, path: Path, cfg: IngestConfig) -> IngestBatch:
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
        return IngestBatch(empty_good(), quarantine, path, rows_read, NO_ROWS)
    take = pa.array(g_idx, pa.int64())
    account, prompt, us = account.take(take), prompt.take(take), ts_us[g_idx]
    timestamp = us_to_timestamp(us)

    def optional(name: str, *, strip: bool) -> pa.Array:
        f = ch.cols.get(name)
        if f is None:
            return pa.nulls(len(g_idx), pa.string())
        return optional_text(f.values.take(take), strip=strip)

    system = optional(sc.SYSTEM, strip=False)
    tools = canonical_tools(optional(sc.TOOLS, strip=False))
    columns = {
        sc.REQUEST_ID: _fill_request_ids(optional(sc.REQUEST_ID, strip=True), account, us, prompt, system, tools),
        sc.ACCOUNT_ID: account,
        sc.TIMESTAMP: timestamp,
        sc.PROMPT: prompt,
        sc.SYSTEM: system,
        sc.TOOLS: tools,
        sc.IP: optional(sc.IP, strip=True),
        sc.ACCOUNT_CREATED_AT: _optional_time(ch.cols.get(sc.ACCOUNT_CREATED_AT), take, g_idx),
        sc.PROMPT_HASH: sha256_array(prompt),
        sc.CONTEXT_HASH: _context_hashes(system, tools),
        sc.DATE: pc.cast(timestamp, pa.date32()),
        sc.METADATA: pa.nulls(len(g_idx), pa.string()) if ch.metadata is None else ch.metadata.take(take),
    }
    good = pa.Table.from_arrays(
        [columns[f.name].cast(f.type) for f in sc.REQUEST_SCHEMA], schema=sc.REQUEST_SCHEMA
    )
    return IngestBatch(good, quarantine, path, rows_read, np.asarray(ch.rows, np.int64)[g_idx])


def arrow_chunk(batch: pa.RecordBatch, rows: np.ndarray, *, empty_is_null: bool,
                 pre: list[tuple[int, str, str, str]]) -> Chunk:
    names = batch.schema.names
    cols: dict[str, Field] = {}
    for name in sc.CONTRACT_COLUMNS:
        if name in names:
            cols[name] = Field(batch.column(names.index(name)))
    extras = [i for i, name in enumerate(names) if name not in CONTRACT]
    metadata = extras_json(batch, extras, empty_is_null=empty_is_null) if extras else None

    def raw(idx: np.ndarray) -> list[str]:
        rows = batch.take(pa.array(idx, pa.int64()))
        columns = [pylist(rows.column(i)) for i in range(rows.num_columns)]
        return [raw_json(dict(zip(rows.schema.names, rec))) for rec in zip(*columns)] if columns \
            else [raw_json({}) for _ in idx]

    return Chunk(n=batch.num_rows, rows=rows, cols=cols, metadata=metadata, raw=raw,
                  pre_quarantine=pre)
