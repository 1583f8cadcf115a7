"""The input contract (../shared/CONTRACT.md) and the stored table layouts.

Nothing else in the package spells a column name by heart: import the constants.
"""

from __future__ import annotations

import pyarrow as pa

# --- request log columns (the contract) -------------------------------------------------
ACCOUNT_ID = "account_id"
TIMESTAMP = "timestamp"
PROMPT = "prompt"
REQUEST_ID = "request_id"
SYSTEM = "system"
TOOLS = "tools"
IP = "ip"
ACCOUNT_CREATED_AT = "account_created_at"

REQUIRED_COLUMNS: tuple[str, ...] = (ACCOUNT_ID, TIMESTAMP, PROMPT)
OPTIONAL_COLUMNS: tuple[str, ...] = (REQUEST_ID, SYSTEM, TOOLS, IP, ACCOUNT_CREATED_AT)
CONTRACT_COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# --- derived columns added at ingest -----------------------------------------------------
PROMPT_HASH = "prompt_hash"  # sha256 hex of the prompt text: the embedding cache key
CONTEXT_HASH = "context_hash"  # sha256 hex of system + tools text, or null when both absent
DATE = "date"  # UTC calendar day of the timestamp, the partition key
METADATA = "metadata"  # JSON object of the columns the contract does not name

# --- per-request results ------------------------------------------------------------------
AREA = "area"
CLUSTER_ID = "cluster_id"

# --- capability areas (the default taxonomy; data/taxonomy.json can change it) ----------
DEFAULT_AREAS: tuple[str, ...] = ("reasoning", "tool_use", "agentic_coding", "other")
OTHER_AREA = "other"

REQUEST_SCHEMA = pa.schema(
    [
        pa.field(REQUEST_ID, pa.string(), nullable=False),
        pa.field(ACCOUNT_ID, pa.string(), nullable=False),
        pa.field(TIMESTAMP, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(PROMPT, pa.string(), nullable=False),
        pa.field(SYSTEM, pa.string()),
        pa.field(TOOLS, pa.string()),
        pa.field(IP, pa.string()),
        pa.field(ACCOUNT_CREATED_AT, pa.timestamp("us", tz="UTC")),
        pa.field(PROMPT_HASH, pa.string(), nullable=False),
        pa.field(CONTEXT_HASH, pa.string()),
        pa.field(DATE, pa.date32(), nullable=False),
        pa.field(METADATA, pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string()),
        pa.field("row", pa.int64()),
        pa.field("field", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),  # the row as JSON, prompt text truncated
    ]
)

ASSIGNMENT_SCHEMA = pa.schema(
    [
        pa.field(REQUEST_ID, pa.string(), nullable=False),
        pa.field(ACCOUNT_ID, pa.string(), nullable=False),
        pa.field(TIMESTAMP, pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field(PROMPT_HASH, pa.string(), nullable=False),
        pa.field(AREA, pa.string(), nullable=False),
        pa.field(CLUSTER_ID, pa.string(), nullable=False),
        pa.field("distance", pa.float32()),
        pa.field(DATE, pa.date32(), nullable=False),
    ]
)

# --- account score table (the contract's `export accounts`) -----------------------------
SCORE_COLUMNS: tuple[str, ...] = (
    "account_id",
    "n_requests",
    "first_seen",
    "last_seen",
    "dominant_area",
    "share_reasoning",
    "share_tool_use",
    "share_agentic_coding",
    "share_other",
    "coverage",
    "diversity",
    "regularity",
    "novelty",
    "template_share",
    "cot_share",
    "risk_score",
    "flagged",
    "reasons",
    "campaign_id",
)


# --- shift figures per night (``targeting.shifts``; shifts/as_of=DAY.parquet) ------------
SHIFT_SCHEMA = pa.schema(
    [
        pa.field("as_of", pa.string()),
        pa.field("target_kind", pa.string()),  # account | campaign
        pa.field("target_id", pa.string()),
        pa.field("requests", pa.int64()),  # on the night
        pa.field("history_days", pa.int64()),  # earlier nights with requests in the history
        pa.field("history_requests", pa.int64()),
        pa.field("daily_mean", pa.float64()),
        pa.field("volume_ratio", pa.float64()),
        pa.field("previous_day", pa.string()),
        pa.field("previous_requests", pa.int64()),
        pa.field("move_history", pa.float64()),  # share of the night's traffic moved, against the history
        pa.field("move_previous", pa.float64()),  # ... against the previous active night
        pa.field("to_area", pa.string()),  # the area that gained most
        pa.field("to_share", pa.float64()),
        pa.field("from_share", pa.float64()),
        pa.field("z", pa.float64()),
        pa.field("release", pa.string()),  # the model release the night follows, or ""
        pa.field("alert", pa.bool_()),
        pa.field("reason", pa.string()),
    ]
)


def share_column(area: str) -> str:
    """Name of the column holding an account's share of requests in ``area``."""
    return f"share_{area}"
