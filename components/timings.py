"""How long one answer took, and where the time went."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st

from components.format import LATENCY_STAGES, PLOTLY_CONFIG

if TYPE_CHECKING:
    from ragtune.runtime import Timings

# The model's own stages (a runtime's timings have no retrieval or routing), in the app's colours.
STAGES = tuple(stage for stage in LATENCY_STAGES if stage[0] not in ("retrieval_ms", "routing_ms"))


def timings_figure(timings: Timings, *, title: str | None = None) -> go.Figure:
    """A horizontal stacked bar: queue, adapter switch, prompt eval, generation (ms)."""
    fig = go.Figure()
    for field, label, colour in STAGES:
        value = float(getattr(timings, field))
        fig.add_bar(
            y=[""],
            x=[value],
            name=label,
            orientation="h",
            marker_color=colour,
            hovertemplate=f"{label}: %{{x:.1f}} ms<extra></extra>",
        )
    fig.update_layout(
        barmode="stack",
        height=150,
        margin=dict(l=10, r=10, t=30 if title else 10, b=10),
        title=title,
        xaxis_title="milliseconds",
        legend=dict(orientation="h", y=-0.6),
        showlegend=True,
    )
    return fig


def render_timings(timings: Timings, *, key: str) -> None:
    """Draw the timing bar and the token figures of one answer."""
    st.plotly_chart(timings_figure(timings), config=PLOTLY_CONFIG, key=f"{key}-chart")
    cols = st.columns(5)
    cols[0].metric("Total", f"{timings.total_ms / 1000:.2f} s")
    cols[1].metric("Time to first token", f"{timings.ttft_ms:.0f} ms")
    cols[2].metric(
        "Prompt tokens",
        timings.prompt_tokens,
        help=f"{timings.cached_prompt_tokens} of them were reused from the KV cache.",
    )
    cols[3].metric("Answer tokens", timings.completion_tokens)
    cols[4].metric("Speed", f"{timings.tokens_per_s:.0f} tok/s", help="Decode speed after the first token.")
