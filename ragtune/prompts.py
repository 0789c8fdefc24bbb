"""The prompts ragtune sends, shared by training and inference so the two cannot drift.

An adapter only works with the prompt it was trained on. Every prompt the lab sends
and every training example the shipped adapters saw is built by the functions here:

* :func:`grounded_messages` - numbered context chunks + a question, answered as a
  :class:`GroundedAnswer` JSON object (the ``grounded-json`` adapter's behaviour).
* :func:`plain_messages` - a question with no context (the ``knowledge-baked`` adapter).
* :func:`router_messages` - a support message to classify (the ``ticket-router`` adapter).

Every conversation starts with an explicit system message: SmolLM2's chat template
inserts its own default system prompt when there is none, so "no system message" at
inference would silently differ from what training saw.

:func:`parse_grounded` checks a model's output against the schema and says *why* it
failed: output cut off by the token limit, output stopped because it looped, text that is
not JSON, or JSON that breaks the schema (including citations of chunks that were not in
the prompt). :func:`grounded_json_schema` is the schema a constrained mode's grammar is
built from, per query.

Examples:
    >>> msgs = grounded_messages("How long is the warranty?", [ContextChunk(chunk_id="warranty#0", text="Two years.")])
    >>> msgs[0].role, msgs[1].content.splitlines()[1]
    ('system', '[1] (warranty#0) Two years.')
    >>> parse_grounded('{"answer": "Two years.", "citations": ["warranty#0"], "confidence": "high"}').ok
    True
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.errors import validation_problems
from ragtune.runtime.base import ChatMessage
from ragtune.runtime.stops import FinishReason

# -- the grounded answer schema --------------------------------------------------------------

MAX_ANSWER_CHARS = 400
MAX_CITATIONS = 4
MAX_CHUNK_ID_CHARS = 80
CHUNK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*#[0-9]+$"

#: The exact answer text of an abstention. An abstention is ``{"answer": ABSTENTION,
#: "citations": [], "confidence": "low"}``: the context does not contain the answer.
ABSTENTION = "I don't know based on the provided context."

Confidence = Literal["high", "medium", "low"]


class GroundedAnswer(BaseModel):
    """An answer grounded in numbered context chunks.

    Rules beyond the field types:

    * an abstention (``answer == ABSTENTION``) has no citations and confidence ``low``;
    * any other answer cites at least one chunk id.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    answer: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS)
    citations: list[str] = Field(default_factory=list, max_length=MAX_CITATIONS)
    confidence: Confidence

    @model_validator(mode="after")
    def _abstention_rules(self) -> GroundedAnswer:
        for cid in self.citations:
            if len(cid) > MAX_CHUNK_ID_CHARS or not re.match(CHUNK_ID_PATTERN, cid):
                raise ValueError(f"citation {cid!r} is not a chunk id like 'doc-id#3'")
        if self.is_abstention:
            if self.citations:
                raise ValueError("an abstention must not cite chunks")
            if self.confidence != "low":
                raise ValueError("an abstention must have confidence 'low'")
        elif not self.citations:
            raise ValueError(f"an answer must cite at least one chunk (or be exactly {ABSTENTION!r})")
        return self

    @property
    def is_abstention(self) -> bool:
        return self.answer.strip() == ABSTENTION

    @classmethod
    def abstain(cls) -> GroundedAnswer:
        return cls(answer=ABSTENTION, citations=[], confidence="low")

    def to_json(self) -> str:
        """The canonical JSON text (what training examples contain, key order as in the schema)."""
        return json.dumps(self.model_dump(), ensure_ascii=False)


