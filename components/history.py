"""Query-log views: latency and cost over time coloured by mode, the log table, one entry's answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st

from components.answer_card import render_answer_card
from components.format import LATENCY_STAGES, PLOTLY_CONFIG
from components.safe import escape_markdown
from ragtune.evaluation.scoring import format_outcome
from ragtune.runtime.stops import STOPPED_LABELS

if TYPE_CHECKING:
    from ragtune.store import LogEntry

# One colour per mode id, the same on every chart (user modes cycle through the rest).
MODE_COLOURS: dict[str, str] = {
    "base": "#9e9e9e", "rag": "#42a5f5", "lora": "#ab47bc", "rag+lora": "#5b4bdb",
    "rag+fewshot": "#ffa726", "knowledge-lora": "#ef5350", "constrained": "#80cbc4",
    "rag+constrained": "#26a69a", "route": "#5c6bc0",
}
EXTRA_COLOURS = ("#8d6e63", "#d4e157", "#ec407a", "#29b6f6", "#66bb6a", "#ffca28")


def mode_colour(mode_id: str, order: list[str]) -> str:
    if mode_id in MODE_COLOURS:
        return MODE_COLOURS[mode_id]
    return EXTRA_COLOURS[order.index(mode_id) % len(EXTRA_COLOURS)] if mode_id in order else "#000000"


def _by_mode(entries: list[LogEntry]) -> dict[str, list[LogEntry]]:
    groups: dict[str, list[LogEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.mode_id, []).append(entry)
    return groups


def over_time_figure(entries: list[LogEntry], *, metric: str, title: str, axis: str,
                     money: bool = False) -> go.Figure:
    """One marker per query over time, coloured by mode."""
    fig = go.Figure()
    groups = _by_mode(entries)
    order = list(groups)
    for mode_id, rows in groups.items():
        fig.add_scatter(
            x=[r.created_at for r in rows], y=[float(getattr(r, metric)) for r in rows], name=mode_id,
            mode="markers+lines", marker=dict(size=8, color=mode_colour(mode_id, order)),
            line=dict(width=1, color=mode_colour(mode_id, order)),
            customdata=[[r.id, r.query[:60]] for r in rows],
            hovertemplate=(f"#%{{customdata[0]}} %{{customdata[1]}}<br>{axis}: "
                           + ("$%{y:.3g}" if money else "%{y:,.0f}") + f"<extra>{mode_id}</extra>"),
        )
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10), yaxis_title=axis,
                      legend=dict(orientation="h", y=-0.2), hovermode="closest")
    if money:
        fig.update_yaxes(tickprefix="$", tickformat=".2g")
    return fig


def mean_latency_figure(entries: list[LogEntry]) -> go.Figure:
    """Mean latency breakdown per mode over the entries (stacked bars)."""
    groups = _by_mode(entries)
    fig = go.Figure()
    for field, label, colour in LATENCY_STAGES:
        fig.add_bar(x=list(groups), y=[sum(getattr(r, field) for r in rows) / len(rows) for rows in groups.values()],
                    name=label, marker_color=colour, hovertemplate=f"{label}: %{{y:,.0f}} ms<extra>%{{x}}</extra>")
    fig.update_layout(barmode="stack", title="Mean latency per mode", height=320, yaxis_title="milliseconds",
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.2))
    return fig


def render_history_charts(entries: list[LogEntry], *, key: str) -> None:
    """Latency and cost per query over time, coloured by mode (nothing to draw: a hint)."""
    if not entries:
        st.info("No queries logged yet: run a comparison in the Lab.", icon=":material/info:")
        return
    left, right = st.columns(2)
    left.plotly_chart(over_time_figure(entries, metric="total_ms", title="Latency per query",
                                       axis="total ms"), config=PLOTLY_CONFIG, key=f"{key}-latency")
    reference = entries[-1].api_model
    right.plotly_chart(over_time_figure(entries, metric="api_cost_usd", title=f"API-equivalent cost per "
                                        f"query ({reference})", axis="US dollars", money=True),
                       config=PLOTLY_CONFIG, key=f"{key}-api-cost")
    left.plotly_chart(over_time_figure(entries, metric="local_cost_usd", title="Local compute cost per query",
                                       axis="US dollars", money=True), config=PLOTLY_CONFIG,
                      key=f"{key}-local-cost")
    right.plotly_chart(mean_latency_figure(entries), config=PLOTLY_CONFIG, key=f"{key}-mean")


def render_log_table(entries: list[LogEntry], *, key: str, show_user: bool = False) -> int | None:
    """The log, newest first (with who asked, ``show_user``); returns the id of the row the user clicked, if any."""
    rows = [
        {"#": e.id, "time (UTC)": e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
         **({"user": e.user or "(before sign-in)"} if show_user else {}), "mode": e.mode_id,
         "route": e.route_text, "query": e.query, "answer": e.display_answer[:120],
         "verdict": e.verdict or ("not judged" if e.verdict_note else ""),  # correctness first, as on the card
         "format": format_outcome(e.parse_status, e.answer).label,
         "stopped": STOPPED_LABELS.get(e.finish_reason, ""),
         "total s": round(e.total_ms / 1000, 2),
         "prompt tok": e.prompt_tokens, "answer tok": e.completion_tokens, "local $": e.local_cost_usd,
         "API $": e.api_cost_usd, "workspace": e.workspace, "model": e.model_id, "adapter": e.adapter}
        for e in reversed(entries)
    ]
    event = st.dataframe(rows, hide_index=True, key=key, on_select="rerun", selection_mode="single-row",
                         column_config={"local $": st.column_config.NumberColumn(format="$%.2e"),
                                        "API $": st.column_config.NumberColumn(format="$%.2e")})
    selected = getattr(getattr(event, "selection", None), "rows", None) or []
    return rows[selected[0]]["#"] if selected else None


def render_entry(entry: LogEntry, *, key: str) -> None:
    """One logged answer in full: the query, then the answer card (badges with the stored verdict,
    citations, timings, costs), and where it ran."""
    with st.container(border=True, key=key):
        # The query, the answer and the names are other users' (and the model's) text: rendered inert.
        st.markdown(f"**#{entry.id} · {escape_markdown(entry.mode_label)}** — {escape_markdown(entry.query)}")
        render_answer_card(entry, key=f"{key}-card")
        st.caption(escape_markdown(
            f"{entry.created_at:%Y-%m-%d %H:%M:%S} UTC · {entry.model_id} · "
            f"adapter {entry.adapter or 'none'} · workspace {entry.workspace or 'none'}"
            + (f" · asked by {entry.user}" if entry.user else "")
        ))
