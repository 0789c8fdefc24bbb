"""A model's header beyond single keys: the cross-rules between keys, the tokenizer, tensor shapes and the chat template."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ragtune.gguf.checker import KeyChecker, key_label
from ragtune.gguf.keys import (
    ALL_ARCH,
    BPE_PRE_TOKENIZERS,
    FAMILY_KEYS,
    MODEL_KEYS,
    STR,
    TOKEN_ID_KEYS,
    TOKENIZER_KEYS,
    KeyRule,
)


def check_model_header(checker: KeyChecker, tensors: dict[str, tuple[int, ...]]) -> int:
    """The model keys, their cross-rules and the tokenizer; returns the vocabulary size."""
    arch = checker.arch
    checker.check(MODEL_KEYS[:4])  # block_count first: per-layer keys are sized by it
    n_layer = int(checker.value(f"{arch}.block_count"))
    checker.check(MODEL_KEYS[4:] + tuple(FAMILY_KEYS.get(arch, ())), n_layer=n_layer)
    checker.check(TOKENIZER_KEYS)
    for key in checker.fields:
        if key.startswith("tokenizer.chat_template."):  # llama-cpp-python compiles these too
            checker.check_one(KeyRule(key, STR, max_len=1 << 20))

    layers = {int(m.group(1)) for name in tensors if (m := re.match(r"^blk\.(\d{1,9})\.", name))}
    if layers != set(range(n_layer)):
        raise checker.fail(
            f"'{arch}.block_count' says {n_layer} layers, but the file has tensors for "
            f"{len(layers)} (blk.N names must cover 0..{n_layer - 1}). The header or tensor table is damaged."
        )
    n_embd = int(checker.value(f"{arch}.embedding_length"))
    heads = checker.per_layer(f"{ALL_ARCH}.attention.head_count", n_layer) or []
    heads_kv = checker.per_layer(f"{ALL_ARCH}.attention.head_count_kv", n_layer, heads) or []
    key_length = checker.value(f"{arch}.attention.key_length")
    for n_head, n_head_kv in zip(heads, heads_kv, strict=True):
        if key_length is None and n_embd % n_head:
            raise checker.fail(
                f"'{arch}.embedding_length' must be a multiple of '{arch}.attention.head_count' "
                "(llama.cpp splits the embedding into heads)."
            )
        if n_head % n_head_kv:
            raise checker.fail(
                f"'{arch}.attention.head_count' must be a multiple of '{arch}.attention.head_count_kv'."
            )
    head_dim = int(key_length) if key_length is not None else n_embd // max(heads[0], 1)
    value_length = checker.value(f"{arch}.attention.value_length")
    head_dim_v = int(value_length) if value_length is not None else head_dim
    n_ff = checker.per_layer(f"{ALL_ARCH}.feed_forward_length", n_layer) or []
    _check_block_shapes(checker, tensors, n_embd, heads, heads_kv, n_ff, head_dim, head_dim_v)
    n_rot = checker.value(f"{arch}.rope.dimension_count")
    if n_rot is not None and (n_rot > head_dim or n_rot % 2):
        raise checker.fail(
            f"'{arch}.rope.dimension_count' must be even and at most the head size ({head_dim})."
        )

    tokens_field = checker.fields["tokenizer.ggml.tokens"]
    n_vocab = len(tokens_field.data)
    # llama.cpp renames empty tokens and asserts that every token is unique afterwards
    seen: set[bytes] = set()
    for index, part in enumerate(tokens_field.data):
        token = bytes(tokens_field.parts[part]) or f"[EMPTY_{index}]".encode()
        if token in seen:
            raise checker.fail(
                f"'tokenizer.ggml.tokens' lists token #{index} twice; every token must be unique."
            )
        seen.add(token)
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        field = checker.fields.get(key)
        if field is not None and len(field.data) != n_vocab:
            raise checker.fail(f"'{key}' must have one entry per token ({n_vocab}).")
    if checker.value("tokenizer.ggml.model") == "gpt2":
        if "tokenizer.ggml.merges" not in checker.fields:
            raise checker.fail(
                "'tokenizer.ggml.merges' is missing; a gpt2 (BPE) tokenizer needs it."
            )
        pre = checker.value("tokenizer.ggml.pre")
        if pre is not None and pre not in BPE_PRE_TOKENIZERS:
            raise checker.fail(
                "'tokenizer.ggml.pre' names a pre-tokenizer llama.cpp does not know."
            )
    for name in TOKEN_ID_KEYS:
        key = f"tokenizer.ggml.{name}_token_id"
        token_id = checker.value(key)
        if token_id is not None and token_id >= n_vocab:
            raise checker.fail(f"'{key}' must name a token (0..{n_vocab - 1}).")
    for name in ("bos", "eos"):
        if checker.value(f"tokenizer.ggml.{name}_token_id") is None:
            raise checker.fail(
                f"the header key 'tokenizer.ggml.{name}_token_id' is missing; a chat model needs it."
            )
    vocab_size = checker.value(f"{arch}.vocab_size")
    if vocab_size is not None and vocab_size != n_vocab:
        raise checker.fail(f"'{arch}.vocab_size' must equal the number of tokens ({n_vocab}).")
    for name in ("token_embd.weight", "output.weight"):
        shape = tensors.get(name)
        if shape is None:
            if name == "token_embd.weight":
                raise checker.fail("the tensor 'token_embd.weight' is missing.")
            continue
        if shape != (n_embd, n_vocab):
            raise checker.fail(
                f"the tensor '{name}' has shape {shape}; the header needs ({n_embd}, {n_vocab}) "
                "(embedding length, number of tokens)."
            )
    for key in [k for k in checker.fields if k.startswith("tokenizer.chat_template")]:
        _check_template(checker, key, checker.value(key))
    return n_vocab


def _check_block_shapes(
    checker: KeyChecker,
    tensors: Mapping[str, tuple[int, ...]],
    n_embd: int,
    heads: list[int],
    heads_kv: list[int],
    n_ff: list[int],
    head_dim: int,
    head_dim_v: int,
) -> None:
    """The standard block weights (where present) must have the shapes the header implies.

    llama.cpp refuses a mismatch itself; checking here names the key to fix. Fused weights
    (phi3's attn_qkv and doubled ffn_up) are left to llama.cpp.
    """
    expected: dict[str, tuple[int, ...]] = {"output_norm.weight": (n_embd,)}
    for layer, (n_head, n_head_kv, ff) in enumerate(zip(heads, heads_kv, n_ff, strict=True)):
        blk = f"blk.{layer}."
        expected[blk + "attn_norm.weight"] = (n_embd,)
        expected[blk + "attn_q.weight"] = (n_embd, n_head * head_dim)
        expected[blk + "attn_k.weight"] = (n_embd, n_head_kv * head_dim)
        expected[blk + "attn_v.weight"] = (n_embd, n_head_kv * head_dim_v)
        expected[blk + "attn_output.weight"] = (n_head * head_dim_v, n_embd)
        if checker.arch != "phi3":
            expected[blk + "ffn_gate.weight"] = (n_embd, ff)
            expected[blk + "ffn_up.weight"] = (n_embd, ff)
        expected[blk + "ffn_down.weight"] = (ff, n_embd)
    for name, shape in expected.items():
        if name in tensors and tensors[name] != shape:
            raise checker.fail(
                f"the tensor '{name}' has shape {tensors[name]}, but the header (embedding_length, "
                "head counts, feed_forward_length) implies "
                f"{shape}. The header or the tensors are damaged."
            )


def _check_template(checker: KeyChecker, key: str, template: str | None) -> None:
    """A chat template must compile (llama-cpp-python compiles it while loading the model)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(
            template or ""
        )
    except (jinja2.TemplateError, RecursionError, MemoryError, ValueError, TypeError) as exc:
        raise checker.fail(
            f"'{key_label(key)}' is not a valid Jinja chat template ({type(exc).__name__})."
        ) from exc
