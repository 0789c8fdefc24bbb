"""The Benchmark page's views: scoreboard, accuracy-vs-cost scatter, latency distributions,
per-question drill-down, run comparison and the claims report. No I/O, no model calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.lab import FORMAT_BADGES
from components.safe import escape_markdown, render_untrusted_text
from components.timings import PLOTLY_CONFIG
from ragtune.evaluation import SCOREBOARD_COLUMNS, format_value

if TYPE_CHECKING:
    from ragtune.evaluation import EvalResult, EvalRun, LineProblem, ModeScore
    from ragtune.report import Claim

VERDICT_COLOURS = {"holds": "green", "does not hold here": "red", "inconclusive": "orange"}
COST_AXES = {"local": ("local_usd", "local compute $ per query"), "api": ("api_usd", "API-equivalent $ per query")}


def scoreboard_frame(scores: list[ModeScore]) -> pd.DataFrame:
    """Modes as rows, metrics as formatted columns."""
    rows = []
    for score in scores:
        row = {"mode": score.mode_label}
        row.update({header: format_value(getattr(score, field), kind) for field, header, kind in SCOREBOARD_COLUMNS})
        if score.errors:
            row["errors"] = str(score.errors)
        rows.append(row)
    return pd.DataFrame(rows).set_index("mode")


def render_scoreboard(scores: list[ModeScore], *, key: str) -> None:
    """The scoreboard table (– where a metric does not apply to a mode)."""
    st.dataframe(scoreboard_frame(scores), key=f"{key}-table", width="stretch")
    st.caption("correct: accepted answer (or abstaining when no document has one) · valid: parses into the "
               "answer schema · abstain: on questions no document answers · stale: gave the version-1 fact "
               "on version-2 questions · latency per query, retrieval included · costs are means per query.")


def accuracy_cost_figure(scores: list[ModeScore], cost: str = "local") -> go.Figure:
    """Each mode as a point: cost per query (x) against share correct (y)."""
    field, label = COST_AXES[cost]
    fig = go.Figure()
    for score in scores:
        x = getattr(score, field)
        if x is None or score.correct is None:
            continue
        fig.add_scatter(x=[x], y=[100 * score.correct], mode="markers+text", text=[score.mode_label],
                        textposition="top center", marker=dict(size=14), name=score.mode_label,
                        hovertemplate=f"{score.mode_label}<br>%{{y:.0f}}% correct<br>$%{{x:.2e}}<extra></extra>")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), showlegend=False,
                      xaxis_title=label, yaxis_title="% correct", yaxis_range=[-5, 105],
                      title="Accuracy vs cost")
    return fig


def latency_figure(results: list[EvalResult]) -> go.Figure:
    """Box plots of end-to-end latency per mode."""
    fig = go.Figure()
    by_mode: dict[str, list[float]] = {}
    for result in results:
        if not result.error:
            by_mode.setdefault(result.mode_label, []).append(result.total_ms)
    for label, values in by_mode.items():
        fig.add_box(y=values, name=label, boxpoints="all", jitter=0.3, pointpos=0)
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), showlegend=False,
                      yaxis_title="ms per query", title="Latency per mode")
    return fig


def render_charts(scores: list[ModeScore], results: list[EvalResult], *, cost: str, key: str) -> None:
    left, right = st.columns(2)
    left.plotly_chart(accuracy_cost_figure(scores, cost), config=PLOTLY_CONFIG, key=f"{key}-scatter")
    right.plotly_chart(latency_figure(results), config=PLOTLY_CONFIG, key=f"{key}-latency")


def question_choices(run: EvalRun) -> dict[str, str]:
    """``case_id@version`` -> label, for the drill-down picker."""
    choices: dict[str, str] = {}
    for result in run.results:
        choice = f"{result.case_id}@{result.version}"
        if choice not in choices:
            suffix = " (documents v2)" if result.version == "v2" else ""
            choices[choice] = f"{result.case_id}: {result.question}{suffix}"
    return choices


def render_drilldown(run: EvalRun, choice: str, *, key: str) -> None:
    """Each mode's answer to one question: the answer, its parse result, citations and verdict."""
    case_id, _, version = choice.partition("@")
    rows = [r for r in run.results if r.case_id == case_id and r.version == version]
    if not rows:
        st.info("No answers to this question in the run.")
        return
    gold = rows[0].gold
    # An uploaded eval set's questions and answers, and the model's answers: rendered inert.
    accepted = escape_markdown(", ".join(gold)) if gold else "*abstain* (no document has it)"
    st.markdown(f"**{escape_markdown(rows[0].question)}**  \nAccepted: {accepted}"
                f" · supporting documents: {escape_markdown(', '.join(rows[0].supporting_docs)) or 'none'}")
    columns = st.columns(min(len(rows), 4))
    for i, result in enumerate(rows):
        with columns[i % len(columns)], st.container(border=True, key=f"{key}-{result.mode_id}"):
            st.markdown(f"**{escape_markdown(result.mode_label)}**")
            st.badge("correct" if result.correct else "wrong", color="green" if result.correct else "red")
            label, colour, icon = FORMAT_BADGES.get(result.parse_status, (result.parse_status, "gray", None))
            st.badge(label, color=colour, icon=icon)
            if result.stale:
                st.badge("stale: the version-1 fact", color="orange")
            if result.error:
                st.error(escape_markdown(result.error))
            render_untrusted_text(result.answer_text, empty="(no answer)")
            st.caption(escape_markdown(f"cites: {', '.join(result.cited) or 'nothing'} · {result.total_ms:,.0f} ms · "
                                       f"{result.prompt_tokens} + {result.completion_tokens} tokens"))
            if result.parse_detail:
                st.caption(escape_markdown(f"parse: {result.parse_detail}"))


def render_comparison(a: EvalRun, b: EvalRun, *, key: str) -> None:
    """Two stored runs' scoreboards side by side."""
    left, right = st.columns(2)
    for column, run, side in ((left, a, "a"), (right, b, "b")):
        with column:
            st.caption(run.info.title())
            st.dataframe(scoreboard_frame(run.scoreboard())[["correct", "valid", "correct+valid", "p50 ms",
                                                            "prompt tok"]], key=f"{key}-{side}", width="stretch")


def render_claims(claims: list[Claim], *, key: str) -> None:
    """Each claim: verdict badge, the seed's words, the measured checks."""
    for claim in claims:
        with st.container(border=True, key=f"{key}-{claim.number}"):
            st.markdown(f"**{claim.number}. {claim.title}**")
            st.badge(claim.verdict, color=VERDICT_COLOURS[claim.verdict])
            st.caption(f"The seed: “{claim.seed}”")
            for check in claim.checks:
                tag = f" → *{check.verdict}*" if check.verdict else ""
                st.markdown(f"- {check.name}: {check.numbers}{tag}")


def render_problems(problems: list[LineProblem], *, key: str) -> None:
    """The bad lines of an uploaded eval set."""
    st.dataframe(pd.DataFrame([p.model_dump() for p in problems]), key=f"{key}-problems", hide_index=True)
