"""The Tour's views: the step's header and navigation, the measured rate with the claim's verdict, what to
look for, the live check of the predictions, and the presenter notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.evaluation import VERDICT_COLOURS
from components.format import page_link
from components.safe import escape_markdown

if TYPE_CHECKING:
    from ragtune.evaluation.sets import EvalCase, Version
    from ragtune.showcases import Outcome, Showcases, Thesis
    from ragtune.tour import TourStep

PAGE = "app_pages/tour.py"


def render_step_header(step: TourStep, total: int, *, key: str) -> None:
    """Step k of n, its title, its claim in one sentence, and a link to it."""
    st.progress(step.number / total, text=f"Step {step.number} of {total}")
    st.header(step.title, anchor=False)
    st.markdown(f"#### {step.claim}")
    st.caption(f"Link to this step: `/tour?step={step.number}` (or `/tour?step={step.slug}`, which stays the same "
               "if steps are added)")


def render_navigation(step: TourStep, total: int, *, key: str) -> int | None:
    """Back and Next (and the way on to Decide after the last step); the step to go to, if clicked."""
    back, _, forward = st.columns([1, 3, 1])
    target = None
    if step.number > 1 and back.button("Back", key=f"{key}_back", icon=":material/arrow_back:",
                                       use_container_width=True):
        target = step.number - 1
    if step.number < total:
        if forward.button("Next", key=f"{key}_next", icon=":material/arrow_forward:", type="primary",
                          use_container_width=True):
            target = step.number + 1
    else:
        page_link("app_pages/decide.py", label="On to Decide", icon=":material/alt_route:", url_path="decide",
                  container=forward)
    return target


def render_measured(step: TourStep, thesis: Thesis | None, showcases: Showcases | None,
                    labels: dict[str, str], *, asked: str | None = None, key: str) -> None:
    """The measured rate over the whole demo set and the report's verdict on the step's claims, with n; honest
    where a claim does not hold here. ``asked``: the id of the question the step asks (said how typical it is
    when it is the thesis's best-ranked one)."""
    with st.container(border=True, key=key):
        st.markdown(":material/fact_check: **Measured over the whole demo set**")
        if showcases is None:
            st.caption("Not measured for this model yet: run the claims report on the Benchmark page (or "
                       "`python -m ragtune showcases --measure`), and the rates appear here.")
            return
        item = showcases.get(thesis.id) if thesis is not None else None
        if item is not None:
            for rate in item.rates:
                st.markdown(f"- {escape_markdown(rate.text(labels))}")
            if item.best is not None and item.best.case_id == asked:
                st.caption(escape_markdown(f"The question below was chosen by measurement. {item.typicality()}"))
        for scores in showcases.routing if step.kind == "routing" else []:
            # the routing step has no thesis of its own: its rate is the routing run's accuracy
            who = "the router adapter" if scores.router == "adapter" else "the base model, same prompt"
            figures = scores.text().split(": ", 1)[1]
            st.markdown("- " + escape_markdown(f"Right route from {who}: {figures}"))
        for number in step.claims:
            claim = showcases.claim(number)
            if claim is None:
                st.caption(f"Claim {number} was not measured in this report.")
                continue
            with st.container(horizontal=True):
                st.badge(f"claim {number}: {claim.verdict}", color=VERDICT_COLOURS[claim.verdict])
                st.caption(escape_markdown(claim.title))
            with st.expander("The numbers behind the verdict"):
                for check in claim.checks:
                    st.markdown(f"- {escape_markdown(check.name)}: {escape_markdown(check.numbers)}")
            if claim.verdict == "does not hold here":
                st.warning("On this model the claim does not hold as the seed states it: the numbers above say "
                           "where. Honest figures beat a rigged demo.", icon=":material/report:")
        st.caption(f"From the {escape_markdown(showcases.provenance())}.")


def render_look_for(step: TourStep, *, key: str) -> None:
    """What to look for on screen, tied to the badges the answers will carry."""
    with st.container(border=True, key=key):
        st.markdown(":material/visibility: **What to look for**")
        for line in step.look_for:
            st.markdown(f"- {line}")


def render_question(case: EvalCase | None, *, key: str) -> None:
    """The question the step asks, with its gold answer for the presenter."""
    if case is None:
        return
    gold = f" The documents say: {case.answer}." if case.answer else " No document answers it: the right reply " \
        "is to say so."
    if case.answer_v2:
        gold = f" Version 1 of the documents says {case.answer}; version 2 says {case.answer_v2}."
    st.markdown(f"**Question:** {escape_markdown(case.question)}")
    st.caption(escape_markdown(f"Demo question {case.id}.{gold}"))


def render_live_check(outcomes: list[Outcome], labels: dict[str, str], *, version: Version = "v1",
                      key: str) -> None:
    """Which of the thesis's predictions held on the answers just given (``version``: the thesis's documents,
    named in a prediction judged against another than version 1)."""
    checked = [o for o in outcomes if o.held is not None]
    if not checked:
        return
    held = sum(o.held is True for o in checked)
    with st.container(border=True, key=key):
        st.markdown(f":material/checklist: **On this run: {held} of {len(checked)} predictions held**")
        for o in checked:
            mark = ":green[:material/check:]" if o.held else ":red[:material/close:]"
            st.markdown(f"{mark} {escape_markdown(o.prediction.words(labels, version))}")
        if held < len(checked):
            st.caption("A prediction that did not hold live is shown as it is: the measured rate above says how "
                       "often it holds over the whole set.")


def render_notes(step: TourStep, *, key: str) -> None:
    """The presenter's notes, folded."""
    with st.expander("Presenter notes", icon=":material/record_voice_over:"):
        st.markdown(step.notes)
