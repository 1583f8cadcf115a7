"""Files people open: CSV cells a spreadsheet will not run, written atomically, owner-only.

Every text field of a log is written by the people being watched, and an account id such as
``=HYPERLINK("http://x")`` or ``+cmd|' /C calc'!A0`` is a formula to a spreadsheet. Every CSV
the product writes neutralises text cells that start with ``= + - @``, a tab or a carriage
return by prefixing a single quote (the OWASP CSV-injection rule); Parquet keeps the exact
values. Files are written to a temporary file in the target folder and renamed into place,
so a reader never sees half a file and a symlink at the target is replaced, never followed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FILE_MODE = 0o600


def neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells starting with ``FORMULA_STARTS`` begin with a quote."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype.kind not in "OSU" and str(values.dtype) not in ("string", "str"):
            continue
        text = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS))
        if text.any():
            out[column] = values.astype(object).where(~text, "'" + values[text].astype(str))
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV, formula-like cells neutralised (the app's downloads)."""
    return neutralise(frame).to_csv(index=False).encode("utf-8")


def write_file(out: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a new temporary file beside ``out`` (mode 0600, a name no one else
    holds: ``mkstemp``), then rename it over ``out``: a reader, or a run killed at any point,
    never leaves a half-written ``out``, and a symlink at ``out`` is replaced, never followed.
    On an error the temporary file is removed (a killed process leaves it, never ``out``)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, out)  # replaces a symlink at ``out`` itself, never its target
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """``frame`` as CSV (neutralised) or Parquet (exact) by the file's extension, written
    atomically, mode 0600 (``write_file``). Raises ValueError for any other extension."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"--out {out}: use a .csv or .parquet file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        write_file(out, lambda handle: handle.write(csv_bytes(frame)))
    else:
        write_file(out, lambda handle: frame.to_parquet(handle, index=False))
