"""Benchmark: evaluation runs across modes, stored scoreboards, and the seed's claims measured."""

from __future__ import annotations

import streamlit as st

from app_resources import get_catalog, get_knowledge_base, get_runtime, get_settings
from components.evaluation import (COST_AXES, question_choices, render_charts, render_claims, render_comparison,
                                   render_drilldown, render_problems, render_scoreboard)
from components.safe import errors_shown
from ragtune.economics import EconomicsStore
from ragtune.errors import RagtuneError
from ragtune.evaluation import (EvalItem, EvalSet, EvalSetError, EvalStore, demo_eval_set, demo_report_items,
                                deterministic_settings, ensure_report_workspaces, limit_per_kind, parse_eval_set,
                                plan_items, run_evaluation, unavailable_modes)
from ragtune.modes import DEFAULT_LAB_MODES, Mode, ModeStore
from ragtune.pipeline import Pipeline
from ragtune.report import REPORT_MODES, build_claims
from ragtune.retrieval.demo import demo_version

Job = tuple[Pipeline, list[EvalItem], list[Mode], dict[str, str | None], EvalSet, str]
DEMO, UPLOAD = "The demo set", "Upload your own (JSONL)"
SCHEMA_HELP = ('One JSON object a line: {"id": "q1", "question": "...", "answer": "...", "accepted": [...], '
               '"doc_ids": ["doc-id"], "tags": [...]}. No answer and no doc_ids: the right reply is to abstain. '
               'A changed fact: add "answer_v2" (and "accepted_v2").')


def chosen_set() -> EvalSet | None:
    """The demo set, or a validated upload (bad lines are listed; None until it is valid)."""
    if st.radio("Eval set", [DEMO, UPLOAD], key="bm_source", horizontal=True) == DEMO:
        return demo_eval_set()
    upload = st.file_uploader("Eval set", type=["jsonl", "json", "txt"], key="bm_upload", help=SCHEMA_HELP)
    if upload is None:
        st.caption(SCHEMA_HELP)
        return None
    try:
        return parse_eval_set(upload.getvalue(), name=upload.name)
    except EvalSetError as exc:
        st.error(f"{upload.name} is invalid ({len(exc.problems)} bad line(s)); nothing runs until it is fixed."
                 if exc.problems else str(exc))
        if exc.problems:
            render_problems(exc.problems, key="bm_upload")
        return None


def make_pipeline(deterministic: bool) -> Pipeline:
    settings = get_settings()
    settings = deterministic_settings(settings) if deterministic else settings
    try:
        kb = get_knowledge_base()
    except RagtuneError:
        kb = None  # modes that retrieve report themselves as unavailable
    return Pipeline(get_runtime(), kb, get_catalog(), settings, EconomicsStore(settings.economics_file).load())


def execute(pipeline: Pipeline, items: list[EvalItem], modes: list[Mode], workspaces: dict[str, str | None],
            eval_set: EvalSet, kind: str) -> None:
    """Run with a progress bar and a Cancel button; a click on it stops the run (answers so far stay)."""
    with st.status(f"Answering {len(items)} questions × {len(modes)} modes…", expanded=True) as status:
        st.button("Cancel", key="bm_cancel", icon=":material/stop:",
                  help="Stops after the current answer; the answers so far are kept.")
        bar = st.progress(0.0, text="Starting…")
        run = run_evaluation(pipeline, items, modes, workspaces=workspaces, store=EvalStore.from_settings(
            pipeline.settings), set_name=eval_set.name, set_sha256=eval_set.sha256, kind=kind,  # type: ignore[arg-type]
            on_progress=lambda p: bar.progress(p.fraction, text=p.text()))
        status.update(label=f"Run {run.info.id}: {run.info.status}", state="complete", expanded=False)
    st.session_state["bm_selected"] = run.info.id


def new_run() -> Job | None:
    """The form for a run; returns what to run when the button is pressed."""
    settings = get_settings()
    eval_set = chosen_set()
    try:
        all_modes = ModeStore(settings.modes_file).all()
        workspaces = [w.name for w in get_knowledge_base().list_workspaces()]
    except RagtuneError as exc:
        st.error(str(exc))
        return None
    labels = {m.id: m.label for m in all_modes}
    left, middle, right = st.columns([3, 2, 1])
    chosen = left.multiselect("Modes", list(labels), default=[m for m in DEFAULT_LAB_MODES if m in labels],
                              key="bm_modes", format_func=labels.get)
    default_ws = workspaces.index(settings.demo_workspace) if settings.demo_workspace in workspaces else 0
    workspace = middle.selectbox("Workspace", workspaces, index=default_ws if workspaces else None,
                                 key="bm_workspace")
    limit = right.number_input("Questions", 1, 5000, 10, key="bm_limit", help="The first N of the set.")
    deterministic = st.checkbox("Deterministic (temperature 0, fixed seed)", value=True, key="bm_deterministic")
    if not st.button("Run the evaluation", key="bm_run", type="primary", icon=":material/play_arrow:",
                     disabled=eval_set is None or not chosen):
        return None
    try:
        pipeline = make_pipeline(deterministic)
        version = demo_version(pipeline.kb, workspace) if pipeline.kb and workspace == settings.demo_workspace \
            and workspace else "v1"
        items = plan_items(eval_set.limited(int(limit)).cases, version)  # type: ignore[union-attr]
        return pipeline, items, [m for m in all_modes if m.id in chosen], {version: workspace}, eval_set, "eval"
    except RagtuneError as exc:
        st.error(str(exc))
        return None


