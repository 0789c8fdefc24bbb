"""The Benchmark page's views: the eval-set picker and the run forms, the scoreboard, accuracy-vs-cost
scatter, latency distributions, per-question drill-down, run comparison and the claims report.
No I/O, no model calls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components.answer_card import VERDICT_BADGES
from components.format import PLOTLY_CONFIG, render_format_badge
from components.safe import escape_markdown, render_untrusted_text
from ragtune.errors import EvalSetError
from ragtune.evaluation.scoreboard import SCOREBOARD_COLUMNS, format_value
from ragtune.evaluation.sets import parse_eval_set

if TYPE_CHECKING:
    from ragtune.errors import LineProblem
    from ragtune.evaluation.report import Claim
    from ragtune.evaluation.scoreboard import ModeScore
    from ragtune.evaluation.scoring import EvalResult
    from ragtune.evaluation.sets import EvalSet
    from ragtune.evaluation.store import EvalRun, EvalRunInfo
    from ragtune.modes import Mode

VERDICT_COLOURS = {"holds": "green", "does not hold here": "red", "inconclusive": "orange"}
COST_AXES = {"local": ("local_usd", "local compute $ per query"), "api": ("api_usd", "API-equivalent $ per query")}
DEMO, UPLOAD = "The demo set", "Upload your own (JSONL)"
SCHEMA_HELP = ('One JSON object a line: {"id": "q1", "question": "...", "answer": "...", "accepted": [...], '
               '"doc_ids": ["doc-id"], "tags": [...]}. No answer and no doc_ids: the right reply is to abstain. '
               'A changed fact: add "answer_v2" (and "accepted_v2").')


@dataclass(frozen=True)
class RunForm:
    """What the new-run form asked for, when its button was pressed."""

    mode_ids: list[str]
    workspace: str | None
    limit: int
    deterministic: bool


def render_set_picker(demo: EvalSet, *, key: str) -> EvalSet | None:
    """The demo set, or a validated upload (bad lines are listed); None until there is a valid set.

    Widgets: ``{key}_source`` (the radio), ``{key}_upload`` (the file uploader).
    """
    if st.radio("Eval set", [DEMO, UPLOAD], key=f"{key}_source", horizontal=True) == DEMO:
        return demo
    upload = st.file_uploader("Eval set", type=["jsonl", "json", "txt"], key=f"{key}_upload", help=SCHEMA_HELP)
    if upload is None:
        st.caption(SCHEMA_HELP)
        return None
    try:
        return parse_eval_set(upload.getvalue(), name=upload.name)
    except EvalSetError as exc:
        st.error(f"{upload.name} is invalid ({len(exc.problems)} bad line(s)); nothing runs until it is fixed."
                 if exc.problems else str(exc))
        if exc.problems:
            render_problems(exc.problems, key=f"{key}_upload")
        return None


def render_run_form(modes: list[Mode], workspaces: list[str], *, default_modes: tuple[str, ...] | list[str],
                    default_workspace: str, ready: bool, key: str) -> RunForm | None:
    """Modes, workspace, number of questions, determinism and the run button (disabled unless
    ``ready`` and a mode is chosen); returns the choices on the run where the button was pressed."""
    labels = {m.id: m.label for m in modes}
    left, middle, right = st.columns([3, 2, 1])
    chosen = left.multiselect("Modes", list(labels), default=[m for m in default_modes if m in labels],
                              key=f"{key}_modes", format_func=labels.get)
    index = workspaces.index(default_workspace) if default_workspace in workspaces else 0
    workspace = middle.selectbox("Workspace", workspaces, index=index if workspaces else None,
                                 key=f"{key}_workspace")
    limit = right.number_input("Questions", 1, 5000, 10, key=f"{key}_limit", help="The first N of the set.")
    deterministic = st.checkbox("Deterministic (temperature 0, fixed seed)", value=True, key=f"{key}_deterministic")
    if not st.button("Run the evaluation", key=f"{key}_run", type="primary", icon=":material/play_arrow:",
                     disabled=not ready or not chosen):
        return None
    return RunForm(mode_ids=list(chosen), workspace=workspace, limit=int(limit), deterministic=deterministic)


def render_claims_form(*, key: str) -> int | None:
    """How many questions of each kind, and the report's button; the number when it was pressed."""
    st.caption("The demo set against demo documents v1 and its changed questions against v2, in every built-in "
               "mode. A mode whose adapter is missing is skipped (its claims say “not measured”).")
    left, right = st.columns([1, 3])
    per_kind = left.number_input("Questions of each kind", 1, 40, 5, key=f"{key}_report_limit")
    if not right.button("Run the claims report", key=f"{key}_report_run", icon=":material/fact_check:"):
        return None
    return int(per_kind)


