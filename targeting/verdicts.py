"""Analysts' verdicts on accounts and campaigns: an append-only audit trail in SQLite.

Why SQLite and not a Parquet file like the rest of the workspace: verdicts arrive one at a
time from the app while the nightly batch may be committing a run. SQLite in WAL mode lets
the app append and read without ever blocking the batch (which never opens this file for
writing; it only reads the latest verdicts when it writes scores), and every connection is
short-lived with a busy timeout, so two analysts saving at once wait milliseconds rather
than fail. The table is append-only (triggers refuse UPDATE and DELETE): a changed mind is
a new row, so the trail shows who decided what, when, and on which score.

``apply_verdicts`` is pure: it joins the latest verdicts onto a score table. A dismissal
records the risk score the analyst saw; the account is not flagged again for the same
evidence unless its score rises above that figure times ``REFLAG_MARGIN``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sqlite3
from datetime import datetime, timezone
from typing import Iterator

import numpy as np
import pandas as pd

from targeting import workspace as W
from targeting.ids import normalise_id

VERDICTS: tuple[str, ...] = ("confirmed", "dismissed", "needs_review")
TARGET_KINDS: tuple[str, ...] = ("account", "campaign")
COLUMNS: tuple[str, ...] = ("target_kind", "target_id", "verdict", "note", "analyst", "risk_score", "run_id", "at")
# A dismissed account is flagged again only when its risk score exceeds the score it had
# when dismissed by more than 10%: new evidence, not the nightly jitter of the same evidence.
REFLAG_MARGIN = 1.1
BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another writer before giving up
MAX_NOTE_CHARS = 4_000
MAX_ID_CHARS = 200  # an analyst's name
# the columns apply_verdicts adds to a score table
VERDICT_COLUMNS: tuple[str, ...] = (
    "verdict", "verdict_note", "verdict_by", "verdict_at", "verdict_target", "suppressed",
    "flagged_by_model", "severity_by_model",
)
_SUPPRESSED_PREFIX = re.compile(r"^\[dismissed [^\]]*\] ")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    target_kind TEXT NOT NULL CHECK (target_kind IN ('account', 'campaign')),
    target_id   TEXT NOT NULL,
    verdict     TEXT NOT NULL CHECK (verdict IN ('confirmed', 'dismissed', 'needs_review')),
    note        TEXT NOT NULL,
    analyst     TEXT NOT NULL,
    risk_score  REAL,
    run_id      TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_target ON verdicts (target_kind, target_id, seq);
CREATE TRIGGER IF NOT EXISTS verdicts_no_update BEFORE UPDATE ON verdicts
BEGIN SELECT RAISE(ABORT, 'verdicts are append-only'); END;
CREATE TRIGGER IF NOT EXISTS verdicts_no_delete BEFORE DELETE ON verdicts
BEGIN SELECT RAISE(ABORT, 'verdicts are append-only'); END;
"""


def empty_frame() -> pd.DataFrame:
    """The audit trail's columns with no rows (typed like a read)."""
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    frame["risk_score"] = frame["risk_score"].astype(float)
    frame["at"] = frame["at"].astype("datetime64[us, UTC]")
    return frame


@contextlib.contextmanager
def _connect(ws: W.Workspace) -> Iterator[sqlite3.Connection]:
    """A short-lived connection in WAL mode; closed on exit so no lock outlives a call."""
    path = ws.verdicts_path
    fresh = not path.exists()
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        if fresh:
            os.chmod(path, W.FILE_MODE)  # prompts' verdicts are as sensitive as the prompts
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA journal_mode = WAL")
        con.executescript(_SCHEMA)
        yield con
    finally:
        con.close()


