"""Reading and checking GGUF files (models and LoRA adapters) with the ``gguf`` package.

Every file is checked here before llama.cpp sees it, so a wrong file becomes a
clear :class:`~ragtune.errors.RagtuneError` instead of an abort of the process.

llama.cpp reads header keys with typed getters: its model loader throws on a wrong
type, but its adapter loader and the GGUF core assert (``GGML_ASSERT``) and abort the
whole process, and some values (a block count over 512, an unknown RoPE scaling type,
a duplicated token) trip asserts too. So every key llama.cpp reads for the
architectures we accept is listed below with the GGUF type it is read as and a sane
range (:data:`GENERAL_KEYS`, :data:`MODEL_KEYS`, :data:`FAMILY_KEYS`,
:data:`TOKENIZER_KEYS`, :data:`ADAPTER_KEYS`), and the tensor table is checked against
the file the way ``gguf.cpp`` lays it out. No message quotes the file's bytes: a
message names the key and the rule it breaks.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import gguf
import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ragtune.errors import AdapterError, ModelError, RagtuneError

GGUF_MAGIC = b"GGUF"

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


class GGUFSummary(BaseModel):
    """What ragtune needs to know about a GGUF file, read from its header."""

    model_config = ConfigDict(frozen=True)

    path: Path
    size_bytes: int
    file_type: str  # general.type: "model" or "adapter"
    architecture: str
    name: str | None = None
    license: str | None = None
    quantization: str | None = None
    context_length: int | None = None
    vocab_size: int | None = None  # entries of tokenizer.ggml.tokens (models)
    has_chat_template: bool = False
    # tensor name -> shape in ggml order (ne0 first: the input dimension of a weight)
    tensors: dict[str, tuple[int, ...]]
    tensor_dtypes: dict[str, str]
    metadata: dict[str, Any] = {}


# --- the key table ----------------------------------------------------------------------


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
_ALL_ARCH = "{arch}"


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
    _u32(f"{_ALL_ARCH}.context_length", high=MAX_CONTEXT, required=True),
    _u32(f"{_ALL_ARCH}.embedding_length", high=1 << 16, required=True),
    _u32(f"{_ALL_ARCH}.embedding_length_out", high=1 << 16),
    _u32(f"{_ALL_ARCH}.block_count", high=MAX_LAYERS, required=True),
    KeyRule(
        f"{_ALL_ARCH}.feed_forward_length",
        U32,
        "per_layer",
        True,
        1,
        1 << 20,
        item_types=U32 + (V.INT32,),
    ),
    KeyRule(
        f"{_ALL_ARCH}.attention.head_count",
        U32,
        "per_layer",
        True,
        1,
        1024,
        item_types=U32 + (V.INT32,),
    ),
    KeyRule(
        f"{_ALL_ARCH}.attention.head_count_kv",
        U32,
        "per_layer",
        False,
        1,
        1024,
        item_types=U32 + (V.INT32,),
    ),
    _u32(f"{_ALL_ARCH}.attention.key_length", high=1 << 14),
    _u32(f"{_ALL_ARCH}.attention.value_length", high=1 << 14),
    _u32(f"{_ALL_ARCH}.attention.key_length_swa", high=1 << 14),
    _u32(f"{_ALL_ARCH}.attention.value_length_swa", high=1 << 14),
    _f32(f"{_ALL_ARCH}.attention.layer_norm_rms_epsilon", high=1.0, required=True),
    _f32(f"{_ALL_ARCH}.attention.layer_norm_epsilon", high=1.0),
    KeyRule(f"{_ALL_ARCH}.attention.causal", BOOL),
    _u32(f"{_ALL_ARCH}.pooling_type", low=0, high=4),
    # dense models only: the experts' asserts (n_expert_used <= n_expert ...) never apply
    _u32(f"{_ALL_ARCH}.expert_count", low=0, high=0),
    KeyRule(
        f"{_ALL_ARCH}.expert_used_count", U32, "per_layer", False, 0, 0, item_types=U32 + (V.INT32,)
    ),
    _u32(f"{_ALL_ARCH}.expert_group_count", low=0, high=0),
    _u32(f"{_ALL_ARCH}.expert_group_used_count", low=0, high=0),
    _u32(f"{_ALL_ARCH}.nextn_predict_layers", low=0, high=0),
    _f32(f"{_ALL_ARCH}.rope.freq_base", high=1e12),
    _u32(f"{_ALL_ARCH}.rope.dimension_count", high=1 << 14),
    _u32(f"{_ALL_ARCH}.rope.dimension_count_swa", high=1 << 14),
    KeyRule(
        f"{_ALL_ARCH}.rope.scaling.type",
        STR,
        choices=frozenset({"none", "linear", "yarn", "longrope"}),
        max_len=16,
    ),
    _f32(f"{_ALL_ARCH}.rope.scaling.factor", low=0.0, high=1e6, low_open=False),
    _f32(f"{_ALL_ARCH}.rope.scale_linear", low=0.0, high=1e6, low_open=False),
    _f32(f"{_ALL_ARCH}.rope.scaling.attn_factor", high=1e3),
    _f32(f"{_ALL_ARCH}.rope.scaling.alpha", low=0.0, high=1e6, low_open=False),
    _u32(f"{_ALL_ARCH}.rope.scaling.original_context_length", high=MAX_CONTEXT),
    KeyRule(f"{_ALL_ARCH}.rope.scaling.finetuned", BOOL),
    _u32(f"{_ALL_ARCH}.vocab_size", high=MAX_VOCAB),
    KeyRule(f"{_ALL_ARCH}.classifier.output_labels", STR, "array", max_len=0),
)

_SWA_KEYS: tuple[KeyRule, ...] = (
    _u32(f"{_ALL_ARCH}.attention.sliding_window", low=0, high=MAX_CONTEXT),
    KeyRule(
        f"{_ALL_ARCH}.attention.sliding_window_pattern",
        U32,
        "per_layer",
        False,
        0,
        1024,
        item_types=U32 + (V.INT32, V.BOOL),
    ),
    _f32(f"{_ALL_ARCH}.rope.freq_base_swa", high=1e12),
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
    + (_f32(f"{_ALL_ARCH}.final_logit_softcapping", low=0.0, high=1e4, low_open=False),),
    "gemma2": _SWA_KEYS
    + (
        _f32(f"{_ALL_ARCH}.attn_logit_softcapping", low=0.0, high=1e4, low_open=False),
        _f32(f"{_ALL_ARCH}.final_logit_softcapping", low=0.0, high=1e4, low_open=False),
    ),
    "granite": (
        _f32(f"{_ALL_ARCH}.logit_scale", high=1e4, required=True),
        _f32(f"{_ALL_ARCH}.residual_scale", high=1e4),
        _f32(f"{_ALL_ARCH}.embedding_scale", high=1e4),
        _f32(f"{_ALL_ARCH}.attention.scale", high=1e4),
        KeyRule(f"{_ALL_ARCH}.deepstack_mapping", (V.INT32,), "array", max_len=0),
    ),
}

_TOKEN_ID_KEYS = (
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
    *(
        _u32(f"tokenizer.ggml.{name}_token_id", low=0, high=MAX_VOCAB - 1)
        for name in _TOKEN_ID_KEYS
    ),
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


# --- reading ----------------------------------------------------------------------------

# Parsing a GGUF header with a 49k-entry vocabulary takes seconds in pure Python, and
# the app asks about the same files often; remember the result while the file is unchanged.
_summary_cache: dict[tuple[str, int, int, str], GGUFSummary] = {}
_summary_lock = threading.Lock()

_PRINTABLE = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")


def shown_name(value: object) -> str | None:
    """A header string fit to quote in a message: a short name of safe characters, else None."""
    return value if isinstance(value, str) and _PRINTABLE.match(value) else None


def _scalar(field: Any) -> Any:
    try:
        return field.contents()
    except Exception:  # noqa: BLE001 - an odd field type must not make the whole file unreadable
        return None


class _Checker:
    """Applies key rules to one file's fields and raises ``error`` naming the key and the rule."""

    def __init__(
        self, path: Path, fields: Mapping[str, Any], architecture: str, error: type[RagtuneError]
    ):
        self.path = path
        self.fields = fields
        self.arch = architecture
        self.error = error

    def fail(self, text: str) -> RagtuneError:
        return self.error(f"{self.path.name}: {text}")

    def value(self, key: str) -> Any:
        field = self.fields.get(key)
        return _scalar(field) if field is not None else None

    def check(self, rules: Iterable[KeyRule], *, n_layer: int | None = None) -> None:
        for rule in rules:
            self.check_one(rule, n_layer=n_layer)

    def check_one(self, rule: KeyRule, *, n_layer: int | None = None) -> None:
        key = rule.key.replace(_ALL_ARCH, self.arch)
        field = self.fields.get(key)
        broken = f"the header key '{_key_label(key)}' must be {rule.describe()}"
        if field is None:
            if rule.required:
                raise self.fail(f"the header key '{key}' is missing; it must be {rule.describe()}.")
            return
        types = list(field.types)
        is_array = bool(types) and types[0] == V.ARRAY
        if is_array:
            if rule.shape == "scalar" or len(types) != 2 or types[1] not in rule.array_types:
                raise self.fail(
                    f"{broken}, but it is stored as an array of {_type_name(types[1:])}."
                )
            n_items = len(field.data)
            if rule.shape == "per_layer" and n_layer is not None and n_items != n_layer:
                raise self.fail(f"{broken}; as an array it needs one value per layer ({n_layer}).")
            if rule.max_len is not None and n_items > rule.max_len:
                raise self.fail(f"{broken}.")
            if rule.shape == "array" and rule.required and n_items == 0:
                raise self.fail(f"{broken}, and not empty.")
            if types[1] == V.STRING:
                return
            if n_items and (rule.low is not None or rule.high is not None):
                items = np.concatenate([np.asarray(field.parts[i]).reshape(-1) for i in field.data])
                if not self._in_range_array(items, rule):
                    raise self.fail(f"{broken}; some of its items are out of range.")
            return
        if rule.shape == "array" or len(types) != 1 or types[0] not in rule.types:
            raise self.fail(f"{broken}, but it is stored as {_type_name(types)}.")
        value = _scalar(field)
        if types[0] == V.STRING:
            raw = bytes(field.parts[-1])
            if rule.max_len is not None and len(raw) > rule.max_len:
                raise self.fail(f"{broken}.")
            if value is None:
                raise self.fail(f"the header key '{key}' is not valid UTF-8 text.")
            if rule.choices is not None and value not in rule.choices:
                raise self.fail(f"{broken}.")
            return
        if isinstance(value, bool) or types[0] == V.BOOL:
            return
        if value is None or not self._in_range(float(value), rule):
            raise self.fail(f"{broken}.")

    @staticmethod
    def _in_range(value: float, rule: KeyRule) -> bool:
        if not math.isfinite(value):
            return False
        if rule.low is not None and (value <= rule.low if rule.low_open else value < rule.low):
            return False
        return rule.high is None or value <= rule.high

    @staticmethod
    def _in_range_array(items: np.ndarray, rule: KeyRule) -> bool:
        values = items.astype(np.float64)
        if not np.isfinite(values).all():
            return False
        if rule.low is not None and (
            (values <= rule.low).any() if rule.low_open else (values < rule.low).any()
        ):
            return False
        return rule.high is None or not (values > rule.high).any()

    def per_layer(
        self, key: str, n_layer: int, default: list[int] | None = None
    ) -> list[int] | None:
        """A per-layer key's values (already type-checked), or ``default`` when absent."""
        field = self.fields.get(key.replace(_ALL_ARCH, self.arch))
        if field is None:
            return default
        if field.types[0] == V.ARRAY:
            return [int(np.asarray(field.parts[i]).reshape(-1)[0]) for i in field.data]
        return [int(_scalar(field))] * n_layer