def claims_run() -> Job | None:
    """Run the demo evaluation across every built-in mode, on the report's own demo workspaces."""
    st.caption("The demo set against demo documents v1 and its changed questions against v2, in every built-in "
               "mode. A mode whose adapter is missing is skipped (its claims say “not measured”).")
    left, right = st.columns([1, 3])
    per_kind = left.number_input("Questions of each kind", 1, 40, 5, key="bm_report_limit")
    if not right.button("Run the claims report", key="bm_report_run", icon=":material/fact_check:"):
        return None
    try:
        pipeline = make_pipeline(True)
        if pipeline.kb is None:
            raise RagtuneError("The knowledge base is unavailable: the report needs it.")
        with st.spinner("Preparing the report's demo workspaces (first time only)…"):
            workspaces = ensure_report_workspaces(pipeline.kb)
        modes = ModeStore(get_settings().modes_file).resolve(list(REPORT_MODES))
        skipped = unavailable_modes(pipeline, modes, workspaces)
        for mode_id, why in skipped.items():
            st.warning(f"Skipped {mode_id}: {why}")
        eval_set = demo_eval_set()
        items = demo_report_items(limit_per_kind(eval_set.cases, int(per_kind)))
        return pipeline, items, [m for m in modes if m.id not in skipped], workspaces, eval_set, "report"
    except RagtuneError as exc:
        st.error(str(exc))
        return None


def results() -> None:
    store = EvalStore.from_settings(get_settings())
    runs = store.runs()
    if not runs:
        st.info("No stored runs yet: run an evaluation above.", icon=":material/info:")
        return
    titles = {r.id: r.title() for r in runs}
    if st.session_state.get("bm_selected") in titles:
        st.session_state["bm_pick"] = st.session_state.pop("bm_selected")
    picked = st.selectbox("Stored run", list(titles), key="bm_pick", format_func=titles.get)
    run = store.load(picked)
    if run.info.status != "complete":
        st.warning(f"This run is {run.info.status}: {run.info.n_results} of {run.info.planned} answers.")
    scores = run.scoreboard()
    if not scores:
        return
    render_scoreboard(scores, key="bm_board")
    cost = st.radio("Cost axis", list(COST_AXES), key="bm_cost_axis", horizontal=True,
                    format_func=lambda c: COST_AXES[c][1])
    render_charts(scores, run.results, cost=cost, key="bm_charts")
    csv_col, json_col = st.columns(2)
    csv_col.download_button("Download CSV", run.to_csv(), file_name=f"eval-{run.info.id}.csv", mime="text/csv",
                            key="bm_csv", icon=":material/download:")
    json_col.download_button("Download JSON", run.to_json(), file_name=f"eval-{run.info.id}.json",
                             mime="application/json", key="bm_json", icon=":material/download:")

    st.subheader("Per question", anchor=False)
    choices = question_choices(run)
    if st.session_state.get("bm_question") not in choices:
        st.session_state.pop("bm_question", None)
    choice = st.selectbox("Question", list(choices), key="bm_question", format_func=choices.get)
    render_drilldown(run, choice, key="bm_drill")

    others = [i for i in titles if i != picked]
    if others:
        st.subheader("Compare with another run", anchor=False)
        if st.session_state.get("bm_compare") not in ["", *others]:
            st.session_state.pop("bm_compare", None)
        other = st.selectbox("Second run", ["", *others], key="bm_compare",
                             format_func=lambda i: titles.get(i, "(choose a run)"))
        if other:
            render_comparison(run, store.load(other), key="bm_cmp")

    st.subheader("The seed's claims, measured on this run", anchor=False)
    render_claims(build_claims(run.results), key="bm_claims")


def benchmark() -> None:
    with st.expander("New evaluation run", expanded=True, icon=":material/science:"):
        job = new_run()
    with st.expander("The seed's claims: run the report", icon=":material/fact_check:"):
        job = claims_run() or job
    try:
        if job is not None:  # outside the expanders: the run's status box cannot nest in one
            execute(*job)
        results()
    except RagtuneError as exc:
        st.error(str(exc))


st.title("Benchmark")
st.caption("Evaluation across modes: correctness, format, citations, abstention, staleness, latency and cost "
           "over many questions, stored so runs can be compared; and the seed's claims with verdicts.")
with errors_shown("the Benchmark page"):
    benchmark()