def _clean_text(value: str, what: str, limit: int, *, required: bool) -> str:
    """An analyst's free text (name, note): non-printable characters but newline and tab
    removed, surrounding whitespace trimmed, checked for emptiness and length."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, not {type(value).__name__}")
    text = "".join(ch for ch in value if ch in "\n\t" or ch.isprintable()).strip()
    if required and not text:
        raise ValueError(f"{what} is empty")
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text):,} characters long; at most {limit:,} are allowed")
    return text


def _clean_id(value: str) -> str:
    """The target id as ingest stores ids (``targeting.ids.normalise_id``: NFC, surrounding
    whitespace trimmed, nothing else removed), so the verdict names exactly one stored target.
    No length cap: a verdict can name any id ingest stored, however long."""
    if not isinstance(value, str):
        raise ValueError(f"target_id must be text, not {type(value).__name__}")
    target = normalise_id(value)
    if not target:
        raise ValueError("target_id is empty")
    return target


def _utc_iso(at: datetime | None) -> str:
    moment = at or datetime.now(timezone.utc)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # naive times are UTC, as everywhere here
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def record_verdict(
    ws: W.Workspace,
    *,
    target_kind: str,
    target_id: str,
    verdict: str,
    note: str,
    analyst: str,
    risk_score: float | None = None,
    run_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append one verdict to the workspace's audit trail (never changes an earlier row).

    ``risk_score`` is the score the analyst saw (for a campaign: its highest member score);
    a dismissal only holds while the score stays within ``REFLAG_MARGIN`` of it.
    """
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target_kind {target_kind!r}: use one of {', '.join(TARGET_KINDS)}")
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r}: use one of {', '.join(VERDICTS)}")
    target = _clean_id(target_id)
    who = _clean_text(analyst, "analyst", MAX_ID_CHARS, required=True)
    text = _clean_text(note, "note", MAX_NOTE_CHARS, required=False)
    score = None
    if risk_score is not None:
        score = float(risk_score)
        if not math.isfinite(score):
            raise ValueError(f"risk_score {risk_score!r} is not a finite number")
    if run_id is not None and not isinstance(run_id, str):
        raise ValueError(f"run_id must be text, not {type(run_id).__name__}")
    row = (target_kind, target, verdict, text, who, score, run_id, _utc_iso(at))
    with _connect(ws) as con:
        con.execute(
            "INSERT INTO verdicts (target_kind, target_id, verdict, note, analyst, risk_score, run_id, at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )


def read_verdicts(ws: W.Workspace) -> pd.DataFrame:
    """Every verdict ever recorded, oldest first; an empty frame when there is none."""
    if not ws.verdicts_path.exists():
        return empty_frame()
    with _connect(ws) as con:
        rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM verdicts ORDER BY seq").fetchall()
    if not rows:
        return empty_frame()
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["risk_score"] = frame["risk_score"].astype(float)
    frame["at"] = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    return frame


def latest_verdicts(ws: W.Workspace) -> pd.DataFrame:
    """The standing verdict per (target_kind, target_id): the last one recorded."""
    return latest_of(read_verdicts(ws))


def latest_of(trail: pd.DataFrame) -> pd.DataFrame:
    """The last row per (target_kind, target_id) of an audit trail in recording order."""
    if trail.empty:
        return trail.reset_index(drop=True)
    return trail.drop_duplicates(["target_kind", "target_id"], keep="last").reset_index(drop=True)


def _effective(scores: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """Per score row, the verdict that concerns it: its own or its campaign's, the later one."""
    idx = scores.index
    empty = pd.DataFrame(index=idx, columns=list(COLUMNS) + ["_target"], dtype=object)
    if latest.empty:
        return empty
    by_account = latest[latest["target_kind"] == "account"].set_index("target_id")
    by_campaign = latest[latest["target_kind"] == "campaign"].set_index("target_id")
    own = by_account.reindex(scores["account_id"].astype(str).to_numpy())
    own.index = idx
    campaign_ids = scores["campaign_id"].fillna("").astype(str).to_numpy() if "campaign_id" in scores else np.full(len(idx), "")
    via = by_campaign.reindex(campaign_ids)
    via.index = idx
    via.loc[campaign_ids == ""] = np.nan
    own_at = pd.to_datetime(own["at"], utc=True)
    via_at = pd.to_datetime(via["at"], utc=True)
    take_campaign = via_at.notna() & (own_at.isna() | (via_at > own_at))
    out = own.copy()
    out.loc[take_campaign] = via.loc[take_campaign]
    out["_target"] = np.where(take_campaign, "campaign", np.where(own_at.notna(), "account", None))
    return out


def apply_verdicts(scores: pd.DataFrame, latest: pd.DataFrame, *, margin: float = REFLAG_MARGIN) -> pd.DataFrame:
    """The score table with the standing verdicts joined on and dismissals honoured.

    Adds ``verdict, verdict_note, verdict_by, verdict_at`` (the account's own latest
    verdict or its campaign's, whichever is later), ``verdict_target`` (account or
    campaign), ``suppressed`` and the model's own decision (``flagged_by_model``,
    ``severity_by_model``). An account dismissed while its risk score was r is set
    ``flagged=False`` (severity none, a note at the start of ``reasons``) unless its
    current risk score is above r * ``margin``. Applying it again with other verdicts
    starts from the model's decision, so a later verdict can lift a suppression.
    """
    out = scores.copy()
    if "flagged_by_model" in out:
        out["flagged"] = out["flagged_by_model"].astype(bool)
        if "severity_by_model" in out and "severity" in out:
            out["severity"] = out["severity_by_model"]
    if "reasons" in out:
        out["reasons"] = out["reasons"].fillna("").astype(str).str.replace(_SUPPRESSED_PREFIX, "", regex=True)
    out["flagged_by_model"] = out["flagged"].astype(bool) if "flagged" in out else False
    if "severity" in out:
        out["severity_by_model"] = out["severity"]
    eff = _effective(out, latest)
    out["verdict"] = eff["verdict"].astype(object).where(eff["verdict"].notna(), "")
    out["verdict_note"] = eff["note"].astype(object).where(eff["note"].notna(), "")
    out["verdict_by"] = eff["analyst"].astype(object).where(eff["analyst"].notna(), "")
    out["verdict_at"] = pd.to_datetime(eff["at"], utc=True)
    out["verdict_target"] = eff["_target"].astype(object).where(eff["_target"].notna(), "")
    dismissed_at = pd.to_numeric(eff["risk_score"], errors="coerce")
    risk = pd.to_numeric(out["risk_score"], errors="coerce") if "risk_score" in out else pd.Series(np.nan, index=out.index)
    holds = (out["verdict"] == "dismissed") & ~(risk > dismissed_at * margin)  # NaN score: the dismissal holds
    suppressed = holds & out["flagged_by_model"]
    out["suppressed"] = suppressed.astype(bool)
    if suppressed.any():
        out.loc[suppressed, "flagged"] = False
        if "severity" in out:
            out.loc[suppressed, "severity"] = "none"
        if "reasons" in out:
            notes = [
                _suppression_note(who, at, r, margin, target)
                for who, at, r, target in zip(
                    out.loc[suppressed, "verdict_by"], out.loc[suppressed, "verdict_at"],
                    dismissed_at[suppressed], out.loc[suppressed, "verdict_target"],
                )
            ]
            out.loc[suppressed, "reasons"] = [n + r for n, r in zip(notes, out.loc[suppressed, "reasons"])]
    return out


def _suppression_note(who: str, at: pd.Timestamp, risk: float, margin: float, target: str) -> str:
    via = " (its campaign)" if target == "campaign" else ""
    day = at.strftime("%Y-%m-%d") if pd.notna(at) else "?"
    if np.isfinite(risk):
        return f"[dismissed{via} by {who} on {day} at risk {risk:.3f}; flagged again above {risk * margin:.3f}] "
    return f"[dismissed{via} by {who} on {day}] "
