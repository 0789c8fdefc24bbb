"""The Lab's views: the question controls, the live columns of a comparison (with "mode k of n"),
the mode header, the latency and cost charts, the mode and cost forms (the answer card is
:mod:`components.answer_card`; a finished comparison, its exports and permalink are
:mod:`components.lab_results`)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from contextlib import closing
from datetime import date
from typing import TYPE_CHECKING, Any

import streamlit as st

from components.format import PLOTLY_CONFIG
from components.safe import CURSOR, Redraws, escape_markdown, render_untrusted_text
from ragtune.charts import ModeMeasure, cost_figure, latency_figure
from ragtune.lab import (MAX_QUESTION_CHARS, Failed, Finished, LabEvent, Started, Token, Waiting, finished_text,
                         progress_text)

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from ragtune.answer import Answer
    from ragtune.economics import EconomicsConfig
    from ragtune.evaluation.sets import EvalCase
    from ragtune.lab import LabQuestion
    from ragtune.modes import Mode
    from ragtune.store import LogEntry

WAITING = "Waiting for the model: another session is using it. The wait counts in this answer's latency."
FIRST_TOKEN = "Sent: waiting for the first token (the prompt is read first)…"


def render_mode_header(mode: Mode, *, key: str) -> None:
    """The mode's name and what it does."""
    with st.container(key=key):
        st.subheader(escape_markdown(mode.label), anchor=False)  # a user's own mode: their text
        st.caption(escape_markdown(mode.summary()), help=escape_markdown(mode.description) or None)


def render_lab_controls(demos: list[tuple[LabQuestion, EvalCase]], modes: list[Mode], workspaces: list[str],
                        demo_workspace: str, *, key: str) -> tuple[str, list[str], str | None]:
    """Demo question, question, modes and workspace; returns (question, mode ids, workspace).

    Picking a demo question fills the question box (``{key}_question``) and states the seed's
    prediction for it; the widgets' keys are ``{key}_demo``, ``_question``, ``_modes``, ``_workspace``.
    """
    by_id = {case.id: (item, case) for item, case in demos}

    def use_demo_question() -> None:
        picked = st.session_state.get(f"{key}_demo")
        if picked in by_id:
            st.session_state[f"{key}_question"] = by_id[picked][1].question

    st.selectbox("Demo question", ["", *by_id], key=f"{key}_demo", on_change=use_demo_question,
                 format_func=lambda i: f"{by_id[i][0].thesis}: “{by_id[i][1].question}”" if i else
                 "(your own question)")
    # No max_chars: the browser would drop an over-long paste without a word. The limit is shown,
    # and a longer question is refused with its length (the core checks it again).
    question = st.text_area(f"Question (up to {MAX_QUESTION_CHARS:,} characters)", key=f"{key}_question",
                            height=80, placeholder="Ask something your documents answer…")
    if len(question.strip()) > MAX_QUESTION_CHARS:
        st.error(f"This question is {len(question.strip()):,} characters long; the limit is "
                 f"{MAX_QUESTION_CHARS:,}. Shorten it to compare.", icon=":material/warning:")
    left, right = st.columns([2, 1])
    labels = {m.id: m.label for m in modes}
    chosen = left.multiselect("Modes to compare", list(labels), key=f"{key}_modes",
                              format_func=lambda i: labels.get(i, i))
    if workspaces and st.session_state.get(f"{key}_workspace") not in workspaces:
        # set here, not with index=: a link or "run again" may have set it already
        st.session_state[f"{key}_workspace"] = demo_workspace if demo_workspace in workspaces else workspaces[0]
    workspace = right.selectbox("Workspace", workspaces, key=f"{key}_workspace")
    if not workspaces:
        right.caption("No workspace yet: create one on the Knowledge page.")
    if st.session_state.get(f"{key}_demo") in by_id:
        item = by_id[st.session_state[f"{key}_demo"]][0]
        st.info(escape_markdown(f"The seed predicts: {item.prediction}"), icon=":material/lightbulb:")
        # one clear example is not a typical one: the set-wide rate stands beside it
        st.caption(escape_markdown(item.measured) if item.measured else "Not measured on this model yet: this is "
                   "the demo's own pick. Run the claims report (Benchmark page) to choose the showcases by "
                   "measurement and see their rates.")
    return question, chosen, workspace


def render_live_comparison(events: Generator[LabEvent, None, None], total: int, *, key: str) -> list[Finished | Failed]:
    """Stream a comparison's events (:func:`ragtune.lab.compare`) into one column per mode as they
    arrive, under a progress bar: which mode answers ("Mode 2 of 4: RAG"), or, when the modes are sent
    at once, how many have finished ("1 of 4 finished"). A mode that fails shows its error in its
    column while the others go on. Returns how each mode ended, in column order. The events are
    closed when drawing stops early (a rerun, the page left), which stops every mode at once."""
    ended: dict[int, Finished | Failed] = {}
    slots: dict[int, DeltaGenerator] = {}
    texts: dict[int, str] = {}
    redraws = Redraws()
    bar = st.progress(0.0, text=f"Starting {total} modes…")
    columns = st.columns(total)
    concurrent = False
    with closing(events):
        for event in events:
            if isinstance(event, Started):
                concurrent = event.concurrent
                with columns[event.index]:
                    render_mode_header(event.mode, key=f"{key}_head_{event.index}_{event.mode.id}")
                    slots[event.index] = slot = st.empty()
                if event.model_busy:
                    slot.info(WAITING, icon=":material/hourglass:")
                elif concurrent:
                    slot.caption(FIRST_TOKEN)
                if not concurrent:
                    bar.progress(event.index / event.total, text=progress_text(event))
                elif event.index == 0:
                    bar.progress(0.0, text=progress_text(event))
            elif isinstance(event, Token):
                texts[event.index] = texts.get(event.index, "") + event.text
                if redraws.due(event.index):
                    slots[event.index].markdown(escape_markdown(texts[event.index]) + CURSOR)  # the model's text: inert
            elif isinstance(event, Waiting):
                bar.progress(len(ended) / total, text=finished_text(len(ended), total, elapsed_s=event.elapsed_s))
            else:
                ended[event.index] = event
                if isinstance(event, Failed):
                    slots[event.index].error(escape_markdown(event.error))
                else:  # the answer so far stays while the others finish; its card comes after
                    render_untrusted_text(texts.get(event.index, ""), container=slots[event.index])
                if concurrent:
                    bar.progress(len(ended) / total, text=finished_text(len(ended), total))
    bar.progress(1.0, text=f"{len(ended)} of {total} modes done.")
    return [ended[index] for index in sorted(ended)]


def render_comparison_charts(answers: Sequence[Answer | LogEntry], *, key: str) -> None:
    """The latency breakdown and the cost per query of this comparison, side by side (fresh or
    logged answers; the figures are :mod:`ragtune.charts`', shared with the exported one-pager)."""
    if not answers:
        return
    measures = [ModeMeasure.of(a) for a in answers]
    left, right = st.columns(2)
    left.plotly_chart(latency_figure(measures), config=PLOTLY_CONFIG, key=f"{key}-latency")
    right.plotly_chart(cost_figure(measures), config=PLOTLY_CONFIG, key=f"{key}-cost")


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
