"""Each signal on small constructed cases where the right answer is known."""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

from targeting.config import SignalConfig
from targeting.signals import compute_signals
from targeting.signals.areas import area_shares
from targeting.signals.base import SignalContext
from targeting.signals.coverage import coverage, expected_distinct
from targeting.signals.elicitation import load_cot_exemplars, train_cot_detector
from targeting.signals.novelty import near_duplicate_of_earlier, novelty
from targeting.signals.spread import mean_nn_distance, mean_pairwise_distance, spread, vendi_score
from targeting.signals.templates import skeleton, system_keys, template_keys, templates

AREAS = ("reasoning", "tool_use", "agentic_coding", "other")


def unit(rng, n, d=32):
    v = rng.normal(size=(n, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_ctx(vectors, texts=None, n_clusters=8, cluster_area=None, elicited_area=None):
    texts = texts or [f"prompt number {i} about topic {i % 7}" for i in range(len(vectors))]
    cluster_area = np.array(cluster_area if cluster_area is not None else [i % 4 for i in range(n_clusters)])
    return SignalContext(
        vectors=np.asarray(vectors, dtype=np.float32),
        texts=tuple(texts),
        areas=AREAS,
        cluster_area=cluster_area,
        target_areas=(0, 1, 2),
        config=SignalConfig(),
        elicited_area=elicited_area,
    )


def frame_of(rows):
    df = pd.DataFrame(rows, columns=["account_id", "timestamp", "row", "area", "cluster"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    return df


# --- areas -------------------------------------------------------------------------------------
def test_area_shares_sum_to_one_and_pick_the_dominant_area():
    rows = [("a", i, i, 0 if i < 8 else 3, 0) for i in range(10)] + [("b", i, i, 1, 1) for i in range(5)]
    out = area_shares(frame_of(rows), make_ctx(np.eye(16)))
    shares = out[[f"share_{a}" for a in AREAS]]
    assert np.allclose(shares.sum(axis=1), 1.0)
    assert out.loc["a", "dominant_area"] == "reasoning" and out.loc["a", "share_reasoning"] == pytest.approx(0.8)
    assert out.loc["b", "target_share"] == 1.0 and out.loc["b", "area_entropy"] == pytest.approx(0.0)


def test_everyday_questions_that_elicit_reasoning_draw_reasoning_but_stay_other_content():
    # a relay: "other" questions with an injected "reason inside tags" instruction (rows 0-5),
    # and two plain "other" questions; a tool-use request that elicits reasoning stays tool use
    rows = [("relay", i, i, 3, 0) for i in range(8)] + [("tools", i, 8 + i, 1, 1) for i in range(3)]
    cot = np.array([0.9] * 6 + [0.1] * 2 + [0.9] * 3)
    out = area_shares(frame_of(rows), make_ctx(np.eye(16), elicited_area=0), cot)
    assert out.loc["relay", "content_area"] == "other" and out.loc["relay", "share_other"] == 1.0
    assert out.loc["relay", "dominant_area"] == "reasoning"
    assert out.loc["tools", "dominant_area"] == out.loc["tools", "content_area"] == "tool_use"
    # without an elicited area (or without probabilities) the two are the same
    plain = area_shares(frame_of(rows), make_ctx(np.eye(16)), cot)
    assert (plain["dominant_area"] == plain["content_area"]).all()
    assert area_shares(frame_of(rows), make_ctx(np.eye(16), elicited_area=0)).loc["relay", "dominant_area"] == "other"


# --- coverage ------------------------------------------------------------------------------------
def test_expected_distinct_grows_with_volume_and_saturates():
    p = np.full(10, 0.1)
    e = expected_distinct(p, np.array([1, 5, 50, 5000]))
    assert e[0] == pytest.approx(1.0)
    assert e[0] < e[1] < e[2] < e[3] <= 10.0 and e[3] > 9.99


def test_systematic_coverage_beats_a_clumpy_user_of_the_same_volume():
    rng = np.random.default_rng(0)
    n_clusters = 20
    rows = []
    # 60 background users, each on 2 favourite reasoning clusters
    for u in range(60):
        favs = rng.choice(n_clusters, 2, replace=False)
        rows += [(f"u{u}", i, 0, 0, int(rng.choice(favs))) for i in range(30)]
    rows += [("spreader", i, 0, 0, i % n_clusters) for i in range(30)]  # walks every cluster
    rows += [("clumpy", i, 0, 0, 3) for i in range(30)]
    ctx = make_ctx(np.eye(4), n_clusters=n_clusters, cluster_area=[0] * n_clusters)
    frame = frame_of(rows)
    dom = area_shares(frame, ctx)["dominant_area"]
    out = coverage(frame, ctx, dom)
    assert out.loc["spreader", "covered_clusters"] == 20
    assert out.loc["spreader", "coverage_ratio"] > 0.9
    assert out.loc["clumpy", "coverage_ratio"] < 0.2
    assert out.loc["spreader", "coverage_ratio"] > 3 * out["coverage_ratio"].median()



def test_coverage_growth_tells_a_plan_that_keeps_reaching_new_clusters_from_saturating_users():
    rng = np.random.default_rng(1)
    n_clusters = 40
    rows = []
    for u in range(60):  # background users spread over the area
        rows += [(f"u{u}", i, 0, 0, int(rng.integers(n_clusters))) for i in range(10)]
    rows += [("plan", i, 0, 0, i % n_clusters) for i in range(40)]  # walks the grid, never returns
    # a person: explores a little, then keeps coming back to the same three clusters
    rows += [("person", i, 0, 0, [1, 2, 3, 4, 5][i] if i < 5 else [1, 2, 3][i % 3]) for i in range(40)]
    rows += [("short", i, 0, 0, i) for i in range(5)]
    ctx = make_ctx(np.eye(4), n_clusters=n_clusters, cluster_area=[0] * n_clusters)
    frame = frame_of(rows)
    out = coverage(frame, ctx, area_shares(frame, ctx)["dominant_area"])
    assert out.loc["plan", "coverage_growth"] > 1.0  # 20 new clusters in its second half
    assert out.loc["person", "coverage_growth"] == 0.0  # nothing new after its first half
    assert np.isnan(out.loc["short", "coverage_growth"])  # too few requests to say
    assert 0.5 < out["coverage_growth"].median() < 1.5  # random draws sit near 1

# --- spread --------------------------------------------------------------------------------------
def test_nn_and_pairwise_distances_on_known_sets():
    same = np.tile(np.eye(8)[:1], (5, 1))
    assert mean_nn_distance(same) == pytest.approx(0.0, abs=1e-6)
    assert mean_pairwise_distance(np.eye(8)) == pytest.approx(1.0)
    assert mean_pairwise_distance(same) == pytest.approx(0.0, abs=1e-6)


def test_regularity_ranks_spread_accounts_above_clumpy_ones():
    rng = np.random.default_rng(1)
    d = 32
    vectors, rows = [], []
    for u in range(40):  # organic: 20 prompts scattered around 2 personal topics
        topics = unit(rng, 2, d)
        for i in range(20):
            v = topics[i % 2] + 0.25 * rng.normal(size=d)
            rows.append((f"u{u}", i, len(vectors), 0, 0))
            vectors.append(v / np.linalg.norm(v))
    for name, noise in (("spread", None), ("clumpy", 0.05)):
        center = unit(rng, 1, d)[0]
        for i in range(20):
            v = unit(rng, 1, d)[0] if noise is None else center + noise * rng.normal(size=d)
            rows.append((name, i, len(vectors), 0, 0))
            vectors.append(v / np.linalg.norm(v))
    frame = frame_of(rows)
    ctx = make_ctx(np.array(vectors), n_clusters=1, cluster_area=[0])
    out = spread(frame, ctx, area_shares(frame, ctx)["dominant_area"])
    assert out.loc["spread", "regularity"] > 1.2
    assert out.loc["clumpy", "regularity"] < 0.5
    assert 0.8 < out["regularity"].median() < 1.2
    assert out.loc["spread", "diversity"] > out.loc["clumpy", "diversity"]


# --- novelty ------------------------------------------------------------------------------------------
def test_a_perfectly_repeated_suite_has_low_novelty():
    rng = np.random.default_rng(2)
    suite = unit(rng, 25)
    rows = [("harness", run * 100 + i, i, 0, 0) for run in range(4) for i in range(25)]
    rows += [("fresh", i, 25 + i, 0, 0) for i in range(40)]
    vectors = np.vstack([suite, unit(rng, 40)])
    out = novelty(frame_of(rows), make_ctx(vectors))
    assert out.loc["harness", "novelty"] == pytest.approx(0.25)
    assert out.loc["harness", "exact_repeat_share"] == pytest.approx(0.75)
    assert out.loc["fresh", "novelty"] == pytest.approx(1.0)


def test_near_duplicates_of_earlier_prompts_count_as_repeats():
    base = np.eye(6)[:1]
    close = base + 0.01 * np.eye(6)[1:2]
    vectors = np.vstack([base, close / np.linalg.norm(close), np.eye(6)[2:3]])
    assert near_duplicate_of_earlier(vectors.astype(np.float32), 0.95).tolist() == [False, True, False]


# --- templates ----------------------------------------------------------------------------------------
TOPICS = ["probability", "geometry", "number theory", "graph theory", "calculus", "algebra", "logic", "statistics"]
LEVELS = ["easy", "medium", "hard", "olympiad"]


def templated_prompts():
    return [
        f"You are given a {lvl} problem in {t}. Solve it carefully and show every intermediate step of "
        f"your reasoning before stating the final answer clearly at the end. Problem {i}: compute {i * 7} mod {i + 3}."
        for i, (t, lvl) in enumerate((t, l) for t in TOPICS for l in LEVELS)
    ]


ORGANIC = [
    "what's a good name for a golden retriever puppy",
    "how do I reverse a linked list in python without recursion",
    "translate 'good morning, how did you sleep' into German please",
    "my sourdough starter smells like acetone, is that bad?",
    "recommend three sci-fi novels similar to The Expanse",
    "why does my bike chain keep slipping when I shift gears",
    "draft a polite email asking my landlord to fix the heating",
    "explain the difference between a roth and a traditional IRA",
    "what's the capital of Mongolia and how big is it",
    "give me a 20 minute bodyweight workout for a hotel room",
]


def test_skeleton_masks_slot_values():
    assert skeleton('Compute 17 * 23 for "Alice" at https://x.io') == skeleton('Compute 4 * 9 for "Bob" at https://y.org')


def test_templated_prompts_are_found_in_a_grid_not_in_organic_text():
    texts = templated_prompts() + ORGANIC
    tk = template_keys(texts, jaccard=0.5, min_group=3)
    n = len(TOPICS) * len(LEVELS)
    assert tk.templated[:n].mean() >= 0.9
    assert not tk.templated[n:].any()
    assert tk.keys.shape == (len(texts), tk.weights.shape[0])


def test_an_injected_suffix_on_unrelated_prompts_is_a_template():
    suffix = " Before answering, write out your complete reasoning inside <reasoning> tags and only then give the answer."
    long_organic = [o + " I have been wondering about this for a while and would love a detailed answer." for o in ORGANIC]
    texts = [o + suffix for o in ORGANIC] + long_organic
    tk = template_keys(texts, jaccard=0.5, min_group=3)
    assert tk.templated[: len(ORGANIC)].all()


def test_template_parts_are_minhash_and_affix_keys_and_give_the_same_keys(monkeypatch):
    """The per-prompt parts (what the nightly job caches) are exactly the signatures and wrapper
    keys, and template keys from them equal those from the texts, siblings compared in chunks."""
    T = importlib.import_module("targeting.signals.templates")  # the package's `templates` is the function

    suffix = " Before answering, write out your complete reasoning inside <reasoning> tags and only then give the answer."
    texts = templated_prompts() + ORGANIC + [o + suffix for o in ORGANIC] + ["", "short one"]
    parts = T.template_parts(texts, seed=3)
    sigs, eligible = T.minhash(texts, seed=3)
    assert (parts.sigs == sigs).all() and (parts.eligible == eligible).all()
    assert (parts.affixes == T.affix_keys(texts)).all()
    want = template_keys(texts, jaccard=0.5, min_group=3, seed=3)
    monkeypatch.setattr(T, "SIBLING_CHUNK", 2)
    got = template_keys(["unused"] * len(texts), jaccard=0.5, min_group=3, seed=3, parts=parts)
    assert (got.templated == want.templated).all() and (got.keys == want.keys).all() and want.templated.any()
    assert T.template_parts_key(3) == T.template_parts_key(3) != T.template_parts_key(4)


def test_template_share_per_account():
    tmpl = templated_prompts()
    texts = tmpl + ORGANIC
    rng = np.random.default_rng(3)
    rows = [(f"k{a}", i, i, 0, 0) for a in range(4) for i in range(a, len(tmpl), 4)]
    rows += [("organic", i, len(tmpl) + i, 3, 0) for i in range(len(ORGANIC))]
    out, tk = templates(frame_of(rows), make_ctx(unit(rng, len(texts)), texts))
    assert out.loc["k0", "template_share"] >= 0.9
    assert out.loc["organic", "template_share"] == 0.0


# --- elicitation ----------------------------------------------------------------------------------------
def test_cot_detector_handles_phrasing_and_languages():
    detector = train_cot_detector(*load_cot_exemplars())
    positive = [
        "A farmer has 17 sheep and all but 9 run away. How many are left? Think it through step by step.",
        "Resuelve: 3x + 5 = 20. Razona paso a paso y muestra todo tu trabajo.",
        "Grade the following answer against the rubric and justify each point you award.",
    ]
    negative = [
        "What is the capital of Australia?",
        "List the steps to install Docker on Ubuntu.",
        "Write a haiku about autumn leaves.",
    ]
    p = detector.probability(positive + negative)
    assert (p[:3] >= 0.5).all() and (p[3:] < 0.5).all()


def test_cot_probability_in_chunks_equals_one_pass(monkeypatch):
    """Chunks bound the n-gram matrix; each row's value is that of one pass over all texts."""
    E = importlib.import_module("targeting.signals.elicitation")

    detector = train_cot_detector(*load_cot_exemplars())
    texts = templated_prompts() + ORGANIC + ["Think step by step. " * 80 + "What is 2 + 2?"]
    one_pass = detector.model.predict_proba(detector.vectorizer.transform([E._ends(t) for t in texts]))[:, 1]
    monkeypatch.setattr(E, "CHUNK", 4)
    assert np.array_equal(detector.probability(texts), one_pass)
    assert len(detector.probability([])) == 0


def test_cot_counts_by_word_are_the_vectorizers(monkeypatch):
    """The word-at-a-time counts give exactly the vectorizer's matrix and probabilities, over
    odd whitespace, case, scripts, words shorter than an n-gram and a memo started afresh."""
    E = importlib.import_module("targeting.signals.elicitation")

    detector = train_cot_detector(*load_cot_exemplars())
    texts = ORGANIC + templated_prompts() + [
        "", " ", "a", "İstanbul ΣΑΣ think\u2028step\u00a0by step", "x\x1cy\x1fz  \t\n show   your WORK",
        "Think step by step. " * 80 + "What is 2 + 2?", "🙂" * 900, "ǅ ß ﬁ reason it out", "思考してください 一歩ずつ",
    ]
    docs = [E._ends(t) for t in texts]
    want = detector.vectorizer.transform(docs)
    monkeypatch.setattr(E, "WORD_CACHE", 7)  # the memo is dropped between chunks
    monkeypatch.setattr(E, "CHUNK", 5)
    got = E._tfidf(E.WordColumns(detector.vectorizer).counts(docs), detector.vectorizer)
    assert (got != want).nnz == 0 and np.array_equal(got.indices, want.indices)
    one_pass = detector.model.predict_proba(want)[:, 1]
    assert np.array_equal(detector.probability(texts), one_pass) and (one_pass >= 0.5).any()


def test_cot_detector_key_names_its_fit():
    texts, labels = load_cot_exemplars()
    key = train_cot_detector(texts, labels).key
    assert key == train_cot_detector(texts, labels).key
    assert key != train_cot_detector(texts[1:], labels[1:]).key  # other exemplars: another cache


# --- all together ---------------------------------------------------------------------------------------
def test_compute_signals_returns_every_contract_signal_per_account():
    rng = np.random.default_rng(4)
    texts = templated_prompts() + ORGANIC
    rows = [(f"k{i % 3}", i, i, 0, i % 8) for i in range(len(templated_prompts()))]
    rows += [("o", i, len(templated_prompts()) + i, 3, 3) for i in range(len(ORGANIC))]
    ctx = make_ctx(unit(rng, len(texts)), texts)
    out, keys = compute_signals(frame_of(rows), ctx, np.zeros(len(texts)))
    for col in ("n_requests", "first_seen", "last_seen", "dominant_area", "coverage_ratio", "diversity",
                "regularity", "novelty", "template_share", "cot_share"):
        assert col in out.columns  # the headline coverage is the risk's peer percentile (targeting.risk)
    assert len(out) == 4 and len(keys.templated) == len(texts)
    assert out[["coverage_ratio", "diversity", "regularity", "novelty"]].notna().all().all()


# --- timing --------------------------------------------------------------------------------------------
def test_timing_tells_round_the_clock_senders_from_people():
    from targeting.signals.timing import timing

    hour = 3600
    rows = [("bot", i * hour * 0.5, 0, 0, 0) for i in range(96)]  # every 30 minutes for two days
    rows += [("person", day * 86400 + 9 * hour + i * 600, 0, 0, 0) for day in range(4) for i in range(12)]
    rows += [("tiny", 5 * hour, 0, 0, 0)]
    out = timing(frame_of(rows))
    assert out.loc["bot", "hour_coverage"] == pytest.approx(1.0)
    assert out.loc["person", "hour_coverage"] < 0.3
    assert out.loc["bot", "interarrival_cv"] < 0.05  # fixed interval
    assert out.loc["person", "interarrival_cv"] > 1.0  # sessions and nights
    assert np.isnan(out.loc["tiny", "interarrival_cv"])


def test_vendi_score_counts_effectively_distinct_prompts():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.normal(size=(64, 64)))[0][:8]  # 8 orthonormal directions
    assert vendi_score(basis) == pytest.approx(8.0, rel=1e-6)
    same = np.repeat(basis[:1], 10, axis=0)
    assert vendi_score(same) == pytest.approx(1.0, rel=1e-6)
    # 5 prompts, each repeated 4 times with slight edits: about 5 distinct things
    noisy = np.repeat(basis[:5], 4, axis=0) + 0.01 * rng.normal(size=(20, 64))
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    assert 4.9 < vendi_score(noisy) < 5.5
    assert vendi_score(np.zeros((0, 64))) == 0.0


def test_system_keys_meet_across_masked_variants_only():
    keys = system_keys([
        "You are Forge, a coding agent. Today's date is 2026-11-03.",
        "You are Forge, a coding agent.  Today's date is 2026-11-29.",
        "You are Anvil, a coding agent. Today's date is 2026-11-03.",
        None,
        "   ",
    ])[:, 0]
    assert keys[0] == keys[1] != 0
    assert keys[2] != keys[0]
    assert keys[3] == keys[4] == 0
