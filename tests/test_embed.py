"""Embedding helpers: hashing, normalisation, de-duplication, offline model resolution."""

from __future__ import annotations

import numpy as np
import pytest

from targeting.config import EmbedConfig
from targeting.embed import (
    embed_unique,
    load_encoder,
    normalise,
    resolve_model_path,
    text_hash,
    weights_sha256,
)
from targeting.errors import EmbeddingError


def test_text_hash_is_stable_and_handles_lone_surrogates():
    assert text_hash("abc") == text_hash("abc") != text_hash("abd")
    assert len(text_hash("\ud800 broken")) == 64


def test_normalise_gives_unit_rows_and_never_nan():
    raw = np.array([[3.0, 4.0], [0.0, 0.0], [np.nan, 1.0], [np.inf, -np.inf]], dtype=np.float32)
    out = normalise(raw)
    assert np.isfinite(out).all()
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    assert np.allclose(out[0], [0.6, 0.8])


def test_embed_unique_encodes_each_new_text_once():
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return np.ones((len(texts), 4), dtype=np.float32)

    texts = ["a", "b", "a", "c", "b"]
    hashes = [text_hash(t) for t in texts]
    new_hashes, vectors = embed_unique(hashes, texts, known={text_hash("c")}, encode=encode)
    assert calls == [["a", "b"]]
    assert new_hashes == [text_hash("a"), text_hash("b")] and vectors.shape == (2, 4)


def test_default_model_resolves_offline_to_safetensors():
    path = resolve_model_path("default")
    assert (path / "model.safetensors").exists()
    assert len(weights_sha256(path)) == 64


def test_unknown_model_name_is_a_clear_error_not_a_download(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(EmbeddingError, match="never downloaded"):
        resolve_model_path("some-org/some-model-that-is-not-here")


def test_pickled_weights_are_refused(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"not safetensors")
    with pytest.raises(EmbeddingError, match="safetensors"):
        weights_sha256(tmp_path)


@pytest.mark.slow
def test_real_model_embeds_meaningfully():
    encoder = load_encoder(EmbedConfig(progress=False))
    vecs = encoder.encode(["How do I fix a failing unit test?", "My pytest suite fails", "Best pasta recipe", ""])
    assert vecs.shape == (4, encoder.dim) and np.isfinite(vecs).all()
    sims = vecs @ vecs.T
    assert sims[0, 1] > sims[0, 2] + 0.2
    assert encoder.model_key.startswith("all-MiniLM-L6-v2-")


def test_text_heads_cut_at_the_models_own_word_pieces():
    """A context is cut after its first N word pieces by the encoder's tokenizer, so it costs
    the encoder N pieces at most; shorter texts, and every text at N = 0, are kept whole."""
    from tokenizers import Tokenizer

    from targeting.embed import text_heads

    class WithTokenizer:
        tokenizer = Tokenizer.from_file(str(resolve_model_path("default") / "tokenizer.json"))

    tokenizer = WithTokenizer.tokenizer
    long = ("System: You are QuantBot, an assistant that solves olympiad geometry problems step by step. "
            "Tools available: sympy_solve: Solve symbolic equations; plot: Draw a figure") * 3
    short = "System: be brief"
    heads = text_heads(WithTokenizer(), [long, short, ""], 16)
    assert heads[1:] == [short, ""]
    assert long.startswith(heads[0]) and heads[0] != long
    assert heads[0].startswith("System: You are QuantBot")
    assert 14 <= sum(tokenizer.encode(heads[0], add_special_tokens=False).attention_mask) <= 16  # padding aside
    assert text_heads(WithTokenizer(), [long], 0) == [long]

    class WordsOnly:  # an encoder without a tokenizer: cut by words
        pass

    assert text_heads(WordsOnly(), ["a b c d", "a b"], 3) == ["a b c", "a b"]
