"""What every view draws the same way: chart options, the latency stages' colours, money,
the answer-format badge, and the two-step confirm button of destructive actions."""

from __future__ import annotations

import streamlit as st

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

# Latency stages in the order they happen; each keeps its colour on every chart of the app.
LATENCY_STAGES: tuple[tuple[str, str, str], ...] = (
    ("queue_wait_ms", "Queue wait", "#9e9e9e"),
    ("retrieval_ms", "Retrieval", "#ffa726"),
    ("adapter_switch_ms", "Adapter switch", "#ab47bc"),
    ("prompt_eval_ms", "Prompt eval", "#42a5f5"),
    ("generation_ms", "Generation", "#66bb6a"),
)

# An answer's format verdict (ragtune.answer's FormatStatus): label, colour, icon.
FORMAT_BADGES: dict[str, tuple[str, str, str]] = {
    "ok": ("valid JSON", "green", ":material/check_circle:"),
    "truncated": ("cut off at the token limit", "red", ":material/content_cut:"),
    "repetition": ("stopped: repetition", "red", ":material/repeat:"),
    "invalid_json": ("not JSON", "red", ":material/error:"),
    "schema_violation": ("JSON breaks the schema", "orange", ":material/rule:"),
    "unknown_citation": ("cites chunks it was not given", "orange", ":material/link_off:"),
    "free_text": ("free text (no format asked)", "gray", ":material/notes:"),
}


def money(value: float) -> str:
    """Dollars, readable at every size: whole dollars from $100, cents from $1, then four
    decimals, and two significant digits below a cent.

    Examples:
        >>> [money(v) for v in (0, 1234.5, 12.5, 0.0123, 0.000123)]
        ['$0', '$1,234', '$12.50', '$0.0123', '$0.00012']
    """
    size = abs(value)
    if size == 0:
        return "$0"
    if size >= 100:
        return f"${value:,.0f}"
    if size >= 1:
        return f"${value:,.2f}"
    return f"${value:,.4f}" if size >= 0.01 else f"${value:.2g}"


def render_format_badge(status: str) -> None:
    """The badge of an answer's format verdict (an unknown status shows as itself, in grey)."""
    label, colour, icon = FORMAT_BADGES.get(status, (status, "gray", None))  # type: ignore[arg-type]
    st.badge(label, color=colour, icon=icon)  # type: ignore[arg-type]


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
