"""Shared by the nightly and Ray tests: generated logs laid out as they land, and a small
static embedding model written directly (no distillation), loadable by path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from targeting.distill import write_static_model


def write_landing(traffic: pd.DataFrame, root: Path) -> Path:
    """Logs as they land: one Parquet file per day under date=YYYY-MM-DD/."""
    days = traffic["timestamp"].dt.date
    for day in sorted(days.unique()):
        folder = root / f"date={day}"
        folder.mkdir()
        traffic[days == day].to_parquet(folder / "part-0.parquet", index=False)
    return root


def write_bow_model(traffic: pd.DataFrame, out: Path, dim: int) -> Path:
    """A static model of random vectors per lower-case word of the traffic's prompts."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    words = sorted({w for p in traffic["prompt"] for w in p.lower().split()})
    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    weights = np.random.default_rng(0).normal(size=(len(vocab), dim)).astype(np.float32)
    write_static_model(out, tokenizer, weights, {"source": "test", "source_sha256": "0" * 64, "pca_dims": dim,
                                                 "sif_coefficient": None})
    return out
