"""Chain-of-thought elicitation and grading requests.

A small linear classifier over character n-grams (robust to phrasing, inflection and
languages without word boundaries), trained at start-up on the labelled exemplar
instructions in ``data/exemplars/cot_elicitation.jsonl``. Instructions that elicit reasoning
sit at the start or the end of a prompt, so the classifier reads both ends.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import normalize

from targeting.signals.base import ACCOUNT, ROW, SignalContext

DEFAULT_EXEMPLARS = Path(__file__).resolve().parents[2] / "data" / "exemplars" / "cot_elicitation.jsonl"
END_CHARS = 400  # characters read from each end of a prompt
THRESHOLD = 0.5
C = 4.0
CHUNK = 4096  # prompts transformed at once: the n-gram matrix of a whole night would take gigabytes


@dataclass(frozen=True)
class CotDetector:
    vectorizer: TfidfVectorizer
    model: LogisticRegression

    def probability(self, texts: Sequence[str]) -> np.ndarray:
        """P(elicits reasoning) of each text, ``CHUNK`` texts at a time: each row's features and
        score depend on its text alone, so the values are those of one call over everything.

        The n-gram counts are the vectorizer's own (``transform`` gives the same matrix), built
        a word at a time: ``char_wb`` n-grams never cross a word boundary, so a text's counts
        are the sum of its words' and each distinct word is analysed once per call
        (``WordColumns``) instead of once per occurrence; the tf-idf weighting and the model
        are then applied as ``transform`` and ``predict_proba`` do."""
        out = np.zeros(len(texts))
        words = WordColumns(self.vectorizer)
        for start in range(0, len(texts), CHUNK):
            chunk = [_ends(t) for t in texts[start : start + CHUNK]]
            X = _tfidf(words.counts(chunk), self.vectorizer)
            out[start : start + len(chunk)] = self.model.predict_proba(X)[:, 1]
        return out

    @property
    def key(self) -> str:
        """Digest of what the probabilities depend on (fitted vocabulary, idf, weights, the ends
        read): names the per-prompt cache of its probabilities (``nightly.FeatureCache``)."""
        digest = hashlib.sha256(f"cot-v1 end_chars={END_CHARS} {self.vectorizer.get_params()}".encode())
        for term, column in sorted(self.vectorizer.vocabulary_.items()):
            digest.update(f"{term}\x1f{column}\x1e".encode())
        for array in (self.vectorizer.idf_, self.model.coef_, self.model.intercept_, self.model.classes_):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.hexdigest()[:16]


WORD_CACHE = 200_000  # distinct words whose columns one ``probability`` call keeps at once


class WordColumns:
    """The vocabulary columns of each word's ``char_wb`` n-grams (one entry per occurrence,
    out-of-vocabulary n-grams dropped), kept for the words of one ``probability`` call: a
    per-call memo of at most ``WORD_CACHE`` words (then started afresh), never shared."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        self._analyse = vectorizer.build_analyzer()
        self._vocabulary = vectorizer.vocabulary_
        self._ids: dict[str, int] = {}
        self._columns: list[np.ndarray] = []

    def _add(self, word: str) -> int:
        vocabulary = self._vocabulary
        self._columns.append(
            np.fromiter((vocabulary[g] for g in self._analyse(word) if g in vocabulary), dtype=np.int64))
        self._ids[word] = len(self._columns) - 1
        return len(self._columns) - 1

    def counts(self, docs: Sequence[str]) -> sp.csr_matrix:
        """(len(docs), vocabulary) n-gram counts, as ``CountVectorizer.transform`` gives them."""
        if len(self._ids) >= WORD_CACHE:
            self._ids, self._columns = {}, []
        ids, get, add = [], self._ids.get, self._add
        n_words = np.zeros(len(docs), dtype=np.int64)
        for i, doc in enumerate(docs):
            words = doc.split()  # the analyser's words: it splits on the same whitespace
            n_words[i] = len(words)
            for word in words:
                got = get(word)
                ids.append(add(word) if got is None else got)
        word = np.asarray(ids, dtype=np.int64)
        lengths = np.fromiter((len(c) for c in self._columns), dtype=np.int64, count=len(self._columns))
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        flat = np.concatenate(self._columns) if self._columns else np.zeros(0, dtype=np.int64)
        # every occurrence's columns, gathered: the word's run in ``flat``, one after another
        per = lengths[word]
        first = np.cumsum(per) - per
        cols = flat[np.repeat(starts[word] - first, per) + np.arange(per.sum())]
        rows = np.repeat(np.repeat(np.arange(len(docs)), n_words), per)
        n_features = len(self._vocabulary)
        keys, count = np.unique(rows * n_features + cols, return_counts=True)  # sorted: row, then column
        indptr = np.r_[0, np.cumsum(np.bincount(keys // n_features, minlength=len(docs)))]
        return sp.csr_matrix((count, keys % n_features, indptr), shape=(len(docs), n_features))


def _tfidf(counts: sp.csr_matrix, vectorizer: TfidfVectorizer) -> sp.csr_matrix:
    """``counts`` weighted as the fitted ``vectorizer``'s ``transform`` weights its counts
    (sublinear tf, idf, row norm)."""
    X = counts.astype(np.float64)
    if vectorizer.sublinear_tf:
        np.log(X.data, X.data)
        X.data += 1.0
    if vectorizer.use_idf:
        X.data *= vectorizer.idf_[X.indices]
    return normalize(X, norm=vectorizer.norm, copy=False) if vectorizer.norm else X


def _ends(text: str) -> str:
    text = text.lower()
    if len(text) <= 2 * END_CHARS:
        return text
    return text[:END_CHARS] + " … " + text[-END_CHARS:]


def load_cot_exemplars(path: Path | None = None) -> tuple[list[str], np.ndarray]:
    path = path or DEFAULT_EXEMPLARS
    texts, labels = [], []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            texts.append(str(row["text"]))
            labels.append(int(row["label"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}, line {lineno}: {exc}") from exc
    return texts, np.array(labels)


def train_cot_detector(texts: Sequence[str], labels: np.ndarray, seed: int = 0) -> CotDetector:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)
    X = vectorizer.fit_transform([_ends(t) for t in texts])
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)
    model.fit(X, labels)
    return CotDetector(vectorizer, model)


def cot_share(frame: pd.DataFrame, ctx: SignalContext, prompt_cot: np.ndarray) -> pd.DataFrame:
    """Share of each account's requests whose prompt elicits articulated reasoning or grading."""
    flags = prompt_cot[frame[ROW].to_numpy()] >= THRESHOLD
    share = pd.Series(flags, index=frame.index).groupby(frame[ACCOUNT]).mean()
    return pd.DataFrame({"cot_share": share})
