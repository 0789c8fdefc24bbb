"""What every view draws the same way: chart options, the latency stages' colours, money,
the answer-format badge, and the two-step confirm button of destructive actions."""

from __future__ import annotations

import streamlit as st

# The latency stages' order and colours are the core's (the exported one-pager draws them too).
from ragtune.charts import LATENCY_STAGES as LATENCY_STAGES
from ragtune.economics import money as money  # the exported one-pager writes dollars the same way
from ragtune.evaluation.scoring import format_outcome

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# An answer's format (ragtune.evaluation.scoring.format_outcome): colour by how it went, icon by
# what came back. A missed format is orange, never red: red is for a wrong answer, and a correct
# answer in the wrong format must not look failed.
FORMAT_COLOURS: dict[str, str] = {"met": "green", "missed": "orange", "none": "gray"}
FORMAT_ICONS: dict[str, str] = {
    "ok": ":material/check_circle:", "truncated": ":material/content_cut:",
    "repetition": ":material/repeat:", "invalid_json": ":material/notes:",
    "schema_violation": ":material/rule:", "unknown_citation": ":material/link_off:",
    "free_text": ":material/notes:",
}


def render_format_badge(status: str, text: str = "") -> None:
    """The badge of an answer's format: what the prompt asked for and what came back
    (``asked for JSON · got free text``), from its parse status and raw text (ragtune decides)."""
    outcome = format_outcome(status, text)
    st.badge(outcome.label, color=FORMAT_COLOURS[outcome.tone],  # type: ignore[arg-type]
             icon=FORMAT_ICONS.get(status, ":material/help:"))


def confirm_button(label: str, question: str, *, key: str) -> bool:
    """A button that asks before a destructive action.

    The first click shows ``question`` with "Yes" and "Cancel"; returns True only on
    the run where "Yes" was clicked. State lives under ``st.session_state[key + "_pending"]``.
    """
    pending = f"{key}_pending"
    if st.button(label, key=key):
        st.session_state[pending] = True
    if not st.session_state.get(pending):
        return False
    st.warning(question, icon=":material/warning:")
    yes, no = st.columns(2)
    if yes.button("Yes, do it", key=f"{key}_yes", type="primary"):
        st.session_state[pending] = False
        return True
    if no.button("Cancel", key=f"{key}_cancel"):
        st.session_state[pending] = False
        st.rerun()
    return False


def page_link(page: str, *, label: str, icon: str | None = None, url_path: str, container=None,  # noqa: ANN001
              query_params: dict[str, str] | None = None) -> None:
    """A link to another page of the app (``page``: its file, e.g. "app_pages/lab.py"), with ``query_params``
    in its address; when the page runs on its own (not through app.py, so no page is registered) a plain link
    to ``/url_path`` instead."""
    from urllib.parse import urlencode

    from streamlit.errors import StreamlitAPIException

    target = container if container is not None else st
    try:
        target.page_link(page, label=label, icon=icon, query_params=query_params)
    except StreamlitAPIException:
        target.markdown(f"[{label}](/{url_path}{'?' + urlencode(query_params) if query_params else ''})")
