"""The decision wizard's pieces: a step of questions, its navigation, the recommendation, the
break-even chart, the architecture diagram and the record to share. They draw
ragtune.decision objects; the figure and DOT builders are plain functions so tests can check
them without a browser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitAPIException

from components.format import PLOTLY_CONFIG, money
from components.safe import escape_markdown
from ragtune.decision.answers import WizardAnswers
from ragtune.decision.economics import CostComparison, CostOption, CostSection
from ragtune.decision.questions import Question, Step
from ragtune.decision.recommendation import Part, Recommendation

PROMPT_COLOUR = "#ef6c00"
ADAPTER_COLOUR = "#1e88e5"
RETRIEVAL_FILL = "#d6e6ff"
TUNED_FILL = "#ffe0b2"
PLAIN_FILL = "#eeeeee"


# --- the wizard ------------------------------------------------------------------------------


def render_progress(step: Step, *, total: int, key: str) -> None:
    """A progress bar with "Step n of total: title", and the step's introduction."""
    with st.container(key=key):
        st.progress(step.number / total, text=f"Step {step.number} of {total}: {step.title}")
        st.subheader(step.title, anchor=False)
        st.caption(_md(step.intro))


def render_question(question: Question, value: Any, *, key: str,
                    on_change: Callable[..., None], args: tuple[Any, ...] = ()) -> Any:
    """Draw one question with the widget its kind calls for; return the widget's value.

    Numbers are bounded by the question's ``min_value``/``max_value`` (taken from the
    answers model), so the widget cannot produce a value the logic would reject.
    """
    common: dict[str, Any] = {"key": key, "help": _md(question.help) or None,
                              "on_change": on_change, "args": args}
    label = _md(question.label)
    if question.kind == "bool":
        return st.checkbox(label, value=bool(value), **common)
    if question.kind == "choice":
        options = list(question.options)
        index = options.index(str(value)) if str(value) in options else 0
        widget = st.radio if len(options) <= 3 else st.selectbox
        return widget(label, options, index=index,
                      format_func=question.options.__getitem__, **common)
    if question.kind == "text":
        return st.text_input(label, value=str(value or ""),
                             max_chars=question.max_chars, **common)
    if question.kind == "int":
        return st.number_input(
            label, value=None if value is None else int(value),
            min_value=int(question.min_value or 0),
            max_value=None if question.max_value is None else int(question.max_value),
            step=1, placeholder="not given" if question.optional else None, **common)
    return st.number_input(
        label, value=None if value is None else float(value),
        min_value=float(question.min_value or 0.0),
        max_value=None if question.max_value is None else float(question.max_value),
        step=0.5, format="%.2f", placeholder="not given" if question.optional else None, **common)


def render_step(step: Step, questions: Sequence[Question], answers: WizardAnswers, *,
                total: int, key: str, on_change: Callable[[str], None]) -> None:
    """One wizard step: its progress and introduction, then its questions, advanced ones folded.

    Each question's widget has the key ``f"{key}.{question.id}"`` and calls
    ``on_change(question.id)`` when the user changes it.
    """
    render_progress(step, total=total, key=f"{key}-progress")

    def ask(question: Question) -> None:
        render_question(question, getattr(answers, question.id), key=f"{key}.{question.id}",
                        on_change=on_change, args=(question.id,))

    for question in questions:
        if not question.advanced:
            ask(question)
    advanced = [q for q in questions if q.advanced]
    if advanced:
        with st.expander("More cost settings", icon=":material/tune:"):
            for question in advanced:
                ask(question)


def render_step_nav(number: int, *, total: int, go_to: Callable[[int], None], key: str) -> None:
    """Back and Next (on the last step, "See the recommendation"); ``go_to(step)`` on click."""
    with st.container(horizontal=True, key=f"{key}.nav"):
        st.button("Back", key=f"{key}.back", icon=":material/arrow_back:",
                  disabled=number == 1, on_click=go_to, args=(number - 1,))
        st.button("See the recommendation" if number == total else "Next", key=f"{key}.next",
                  type="primary", icon=":material/arrow_forward:", on_click=go_to,
                  args=(number + 1,))


