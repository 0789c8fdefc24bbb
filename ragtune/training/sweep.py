"""Training throughput by LoRA shape (``python -m ragtune adapters sweep``).

Each shape is prepared with the trainer's own code (:func:`ragtune.training.trainer.prepare_training`)
and timed over a few of its optimizer steps (:meth:`TrainingSession.step`, the very step
``train_adapter`` runs) after one warm-up step. The examples are grounded prompts rendered by
``ragtune.prompts`` and padded with filler to the sequence length, with a short answer, so the
step costs what a grounded-JSON step costs at that length.

The design is one factor at a time around a light reference shape, plus the heavy corner:
sequence length, rank, target modules and layers each change alone, not their full product.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.training.card import Machine
from ragtune.training.data import ChatExample, Dataset
from ragtune.training.options import ALL_TARGETS, TargetModule, TrainOptions


class Shape(BaseModel):
    """One LoRA training shape to time."""

    model_config = ConfigDict(frozen=True)

    seq_len: int = Field(ge=32, le=8192)
    rank: int = Field(ge=1, le=256)
    targets: tuple[TargetModule, ...]
    last_layers: int | None = Field(default=None, ge=1, description="None: all layers.")
    precision: Literal["fp32", "bf16"] = "fp32"

    @property
    def targets_text(self) -> str:
        return "all seven" if set(self.targets) == set(ALL_TARGETS) else ",".join(self.targets)

    @property
    def layers_text(self) -> str:
        return "all" if self.last_layers is None else f"last {self.last_layers}"


QKVO: tuple[TargetModule, ...] = ("q", "k", "v", "o")

DEFAULT_SHAPES: tuple[Shape, ...] = (
    Shape(seq_len=256, rank=8, targets=QKVO, last_layers=8),  # the reference
    Shape(seq_len=512, rank=8, targets=QKVO, last_layers=8),  # sequence length
    Shape(seq_len=256, rank=16, targets=QKVO, last_layers=8),  # rank
    Shape(seq_len=256, rank=8, targets=ALL_TARGETS, last_layers=8),  # modules
    Shape(seq_len=256, rank=8, targets=QKVO, last_layers=16),  # layers
    Shape(seq_len=256, rank=8, targets=QKVO, last_layers=None),
    Shape(seq_len=512, rank=16, targets=ALL_TARGETS, last_layers=16),
    Shape(seq_len=512, rank=16, targets=ALL_TARGETS, last_layers=None),  # the heavy corner
    Shape(seq_len=256, rank=8, targets=QKVO, last_layers=8, precision="bf16"),  # bf16 autocast
    Shape(seq_len=512, rank=16, targets=ALL_TARGETS, last_layers=16, precision="bf16"),
)


class SweepRow(BaseModel):
    shape: Shape
    tokens_per_step: float
    trainable_params: int
    s_per_step: float
    tokens_per_s: float


class SweepResult(BaseModel):
    base_file: str
    steps: int
    batch_size: int
    machine: Machine
    rows: list[SweepRow]


ANSWER = '{"answer": "The pump runs 40 minutes per cycle.", "citations": [1]}'


def _example(n_sentences: int) -> ChatExample:
    from ragtune.prompts import ContextChunk, grounded_messages
    from ragtune.runtime.base import ChatMessage

    filler = " ".join(f"The pump model P{i % 97} is serviced every {i % 11 + 2} months." for i in range(n_sentences))
    chunks = [ContextChunk(chunk_id="manual#0", text=filler or "The pump has no service plan.")]
    messages = [*grounded_messages("How long does one pump cycle run?", chunks),
                ChatMessage(role="assistant", content=ANSWER)]
    return ChatExample.from_messages(messages)


def examples_of_length(tokenizer: Any, seq_len: int, n: int = 4) -> Dataset:
    """``n`` grounded examples of the longest filler that stays within ``seq_len`` tokens
    (a short JSON answer to a prompt with one long chunk).

    Raises:
        InputError: ``seq_len`` is shorter than the grounded prompt with one sentence of context.
    """
    from ragtune.errors import InputError
    from ragtune.training.trainer import encode_example

    def length(n_sentences: int) -> int:
        encoded = encode_example(tokenizer, _example(n_sentences), max_length=1_000_000)
        assert encoded is not None
        return len(encoded.input_ids)

    shortest = length(1)
    if shortest > seq_len:
        raise InputError(f"A sequence length of {seq_len} tokens is shorter than a grounded prompt ({shortest}).")
    per_sentence = max((length(11) - shortest) / 10, 1.0)
    count = max(1, int(1 + (seq_len - shortest) / per_sentence))
    while count > 1 and length(count) > seq_len:
        count -= 1
    while length(count + 1) <= seq_len:
        count += 1
    return Dataset(examples=[_example(count)] * n, sha256="0" * 64, source=f"sweep-{seq_len}")


def time_shape(
    base_path: Path, shape: Shape, *, steps: int, batch_size: int, device: str = "cpu",
    threads: int | None = None,
) -> SweepRow:
    """Prepare ``shape`` and time ``steps`` optimizer steps after one warm-up step."""
    from ragtune.training.trainer import load_base, prepare_training

    loaded = load_base(base_path)
    dataset = examples_of_length(loaded[1], shape.seq_len, n=batch_size)
    options = TrainOptions(
        rank=shape.rank, alpha=2.0 * shape.rank, target_modules=list(shape.targets), last_layers=shape.last_layers,
        steps=steps + 1, batch_size=batch_size, warmup_steps=0, max_length=shape.seq_len + 64, device=device,  # type: ignore[arg-type]
        threads=threads, precision=shape.precision,
    )
    session = prepare_training(base_path=base_path, dataset=dataset, options=options, loaded=loaded)
    session.step(0)  # warm-up: allocations, kernel selection
    tokens = 0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        _, n = session.step(step)
        tokens += n
    elapsed = max(time.perf_counter() - start, 1e-9)
    return SweepRow(
        shape=shape,
        tokens_per_step=tokens / steps,
        trainable_params=sum(p.numel() for p in session.params),
        s_per_step=round(elapsed / steps, 3),
        tokens_per_s=round(tokens / elapsed, 1),
    )


def run_sweep(
    base_path: Path, shapes: Sequence[Shape] = DEFAULT_SHAPES, *, steps: int = 3, batch_size: int = 4,
    device: str = "cpu", threads: int | None = None, log: Callable[[str], None] | None = None,
) -> SweepResult:
    """Time each shape in turn (one process, one base model loaded once)."""
    from ragtune.training.machine import describe_machine

    rows = []
    for i, shape in enumerate(shapes, 1):
        row = time_shape(base_path, shape, steps=steps, batch_size=batch_size, device=device, threads=threads)
        rows.append(row)
        if log:
            log(f"shape {i}/{len(shapes)}: {row.s_per_step:.2f} s/step, {row.tokens_per_s:.0f} tokens/s")
    return SweepResult(base_file=Path(base_path).name, steps=steps, batch_size=batch_size,
                       machine=describe_machine("cuda" if device == "cuda" else "cpu"), rows=rows)


SWEEP_HEADER = ("| seq len | rank | modules | layers | precision | trainable params | tokens/step | s/step | "
                "tokens/s |")


def sweep_markdown(result: SweepResult, *, model_id: str = "") -> str:
    """The rows as a Markdown table, headed by the model and the machine."""
    m = result.machine
    where = f"{m.device}" + (f" ({m.torch_threads} threads)" if m.device == "cpu" and m.torch_threads else "")
    lines = [
        f"Training throughput, {model_id or result.base_file}: {result.steps} timed steps per shape after one "
        f"warm-up, batch {result.batch_size}, on {where}, {m.describe()}.",
        "",
        SWEEP_HEADER,
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result.rows:
        s = row.shape
        lines.append(
            f"| {s.seq_len} | {s.rank} | {s.targets_text} | {s.layers_text} | {s.precision} | {row.trainable_params:,} | "
            f"{row.tokens_per_step:.0f} | {row.s_per_step:.2f} | {row.tokens_per_s:.0f} |"
        )
    return "\n".join(lines)


# -- quality per minute: each shape trained in full and scored on the held-out cases -------


class QualityRow(BaseModel):
    """One recipe trained with one shape: its held-out quality, training time and speed cost."""

    options: TrainOptions
    minutes: float
    metrics: dict[str, float]
    speed_cost_pct: float | None


def quality_sweep(
    settings: Any, runtime: Any, recipe_name: str, candidates: Sequence[TrainOptions], workdir: Path,
    *, log: Callable[[str], None] | None = None, seed: int = 42,
) -> list[QualityRow]:
    """Train ``recipe_name`` once per candidate on the default model, score each adapter on the
    recipe's held-out cases, and measure its generation speed cost (through a shape twin, as the
    cards do). Slow: a full training run per candidate."""
    from ragtune.models import ModelRegistry
    from ragtune.runtime.base import AdapterUse
    from ragtune.training.data import load_examples
    from ragtune.training.recipes import RECIPES
    from ragtune.training.recipes.base import read_eval_cases, write_recipe_data
    from ragtune.training.shipped import DEFAULT_BASE, measure_speeds, shape_twin
    from ragtune.training.trainer import train_adapter

    recipe = RECIPES[recipe_name]
    registry = ModelRegistry(settings)
    spec = registry.get(DEFAULT_BASE)
    base = registry.verify(spec)
    train_path, eval_path = write_recipe_data(recipe, seed, folder=Path(workdir) / "data")
    dataset = load_examples(train_path)
    cases = read_eval_cases(eval_path)
    rows: list[QualityRow] = []
    for i, options in enumerate(candidates, 1):
        out = Path(workdir) / f"candidate-{i}.gguf"
        outcome = train_adapter(
            base_path=base.path, base_model_id=spec.id, base_sha256=spec.sha256, dataset=dataset,
            options=options, out_path=out, name=out.stem, description="", prompt_builder=recipe.prompt_builder,
            progress=(lambda p, i=i: log(f"candidate {i}: step {p.step}/{p.total_steps}")
                      if log and p.phase == "training" and p.step % 20 == 0 else None),
        )
        scores, _ = recipe.evaluate(runtime, cases, AdapterUse(path=out))
        twin = shape_twin(out, Path(workdir) / f"twin-{i}.gguf")
        speeds = measure_speeds(runtime, {"base": None, "twin": twin}, rounds=3)
        cost = round(100 * (1 - speeds["twin"] / speeds["base"]), 1) if speeds["base"] else None
        rows.append(QualityRow(options=options, minutes=round(outcome.card.training_seconds / 60, 1),
                               metrics=scores, speed_cost_pct=cost))
        if log:
            log(f"candidate {i}/{len(candidates)}: {rows[-1].minutes} min, "
                + ", ".join(f"{k} {v:.0f}" for k, v in scores.items() if not k.startswith("n_")))
    return rows


QUALITY_COLUMNS = (
    ("correct_valid_pct", "correct + valid"),
    ("valid_pct", "valid"),
    ("abstained_right_pct", "abstains when it should"),
    ("false_abstain_pct", "false abstention"),
)


def quality_markdown(rows: Sequence[QualityRow]) -> str:
    """The candidates as a Markdown table: shape, minutes, held-out quality, quality per minute, speed cost."""
    head = " | ".join(label for _, label in QUALITY_COLUMNS)
    lines = [f"| rank | modules | layers | steps | minutes | {head} | correct + valid per minute | speed cost |",
             "|---|---|---|---|---|" + "---|" * len(QUALITY_COLUMNS) + "---|---|"]
    for row in rows:
        o = row.options
        modules = "all seven" if set(o.target_modules) == set(ALL_TARGETS) else ",".join(o.target_modules)
        layers = "all" if o.last_layers is None else f"last {o.last_layers}"
        cells = " | ".join(f"{row.metrics.get(key, 0.0):.0f}%" for key, _ in QUALITY_COLUMNS)
        per_minute = row.metrics.get("correct_valid_pct", 0.0) / row.minutes if row.minutes else 0.0
        cost = "-" if row.speed_cost_pct is None else f"{row.speed_cost_pct:.1f}%"
        lines.append(f"| {o.rank} | {modules} | {layers} | {o.steps} | {row.minutes} | {cells} | "
                     f"{per_minute:.1f} | {cost} |")
    return "\n".join(lines)


def _candidate(**values: object) -> TrainOptions:
    from ragtune.training.recipes.base import shipped_options

    return shipped_options(**{"rank": 16, "alpha": 32, "learning_rate": 1e-3, "steps": 80, "max_length": 512,
                              "last_layers": 16, **values})


#: What ``adapters sweep --quality`` trains grounded-json with: attention only (cheaper at
#: generation) for one and two epochs, and attention + MLP (the earlier shape) for one.
QUALITY_CANDIDATES: tuple[TrainOptions, ...] = (
    _candidate(target_modules=["q", "k", "v", "o"]),
    _candidate(target_modules=["q", "k", "v", "o"], steps=160),
    _candidate(target_modules=list(ALL_TARGETS)),
)