def _key_label(key: str) -> str:
    """A key name fit for a message: the table's keys as they are; a key named by the file
    (``tokenizer.chat_template.<name>``) only when its name is short and plain."""
    prefix, _, rest = key.partition("tokenizer.chat_template.")
    if not prefix and rest and not shown_name(rest):
        return "tokenizer.chat_template.<one of its named templates>"
    return key


def _type_name(types: list[Any]) -> str:
    if not types:
        return "nothing"
    try:
        names = [V(t).name for t in types]
    except ValueError:
        return "an unknown type"
    if names[0] == "ARRAY":
        return "an array of " + _type_name(types[1:])
    return "a " + names[0]


def _tensor_table(
    path: Path, reader: gguf.GGUFReader, size: int, error: type[RagtuneError]
) -> None:
    """Check the tensor table as gguf.cpp does: shapes, types, sizes and the exact layout.

    gguf.cpp expects tensor ``i`` at the sum of the padded sizes of the tensors before
    it; a tensor elsewhere, overlapping another or running past the end of the file is
    refused here with its name.
    """
    alignment = int(reader.alignment)
    expected = 0
    data_start = int(reader.data_offset)
    for index, tensor in enumerate(reader.tensors):
        name = tensor.name
        label = f"tensor '{name}'" if shown_name(name) else f"tensor #{index}"
        if not 0 < len(name.encode()) <= MAX_TENSOR_NAME:
            raise error(
                f"{path.name}: tensor #{index} has a name of {len(name.encode())} bytes; 1..63 allowed."
            )
        dims = [int(d) for d in np.asarray(tensor.shape).reshape(-1)]
        if not 1 <= len(dims) <= MAX_DIMS:
            raise error(f"{path.name}: {label} has {len(dims)} dimensions; 1..{MAX_DIMS} allowed.")
        if any(d < 1 or d >= 1 << 40 for d in dims):
            raise error(f"{path.name}: {label} has a dimension outside 1..2^40.")
        n_elements = math.prod(dims)
        if n_elements >= 1 << 62:
            raise error(f"{path.name}: {label} has too many elements.")
        block, type_bytes = gguf.GGML_QUANT_SIZES[tensor.tensor_type]
        if dims[0] % block:
            raise error(
                f"{path.name}: {label} of type {tensor.tensor_type.name} has rows of {dims[0]} values, "
                f"not a multiple of its block size {block}."
            )
        n_bytes = n_elements // block * type_bytes
        offset = int(tensor.data_offset) - data_start
        if offset != expected:
            raise error(
                f"{path.name}: {label} starts at byte {offset} of the data section, but the tensors "
                f"before it end at {expected}: the tensor table is damaged."
            )
        end = data_start + offset + n_bytes
        if end > size:
            raise error(
                f"{path.name} is truncated: its tensors need {end} bytes, the file has {size}. "
                "Download or export it again."
            )
        expected += -(-n_bytes // alignment) * alignment


def _non_finite_tensors(reader: gguf.GGUFReader) -> list[str]:
    """Names of the (adapter) tensors holding NaN or infinite values (F32/F16/BF16/Q8_0)."""
    bad = []
    for tensor in reader.tensors:
        kind = tensor.tensor_type
        data = np.asarray(tensor.data)
        if kind in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            ok = bool(np.isfinite(data).all())
        elif kind == gguf.GGMLQuantizationType.BF16:
            bits = data.reshape(-1).view(np.uint16)
            ok = not bool(((bits & 0x7F80) == 0x7F80).any())
        elif kind == gguf.GGMLQuantizationType.Q8_0:
            # a Q8_0 block is an f16 scale followed by 32 int8 values: only the scale can be non-finite
            blocks = data.reshape(-1).view(np.uint8).reshape(-1, 34)
            ok = bool(np.isfinite(blocks[:, :2].copy().view(np.float16)).all())
        else:
            continue
        if not ok:
            bad.append(tensor.name)
    return bad


def _check_model_header(checker: _Checker, tensors: dict[str, tuple[int, ...]]) -> int:
    """The model keys, their cross-rules and the tokenizer; returns the vocabulary size."""
    arch = checker.arch
    checker.check(MODEL_KEYS[:4])  # block_count first: per-layer keys are sized by it
    n_layer = int(checker.value(f"{arch}.block_count"))
    checker.check(MODEL_KEYS[4:] + tuple(FAMILY_KEYS.get(arch, ())), n_layer=n_layer)
    checker.check(TOKENIZER_KEYS)
    for key in checker.fields:
        if key.startswith("tokenizer.chat_template."):  # llama-cpp-python compiles these too
            checker.check_one(KeyRule(key, STR, max_len=1 << 20))

    layers = {int(m.group(1)) for name in tensors if (m := re.match(r"^blk\.(\d+)\.", name))}
    if layers != set(range(n_layer)):
        raise checker.fail(
            f"'{arch}.block_count' says {n_layer} layers, but the file has tensors for "
            f"{len(layers)} (blk.N names must cover 0..{n_layer - 1}). The header or tensor table is damaged."
        )
    n_embd = int(checker.value(f"{arch}.embedding_length"))
    heads = checker.per_layer(f"{_ALL_ARCH}.attention.head_count", n_layer) or []
    heads_kv = checker.per_layer(f"{_ALL_ARCH}.attention.head_count_kv", n_layer, heads) or []
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
    n_ff = checker.per_layer(f"{_ALL_ARCH}.feed_forward_length", n_layer) or []
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
    for name in _TOKEN_ID_KEYS:
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
    checker: _Checker,
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


def _check_template(checker: _Checker, key: str, template: str | None) -> None:
    """A chat template must compile (llama-cpp-python compiles it while loading the model)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(
            template or ""
        )
    except (jinja2.TemplateError, RecursionError, MemoryError, ValueError, TypeError) as exc:
        raise checker.fail(
            f"'{_key_label(key)}' is not a valid Jinja chat template ({type(exc).__name__})."
        ) from exc


def read_summary(path: Path, *, error: type[RagtuneError] = ModelError) -> GGUFSummary:
    """Read and sanity-check a GGUF file's header.

    The general keys and the tensor table of every file are checked; a model of a
    supported architecture also gets the model and tokenizer key tables, an adapter the
    adapter table and a scan of its weights for NaN and infinities.

    Raises:
        ModelError (or ``error``): missing file, not a GGUF file, truncated, unreadable,
            or a header key of the wrong type or outside its range.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: no such file.")
    stat = path.stat()
    # the error class is part of the key: an adapter check skips the model tables
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, error.__name__)
    with _summary_lock:
        cached = _summary_cache.get(key)
    if cached is not None:
        return cached

    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != GGUF_MAGIC:
        fix = (
            "Export the adapter as GGUF (llama.cpp's convert_lora_to_gguf.py, or `python -m ragtune train`)."
            if issubclass(error, AdapterError)
            else "Convert the model to GGUF with llama.cpp's convert_hf_to_gguf.py."
        )
        # never quote the bytes: the path may be any file on the server
        raise error(
            f"{path.name} is not a GGUF file: it does not start with the GGUF magic bytes. {fix}"
        )
    try:
        reader = gguf.GGUFReader(path, "r")
    except Exception as exc:  # the reader raises many kinds of errors on damaged files
        raise error(
            f"{path.name}: the GGUF header or tensor table cannot be read ({type(exc).__name__}). "
            "The file is damaged or truncated; download or export it again."
        ) from exc

    summary = _summarize(path, stat.st_size, reader, error)
    with _summary_lock:
        _summary_cache[key] = summary
    return summary


