"""Cluster labels that name topics: a few phrases per cluster of the capability map.

Two steps, as BERTopic's KeyBERT-inspired representation does:

1. ``candidate_phrases``: 1-3-word phrases of each cluster's prompts, ranked by class-based
   TF-IDF (each cluster is one class; a phrase counts once per prompt, so one long prompt that
   repeats it does not make it the cluster's label), keeping the top ``N_CANDIDATES``.
   Stop words never start or end a phrase; words under three letters, numbers and contraction
   fragments ("shouldn", "didn", "ll") appear in none.
2. ``choose_phrases``: the candidates' embeddings (computed by the caller, one batch for every
   cluster) are compared with the cluster's centroid, and maximal marginal relevance picks
   ``N_PHRASES`` of them: the most similar first, then each next one trading similarity to the
   centroid against similarity to the phrases already picked (``DIVERSITY``), so a label is not
   five spellings of one phrase; a phrase sharing most words with a picked one ("rust" after
   "rust impl", ``OVERLAP``) is skipped outright.

Languages: ``STOP_WORDS`` holds, per language code, the function that gives its stop-word set
(scikit-learn's English list is imported only when phrases are made: reading a map's labels,
as the app does, never pays for importing scikit-learn); the shipped taxonomy is English, so
only ``"en"`` is there. Another language is one more entry (its stop words, contraction
fragments and chat filler) and its code in ``languages=``.

Pure functions over lists and arrays: nothing here loads a model or reads a file.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from targeting.capmap.model import CapabilityMap

N_CANDIDATES = 16  # phrases per cluster kept by c-TF-IDF and embedded for re-ranking
N_PHRASES = 5  # phrases per cluster in its label
DIVERSITY = 0.3  # MMR: 0 ranks by similarity to the centroid only, 1 by novelty only
OVERLAP = 2 / 3  # a phrase sharing this share of a picked phrase's words is not picked after it
MAX_WORDS = 3  # longest phrase, in words
MIN_LETTERS = 3  # shorter words never appear in a phrase (except inside one: "rate of change")
PHRASE_CHARS = 2000  # characters of each prompt read for phrases
MIN_PROMPTS = 2  # a candidate appears in at least this many prompts of its cluster

# What is left of a contraction once its apostrophe is gone or split off ("shouldn't" ->
# "shouldn" + "t", "we'll" -> "we" + "ll"), and the apostrophe-less spellings of chat.
EN_CONTRACTIONS = frozenset(
    "aren couldn didn doesn don hadn hasn haven isn mightn mustn needn shan shouldn wasn weren "
    "won wouldn ain ll ve re isnt arent wasnt werent dont doesnt didnt cant couldnt wouldnt "
    "shouldnt wont hasnt havent hadnt mustnt im ive youre youve youll theyre theyve weve thats "
    "whats heres theres lets".split()
)
# Words of any request in a chat, never its topic.
EN_CHAT = frozenset(
    "did does doing got get gets let just okay yes yeah hey hello thanks thank sure really "
    "actually wait instead want wants need needs know think tell maybe also something anything "
    "thing things stuff".split()
)


def _english() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | EN_CONTRACTIONS | EN_CHAT


STOP_WORDS: dict[str, Callable[[], frozenset[str]]] = {"en": _english}

# Stop words allowed inside a phrase, never at its ends ("rate of change", "proof by induction").
JOINERS: dict[str, frozenset[str]] = {
    "en": frozenset("of for in on to and or with by from per vs at into".split()),
}
TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[^\w\s]")  # a word, or a punctuation mark


def stop_words(languages: Sequence[str] = ("en",)) -> frozenset[str]:
    """The stop words of ``languages`` (codes of ``STOP_WORDS``) together."""
    return frozenset().union(*(STOP_WORDS[lang]() for lang in languages))


def _word_kinds(tokens: list[str], stop: frozenset[str], joiners: frozenset[str]) -> list[int]:
    """Per token: 2 may end a phrase, 1 may only sit inside one, 0 breaks phrases."""
    kinds = []
    for token in tokens:
        if not token.isalpha():
            kinds.append(0)
        elif len(token) >= MIN_LETTERS and token not in stop:
            kinds.append(2)
        else:
            kinds.append(1 if token in joiners else 0)
    return kinds


def phrases_of(text: str, stop: frozenset[str], joiners: frozenset[str]) -> list[str]:
    """The 1-``MAX_WORDS``-word phrases of ``text`` (lowercased) whose first and last words are
    content words (not stop words, at least ``MIN_LETTERS`` letters) and whose inner words are
    content words or joiners. A contraction keeps only its part before the apostrophe, so
    "shouldn't" is the stop word "shouldn"; punctuation and words with digits break phrases."""
    tokens = [t.replace("’", "'").split("'")[0] for t in TOKEN.findall(text[:PHRASE_CHARS].lower())]
    kinds = _word_kinds(tokens, stop, joiners)
    out = []
    for i, kind in enumerate(kinds):
        if kind != 2:
            continue
        out.append(tokens[i])
        for j in range(i + 1, min(i + MAX_WORDS, len(tokens))):
            if kinds[j] == 0:
                break
            if kinds[j] == 2:
                out.append(" ".join(tokens[i : j + 1]))
    return out


def candidate_phrases(
    texts: Sequence[str], labels: np.ndarray, n_clusters: int, *, n_candidates: int = N_CANDIDATES,
    languages: Sequence[str] = ("en",),
) -> list[list[str]]:
    """Each cluster's top ``n_candidates`` phrases (``phrases_of``) by class-based TF-IDF over
    prompts: tf = share of the cluster's prompts holding the phrase, idf = log(1 + mean prompts
    per cluster / prompts holding it anywhere). Label -1 (noise) counts towards idf only; a
    phrase must appear in ``MIN_PROMPTS`` prompts of the cluster."""
    from sklearn.feature_extraction.text import CountVectorizer

    stop = stop_words(languages)
    joiners = frozenset().union(*(JOINERS[lang] for lang in languages))
    vectorizer = CountVectorizer(analyzer=lambda t: phrases_of(t, stop, joiners), binary=True, min_df=MIN_PROMPTS)
    try:
        counts = vectorizer.fit_transform(list(texts)).tocsc()
    except ValueError:  # no phrase in two prompts
        return [[] for _ in range(n_clusters)]
    vocab = np.array(vectorizer.get_feature_names_out())
    labels = np.asarray(labels)
    mask = labels >= 0
    onehot = np.zeros((n_clusters, len(labels)), dtype=np.float32)
    onehot[labels[mask], np.flatnonzero(mask)] = 1.0
    in_cluster = np.asarray(counts.T.dot(onehot.T).T)  # (C, V) prompts of the cluster holding it
    sizes = np.maximum(onehot.sum(axis=1, keepdims=True), 1.0)
    idf = np.log1p(sizes.mean() / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1.0))
    scores = np.where(in_cluster >= MIN_PROMPTS, in_cluster / sizes * idf, 0.0)
    out = []
    for row in scores:
        top = np.argsort(-row, kind="stable")[:n_candidates]
        out.append([str(vocab[i]) for i in top if row[i] > 0])
    return out


def mmr(vectors: np.ndarray, query: np.ndarray, k: int, diversity: float = DIVERSITY,
        conflicts: np.ndarray | None = None) -> list[int]:
    """Maximal marginal relevance: up to ``k`` row indices of ``vectors``, the row most similar
    (cosine) to ``query`` first, then each time the row maximising
    ``(1 - diversity) * sim(row, query) - diversity * max sim(row, picked)``. A row that
    ``conflicts[picked, row]`` marks (boolean, square) is never picked after ``picked``."""
    if len(vectors) == 0 or k <= 0:
        return []
    V = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    q = query / max(float(np.linalg.norm(query)), 1e-12)
    relevance = V @ q
    pairwise = V @ V.T
    open_ = np.ones(len(V), dtype=bool)
    picked: list[int] = []
    while len(picked) < k and open_.any():
        score = relevance if not picked else (1.0 - diversity) * relevance - diversity * pairwise[:, picked].max(axis=1)
        best = int(np.argmax(np.where(open_, score, -np.inf)))
        picked.append(best)
        open_[best] = False
        if conflicts is not None:
            open_ &= ~conflicts[best]
    return picked


def _stem(word: str) -> str:
    """A crude plural fold, for telling phrases apart only: "shipments" -> "shipment"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def word_overlaps(phrases: Sequence[str], share: float = OVERLAP) -> np.ndarray:
    """(n, n) boolean: two phrases share at least ``share`` of the shorter one's words, joiners
    left out and plurals folded ("rust" and "rust impl"; "list shipments result" and "list
    shipment returned"; not "fair coin" and "coin flips")."""
    joiners = frozenset().union(*JOINERS.values())
    words = [frozenset(_stem(w) for w in p.split() if w not in joiners) for p in phrases]
    return np.array([[len(a & b) >= share * min(len(a), len(b)) for b in words] for a in words],
                    dtype=bool).reshape(len(words), len(words))


