"""Real GGUF files for tests: a tiny random-weight llama model and LoRA adapters for it.

The tiny model keeps the default model's real tokenizer and chat template (copied
key by key with the ``gguf`` package), so prompts are formatted and tokenized
exactly as in production; only the weights are random and small, so a generation
takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from ragtune.config import load_settings
from ragtune.models import ModelRegistry


@dataclass(frozen=True)
class TinyConfig:
    n_embd: int = 64
    n_head: int = 4
    n_head_kv: int = 2
    n_layer: int = 2
    n_ff: int = 128
    context_length: int = 2048
    architecture: str = "llama"

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """Every 2-D block weight as numpy (n_out, n_in)."""
        kv = self.n_head_kv * self.head_dim
        shapes = {}
        for layer in range(self.n_layer):
            shapes[f"blk.{layer}.attn_q.weight"] = (self.n_embd, self.n_embd)
            shapes[f"blk.{layer}.attn_k.weight"] = (kv, self.n_embd)
            shapes[f"blk.{layer}.attn_v.weight"] = (kv, self.n_embd)
            shapes[f"blk.{layer}.attn_output.weight"] = (self.n_embd, self.n_embd)
            shapes[f"blk.{layer}.ffn_gate.weight"] = (self.n_ff, self.n_embd)
            shapes[f"blk.{layer}.ffn_up.weight"] = (self.n_ff, self.n_embd)
            shapes[f"blk.{layer}.ffn_down.weight"] = (self.n_embd, self.n_ff)
        return shapes


#: A tiny qwen2 model (NEOX rope, q/k/v biases), for architecture-dependent tests.
TINY_QWEN2 = TinyConfig(architecture="qwen2")


def default_model_path() -> Path:
    registry = ModelRegistry(load_settings())
    status = registry.locate(registry.get("smollm2-135m-instruct-q4_1"))
    assert status.path is not None, status.hint
    return status.path


def _copy_tokenizer(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> tuple[int, np.ndarray]:
    vocab_size = 0
    token_types = np.zeros(0, dtype=np.int32)
    for key, field in reader.fields.items():
        if not (key.startswith("tokenizer.")):
            continue
        types = field.types
        value = field.contents()
        if types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, value, types[0], sub_type=types[-1])
            if key == "tokenizer.ggml.tokens":
                vocab_size = len(value)
            if key == "tokenizer.ggml.token_type":
                token_types = np.asarray(value, dtype=np.int32)
        else:
            writer.add_key_value(key, value, types[0])
    return vocab_size, token_types


def write_tiny_model(
    path: Path, *, config: TinyConfig = TinyConfig(), seed: int = 0, source: Path | None = None
) -> Path:
    """Write a random-weight model with the default model's tokenizer and chat template."""
    reader = gguf.GGUFReader(source or default_model_path())
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, config.architecture)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name("ragtune tiny test model")
    writer.add_license("apache-2.0")
    writer.add_context_length(config.context_length)
    writer.add_embedding_length(config.n_embd)
    writer.add_block_count(config.n_layer)
    writer.add_feed_forward_length(config.n_ff)
    writer.add_head_count(config.n_head)
    writer.add_head_count_kv(config.n_head_kv)
    writer.add_rope_dimension_count(config.head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    vocab_size, token_types = _copy_tokenizer(reader, writer)
    writer.add_vocab_size(vocab_size)

    embd = rng.normal(0.0, 1.0, size=(vocab_size, config.n_embd)).astype(np.float16)
    # Control tokens (end of turn, end of text ...) get zero embeddings, so their logits
    # stay 0 while the best of ~49k random logits is always higher: generations never
    # stop early, which makes "the output changed" tests meaningful.
    control = np.flatnonzero(token_types == int(gguf.TokenType.CONTROL))
    embd[control] = 0
    writer.add_tensor("token_embd.weight", embd)
    writer.add_tensor("output_norm.weight", np.ones(config.n_embd, dtype=np.float32))
    for layer in range(config.n_layer):
        writer.add_tensor(f"blk.{layer}.attn_norm.weight", np.ones(config.n_embd, dtype=np.float32))
        writer.add_tensor(f"blk.{layer}.ffn_norm.weight", np.ones(config.n_embd, dtype=np.float32))
    for name, shape in config.weight_shapes().items():
        weight = rng.normal(0.0, 0.3, size=shape).astype(np.float16)
        writer.add_tensor(name, weight)
    if config.architecture == "qwen2":  # qwen2 has biases on q, k and v (llama has none)
        for name, (n_out, _n_in) in config.weight_shapes().items():
            if name.split(".")[2] in ("attn_q", "attn_k", "attn_v"):
                bias = rng.normal(0.0, 0.1, size=n_out).astype(np.float32)
                writer.add_tensor(name.removesuffix(".weight") + ".bias", bias)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_lora(
    path: Path,
    *,
    config: TinyConfig = TinyConfig(),
    rank: int = 4,
    alpha: float = 8.0,
    targets: tuple[str, ...] = ("attn_q", "attn_v", "ffn_up"),
    zero_b: bool = False,
    seed: int = 1,
    architecture: str | None = None,
    shape_delta: int = 0,
    scale: float = 1.0,
) -> Path:
    """Write a LoRA GGUF for the tiny model.

    ``zero_b`` gives all-zero B matrices (the adapter changes nothing); ``shape_delta``
    makes the A matrices too wide (an adapter for a model of another size).
    """
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(path, architecture or config.architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for name, (n_out, n_in) in config.weight_shapes().items():
        if name.split(".")[2] not in targets:
            continue
        a = rng.normal(0.0, 1.0, size=(rank, n_in + shape_delta)).astype(np.float32) * scale
        b = (
            np.zeros((n_out, rank), dtype=np.float32)
            if zero_b
            else rng.normal(0.0, 1.0, size=(n_out, rank)).astype(np.float32) * scale
        )
        writer.add_tensor(f"{name}.lora_a", a)
        writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
