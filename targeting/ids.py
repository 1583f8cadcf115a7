"""The one normalisation of account (and campaign) ids, wherever an id comes in.

Every field of a log is written by the people being watched, so an id may hold anything:
zero-width spaces, bidi overrides, escape sequences, no-break spaces. The rule, the same at
ingest, in verdicts, in queries, on the command line and in the app:

* NFC-normalise (canonical composition: ``e`` + combining acute and ``é`` are one id; NFKC
  is not used, so a ligature or a full-width letter stays itself);
* trim surrounding whitespace (``str.strip``: the same characters as Arrow's
  ``utf8_trim_whitespace``), as the input contract always did;
* keep every other character exactly. Nothing inside is stripped or replaced, so two ids
  that differ in an invisible character are two accounts, and a verdict names exactly one
  stored account. Control and format characters are kept too (rejecting them would let an
  account hide its traffic in the quarantine); they are escaped wherever an id is shown
  (``targeting.display``).

A lone surrogate (which only a JSON escape can produce) becomes U+FFFD, as ingest does for
any text, so the rule is defined for every Python string.
"""

from __future__ import annotations

import unicodedata

import pyarrow as pa
import pyarrow.compute as pc


def normalise_id(value: str) -> str:
    """``value`` NFC-normalised with surrounding whitespace trimmed, every other character kept.

    Idempotent: a stored id normalises to itself. The caller decides what an empty result means.
    """
    if not isinstance(value, str):
        raise ValueError(f"an id must be text, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: what ingest stores for them
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return unicodedata.normalize("NFC", value).strip()


def normalise_id_array(ids: pa.Array) -> pa.Array:
    """``normalise_id`` applied to each value of a string array (nulls stay null).

    Computed once per distinct value and mapped back, so the rule is the same Python function
    (and the same Unicode version) as everywhere else, at the cost of one call per distinct id."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    distinct = pc.unique(ids.drop_null())
    if len(distinct) == 0:
        return ids
    normalised = pa.array([normalise_id(v) for v in distinct.to_pylist()], type=pa.string())
    return pc.take(normalised, pc.index_in(ids, value_set=distinct))
