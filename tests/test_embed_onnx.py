"""The ONNX Runtime encoder: the same vectors as PyTorch, a hashed export cache, clear refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from targeting.config import EmbedConfig
from targeting.embed import OnnxEncoder, SentenceTransformerEncoder, load_encoder, resolve_model_path, weights_sha256
from targeting.embed_onnx import check_exportable, export_model, file_sha256, token_batches
from targeting.errors import EmbeddingError

TEXTS = ["How do I fix a failing unit test?", "Prove that there are infinitely many primes.",
         "Best pasta recipe", "call get_weather(city='Paris') and summarise " * 30, ""]


@pytest.mark.slow
def test_fp32_onnx_gives_the_pytorch_vectors_under_the_same_key(tmp_path):
    torch_enc = load_encoder(EmbedConfig(progress=False, backend="torch"))
    onnx_enc = load_encoder(EmbedConfig(progress=False, onnx_cache=str(tmp_path)))
    assert isinstance(torch_enc, SentenceTransformerEncoder) and isinstance(onnx_enc, OnnxEncoder)
    assert onnx_enc.model_key == torch_enc.model_key and onnx_enc.dim == torch_enc.dim == 384
    a, b = torch_enc.encode(TEXTS), onnx_enc.encode(TEXTS)
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert ((a * b).sum(axis=1) > 0.9999).all()  # the long text is truncated at 128 pieces in both


def test_token_batches_bound_padded_tokens_and_rows_and_cover_every_row_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 129, size=500)
    batches = token_batches(lengths, max_tokens=2048, max_texts=64)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(500))  # every row, once
    assert np.all(np.diff(lengths[rows]) >= 0)  # shortest first
    for b in batches:
        assert len(b) <= 64 and (len(b) == 1 or len(b) * lengths[b].max() <= 2048)
    assert max(len(b) for b in batches) == 64  # short rows fill a batch up to the row cap
    assert len(batches[-1]) <= 2048 // 128  # the longest rows, 16 at a time
    for b, nxt in zip(batches, batches[1:]):  # each batch closed only when the next row would not fit
        assert len(b) == 64 or (len(b) + 1) * lengths[nxt[0]] > 2048
    assert [len(b) for b in token_batches(np.array([300, 5]), max_tokens=256, max_texts=64)] == [1, 1]
    assert token_batches(np.array([], dtype=np.int64), 2048, 64) == []


@pytest.mark.slow
def test_batch_shape_does_not_change_the_vectors(tmp_path):
    texts = [f"question {i}: " + "why does the sky look blue " * (i % 9) for i in range(40)] + TEXTS
    wide = load_encoder(EmbedConfig(progress=False, onnx_cache=str(tmp_path), batch_tokens=1 << 20, batch_size=1024))
    narrow = load_encoder(EmbedConfig(progress=False, onnx_cache=str(tmp_path), batch_tokens=64, batch_size=3))
    assert ((wide.encode(texts) * narrow.encode(texts)).sum(axis=1) > 0.99999).all()


@pytest.mark.slow
def test_int8_onnx_has_its_own_key_and_close_vectors(tmp_path):
    fp32 = load_encoder(EmbedConfig(progress=False, onnx_cache=str(tmp_path)))
    int8 = load_encoder(EmbedConfig(progress=False, int8=True, onnx_cache=str(tmp_path)))
    assert "onnx-int8" in int8.model_key and int8.model_key != fp32.model_key
    cos = (fp32.encode(TEXTS) * int8.encode(TEXTS)).sum(axis=1)
    assert cos.mean() > 0.98 and cos.min() > 0.95  # per-channel scales (per-tensor: mean 0.95)


@pytest.mark.slow
def test_export_is_cached_and_redone_when_the_file_was_altered(tmp_path):
    model = resolve_model_path("default")
    sha = weights_sha256(model)
    first = export_model(model, sha, int8=False, cache_dir=tmp_path)
    manifest = json.loads((first.path.parent / "export.json").read_text())
    assert manifest["weights_sha256"] == sha and manifest["sha256"] == file_sha256(first.path)
    stamp = first.path.stat().st_mtime_ns
    again = export_model(model, sha, int8=False, cache_dir=tmp_path)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp  # loaded, not exported
    with open(first.path, "r+b") as fh:  # a flipped byte: the hash no longer matches
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    redone = export_model(model, sha, int8=False, cache_dir=tmp_path)
    assert file_sha256(redone.path) == manifest["sha256"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]  # no half-written folder left


def _st_folder(folder: Path, kinds: list[str], pooling: dict) -> Path:
    folder.mkdir()
    modules = [{"idx": i, "name": str(i), "path": "" if i == 0 else f"{i}_{k}", "type": f"sentence_transformers.models.{k}"}
               for i, k in enumerate(kinds)]
    (folder / "modules.json").write_text(json.dumps(modules))
    if len(kinds) > 1:
        (folder / modules[1]["path"]).mkdir()
        (folder / modules[1]["path"] / "config.json").write_text(json.dumps(pooling))
    (folder / "tokenizer.json").write_text("{}")
    return folder


def test_models_the_onnx_path_cannot_reproduce_are_refused_by_name(tmp_path):
    mean = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}
    check_exportable(_st_folder(tmp_path / "ok", ["Transformer", "Pooling", "Normalize"], mean))
    cls = {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    with pytest.raises(EmbeddingError, match="mean pooling"):
        check_exportable(_st_folder(tmp_path / "cls", ["Transformer", "Pooling"], cls))
    with pytest.raises(EmbeddingError, match="backend = \"torch\""):
        check_exportable(_st_folder(tmp_path / "dense", ["Transformer", "Pooling", "Dense"], mean))
    with pytest.raises(EmbeddingError, match="modules.json"):
        check_exportable(tmp_path)


def test_an_unknown_backend_is_refused_by_name():
    with pytest.raises(EmbeddingError, match="backend must be one of onnx, torch"):
        load_encoder(EmbedConfig(progress=False, backend="tensorrt"))


def test_the_export_cache_follows_xdg(monkeypatch, tmp_path):
    from targeting.embed_onnx import default_cache_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "targeting" / "onnx"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "targeting" / "onnx"


def test_an_unwritable_export_cache_is_named_with_its_setting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = resolve_model_path("default")
    with pytest.raises(EmbeddingError, match="onnx_cache"):
        export_model(model, weights_sha256(model), int8=False, cache_dir=blocker / "onnx")
