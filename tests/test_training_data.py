"""Training data validation, options, cards and the export mapping (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragtune.errors import AdapterError, InputError
from ragtune.gguf.files import check_adapter_file, check_model_file
from ragtune.training.card import AdapterCard, LossPoint, Metric, load_card, save_card
from ragtune.errors import TrainingDataError
from ragtune.training.data import parse_examples
from ragtune.training.export import ExportSpec, lora_tensors_to_gguf, rope_permute_rows, write_gguf_adapter
from ragtune.training.options import TrainOptions

GOOD = json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})


def lines(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


def problems(data: bytes, **kwargs: object) -> list[tuple[int, str]]:
    with pytest.raises(TrainingDataError) as info:
        parse_examples(data, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def test_valid_lines_become_examples_and_blank_lines_are_skipped() -> None:
    dataset = parse_examples(lines(GOOD, "", GOOD))
    assert len(dataset.examples) == 2 and len(dataset.sha256) == 64


def test_an_empty_file_is_rejected_with_the_expected_shape() -> None:
    with pytest.raises(TrainingDataError, match="no examples"):
        parse_examples(b"\n\n")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}), "role"),
        (json.dumps({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]}), "no assistant turn"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}, {"role": "user", "content": "z"}]}), "last message"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "y"}]}), "system message"),
        (json.dumps({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]}), "at least 1 character"),
        (json.dumps({"prompt": "x", "completion": "y"}), "messages"),
    ],
)
def test_a_bad_line_is_reported_with_its_number(bad: str, reason: str) -> None:
    found = problems(lines(GOOD, bad, GOOD))
    assert [n for n, _ in found] == [2]
    assert reason in found[0][1]


def test_non_utf8_lines_are_reported_by_number() -> None:
    data = lines(GOOD).replace(b"\n", b"") + b"\n" + b'{"messages": "caf\xe9"}\n'
    found = problems(data)
    assert found[0][0] == 2 and "UTF-8" in found[0][1]


def test_over_long_examples_are_reported_by_number() -> None:
    long = json.dumps({"messages": [{"role": "user", "content": "x" * 500}, {"role": "assistant", "content": "y"}]})
    found = problems(lines(GOOD, GOOD, long), max_chars=100)
    assert found == [(3, "too long (501 characters; the limit is 100)")]


def test_every_problem_is_collected_and_the_message_names_the_lines() -> None:
    with pytest.raises(TrainingDataError) as info:
        parse_examples(lines("x", GOOD, "y", "z"), source="mine.jsonl")
    assert [n for n, _ in info.value.problems] == [1, 3, 4]
    assert "mine.jsonl: 3 invalid line(s). line 1:" in str(info.value)
    assert isinstance(info.value, InputError)


def test_options_default_to_three_epochs_and_keep_module_order() -> None:
    options = TrainOptions(target_modules=["v", "q", "v"], batch_size=4)
    assert options.target_modules == ["q", "v"]
    assert options.total_steps(10) == 8
    assert TrainOptions(steps=5, epochs=9).total_steps(100) == 5


def test_a_card_round_trips_next_to_its_adapter(tmp_path: Path) -> None:
    card = AdapterCard(
        name="demo", base_model_id="tiny", base_model_file="tiny.gguf", base_sha256="a" * 64, architecture="llama",
        data_file="d.jsonl", data_sha256="b" * 64, n_examples=3, options=TrainOptions(),
        loss_curve=[LossPoint(step=1, loss=2.0, elapsed_s=1.0)], training_seconds=12.0,
        evaluation=[Metric(name="valid", value=90.0, unit="%", baseline=0.0)],
    )
    adapter = tmp_path / "demo.gguf"
    save_card(card, adapter)
    assert load_card(adapter) == card
    assert "| valid | 90% | 0% |" in (tmp_path / "demo.card.md").read_text()
    assert load_card(tmp_path / "other.gguf") is None


def test_the_rope_permutation_interleaves_the_two_halves_of_each_head() -> None:
    rows = np.arange(8).reshape(8, 1)  # 2 heads of dimension 4: [0 1 | 2 3], [4 5 | 6 7]
    assert rope_permute_rows(rows, 2).ravel().tolist() == [0, 2, 1, 3, 4, 6, 5, 7]


def _state(n_layers: int = 2, r: int = 2) -> dict[str, np.ndarray]:
    state = {}
    rng = np.random.default_rng(0)
    for layer in range(n_layers):
        for module, n_out in (("self_attn.q_proj", 64), ("self_attn.k_proj", 32), ("mlp.down_proj", 64)):
            n_in = 128 if module == "mlp.down_proj" else 64
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            state[f"{prefix}.lora_A.weight"] = rng.normal(size=(r, n_in))
            state[f"{prefix}.lora_B.weight"] = rng.normal(size=(n_out, r))
    return state


def test_llama_permutes_q_and_k_lora_b_and_nothing_else() -> None:
    state = _state()
    spec = ExportSpec(architecture="llama", n_layers=2, n_head=4, n_head_kv=2, rank=2, alpha=4)
    out = lora_tensors_to_gguf(state, spec)
    q_b = state["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    k_b = state["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"]
    assert np.allclose(out["blk.0.attn_q.weight.lora_b"], rope_permute_rows(q_b, 4))
    assert np.allclose(out["blk.0.attn_k.weight.lora_b"], rope_permute_rows(k_b, 2))
    assert np.allclose(out["blk.0.attn_q.weight.lora_a"], state["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"])
    assert np.allclose(out["blk.1.ffn_down.weight.lora_b"], state["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"])


def test_qwen2_keeps_the_hugging_face_row_order() -> None:
    state = _state()
    spec = ExportSpec(architecture="qwen2", n_layers=2, n_head=4, n_head_kv=2, rank=2, alpha=4)
    out = lora_tensors_to_gguf(state, spec)
    assert np.allclose(out["blk.0.attn_q.weight.lora_b"], state["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"])


def test_unknown_architectures_and_stray_tensors_are_refused() -> None:
    with pytest.raises(AdapterError, match="knows llama, qwen2"):
        lora_tensors_to_gguf(_state(), ExportSpec("phi3", 2, 4, 2, 2, 4))
    state = _state() | {"base_model.model.model.layers.0.mlp.up_proj.weight": np.zeros((2, 2))}
    with pytest.raises(AdapterError, match="Unexpected tensor"):
        lora_tensors_to_gguf(state, ExportSpec("llama", 2, 4, 2, 2, 4))
    state = _state()
    del state["base_model.model.model.layers.0.mlp.down_proj.lora_B.weight"]
    with pytest.raises(AdapterError, match="only one of its two"):
        lora_tensors_to_gguf(state, ExportSpec("llama", 2, 4, 2, 2, 4))


def test_the_written_adapter_passes_the_catalogs_check_against_the_tiny_base(tiny_model: Path, tmp_path: Path) -> None:
    spec = ExportSpec(architecture="llama", n_layers=2, n_head=4, n_head_kv=2, rank=2, alpha=4)
    path = write_gguf_adapter(tmp_path / "x.gguf", lora_tensors_to_gguf(_state(), spec), spec, name="x")
    summary = check_adapter_file(path, check_model_file(tiny_model))
    assert summary.metadata["adapter.type"] == "lora" and summary.metadata["adapter.lora.alpha"] == 4.0
