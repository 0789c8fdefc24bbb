"""The Lab's views: one answer card per mode, the latency and cost charts, the mode and cost forms."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import streamlit as st

from components.safe import escape_markdown, inline_code, render_untrusted_text
from components.timings import PLOTLY_CONFIG

if TYPE_CHECKING:
    from ragtune.economics import EconomicsConfig
    from ragtune.lab import Judgement
    from ragtune.modes import Mode
    from ragtune.pipeline import Answer

# Latency stages in the order they happen (colours shared with the Playground's timing bar).
LATENCY_STAGES: tuple[tuple[str, str, str], ...] = (
    ("queue_wait_ms", "Queue wait", "#9e9e9e"),
    ("retrieval_ms", "Retrieval", "#ffa726"),
    ("adapter_switch_ms", "Adapter switch", "#ab47bc"),
    ("prompt_eval_ms", "Prompt eval", "#42a5f5"),
    ("generation_ms", "Generation", "#66bb6a"),
)
FORMAT_BADGES: dict[str, tuple[str, str, str]] = {
    "ok": ("valid JSON", "green", ":material/check_circle:"),
    "truncated": ("cut off at the token limit", "red", ":material/content_cut:"),
    "invalid_json": ("not JSON", "red", ":material/error:"),
    "schema_violation": ("JSON breaks the schema", "orange", ":material/rule:"),
    "unknown_citation": ("cites chunks it was not given", "orange", ":material/link_off:"),
    "free_text": ("free text (no format asked)", "gray", ":material/notes:"),
}
VERDICT_BADGES: dict[str, tuple[str, str]] = {
    "correct": ("correct", "green"), "stale": ("stale", "orange"), "wrong": ("wrong", "red"),
    "abstained": ("abstained", "gray"), "invented": ("invented an answer", "red"),
}
CITATION_NOTES = {
    "retrieved": "in the prompt",
    "not_retrieved": "a real chunk, but not in the prompt",
    "unknown": "no such chunk: invented",
}


def usd(value: float) -> str:
    """Small dollar amounts readably: $0.000123."""
    if value == 0:
        return "$0"
    return f"${value:.2g}" if value < 0.01 else f"${value:,.4f}"


def render_mode_header(mode: Mode, *, key: str) -> None:
    """The mode's name and what it does."""
    with st.container(key=key):
        st.subheader(escape_markdown(mode.label), anchor=False)  # a user's own mode: their text
        st.caption(escape_markdown(mode.summary()), help=escape_markdown(mode.description) or None)


