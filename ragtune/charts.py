"""The comparison charts as plain plotly figures: where each mode's time went, and what a query costs.

Built here, not in a component, because two readers draw them: the Lab page (``st.plotly_chart``)
and the exported one-pager (:mod:`ragtune.lab_export`, plotly's own HTML). Both get the same
figure from the same :class:`ModeMeasure` rows, read off a fresh answer or a logged one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import plotly.graph_objects as go
from pydantic import BaseModel, ConfigDict

from ragtune.answer import AnswerTimings

if TYPE_CHECKING:
    from ragtune.answer import Answer
    from ragtune.store import LogEntry

# Latency stages in the order they happen; each keeps its colour on every chart of the app.
LATENCY_STAGES: tuple[tuple[str, str, str], ...] = (
    ("queue_wait_ms", "Queue wait", "#9e9e9e"),
    ("routing_ms", "Routing", "#ec407a"),
    ("retrieval_ms", "Retrieval", "#ffa726"),
    ("adapter_switch_ms", "Adapter switch", "#ab47bc"),
    ("prompt_eval_ms", "Prompt eval", "#42a5f5"),
    ("generation_ms", "Generation", "#66bb6a"),
)


class ModeMeasure(BaseModel):
    """One mode's answer as the charts see it: its label, timings and costs (US dollars)."""

    model_config = ConfigDict(frozen=True)

    label: str
    timings: AnswerTimings
    local_usd: float
    api_usd: float
    amortized_usd: float
    api_model: str

    @classmethod
    def of(cls, answer: Answer | LogEntry) -> ModeMeasure:
        """The measures of a fresh answer (the Lab) or a logged one (a permalink, History)."""
        from ragtune.answer import Answer

        if isinstance(answer, Answer):
            c = answer.cost
            return cls(label=answer.mode.label, timings=answer.timings, local_usd=c.local_compute_usd,
                       api_usd=c.api_reference_usd, amortized_usd=c.amortized_usd, api_model=c.reference_model)
        return cls(label=answer.mode_label, timings=answer.timings, local_usd=answer.local_cost_usd,
                   api_usd=answer.api_cost_usd, amortized_usd=answer.amortized_usd, api_model=answer.api_model)


def _inert(label: str) -> str:
    # Plotly draws a subset of HTML in labels (links among it); a mode's label is its author's
    # text, so its "<" is drawn as the character (plotly decodes the entity), never as markup.
    return label.replace("&", "&amp;").replace("<", "&lt;")


def latency_figure(measures: Sequence[ModeMeasure]) -> go.Figure:
    """Stacked horizontal bars: where each mode's time went (ms)."""
    fig = go.Figure()
    labels = [_inert(m.label) for m in measures]
    for field, label, colour in LATENCY_STAGES:
        fig.add_bar(y=labels, x=[float(getattr(m.timings, field)) for m in measures], name=label,
                    orientation="h", marker_color=colour,
                    hovertemplate=f"{label}: %{{x:,.0f}} ms<extra>%{{y}}</extra>")
    fig.update_layout(barmode="stack", height=160 + 45 * len(measures), margin=dict(l=10, r=10, t=30, b=10),
                      title="Latency per mode", xaxis_title="milliseconds",
                      legend=dict(orientation="h", yanchor="top", y=-0.35), yaxis=dict(autorange="reversed"))
    fig.update_yaxes(automargin=True)  # the mode labels fit outside Streamlit's theme too (the export)
    return fig


def cost_figure(measures: Sequence[ModeMeasure]) -> go.Figure:
    """Grouped bars: local compute, API-equivalent and amortised training, per mode ($)."""
    labels = [_inert(m.label) for m in measures]
    reference = _inert(measures[0].api_model) if measures else ""
    fig = go.Figure()
    series = (
        ("Local compute", "#5b4bdb", [m.local_usd for m in measures]),
        (f"API-equivalent ({reference})", "#26a69a", [m.api_usd for m in measures]),
        ("Training, amortised", "#ab47bc", [m.amortized_usd for m in measures]),
    )
    for name, colour, values in series:
        fig.add_bar(x=labels, y=values, name=name, marker_color=colour,
                    hovertemplate=f"{name}: $%{{y:.3g}}<extra>%{{x}}</extra>")
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=30, b=10),
                      title="Cost per query", yaxis_title="US dollars",
                      legend=dict(orientation="h", y=-0.2))
    fig.update_yaxes(tickprefix="$", tickformat=".2g", automargin=True)
    return fig
