"""Model cards of adapters: what was trained on what, how, and how well it works.

A card lives next to its adapter: ``name.gguf`` has ``name.card.json`` (read by the
app) and ``name.card.md`` (for people browsing the repository).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.training.options import TrainOptions


class LossPoint(BaseModel):
    step: int
    loss: float
    elapsed_s: float


class Metric(BaseModel):
    """One measured figure, e.g. strict-JSON validity on held-out prompts."""

    name: str
    value: float
    unit: str = ""
    note: str = ""
    baseline: float | None = Field(default=None, description="The same figure for the base model, when measured.")
    n: int | None = Field(default=None, ge=0, description="How many prompts the figure was computed over.")


class CardFile(BaseModel):
    """One file of the adapter, relative to the adapters folder, with its digest."""

    path: str
    sha256: str
    bytes: int


class Machine(BaseModel):
    """The machine a run trained on."""

    cpu: str = ""
    cores: int | None = None
    torch_threads: int | None = None
    device: str = "cpu"
    gpu: str | None = None

    def describe(self) -> str:
        """E.g. "AMD EPYC 9B14, 2 cores" or "NVIDIA H200 (GPU), AMD EPYC ..., 16 cores"."""
        parts = [f"{self.gpu} (GPU)"] if self.gpu else []
        if self.cpu:
            parts.append(self.cpu)
        if self.cores:
            parts.append(f"{self.cores} cores")
        return ", ".join(parts)


class SpeedCost(BaseModel):
    """Generation speed of the base model with and without the adapter, same prompts."""

    base_tokens_per_s: float
    adapter_tokens_per_s: float
    prompts: int

    @property
    def cost_percent(self) -> float:
        if self.base_tokens_per_s <= 0:
            return 0.0
        return round(100.0 * (1.0 - self.adapter_tokens_per_s / self.base_tokens_per_s), 1)


class AdapterCard(BaseModel):
    """Everything recorded about one trained adapter."""

    model_config = ConfigDict(extra="ignore")

    name: str
    description: str = ""
    base_model_id: str
    base_model_file: str
    base_sha256: str
    architecture: str
    data_file: str
    data_sha256: str
    n_examples: int
    n_skipped: int = 0
    n_tokens_trained: int = 0
    prompt_builder: str = Field(default="", description="The ragtune.prompts function the examples were rendered with.")
    options: TrainOptions
    loss_curve: list[LossPoint] = Field(default_factory=list)
    training_seconds: float
    device: str = "cpu"
    precision: str = Field(default="", description="What the training ran in: 'float32' or 'bf16 autocast'.")
    threads: int | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    files: list[CardFile] = Field(
        default_factory=list, description="The GGUF export and the PEFT files beside it (older cards: none)."
    )
    machine: Machine | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    evaluation: list[Metric] = Field(default_factory=list)
    speed: SpeedCost | None = None
    rationale: str = ""
    notes: str = ""

    def to_markdown(self) -> str:
        o = self.options
        lines = [
            f"# Adapter card: {self.name}",
            "",
            self.description or "(no description)",
            "",
            "## Training",
            "",
            f"- Base model: `{self.base_model_id}` ({self.base_model_file}, {self.architecture}), sha256 `{self.base_sha256}`",
            f"- Data: `{self.data_file}`, {self.n_examples} examples ({self.n_skipped} skipped as too long), "
            f"sha256 `{self.data_sha256}`",
            f"- Prompt: rendered with `{self.prompt_builder or 'the examples as given'}`",
            f"- LoRA: rank {o.rank}, alpha {o.alpha:g}, dropout {o.dropout:g}, modules {', '.join(o.target_modules)}, "
            + (f"last {o.last_layers} layers" if o.last_layers else "all layers"),
            f"- Optimisation: {len(self.loss_curve) and self.loss_curve[-1].step} steps, batch {o.batch_size}, "
            f"learning rate {o.learning_rate:g} ({o.warmup_steps} warm-up steps, cosine decay), "
            f"max length {o.max_length} tokens, seed {o.seed}",
            f"- Time: {self.training_seconds / 60:.1f} min on {self.device}"
            + (f" ({self.threads} threads)" if self.threads else "")
            + (f", {self.machine.describe()}" if self.machine and self.machine.describe() else "")
            + (f", {self.precision}" if self.precision else "")
            + f"; {self.n_tokens_trained} tokens seen",
            f"- Versions: {', '.join(f'{k} {v}' for k, v in sorted(self.versions.items())) or 'n/a'}",
        ]
        if self.files:
            lines.append(
                "- Files: " + ", ".join(f"`{f.path}` (sha256 `{f.sha256}`, {f.bytes:,} bytes)" for f in self.files)
            )
        if self.loss_curve:
            first, last = self.loss_curve[0], self.loss_curve[-1]
            lines.append(f"- Loss: {first.loss:.3f} at step {first.step} -> {last.loss:.3f} at step {last.step}")
        if self.evaluation:
            lines += ["", "## Evaluation", "", "| metric | adapter | base model | n | note |", "|---|---|---|---|---|"]
            for m in self.evaluation:
                base = "" if m.baseline is None else f"{m.baseline:g}{m.unit}"
                n = "" if m.n is None else str(m.n)
                lines.append(f"| {m.name} | {m.value:g}{m.unit} | {base} | {n} | {m.note} |")
        if self.speed:
            s = self.speed
            lines += [
                "",
                "## Speed",
                "",
                f"Generation {s.adapter_tokens_per_s:.0f} tok/s with the adapter vs {s.base_tokens_per_s:.0f} "
                f"without ({s.cost_percent:+.0f}% cost), {s.prompts} prompts, llama.cpp in process.",
            ]
        if self.rationale:
            lines += ["", "## Why this rank and these modules", "", self.rationale]
        if self.notes:
            lines += ["", "## Notes", "", self.notes]
        return "\n".join(lines) + "\n"


def card_paths(adapter_path: Path) -> tuple[Path, Path]:
    """``(name.card.json, name.card.md)`` next to ``name.gguf``."""
    adapter_path = Path(adapter_path)
    stem = adapter_path.with_suffix("")
    return stem.with_name(stem.name + ".card.json"), stem.with_name(stem.name + ".card.md")


def peft_folder(adapter_path: Path) -> Path:
    """``name.peft/`` next to ``name.gguf``: the same adapter as PEFT files (vLLM, SGLang, LoRAX)."""
    adapter_path = Path(adapter_path)
    return adapter_path.with_name(adapter_path.with_suffix("").name + ".peft")


def save_card(card: AdapterCard, adapter_path: Path) -> Path:
    """Write the card's JSON and Markdown next to the adapter (atomically); return the JSON path."""
    json_path, md_path = card_paths(adapter_path)
    for path, text in ((json_path, card.model_dump_json(indent=2)), (md_path, card.to_markdown())):
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return json_path


def load_card(adapter_path: Path) -> AdapterCard | None:
    """The card of an adapter, or None when it has none (an uploaded file) or it is unreadable."""
    json_path, _ = card_paths(adapter_path)
    try:
        return AdapterCard.model_validate(json.loads(json_path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError):
        return None
