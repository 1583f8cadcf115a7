"""Account ids written by the watched: one normalisation at ingest, verdicts, queries and the CLI.

An id is NFC-normalised and its surrounding whitespace trimmed; every other character is kept
exactly (zero-width spaces, bidi overrides, escape characters, no-break spaces), so two ids
that differ in any such character are two accounts, and a verdict names exactly one of them.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from targeting import workspace as W
from targeting.ids import normalise_id, normalise_id_array
from targeting.ingest import IngestConfig, iter_batches
from targeting.verdicts import apply_verdicts, latest_verdicts, record_verdict

# (as written in the log, as stored)
HOSTILE = [
    ("a\u200bb", "a\u200bb"),              # zero-width space: a different account from "ab"
    ("ab", "ab"),
    ("x\u202ey", "x\u202ey"),              # right-to-left override
    ("nbsp\u00a0id", "nbsp\u00a0id"),      # no-break space inside
    ("esc\x1b[31mred", "esc\x1b[31mred"),  # an ANSI colour sequence
    ("e\u0301t", "\u00e9t"),               # decomposed: stored composed (NFC)
    ("  pad\u200b  ", "pad\u200b"),        # surrounding whitespace trimmed, the rest kept
    ("L" * 500 + "\u200b", "L" * 500 + "\u200b"),  # long: a verdict can still name it
]


def _log(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "log.jsonl"
    rows = [{"account_id": a, "timestamp": "2026-11-01T10:00:00Z", "prompt": f"prompt {i}"} for i, a in enumerate(ids)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_ingest_stores_each_hostile_id_nfc_normalised_and_otherwise_exact(tmp_path):
    batches = list(iter_batches([_log(tmp_path, [raw for raw, _ in HOSTILE])], IngestConfig()))
    stored = [a for b in batches for a in b.good.column("account_id").to_pylist()]
    assert sum(b.quarantine.num_rows for b in batches) == 0
    assert stored == [want for _, want in HOSTILE]


def test_normalise_id_is_the_ingest_normalisation_and_idempotent():
    samples = [raw for raw, _ in HOSTILE] + ["\u2000x\u3000", "A\u030a", "\ufb01", "x\u0085", "k\u2028l", "7"]
    assert normalise_id_array(pa.array(samples)).to_pylist() == [normalise_id(s) for s in samples]
    for raw, want in HOSTILE:
        assert normalise_id(raw) == want
        assert normalise_id(want) == want
        assert unicodedata.is_normalized("NFC", normalise_id(raw))
    assert normalise_id("\ufb01") == "\ufb01"  # NFC, not NFKC: a ligature stays a ligature


def test_verdicts_land_on_the_account_they_name_and_on_no_other(tmp_path):
    ws = W.open_workspace(tmp_path / "ws", create=True)
    stored = [want for _, want in HOSTILE]
    scores = pd.DataFrame({
        "account_id": stored, "campaign_id": [""] * len(stored), "risk_score": [0.9] * len(stored),
        "flagged": [True] * len(stored), "severity": ["high"] * len(stored), "reasons": ["r"] * len(stored),
    })
    for raw, want in HOSTILE:  # each verdict names the account as the log wrote it
        record_verdict(ws, target_kind="account", target_id=raw, verdict="dismissed",
                       note=f"about {want!r}", analyst="ana", risk_score=0.9)
    out = apply_verdicts(scores, latest_verdicts(ws)).set_index("account_id")
    for want in stored:
        assert out.loc[want, "verdict"] == "dismissed", repr(want)
        assert out.loc[want, "verdict_note"] == f"about {want!r}", repr(want)
    assert sorted(latest_verdicts(ws)["target_id"]) == sorted(stored)


def test_one_verdict_leaves_the_look_alike_accounts_alone(tmp_path):
    ws = W.open_workspace(tmp_path / "ws", create=True)
    stored = ["ab", "a\u200bb", "a\u00a0b", "a\u202eb"]
    scores = pd.DataFrame({"account_id": stored, "campaign_id": [""] * 4, "risk_score": [0.9] * 4,
                           "flagged": [True] * 4, "severity": ["high"] * 4, "reasons": ["r"] * 4})
    for target in stored:
        record_verdict(ws, target_kind="account", target_id=target, verdict="confirmed", note="", analyst="ana")
        out = apply_verdicts(scores, latest_verdicts(ws)).set_index("account_id")
        assert out.loc[target, "verdict"] == "confirmed"
        ws.verdicts_path.unlink()  # start again with an empty trail
        for other in set(stored) - {target}:
            assert out.loc[other, "verdict"] == "", (target, other)


@pytest.mark.parametrize("bad", ["", "   ", "\u00a0\u3000"])
def test_a_verdict_on_an_empty_id_is_refused(tmp_path, bad):
    ws = W.open_workspace(tmp_path / "ws", create=True)
    with pytest.raises(ValueError, match="empty"):
        record_verdict(ws, target_kind="account", target_id=bad, verdict="confirmed", note="", analyst="ana")
