"""The ingest package's shared types and limits: its configuration, the batch it yields,
the constants every reader and validator uses."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from targeting import schema as sc


@dataclass(frozen=True)
class IngestConfig:
    batch_rows: int = 50_000  # rows per yielded batch
    max_prompt_chars: int = 200_000  # longer prompts are quarantined
    max_bad_share: float = 0.05  # checked by the caller, kept here as the single home
    # longer JSON lines are quarantined unread: room for a prompt at the cap in the widest
    # JSON escaping (12 bytes a character) plus a long system prompt and tools
    max_line_bytes: int = 8 << 20

    def __post_init__(self) -> None:
        if int(self.batch_rows) < 1:
            raise ValueError(f"batch_rows must be at least 1, got {self.batch_rows}")
        if int(self.max_prompt_chars) < 1:
            raise ValueError(f"max_prompt_chars must be at least 1, got {self.max_prompt_chars}")
        if int(self.max_line_bytes) < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {self.max_line_bytes}")
        if not 0.0 <= float(self.max_bad_share) <= 1.0:
            raise ValueError(f"max_bad_share must be between 0 and 1, got {self.max_bad_share}")


NO_ROWS = np.zeros(0, np.int64)


@dataclass(frozen=True)
class IngestBatch:
    good: pa.Table  # exactly schema.REQUEST_SCHEMA
    quarantine: pa.Table  # exactly schema.QUARANTINE_SCHEMA
    source: Path
    rows_read: int  # rows of the file covered by this batch
    # 1-based row (JSON Lines: line) of each good row in the file
    good_rows: np.ndarray = field(default_factory=lambda: NO_ROWS)


CONTRACT = frozenset(sc.CONTRACT_COLUMNS)
CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # Unicode Cc minus \t \n \r
NUMBER_RE = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
US = 1_000_000
TIME_LO = 631_152_000 * US  # 1990-01-01T00:00:00Z
TIME_HI = 4_102_444_800 * US  # 2100-01-01T00:00:00Z
EPOCH_MS_ABOVE = 1e11
RAW_PROMPT_CHARS = 200
RAW_TEXT_CHARS = 1_000
RAW_DEPTH = 8
CSV_BLOCK = 16 << 20
CSV_MAX_BLOCK = 1 << 30
NULL_STR = pa.scalar(None, pa.string())
# what reading a damaged file raises: I/O errors, gzip's BadGzipFile (an OSError), a
# truncated gzip (EOFError), a corrupt deflate block ("invalid block type": zlib.error)
READ_ERRORS = (OSError, EOFError, zlib.error)

# per-row time status
T_OK, T_MISSING, T_BAD, T_RANGE = 0, 1, 2, 3


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