# --- the result ------------------------------------------------------------------------------


def render_recommendation(rec: Recommendation, *, key: str) -> None:
    """Headline, confidence, the parts and their jobs, why, warnings, what to try first."""
    with st.container(border=True, key=f"{key}-box"):
        st.markdown(f"### {_md(rec.headline)}")
        left, right = st.columns([3, 1])
        right.metric("Confidence", f"{rec.confidence:.0%}", rec.confidence_level,
                     delta_color="off", delta_arrow="off",
                     help="Lowered by contradictions, untested prompting, too few examples "
                          "and a cost case that does not pay back.")
        with left:
            for part in rec.parts:
                st.markdown(_md(f"- **{part.role.capitalize()}** ({part.part.value}): "
                                f"{part.does}"))
    st.markdown("#### Why")
    st.markdown(_md("\n".join(f"- {line}" for line in rec.rationale)))
    for warning in rec.warnings:
        evidence = "".join(f"\n- {e}" for e in warning.evidence)
        st.warning(_md(f"**{warning.title}.** {warning.message}{evidence}"),
                   icon=":material/warning:")
    st.markdown("#### What to try first")
    steps = rec.try_first or ["Start with a base model and a clear prompt."]
    st.markdown(_md("\n".join(f"{n}. {s}" for n, s in enumerate(steps, 1))))
    with st.expander("Alternatives considered and consequences", icon=":material/balance:"):
        st.markdown(_md("\n".join(f"- **{a.option}** ({a.verdict}): {a.reason}"
                                   for a in rec.alternatives)))
        st.markdown(_md("\n".join(f"- {c}" for c in rec.consequences)))


def render_cost_summary(costs: CostSection, *, key: str) -> None:
    """The options weighed: one metric each (a month's inference), the verdict, the break-even
    where a tuned option is on the table, then the figures given and every assumption."""
    with st.container(key=f"{key}-metrics", horizontal=True):
        for option in costs.options:
            role = {"recommended": "recommended", "alternative": "weighed",
                    "added": "added"}[option.role]
            st.metric(_md(cost_label(option)), money(option.upfront if option.monthly is None
                                                     else option.monthly),
                      role, delta_color="off", delta_arrow="off",
                      help=_md(option.note + _option_detail(option)))
        if costs.break_even is not None:
            month = costs.break_even.break_even_month
            st.metric("Break-even", "never" if month is None else f"month {month}",
                      help="First month the running total of "
                           + ("the adapter" if costs.tuned == "adapter" else "the classifier")
                           + " is at or below your prompt's, retraining included.")
    st.markdown(_md(costs.verdict))
    if costs.given:
        st.caption(_md("Your figures: " + "; ".join(costs.given) + "."))
    for assumption in costs.assumptions:
        st.caption(_md(assumption.text))


def _md(text: str) -> str:
    """Text drawn as Markdown, dollars kept as text: Streamlit reads ``$…$`` as LaTeX, so a
    verdict such as "$200 a training run and $200 a year" would lose its figures; the answers
    the team typed (its workload's name) are drawn inert too."""
    return escape_markdown(text)


def cost_label(option: CostOption) -> str:
    """The metric's label: a month's inference, or (no running cost modelled) a training run."""
    return f"{option.label} / month" if option.monthly is not None else f"{option.label}, training"


def _option_detail(option: CostOption) -> str:
    parts = []
    if option.prompt_tokens is not None:
        parts.append(f"{option.prompt_tokens:,} prompt tokens per request")
    if option.retry_rate:
        parts.append(f"{option.retry_rate:.0%} of requests retried")
    if option.upfront:
        parts.append(f"{money(option.upfront)} a training run, "
                     f"{money(option.retraining_per_year)} a year of retraining")
    return (" " + "; ".join(parts) + ".") if parts else ""