def _summarize(
    path: Path, size: int, reader: gguf.GGUFReader, error: type[RagtuneError]
) -> GGUFSummary:
    fields = reader.fields
    _Checker(path, fields, "", error).check_one(GENERAL_KEYS[0])  # general.architecture: a string
    architecture = _scalar(fields["general.architecture"])
    if not architecture:
        raise error(
            f"{path.name}: the header key 'general.architecture' is empty; it is not a usable GGUF model."
        )
    checker = _Checker(path, fields, architecture, error)
    checker.check(GENERAL_KEYS)
    try:
        _tensor_table(path, reader, size, error)
    except (
        ValueError,
        KeyError,
        TypeError,
        OverflowError,
    ) as exc:  # an odd table the reader let through
        raise error(
            f"{path.name}: the tensor table cannot be read ({type(exc).__name__})."
        ) from exc
    tensors: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    for tensor in reader.tensors:
        tensors[tensor.name] = tuple(int(d) for d in np.asarray(tensor.shape).reshape(-1))
        dtypes[tensor.name] = tensor.tensor_type.name

    file_type = checker.value("general.type") or "model"
    vocab_size = None
    if file_type == "adapter":
        checker.check(ADAPTER_KEYS)
        bad = _non_finite_tensors(reader)
        if bad:
            shown = ", ".join(f"'{n}'" if shown_name(n) else "one tensor" for n in bad[:3])
            raise AdapterError(
                f"{path.name}: {len(bad)} LoRA tensor(s) hold NaN or infinite values ({shown}); such an "
                "adapter answers nothing. Train or export it again."
            )
    elif (
        file_type == "model"
        and architecture in SUPPORTED_ARCHITECTURES
        and not issubclass(error, AdapterError)
    ):
        # (checked as an adapter, a model file is refused by check_adapter_file's type rule)
        vocab_size = _check_model_header(checker, tensors)

    quantization = None
    ftype = checker.value("general.file_type")
    if isinstance(ftype, int):
        try:
            quantization = gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_")
        except ValueError:
            quantization = f"type {ftype}"
    metadata: dict[str, Any] = {}
    for name in fields:
        if name.startswith(("tokenizer.ggml.", "tokenizer.chat_template", "GGUF.")):
            continue
        value = checker.value(name)
        if isinstance(value, (str, int, float, bool)) or value is None:
            metadata[name] = value

    context_length = checker.value(f"{architecture}.context_length")
    try:
        return GGUFSummary(
            path=path,
            size_bytes=size,
            file_type=str(file_type),
            architecture=architecture,
            name=checker.value("general.name"),
            license=checker.value("general.license"),
            quantization=quantization,
            context_length=context_length if type(context_length) is int else None,
            vocab_size=vocab_size,
            has_chat_template="tokenizer.chat_template" in fields,
            tensors=tensors,
            tensor_dtypes=dtypes,
            metadata=metadata,
        )
    except ValidationError as exc:  # the rules above should make this unreachable
        fields_named = ", ".join(
            str(e.get("loc", ("?",))[0]) for e in exc.errors(include_url=False)
        )
        raise error(f"{path.name}: header values of the wrong type ({fields_named}).") from exc


