"""Hyperparameters of a LoRA training run, with defaults that work on a CPU."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.errors import InputError

TargetModule = Literal["q", "k", "v", "o", "gate", "up", "down"]
ALL_TARGETS: tuple[TargetModule, ...] = ("q", "k", "v", "o", "gate", "up", "down")

# Short names -> the Hugging Face module names of llama-like models (llama, qwen2 ...).
HF_MODULE_NAMES: dict[str, str] = {
    "q": "q_proj",
    "k": "k_proj",
    "v": "v_proj",
    "o": "o_proj",
    "gate": "gate_proj",
    "up": "up_proj",
    "down": "down_proj",
}


class TrainOptions(BaseModel):
    """LoRA hyperparameters. ``steps`` wins over ``epochs`` when both are given."""

    model_config = ConfigDict(extra="forbid")

    rank: int = Field(default=16, ge=1, le=256, description="LoRA rank r.")
    alpha: float = Field(default=32.0, gt=0, le=1024, description="LoRA alpha; the update is scaled by alpha/r.")
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: list[TargetModule] = Field(
        default_factory=lambda: list(ALL_TARGETS), min_length=1, description="Weights that get a LoRA."
    )
    last_layers: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description=(
            "Put LoRA on the last N transformer layers only (None: all). Backpropagation then stops "
            "at layer N from the top, which makes a CPU step markedly cheaper."
        ),
    )
    steps: int | None = Field(default=None, ge=1, le=100_000)
    epochs: float | None = Field(default=None, gt=0, le=1000)
    learning_rate: float = Field(default=5e-4, gt=0, le=1.0)
    warmup_steps: int = Field(default=10, ge=0, le=10_000)
    batch_size: int = Field(default=8, ge=1, le=512)
    max_length: int = Field(default=768, ge=16, le=32_768, description="Longer examples are skipped.")
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description=(
            "auto: bf16 autocast on a GPU and on a CPU with native bf16 instructions (AVX512-BF16, AMX: "
            "~4x faster steps), float32 elsewhere (on an AVX2-only CPU bf16 was measured 35x slower)."
        ),
    )
    threads: int | None = Field(default=None, ge=1, le=512, description="torch CPU threads (default: all).")

    @classmethod
    def checked(cls, values: dict[str, object]) -> TrainOptions:
        """Validated options.

        Raises:
            InputError: a value is out of range; the message names the field and the rule.
        """
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InputError.from_validation(exc, what="Invalid hyperparameters") from exc

    @model_validator(mode="after")
    def _unique_targets(self) -> TrainOptions:
        self.target_modules = [t for t in ALL_TARGETS if t in set(self.target_modules)]
        return self

    def total_steps(self, n_examples: int) -> int:
        """Optimizer steps for ``n_examples`` (default: 3 epochs when neither is set)."""
        if self.steps is not None:
            return self.steps
        epochs = self.epochs if self.epochs is not None else 3.0
        return max(1, math.ceil(epochs * n_examples / self.batch_size))

    def hf_target_modules(self) -> list[str]:
        return [HF_MODULE_NAMES[t] for t in self.target_modules]
