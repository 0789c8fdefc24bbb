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
    weight_std: float = 0.3  # of the block weights; small values let the embeddings dominate (the model loops)

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
        weight = rng.normal(0.0, config.weight_std, size=shape).astype(np.float16)
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


# --- GGUF files described as data, for the validation and fuzz tests --------------------


@dataclass
class GGUFDescription:
    """A GGUF file as plain data: ordered header keys ``key -> (value, type, sub_type)`` and
    tensors ``(name, data, raw_dtype)`` (``data`` as the ``gguf`` reader gives it: values for
    F32/F16, bytes in the byte shape for quantized types).

    Tests change the keys (any value, any GGUF type) and write the result with
    :func:`write_description`; the architecture key is written like any other, so it too
    can be retyped or dropped.
    """

    kv: dict[str, tuple[object, gguf.GGUFValueType, gguf.GGUFValueType | None]]
    tensors: list[tuple[str, np.ndarray, gguf.GGMLQuantizationType]]

    def copy(self) -> GGUFDescription:
        return GGUFDescription(dict(self.kv), list(self.tensors))


def describe_gguf(path: Path) -> GGUFDescription:
    """Read a GGUF file into a :class:`GGUFDescription` (tensor data copied into memory)."""
    reader = gguf.GGUFReader(path)
    kv: dict[str, tuple[object, gguf.GGUFValueType, gguf.GGUFValueType | None]] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        types = field.types
        if types[0] == gguf.GGUFValueType.ARRAY:
            kv[key] = (field.contents(), types[0], types[-1])
        else:
            kv[key] = (field.contents(), types[0], None)
    tensors = [(t.name, np.array(t.data), t.tensor_type) for t in reader.tensors]
    return GGUFDescription(kv, tensors)


def write_description(path: Path, desc: GGUFDescription) -> Path:
    """Write ``desc`` as a GGUF file, every key with exactly its given type."""
    writer = gguf.GGUFWriter(path, "placeholder")
    writer.kv_data[0].clear()  # drop the architecture the constructor adds: desc says it
    for key, (value, vtype, sub_type) in desc.kv.items():
        writer.kv_data[0][key] = gguf.GGUFValue(value=value, type=vtype, sub_type=sub_type)
    for name, data, raw_dtype in desc.tensors:
        quantized = raw_dtype not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)
        writer.add_tensor(name, data, raw_dtype=raw_dtype if quantized else None)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def tensor_info_offsets(path: Path) -> list[dict[str, int]]:
    """Byte positions of each tensor's ``n_dims``, first dim, type and offset fields in the
    tensor table, for tests that damage the table in place."""
    reader = gguf.GGUFReader(path)
    positions = []
    for tensor in reader.tensors:
        field = tensor.field
        pos = field.offset
        spots = {}
        for name, part in zip(
            ("name_len", "name", "n_dims", "dims", "type", "offset"), field.parts, strict=True
        ):
            spots[name] = pos
            pos += int(part.nbytes)
        positions.append(spots)
    return positions


def small_vocab_source(path: Path, *, n_tokens: int = 400, source: Path | None = None) -> Path:
    """A tokenizer-only GGUF with the default model's first ``n_tokens`` tokens (its special
    tokens and byte tokens) and the merges among them, for :func:`write_tiny_model`'s
    ``source``: a model with it parses in milliseconds instead of seconds, so a fuzz test
    can check hundreds of variants."""
    desc = describe_gguf(source or default_model_path())
    tokens = list(desc.kv["tokenizer.ggml.tokens"][0])[:n_tokens]  # type: ignore[call-overload]
    kept = set(tokens)
    kv: dict[str, tuple[object, gguf.GGUFValueType, gguf.GGUFValueType | None]] = {}
    for key, (value, vtype, sub_type) in desc.kv.items():
        if not key.startswith("tokenizer."):
            continue
        if key == "tokenizer.ggml.tokens":
            value = tokens
        elif key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
            value = list(value)[:n_tokens]  # type: ignore[call-overload]
        elif key == "tokenizer.ggml.merges":
            value = [
                m
                for m in value
                if "".join(m.split(" ", 1)) in kept and all(p in kept for p in m.split(" ", 1))
            ]  # type: ignore[union-attr]
        elif key.endswith("_token_id") and isinstance(value, int) and value >= n_tokens:
            continue
        kv[key] = (value, vtype, sub_type)
    kv["general.architecture"] = ("llama", gguf.GGUFValueType.STRING, None)
    return write_description(path, GGUFDescription(kv, []))
