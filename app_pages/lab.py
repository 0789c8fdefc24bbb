"""Lab: one question, several ways of answering it, side by side, with latency and cost; shared by
a permalink, taken away as an HTML one-pager or Markdown."""

from __future__ import annotations

import streamlit as st

from app_resources import (get_runtime, get_scoped_catalog, get_scoped_knowledge_base, get_settings, get_showcases,
                           get_tenant_demo, session_scope)
from components.history import render_history_charts
from components.lab import render_cost_settings, render_lab_controls, render_live_comparison, render_mode_form
from components.lab_results import render_comparison, render_freshness_offer, render_link_notes, render_take_away
from components.safe import errors_shown
from components.tenants import render_lab_preset, render_two_tenants
from ragtune.access import Scope, ScopedKnowledgeBase, ScopedModeStore, ScopedQueryLog
from ragtune.economics import EconomicsStore, config_from_form
from ragtune.errors import RagtuneError
from ragtune.lab import (FreshnessOffer, check_question, compare, demo_questions, freshness_offer, new_run_id,
                         plan_comparison, switch_documents)
from ragtune.lab_share import LabComparison, read_link, read_refusal, stored_comparison
from ragtune.modes import DEFAULT_LAB_MODES, mode_from_form
from ragtune.store import LogFilter


def open_link(modes: ScopedModeStore, log: ScopedQueryLog, kb: ScopedKnowledgeBase | None, workspaces: list) -> bool:
    """Read the URL (?q=&modes=&workspace=&run=) into the controls; show the user's stored answers; True: run again."""
    reading = read_link(st.query_params.to_dict(), known_modes=modes.ids(), workspaces=workspaces,
                        refusal=lambda name: read_refusal(kb, name))
    stored = stored_comparison(log, reading.link, modes.resolve(reading.link.modes), own_only=not log.scope.is_admin)
    defaults = [m for m in DEFAULT_LAB_MODES if m in modes.ids()]
    if st.session_state.get("lab_link") != reading.link:  # a new link: its values fill the controls
        st.session_state["lab_link"] = reading.link
        if reading.link.question:
            st.session_state["lab_question"] = reading.link.question
        if reading.link.workspace:
            st.session_state["lab_workspace"] = reading.link.workspace
        if reading.link.modes or reading.given:  # a question without modes: the default ones
            st.session_state["lab_modes"] = reading.link.modes or defaults
        if stored is not None:
            st.session_state["lab_shown"] = stored.comparison
    st.session_state.setdefault("lab_modes", defaults)
    shown = st.session_state.get("lab_shown")
    fresh = shown is not None and not shown.stored and shown.run_id == reading.link.run  # our own link
    again = render_link_notes(reading, None if fresh or not reading.given else stored, key="lab_link_notes")
    if again:  # the widgets are drawn below: the stored comparison's values go in first
        st.session_state.update(lab_question=reading.link.question, lab_modes=reading.link.modes,
                                lab_workspace=reading.link.workspace)
    return again


def settings_panels(scope: Scope, modes: ScopedModeStore, economics: EconomicsStore) -> None:
    """Expanders: define a mode, delete one of one's own, and (admins) edit the cost model."""
    with st.expander("Define your own mode", icon=":material/add:"):
        values = render_mode_form([a.name for a in get_scoped_catalog().list()], key="lab_mode_form")
        with errors_shown("the mode form"):
            if values is not None:
                st.success(f"Saved the mode '{modes.save(mode_from_form(values)).label}'.")
            own = [m.id for m in modes.user_modes() if scope.is_admin or m.owner == scope.owner]
            doomed = st.selectbox("Delete a saved mode", own, key="lab_mode_delete") if own else None
            if doomed and st.button("Delete", key="lab_mode_delete_button", icon=":material/delete:"):
                modes.delete(doomed)
                st.rerun()
    if not scope.is_admin:  # the prices every user's costs are computed with are an admin's to set
        return
    with st.expander("Cost settings: $/hour, API prices, training cost", icon=":material/payments:"):
        with errors_shown("the cost settings"):
            scope.require_admin("change the cost settings")  # the check is the core's, not only this page's
            edited = render_cost_settings(economics.load(), default_rate=get_settings().compute_dollars_per_hour,
                                          key="lab_costs")
            if edited is not None:
                economics.save(config_from_form(edited))
                st.success("Saved: new queries use these prices.")
            if st.button("Back to the default prices", key="lab_costs_reset"):
                economics.reset()
                st.rerun()