def choose_phrases(
    candidates: Sequence[Sequence[str]], phrase_vectors: Mapping[str, np.ndarray], centroids: np.ndarray,
    *, n_phrases: int = N_PHRASES, diversity: float = DIVERSITY,
) -> list[list[str]]:
    """Each cluster's label: up to ``n_phrases`` of its candidates picked by ``mmr`` against
    its centroid (row i of ``centroids`` for ``candidates[i]``), no two sharing most of their
    words (``word_overlaps``); ``phrase_vectors`` maps every candidate to its
    embedding by the map's model."""
    out = []
    for words, centroid in zip(candidates, centroids):
        if not words:
            out.append([])
            continue
        vectors = np.stack([np.asarray(phrase_vectors[w], dtype=np.float32) for w in words])
        picked = mmr(vectors, np.asarray(centroid, dtype=np.float32), n_phrases, diversity, word_overlaps(words))
        out.append([words[i] for i in picked])
    return out


def with_phrases(cmap: CapabilityMap, phrases: Sequence[Sequence[str]]) -> CapabilityMap:
    """``cmap`` with ``phrases[i]`` stored as cluster i's ``phrases``."""
    clusters = tuple(dict(c, phrases=list(p)) for c, p in zip(cmap.clusters, phrases, strict=True))
    return dataclasses.replace(cmap, clusters=clusters)


def cluster_terms(cluster: Mapping[str, Any]) -> list[str]:
    """What names a cluster to a reader: its ``phrases``, or, on a map fitted before phrases
    existed (or a cluster without any), its c-TF-IDF ``keywords``."""
    return [str(w) for w in (cluster.get("phrases") or cluster.get("keywords") or [])]
