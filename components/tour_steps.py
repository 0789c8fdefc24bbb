"""The Tour's live parts: a step's answers (by document version) with the live check of its predictions, the
routing examples, and the economics chart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.answer_card import render_answer_card
from components.decision import render_break_even_chart
from components.format import PLOTLY_CONFIG, page_link
from components.lab import render_comparison_charts
from components.lab_results import render_mode_result
from components.safe import escape_markdown
from components.tour import render_live_check
from ragtune.charts import ModeMeasure, cost_figure, latency_figure
from ragtune.decision.costs import payback
from ragtune.lab import Failed, Finished
from ragtune.tour import economics_cases, live_outcomes

if TYPE_CHECKING:
    from ragtune.evaluation.sets import EvalCase, Version
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
                render_mode_result(result, key=f"{key}_{version}")
    latest = [r for v, r in results if v == versions[-1] and isinstance(r, Finished)]
    render_comparison_charts([r.answer for r in latest], key=f"{key}_charts")
    if thesis is not None:
        answers = [(v, r.answer) for v, r in results if isinstance(r, Finished)]
        render_live_check(live_outcomes(thesis, case, answers), labels, version=thesis.version, key=f"{key}_check")


def render_economics(showcases: Showcases | None, *, key: str) -> None:
    """The break-even of an adapter against sending examples on every request: the seed's reference point and,
    when measured, this demo's own prompts; then the way on to Decide with the team's own numbers."""
    cases = economics_cases(showcases)
    for column, case in zip(st.columns(len(cases)), cases):
        with column.container(border=True, key=f"{key}_{len(case.label)}"):
            st.markdown(escape_markdown(f"**{case.label}**: the adapter {payback(case.costs)}."))  # "$…$": no math
            st.caption(escape_markdown(case.source))
    shown = cases[-1]
    st.markdown(f"**{escape_markdown(shown.label)}**, month by month:")
    render_break_even_chart(shown.costs, key=f"{key}_chart")
    st.caption("Decide starts from your team's own answers, not from these figures: it prices an adapter only "
               "where your answers put one on the table, and may rightly say that prompting is enough.")
    page_link("app_pages/decide.py", label="Price it with your own numbers in Decide",
              icon=":material/alt_route:", url_path="decide")


def render_routing_examples(examples: dict[str, str], answers: dict[str, Finished | Failed],
                            showcases: Showcases | None, *, key: str) -> None:
    """One example query per route (routed right in the measured run when there is one), the router's
    measured accuracy on that route beside it, and, once routed live (``answers``: route -> how it ended),
    each answer with the route taken, then the latency chart (the router's time is its own **Routing**
    stage) and the cost chart of the routed answers."""
    scores = {s.route: s for s in showcases.routing[0].per_route} if showcases and showcases.routing else {}
    for column, (route, query) in zip(st.columns(len(examples)), examples.items()):
        with column, st.container(border=True, key=f"{key}_{route}"):
            st.markdown(f"**{escape_markdown(route)}**")
            st.caption(escape_markdown(f"“{query}”"))
            score = scores.get(route)
            if score is not None:
                st.caption(escape_markdown(f"The router sends {score.correct} of the {score.n} {route} queries of "
                                           f"the routing set here ({100 * score.accuracy:.0f}%)."))
            result = answers.get(route)
            if isinstance(result, Failed):
                st.error(escape_markdown(result.error))
            elif isinstance(result, Finished):
                render_answer_card(result.answer, key=f"{key}_{route}_card")
    # one bar per example, named by its route: every answer comes from the same mode ("Routed")
    measures = [ModeMeasure.of(r.answer).model_copy(update={"label": f"the {route} example"})
                for route, r in answers.items() if isinstance(r, Finished)]
    if measures:
        left, right = st.columns(2)
        left.plotly_chart(latency_figure(measures), config=PLOTLY_CONFIG, key=f"{key}_latency")
        right.plotly_chart(cost_figure(measures), config=PLOTLY_CONFIG, key=f"{key}_cost")