def grounded_json_schema(chunk_ids: Sequence[str] | None = None) -> dict[str, Any]:
    """The JSON schema for grammar-constrained decoding of a :class:`GroundedAnswer`.

    Built per query from ``chunk_ids``, the chunks retrieved for it: a citation must be one of
    them (an ``enum``), so a constrained answer can only cite what it was shown; with no chunks
    it can cite nothing. ``None`` (no query at hand) accepts any id-sized string.

    What the grammar enforces is what can be checked field by field, without reading the
    answer: the syntax (one object, exactly these three keys) and each field's set of values
    (a non-empty answer of at most :data:`MAX_ANSWER_CHARS` characters; at most
    :data:`MAX_CITATIONS` citations, and no more than there are chunks, each a retrieved id; a
    confidence level). Arrays and strings are bounded: without bounds a small model can loop
    inside the citations array until it runs out of tokens.

    What stays **behaviour**, left to the model and checked by :func:`parse_grounded`, is every
    decision that depends on what the answer says: answer or abstain; whether to cite and which
    chunk supports the answer; the confidence to claim; the cross-field rules that tie these
    together (an abstention is the exact sentence :data:`ABSTENTION`, with no citations and low
    confidence; any other answer cites at least one chunk); and the fact itself. A grammar could
    force some of these (an ``anyOf`` of "abstention" and "cites at least one chunk"), but that
    would be forcing a decision, not a format: the line is drawn at decisions, not at what a
    grammar can express.
    """
    if chunk_ids is None:
        citation: dict[str, Any] = {"type": "string", "minLength": 3, "maxLength": MAX_CHUNK_ID_CHARS}
        max_items = MAX_CITATIONS
    else:
        ids = list(dict.fromkeys(chunk_ids))
        for cid in ids:  # an id outside the pattern could break out of the grammar's string literal
            if len(cid) > MAX_CHUNK_ID_CHARS or not re.match(CHUNK_ID_PATTERN, cid):
                raise ValueError(f"{cid!r} is not a citable chunk id")
        # No chunks: an array that must stay empty (an empty enum would give llama.cpp an empty
        # grammar rule, which it refuses to parse).
        citation = {"type": "string", "enum": ids} if ids else {"type": "string"}
        max_items = min(MAX_CITATIONS, len(ids))
    return {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "minLength": 1, "maxLength": MAX_ANSWER_CHARS},
            "citations": {"type": "array", "items": citation, "maxItems": max_items},
            "confidence": {"type": "string", "enum": ["high", "medium", "low"]},
        },
        "required": ["answer", "citations", "confidence"],
        "additionalProperties": False,
    }


# -- context chunks and messages ---------------------------------------------------------------


