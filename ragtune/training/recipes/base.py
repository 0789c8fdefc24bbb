"""What every recipe is made of: held-out cases, the recipe record, and writing its data.

A recipe builds its training examples and held-out cases from a seed (deterministically:
``data/training/<name>/`` is what :func:`write_recipe_data` writes for seed 42) and scores
a runtime, with or without the adapter, on those cases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from pydantic import BaseModel

from ragtune.config import PROJECT_ROOT
from ragtune.runtime.base import AdapterUse, ChatMessage, CompletionResult, GenerationOptions, Runtime
from ragtune.training.card import Metric, SpeedCost
from ragtune.training.data import ChatExample
from ragtune.training.options import TrainOptions

TRAINING_DATA_DIR = PROJECT_ROOT / "data" / "training"

Scores = tuple[dict[str, float], list[float]]  # metric -> value, and the generation speeds seen


class HeldOutCase(BaseModel):
    """One held-out prompt with what a right answer looks like."""

    messages: list[ChatMessage]
    kind: str  # answerable / unanswerable / changed / a label
    expected: list[str] = []  # accepted answers (substrings) or the one right label
    allowed_ids: list[str] = []
    cited: list[str] = []  # the chunk ids a right answer cites


@dataclass
class Recipe:
    """One shipped adapter: its data, its training options and how it is scored."""

    name: str
    description: str
    prompt_builder: str
    options: TrainOptions
    build: Callable[[int], tuple[list[ChatExample], list[HeldOutCase]]]
    evaluate: Callable[[Runtime, list[HeldOutCase], AdapterUse | None], Scores]
    metric_labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # metric -> (label, unit)
    # metric -> the ``n_*`` key of the scores holding its denominator (absent: all cases)
    denominators: dict[str, str] = field(default_factory=dict)

    def metrics(self, adapter: dict[str, float], base: dict[str, float], n_cases: int) -> list[Metric]:
        """The adapter's scores next to the base model's, as the card shows them: each note
        names the rate's real denominator (the base model's too where it differs)."""
        out = []
        for key, value in adapter.items():
            if key.startswith("n_"):
                continue  # a denominator, not a metric
            label, unit = self.metric_labels.get(key, (key, ""))
            n_key = self.denominators.get(key, "")
            n_here, n_base = int(adapter.get(n_key, n_cases)), int(base.get(n_key, n_cases))
            note = f"n={n_here}" if n_here == n_base else f"n={n_here} (base n={n_base})"
            out.append(Metric(name=label, value=round(value, 1), unit=unit, baseline=round(base[key], 1), note=note,
                              n=n_here))
        return out


def shipped_options(**values: object) -> TrainOptions:
    """A shipped recipe's options: ``values`` over what all three share (batch 4, 4 warm-up
    steps, seed 42, 2 threads: the 2-core machine they were built on)."""
    return TrainOptions.model_validate({"batch_size": 4, "warmup_steps": 4, "seed": 42, "threads": 2, **values})


def answer_all(
    runtime: Runtime, cases: list[HeldOutCase], adapter: AdapterUse | None, options: GenerationOptions,
    *, timed_from: int = 8,
) -> tuple[list[CompletionResult], list[float]]:
    """Each case answered (with the adapter when given), and the generation speeds of the
    answers at least ``timed_from`` tokens long (a shorter one times the prompt, not generation)."""
    results = [runtime.chat(case.messages, adapters=[adapter] if adapter else [], options=options) for case in cases]
    return results, [r.timings.tokens_per_s for r in results if r.timings.completion_tokens >= timed_from]


def speed_cost(base_speeds: list[float], adapter_speeds: list[float]) -> SpeedCost | None:
    """Median generation speed with and without the adapter (None when either was not measured)."""
    if not base_speeds or not adapter_speeds:
        return None
    return SpeedCost(
        base_tokens_per_s=round(median(base_speeds), 1),
        adapter_tokens_per_s=round(median(adapter_speeds), 1),
        prompts=min(len(base_speeds), len(adapter_speeds)),
    )


def write_recipe_data(recipe: Recipe, seed: int = 42, folder: Path = TRAINING_DATA_DIR) -> tuple[Path, Path]:
    """Write a recipe's training JSONL and its held-out eval cases under ``data/training/<name>/``."""
    train, cases = recipe.build(seed)
    target = folder / recipe.name
    target.mkdir(parents=True, exist_ok=True)
    train_path = target / "train.jsonl"
    eval_path = target / "eval.jsonl"
    with train_path.open("w", encoding="utf-8") as out:
        for example in train:
            out.write(json.dumps(example.model_dump(), ensure_ascii=False) + "\n")
    with eval_path.open("w", encoding="utf-8") as out:
        for case in cases:
            out.write(case.model_dump_json() + "\n")
    return train_path, eval_path


def read_eval_cases(path: Path) -> list[HeldOutCase]:
    return [HeldOutCase.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
