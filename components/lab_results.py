"""A finished Lab comparison: its columns of answer cards and its charts, how to take it away (the
permalink, the HTML one-pager and the Markdown), what a link said, and the freshness offer of a
changed-fact question. Fresh answers and answers read back from the query log draw alike."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

import streamlit as st

from components.answer_card import render_answer_card
from components.lab import render_comparison_charts, render_mode_header
from components.safe import escape_markdown
from ragtune.lab import Failed, Finished
from ragtune.lab_export import comparison_html, comparison_markdown
from ragtune.store import LogEntry

if TYPE_CHECKING:
    from ragtune.lab import FreshnessOffer
    from ragtune.lab_share import LabComparison, LinkReading, StoredComparison


def _judging_caption(comparison: LabComparison) -> str | None:
    fresh = [r for r in comparison.results if isinstance(r, Finished)]
    judged = next((r for r in fresh if r.verdict is not None), None)
    if judged is not None:
        return f"A demo question: answers are checked against demo documents {judged.version}."
    unjudged = next((r for r in fresh if r.not_judged), None)
    if unjudged is not None and unjudged.not_judged:
        return f"A demo question, {unjudged.not_judged}: the verdicts are left out."
    return None


def render_comparison(comparison: LabComparison, *, key: str) -> None:
    """One column per mode (header, then the answer card or why the mode could not answer), then
    this comparison's latency and cost charts. ``comparison.note`` (a column the question added)
    comes first."""
    if comparison.note:
        st.info(escape_markdown(comparison.note), icon=":material/add_circle:")
    if caption := _judging_caption(comparison):
        st.caption(escape_markdown(caption))
    answered: list = []
    for column, result in zip(st.columns(len(comparison.results) or 1), comparison.results):
        with column:
            if isinstance(result, LogEntry):
                st.subheader(escape_markdown(result.mode_label), anchor=False)  # a user's own mode: their text
                st.caption(escape_markdown(f"{result.mode_id} · stored answer #{result.id}"))
                render_answer_card(result, key=f"{key}_card_{result.mode_id}")
                answered.append(result)
                continue
            render_mode_result(result, key=key)
            if isinstance(result, Finished):
                answered.append(result.answer)
    render_comparison_charts(answered, key=key)


def render_mode_result(result: Finished | Failed, *, key: str) -> None:
    """One mode's column: its header, then its answer card with the verdict (or why it was not judged), or
    why the mode could not answer (the Lab's comparison and the Tour's steps)."""
    render_mode_header(result.mode, key=f"{key}_head_{result.mode.id}")
    if isinstance(result, Failed):
        st.error(escape_markdown(result.error))
    else:
        render_answer_card(result.answer, verdict=result.verdict, not_judged=result.not_judged,
                           key=f"{key}_card_{result.mode.id}")


def render_take_away(comparison: LabComparison, *, base_url: str | None, key: str) -> None:
    """The comparison's permalink, and download buttons for the HTML one-pager and the Markdown
    (built when clicked: the one-pager carries plotly.js, a few MB)."""
    link = comparison.link
    address = f"{base_url}?{urlencode(link.query_params())}" if base_url else link.path()
    with st.container(border=True, key=key):
        st.markdown("**Share and take away**")
        st.caption("This page's address now opens this comparison: its stored answers for you (each user sees "
                   "only their own; a colleague sees the question and modes, with Run again).")
        st.code(address, language=None, wrap_lines=True)
        name = f"ragtune-lab-{comparison.run_id}"
        with st.container(horizontal=True):
            st.download_button("HTML one-pager", lambda: comparison_html(comparison), file_name=f"{name}.html",
                               mime="text/html", key=f"{key}_html", on_click="ignore", icon=":material/download:",
                               help="Answers, badges, timings, citations and the charts in one file that opens "
                               "offline.")
            st.download_button("Markdown", lambda: comparison_markdown(comparison), file_name=f"{name}.md",
                               mime="text/markdown", key=f"{key}_md", on_click="ignore", icon=":material/download:")


def render_link_notes(reading: LinkReading, stored: StoredComparison | None, *, key: str) -> bool:
    """What a link said: values refused, modes unknown, and its stored answers' state (shown, gone,
    edited); returns True on the run where "Run again" was clicked."""
    if reading.refused:  # the core's permission message: the link's workspace is not this user's to read
        st.error(escape_markdown(reading.refused), icon=":material/lock:")
    for problem in reading.problems:
        st.warning(escape_markdown(problem), icon=":material/link_off:")
    if reading.unknown_modes:
        # The link is anyone's text: shown inert, so a crafted link cannot load anything.
        st.warning(escape_markdown(f"Ignored unknown modes in the link: {', '.join(reading.unknown_modes)}."))
    if stored is None:
        return False
    if stored.status != "shown":
        st.warning(stored.message, icon=":material/history_toggle_off:")
        return False
    with st.container(horizontal=True, vertical_alignment="center", key=key):
        st.info(stored.message, icon=":material/history:")
        return st.button("Run again", key=f"{key}_again", icon=":material/replay:", type="primary")


def render_freshness_offer(offer: FreshnessOffer, *, key: str) -> bool:
    """The changed-fact question's next step in place: switch the demo documents' version and ask
    again, with the warning that it changes the workspace for everyone. Returns True when clicked."""
    with st.container(border=True, key=key):
        st.markdown(f"**Freshness:** these answers come from version {offer.current[1]} of the demo documents.")
        clicked = st.button(offer.label, key=f"{key}_switch", icon=":material/swap_horiz:", type="primary")
        st.caption(escape_markdown(offer.caution))
    return clicked
