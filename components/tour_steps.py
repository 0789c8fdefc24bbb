"""The Tour's live parts: a step's answers (by document version) with the live check of its predictions, the
routing examples, and the economics chart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.answer_card import render_answer_card
from components.decision import render_break_even_chart
from components.format import page_link
from components.lab import render_comparison_charts, render_mode_header
from components.safe import escape_markdown
from components.tour import render_live_check
from ragtune.decision.costs import payback
from ragtune.evaluation.workspaces import REPORT_WORKSPACES
from ragtune.lab import Failed, Finished, compare
from ragtune.tour import economics_cases, live_outcomes, routing_examples

if TYPE_CHECKING:
    from collections.abc import Callable

    from ragtune.evaluation.sets import EvalCase, Version
    from ragtune.modes import Mode
    from ragtune.pipeline import Pipeline
    from ragtune.showcases import Showcases, Thesis

VERSION_CAPTIONS = {"v1": "Against version 1 of the documents", "v2": "After the change: version 2 of the documents"}


def render_results(results: list[tuple[Version, Finished | Failed]], case: EvalCase, thesis: Thesis | None,
                   labels: dict[str, str], *, key: str) -> None:
    """The answers of a step, a row per document version, then the live check of the thesis's predictions."""
    versions = list(dict.fromkeys(v for v, _ in results))
    for version in versions:
        row = [r for v, r in results if v == version]
        if len(versions) > 1:
            st.markdown(f"**{VERSION_CAPTIONS[version]}**")
        for column, result in zip(st.columns(len(row)), row):
            with column:
                render_mode_header(result.mode, key=f"{key}_{version}_head_{result.mode.id}")
                if isinstance(result, Failed):
                    st.error(result.error)
                else:
                    render_answer_card(result.answer, verdict=result.verdict, not_judged=result.not_judged,
                                       key=f"{key}_{version}_card_{result.mode.id}")
    latest = [r for v, r in results if v == versions[-1] and isinstance(r, Finished)]
    render_comparison_charts([r.answer for r in latest], key=f"{key}_charts")
    if thesis is not None:
        answers = [(v, r.answer) for v, r in results if isinstance(r, Finished)]
        render_live_check(live_outcomes(thesis, case, answers), labels, key=f"{key}_check")


def render_economics(showcases: Showcases | None, *, key: str) -> None:
    """The break-even of an adapter against sending examples on every request: the seed's reference point and,
    when measured, this demo's own prompts; then the way on to Decide with the team's own numbers."""
    cases = economics_cases(showcases)
    for column, case in zip(st.columns(len(cases)), cases):
        with column.container(border=True, key=f"{key}_{len(case.label)}"):
            st.markdown(f"**{escape_markdown(case.label)}**: the adapter {payback(case.costs)}.")
            st.caption(escape_markdown(case.source))
    shown = cases[-1]
    st.markdown(f"**{escape_markdown(shown.label)}**, month by month:")
    render_break_even_chart(shown.costs, key=f"{key}_chart")
    page_link("app_pages/decide.py", label="Price it with your own numbers in Decide",
              icon=":material/alt_route:", url_path="decide")


def render_routing_examples(pipeline: Callable[[], Pipeline], modes: list[Mode], showcases: Showcases | None,
                            *, key: str) -> None:
    """The routing mode on one example query per route (routed right in the measured run when there is one),
    each answer with the route taken, and the router's measured accuracy on that route beside it."""
    examples = routing_examples(showcases)
    scores = {s.route: s for s in showcases.routing[0].per_route} if showcases and showcases.routing else {}
    results_key = f"{key}_results"
    if st.button("Route them live", key=f"{key}_run", type="primary", icon=":material/play_arrow:"):
        answers = {}
        bar = st.progress(0.0, text="Routing…")
        for i, (route, query) in enumerate(examples.items()):
            bar.progress(i / len(examples), text=f"Query {i + 1} of {len(examples)}: the {route} example")
            answers[route] = list(compare(pipeline(), query, modes, REPORT_WORKSPACES["v1"], log=None,
                                          source="lab"))[-1]
        bar.empty()
        st.session_state[results_key] = answers
    answers = st.session_state.get(results_key, {})
    for column, (route, query) in zip(st.columns(len(examples)), examples.items()):
        with column, st.container(border=True, key=f"{key}_{route}"):
            st.markdown(f"**{escape_markdown(route)}**")
            st.caption(escape_markdown(f"“{query}”"))
            score = scores.get(route)
            if score is not None:
                st.caption(f"The router sends {score.correct} of the {score.n} {route} queries of the routing set "
                           f"here ({100 * score.accuracy:.0f}%).")
            result = answers.get(route)
            if isinstance(result, Failed):
                st.error(result.error)
            elif isinstance(result, Finished):
                render_answer_card(result.answer, key=f"{key}_{route}_card")
