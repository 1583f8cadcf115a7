"""Input expansion: files, folders and globs to the sorted list of supported files."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Sequence


from targeting.errors import InputError


_FORMATS: tuple[tuple[str, str], ...] = (
    (".parquet", "parquet"),
    (".pq", "parquet"),
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".csv.gz", "csv"),
    (".csv", "csv"),
)
SUPPORTED_TEXT = ", ".join(ext for ext, _ in _FORMATS)


def format_of(path: Path) -> str | None:
    name = path.name.lower()
    for ext, fmt in _FORMATS:
        if name.endswith(ext):
            return fmt
    return None


def _is_hidden(path: Path, root: Path) -> bool:
    """Hidden or bookkeeping files inside a folder (``.crc``, ``_SUCCESS``, ``.git/``)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:  # pragma: no cover - rglob stays under root
        parts = path.parts
    return any(p.startswith((".", "_")) for p in parts)


def _files_under(folder: Path) -> list[Path]:
    return [
        f
        for f in folder.rglob("*")
        if f.is_file() and format_of(f) is not None and not _is_hidden(f, folder)
    ]


def expand_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """Files, folders and globs -> sorted unique list of (absolute) files.

    Folders are searched recursively for supported files (hidden and ``_``-prefixed entries
    skipped, other file types ignored). Globs (``*``, ``?``, ``[``; ``**`` recurses) keep the
    supported files they match and expand matched folders. Raises :class:`InputError` for a
    path or glob that matches no supported file, and for a named file whose extension is not
    supported.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    found: dict[str, Path] = {}
    for item in inputs:
        text = os.path.expanduser(str(item))
        if not text.strip():
            raise InputError("empty input path")
        path = Path(text)
        if path.is_dir():
            files = _files_under(path)
            if not files:
                raise InputError(
                    f"{item}: folder holds no input files (expected {SUPPORTED_TEXT})"
                )
        elif path.is_file():
            if format_of(path) is None:
                raise InputError(f"{item}: unsupported file type (expected {SUPPORTED_TEXT})")
            files = [path]
        elif any(ch in text for ch in "*?["):
            files = []
            for match in sorted(glob.glob(text, recursive=True)):
                m = Path(match)
                if m.is_dir():
                    files.extend(_files_under(m))
                elif m.is_file() and format_of(m) is not None:
                    files.append(m)
            if not files:
                raise InputError(f"{item}: matches no input files (expected {SUPPORTED_TEXT})")
        else:
            raise InputError(f"{item}: no such file or folder")
        for f in files:
            resolved = f.resolve()
            found.setdefault(str(resolved), resolved)
    return [found[k] for k in sorted(found)]
