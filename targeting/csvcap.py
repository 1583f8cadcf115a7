"""CSV records read with a size cap, like JSON lines: a record too long is never held whole.

Every field of a log is written by the accounts being watched. Arrow's CSV reader holds a
whole record (and grows its block to fit it): one 80 MB field costs about 440 MiB. The
:class:`RecordCap` stream transform sits between the file and Arrow's reader. It follows the
CSV structure Arrow follows (records end at ``\\n`` or ``\\r`` outside quotes; a field is
quoted only when its first character is ``"``; ``""`` inside quotes is a quote; after the
closing quote the field goes on unquoted, where a quote is an ordinary character) and passes
on only whole records. A record longer than ``cap`` bytes (its terminator excluded) is
replaced, in place, by one line holding a marker no input can forge (a random nonce): a
record of one field, which Arrow reports as malformed, since an input file needs at least
its three required columns. The reader then quarantines that row with the record's length
and its first bytes (:meth:`RecordCap.too_long`). The rest of the record is dropped as it
streams past: memory stays at about ``cap`` plus one read, whatever the record's length.

Whole records are found with numpy, a MiB at a time (inside quotes = an odd count of quotes
before). Where that reading may differ from Arrow's (a quote that opens nothing) or a record is
too long, an exact scan jumps from one structural byte to the next with ``re``: a Python step
per line and per quoted field, never per byte.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HEAD_BYTES", "RecordCap", "TooLong"]

HEAD_BYTES = 4_000  # bytes of a record too long kept for its quarantine row
_QUOTE = ord('"')
_COMMA = ord(",")
_LF, _CR = ord("\n"), ord("\r")
_BEFORE_OPENING = np.array([_COMMA, _LF, _CR, _QUOTE], dtype=np.uint8)
# outside quotes: the next record end, or a quote that opens a field (after a delimiter or
# a line end; a quote at the very start of a buffer is handled by the caller)
_UNQUOTED = re.compile(rb'[\r\n]|(?<=[,\r\n])"')
# inside quotes: everything up to the next quote that is not doubled (possessive: no
# backtracking state, however many doubled quotes)
_QUOTED_RUN = re.compile(rb'[^"]*+(?:""[^"]*+)*+')
_SLICE = 1 << 20  # bytes scanned at once: numpy's temporaries stay a few MiB


@dataclass(frozen=True)
class TooLong:
    length: int  # the record's length in bytes, its terminator excluded
    head: bytes  # its first HEAD_BYTES bytes


@dataclass
class _State:
    quoted: bool = False  # inside a quoted field
    quote_pending: bool = False  # inside quotes, the buffer ended on a quote (closing or doubled?)
    field_start: bool = True  # the next byte starts a field
    skipping: bool = False  # the current record is too long: dropped as it streams past
    length: int = 0  # bytes of the current record so far
    held: bytearray = field(default_factory=bytearray)  # the current record's bytes (<= cap)
    head: bytes = b""  # the current record's start, once it is skipped


class RecordCap:
    """Stream transform (``pyarrow.TransformInputStream``): bytes of a CSV file in, the same
    bytes out with each record longer than ``cap`` bytes replaced by a marker line.

    An empty buffer means the end of the stream: the last record (without a terminator) is
    passed on then. One instance per pass over one file.
    """

    def __init__(self, cap: int) -> None:
        if int(cap) < 1:
            raise ValueError(f"cap must be at least 1, got {cap}")
        self.cap = int(cap)
        self.nonce = secrets.token_hex(16)
        self.records: list[TooLong] = []  # the records replaced, in order
        self._state = _State()

    def marker(self, k: int) -> bytes:
        return f"\x00targeting-record-too-long-{self.nonce}-{k}".encode("ascii")

    def too_long(self, text: str) -> TooLong | None:
        """The record a malformed row's text stands for, when it is one of our markers."""
        prefix = f"\x00targeting-record-too-long-{self.nonce}-"
        if not text.startswith(prefix):
            return None
        try:
            return self.records[int(text[len(prefix):].strip())]
        except (ValueError, IndexError):
            return None

    def __call__(self, data: bytes | memoryview) -> bytes:
        out = bytearray()
        if len(data) == 0:
            return bytes(self._finish(out))
        view = memoryview(data)  # Arrow hands over a Buffer
        for start in range(0, len(view), _SLICE):
            self._scan(bytes(view[start:start + _SLICE]), out)
        return bytes(out)

    def _scan(self, piece: bytes, out: bytearray) -> None:
        if not self._fast(piece, out):
            pos, n = 0, len(piece)
            while pos < n:
                pos = self._step(piece, pos, out)

    def _fast(self, buf: bytes, out: bytearray) -> bool:
        """``buf`` at once, with numpy: inside quotes is an odd count of quotes since the state
        at its start (``""`` counts twice). True when that reading is Arrow's for ``buf`` (every
        quote that would open a field follows a delimiter, a line end or a closing quote) and
        no record in it is longer than the cap; False leaves the state for the exact scan."""
        st = self._state
        if st.skipping:
            return False
        arr = np.frombuffer(buf, dtype=np.uint8)
        quotes = np.flatnonzero(arr == _QUOTE)
        inside = int(st.quoted and not st.quote_pending)
        opening = quotes[inside::2]
        if len(opening) and opening[0] == 0 and not (st.field_start or st.quote_pending):
            return False
        opening = opening[opening > 0]
        if len(opening) and not np.isin(arr[opening - 1], _BEFORE_OPENING).all():
            return False
        ends = np.flatnonzero((arr == _LF) | (arr == _CR))
        ends = ends[(np.searchsorted(quotes, ends) + inside) % 2 == 0]
        lengths = np.append(ends, len(buf)) - np.concatenate(([0], ends + 1))
        lengths[0] += st.length
        if int(lengths.max()) > self.cap:
            return False
        done = 0
        if len(ends):
            done = int(ends[-1]) + 1
            out += st.held
            out += buf[:done]
            self._state = st = _State()
            inside = 0
        if done < len(buf):
            self._hold_rest(buf, done, inside + len(quotes) - int(np.searchsorted(quotes, done)))
        return True

    def _hold_rest(self, buf: bytes, done: int, quotes_since: int) -> None:
        """Hold ``buf[done:]``, the start of a record, and set the exact scan's state at its end
        (``quotes_since``: the parity count at the end of ``buf``)."""
        st = self._state
        st.held += buf[done:]
        st.length += len(buf) - done
        last = buf[-1]
        inside = quotes_since % 2 == 1
        st.quoted = inside or last == _QUOTE  # a closing quote at the end may be a doubled one
        st.quote_pending = last == _QUOTE and not inside
        st.field_start = last == _COMMA

    # the state machine ---------------------------------------------------------------------
    def _step(self, buf: bytes, pos: int, out: bytearray) -> int:
        """Consume ``buf`` from ``pos`` up to and including the next structural event; returns
        the position after it."""
        st = self._state
        if st.quote_pending:  # the previous buffer ended on a quote inside quotes
            st.quote_pending = False
            if buf[pos] == _QUOTE:  # a doubled quote: still quoted
                return self._take(buf, pos, pos + 1, out)
            st.quoted = False
            return pos
        if st.quoted:  # to the next quote that is not doubled, in one step
            end = _QUOTED_RUN.match(buf, pos).end()
            if end == len(buf):
                return self._take(buf, pos, end, out)
            if end + 1 == len(buf):
                st.quote_pending = True  # closing, or the first of a doubled quote
            else:
                st.quoted = False
            return self._take(buf, pos, end + 1, out)
        if st.field_start and buf[pos] == _QUOTE:
            st.quoted, st.field_start = True, False
            return self._take(buf, pos, pos + 1, out)
        match = _UNQUOTED.search(buf, pos)
        if match is None:
            return self._take(buf, pos, len(buf), out)
        at = match.start()
        if buf[at] == _QUOTE:
            st.quoted, st.field_start = True, False
            return self._take(buf, pos, at + 1, out)
        self._take(buf, pos, at, out)
        self._end_record(buf[at:at + 1], out)
        return at + 1

    def _take(self, buf: bytes, start: int, end: int, out: bytearray) -> int:
        """Bytes ``buf[start:end]`` of the current record: held, or dropped once it is too long."""
        st = self._state
        if end > start:
            st.field_start = buf[end - 1] == _COMMA
        st.length += end - start
        if st.skipping:
            if len(st.head) < HEAD_BYTES:  # the same start whatever the chunks
                st.head += buf[start:min(end, start + HEAD_BYTES - len(st.head))]
            return end
        st.held += buf[start:end]
        if st.length > self.cap:
            st.head = bytes(st.held[:HEAD_BYTES])
            st.held = bytearray()
            st.skipping = True
        return end

    def _end_record(self, terminator: bytes, out: bytearray) -> None:
        st = self._state
        if st.skipping:
            self.records.append(TooLong(st.length, st.head))
            out += self.marker(len(self.records) - 1)
        else:
            out += st.held
        out += terminator
        self._state = _State()

    def _finish(self, out: bytearray) -> bytearray:
        st = self._state
        if st.skipping or st.held:
            self._end_record(b"\n" if st.skipping else b"", out)
        return out
