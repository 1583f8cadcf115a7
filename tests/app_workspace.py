"""A small real workspace for the app's tests, built in seconds instead of minutes.

The real pipeline (ingest, map fit, assign, index, score, campaigns, risk) runs on
generated traffic; only the embedding model is replaced by ``HashingEncoder``, a
deterministic bag-of-words hash, because the app's tests are about what the app shows, not
about embedding quality, and the real model embeds about 60 prompts a second here. Three
extra nightly ``score`` runs give the Overview page a trend and a previous night.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from targeting.config import load_settings
from targeting.embed import normalise
from targeting.jobs import run, score
from targeting.simulate import SimConfig, simulate, write_traffic

ACCOUNTS = 100
VOLUME = 0.3  # about 2,000 requests
SEED = 3
NIGHTS = (date(2026, 11, 13), date(2026, 11, 14))  # the traffic spans Nov 1-14
WINDOW_DAYS = 7
FP_BUDGET = 0.3  # flag about the top third: the app needs flagged accounts, whatever the detector does


class HashingEncoder:
    """Texts to unit vectors by hashing their words into signed buckets (no model, no I/O)."""

    model_id = "hashing-test-encoder"
    weights_sha256 = hashlib.sha256(b"hashing-test-encoder").hexdigest()
    model_key = f"hashing-test-encoder-{weights_sha256[:12]}"
    dim = 64

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int(hashlib.md5(word.encode()).hexdigest()[:8], 16)
                out[i, h % self.dim] += 1.0 if (h >> 8) & 1 else -1.0
        return normalise(out)


def build(
    root: Path, *, accounts: int = ACCOUNTS, volume: float = VOLUME, nights: Sequence[date] = NIGHTS,
    fp_budget: float = FP_BUDGET, window_days: int = WINDOW_DAYS,
) -> Path:
    """Simulate traffic, run the pipeline into ``root/workspace`` and score ``nights``; return it."""
    traffic = root / "traffic"
    requests, labels = simulate(SimConfig(seed=SEED, n_accounts=accounts, volume_scale=volume))
    write_traffic(traffic, requests, labels)
    ws = root / "workspace"
    settings = load_settings(environ={}, overrides={"risk": {"fp_budget": fp_budget}})
    encoder = HashingEncoder()
    run([traffic / "requests.parquet"], ws, settings, encoder=encoder)
    for night in nights:
        score(ws, settings, as_of=night, window_days=window_days, encoder=encoder)
    return ws


def shared(tmp_path_factory) -> Path:
    """One workspace per test session, whichever app test module asks first."""
    base = tmp_path_factory.getbasetemp() / "app-workspace"
    ws = base / "workspace"
    if not (ws / "state.json").exists():
        base.mkdir(exist_ok=True)
        build(base)
        scores = pd.read_parquet(next((ws / "scores").glob("as_of=2026-11-14/*.parquet")))
        flagged = scores[scores["flagged"]]
        assert len(flagged) and (flagged["campaign_id"] != "").any(), (
            "the app tests' workspace has no flagged campaign member: the pages' detail views cannot be tested")
    return ws
