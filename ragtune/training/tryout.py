"""The Adapters page's quick try: one input, answered with and without an adapter.

The prompt is built with the same builder the adapter was trained with (read from its
card), because an adapter only works with the prompt it learned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ragtune.errors import InputError
from ragtune.prompts import (
    ContextChunk,
    grounded_json_schema,
    grounded_messages,
    parse_grounded,
    parse_label,
    plain_messages,
    router_messages,
)
from ragtune.runtime.base import AdapterUse, ChatMessage, CompletionResult, GenerationOptions, Runtime
from ragtune.training.card import AdapterCard

EXAMPLE_INPUT = "How much does the Mowbot M2 cost?"
EXAMPLE_CONTEXT = (
    "mowbot-m2-specifications#1: The Mowbot M2 costs $899 and mows up to 1,200 m².\n"
    "warranty-policy#0: Tidewell robots have a two-year warranty."
)

TryStyle = Literal["plain", "grounded", "router"]
STYLE_LABELS: dict[TryStyle, str] = {
    "plain": "Plain question (no context)",
    "grounded": "Grounded JSON (numbered context)",
    "router": "Ticket router (one label)",
}
_BUILDERS: dict[str, TryStyle] = {
    "ragtune.prompts.grounded_messages": "grounded",
    "ragtune.prompts.plain_messages": "plain",
    "ragtune.prompts.router_messages": "router",
}


def style_for(card: AdapterCard | None) -> TryStyle:
    """The prompt style an adapter was trained with (plain when unknown)."""
    return _BUILDERS.get(card.prompt_builder, "plain") if card else "plain"


def parse_context(text: str) -> list[ContextChunk]:
    """Context lines ``doc-id#n: text`` (one chunk a line) into chunks.

    Raises:
        InputError: a line without a valid ``doc-id#n:`` prefix, naming the line.
    """
    chunks = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        cid, sep, body = line.partition(":")
        try:
            chunks.append(ContextChunk(chunk_id=cid.strip(), text=body.strip()))
        except ValueError:
            raise InputError(
                f"Context line {number} must look like 'doc-id#3: the chunk text' (got {line[:40]!r})."
            ) from None
        if not sep or not body.strip():
            raise InputError(f"Context line {number} has no text after the chunk id.")
    return chunks


def try_messages(style: TryStyle, text: str, *, context: str = "", labels: list[str] | None = None) -> list[ChatMessage]:
    """The messages of one try, built by the shared prompt builders."""
    if not text.strip():
        raise InputError("Type something to try first.")
    if style == "grounded":
        return grounded_messages(text, parse_context(context))
    if style == "router":
        from ragtune.training.recipes.ticket_router import TICKET_CATEGORIES

        return router_messages(text, labels or list(TICKET_CATEGORIES))
    return plain_messages(text)


def try_options(style: TryStyle, *, max_tokens: int = 160) -> GenerationOptions:
    return GenerationOptions(max_tokens=12 if style == "router" else max_tokens)


def verdict(style: TryStyle, result: CompletionResult, *, context: str = "") -> str:
    """A one-line judgement of an output in its style (schema validity, label validity)."""
    if style == "grounded":
        ids = [c.chunk_id for c in parse_context(context)]
        parsed = parse_grounded(result.text, finish_reason=result.finish_reason, allowed_ids=ids)
        return "valid grounded JSON" if parsed.ok else f"{parsed.status.replace('_', ' ')}: {parsed.detail}"
    if style == "router":
        from ragtune.training.recipes.ticket_router import TICKET_CATEGORIES

        label = parse_label(result.text, list(TICKET_CATEGORIES))
        return f"label: {label}" if label else "not one of the labels"
    return f"{result.timings.completion_tokens} tokens, {result.timings.tokens_per_s:.0f} tok/s"


@dataclass(frozen=True)
class TryOutcome:
    """One input answered by the base model and with the adapter, each with its verdict."""

    base: CompletionResult
    adapted: CompletionResult
    base_note: str
    adapter_note: str


def try_adapter(runtime: Runtime, adapter: Path, style: TryStyle, text: str, *, context: str = "") -> TryOutcome:
    """Answer ``text`` with and without the adapter, with the prompt it was trained with.

    Raises:
        InputError: the input is empty or a context line is malformed.
    """
    messages = try_messages(style, text, context=context)
    options = try_options(style)
    base = runtime.chat(messages, options=options)
    adapted = runtime.chat(messages, adapters=[AdapterUse(path=adapter)], options=options)
    return TryOutcome(base, adapted, verdict(style, base, context=context), verdict(style, adapted, context=context))


__all__ = ["EXAMPLE_CONTEXT", "EXAMPLE_INPUT", "STYLE_LABELS", "TryOutcome", "TryStyle", "try_adapter", "grounded_json_schema", "parse_context", "style_for", "try_messages", "try_options", "verdict"]