def break_even_figure(costs: CostComparison, *, tuned: str = "adapter") -> go.Figure:
    """Cumulative cost of the prompt and the tuned option (``tuned``: "adapter" or
    "classifier") over months, the crossing point marked."""
    name = f"{tuned.capitalize()} approach"
    fig = go.Figure()
    fig.add_scatter(x=costs.months, y=costs.prompt_cumulative, name="Prompt approach",
                    mode="lines", line=dict(color=PROMPT_COLOUR, width=3),
                    hovertemplate="Month %{x}: $%{y:,.0f}<extra>Prompt approach</extra>")
    fig.add_scatter(x=costs.months, y=costs.adapter_cumulative, name=name,
                    mode="lines", line=dict(color=ADAPTER_COLOUR, width=3),
                    hovertemplate=f"Month %{{x}}: $%{{y:,.0f}}<extra>{name}</extra>")
    if costs.crossing is not None:
        fig.add_scatter(x=[costs.crossing.month], y=[costs.crossing.cost], name="Break-even",
                        mode="markers", marker=dict(size=14, color="#2e7d32", symbol="diamond"),
                        hovertemplate="Break-even near month %{x:.1f}: $%{y:,.0f}<extra></extra>")
        fig.add_annotation(x=costs.crossing.month, y=costs.crossing.cost,
                           text=f"break-even: month {costs.break_even_month}",
                           showarrow=True, arrowhead=2, ay=-40)
    else:
        fig.add_annotation(xref="paper", yref="paper", x=0.02, y=0.98, showarrow=False,
                           xanchor="left", text=f"The {tuned} does not pay back in this range.")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis_title="months", yaxis_title="cumulative cost ($)",
                      legend=dict(orientation="h", y=-0.2), hovermode="x unified")
    fig.update_yaxes(tickprefix="$", rangemode="tozero")
    return fig


def render_break_even_chart(costs: CostComparison, *, key: str, tuned: str = "adapter") -> None:
    """The break-even chart of the prompt vs the tuned option, with a one-line reading of it."""
    st.plotly_chart(break_even_figure(costs, tuned=tuned), config=PLOTLY_CONFIG,
                    key=f"{key}-chart")
    month, horizon = costs.break_even_month, costs.inputs.horizon_months
    if month is None:
        st.caption(_md(f"At these numbers the {tuned} never catches up: it saves "
                       f"{money(costs.monthly_savings)} a month on inference, which does not "
                       "cover training and retraining."))
    elif month > horizon:
        st.caption(f"The {tuned} pays back only in month {month}, beyond the {horizon}-month "
                   "horizon.")
    else:
        st.caption(_md(f"The {tuned} pays back in month {month}, then saves "
                       f"{money(costs.monthly_savings)} a month on inference."))


def architecture_dot(rec: Recommendation) -> str:
    """The seed's combined pattern as Graphviz DOT, with only the parts this workload needs.

    Orange boxes are fine-tuned, blue ones are retrieval, grey ones are used as they are.
    """
    have = {p.part for p in rec.parts}
    detail = {p.part: p.detail for p in rec.parts}
    nodes = ['user [label="User query", shape=oval, fillcolor=white]',
             'response [label="Response", shape=oval, fillcolor=white]']
    edges: list[str] = []

    def node(name: str, label: str, fill: str, shape: str = "box") -> None:
        nodes.append(f'{name} [label="{_dot_escape(label)}", fillcolor="{fill}", shape={shape}]')

    entry = "user"
    if Part.ROUTER in have:
        node("router", "Intent classifier\n(small fine-tuned model)", TUNED_FILL)
        edges.append("user -> router")
        entry = "router"
    if Part.RAG in have:
        node("docs", "Documents\n(re-indexed on change)", RETRIEVAL_FILL, "cylinder")
        node("retriever", "Retriever\n(vector / hybrid search)", RETRIEVAL_FILL)
        edges.append("docs -> retriever [style=dashed]")
        edge_label = "RAG route" if entry == "router" else "query"
        edges.append(f'{entry} -> retriever [label="{edge_label}"]')
    if Part.CLASSIFIER in have:
        node("classifier", "Classifier\n(small purpose-built or fine-tuned)", TUNED_FILL)
        if Part.RAG in have:
            edges.append('retriever -> classifier [label="passages"]')
        else:
            edges.append(f"{entry} -> classifier")
        edges.append('classifier -> response [label="label"]')
    else:
        node("model", "Model\n(reasoner, not fine-tuned)", PLAIN_FILL)
        if Part.RAG in have:
            edges.append('retriever -> model [label="passages"]')
            if entry == "router":
                edges.append('router -> model [label="direct route"]')
        else:
            edges.append(f"{entry} -> model")
        if Part.PROMPT in have:
            node("prompt", f"Prompt\n({detail[Part.PROMPT] or 'instructions'})", PLAIN_FILL,
                 "note")
            edges.append("prompt -> model [style=dashed]")
        if Part.ADAPTER in have:
            node("adapter", f"LoRA adapter\n({_wrap(detail[Part.ADAPTER])})", TUNED_FILL)
            edges.append('adapter -> model [style=dashed, label="applied to"]')
        if Part.CONSTRAINED in have:
            node("constrained", "Constrained decoding\n(JSON-schema grammar)", PLAIN_FILL)
            edges.append("model -> constrained")
            edges.append("constrained -> response")
        else:
            edges.append("model -> response")
    body = "\n  ".join(nodes + edges)
    return ("digraph architecture {\n  rankdir=TB;\n"
            '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];\n'
            '  edge [fontname="Helvetica", fontsize=9];\n'
            f"  {body}\n}}\n")


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _wrap(text: str, width: int = 28) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])