def pick_run(runs: list[EvalRunInfo], *, key: str) -> str:
    """The stored run to show (newest first); a run id put in ``{key}_selected`` is picked once."""
    titles = {r.id: r.title() for r in runs}
    if st.session_state.get(f"{key}_selected") in titles:
        st.session_state[f"{key}_pick"] = st.session_state.pop(f"{key}_selected")
    return str(st.selectbox("Stored run", list(titles), key=f"{key}_pick", format_func=titles.get))


def pick_other_run(others: list[EvalRunInfo], *, key: str) -> str | None:
    """A second stored run to compare with (None until one is chosen; nothing when there is none)."""
    if not others:
        return None
    titles = {r.id: r.title() for r in others}
    st.subheader("Compare with another run", anchor=False)
    if st.session_state.get(f"{key}_compare") not in ["", *titles]:
        st.session_state.pop(f"{key}_compare", None)
    other = st.selectbox("Second run", ["", *titles], key=f"{key}_compare",
                         format_func=lambda i: titles.get(i, "(choose a run)"))
    return other or None


def render_run(run: EvalRun, *, key: str) -> bool:
    """A stored run: its status, scoreboard, charts, exports and per-question drill-down.

    Returns False when the run has no answers yet (nothing else to show).
    """
    if run.info.status != "complete":
        st.warning(f"This run is {run.info.status}: {run.info.n_results} of {run.info.planned} answers.")
    scores = run.scoreboard()
    if not scores:
        return False
    render_scoreboard(scores, key=f"{key}_board")
    cost = st.radio("Cost axis", list(COST_AXES), key=f"{key}_cost_axis", horizontal=True,
                    format_func=lambda c: COST_AXES[c][1])
    render_charts(scores, run.results, cost=str(cost), key=f"{key}_charts")
    csv_col, json_col = st.columns(2)
    csv_col.download_button("Download CSV", run.to_csv(), file_name=f"eval-{run.info.id}.csv", mime="text/csv",
                            key=f"{key}_csv", icon=":material/download:")
    json_col.download_button("Download JSON", run.to_json(), file_name=f"eval-{run.info.id}.json",
                             mime="application/json", key=f"{key}_json", icon=":material/download:")
    st.subheader("Per question", anchor=False)
    choices = question_choices(run)
    if st.session_state.get(f"{key}_question") not in choices:
        st.session_state.pop(f"{key}_question", None)
    choice = st.selectbox("Question", list(choices), key=f"{key}_question", format_func=choices.get)
    render_drilldown(run, str(choice), key=f"{key}_drill")
    return True


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
            # the verdict the Lab shows for the same answer (runs stored before it was kept: correct/wrong)
            text, colour = VERDICT_BADGES.get(result.verdict or "", ("correct", "green") if result.correct
                                              else ("wrong", "red"))
            st.badge(text, color=colour)  # type: ignore[arg-type]
            render_format_badge(result.parse_status, result.text)
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
    st.dataframe(pd.DataFrame([p._asdict() for p in problems]), key=f"{key}-problems", hide_index=True)
