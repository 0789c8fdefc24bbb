"""The answer card: one answer with its badges (the verdict first, then what format was asked and
what came back, then confidence), citations, timings and costs; the Lab draws a fresh
:class:`~ragtune.answer.Answer` with it, History and a Lab permalink a logged one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from components.format import money, render_format_badge
from components.safe import escape_markdown, inline_code, render_untrusted_text
from ragtune.answer import Answer, AnswerTimings, Citation, RouteTaken
from ragtune.lab_export import route_line, stopped_note
from ragtune.runtime.stops import STOPPED_LABELS

if TYPE_CHECKING:
    from ragtune.evaluation.scoring import Judgement
    from ragtune.store import LogEntry

VERDICT_BADGES: dict[str, tuple[str, str]] = {
    "correct": ("correct", "green"), "stale": ("stale", "orange"), "wrong": ("wrong", "red"),
    "abstained": ("abstained", "gray"), "invented": ("invented an answer", "red"),
}
CITATION_NOTES = {
    "retrieved": "in the prompt",
    "not_retrieved": "a real chunk, but not in the prompt",
    "unknown": "no such chunk: invented",
    "unverified": "unverified: the knowledge base could not be reached",
}
NO_CITATION_TEXT = {
    "unknown": "This id matches no chunk of the workspace.",
    "unverified": "The knowledge base could not be reached to look this id up.",
}


@dataclass(frozen=True)
class _Card:
    """What the card shows, read off a fresh answer or a logged one."""

    text: str
    raw: str
    raw_is_json: bool
    parse_status: str
    parse_detail: str
    confidence: str | None
    verdict: str | None
    verdict_note: str
    not_judged: str
    citations: list[Citation]
    timings: AnswerTimings
    local_usd: float
    local_help: str
    api_model: str
    api_usd: float
    amortized_usd: float
    finish_reason: str
    retrieved: list[str]
    route: RouteTaken | None = None


def _of_answer(answer: Answer, verdict: Judgement | None, not_judged: str | None) -> _Card:
    c = answer.cost
    return _Card(
        text=answer.display_text, raw=answer.text, raw_is_json=answer.expects_json,
        parse_status=answer.parse.status, parse_detail=answer.parse.detail,
        confidence=answer.parse.parsed.confidence if answer.parse.parsed is not None else None,
        verdict=verdict.verdict if verdict else None, verdict_note=verdict.note if verdict else "",
        not_judged=not_judged or "",
        citations=answer.citations, timings=answer.timings, local_usd=c.local_total_usd,
        local_help=f"{c.compute_seconds:.2f} s × ${c.dollars_per_hour:g}/h", api_model=c.reference_model,
        api_usd=c.api_total_usd, amortized_usd=c.amortized_usd, finish_reason=answer.finish_reason,
        retrieved=[f"[{r.number}] {inline_code(r.chunk_id)} · {escape_markdown(r.title)} · score {r.score:.3f}"
                   for r in answer.retrieved],
        route=answer.route,
    )


def _of_entry(entry: LogEntry) -> _Card:
    timings = entry.timings
    return _Card(
        text=entry.display_answer, raw=entry.answer, raw_is_json=entry.parse_status != "free_text",
        parse_status=entry.parse_status, parse_detail=entry.parse_detail, confidence=None,
        verdict=entry.verdict, verdict_note=entry.verdict_note or "",
        not_judged=(entry.verdict_note or "") if entry.verdict is None else "",  # logged with the reason
        citations=[Citation.model_validate(c) for c in entry.citations], timings=timings,
        local_usd=entry.local_cost_usd + entry.amortized_usd,
        local_help=f"{timings.compute_ms / 1000:.2f} s of compute", api_model=entry.api_model,
        api_usd=entry.api_cost_usd + entry.amortized_usd, amortized_usd=entry.amortized_usd,
        finish_reason=entry.finish_reason,
        retrieved=[f"[{i}] {inline_code(chunk_id)}" for i, chunk_id in enumerate(entry.retrieved_ids, start=1)],
        route=entry.route,
    )


def render_answer_card(answer: Answer | LogEntry, *, verdict: Judgement | None = None,
                       not_judged: str | None = None, key: str) -> None:
    """One answer: text, badges (verdict first, then format), citations, timings and costs.

    Args:
        answer: a fresh answer (the Lab) or a logged one (History: its stored verdict is shown).
        verdict: a fresh answer's verdict on a demo question, if it was judged.
        not_judged: why a fresh answer to a demo question was not judged (a logged one keeps it).
        key: the card container's key.
    """
    card = _of_answer(answer, verdict, not_judged) if isinstance(answer, Answer) else _of_entry(answer)
    with st.container(key=key):
        with st.container(horizontal=True):
            if card.verdict in VERDICT_BADGES:  # correctness first: it is what the reader asks
                text, colour = VERDICT_BADGES[card.verdict]
                st.badge(text, color=colour, help=escape_markdown(card.verdict_note) or None)  # type: ignore[arg-type]
            elif card.not_judged:
                st.badge("not judged", color="gray", icon=":material/edit_document:")
            render_format_badge(card.parse_status, card.raw)
            if card.finish_reason == "repetition" and card.parse_status != "repetition":  # e.g. free text
                st.badge(STOPPED_LABELS["repetition"], color="orange", icon=":material/repeat:")
            if card.confidence is not None:
                st.badge(f"confidence {card.confidence}", color="blue")
        if card.not_judged:
            st.caption(escape_markdown(card.not_judged[:1].upper() + card.not_judged[1:] + "."))
        if card.route is not None:
            render_route_line(card.route, key=f"{key}-route")
        render_untrusted_text(card.text)  # the model's text: images and HTML never load
        if card.parse_status not in ("ok", "free_text") and card.parse_detail:
            st.caption(escape_markdown(f"Format: {card.parse_detail}"))
        for citation in card.citations:
            number = f"[{citation.number}] " if citation.number else ""
            with st.expander(f"{number}{inline_code(citation.chunk_id)} — {CITATION_NOTES[citation.status]}"):
                st.caption(escape_markdown(citation.title))
                st.text(citation.text or NO_CITATION_TEXT.get(citation.status, "The query log keeps the id, "
                                                                               "not the chunk's text."))
        _render_measures(card)
        with st.expander("Retrieved chunks and raw output"):
            for line in card.retrieved:
                st.caption(line)
            if not card.retrieved:
                st.caption("This mode does not retrieve.")
            st.code(card.raw or " ", language="json" if card.raw_is_json else None, wrap_lines=True)


def render_route_line(route: RouteTaken, *, key: str) -> None:
    """Where a routing mode sent the query and what the routing step cost
    (:func:`ragtune.lab_export.route_line`, as the exports write it); the router's raw output on hover
    (an output that is no label says so: the default route answered)."""
    said = route.raw_output.strip() or "(nothing)"
    with st.container(key=key):
        # The raw output is the model's text, the route names a user's: all shown inert.
        st.caption(escape_markdown(route_line(route)), help=escape_markdown(f"{route.router_adapter} said: {said}"))


def _render_measures(card: _Card) -> None:
    t = card.timings
    routing = f" · routing {t.routing_ms:.0f} ms" if t.routing_ms else ""
    with st.container(horizontal=True):
        st.metric("Total", f"{t.total_ms / 1000:.2f} s",
                  help=f"Queue {t.queue_wait_ms:.0f} ms{routing} · retrieval {t.retrieval_ms:.0f} ms · "
                  f"prompt eval {t.prompt_eval_ms:.0f} ms · generation {t.generation_ms:.0f} ms")
        st.metric("First token", f"{t.ttft_ms / 1000:.2f} s")
    with st.container(horizontal=True):
        st.metric("Prompt tokens", f"{t.prompt_tokens:,}", help=f"{t.cached_prompt_tokens} reused from cache")
        st.metric("Answer tokens", t.completion_tokens)
    training = f" + training {money(card.amortized_usd)}" if card.amortized_usd else ""
    with st.container(horizontal=True):
        # the help is Markdown: two dollar amounts in it would be typeset as math
        st.metric("Local", money(card.local_usd), help=escape_markdown(card.local_help + training))
        st.metric(f"As {card.api_model}", money(card.api_usd),
                  help=escape_markdown("The same tokens at the hosted model's list price" + training))
    if note := stopped_note(card.finish_reason):
        st.caption(escape_markdown(note))