def render_architecture(rec: Recommendation, *, key: str) -> None:
    """The architecture to build as a diagram, with its colour legend."""
    parts = ", ".join(f"{p.part.value} ({p.role})" for p in rec.parts)
    with st.container(key=f"{key}-graph"):
        st.graphviz_chart(architecture_dot(rec), alt=f"Architecture diagram: {parts}.")
    st.caption("Orange: fine-tuned. Blue: retrieval. Grey: used as it is. "
               "Only the parts this workload needs are drawn.")


def render_lab_modes(modes: list[str], recommended: str, *, key: str) -> None:
    """The Lab modes to compare, as inline code, the recommended one marked."""
    shown = ", ".join(f"`{m}`" + (" (recommended)" if m == recommended else "") for m in modes)
    st.markdown(f"Modes to compare in the Lab: {shown}")


def render_lab_link(rec: Recommendation, lab_page: Path, query: dict[str, str], *,
                    key: str) -> None:
    """The Lab modes, and a link that opens the Lab with them (when the Lab is a page here)."""
    render_lab_modes(rec.lab_modes, rec.recommended_mode, key=key)
    try:
        st.page_link(lab_page, label="Open the Lab with these modes",
                     icon=":material/science:", query_params=query)
    except StreamlitAPIException:
        # Run standalone (not through app.py): the Lab is not a registered page here.
        st.caption("Open the app through app.py to jump to the Lab with these modes.")


def render_record_share(markdown: str, json_text: str, *, link: str, stem: str, key: str,
                        edit: Callable[[], None], restart: Callable[[], None]) -> None:
    """The decision record to download (Markdown, JSON), the link, a preview, and what next.

    ``stem`` is the file name without its suffix; ``edit`` and ``restart`` are the callbacks
    of "Change the answers" and "Start over".
    """
    with st.container(horizontal=True, key=f"{key}.downloads"):
        st.download_button("Decision record (Markdown)", markdown, file_name=f"{stem}.md",
                           mime="text/markdown", key=f"{key}.download_md", on_click="ignore",
                           icon=":material/description:")
        st.download_button("Decision record (JSON)", json_text, file_name=f"{stem}.json",
                           mime="application/json", key=f"{key}.download_json",
                           on_click="ignore", icon=":material/data_object:")
    st.caption("A link that reopens this result (copy it from the address bar, or here):")
    st.code(link, language=None, wrap_lines=True)
    with st.expander("Preview the decision record", icon=":material/visibility:"):
        st.code(markdown, language="markdown", wrap_lines=True)
    with st.container(horizontal=True, key=f"{key}.result_nav"):
        st.button("Change the answers", key=f"{key}.edit", icon=":material/edit:", on_click=edit)
        st.button("Start over", key=f"{key}.restart", icon=":material/restart_alt:",
                  on_click=restart)
