"""Tour: presenter mode. One step per thesis of the seed (``/tour?step=N``), each run live on the local model
and measured over the whole demo set; the tour puts back whatever demo state it changed."""

from __future__ import annotations

import streamlit as st

from app_resources import (get_runtime, get_scoped_knowledge_base, get_settings, get_showcases, get_tenant_demo,
                           session_scope)
from components.format import page_link
from components.lab import render_live_comparison
from components.safe import errors_shown, escape_markdown
from components.tenants import render_tenant_measured, render_two_tenants
from components.tour import (
    render_look_for,
    render_measured,
    render_navigation,
    render_notes,
    render_question,
    render_step_header,
)
from components.tour_steps import render_economics, render_results, render_routing_examples
from ragtune.economics import EconomicsStore
from ragtune.evaluation.runner import deterministic_settings
from ragtune.evaluation.workspaces import ensure_report_workspaces
from ragtune.lab import compare
from ragtune.pipeline import Pipeline
from ragtune.tour import BUILTIN_LABELS as LABELS
from ragtune.tour import TOUR, change_fact, drop_scratch, make_scratch, parse_step, route_examples, \
    routing_examples, scratch_name, step, step_modes, step_question, thesis_of


def scratch() -> str:
    """This session's scratch workspace name (the freshness step's copy of the demo documents)."""
    if "tour_token" not in st.session_state:
        import uuid

        st.session_state["tour_token"] = uuid.uuid4().hex[:12]
    return scratch_name(st.session_state["tour_token"])


def run_live(pipeline: Pipeline, question: str, modes: list, workspace: str, *, key: str) -> list:
    """Answer in each mode with progress, live; the finished results."""
    return render_live_comparison(compare(pipeline, question, modes, workspace, log=None, source="lab"),
                                  len(modes), key=key)


def route_live(pipeline: Pipeline, modes: list, examples: dict[str, str]) -> dict:
    """The routing mode on each example query (on the demo documents v1), under a progress bar."""
    workspace = ensure_report_workspaces(pipeline.kb)["v1"]  # the documents route retrieves from
    answers, routes = {}, list(examples)
    bar = st.progress(0.0, text=f"Query 1 of {len(routes)}: the {routes[0]} example")
    for i, (route, result) in enumerate(route_examples(pipeline, modes, examples, workspace), start=1):
        answers[route] = result
        if i < len(routes):
            bar.progress(i / len(routes), text=f"Query {i + 1} of {len(routes)}: the {routes[i]} example")
    bar.empty()
    return answers


def tour() -> None:
    number, warning = parse_step(st.query_params.get("step"))
    if warning:
        st.warning(escape_markdown(warning))
    s, settings, kb = step(number), get_settings(), get_scoped_knowledge_base()  # scratch copies are the user's
    if s.kind != "freshness" and "tour_fresh" in st.session_state:  # leaving the freshness step puts it back
        drop_scratch(kb, scratch())
        st.session_state.pop("tour_fresh", None)
    showcases = get_showcases()
    render_step_header(s, len(TOUR), key="tour_head")
    case = step_question(s, showcases)
    if s.kind == "tenants":  # measured over the tenant set, per tenant
        render_tenant_measured(demo := get_tenant_demo(), key="tour_measured")
    else:
        render_measured(s, thesis_of(s), showcases, LABELS, asked=case.id if case else None, key="tour_measured")
    render_look_for(s, key="tour_look")
    render_question(case, key="tour_question")
    modes, results_key = step_modes(s), f"tour_results_{s.number}"

    def pipeline() -> Pipeline:  # greedy, as the report measured: a live run reproduces its showcase
        return session_scope().pipeline(get_runtime(), kb, deterministic_settings(settings),
                                        EconomicsStore(settings.economics_file).load())

    if s.kind == "compare" and case is not None:
        if st.button("Run it live", key="tour_run", type="primary", icon=":material/play_arrow:"):
            workspace = ensure_report_workspaces(kb)["v1"]  # the documents the rates were measured on
            st.session_state[results_key] = [("v1", r) for r in run_live(pipeline(), case.question, modes,
                                                                          workspace, key="tour_live")]
            st.rerun()  # the finished cards and the live check in place of the live columns (as the Lab)
    elif s.kind == "freshness" and case is not None:
        fresh = st.session_state.setdefault("tour_fresh", {})
        left, right = st.columns(2)
        if left.button("1 · Copy the demo documents and ask", key="tour_fresh_1", type="primary",
                       icon=":material/content_copy:"):
            with st.status("Copying the demo documents into a scratch workspace…") as status:
                make_scratch(kb, scratch())
                status.update(label="Scratch copy ready (version 1 of the documents)", state="complete")
            fresh.clear()
            fresh["v1"] = run_live(pipeline(), case.question, modes, scratch(), key="tour_fresh_live1")
            st.rerun()
        if right.button("2 · Change the fact (version 2) and ask again", key="tour_fresh_2",
                        disabled="v1" not in fresh, icon=":material/edit_document:"):
            with st.status("Re-indexing the changed documents…") as status:
                change_fact(kb, scratch())
                status.update(label="The documents now say version 2", state="complete")
            fresh["v2"] = run_live(pipeline(), case.question, modes, scratch(), key="tour_fresh_live2")
            st.rerun()
        st.session_state[results_key] = [(v, r) for v in ("v1", "v2") for r in fresh.get(v, [])]
    elif s.kind == "routing":
        examples = routing_examples(showcases)
        if st.button("Route them live", key="tour_routing_run", type="primary", icon=":material/play_arrow:"):
            st.session_state["tour_routing_results"] = route_live(pipeline(), modes, examples)
        render_routing_examples(examples, st.session_state.get("tour_routing_results", {}), showcases,
                                key="tour_routing")
    elif s.kind == "tenants":
        render_two_tenants(demo, key="tour_tenants")
        page_link("app_pages/lab.py", label="Ask your own question as both users in the Lab", url_path="lab",
                  icon=":material/science:", query_params={"preset": "tenants"})
    elif s.kind == "economics":
        render_economics(showcases, key="tour_economics")
    if st.session_state.get(results_key) and case is not None:
        render_results(st.session_state[results_key], case, thesis_of(s), LABELS, key=f"tour_res_{s.number}")
    render_notes(s, key="tour_notes")
    target = render_navigation(s, len(TOUR), key="tour_nav")
    if target is not None:
        st.query_params["step"] = str(target)
        st.rerun()


st.title("Tour", anchor=False)
with errors_shown("the Tour"):
    tour()
