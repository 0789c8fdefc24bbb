"""Benchmark: evaluation runs across modes, stored scoreboards, and the seed's claims measured."""

from __future__ import annotations

import streamlit as st

from app_resources import get_runtime, get_scoped_knowledge_base, get_settings, session_scope
from components.evaluation import (pick_other_run, pick_run, render_claims, render_claims_form, render_comparison,
                                   render_run, render_run_form, render_set_picker)
from components.safe import errors_shown
from ragtune.economics import EconomicsStore
from ragtune.errors import RagtuneError
from ragtune.evaluation.report import REPORT_MODES, build_claims, plan_claims
from ragtune.evaluation.routing import RoutingRunStore
from ragtune.evaluation.runner import RunPlan, deterministic_settings, plan_eval, run_plan
from ragtune.evaluation.sets import demo_eval_set
from ragtune.modes import DEFAULT_LAB_MODES
from ragtune.pipeline import Pipeline
from ragtune.showcases import refresh_after_report


def make_pipeline(deterministic: bool) -> Pipeline:
    settings = get_settings()
    settings = deterministic_settings(settings) if deterministic else settings
    try:
        kb = get_scoped_knowledge_base()
    except RagtuneError:
        kb = None  # modes that retrieve report themselves as unavailable
    # The user's pipeline: retrieval only from workspaces they may read, their adapters.
    return session_scope().pipeline(get_runtime(), kb, settings, EconomicsStore(settings.economics_file).load())


def new_run() -> RunPlan | None:
    """The form for a run; returns the plan when its button is pressed."""
    settings = get_settings()
    eval_set = render_set_picker(demo_eval_set(), key="bm")
    try:
        all_modes = session_scope().modes(settings.modes_file).all()
        workspaces = [w.name for w in get_scoped_knowledge_base().list_workspaces()]  # the readable ones
    except RagtuneError as exc:
        st.error(str(exc))
        return None
    form = render_run_form(all_modes, workspaces, default_modes=DEFAULT_LAB_MODES,
                           default_workspace=settings.demo_workspace, ready=eval_set is not None, key="bm")
    if form is None or eval_set is None:
        return None
    try:
        modes = [m for m in all_modes if m.id in form.mode_ids]
        plan = plan_eval(make_pipeline(form.deterministic), eval_set, modes, form.workspace, limit=form.limit)
        if plan.not_judged:  # the Lab's rule: an edited gold document means no verdict
            st.info(f"Left out {len(plan.not_judged)} questions, not judged: the document changed after the gold "
                    f"answer was written ({', '.join(plan.not_judged)}).", icon=":material/edit_document:")
        if plan.elsewhere:  # a multi-tenant set: each tenant's questions are scored on its own workspace
            st.info(f"Left out {len(plan.elsewhere)} questions: their answers are for "
                    f"{', '.join(sorted(set(plan.elsewhere.values())))}.", icon=":material/group:")
        return plan
    except RagtuneError as exc:
        st.error(str(exc))
        return None


def claims_run() -> RunPlan | None:
    """The demo evaluation across every built-in mode, on the report's own demo workspaces."""
    per_kind = render_claims_form(key="bm")
    if per_kind is None:
        return None
    try:
        pipeline = make_pipeline(True)
        modes = session_scope().modes(get_settings().modes_file).resolve(list(REPORT_MODES))
        with st.spinner("Preparing the report's demo workspaces (first time only)…"):
            plan = plan_claims(pipeline, modes, per_kind=per_kind)
    except RagtuneError as exc:
        st.error(str(exc))
        return None
    for mode_id, why in plan.skipped.items():
        st.warning(f"Skipped {mode_id}: {why}")
    return plan


def execute(plan: RunPlan) -> None:
    """Run with a progress bar and a Cancel button; a click on it stops the run (answers so far stay)."""
    with st.status(f"Answering {plan.describe()}…", expanded=True) as status:
        st.button("Cancel", key="bm_cancel", icon=":material/stop:",
                  help="Stops after the current answer; the answers so far are kept.")
        bar = st.progress(0.0, text="Starting…")
        run = run_plan(plan, store=session_scope().eval_store(plan.pipeline.settings),  # the run is the user's
                       on_progress=lambda p: bar.progress(p.fraction, text=p.text()))
        status.update(label=f"Run {run.info.id}: {run.info.status}", state="complete", expanded=False)
    settings = plan.pipeline.settings
    # Claim 7 is measured apart: the built-in routing mode on the whole routing set, baseline included.
    routing = RoutingRunStore.from_settings(settings).latest_measurement(run.info.model_id)
    # The showcases are everyone's (the Lab's demo questions, the Tour's rates): an admin's report re-ranks them.
    shared = session_scope().is_admin
    if shared and refresh_after_report(run, settings.data_dir, routing.results if routing else None) is not None:
        st.toast("The Lab's and the Tour's showcases were re-ranked from this report.")
    st.session_state["bm_selected"] = run.info.id


def results() -> None:
    store = session_scope().eval_store(get_settings())  # the user's own runs (an admin: everyone's)
    runs = store.runs()
    if not runs:
        st.info("No stored runs yet: run an evaluation above.", icon=":material/info:")
        return
    picked = pick_run(runs, key="bm")
    run = store.load(picked)
    if not render_run(run, key="bm"):
        return
    other = pick_other_run([r for r in runs if r.id != picked], key="bm")
    if other:
        render_comparison(run, store.load(other), key="bm_cmp")
    st.subheader("The seed's claims, measured on this run", anchor=False)
    routing = RoutingRunStore.from_settings(get_settings()).latest_measurement(run.info.model_id)  # claim 7
    render_claims(build_claims(run.results, routing=routing.results if routing else []), key="bm_claims")


def benchmark() -> None:
    with st.expander("New evaluation run", expanded=True, icon=":material/science:"):
        plan = new_run()
    with st.expander("The seed's claims: run the report", icon=":material/fact_check:"):
        plan = claims_run() or plan
    try:
        if plan is not None:  # outside the expanders: the run's status box cannot nest in one
            execute(plan)
        results()
    except RagtuneError as exc:
        st.error(str(exc))


st.title("Benchmark")
st.caption("Evaluation across modes: correctness, format, citations, abstention, staleness, latency and cost "
           "over many questions, stored so runs can be compared; and the seed's claims with verdicts.")
with errors_shown("the Benchmark page"):
    benchmark()
