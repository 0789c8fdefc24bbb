"""The team's answers to the decision wizard: one validated, frozen model.

Field names are also the URL query-parameter names (see :mod:`ragtune.decision.params`);
the defaults mean "not checked" and the seed's reference figures.
"""

from __future__ import annotations

import math
import re
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StrEnum(str, Enum):
    """A string enum whose ``str()`` is its value (Python 3.10 has no enum.StrEnum)."""

    def __str__(self) -> str:
        return self.value


class TaskKind(StrEnum):
    ANSWER = "answer"
    WRITE = "write"
    EXTRACT = "extract"
    CLASSIFY = "classify"


class Frequency(StrEnum):
    NEVER = "never"
    YEARLY = "yearly"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    DAILY = "daily"

    @property
    def per_year(self) -> float:
        return _PER_YEAR[self]


_PER_YEAR = {
    Frequency.NEVER: 0.0, Frequency.YEARLY: 1.0, Frequency.QUARTERLY: 4.0,
    Frequency.MONTHLY: 12.0, Frequency.WEEKLY: 52.0, Frequency.DAILY: 365.0,
}


class PromptingStatus(StrEnum):
    UNTRIED = "untried"
    WORKS = "works"
    FAILS = "fails"


# The seed's figures the answers are read against.

LONG_PROMPT_TOKENS = 4000
"""The seed's first symptom of the RAG-for-behaviour trap: system prompts longer than this."""

MANY_FEW_SHOT = 20
"""The seed's second symptom: twenty examples in the prompt just to hold the format."""

MIN_EXAMPLES_BEHAVIOUR = 200
"""The seed: 200-2,000 examples are usually enough for style, format and tone."""

MIN_EXAMPLES_RULES = 1000
"""The seed: 1,000-10,000 examples for decision rules and new task formats (and classifiers)."""

ASSUMED_RETRY_PCT = 10
"""The retry rate assumed (and labelled so) when a team says it retries but gives no share.

The seed names "frequent format failures requiring retry logic" without a figure; one request
in ten is a round, modest reading of "frequent"."""


class WizardAnswers(BaseModel):
    """Every answer the wizard collects; the defaults are "not checked" and the seed's figures.

    Field names are also the URL query-parameter names.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Step 1: the workload
    name: str = Field(default="", max_length=80)
    task: TaskKind = TaskKind.ANSWER
    routing: bool = False
    # Step 2: knowledge (Q1)
    facts: bool = False
    change: Frequency = Frequency.NEVER
    per_user: bool = False
    cite: bool = False
    bake: bool = False
    # Step 3: behaviour (Q2)
    strict_format: bool = False
    syntax_only: bool = False
    tone: bool = False
    rules: bool = False
    prompting: PromptingStatus = PromptingStatus.UNTRIED
    # Step 4: the current prompt (symptoms of the RAG-for-behaviour trap)
    prompt_tokens: int | None = Field(default=None, ge=0, le=1_000_000)
    few_shot: int = Field(default=0, ge=0, le=100_000)
    retries: bool = False
    retry_pct: int | None = Field(default=None, ge=0, le=100)
    post_processing: bool = False
    # Step 5: volume and prices (the economics)
    requests_per_day: int = Field(default=1000, ge=0, le=1_000_000_000)
    context_tokens: int = Field(default=500, ge=0, le=1_000_000)
    answer_tokens: int = Field(default=300, ge=1, le=1_000_000)
    price_in: float = Field(default=3.0, ge=0.0, le=10_000.0)
    price_out: float = Field(default=15.0, ge=0.0, le=10_000.0)
    cache_pct: int = Field(default=50, ge=0, le=100)
    training_cost: float = Field(default=200.0, ge=0.0, le=10_000_000.0)
    examples: int = Field(default=500, ge=0, le=100_000_000)
    spec_change: Frequency = Frequency.YEARLY
    adapter_tokens: int = Field(default=200, ge=0, le=1_000_000)
    adapter_price_in: float | None = Field(default=None, ge=0.0, le=10_000.0)
    adapter_price_out: float | None = Field(default=None, ge=0.0, le=10_000.0)
    hosting: float = Field(default=0.0, ge=0.0, le=10_000_000.0)
    horizon: int = Field(default=24, ge=1, le=120)

    @field_validator("name", mode="before")
    @classmethod
    def _clean_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            # Printable text only: the name ends up in a Markdown heading and a file.
            value = re.sub(r"[\x00-\x1f\x7f#<>`]", "", value).strip()
        return value

    @field_validator("price_in", "price_out", "training_cost", "hosting",
                     "adapter_price_in", "adapter_price_out")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def retries_given(answers: WizardAnswers) -> bool:
    """Whether the answers say requests are retried on format failures (ticked, or a share > 0)."""
    return answers.retries or bool(answers.retry_pct)


def retry_pct(answers: WizardAnswers) -> tuple[int, bool]:
    """The share of requests retried (%), and whether it is assumed rather than given."""
    if answers.retry_pct is not None:
        return answers.retry_pct, False
    if answers.retries:
        return ASSUMED_RETRY_PCT, True
    return 0, False