def check_model_file(path: Path) -> GGUFSummary:
    """Check that ``path`` is a GGUF chat model ragtune can run.

    Raises:
        ModelError: the file is missing, not GGUF, damaged, an adapter, of an
            unsupported architecture, or has a header key of a wrong type or range.
    """
    summary = read_summary(path, error=ModelError)
    if summary.file_type != "model":
        kind = shown_name(summary.file_type)
        raise ModelError(
            f"{path.name} is a GGUF {repr(kind) if kind else 'file of another type'}, not a model. "
            "Load it as an adapter, or pick a model file."
        )
    if summary.architecture not in SUPPORTED_ARCHITECTURES:
        arch = shown_name(summary.architecture)
        raise ModelError(
            f"{path.name} has {'architecture ' + repr(arch) if arch else 'an unknown architecture'}, "
            f"which ragtune does not support; supported: {', '.join(sorted(SUPPORTED_ARCHITECTURES))}."
        )
    return summary


def check_adapter_file(path: Path, base: GGUFSummary) -> GGUFSummary:
    """Check that ``path`` is a LoRA adapter that fits the base model ``base``.

    Every ``<name>.lora_a`` / ``<name>.lora_b`` pair must modify a tensor the base has,
    with shapes ``lora_a: (n_in, r)`` and ``lora_b: (r, n_out)`` in ggml order, where the
    base weight is ``(n_in, n_out)``. The header keys llama.cpp reads must have their
    types (``adapter.lora.alpha`` a FLOAT32 ...) and the weights must be finite.

    Raises:
        AdapterError: not a GGUF LoRA, other architecture, wrong key types, NaN/Inf
            weights, or shapes that do not fit.
    """
    summary = read_summary(path, error=AdapterError)
    adapter_type = summary.metadata.get("adapter.type")
    if summary.file_type != "adapter" or adapter_type != "lora":
        raise AdapterError(
            f"{path.name} is not a LoRA adapter: general.type must be 'adapter' and adapter.type "
            "'lora'."
        )
    if summary.architecture != base.architecture:
        arch = shown_name(summary.architecture)
        raise AdapterError(
            f"{path.name} was made for {repr(arch) if arch else 'another'} model architecture, but the "
            f"loaded model is '{base.architecture}' ({base.path.name}). Pick an adapter trained on this model."
        )
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, shape in summary.tensors.items():
        label = f"'{name}'" if shown_name(name) else "a tensor"
        stem, dot, part = name.rpartition(".")
        if not dot or part not in ("lora_a", "lora_b"):
            raise AdapterError(
                f"{path.name}: unexpected tensor {label} in a LoRA adapter (only .lora_a/.lora_b)."
            )
        dtype = summary.tensor_dtypes[name]
        if dtype not in ADAPTER_DTYPES:
            raise AdapterError(
                f"{path.name}: tensor {label} has type {dtype}; adapters must be "
                f"{', '.join(sorted(ADAPTER_DTYPES))}."
            )
        pairs.setdefault(stem, {})[part] = shape
    if not pairs:
        raise AdapterError(f"{path.name} contains no LoRA tensors.")
    for stem, parts in sorted(pairs.items()):
        label = f"'{stem}'" if shown_name(stem) else "a tensor"
        if set(parts) != {"lora_a", "lora_b"}:
            missing = ({"lora_a", "lora_b"} - set(parts)).pop()
            raise AdapterError(f"{path.name}: {label} has no {missing} tensor.")
        if stem not in base.tensors:
            raise AdapterError(
                f"{path.name}: it modifies {label}, which the loaded model does not have. "
                "The adapter was trained on another model."
            )
        base_shape = base.tensors[stem]
        a, b = parts["lora_a"], parts["lora_b"]
        if len(base_shape) != 2 or len(a) != 2 or len(b) != 2:
            raise AdapterError(f"{path.name}: {label} is not a 2-D weight with 2-D LoRA factors.")
        n_in, n_out = base_shape
        if a[0] != n_in or b[1] != n_out or a[1] != b[0]:
            raise AdapterError(
                f"{path.name}: the LoRA factors of {label} have shapes lora_a={a}, lora_b={b}, "
                f"which do not fit the base weight {base_shape} (expected ({n_in}, r) and "
                f"({'r'}, {n_out})). The adapter was trained on a model of another size."
            )
    return summary


def sha256_of(path: Path, *, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class HashCache:
    """sha256 results remembered per (path, size, mtime) in a JSON file, written atomically."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self._lock = threading.Lock()

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def sha256(self, path: Path, *, use_cache: bool = True) -> str:
        path = Path(path).resolve()
        stat = path.stat()
        with self._lock:
            entry = self._load().get(str(path)) if use_cache else None
            if (
                isinstance(entry, dict)
                and entry.get("size") == stat.st_size
                and entry.get("mtime_ns") == stat.st_mtime_ns
                and isinstance(entry.get("sha256"), str)
            ):
                return str(entry["sha256"])
        digest = sha256_of(path)
        with self._lock:
            data = self._load()
            data[str(path)] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
            try:
                self.file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.file.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(data, indent=1))
                os.replace(tmp, self.file)
            except OSError:
                pass  # a cache that cannot be written only costs time
        return digest
