"""Decide: a guided wizard from a team's workload to a recommendation they can defend.

Every answer lives in the URL's query parameters (each widget writes its own on change),
so a copied link reproduces the wizard, step and all. The logic is ragtune.decision.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from components.decision import (
    render_architecture,
    render_break_even_chart,
    render_cost_summary,
    render_lab_modes,
    render_progress,
    render_question,
    render_recommendation,
)
from components.safe import errors_shown, escape_markdown
from ragtune.decision import (
    RESULT_STEP,
    STEP_PARAM,
    STEPS,
    ParsedParams,
    Recommendation,
    answers_from_params,
    answers_to_params,
    cost_inputs,
    lab_query,
    param_update,
    questions_for_step,
    recommend,
)
from ragtune.decision_economics import compare_costs
from ragtune.decision_record import record_json, record_markdown, share_query
from ragtune.errors import RagtuneError

LAB_PAGE = Path(__file__).parent / "lab.py"
PROBLEM_KEY = "decide.problem"


def widget_key(field: str) -> str:
    return f"decide.q.{field}"


def store_answer(field: str) -> None:
    """on_change: copy one widget's value into the URL, or keep the old one and say why."""
    try:
        encoded = param_update(field, st.session_state[widget_key(field)])
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
    for key in [k for k in st.session_state if str(k).startswith("decide.q.")]:
        del st.session_state[key]


def wizard_step(parsed: ParsedParams) -> None:
    step = STEPS[parsed.step - 1]
    render_progress(step, total=len(STEPS), key="decide.progress")
    questions = questions_for_step(step.number)
    for question in [q for q in questions if not q.advanced]:
        render_question(question, getattr(parsed.answers, question.id),
                        key=widget_key(question.id), on_change=store_answer, args=(question.id,))
    advanced = [q for q in questions if q.advanced]
    if advanced:
        with st.expander("More cost settings", icon=":material/tune:"):
            for question in advanced:
                render_question(question, getattr(parsed.answers, question.id),
                                key=widget_key(question.id), on_change=store_answer,
                                args=(question.id,))
    if step.number == STEPS[-1].number:
        render_cost_summary(compare_costs(cost_inputs(parsed.answers)), key="decide.preview")
    last = step.number == len(STEPS)
    with st.container(horizontal=True, key="decide.nav"):
        st.button("Back", key="decide.back", icon=":material/arrow_back:",
                  disabled=step.number == 1, on_click=go_to, args=(step.number - 1,))
        st.button("See the recommendation" if last else "Next", key="decide.next", type="primary",
                  icon=":material/arrow_forward:", on_click=go_to, args=(step.number + 1,))


def lab_link(rec: Recommendation) -> None:
    render_lab_modes(rec.lab_modes, rec.recommended_mode, key="decide.modes")
    try:
        st.page_link(LAB_PAGE, label="Open the Lab with these modes",
                     icon=":material/science:", query_params=lab_query(rec))
    except StreamlitAPIException:
        # Run standalone (not through app.py): the Lab is not a registered page here.
        st.caption("Open the app through app.py to jump to the Lab with these modes.")


def base_url() -> str:
    url = st.context.url or ""
    return url.split("?", 1)[0]


def result(parsed: ParsedParams) -> None:
    answers = parsed.answers
    rec = recommend(answers)
    st.progress(1.0, text="Your recommendation")
    render_recommendation(rec, key="decide.rec")
    st.subheader("Costs: a long prompt on every request, or an adapter trained once", anchor=False)
    render_cost_summary(rec.costs, key="decide.costs")
    render_break_even_chart(rec.costs, key="decide.break_even")
    st.subheader("The architecture to build", anchor=False)
    render_architecture(rec, key="decide.architecture")
    st.subheader("Try it in the Lab", anchor=False)
    lab_link(rec)

    st.subheader("Share the decision", anchor=False)
    markdown = record_markdown(answers, rec, base_url=base_url())
    slug = "".join(c if c.isalnum() else "-" for c in (answers.name or "workload").lower())
    with st.container(horizontal=True, key="decide.downloads"):
        st.download_button("Decision record (Markdown)", markdown, file_name=f"decision-{slug}.md",
                           mime="text/markdown", key="decide.download_md", on_click="ignore",
                           icon=":material/description:")
        st.download_button("Decision record (JSON)", record_json(answers, rec, base_url=base_url()),
                           file_name=f"decision-{slug}.json", mime="application/json",
                           key="decide.download_json", on_click="ignore",
                           icon=":material/data_object:")
    st.caption("A link that reopens this result (copy it from the address bar, or here):")
    st.code(base_url() + share_query(answers), language=None, wrap_lines=True)
    with st.expander("Preview the decision record", icon=":material/visibility:"):
        st.code(markdown, language="markdown", wrap_lines=True)
    with st.container(horizontal=True, key="decide.result_nav"):
        st.button("Change the answers", key="decide.edit", icon=":material/edit:",
                  on_click=go_to, args=(1,))
        st.button("Start over", key="decide.restart", icon=":material/restart_alt:",
                  on_click=start_over)


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
