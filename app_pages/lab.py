"""Lab: one question, several ways of answering it, side by side, with latency and cost."""

from __future__ import annotations

import streamlit as st

from app_resources import get_catalog, get_knowledge_base, get_runtime, get_settings
from components.history import render_history_charts
from components.lab import (
    render_answer_card,
    render_comparison_charts,
    render_cost_settings,
    render_mode_form,
    render_mode_header,
)
from components.safe import errors_shown, escape_markdown, write_untrusted_stream
from ragtune.economics import EconomicsStore, config_from_form
from ragtune.errors import RagtuneError
from ragtune.lab import demo_questions, find_eval_question, judge, new_run_id
from ragtune.modes import DEFAULT_LAB_MODES, Mode, ModeStore, mode_from_form, parse_mode_ids
from ragtune.pipeline import Answer, Pipeline
from ragtune.retrieval.demo import demo_version
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.store import LogFilter, QueryLog

OWN_QUESTION = ""


def preselect_modes(known: list[str]) -> None:
    """Modes from the link (?modes=rag,rag+lora) on the first run; unknown ids are reported."""
    chosen, unknown = parse_mode_ids(st.query_params.get("modes"), known)
    if unknown:
        # The link is anyone's text: shown inert, so a crafted link cannot load anything.
        st.warning(escape_markdown(f"Ignored unknown modes in the link: {', '.join(unknown)}. "
                                   f"Known: {', '.join(known)}."))
    if "lab_modes" not in st.session_state:
        st.session_state["lab_modes"] = chosen or [m for m in DEFAULT_LAB_MODES if m in known]


def use_demo_question() -> None:
    picked = st.session_state.get("lab_demo")
    if picked:
        st.session_state["lab_question"] = next(q.question for _, q in demo_questions() if q.id == picked)


def settings_panels(modes: ModeStore, economics: EconomicsStore) -> None:
    """Expanders: define a mode, delete one, and edit the cost model."""
    settings = get_settings()
    with st.expander("Define your own mode", icon=":material/add:"):
        values = render_mode_form([a.name for a in get_catalog().list()], key="lab_mode_form")
        try:
            if values is not None:
                st.success(f"Saved the mode '{modes.save(mode_from_form(values)).label}'.")
            own = [m.id for m in modes.user_modes()]
            if own:
                doomed = st.selectbox("Delete a saved mode", own, key="lab_mode_delete")
                if st.button("Delete", key="lab_mode_delete_button", icon=":material/delete:"):
                    modes.delete(doomed)
                    st.rerun()
        except RagtuneError as exc:
            st.error(str(exc))
    with st.expander("Cost settings: $/hour, API prices, training cost", icon=":material/payments:"):
        try:
            edited = render_cost_settings(economics.load(), default_rate=settings.compute_dollars_per_hour,
                                          key="lab_costs")
            if edited is not None:
                economics.save(config_from_form(edited))
                st.success("Saved: new queries use these prices.")
            if st.button("Back to the default prices", key="lab_costs_reset"):
                economics.reset()
                st.rerun()
        except RagtuneError as exc:
            st.error(str(exc))


def run_comparison(pipeline: Pipeline, question: str, chosen: list[Mode], workspace: str | None,
                   log: QueryLog) -> list[tuple[str, Answer | str]]:
    """Each mode in its own column, one after another on the shared model; every answer logged."""
    results: list[tuple[str, Answer | str]] = []
    run_id = new_run_id()
    for column, mode in zip(st.columns(len(chosen)), chosen):
        with column:
            render_mode_header(mode, key=f"lab_live_head_{mode.id}")
            slot = st.empty()
            try:
                if pipeline.runtime.is_busy():
                    slot.info("Waiting for the model: another session is using it. "
                              "The wait counts in this answer's latency.", icon=":material/hourglass:")
                stream = pipeline.stream(question, mode, workspace)
                try:
                    write_untrusted_stream(stream, container=slot)  # the model's text: rendered inert
                finally:
                    stream.close()  # a stopped run (rerun, page left) must free the model at once
                answer = stream.answer()
            except RagtuneError as exc:
                slot.error(str(exc))
                results.append((mode.id, str(exc)))
                continue
            slot.empty()
            log.add(answer, source="lab", run_id=run_id)
            results.append((mode.id, answer))
    return results