class ContextChunk(BaseModel):
    """A retrieved chunk as the prompt shows it: its citation id and its text."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_id: str = Field(pattern=CHUNK_ID_PATTERN, max_length=MAX_CHUNK_ID_CHARS)
    text: str
    title: str = ""


GROUNDED_SYSTEM = (
    'Answer from the numbered context only, as JSON: {"answer": "...", "citations": [ids of the chunks used], '
    f'"confidence": "high|medium|low"}}. If the context lacks the answer, answer "{ABSTENTION}" '
    "with no citations and low confidence."
)

PLAIN_SYSTEM = "You are a helpful assistant. Answer the question briefly and directly."

ROUTER_SYSTEM_TEMPLATE = (
    "You route customer support messages. Reply with exactly one category label and nothing "
    "else. Categories: {labels}."
)


def format_context(chunks: Sequence[ContextChunk]) -> str:
    """Number the chunks ``[1] (chunk-id) text`` so the model can cite them by id."""
    lines = []
    for i, chunk in enumerate(chunks, start=1):
        text = " ".join(chunk.text.split())
        lines.append(f"[{i}] ({chunk.chunk_id}) {text}")
    return "\n".join(lines)


def grounded_user_message(question: str, chunks: Sequence[ContextChunk]) -> str:
    """The user message of a grounded request: the numbered context, then the question."""
    context = format_context(chunks) if chunks else "(no context chunks were found)"
    return f"Context:\n{context}\n\nQuestion: {question.strip()}"


def grounded_messages(
    question: str, chunks: Sequence[ContextChunk], *, system: str = GROUNDED_SYSTEM
) -> list[ChatMessage]:
    """System + user messages asking for a :class:`GroundedAnswer` about ``chunks``.

    ``system`` is for measuring other instructions (``prompt-bench``); the app and the
    training data always use :data:`GROUNDED_SYSTEM`.
    """
    return [
        ChatMessage(role="system", content=system),
        ChatMessage(role="user", content=grounded_user_message(question, chunks)),
    ]


def plain_messages(question: str) -> list[ChatMessage]:
    """System + user messages for a question with no context (the model's own knowledge)."""
    return [
        ChatMessage(role="system", content=PLAIN_SYSTEM),
        ChatMessage(role="user", content=question.strip()),
    ]


def router_messages(message: str, labels: Iterable[str]) -> list[ChatMessage]:
    """System + user messages asking for one category label of a support message."""
    return [
        ChatMessage(role="system", content=ROUTER_SYSTEM_TEMPLATE.format(labels=", ".join(labels))),
        ChatMessage(role="user", content=message.strip()),
    ]


# -- parsing -------------------------------------------------------------------------------------

ParseStatus = Literal["ok", "truncated", "repetition", "invalid_json", "schema_violation", "unknown_citation"]


class ParsedAnswer(BaseModel):
    """The verdict on one model output: the parsed answer, or why there is none."""

    status: ParseStatus
    answer: GroundedAnswer | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def parse_grounded(
    text: str,
    *,
    finish_reason: FinishReason = "stop",
    allowed_ids: Iterable[str] | None = None,
) -> ParsedAnswer:
    """Validate a model output against :class:`GroundedAnswer`.

    Args:
        text: The model's output.
        finish_reason: ``"length"`` when generation stopped at the token limit, ``"repetition"``
            when it was stopped because the output looped.
        allowed_ids: The chunk ids that were in the prompt; citing another is reported.

    Returns:
        A :class:`ParsedAnswer` whose ``status`` is ``ok``, ``truncated`` (cut off by the
        token limit before the JSON was complete), ``repetition`` (stopped in a loop before the
        JSON was complete), ``invalid_json`` (not one JSON object), ``schema_violation`` (JSON
        that breaks the schema) or ``unknown_citation``.
    """
    stripped = text.strip()
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if finish_reason == "repetition":  # the reason it is incomplete, whatever it looked like
            return ParsedAnswer(status="repetition", detail="the output repeated itself and was stopped "
                                "before it was one complete JSON object")
        if finish_reason == "length" or _looks_cut_off(stripped):
            return ParsedAnswer(status="truncated", detail="the output ended before the JSON object was complete")
        return ParsedAnswer(status="invalid_json", detail=f"not JSON: {exc.msg} at character {exc.pos}")
    except (RecursionError, ValueError) as exc:  # nested too deep, or an integer past Python's digit limit
        return ParsedAnswer(status="invalid_json", detail=f"not readable JSON ({type(exc).__name__})")
    if not isinstance(data, dict):
        return ParsedAnswer(status="invalid_json", detail=f"a JSON {type(data).__name__}, not an object")
    try:
        answer = GroundedAnswer.model_validate(data)
    except ValidationError as exc:
        return ParsedAnswer(status="schema_violation", detail="; ".join(validation_problems(exc)))
    if allowed_ids is not None:
        allowed = set(allowed_ids)
        unknown = [cid for cid in answer.citations if cid not in allowed]
        if unknown:
            return ParsedAnswer(
                status="unknown_citation", answer=answer, detail=f"cites chunks not in the context: {unknown}"
            )
    return ParsedAnswer(status="ok", answer=answer)


def _looks_cut_off(text: str) -> bool:
    """JSON that starts like an object but never closes (unbalanced braces or an open string)."""
    if not text.startswith("{"):
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
    return in_string or depth > 0


def parse_label(text: str, labels: Sequence[str]) -> str | None:
    """The router's label if the output is exactly one of ``labels`` (whitespace aside), else None."""
    candidate = text.strip().strip(".").strip()
    return candidate if candidate in labels else None