def render_answer_card(answer: Answer, *, judgement: Judgement | None = None, key: str) -> None:
    """One mode's answer: text, format badge, correctness, citations, timings and costs."""
    with st.container(key=key):
        label, colour, icon = FORMAT_BADGES[answer.parse.status]
        with st.container(horizontal=True):
            st.badge(label, color=colour, icon=icon)  # type: ignore[arg-type]
            if judgement is not None:
                text, vcolour = VERDICT_BADGES[judgement.verdict]
                st.badge(text, color=vcolour, help=judgement.note)  # type: ignore[arg-type]
            if answer.parse.parsed is not None:
                st.badge(f"confidence {answer.parse.parsed.confidence}", color="blue")
        render_untrusted_text(answer.display_text)  # the model's text: images and HTML never load
        if answer.parse.status not in ("ok", "free_text"):
            st.caption(escape_markdown(f"Format: {answer.parse.detail}"))
        for citation in answer.citations:
            title = f"[{citation.number}] " if citation.number else ""
            with st.expander(f"{title}{inline_code(citation.chunk_id)} — {CITATION_NOTES[citation.status]}"):
                st.caption(escape_markdown(citation.title))
                st.text(citation.text or "This id matches no chunk of the workspace.")
        t = answer.timings
        with st.container(horizontal=True):
            st.metric("Total", f"{t.total_ms / 1000:.2f} s",
                      help=f"Queue {t.queue_wait_ms:.0f} ms · retrieval {t.retrieval_ms:.0f} ms · "
                      f"prompt eval {t.prompt_eval_ms:.0f} ms · generation {t.generation_ms:.0f} ms")
            st.metric("First token", f"{t.ttft_ms / 1000:.2f} s")
        with st.container(horizontal=True):
            st.metric("Prompt tokens", f"{t.prompt_tokens:,}", help=f"{t.cached_prompt_tokens} reused from cache")
            st.metric("Answer tokens", t.completion_tokens)
        c = answer.cost
        with st.container(horizontal=True):
            st.metric("Local", usd(c.local_total_usd),
                      help=f"{c.compute_seconds:.2f} s × ${c.dollars_per_hour:g}/h"
                      + (f" + training {usd(c.amortized_usd)}" if c.amortized_usd else ""))
            st.metric(f"As {c.reference_model}", usd(c.api_total_usd),
                      help="The same tokens at the hosted model's list price"
                      + (f" + training {usd(c.amortized_usd)}" if c.amortized_usd else ""))
        if answer.finish_reason == "length":
            st.caption("Stopped at the answer-length limit.")
        with st.expander("Retrieved chunks and raw output"):
            for chunk in answer.retrieved:
                st.caption(f"[{chunk.number}] {inline_code(chunk.chunk_id)} · {escape_markdown(chunk.title)} · "
                           f"score {chunk.score:.3f}")
            if not answer.retrieved:
                st.caption("This mode does not retrieve.")
            st.code(answer.text or " ", language="json" if answer.mode.expects_json else None,
                    wrap_lines=True)


def latency_figure(answers: list[Answer]) -> go.Figure:
    """Stacked horizontal bars: where each mode's time went (ms)."""
    fig = go.Figure()
    labels = [a.mode.label for a in answers]
    for field, label, colour in LATENCY_STAGES:
        fig.add_bar(y=labels, x=[float(getattr(a.timings, field)) for a in answers], name=label,
                    orientation="h", marker_color=colour,
                    hovertemplate=f"{label}: %{{x:,.0f}} ms<extra>%{{y}}</extra>")
    fig.update_layout(barmode="stack", height=160 + 45 * len(answers), margin=dict(l=10, r=10, t=30, b=10),
                      title="Latency per mode", xaxis_title="milliseconds",
                      legend=dict(orientation="h", yanchor="top", y=-0.35), yaxis=dict(autorange="reversed"))
    return fig


def cost_figure(answers: list[Answer]) -> go.Figure:
    """Grouped bars: local compute, API-equivalent and amortised training, per mode ($)."""
    labels = [a.mode.label for a in answers]
    reference = answers[0].cost.reference_model if answers else ""
    fig = go.Figure()
    series = (
        ("Local compute", "#5b4bdb", [a.cost.local_compute_usd for a in answers]),
        (f"API-equivalent ({reference})", "#26a69a", [a.cost.api_reference_usd for a in answers]),
        ("Training, amortised", "#ab47bc", [a.cost.amortized_usd for a in answers]),
    )
    for name, colour, values in series:
        fig.add_bar(x=labels, y=values, name=name, marker_color=colour,
                    hovertemplate=f"{name}: $%{{y:.3g}}<extra>%{{x}}</extra>")
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10),
                      title="Cost per query", yaxis_title="US dollars",
                      legend=dict(orientation="h", y=-0.2))
    fig.update_yaxes(tickprefix="$", tickformat=".2g")
    return fig


def render_comparison_charts(answers: list[Answer], *, key: str) -> None:
    """The latency breakdown and the cost per query of this comparison, side by side."""
    if not answers:
        return
    left, right = st.columns(2)
    left.plotly_chart(latency_figure(answers), config=PLOTLY_CONFIG, key=f"{key}-latency")
    right.plotly_chart(cost_figure(answers), config=PLOTLY_CONFIG, key=f"{key}-cost")


