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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

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
        score depend on its text alone, so the values are those of one call over everything."""
        out = np.zeros(len(texts))
        for start in range(0, len(texts), CHUNK):
            chunk = [_ends(t) for t in texts[start : start + CHUNK]]
            out[start : start + len(chunk)] = self.model.predict_proba(self.vectorizer.transform(chunk))[:, 1]
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
