"""The answer record: one mode's answer to one query, with the evidence everything downstream reads.

The pipeline produces an :class:`Answer`; the Lab's comparison, the query log, the evaluation
and the components read it. It holds the raw text and its parse verdict
(:class:`ParseReport`), the chunks the model was shown (:class:`RetrievedChunk`), the cited
ids resolved (:class:`Citation`), where the time went (:class:`AnswerTimings`) and the cost.
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
    """The runtime's timings plus retrieval; ``ttft_ms`` and ``total_ms`` count from the start
    of the query, retrieval included."""

    retrieval_ms: float = 0.0

    @property
    def compute_ms(self) -> float:
        """Time the query kept the machine busy (everything but waiting for the model)."""
        return max(self.total_ms - self.queue_wait_ms, 0.0)


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

    @property
    def display_text(self) -> str:
        """The answer a person reads: the JSON's answer field when it parsed, else the raw text."""
        if self.parse.parsed is not None:
            return self.parse.parsed.answer
        return self.text

    @property
    def retrieved_ids(self) -> list[str]:
        return [c.chunk_id for c in self.retrieved]