def render_mode_form(adapters: list[str], *, key: str) -> dict[str, Any] | None:
    """A form defining a mode; returns its values when submitted (validate with mode_from_form)."""
    with st.form(key=key, border=False):
        left, right = st.columns(2)
        values: dict[str, Any] = {
            "label": left.text_input("Name", max_chars=60, key=f"{key}-label"),
            "id": right.text_input("Id (lowercase, for links and the CLI)", max_chars=40, key=f"{key}-id"),
            "retrieval": left.checkbox("Retrieve chunks", value=True, key=f"{key}-retrieval"),
            "k": left.slider("Chunks (k)", 1, 20, 4, key=f"{key}-k"),
            "search": left.selectbox("Search", ["", "hybrid", "vector", "keyword"], key=f"{key}-search",
                                     format_func=lambda s: s or "as configured"),
            "adapter": right.selectbox("Adapter", ["", *adapters], key=f"{key}-adapter",
                                       format_func=lambda a: a or "none"),
            "adapter_scale": right.slider("Adapter scale", 0.0, 2.0, 1.0, 0.05, key=f"{key}-scale"),
            "prompt": right.selectbox("Prompt", ["grounded", "fewshot", "plain"], key=f"{key}-prompt"),
            "constrained": right.checkbox("Grammar-constrained JSON", key=f"{key}-constrained"),
            "description": st.text_input("Description (optional)", max_chars=400, key=f"{key}-description"),
        }
        if st.form_submit_button("Save the mode", icon=":material/save:"):
            return values
    return None


def render_cost_settings(config: EconomicsConfig, *, default_rate: float, key: str) -> dict[str, Any] | None:
    """The editable cost model; returns the edited values when saved (validate before use)."""
    with st.form(key=key, border=False):
        left, middle, right = st.columns(3)
        rate = left.number_input("This machine, $ per hour", min_value=0.0, max_value=1000.0, step=0.01,
                                 value=float(config.dollars_per_hour(default_rate)), format="%.5f",
                                 key=f"{key}-rate", help="Default from RAGTUNE_COMPUTE_DOLLARS_PER_HOUR.")
        training = middle.number_input("Adapter training, $ once", min_value=0.0, max_value=1e7,
                                       value=float(config.training_cost_usd), key=f"{key}-training")
        queries = right.number_input("…spread over queries", min_value=1, max_value=10**12,
                                     value=int(config.amortize_over_queries), key=f"{key}-queries")
        names = [p.model for p in config.prices.prices]
        reference = left.selectbox("Reference API model for the charts", names,
                                   index=names.index(config.reference_model), key=f"{key}-reference")
        as_of = middle.date_input("Prices as of", value=config.prices.as_of, key=f"{key}-as-of")
        rows = st.data_editor(
            [p.model_dump() for p in config.prices.prices], num_rows="dynamic", key=f"{key}-prices",
            column_config={
                "model": st.column_config.TextColumn("Model", required=True),
                "provider": st.column_config.TextColumn("Provider"),
                "input_per_m": st.column_config.NumberColumn("Input $/1M", min_value=0.0, format="%.3f"),
                "output_per_m": st.column_config.NumberColumn("Output $/1M", min_value=0.0, format="%.3f"),
                "cached_input_per_m": st.column_config.NumberColumn("Cached input $/1M", min_value=0.0,
                                                                    format="%.3f"),
                "cache_min_tokens": st.column_config.NumberColumn("Cache from (tokens)", min_value=0),
            },
        )
        st.caption(f"Source: {config.prices.source}")
        if st.form_submit_button("Save the cost settings", icon=":material/save:"):
            return {"compute_dollars_per_hour": rate, "training_cost_usd": training,
                    "amortize_over_queries": int(queries), "reference_model": reference,
                    "as_of": as_of if isinstance(as_of, date) else config.prices.as_of,
                    "source": config.prices.source, "rows": list(rows)}
    return None
