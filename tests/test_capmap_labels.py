"""Cluster labels: candidate phrases (c-TF-IDF over filtered 1-3-word n-grams) re-ranked by
similarity to the cluster centroid with maximal marginal relevance.

No embedding model: a deterministic bag-of-words encoder (each word a fixed random direction,
a text the normalised sum of its words') stands in for the map's model.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from targeting.capmap.labels import (
    EN_CONTRACTIONS,
    JOINERS,
    candidate_phrases,
    choose_phrases,
    cluster_terms,
    mmr,
    phrases_of,
    stop_words,
    word_overlaps,
)

DIM = 64
STOP = stop_words()


def _word_vector(word: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).normal(size=DIM)


def bag_encode(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"[a-z]+", text.lower()):
            out[i] += _word_vector(word)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


CHAT = [
    "Wait, shouldn't it be different? I'll try again, thanks!",
    "Thanks, that works perfectly. Didn't expect it, doesn't matter, we've got it.",
    "Hmm I'm not sure, couldn't you redo it? You're right, it's fine, they'd agree.",
    "ok so what's next? Let's go, wouldn't that be it? Isn't it? Aren't we done?",
]
BREAD = [
    "How long should sourdough bread proof overnight in the fridge?",
    "My sourdough starter smells like acetone, is the sourdough starter dead?",
    "Best flour for sourdough bread with an open crumb",
    "Sourdough bread hydration: 75% or 80% for a beginner loaf?",
    "Why is my sourdough bread so dense after baking in a dutch oven?",
    "Feeding schedule for a sourdough starter kept at room temperature",
]
TAXES = [
    "Can I deduct home office expenses on my tax return as a freelancer?",
    "Deadline for filing a tax return when self employed",
    "How do capital gains affect my income tax return this year?",
    "Is a tax refund taxed as income on next year's tax return?",
    "Which forms do I need for a joint tax return with my spouse?",
    "Amending a tax return after a missed deduction",
]


def _corpus(rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Two topic clusters whose prompts all carry chat and contractions, and chat elsewhere
    (noise), as in real traffic where every cluster has its thanks and wait-a-minutes."""
    texts, labels = [], []
    for label, topic in ((0, BREAD), (1, TAXES)):
        for i in range(30):
            texts.append(f"{rng.choice(CHAT)} {topic[i % len(topic)]}")
            labels.append(label)
    texts += [f"{rng.choice(CHAT)} {rng.choice(CHAT)}" for _ in range(30)]
    labels += [-1] * 30
    return texts, np.array(labels)


def _labels(texts: list[str], labels: np.ndarray, n_clusters: int) -> list[list[str]]:
    candidates = candidate_phrases(texts, labels, n_clusters)
    unique = sorted({p for c in candidates for p in c})
    vectors = dict(zip(unique, bag_encode(unique)))
    centroids = np.stack([bag_encode([texts[i] for i in np.flatnonzero(labels == c)]).mean(axis=0)
                          for c in range(n_clusters)])
    return choose_phrases(candidates, vectors, centroids)


# --- candidates ---------------------------------------------------------------------------
def test_phrases_of_keeps_stop_words_off_the_ends_and_breaks_at_punctuation():
    got = phrases_of("Wait, shouldn't the rate of change be negative? I'll divide by 3x. The user's guide.",
                     STOP, JOINERS["en"])
    assert "rate of change" in got and "negative" in got and "user guide" in got
    assert "change be negative" not in got  # "be" is a stop word, not a joiner
    assert "negative divide" not in got and "guide" in got  # "?" and "." end a phrase
    for phrase in got:
        words = phrase.split()
        assert words[0] not in STOP and words[-1] not in STOP, phrase
        assert not set(words) & EN_CONTRACTIONS and not re.search(r"\d", phrase), phrase


