"""The header keys llama.cpp reads, as data: each key's GGUF type and sane range, per architecture.

llama.cpp reads header keys with typed getters: its model loader throws on a wrong
type, but its adapter loader and the GGUF core assert (``GGML_ASSERT``) and abort the
whole process, and some values (a block count over 512, an unknown RoPE scaling type,
a duplicated token) trip asserts too. So every key llama.cpp reads for the
architectures we accept is listed here with the GGUF type it is read as and a sane
range (:data:`GENERAL_KEYS`, :data:`MODEL_KEYS`, :data:`FAMILY_KEYS`,
:data:`TOKENIZER_KEYS`, :data:`ADAPTER_KEYS`); :mod:`ragtune.gguf.checker` applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import gguf

# Architectures the in-process runtime has been checked with. llama.cpp knows more; a
# user who needs another one can add it here (and to FAMILY_KEYS) after checking it
# loads and chats. ("mistral" is not a llama.cpp architecture name: Mistral models are
# converted as "llama".)
SUPPORTED_ARCHITECTURES = frozenset(
    {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "granite", "olmo2", "smollm3"}
)

# LoRA tensor dtypes llama.cpp's adapter loader accepts.
ADAPTER_DTYPES = frozenset({"F32", "F16", "BF16", "Q8_0"})

# llama.cpp's limits (llama-hparams.h LLAMA_MAX_LAYERS, ggml.h GGML_MAX_DIMS / GGML_MAX_NAME).
MAX_LAYERS = 512
MAX_DIMS = 4
MAX_TENSOR_NAME = 63
MAX_VOCAB = 1 << 22
MAX_CONTEXT = 10_000_000

V = gguf.GGUFValueType


@dataclass(frozen=True)
class KeyRule:
    """One header key llama.cpp reads: the GGUF type(s) it is read as and its sane range.

    ``key`` may hold ``{arch}`` (the file's architecture). ``shape`` says whether the
    value is a scalar, an array, or either a scalar or one value per layer (llama.cpp's
    ``get_key_or_arr``). ``low``/``high`` bound numbers (and every item of a numeric
    array); ``low_open`` makes the lower bound exclusive (``> low``). ``choices`` lists the
    strings llama.cpp understands; ``max_len`` bounds a string (UTF-8 bytes) or an array.
    """

    key: str
    types: tuple[gguf.GGUFValueType, ...]
    shape: Literal["scalar", "array", "per_layer"] = "scalar"
    required: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: frozenset[str] | None = None
    max_len: int | None = None
    # item types of a per-layer array, when they differ from the scalar's (llama.cpp reads
    # a scalar with its exact type, but an array of UINT32 or INT32 alike)
    item_types: tuple[gguf.GGUFValueType, ...] | None = None

    @property
    def array_types(self) -> tuple[gguf.GGUFValueType, ...]:
        return self.item_types or self.types

    def describe(self) -> str:
        names = " or ".join(t.name for t in self.types)
        if self.shape == "array":
            text = f"an array of {names}"
        elif self.shape == "per_layer":
            items = " or ".join(t.name for t in self.array_types)
            text = f"a {names} (or an array of {items}, one per layer)"
        else:
            text = f"a {names}"
        if self.low is not None or self.high is not None:
            low = (
                ""
                if self.low is None
                else (f"> {_num(self.low)}" if self.low_open else f">= {_num(self.low)}")
            )
            high = "" if self.high is None else f"<= {_num(self.high)}"
            text += " " + " and ".join(part for part in (low, high) if part)
            if any(t in (V.FLOAT32, V.FLOAT64) for t in self.types):
                text += " (finite)"
        if self.choices:
            text += f" (one of {', '.join(sorted(self.choices))})"
        if self.max_len is not None:
            text += f" (at most {self.max_len} {'items' if self.shape == 'array' else 'bytes'})"
        return text


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


U32 = (V.UINT32,)
F32 = (V.FLOAT32,)
STR = (V.STRING,)
BOOL = (V.BOOL,)
ALL_ARCH = "{arch}"


def _u32(key: str, low: float = 1, high: float = 2**31 - 1, **kw: Any) -> KeyRule:
    return KeyRule(key, U32, low=low, high=high, **kw)


def _f32(
    key: str, low: float = 0.0, high: float = 1e12, low_open: bool = True, **kw: Any
) -> KeyRule:
    return KeyRule(key, F32, low=low, high=high, low_open=low_open, **kw)


#: Keys of every GGUF file (model or adapter). llama.cpp's adapter loader reads
#: general.type and general.architecture with ``gguf_get_val_str``: any other type aborts.
GENERAL_KEYS: tuple[KeyRule, ...] = (
    KeyRule("general.architecture", STR, required=True, max_len=64),
    KeyRule("general.type", STR, max_len=32),
    KeyRule("general.name", STR, max_len=1024),
    KeyRule("general.license", STR, max_len=1024),
    KeyRule("general.alignment", U32, low=1, high=1 << 16),
    _u32("general.file_type", low=0, high=1024),
    _u32("general.quantization_version", low=0, high=1024),
    # a split model needs its other parts next to it; ragtune loads single files
    KeyRule("split.count", (V.UINT16,), low=0, high=1),
)

#: Keys every supported architecture's hparams loader reads (llama-model.cpp load_hparams).
MODEL_KEYS: tuple[KeyRule, ...] = (
    _u32(f"{ALL_ARCH}.context_length", high=MAX_CONTEXT, required=True),
    _u32(f"{ALL_ARCH}.embedding_length", high=1 << 16, required=True),
    _u32(f"{ALL_ARCH}.embedding_length_out", high=1 << 16),
    _u32(f"{ALL_ARCH}.block_count", high=MAX_LAYERS, required=True),
    KeyRule(
        f"{ALL_ARCH}.feed_forward_length",
        U32,
        "per_layer",
        True,
        1,
        1 << 20,
        item_types=U32 + (V.INT32,),
    ),
    KeyRule(
        f"{ALL_ARCH}.attention.head_count",
        U32,
        "per_layer",
        True,
        1,
        1024,
        item_types=U32 + (V.INT32,),
    ),
    KeyRule(
        f"{ALL_ARCH}.attention.head_count_kv",
        U32,
        "per_layer",
        False,
        1,
        1024,
        item_types=U32 + (V.INT32,),
    ),
    _u32(f"{ALL_ARCH}.attention.key_length", high=1 << 14),
    _u32(f"{ALL_ARCH}.attention.value_length", high=1 << 14),
    _u32(f"{ALL_ARCH}.attention.key_length_swa", high=1 << 14),
    _u32(f"{ALL_ARCH}.attention.value_length_swa", high=1 << 14),
    _f32(f"{ALL_ARCH}.attention.layer_norm_rms_epsilon", high=1.0, required=True),
    _f32(f"{ALL_ARCH}.attention.layer_norm_epsilon", high=1.0),
    KeyRule(f"{ALL_ARCH}.attention.causal", BOOL),
    _u32(f"{ALL_ARCH}.pooling_type", low=0, high=4),
    # dense models only: the experts' asserts (n_expert_used <= n_expert ...) never apply
    _u32(f"{ALL_ARCH}.expert_count", low=0, high=0),
    KeyRule(
        f"{ALL_ARCH}.expert_used_count", U32, "per_layer", False, 0, 0, item_types=U32 + (V.INT32,)
    ),
    _u32(f"{ALL_ARCH}.expert_group_count", low=0, high=0),
    _u32(f"{ALL_ARCH}.expert_group_used_count", low=0, high=0),
    _u32(f"{ALL_ARCH}.nextn_predict_layers", low=0, high=0),
    _f32(f"{ALL_ARCH}.rope.freq_base", high=1e12),
    _u32(f"{ALL_ARCH}.rope.dimension_count", high=1 << 14),
    _u32(f"{ALL_ARCH}.rope.dimension_count_swa", high=1 << 14),
    KeyRule(
        f"{ALL_ARCH}.rope.scaling.type",
        STR,
        choices=frozenset({"none", "linear", "yarn", "longrope"}),
        max_len=16,
    ),
    _f32(f"{ALL_ARCH}.rope.scaling.factor", low=0.0, high=1e6, low_open=False),
    _f32(f"{ALL_ARCH}.rope.scale_linear", low=0.0, high=1e6, low_open=False),
    _f32(f"{ALL_ARCH}.rope.scaling.attn_factor", high=1e3),
    _f32(f"{ALL_ARCH}.rope.scaling.alpha", low=0.0, high=1e6, low_open=False),
    _u32(f"{ALL_ARCH}.rope.scaling.original_context_length", high=MAX_CONTEXT),
    KeyRule(f"{ALL_ARCH}.rope.scaling.finetuned", BOOL),
    _u32(f"{ALL_ARCH}.vocab_size", high=MAX_VOCAB),
    KeyRule(f"{ALL_ARCH}.classifier.output_labels", STR, "array", max_len=0),
)

_SWA_KEYS: tuple[KeyRule, ...] = (
    _u32(f"{ALL_ARCH}.attention.sliding_window", low=0, high=MAX_CONTEXT),
    KeyRule(
        f"{ALL_ARCH}.attention.sliding_window_pattern",
        U32,
        "per_layer",
        False,
        0,
        1024,
        item_types=U32 + (V.INT32, V.BOOL),
    ),
    _f32(f"{ALL_ARCH}.rope.freq_base_swa", high=1e12),
)

#: Keys only some architectures read (their load_arch_hparams in src/models/<arch>.cpp).
FAMILY_KEYS: Mapping[str, tuple[KeyRule, ...]] = {
    "llama": (),
    "qwen2": (),
    "qwen3": (),
    "smollm3": (),
    "phi3": _SWA_KEYS,
    "olmo2": _SWA_KEYS,
    "gemma3": _SWA_KEYS
    + (_f32(f"{ALL_ARCH}.final_logit_softcapping", low=0.0, high=1e4, low_open=False),),
    "gemma2": _SWA_KEYS
    + (
        _f32(f"{ALL_ARCH}.attn_logit_softcapping", low=0.0, high=1e4, low_open=False),
        _f32(f"{ALL_ARCH}.final_logit_softcapping", low=0.0, high=1e4, low_open=False),
    ),
    "granite": (
        _f32(f"{ALL_ARCH}.logit_scale", high=1e4, required=True),
        _f32(f"{ALL_ARCH}.residual_scale", high=1e4),
        _f32(f"{ALL_ARCH}.embedding_scale", high=1e4),
        _f32(f"{ALL_ARCH}.attention.scale", high=1e4),
        KeyRule(f"{ALL_ARCH}.deepstack_mapping", (V.INT32,), "array", max_len=0),
    ),
}

TOKEN_ID_KEYS = (
    "bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask",
    "fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep", "prefix", "suffix", "middle",
)  # fmt: skip

#: The tokenizer keys llama-vocab.cpp reads. Token ids are checked against the vocabulary
#: size separately (they must name a token).
TOKENIZER_KEYS: tuple[KeyRule, ...] = (
    KeyRule(
        "tokenizer.ggml.model", STR, required=True, choices=frozenset({"llama", "gpt2"}), max_len=16
    ),
    KeyRule("tokenizer.ggml.pre", STR, max_len=64),
    KeyRule("tokenizer.ggml.tokens", STR, "array", required=True, max_len=MAX_VOCAB),
    KeyRule(
        "tokenizer.ggml.scores",
        (V.FLOAT32, V.INT32),
        "array",
        low=-1e30,
        high=1e30,
        max_len=MAX_VOCAB,
    ),
    KeyRule("tokenizer.ggml.token_type", (V.INT32,), "array", low=0, high=6, max_len=MAX_VOCAB),
    KeyRule("tokenizer.ggml.merges", STR, "array", max_len=1 << 23),
    KeyRule("tokenizer.ggml.token_type_count", U32, low=0, high=1 << 16),
    *(_u32(f"tokenizer.ggml.{name}_token_id", low=0, high=MAX_VOCAB - 1) for name in TOKEN_ID_KEYS),
    KeyRule("tokenizer.ggml.add_bos_token", BOOL),
    KeyRule("tokenizer.ggml.add_eos_token", BOOL),
    KeyRule("tokenizer.ggml.add_sep_token", BOOL),
    KeyRule("tokenizer.ggml.add_space_prefix", BOOL),
    KeyRule("tokenizer.ggml.remove_extra_whitespaces", BOOL),
    KeyRule("tokenizer.ggml.normalizer_lowercase", BOOL),
    KeyRule("tokenizer.ggml.normalizer_strip_accents", BOOL),
    KeyRule("tokenizer.ggml.precompiled_charsmap", (V.UINT8, V.INT8), "array", max_len=0),
    KeyRule(
        "tokenizer.ggml.suppress_tokens",
        (V.INT32,),
        "array",
        low=0,
        high=MAX_VOCAB - 1,
        max_len=MAX_VOCAB,
    ),
    KeyRule("tokenizer.chat_template", STR, max_len=1 << 20),
)

#: The BPE pre-tokenizers llama-vocab.cpp (0.3.36) knows; any other name makes it refuse the model.
BPE_PRE_TOKENIZERS = frozenset(
    {
        "a.x-4.0",
        "afmoe",
        "bailingmoe",
        "bailingmoe2",
        "bloom",
        "chameleon",
        "chatglm-bpe",
        "codeshell",
        "cohere2moe",
        "command-r",
        "dbrx",
        "deepseek-coder",
        "deepseek-llm",
        "deepseek-r1-qwen",
        "deepseek-v3",
        "default",
        "exaone",
        "exaone-moe",
        "exaone4",
        "f2llmv2",
        "falcon",
        "falcon-h1",
        "falcon3",
        "gemma4",
        "gigachat",
        "glm4",
        "glm5",
        "gpt-2",
        "gpt-4o",
        "gpt3-finnish",
        "granite-docling",
        "granite-embed-multi-311m",
        "granite-embed-multi-97m",
        "grok-2",
        "hunyuan",
        "hunyuan-dense",
        "hy_v4",
        "jais",
        "jais-2",
        "jina-de",
        "jina-es",
        "jina-v1-en",
        "jina-v2-code",
        "jina-v2-de",
        "jina-v2-es",
        "jina-v5-nano",
        "joyai-llm",
        "kanana2",
        "kimi-k2",
        "kormo",
        "laguna",
        "lfm2",
        "llada-moe",
        "llama-bpe",
        "llama-v3",
        "llama3",
        "llama4",
        "megrez",
        "mellum",
        "mellum2",
        "midm-2.0",
        "minerva-7b",
        "minicpm5",
        "minimax-m2",
        "modern-bert",
        "mpt",
        "olmo",
        "phi-2",
        "pixtral",
        "poro-chat",
        "qwen2",
        "qwen35",
        "refact",
        "roberta-bpe",
        "sarvam-moe",
        "seed-coder",
        "smaug-bpe",
        "smollm",
        "solar-open",
        "spark2_5",
        "stablelm2",
        "starcoder",
        "superbpe",
        "talkie",
        "tekken",
        "tiny_aya",
        "trillion",
        "ufakzeka",
        "viking",
        "whitespace",
        "youtu",
    }
)

#: The keys llama-adapter.cpp reads, all with untyped getters (a wrong type aborts).
ADAPTER_KEYS: tuple[KeyRule, ...] = (
    KeyRule("general.type", STR, required=True, choices=frozenset({"adapter"}), max_len=32),
    KeyRule("adapter.type", STR, required=True, choices=frozenset({"lora"}), max_len=16),
    _f32("adapter.lora.alpha", low=0.0, high=1e6, low_open=False),
    KeyRule("adapter.lora.task_name", STR, max_len=1024),
    KeyRule("adapter.lora.prompt_prefix", STR, max_len=1 << 16),
    KeyRule(
        "adapter.alora.invocation_tokens", U32, "array", low=0, high=MAX_VOCAB - 1, max_len=4096
    ),
)