def run_comparison(question: str, mode_ids: list[str], workspace: str | None, kb: ScopedKnowledgeBase | None,
                   modes: ScopedModeStore, economics: EconomicsStore, log: ScopedQueryLog) -> bool:
    """Answer in every mode (plus what the question brings), live; keep it; the address is its permalink."""
    try:
        question = check_question(question)
    except RagtuneError as exc:
        st.error(str(exc))
        return False
    plan = plan_comparison(question, mode_ids, modes.ids())
    chosen = modes.resolve(plan.mode_ids)
    pipeline = session_scope().pipeline(get_runtime(), kb, get_settings(), economics.load())  # checks each retrieval
    if plan.note:
        st.info(plan.note, icon=":material/add_circle:")
    events = compare(pipeline, question, chosen, workspace, log=log, source="lab", run_id=(run_id := new_run_id()))
    results = render_live_comparison(events, len(chosen), key="lab_live")
    shown = LabComparison(question=question, workspace=workspace, mode_ids=plan.mode_ids, run_id=run_id,
                          results=results, note=plan.note)
    st.session_state.update(lab_shown=shown, lab_link=shown.link)  # our own link: not "opened" again
    st.query_params.from_dict(shown.link.query_params())
    return True


def lab() -> None:
    if render_lab_preset(st.query_params.get("preset"), key="lab_preset") == "tenants":  # one question, two users
        return render_two_tenants(get_tenant_demo(), measured=True, key="lab_tenants")
    settings, scope = get_settings(), session_scope()
    modes, economics = scope.modes(settings.modes_file), EconomicsStore(settings.economics_file)
    log = scope.query_log(settings.query_log_file)
    try:
        kb = get_scoped_knowledge_base()  # lists only the workspaces this user may read
        workspaces = [w.name for w in kb.list_workspaces()]
    except RagtuneError as exc:
        kb, workspaces = None, []
        st.warning(f"The knowledge base is unavailable, so modes that retrieve cannot run: {exc}")
    switch: FreshnessOffer | None = st.session_state.pop("lab_switch", None)  # asked for on the last run
    if switch is not None and (last := st.session_state.get("lab_shown")) is not None:
        st.session_state.update(lab_question=last.question, lab_modes=last.mode_ids, lab_workspace=last.workspace)
    again = open_link(modes, log, kb, workspaces) or switch is not None
    top = st.container()  # the controls sit above the panels but drawn after them: a mode saved there is listed
    settings_panels(scope, modes, economics)
    with top:
        question, chosen_ids, workspace = render_lab_controls(demo_questions(get_showcases()), modes.all(), workspaces,
                                                              settings.demo_workspace, key="lab")
        clicked = st.button("Compare", key="lab_run", type="primary", icon=":material/play_arrow:",
                            disabled=not chosen_ids)
    # A new comparison streams into the first slot while the others stay empty: the last one's cards go at once.
    live_slot, results_slot, history_slot = st.empty(), st.empty(), st.empty()
    if clicked or again:
        with live_slot.container():
            if switch is not None and kb is not None:
                with st.spinner(switch.label.replace(" and ask again", "…")):
                    switch_documents(kb, switch)
            if run_comparison(question, chosen_ids, workspace, kb, modes, economics, log):
                st.rerun()  # draw the finished cards and charts in place of the live columns
    elif (shown := st.session_state.get("lab_shown")) is not None:
        with results_slot.container():
            render_comparison(shown, key="lab_now")
            offer = freshness_offer(kb, shown.workspace, settings.demo_workspace, shown.question)  # editors only
            if offer is not None and render_freshness_offer(offer, key="lab_fresh"):
                st.session_state["lab_switch"] = offer  # carried out (and asked again) on the next run
                st.rerun()
            render_take_away(shown, base_url=st.context.url, key="lab_share")
    with history_slot.container():
        st.subheader("Every lab query so far" if scope.is_admin else "Your lab queries so far", anchor=False)
        render_history_charts(log.entries(LogFilter(limit=500)), key="lab_history")


st.title("Lab")
st.caption("One question, several ways of answering it: the model alone, with retrieval, with a LoRA adapter, with "
           "both, and the baselines. Answers, format, citations, latency and cost.")
with errors_shown("the Lab"):
    lab()
