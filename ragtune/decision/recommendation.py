"""What the wizard recommends, as records: the outcome, the parts to build, the findings.

:func:`ragtune.decision.recommend.recommend` produces a :class:`Recommendation`; the page,
the decision record and the Lab link read it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ragtune.decision.answers import StrEnum
from ragtune.decision.economics import CostSection


class Outcome(StrEnum):
    RAG = "rag"
    FINE_TUNE = "fine_tune"
    HYBRID = "hybrid"
    PROMPTING = "prompting"
    CLASSIFIER = "classifier"
    CONSTRAINED_DECODING = "constrained_decoding"


class Part(StrEnum):
    """A building block of the architecture the seed's combined pattern draws."""

    ROUTER = "router"
    RAG = "rag"
    CLASSIFIER = "classifier"
    ADAPTER = "adapter"
    CONSTRAINED = "constrained"
    PROMPT = "prompt"


class PartChoice(BaseModel):
    """One part to build, which job it does, and the answers that called for it."""

    part: Part
    role: Literal["knowledge", "behaviour", "routing", "labels", "format", "instructions"]
    does: str
    detail: str = Field(default="", description="What it holds, in a few words (for diagrams).")
    because: list[str] = Field(default_factory=list)


class Finding(BaseModel):
    """A warning shown with the recommendation: a trap, a contradiction, a shortfall."""

    code: Literal[
        "fine_tune_for_knowledge", "rag_for_behaviour", "contradiction", "few_examples",
        "no_payback", "nothing_checked", "untested_prompting",
    ]
    title: str
    message: str
    evidence: list[str] = Field(default_factory=list)


class Alternative(BaseModel):
    option: str
    verdict: Literal["rejected", "fallback", "later", "not needed"]
    reason: str


class Recommendation(BaseModel):
    """What to build, how sure we are, why, what to watch, and what it costs."""

    outcome: Outcome
    headline: str
    parts: list[PartChoice]
    confidence: float = Field(ge=0.0, le=1.0)
    confidence_level: Literal["high", "medium", "low"]
    rationale: list[str]
    warnings: list[Finding]
    try_first: list[str]
    alternatives: list[Alternative]
    consequences: list[str]
    lab_modes: list[str]
    recommended_mode: str
    examples_needed: int | None
    costs: CostSection = Field(description="The options weighed, priced, and the verdict.")

    def has_part(self, part: Part) -> bool:
        return any(p.part == part for p in self.parts)

    def warning_codes(self) -> list[str]:
        return [w.code for w in self.warnings]


LAB_MODE_PARTS: dict[str, frozenset[Part]] = {
    # In the order of ragtune.modes.BUILTIN_MODES (tests/test_modes.py compares the two).
    "base": frozenset({Part.PROMPT}),
    "rag": frozenset({Part.RAG, Part.PROMPT}),
    "lora": frozenset({Part.ADAPTER}),
    "rag+lora": frozenset({Part.RAG, Part.ADAPTER}),
    "rag+fewshot": frozenset({Part.RAG, Part.PROMPT}),
    # Facts baked into an adapter: the trap, shown beside retrieval; it builds no part.
    "knowledge-lora": frozenset(),
    "constrained": frozenset({Part.CONSTRAINED, Part.PROMPT}),
    "rag+constrained": frozenset({Part.RAG, Part.CONSTRAINED, Part.PROMPT}),
    # The seed's combined pattern: a fine-tuned classifier (the ticket-router adapter) picks
    # the route, and the documents route is RAG + the grounded-json adapter.
    "route": frozenset({Part.ROUTER, Part.CLASSIFIER, Part.RAG, Part.ADAPTER}),
}
"""The built-in Lab modes the wizard links to, and the parts of a recommendation each shows."""

LAB_MODES: tuple[str, ...] = tuple(LAB_MODE_PARTS)
"""The mode ids the Lab page understands (``?modes=rag,rag+lora``)."""
