"""GGUF files that passed our checks and then aborted llama.cpp: each is now refused with a
message that names the header key (or tensor) and the rule, and never quotes the file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest

from ragtune.config import load_settings
from ragtune.errors import AdapterError, ModelError, RagtuneError, RuntimeBackendError
from ragtune.gguf.files import check_adapter_file, check_model_file
from ragtune.gguf.keys import ADAPTER_KEYS, MODEL_KEYS
from tests.factories import (
    GGUFDescription,
    describe_gguf,
    small_vocab_source,
    tensor_info_offsets,
    write_description,
    write_lora,
    write_tiny_model,
)

V = gguf.GGUFValueType


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("small")
    return write_tiny_model(folder / "small.gguf", source=small_vocab_source(folder / "vocab.gguf"))


@pytest.fixture(scope="module")
def model_desc(small_model: Path) -> GGUFDescription:
    return describe_gguf(small_model)


@pytest.fixture(scope="module")
def adapter_desc(tmp_path_factory: pytest.TempPathFactory) -> GGUFDescription:
    return describe_gguf(write_lora(tmp_path_factory.mktemp("lora") / "lora.gguf"))


def _variant(desc: GGUFDescription, path: Path, change: Callable[[GGUFDescription], None]) -> Path:
    copy = desc.copy()
    change(copy)
    return write_description(path, copy)


def _set(
    key: str, value: object, vtype: V, sub: V | None = None
) -> Callable[[GGUFDescription], None]:
    def change(desc: GGUFDescription) -> None:
        desc.kv[key] = (value, vtype, sub)

    return change


# --- the three reported crashes -----------------------------------------------------------


def test_an_adapter_whose_alpha_is_a_string_is_refused_naming_the_key(
    tmp_path, adapter_desc, small_model
):
    bad = _variant(adapter_desc, tmp_path / "alpha.gguf", _set("adapter.lora.alpha", "8", V.STRING))
    with pytest.raises(
        AdapterError, match=r"'adapter\.lora\.alpha' must be a FLOAT32.*stored as a STRING"
    ):
        check_adapter_file(bad, check_model_file(small_model))


def test_the_adapters_upload_stores_nothing_for_a_string_alpha(tmp_path, adapter_desc, small_model):
    from ragtune.adapters import AdapterCatalog

    bad = _variant(adapter_desc, tmp_path / "alpha.gguf", _set("adapter.lora.alpha", "8", V.STRING))
    catalog = AdapterCatalog(load_settings(), shipped_dir=tmp_path / "none")
    with pytest.raises(AdapterError, match="adapter.lora.alpha"):
        catalog.add("upload", bad.read_bytes(), base=check_model_file(small_model))
    assert catalog.list() == []
    assert not any(catalog.user_dir.iterdir())


def test_a_model_with_four_billion_blocks_is_refused_and_not_added(tmp_path, model_desc):
    from ragtune.models import ModelRegistry

    bad = _variant(
        model_desc, tmp_path / "blocks.gguf", _set("llama.block_count", 4_000_000_000, V.UINT32)
    )
    with pytest.raises(ModelError, match=r"'llama\.block_count' must be a UINT32 >= 1 and <= 512"):
        check_model_file(bad)
    registry = ModelRegistry(load_settings())
    with pytest.raises(ModelError, match="block_count"):
        registry.add_local(bad)
    assert registry.user_models() == []


def test_a_float_context_length_is_a_model_error_not_a_validation_traceback(tmp_path, model_desc):
    bad = _variant(
        model_desc, tmp_path / "ctx.gguf", _set("llama.context_length", 2048.0, V.FLOAT32)
    )
    with pytest.raises(
        ModelError, match=r"'llama\.context_length' must be a UINT32.*stored as a FLOAT32"
    ):
        check_model_file(bad)


# --- the key table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "vtype", "rule"),
    [
        ("llama.embedding_length", -64, V.INT32, "must be a UINT32"),
        (
            "llama.feed_forward_length",
            128,
            V.INT32,
            "must be a UINT32 (or an array of UINT32 or INT32",
        ),
        ("llama.attention.head_count", 0, V.UINT32, ">= 1"),
        ("llama.attention.head_count_kv", "2", V.STRING, "must be a UINT32"),
        ("llama.attention.layer_norm_rms_epsilon", float("nan"), V.FLOAT32, "finite"),
        ("llama.attention.layer_norm_rms_epsilon", 1e-5, V.FLOAT64, "must be a FLOAT32"),
        ("llama.rope.freq_base", -10000.0, V.FLOAT32, "> 0"),
        ("llama.rope.freq_base", float("inf"), V.FLOAT32, "finite"),
        ("llama.context_length", 100_000_000, V.UINT32, "<= 10000000"),
        ("llama.rope.scaling.type", "cubic", V.STRING, "one of linear, longrope, none, yarn"),
        ("llama.expert_count", 8, V.UINT32, "<= 0"),
        ("general.architecture", 7, V.UINT32, "must be a STRING"),
        ("general.name", 5, V.UINT32, "must be a STRING"),
        ("tokenizer.ggml.model", "bert", V.STRING, "one of gpt2, llama"),
        ("tokenizer.ggml.bos_token_id", 1.0, V.FLOAT32, "must be a UINT32"),
        ("tokenizer.ggml.add_bos_token", 1, V.UINT8, "must be a BOOL"),
        ("tokenizer.chat_template", 5, V.INT32, "must be a STRING"),
    ],
)
def test_a_header_key_of_the_wrong_type_or_range_is_refused(
    tmp_path, model_desc, key, value, vtype, rule
):
    bad = _variant(model_desc, tmp_path / "bad.gguf", _set(key, value, vtype))
    with pytest.raises(ModelError) as caught:
        check_model_file(bad)
    assert key.split(".")[-1] in str(caught.value) and rule in str(caught.value)


def test_a_per_layer_array_must_have_one_value_per_layer(tmp_path, model_desc):
    bad = _variant(
        model_desc,
        tmp_path / "ff.gguf",
        _set("llama.feed_forward_length", [128] * 3, V.ARRAY, V.UINT32),
    )
    with pytest.raises(ModelError, match="one value per layer"):
        check_model_file(bad)
    good = _variant(
        model_desc,
        tmp_path / "ff2.gguf",
        _set("llama.feed_forward_length", [128, 128], V.ARRAY, V.UINT32),
    )
    assert check_model_file(good).architecture == "llama"


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("llama.attention.head_count", 3, "multiple of 'llama.attention.head_count'"),  # 64 % 3
        (
            "llama.attention.head_count_kv",
            3,
            "multiple of 'llama.attention.head_count_kv'",
        ),  # 4 % 3
        ("llama.block_count", 3, "blk.N names must cover 0..2"),
        ("llama.vocab_size", 999, "must equal the number of tokens"),
        ("llama.rope.dimension_count", 17, "must be even and at most the head size"),
        ("tokenizer.ggml.eos_token_id", 400, r"must name a token \(0..399\)"),
        (
            "llama.feed_forward_length",
            127,
            r"'blk\.0\.ffn_gate\.weight' has shape \(64, 128\).*implies \(64, 127\)",
        ),
        ("llama.attention.key_length", 8, r"'blk\.0\.attn_q\.weight' has shape"),
        ("tokenizer.ggml.pre", "cubic", "names a pre-tokenizer llama.cpp does not know"),
    ],
)
def test_header_values_must_agree_with_each_other_and_the_tensors(
    tmp_path, model_desc, key, value, match
):
    vtype = V.STRING if isinstance(value, str) else V.UINT32
    bad = _variant(model_desc, tmp_path / "bad.gguf", _set(key, value, vtype))
    with pytest.raises(ModelError, match=match):
        check_model_file(bad)


def test_a_duplicated_token_is_refused(tmp_path, model_desc):
    def duplicate(desc: GGUFDescription) -> None:
        tokens = list(desc.kv["tokenizer.ggml.tokens"][0])  # type: ignore[call-overload]
        tokens[300] = tokens[200]
        desc.kv["tokenizer.ggml.tokens"] = (tokens, V.ARRAY, V.STRING)

    with pytest.raises(ModelError, match="twice; every token must be unique"):
        check_model_file(_variant(model_desc, tmp_path / "dup.gguf", duplicate))


def test_token_types_and_scores_need_one_entry_per_token(tmp_path, model_desc):
    short = list(model_desc.kv["tokenizer.ggml.token_type"][0])[:10]  # type: ignore[call-overload]
    bad = _variant(
        model_desc, tmp_path / "tt.gguf", _set("tokenizer.ggml.token_type", short, V.ARRAY, V.INT32)
    )
    with pytest.raises(ModelError, match="one entry per token"):
        check_model_file(bad)
    retyped = list(model_desc.kv["tokenizer.ggml.token_type"][0])  # type: ignore[call-overload]
    bad = _variant(
        model_desc,
        tmp_path / "tt2.gguf",
        _set("tokenizer.ggml.token_type", retyped, V.ARRAY, V.UINT32),
    )
    with pytest.raises(ModelError, match="must be an array of INT32"):
        check_model_file(bad)


def test_a_chat_template_that_does_not_compile_is_refused(tmp_path, model_desc):
    bad = _variant(
        model_desc, tmp_path / "tpl.gguf", _set("tokenizer.chat_template", "{% for %}", V.STRING)
    )
    with pytest.raises(ModelError, match="not a valid Jinja chat template"):
        check_model_file(bad)


def test_a_missing_required_key_is_named(tmp_path, model_desc):
    bad = _variant(
        model_desc,
        tmp_path / "eps.gguf",
        lambda d: d.kv.pop("llama.attention.layer_norm_rms_epsilon"),
    )
    with pytest.raises(ModelError, match=r"'llama\.attention\.layer_norm_rms_epsilon' is missing"):
        check_model_file(bad)


@pytest.mark.parametrize(
    ("key", "value", "vtype"),
    [
        ("general.type", 1, V.UINT32),
        ("general.architecture", ["llama"], V.ARRAY),
        ("adapter.type", 3.0, V.FLOAT32),
        ("adapter.lora.alpha", 8, V.UINT32),
        ("adapter.lora.alpha", float("nan"), V.FLOAT32),
        ("adapter.alora.invocation_tokens", [1, 2], V.ARRAY),
    ],
)
def test_every_adapter_key_llama_cpp_reads_untyped_is_type_checked(
    tmp_path, adapter_desc, small_model, key, value, vtype
):
    sub = V.STRING if key == "general.architecture" else V.INT32 if vtype == V.ARRAY else None
    bad = _variant(adapter_desc, tmp_path / "a.gguf", _set(key, value, vtype, sub))
    with pytest.raises(AdapterError, match=key.replace(".", r"\.")):
        check_adapter_file(bad, check_model_file(small_model))


def test_the_tables_name_the_keys_of_the_reported_crashes():
    keys = {rule.key for rule in MODEL_KEYS + ADAPTER_KEYS}
    assert {"{arch}.block_count", "{arch}.context_length", "adapter.lora.alpha"} <= keys


# --- the tensor table ---------------------------------------------------------------------


def _patch(path: Path, out: Path, position: int, value: int, width: int) -> Path:
    data = bytearray(path.read_bytes())
    data[position : position + width] = value.to_bytes(width, "little")
    out.write_bytes(bytes(data))
    return out


def test_a_tensor_placed_over_another_is_refused(tmp_path, small_model):
    spots = tensor_info_offsets(small_model)
    bad = _patch(
        small_model, tmp_path / "overlap.gguf", spots[1]["offset"], 0, 8
    )  # tensor 1 on tensor 0
    with pytest.raises(ModelError, match="tensor table is damaged"):
        check_model_file(bad)


@pytest.mark.parametrize(
    ("field", "value", "width"),
    [("n_dims", 5, 4), ("dims", 0, 8), ("dims", 2**63, 8), ("type", 999, 4), ("type", 8, 4)],
)
def test_a_damaged_tensor_shape_or_type_is_refused(tmp_path, small_model, field, value, width):
    spots = tensor_info_offsets(small_model)
    bad = _patch(small_model, tmp_path / "t.gguf", spots[2][field], value, width)
    with pytest.raises(ModelError):
        check_model_file(bad)


# --- adapter weights ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["F32", "F16", "BF16", "Q8_0"])
@pytest.mark.parametrize("poison", [np.nan, np.inf])
def test_an_adapter_with_non_finite_weights_is_refused(
    tmp_path, adapter_desc, small_model, dtype, poison
):
    def poisoned(desc: GGUFDescription) -> None:
        tensors = []
        for index, (name, data, _kind) in enumerate(desc.tensors):
            values = np.array(data, dtype=np.float32)
            if index == 3:
                values.reshape(-1)[5] = poison
            qtype = gguf.GGMLQuantizationType[dtype]
            if dtype == "F32":
                tensors.append((name, values, qtype))
            elif dtype == "F16":
                tensors.append((name, values.astype(np.float16), qtype))
            elif dtype == "Q8_0" and values.shape[-1] % 32:
                tensors.append((name, values, gguf.GGMLQuantizationType.F32))
            else:
                tensors.append((name, gguf.quants.quantize(values, qtype), qtype))
        desc.tensors = tensors

    bad = _variant(adapter_desc, tmp_path / f"nan-{dtype}.gguf", poisoned)
    with pytest.raises(AdapterError, match="NaN or infinite"):
        check_adapter_file(bad, check_model_file(small_model))


def test_the_same_adapter_with_finite_weights_is_accepted_in_every_dtype(
    tmp_path, adapter_desc, small_model
):
    for dtype in ("F16", "BF16"):
        qtype = gguf.GGMLQuantizationType[dtype]
        copy = adapter_desc.copy()
        copy.tensors = [
            (
                n,
                gguf.quants.quantize(np.array(d, dtype=np.float32), qtype)
                if dtype == "BF16"
                else np.array(d, np.float16),
                qtype,
            )
            for n, d, _ in copy.tensors
        ]
        path = write_description(tmp_path / f"ok-{dtype}.gguf", copy)
        assert check_adapter_file(path, check_model_file(small_model)).tensor_dtypes


# --- no message quotes the file -----------------------------------------------------------


def test_a_non_gguf_file_is_refused_without_quoting_its_bytes(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:$6$secret:19000:0:99999:7:::\n")
    for check in (check_model_file, lambda p: check_adapter_file(p, None)):  # type: ignore[arg-type]
        with pytest.raises(RagtuneError) as caught:
            check(secret)
        message = str(caught.value)
        assert (
            "not a GGUF file" in message and "does not start with the GGUF magic bytes" in message
        )
        assert "root" not in message and "secret" not in message.replace(str(tmp_path), "")


def test_header_strings_are_not_echoed_in_messages(tmp_path, model_desc, adapter_desc, small_model):
    leak = "root:x:0:0:/etc/shadow"
    bad = _variant(model_desc, tmp_path / "arch.gguf", _set("general.architecture", leak, V.STRING))
    with pytest.raises(ModelError) as caught:
        check_model_file(bad)
    assert leak not in str(caught.value) and "unknown architecture" in str(caught.value)
    bad = _variant(adapter_desc, tmp_path / "type.gguf", _set("adapter.type", leak, V.STRING))
    with pytest.raises(AdapterError) as caught:
        check_adapter_file(bad, check_model_file(small_model))
    assert leak not in str(caught.value)


# --- the runtime --------------------------------------------------------------------------


def test_a_load_failure_in_llama_cpp_is_a_runtime_error_naming_the_file(
    tmp_path, model_desc, small_model
):
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    # an architecture llama.cpp does not know: it refuses (ValueError) and nothing aborts
    bad = _variant(
        model_desc,
        tmp_path / "unknown-arch.gguf",
        _set("general.architecture", "mistral", V.STRING),
    )
    with pytest.raises(RuntimeBackendError, match=r"could not load unknown-arch\.gguf"):
        LlamaCppRuntime(bad, summary=check_model_file(small_model), model_id="x", n_ctx=256)


def test_a_chat_template_that_raises_while_rendering_is_a_runtime_error(tmp_path, model_desc):
    from ragtune.runtime.base import ChatMessage, GenerationOptions
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    raising = "{{ raise_exception('templates may raise') }}"
    path = _variant(
        model_desc, tmp_path / "raises.gguf", _set("tokenizer.chat_template", raising, V.STRING)
    )
    runtime = LlamaCppRuntime(path, summary=check_model_file(path), model_id="x", n_ctx=256)
    try:
        with pytest.raises(RuntimeBackendError, match=r"chat template of raises\.gguf failed"):
            runtime.stream_chat(
                [ChatMessage(role="user", content="hi")], options=GenerationOptions(max_tokens=2)
            ).consume()
    finally:
        runtime.close()


def test_the_checked_summary_is_plain_data(small_model):
    summary = check_model_file(small_model)
    assert summary.context_length == 2048 and summary.vocab_size == 400
    json.dumps(summary.model_dump(mode="json"))


def test_a_named_chat_template_key_is_checked_without_echoing_its_name(tmp_path, model_desc):
    key = "tokenizer.chat_template.root:x:0:0"
    bad = _variant(model_desc, tmp_path / "named.gguf", _set(key, "{% if %}", V.STRING))
    with pytest.raises(ModelError, match="not a valid Jinja chat template") as caught:
        check_model_file(bad)
    assert "root:x" not in str(caught.value)
