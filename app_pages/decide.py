"""Decide: a guided wizard from a team's workload to a recommendation they can defend.

Every answer lives in the URL's query parameters (each widget writes its own on change),
so a copied link reproduces the wizard, step and all. The logic is ragtune.decision.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from components.decision import (
    render_architecture,
    render_break_even_chart,
    render_cost_summary,
    render_lab_link,
    render_recommendation,
    render_record_share,
    render_step,
    render_step_nav,
)
from components.safe import errors_shown, escape_markdown
from ragtune.decision.params import (
    STEP_PARAM,
    ParsedParams,
    answers_from_params,
    answers_to_params,
    lab_query,
    param_update,
)
from ragtune.decision.questions import RESULT_STEP, STEPS, questions_for_step
from ragtune.decision.recommend import recommend
from ragtune.decision.record import record_file_stem, record_json, record_markdown, share_query
from ragtune.errors import RagtuneError

LAB_PAGE = Path(__file__).parent / "lab.py"
PROBLEM_KEY = "decide.problem"
QUESTION_KEY = "decide.q"


def store_answer(field: str) -> None:
    """on_change: copy one widget's value into the URL, or keep the old one and say why."""
    try:
        encoded = param_update(field, st.session_state[f"{QUESTION_KEY}.{field}"])
    except RagtuneError as exc:
        st.session_state[PROBLEM_KEY] = str(exc)
        return
    if encoded is None:
        st.query_params.pop(field, None)
    else:
        st.query_params[field] = encoded


def go_to(step: int) -> None:
    st.query_params[STEP_PARAM] = str(step)


def start_over() -> None:
    st.query_params.clear()
    for key in [k for k in st.session_state if str(k).startswith(f"{QUESTION_KEY}.")]:
        del st.session_state[key]


def wizard_step(parsed: ParsedParams) -> None:
    step = STEPS[parsed.step - 1]
    render_step(step, questions_for_step(step.number), parsed.answers, total=len(STEPS),
                key=QUESTION_KEY, on_change=store_answer)
    if step.number == STEPS[-1].number:
        # The options the answers so far put on the table, priced as the result will price them.
        render_cost_summary(recommend(parsed.answers).costs, key="decide.preview")
    render_step_nav(step.number, total=len(STEPS), go_to=go_to, key="decide")


def result(parsed: ParsedParams) -> None:
    answers, rec = parsed.answers, recommend(parsed.answers)
    base_url = (st.context.url or "").split("?", 1)[0]
    st.progress(1.0, text="Your recommendation")
    render_recommendation(rec, key="decide.rec")
    st.subheader(escape_markdown(rec.costs.title), anchor=False)
    render_cost_summary(rec.costs, key="decide.costs")
    if rec.costs.break_even is not None:  # only where an adapter or classifier is on the table
        render_break_even_chart(rec.costs.break_even, key="decide.break_even",
                                tuned=rec.costs.tuned or "adapter")
    st.subheader("The architecture to build", anchor=False)
    render_architecture(rec, key="decide.architecture")
    st.subheader("Try it in the Lab", anchor=False)
    render_lab_link(rec, LAB_PAGE, lab_query(rec), key="decide.modes")
    st.subheader("Share the decision", anchor=False)
    render_record_share(record_markdown(answers, rec, base_url=base_url),
                        record_json(answers, rec, base_url=base_url),
                        link=base_url + share_query(answers), stem=record_file_stem(answers),
                        key="decide", edit=lambda: go_to(1), restart=start_over)


def decide() -> None:
    parsed = answers_from_params(st.query_params.to_dict())
    for problem in parsed.problems:  # about the link's own values, anyone's text: shown inert
        st.warning(escape_markdown(problem), icon=":material/link_off:")
    if parsed.problems:
        # Drop what was ignored, so the link a user copies from now on is clean.
        st.query_params.from_dict(answers_to_params(parsed.answers, parsed.step))
    if problem := st.session_state.pop(PROBLEM_KEY, None):
        st.warning(escape_markdown(problem))
    if parsed.step == RESULT_STEP:
        result(parsed)
    else:
        wizard_step(parsed)


st.title("Decide: RAG, fine-tuning, or both?")
st.caption("Answer a few questions about your workload and leave with a recommendation, its "
           "reasons, its costs and a decision record to share. RAG is about what the model "
           "knows; fine-tuning is about how it behaves.")
with errors_shown("the Decide page"):
    decide()
