"""``adapters sweep``: training throughput per LoRA shape, timed on the trainer's own step."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from ragtune.training.sweep import DEFAULT_SHAPES, SWEEP_HEADER, Shape, examples_of_length, run_sweep, sweep_markdown  # noqa: E402
from ragtune.training.trainer import encode_example, load_base  # noqa: E402


def test_the_sweep_times_each_shape_and_prints_one_row_per_shape(tiny_model: Path) -> None:
    shapes = [Shape(seq_len=192, rank=2, targets=("q", "v"), last_layers=1),
              Shape(seq_len=256, rank=4, targets=("q", "k", "v", "o", "gate", "up", "down"))]
    result = run_sweep(tiny_model, shapes, steps=2, batch_size=2, threads=1)
    assert [row.shape for row in result.rows] == shapes
    for row in result.rows:
        assert row.s_per_step > 0 and row.tokens_per_s > 0
        assert row.tokens_per_step <= 2 * row.shape.seq_len
    # the lighter shape trains fewer parameters than the one with all modules on all layers
    assert result.rows[0].trainable_params < result.rows[1].trainable_params
    lines = sweep_markdown(result, model_id="tiny").splitlines()
    assert lines[2] == SWEEP_HEADER
    rows = lines[4:]
    assert len(rows) == 2
    assert all(len(r.strip("|").split("|")) == 9 for r in rows)
    assert rows[0].startswith("| 192 | 2 | q,v | last 1 | fp32 |")
    assert rows[1].startswith("| 256 | 4 | all seven | all | fp32 |")
    assert "tiny: 2 timed steps per shape" in lines[0] and result.machine.describe() in lines[0]


def test_the_examples_reach_the_sequence_length_asked_for(tiny_model: Path) -> None:
    _, tokenizer = load_base(tiny_model)
    for seq_len in (192, 300):
        example = examples_of_length(tokenizer, seq_len, n=1).examples[0]
        length = len(encode_example(tokenizer, example, max_length=100_000).input_ids)
        assert seq_len - 16 <= length <= seq_len


def test_the_default_design_varies_each_factor_without_the_full_product() -> None:
    assert len(DEFAULT_SHAPES) == 10
    assert {s.seq_len for s in DEFAULT_SHAPES} == {256, 512}
    assert {s.rank for s in DEFAULT_SHAPES} == {8, 16}
    assert {s.targets_text for s in DEFAULT_SHAPES} == {"q,k,v,o", "all seven"}
    assert {s.layers_text for s in DEFAULT_SHAPES} == {"last 8", "last 16", "all"}
    assert {s.precision for s in DEFAULT_SHAPES} == {"fp32", "bf16"}


def test_a_sequence_length_below_the_grounded_prompt_is_refused(tiny_model: Path) -> None:
    from ragtune.errors import InputError

    _, tokenizer = load_base(tiny_model)
    with pytest.raises(InputError, match="shorter than a grounded prompt"):
        examples_of_length(tokenizer, 40)


@pytest.mark.parametrize(("argv", "option"), [
    (["adapters", "sweep", "--steps", "0"], "--steps"),
    (["adapters", "sweep", "--device", "tpu"], "--device"),
    (["adapters", "build", "--device", "tpu"], "--device"),
    (["adapters", "build", "--steps", "0"], "--steps"),
])
def test_bad_sweep_and_build_options_exit_2_naming_the_option(argv: list[str], option: str, capsys) -> None:
    from ragtune.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


@pytest.mark.parametrize("model", ["no-such-model", "../escape", "local:mine"])
def test_building_for_an_unknown_model_exits_2_and_writes_nothing(model: str, tmp_path: Path, capsys) -> None:
    from ragtune.cli import main

    out = tmp_path / "out"
    assert main(["adapters", "build", "--model", model, "--out", str(out), "--only", "ticket-router"]) == 2
    err = capsys.readouterr().err
    assert model in err and "Traceback" not in err
    assert not out.exists()


def test_the_quality_table_shows_quality_per_minute_and_speed_cost() -> None:
    from ragtune.training.sweep import QUALITY_CANDIDATES, QualityRow, quality_markdown

    rows = [
        QualityRow(options=QUALITY_CANDIDATES[0], minutes=10.0, speed_cost_pct=6.5,
                   metrics={"correct_valid_pct": 50.0, "valid_pct": 96.0, "abstained_right_pct": 75.0,
                            "false_abstain_pct": 8.0, "n_cases": 48.0}),
        QualityRow(options=QUALITY_CANDIDATES[2], minutes=20.0, speed_cost_pct=None,
                   metrics={"correct_valid_pct": 60.0, "valid_pct": 100.0, "abstained_right_pct": 70.0,
                            "false_abstain_pct": 4.0}),
    ]
    lines = quality_markdown(rows).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| 16 | q,k,v,o | last 16 | 80 | 10.0 | 50% | 96% | 75% | 8% | 5.0 | 6.5% |"
    assert lines[3] == "| 16 | all seven | last 16 | 80 | 20.0 | 60% | 100% | 70% | 4% | 3.0 | - |"


def test_the_quality_candidates_differ_in_shape_and_length_only() -> None:
    from ragtune.training.sweep import QUALITY_CANDIDATES

    shapes = {(tuple(c.target_modules), c.last_layers, c.steps) for c in QUALITY_CANDIDATES}
    assert len(shapes) == len(QUALITY_CANDIDATES)
    rest = {c.model_dump(exclude={"target_modules", "last_layers", "steps"}).__repr__() for c in QUALITY_CANDIDATES}
    assert len(rest) == 1
