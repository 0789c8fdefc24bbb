"""The answer record: one mode's answer to one query, with the evidence everything downstream reads.

The pipeline produces an :class:`Answer`; the Lab's comparison, the query log, the evaluation
and the components read it. It holds the raw text and its parse verdict
(:class:`ParseReport`), the chunks the model was shown (:class:`RetrievedChunk`), the cited
ids resolved (:class:`Citation`), where the time went (:class:`AnswerTimings`) and the cost.
A routing mode's answer also says which route it took (:class:`RouteTaken`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.economics import CostBreakdown
from ragtune.modes import Mode
from ragtune.prompts import GroundedAnswer
from ragtune.runtime.base import AdapterUse, Timings
from ragtune.runtime.stops import FinishReason

FormatStatus = Literal["ok", "truncated", "repetition", "invalid_json", "schema_violation", "unknown_citation",
                       "free_text"]
CitationStatus = Literal["retrieved", "not_retrieved", "unknown", "unverified"]


class RetrievedChunk(BaseModel):
    """A chunk shown to the model, with its number in the prompt."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1)
    chunk_id: str
    doc_id: str
    title: str
    section: str = ""
    version: int
    score: float
    text: str
    prompt_text: str = Field(default="", description="What the prompt shows of it (its overlap with an "
                             "earlier chunk removed); empty: the whole text.")

    @property
    def shown(self) -> str:
        return self.prompt_text or self.text


class Citation(BaseModel):
    """A chunk id the answer cites, resolved.

    ``retrieved``: one of the chunks in the prompt; ``not_retrieved``: a real chunk of the
    workspace that was not in the prompt (the model knew the id from training, e.g. a
    knowledge adapter); ``unknown``: an id that exists nowhere (invented); ``unverified``:
    the knowledge base could not be reached, so whether the id exists is not known.
    """

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    status: CitationStatus
    number: int | None = None
    title: str = ""
    text: str = ""


class ParseReport(BaseModel):
    """Whether the output has the requested format, and if not, why."""

    model_config = ConfigDict(frozen=True)

    status: FormatStatus
    detail: str = ""
    parsed: GroundedAnswer | None = None

    @property
    def format_valid(self) -> bool | None:
        """True/False for JSON answers; None when no format was asked for (free text)."""
        return None if self.status == "free_text" else self.status == "ok"


class AnswerTimings(Timings):
    """The runtime's timings plus retrieval (and a routing mode's classifier step, ``routing_ms``);
    ``ttft_ms`` and ``total_ms`` count from the start of the query, both included."""

    retrieval_ms: float = 0.0
    routing_ms: float = Field(default=0.0, description="A routing mode's classifier step (its queue wait "
                              "is in queue_wait_ms).")

    @property
    def compute_ms(self) -> float:
        """Time the query kept the machine busy (everything but waiting for the model)."""
        return max(self.total_ms - self.queue_wait_ms, 0.0)


class RouteTaken(BaseModel):
    """Where a routing mode sent the query: the router's output, the label read from it, the route,
    what answered (a mode, or None for a fixed answer), and the router step's own timings and cost
    (both also counted in the answer's)."""

    model_config = ConfigDict(frozen=True)

    router_adapter: str
    raw_output: str = Field(description="The classifier's text, as generated.")
    label: str | None = Field(description="The known label the output is, or None (the default route).")
    route: str
    answered_by: Mode | None = Field(description="The mode that answered; None: the route's fixed answer.")
    timings: Timings = Field(description="The router call's runtime timings.")
    cost: CostBreakdown = Field(description="The router call alone.")

    @property
    def fallback(self) -> bool:
        """The output was no known label, so the default route answered."""
        return self.label is None

    def describe(self) -> str:
        """One line: ``billing -> billing-handoff (a fixed answer)``."""
        target = self.answered_by.label if self.answered_by is not None else "a fixed answer"
        label = self.label if self.label is not None else f"not a label ({self.raw_output.strip()[:30]!r})"
        return f"{label} → {self.route} ({target})"


class Answer(BaseModel):
    """One mode's answer to one query, with the evidence."""

    query: str
    mode: Mode
    workspace: str | None
    model_id: str
    adapter: str | None = Field(description="The adapter's catalog name, if the mode used one.")
    adapters_applied: list[AdapterUse] = Field(description="What the runtime applied, as it reports.")
    text: str = Field(description="The raw model output.")
    finish_reason: FinishReason = Field(description="stop (ended its turn, or its JSON object closed), "
                                        "length (the answer cap) or repetition (stopped in a loop).")
    parse: ParseReport
    retrieved: list[RetrievedChunk]
    citations: list[Citation]
    timings: AnswerTimings
    cost: CostBreakdown
    created_at: datetime
    route: RouteTaken | None = Field(default=None, description="A routing mode's route; None: answered directly.")

    @property
    def expects_json(self) -> bool:
        """Whether a JSON answer was asked for: by the mode, or by the mode a route answered with."""
        if self.route is not None:
            return self.route.answered_by is not None and self.route.answered_by.expects_json
        return self.mode.expects_json

    @property
    def display_text(self) -> str:
        """The answer a person reads: the JSON's answer field when it parsed, else the raw text."""
        if self.parse.parsed is not None:
            return self.parse.parsed.answer
        return self.text

    @property
    def retrieved_ids(self) -> list[str]:
        return [c.chunk_id for c in self.retrieved]
