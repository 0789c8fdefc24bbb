"""One exchange of the Playground: the question, the answer, and its timings."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.safe import escape_markdown, render_untrusted_text
from components.timings import render_timings
from ragtune.runtime.stops import STOPPED_LABELS

if TYPE_CHECKING:
    from ragtune.runtime import CompletionResult


def adapter_label(result: CompletionResult) -> str:
    if not result.adapters:
        return "base model"
    return ", ".join(f"{use.path.stem} × {use.scale:g}" for use in result.adapters)


def render_exchange(question: str, result: CompletionResult, *, key: str) -> None:
    """Draw a finished question and answer, with the adapter used and the timing breakdown."""
    with st.chat_message("user"):
        render_untrusted_text(question)
    with st.chat_message("assistant"):
        render_untrusted_text(result.text)
        render_answer_footer(result, key=key)


def render_answer_footer(result: CompletionResult, *, key: str) -> None:
    """The caption and timing breakdown under an answer."""
    stopped = STOPPED_LABELS.get(result.finish_reason)
    note = f" · {stopped}" if stopped else ""
    st.caption(escape_markdown(f"{result.model_id} · {adapter_label(result)}{note}"))
    render_timings(result.timings, key=key)