def test_stop_words_and_contraction_fragments_never_appear_in_phrases():
    texts, labels = _corpus(np.random.default_rng(0))
    candidates = candidate_phrases(texts, labels, 2, n_candidates=200)
    assert all(candidates)
    for phrase in [p for c in candidates for p in c] + [p for c in _labels(texts, labels, 2) for p in c]:
        words = phrase.split()
        assert words[0] not in STOP and words[-1] not in STOP, phrase
        assert not set(words) & EN_CONTRACTIONS, phrase  # shouldn, didn, doesn, ll, ve, re ...
        assert not set(words) & {"thanks", "wait", "got", "did", "instead"}, phrase
        assert all(len(w) >= 3 or w in JOINERS["en"] for w in words), phrase


def test_a_phrase_in_one_prompt_only_is_no_candidate():
    texts = ["sourdough bread recipe", "sourdough bread crumb", "walnut sourdough loaf", "engine repair", "engine oil"]
    candidates = candidate_phrases(texts, np.array([0, 0, 0, 1, 1]), 2)
    assert candidates[0][0] == "sourdough" and "walnut" not in candidates[0]
    assert candidates[1] == ["engine"]
    assert candidate_phrases(["1 2 3", "a b", "42"], np.array([0, 1, 1]), 2) == [[], []]


# --- re-ranking ---------------------------------------------------------------------------
def _unit(v: list[float]) -> np.ndarray:
    return np.array(v) / np.linalg.norm(v)


def test_mmr_puts_the_most_relevant_first_and_skips_near_duplicates():
    query = _unit([1, 1, 0])
    best = _unit([1, 0.7, 0])
    twin = _unit([1, 0.62, 0.05])  # a near-duplicate of best, a little less relevant
    other = _unit([0.45, 1, 0.15])  # less relevant, another direction
    far = _unit([0, 0, 1])
    vectors = np.stack([far, twin, other, best])
    assert list(np.argsort(-(vectors @ query))) == [3, 1, 2, 0] and twin @ best > 0.99 > 0.9 > other @ best
    assert mmr(vectors, query, 2, diversity=0.0) == [3, 1]  # relevance alone takes the twin
    assert mmr(vectors, query, 2) == [3, 2]  # the default diversity does not
    assert mmr(vectors, query, 10)[:3] == [3, 2, 1] and sorted(mmr(vectors, query, 10)) == [0, 1, 2, 3]
    assert mmr(vectors[:0], query, 3) == [] and mmr(10 * vectors, query, 1) == [3]  # any length


def test_no_two_phrases_of_a_label_share_most_of_their_words():
    phrases = ["list shipments result", "list shipment returned", "rust", "rust impl", "fair coin", "coin flips",
               "cairo with dhl", "bogota with dhl"]
    overlaps = word_overlaps(phrases)
    assert overlaps[0, 1] and overlaps[1, 0] and overlaps[2, 3] and overlaps.diagonal().all()
    assert not overlaps[4, 5] and not overlaps[6, 7] and not overlaps[0, 2]  # "with" is a joiner
    centroid = _unit([1, 0, 0])
    vectors = {"rust impl": _unit([1, 0.1, 0]), "rust": _unit([1, 0.12, 0]), "unwrap": _unit([1, 0, 0.6])}
    # even on relevance alone, "rust" never follows "rust impl"
    assert choose_phrases([["rust", "rust impl", "unwrap"]], vectors, centroid[None], diversity=0.0) == [["rust impl", "unwrap"]]


def test_a_cluster_about_one_topic_gets_a_phrase_naming_it():
    texts, labels = _corpus(np.random.default_rng(2))
    bread, taxes = _labels(texts, labels, 2)
    assert len(bread) == 5 and len(taxes) == 5
    assert any("sourdough" in p for p in bread[:2]), bread
    assert any("tax" in p for p in taxes[:2]), taxes
    assert not any("tax" in p for p in bread) and not any("sourdough" in p for p in taxes)
    assert len({p.split()[0] for p in bread}) >= 3  # diverse, not five phrases on one word


def test_cluster_terms_prefer_phrases_and_fall_back_to_keywords():
    assert cluster_terms({"keywords": ["tax", "return"], "phrases": ["tax return", "refund"]}) == ["tax return", "refund"]
    assert cluster_terms({"keywords": ["tax", "return"]}) == ["tax", "return"]  # a map from before phrases
    assert cluster_terms({"keywords": ["tax"], "phrases": []}) == ["tax"]
    assert cluster_terms({}) == []
