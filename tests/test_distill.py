"""Static encoders: offline distillation of a (tiny) transformer, loading, the pipeline on it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from targeting.config import EmbedConfig, load_settings
from targeting.distill import distill_static
from targeting.embed import StaticEncoder, is_static_model, load_encoder, weights_sha256
from targeting.simulate import SimConfig, simulate

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"]


def _tiny_transformer(folder: Path, words: list[str]) -> Path:
    """A 1-layer, 32-dimension BERT with a word-piece vocabulary of ``words``: seconds to distil."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(SPECIALS + words)}
    tokenizer = BertTokenizerFast(vocab=vocab)
    tokenizer.save_pretrained(str(folder))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(SPECIALS) + len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(str(folder), safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def traffic():
    requests, labels = simulate(SimConfig(seed=5, n_accounts=40, volume_scale=0.25))
    return requests, labels


@pytest.fixture(scope="module")
def tiny_static(tmp_path_factory, traffic) -> Path:
    requests, _ = traffic
    counts: dict[str, int] = {}
    for prompt in requests["prompt"]:
        for word in re.findall(r"[a-z]{2,}", prompt.lower()):
            counts[word] = counts.get(word, 0) + 1
    words = sorted(sorted(counts, key=lambda w: -counts[w])[:600])
    root = tmp_path_factory.mktemp("models")
    source = _tiny_transformer(root / "teacher", words)
    out = root / "static"
    result = distill_static(out=out, source=str(source), pca_dims=16)
    assert result.dim == 16 and result.vocab_size >= len(words)
    return out


def test_distilled_folder_is_a_sentence_transformers_static_model(tiny_static):
    assert is_static_model(tiny_static)
    modules = json.loads((tiny_static / "modules.json").read_text())
    assert modules[0]["type"].endswith("StaticEmbedding")
    assert (tiny_static / "0_StaticEmbedding" / "model.safetensors").exists()
    assert (tiny_static / "0_StaticEmbedding" / "tokenizer.json").exists()
    info = json.loads((tiny_static / "distill.json").read_text())
    assert info["pca_dims"] == 16 and len(info["source_sha256"]) == 64
    assert not list(tiny_static.rglob("*.bin")) and not list(tiny_static.rglob("*.pkl"))


def test_distill_refuses_to_overwrite_without_force(tiny_static):
    with pytest.raises(FileExistsError):
        distill_static(out=tiny_static, source=str(tiny_static.parent / "teacher"), pca_dims=16)


def test_static_encoder_loads_through_the_config_and_matches_sentence_transformers(tiny_static):
    from sentence_transformers import SentenceTransformer

    encoder = load_encoder(EmbedConfig(model=str(tiny_static), progress=False))
    assert isinstance(encoder, StaticEncoder)
    assert encoder.dim == 16 and encoder.weights_sha256 == weights_sha256(tiny_static)
    assert encoder.model_key == f"static-{encoder.weights_sha256[:12]}"
    texts = ["prove that the sum of two even numbers is even", "write a python function", "", "§§§ ???",
             "solve " * 5000]
    ours = encoder.encode(texts)
    assert ours.shape == (5, 16) and np.isfinite(ours).all()
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    theirs = SentenceTransformer(str(tiny_static), device="cpu", local_files_only=True).encode(
        texts[:2], convert_to_numpy=True, normalize_embeddings=True
    )
    assert np.allclose((ours[:2] * theirs).sum(axis=1), 1.0, atol=1e-4)
    # order-independent and batch-independent
    again = encoder.encode(list(reversed(texts)))
    assert np.allclose(again[::-1], ours, atol=1e-6)


def test_pipeline_runs_on_a_static_model(tiny_static, traffic, tmp_path):
    from targeting import workspace as W
    from targeting.jobs import run

    requests, labels = traffic
    src = tmp_path / "requests.parquet"
    requests.to_parquet(src)
    settings = load_settings(overrides={"embed": {"model": str(tiny_static), "progress": False}}, environ={})
    result = run([src], tmp_path / "ws", settings)
    assert result.accounts == requests["account_id"].nunique()
    # every distinct prompt and context was embedded, and the run says how many (its manifest too)
    assert result.prompts_embedded >= requests["prompt"].nunique()
    manifest = W.read_manifest(W.open_workspace(tmp_path / "ws"), result.run_id)
    assert manifest["model"]["weights_sha256"] == weights_sha256(tiny_static)
    assert manifest["model"]["key"].startswith("static-")


@pytest.mark.slow
def test_int8_default_model_has_its_own_key_and_close_vectors():
    texts = ["How do I fix a failing unit test?", "Prove that there are infinitely many primes.", "Best pasta recipe"]
    full = load_encoder(EmbedConfig(progress=False))
    int8 = load_encoder(EmbedConfig(progress=False, int8=True))
    assert int8.weights_sha256 == full.weights_sha256 and int8.model_key != full.model_key
    assert "int8" in int8.model_key
    cos = (full.encode(texts) * int8.encode(texts)).sum(axis=1)
    assert (cos > 0.95).all()


def test_check_model_refuses_vectors_of_another_precision():
    from targeting.capmap import CapabilityMap
    from targeting.errors import BadInputError
    from targeting.jobs.stages import check_model

    class Enc:
        model_id, model_key, weights_sha256, dim = "m-int8", "m-int8-abc", "abc", 4

    cmap = CapabilityMap(
        map_id="m", areas=("a",), anchors=np.zeros((1, 4), np.float16), anchor_hashes=("h",),
        anchor_cluster=np.zeros(1, np.int32), anchor_xy=np.zeros((1, 2), np.float32),
        centroids=np.zeros((1, 4), np.float32), cluster_area_probs=np.ones((1, 1), np.float32),
        clusters=({"cluster_id": "c", "area": "a"},), exemplar_vectors=np.zeros((1, 4), np.float16),
        exemplar_area=np.zeros(1, np.int32), context_vectors=np.zeros((0, 4), np.float16),
        context_area=np.zeros(0, np.int32), meta={"model_key": "m-abc", "weights_sha256": "abc", "model_id": "m"},
    )
    with pytest.raises(BadInputError, match="--refit") as refused:
        check_model(cmap, Enc())
    assert "TARGETING_EMBED__INT8=false" in str(refused.value)  # the map is fp32: say how to use it

    class Other(Enc):
        model_id, model_key, weights_sha256 = "other", "other-def", "def"

    with pytest.raises(BadInputError, match="not the configured other") as refused:
        check_model(cmap, Other())
    assert "INT8" not in str(refused.value)

    class Same(Enc):
        model_key = "m-abc"

    check_model(cmap, Same())  # the map's own model and precision: accepted
