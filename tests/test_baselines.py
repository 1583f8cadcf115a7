"""bench/baselines.py: each baseline on small constructed arrays whose answer is known."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "baselines.py"
_spec = importlib.util.spec_from_file_location("bench_baselines", _PATH)
bl = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bl
_spec.loader.exec_module(bl)

DIM = 32


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def spread(n: int, seed: int = 0) -> np.ndarray:
    """n random directions on the unit sphere."""
    return unit(np.random.default_rng(seed).standard_normal((n, DIM)))


def concentrated(n: int, seed: int = 0, noise: float = 0.01) -> np.ndarray:
    """n directions within a small cap around one direction."""
    rng = np.random.default_rng(seed)
    centre = unit(rng.standard_normal(DIM))
    return unit(centre + noise * rng.standard_normal((n, DIM)))


# --- volume --------------------------------------------------------------------------------
def test_volume_is_the_request_count():
    assert bl.volume(0) == 0.0
    assert bl.volume(37) == 37.0


# --- SEAT ----------------------------------------------------------------------------------
def test_seat_repeated_prompt_gives_every_pair():
    x = np.tile(spread(1), (20, 1))
    assert bl.seat_pairs(x) == 20 * 19 / 2


def test_seat_diverse_prompts_give_no_pairs():
    assert bl.seat_pairs(spread(50)) == 0.0


def test_seat_counts_only_pairs_above_threshold():
    base = spread(3, seed=1)
    x = np.vstack([base[0], base[0], base[0], base[1], base[1], base[2]])  # 3 + 1 + 0 pairs
    assert bl.seat_pairs(x) == 4.0
    assert bl.seat_pairs(x[:1]) == 0.0
    assert bl.seat_pairs(np.empty((0, DIM))) == 0.0


def test_seat_is_scale_invariant_and_uses_cosine():
    x = np.vstack([spread(1), 5.0 * spread(1)])  # same direction, different length
    assert bl.seat_pairs(x) == 1.0


def test_seat_sampling_estimates_the_full_count():
    x = np.tile(spread(1), (1000, 1))  # all pairs similar, more rows than the sample
    rng = np.random.default_rng(0)
    assert bl.seat_pairs(x, max_prompts=400, rng=rng) == pytest.approx(1000 * 999 / 2)


def test_seat_sampling_is_deterministic_per_account():
    x = np.vstack([np.tile(spread(1), (300, 1)), spread(500, seed=3)])
    a = bl.seat_pairs(x, rng=bl.account_rng("acct-1"))
    b = bl.seat_pairs(x, rng=bl.account_rng("acct-1"))
    assert a == b
    assert 0 < a  # the repeated block is found in the sample


# --- hyperplane coverage -------------------------------------------------------------------
def test_hyperplane_buckets_are_sign_patterns():
    planes = np.eye(3, dtype=np.float32)
    x = np.array([[1, 1, 1], [-1, -1, -1], [1, -1, 1], [-1, 1, -1]], dtype=np.float32)
    assert bl.hyperplane_buckets(x, planes).tolist() == [7, 0, 5, 2]


def test_random_hyperplanes_are_seeded():
    a = bl.random_hyperplanes(DIM, 16, seed=0)
    assert a.shape == (16, DIM)
    assert np.array_equal(a, bl.random_hyperplanes(DIM, 16, seed=0))
    assert not np.array_equal(a, bl.random_hyperplanes(DIM, 16, seed=1))


def test_spread_account_hits_more_buckets_than_concentrated_one():
    planes = bl.random_hyperplanes(DIM, 16)
    wide = bl.hyperplane_coverage(bl.hyperplane_buckets(spread(200), planes))
    narrow = bl.hyperplane_coverage(bl.hyperplane_buckets(concentrated(200), planes))
    assert wide > 0.9  # 200 random directions over 65,536 buckets: almost all distinct
    assert narrow < 0.2
    assert wide > narrow


def test_hyperplane_coverage_normalisation():
    b = np.array([1, 1, 2, 3])
    assert bl.hyperplane_coverage(b) == 3 / 4
    assert bl.hyperplane_coverage(b, norm="sqrt") == 3 / 2
    assert bl.hyperplane_coverage(np.array([5] * 10)) == 0.1
    assert bl.hyperplane_coverage(np.array([], dtype=np.int64)) == 0.0
    # the denominator never exceeds the number of buckets
    assert bl.hyperplane_coverage(np.array([0, 1, 2, 3, 3]), n_planes=2) == 4 / 4
    with pytest.raises(ValueError):
        bl.hyperplane_coverage(b, norm="log")


# --- MMD -----------------------------------------------------------------------------------
def test_median_bandwidth_of_orthonormal_rows():
    assert bl.median_bandwidth(np.eye(5)) == pytest.approx(np.sqrt(2))


def test_mmd_reference_sample_scores_lower_than_a_shifted_one():
    pool = spread(3000, seed=7)
    reference = bl.MMDReference(pool[:1000])
    same = bl.mmd(pool[1000:1100], reference)
    shift = unit(pool[1100:1200] + 1.0 * unit(np.ones(DIM)))
    shifted = bl.mmd(shift, reference)
    assert abs(same) < 0.01
    assert shifted > same + 0.05


def test_mmd_is_near_zero_on_average_for_reference_draws_of_any_size():
    pool = spread(3000, seed=11)
    reference = bl.MMDReference(pool[:1000])
    for m in (1, 2, 5):
        values = [bl.mmd(pool[1000 + i * m : 1000 + (i + 1) * m], reference) for i in range(150)]
        assert abs(np.mean(values)) < 0.02, m  # unbiased, the single-request case included


def test_mmd_repeated_prompt_is_unusual():
    pool = spread(2000, seed=5)
    reference = bl.MMDReference(pool[:1000])
    repeated = np.tile(pool[1500], (30, 1))
    assert bl.mmd(repeated, reference) > bl.mmd(pool[1000:1030], reference) + 0.3


def test_mmd_accepts_a_plain_array_and_samples_at_most_max_prompts():
    pool = spread(1500, seed=2)
    ref = pool[:500]
    a = bl.mmd(pool[500:], ref, max_prompts=50, rng=bl.account_rng("x"))
    b = bl.mmd(pool[500:], bl.MMDReference(ref), max_prompts=50, rng=bl.account_rng("x"))
    assert a == pytest.approx(b)
    assert bl.mmd(np.empty((0, DIM)), ref) == 0.0


# --- metrics and the per-account driver -----------------------------------------------------
def test_campaign_kind():
    assert bl.campaign_kind("reasoning-1") == "reasoning"
    assert bl.campaign_kind("agentic_coding-12") == "agentic_coding"
    assert bl.campaign_kind("") == "unknown"
    assert bl.campaign_kind(None) == "unknown"
    assert bl.campaign_kind(float("nan")) == "unknown"


def test_detection_metrics_on_a_perfect_and_a_useless_score():
    positive = np.array([False] * 200 + [True] * 10)
    kinds = np.array([""] * 200 + ["a"] * 5 + ["b"] * 5, dtype=object)
    perfect = np.r_[np.zeros(200), np.ones(10)]
    m = bl.detection_metrics(perfect, positive, kinds)
    assert m["auroc"] == 1.0 and m["auprc"] == 1.0 and m["recall_at_1pct_fpr"] == 1.0
    assert m["recall_by_campaign_kind"] == {"a": 1.0, "b": 1.0}
    flat = bl.detection_metrics(np.ones(210), positive, kinds)
    assert flat["auroc"] == 0.5 and flat["recall_at_1pct_fpr"] == 0.0
    table = bl.format_table({"perfect": m, "flat": flat})
    assert table.splitlines()[0] == "| detector | AUROC | AUPRC | recall@1%FPR | a | b |"
    assert table.splitlines()[2].startswith("| perfect | 1.000 | 1.000 | 1.000 |")


def test_baseline_scores_per_account():
    vecs = np.vstack([spread(60, seed=4), np.tile(spread(1, seed=9), (1, 1))]).astype(np.float32)
    hashes = pd.Index([f"h{i}" for i in range(len(vecs))])
    req = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(90)],
            # "spread": 60 distinct prompts; "repeat": one prompt 30 times
            "account_id": ["spread"] * 60 + ["repeat"] * 30,
            "timestamp": pd.date_range("2026-01-01", periods=90, freq="min", tz="UTC"),
            "prompt_hash": [f"h{i}" for i in range(60)] + ["h60"] * 30,
        }
    )
    scores, notes = bl.baseline_scores(req, vecs, hashes, reference_size=50)
    scores = scores.set_index("account_id")
    assert notes["requests_without_vector"] == 0 and notes["mmd_reference_size"] == 50
    assert scores.loc["spread", "volume"] == 60 and scores.loc["repeat", "volume"] == 30
    assert scores.loc["repeat", "seat_pairs"] == 30 * 29 / 2 and scores.loc["spread", "seat_pairs"] == 0
    assert scores.loc["spread", "hyperplane_coverage"] > 0.9
    assert scores.loc["repeat", "hyperplane_coverage"] == pytest.approx(1 / 30)
    assert scores.loc["repeat", "mmd"] > scores.loc["spread", "mmd"]
    again, _ = bl.baseline_scores(req, vecs, hashes, reference_size=50)
    pd.testing.assert_frame_equal(scores, again.set_index("account_id"))
