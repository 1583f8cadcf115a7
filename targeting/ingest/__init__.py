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

Layout: ``files`` (input expansion), one reader per format (``parquet``, ``jsonl``,
``csv_reader``), ``rows`` (the format-independent normaliser: one validator per field,
quarantine rows), ``values`` and ``times`` (value conversions), ``base`` (configuration, the
batch type, shared limits) and ``batches`` (the entry point that routes each file to its
reader).
"""

from targeting.ingest.base import IngestBatch, IngestConfig
from targeting.ingest.batches import iter_batches, normalise_table, quarantine_good_rows
from targeting.ingest.files import expand_inputs

__all__ = ["IngestConfig", "IngestBatch", "expand_inputs", "iter_batches", "normalise_table", "quarantine_good_rows"]
