"""History: one's own lab queries (an admin: everyone's, filtered by user), charted over time, one click from
each answer, exportable."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import streamlit as st

from app_resources import get_settings, session_scope
from components.history import render_entry, render_history_charts, render_log_table
from components.format import confirm_button
from components.safe import errors_shown
from ragtune.access import ScopedQueryLog
from ragtune.errors import RagtuneError
from ragtune.store import LogFilter

WINDOWS: dict[str, timedelta | None] = {
    "All time": None, "Last hour": timedelta(hours=1), "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7), "Last 30 days": timedelta(days=30),
}
NO_ADAPTER = ""
ALL_USERS = "(everyone)"


def user_label(user: str) -> str:
    return user or "(before sign-in)"


def filters(log: ScopedQueryLog, users: list[str]) -> LogFilter:
    """The filter widgets: mode, workspace, model, adapter, time range, and (an admin's, once more than the local
    user has asked) the user."""
    top = st.columns(3)
    modes = top[0].multiselect("Modes", log.distinct("mode_id"), key="hist_modes", placeholder="all")
    workspaces = top[1].multiselect("Workspaces", log.distinct("workspace"), key="hist_workspaces",
                                    placeholder="all", format_func=lambda w: w or "(none)")
    models = top[2].multiselect("Models", log.distinct("model_id"), key="hist_models", placeholder="all")
    bottom = st.columns(3)
    adapters = bottom[0].multiselect("Adapters", log.distinct("adapter"), key="hist_adapters",
                                     placeholder="all", format_func=lambda a: a or "(no adapter)")
    window = bottom[1].selectbox("Time range", list(WINDOWS), key="hist_window")
    since = datetime.now(timezone.utc) - WINDOWS[window] if WINDOWS[window] else None
    user = bottom[2].selectbox("User", [ALL_USERS, *users], key="hist_user", format_func=user_label) if users else None
    return LogFilter(modes=modes, workspaces=workspaces, models=models, adapters=adapters, since=since,
                     user=None if user in (None, ALL_USERS) else user)


def history() -> None:
    scope = session_scope()
    try:
        log = scope.query_log(get_settings().query_log_file)  # the user's own queries (an admin: everyone's)
    except RagtuneError as exc:
        st.error(str(exc))
        return
    if log.count() == 0:
        st.info(("The log is empty" if scope.is_admin else "You have asked nothing yet") + ": every comparison "
                "run in the Lab (or with `python -m ragtune lab`) lands here.", icon=":material/info:")
        return
    users = log.distinct("user") if scope.is_admin else []
    users = users if any(users) else []  # only the local user (or nobody signed in) has asked: no filter
    flt = filters(log, users)
    entries = log.entries(flt)
    st.caption(f"{len(entries)} of {log.count()} logged queries match.")
    render_history_charts(entries, key="hist_charts")

    st.subheader("Queries", anchor=False)
    st.caption("Click a row to read its answer.")
    selected = render_log_table(entries, key="hist_table", show_user=bool(users))
    if selected is not None:
        try:
            render_entry(log.get(selected), key="hist_entry")
        except RagtuneError as exc:
            st.error(str(exc))

    with st.container(horizontal=True, key="hist_actions"):
        st.download_button("Export these queries (CSV)", log.export_csv(flt), file_name="ragtune-queries.csv",
                           mime="text/csv", key="hist_export", on_click="ignore", icon=":material/download:")
    label, whose = ("Clear the whole log", "all") if scope.is_admin else ("Clear my queries", "your")
    if confirm_button(label, f"Delete {whose} {log.count()} logged queries? This cannot be undone.", key="hist_clear"):
        deleted = log.clear()
        st.session_state["hist_cleared"] = deleted
        st.rerun()


if "hist_cleared" in st.session_state:
    st.toast(f"Deleted {st.session_state.pop('hist_cleared')} queries from the log.")
st.title("History")
st.caption("Your lab queries (an admin sees everyone's): latency and cost over time by mode, each answer one click "
           "away.")
with errors_shown("the History page"):
    history()