def show_results(results: list[tuple[str, Answer | str]], modes: ModeStore, kb: KnowledgeBase | None,
                 workspace: str | None) -> None:
    """The finished answers (kept across reruns), judged on demo questions, and the charts."""
    answers = [a for _, a in results if isinstance(a, Answer)]
    question = find_eval_question(answers[0].query) if answers else None
    version = "v1"
    if (question is not None and kb is not None and workspace
            and workspace == get_settings().demo_workspace and kb.has_workspace(workspace)):
        version = demo_version(kb, workspace)
        st.caption(f"A demo question: answers are checked against demo documents {version}.")
    known = {m.id: m for m in modes.all()}
    for column, (mode_id, result) in zip(st.columns(len(results)), results):
        with column:
            if mode_id in known:
                render_mode_header(known[mode_id], key=f"lab_head_{mode_id}")
            if isinstance(result, str):
                st.error(result)
                continue
            verdict = judge(result, question, version) if question is not None else None
            render_answer_card(result, judgement=verdict, key=f"lab_card_{mode_id}")
    render_comparison_charts(answers, key="lab_now")


def controls(all_modes: list[Mode], workspaces: list[str], demo_workspace: str) -> tuple[str, list[str], str | None]:
    """Demo question, question, modes and workspace; returns (question, mode ids, workspace)."""
    demos = {q.id: f"{item.thesis}: “{q.question}”" for item, q in demo_questions()}
    st.selectbox("Demo question", [OWN_QUESTION, *demos], key="lab_demo", on_change=use_demo_question,
                 format_func=lambda i: demos.get(i, "(your own question)"))
    question = st.text_area("Question", key="lab_question", max_chars=2000, height=80,
                            placeholder="Ask something your documents answer…")
    left, right = st.columns([2, 1])
    labels = {m.id: m.label for m in all_modes}
    chosen_ids = left.multiselect("Modes to compare", list(labels), key="lab_modes",
                                  format_func=lambda i: labels.get(i, i))
    default = workspaces.index(demo_workspace) if demo_workspace in workspaces else 0
    workspace = right.selectbox("Workspace", workspaces, key="lab_workspace", index=default if workspaces else None)
    if not workspaces:
        right.caption("No workspace yet: create one on the Knowledge page.")
    if st.session_state.get("lab_demo"):
        prediction = next(item.prediction for item, q in demo_questions() if q.id == st.session_state["lab_demo"])
        st.info(f"The seed predicts: {prediction}", icon=":material/lightbulb:")
    return question, chosen_ids, workspace


def lab() -> None:
    settings = get_settings()
    try:
        modes = ModeStore(settings.modes_file)
        known_ids = modes.ids()
        economics = EconomicsStore(settings.economics_file)
        log = QueryLog(settings.query_log_file)
    except RagtuneError as exc:
        st.error(str(exc))
        return
    try:
        kb = get_knowledge_base()
        workspaces = [w.name for w in kb.list_workspaces()]
    except RagtuneError as exc:
        kb, workspaces = None, []
        st.warning(f"The knowledge base is unavailable, so modes that retrieve cannot run: {exc}")

    preselect_modes(known_ids)
    top = st.container()  # the controls sit above the panels but are drawn after them, so a
    settings_panels(modes, economics)  # mode saved in a panel is listed on the same run
    try:
        all_modes = modes.all()
    except RagtuneError as exc:
        st.error(str(exc))
        return
    with top:
        question, chosen_ids, workspace = controls(all_modes, workspaces, settings.demo_workspace)
        clicked = st.button("Compare", key="lab_run", type="primary", icon=":material/play_arrow:",
                            disabled=not chosen_ids)
    if clicked:
        if not question.strip():
            st.error("Type a question (or pick a demo question) first.")
            return
        try:
            pipeline = Pipeline(get_runtime(), kb, get_catalog(), settings, economics.load())
            chosen = modes.resolve(chosen_ids)
        except RagtuneError as exc:
            st.error(str(exc))
            return
        st.session_state["lab_results"] = run_comparison(pipeline, question, chosen, workspace, log)
        st.session_state["lab_results_workspace"] = workspace
        st.rerun()  # draw the finished cards and charts in place of the live columns
    if st.session_state.get("lab_results"):
        show_results(st.session_state["lab_results"], modes, kb, st.session_state.get("lab_results_workspace"))
    st.subheader("Every lab query so far", anchor=False)
    render_history_charts(log.entries(LogFilter(limit=500)), key="lab_history")


st.title("Lab")
st.caption("One question, several ways of answering it: the model alone, with retrieval, with a LoRA "
           "adapter, with both, and the baselines. Answers, format, citations, latency and cost.")
with errors_shown("the Lab"):
    lab()
