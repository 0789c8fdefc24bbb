"""Lab: one question, several ways of answering it, side by side, with latency and cost."""

from __future__ import annotations

import streamlit as st

from app_resources import get_catalog, get_knowledge_base, get_runtime, get_settings
from components.answer_card import render_answer_card
from components.history import render_history_charts
from components.lab import (
    render_comparison_charts,
    render_cost_settings,
    render_lab_controls,
    render_live_comparison,
    render_mode_form,
    render_mode_header,
)
from components.safe import errors_shown, escape_markdown
from ragtune.economics import EconomicsStore, config_from_form
from ragtune.errors import RagtuneError
from ragtune.lab import Failed, Finished, compare, demo_questions
from ragtune.modes import DEFAULT_LAB_MODES, ModeStore, mode_from_form, parse_mode_ids
from ragtune.pipeline import Pipeline
from ragtune.store import LogFilter, QueryLog


def preselect_modes(known: list[str]) -> None:
    """Modes from the link (?modes=rag,rag+lora) on the first run; unknown ids are reported."""
    chosen, unknown = parse_mode_ids(st.query_params.get("modes"), known)
    if unknown:
        # The link is anyone's text: shown inert, so a crafted link cannot load anything.
        st.warning(escape_markdown(f"Ignored unknown modes in the link: {', '.join(unknown)}. "
                                   f"Known: {', '.join(known)}."))
    if "lab_modes" not in st.session_state:
        st.session_state["lab_modes"] = chosen or [m for m in DEFAULT_LAB_MODES if m in known]


def settings_panels(modes: ModeStore, economics: EconomicsStore) -> None:
    """Expanders: define a mode, delete one, and edit the cost model."""
    with st.expander("Define your own mode", icon=":material/add:"):
        values = render_mode_form([a.name for a in get_catalog().list()], key="lab_mode_form")
        with errors_shown("the mode form"):
            if values is not None:
                st.success(f"Saved the mode '{modes.save(mode_from_form(values)).label}'.")
            own = [m.id for m in modes.user_modes()]
            doomed = st.selectbox("Delete a saved mode", own, key="lab_mode_delete") if own else None
            if doomed and st.button("Delete", key="lab_mode_delete_button", icon=":material/delete:"):
                modes.delete(doomed)
                st.rerun()
    with st.expander("Cost settings: $/hour, API prices, training cost", icon=":material/payments:"):
        with errors_shown("the cost settings"):
            edited = render_cost_settings(economics.load(), default_rate=get_settings().compute_dollars_per_hour,
                                          key="lab_costs")
            if edited is not None:
                economics.save(config_from_form(edited))
                st.success("Saved: new queries use these prices.")
            if st.button("Back to the default prices", key="lab_costs_reset"):
                economics.reset()
                st.rerun()


def show_results(results: list[Finished | Failed]) -> None:
    """The finished answers (kept across reruns) with their verdicts, and this comparison's charts."""
    judged = next((r for r in results if isinstance(r, Finished) and r.verdict is not None), None)
    if judged is not None:
        st.caption(f"A demo question: answers are checked against demo documents {judged.version}.")
    for column, result in zip(st.columns(len(results)), results):
        with column:
            render_mode_header(result.mode, key=f"lab_head_{result.mode.id}")
            if isinstance(result, Failed):
                st.error(result.error)
            else:
                render_answer_card(result.answer, verdict=result.verdict, key=f"lab_card_{result.mode.id}")
    render_comparison_charts([r.answer for r in results if isinstance(r, Finished)], key="lab_now")


def lab() -> None:
    settings = get_settings()
    modes, economics = ModeStore(settings.modes_file), EconomicsStore(settings.economics_file)
    log = QueryLog(settings.query_log_file)
    try:
        kb = get_knowledge_base()
        workspaces = [w.name for w in kb.list_workspaces()]
    except RagtuneError as exc:
        kb, workspaces = None, []
        st.warning(f"The knowledge base is unavailable, so modes that retrieve cannot run: {exc}")
    preselect_modes(modes.ids())
    top = st.container()  # the controls sit above the panels but are drawn after them, so a
    settings_panels(modes, economics)  # mode saved in a panel is listed on the same run
    with top:
        question, chosen_ids, workspace = render_lab_controls(demo_questions(), modes.all(), workspaces,
                                                              settings.demo_workspace, key="lab")
        clicked = st.button("Compare", key="lab_run", type="primary", icon=":material/play_arrow:",
                            disabled=not chosen_ids)
    if clicked:
        if not question.strip():
            st.error("Type a question (or pick a demo question) first.")
            return
        pipeline = Pipeline(get_runtime(), kb, get_catalog(), settings, economics.load())
        chosen = modes.resolve(chosen_ids)
        events = compare(pipeline, question, chosen, workspace, log=log, source="lab")
        st.session_state["lab_results"] = render_live_comparison(events, len(chosen), key="lab_live")
        st.rerun()  # draw the finished cards and charts in place of the live columns
    if st.session_state.get("lab_results"):
        show_results(st.session_state["lab_results"])
    st.subheader("Every lab query so far", anchor=False)
    render_history_charts(log.entries(LogFilter(limit=500)), key="lab_history")


st.title("Lab")
st.caption("One question, several ways of answering it: the model alone, with retrieval, with a LoRA "
           "adapter, with both, and the baselines. Answers, format, citations, latency and cost.")
with errors_shown("the Lab"):
    lab()
