"""The Home page's views: the pitch and the thesis, the three doors, and the live status."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.format import page_link
from components.safe import escape_markdown, inline_code

if TYPE_CHECKING:
    from ragtune.status import HomeStatus

PITCH = (
    "**ragtune** answers the question every AI team argues about — *RAG or fine-tuning?* — with measurements "
    "instead of opinions. A small local model answers your questions plain, with retrieval over documents, with a "
    "LoRA adapter, or with both, side by side, and every answer is judged, timed and costed on this machine."
)
THESIS = "RAG is about what the model knows; fine-tuning is about how it behaves."
SEED_TABLE = (
    "| your need | the tool |\n|---|---|\n"
    "| new facts the model doesn't know, that change, or must be cited | RAG |\n"
    "| a strict output format, a tone, a decision rule | fine-tuning (a LoRA adapter) |\n"
    "| classification and routing | a small fine-tuned classifier |\n"
    "| a long prompt of examples on every request | fine-tuning removes the token tax |\n"
    "| most real systems | both: retrieve the facts, fine-tune the behaviour |"
)

#: (page path, title, icon, what happens there)
DOORS: tuple[tuple[str, str, str, str], ...] = (
    ("app_pages/tour.py", "Take the tour", ":material/slideshow:",
     "Eight steps, each thesis shown live on the local model with its measured rate, and two users who "
     "see different facts. For a meeting."),
    ("app_pages/decide.py", "Decide for your team", ":material/alt_route:",
     "Five steps of questions about your workload to a recommendation, its costs and a record you can "
     "share."),
    ("app_pages/lab.py", "Compare on your documents", ":material/science:",
     "One question, several modes side by side: answers, citations, format, latency and cost."),
)


def render_intro() -> None:
    """What ragtune is, in two sentences, and the thesis with the seed's table."""
    st.markdown(PITCH)
    st.markdown(f"> ### {THESIS}")
    with st.expander("Which tool for which need (the seed's table)", icon=":material/table:"):
        st.markdown(SEED_TABLE)


def render_doors(*, key: str) -> None:
    """The three ways in, side by side."""
    for column, (page, title, icon, what) in zip(st.columns(len(DOORS)), DOORS):
        url = page.rsplit("/", 1)[-1][:-3]
        with column, st.container(border=True, key=f"{key}_{page.rsplit('/', 1)[-1][:-3]}"):
            page_link(page, label=f"**{title}**", icon=icon, url_path=url)
            st.caption(what)


def render_status(status: HomeStatus, *, key: str) -> None:
    """Model, adapters and documents as they are now, each with what to do when something is missing."""
    model, adapters, documents = st.columns(3)
    with model.container(border=True, key=f"{key}_model"):
        st.markdown(":material/memory: **Model**")
        st.markdown(inline_code(status.model_id))
        if status.model_error:
            st.error(status.model_error)
        else:
            st.caption(f"loaded · {escape_markdown(status.model_detail)}")
    with adapters.container(border=True, key=f"{key}_adapters"):
        st.markdown(":material/layers: **Adapters**")
        st.markdown(", ".join(inline_code(a) for a in status.adapters) if status.adapters else "none")
        if status.missing_demo_adapters:
            st.caption("Not available for this model: " + ", ".join(status.missing_demo_adapters)
                       + ". Their Lab modes say so; train them on the Adapters page.")
        else:
            st.caption("Every adapter the demo needs is here.")
    with documents.container(border=True, key=f"{key}_documents"):
        st.markdown(":material/library_books: **Documents**")
        d = status.documents
        if d.error:
            st.error(escape_markdown(d.error))
        elif not d.workspaces:
            st.markdown("no workspace yet")
            st.caption("Add documents on the Knowledge page, or restore the demo workspace there.")
        else:
            st.markdown(f"{d.documents:,} documents · {d.chunks:,} chunks in {len(d.workspaces)} "
                        f"workspace{'s' if len(d.workspaces) != 1 else ''}")
            if d.demo_workspace:
                st.caption(f"The demo workspace {inline_code(d.demo_workspace)} holds version "
                           f"{d.demo_version[1:]} of the Tidewell Robotics documents.")
    if status.measured:
        again = (" Run the claims report (Benchmark page) to measure them on this machine."
                 if status.measured_shipped else "")
        st.caption(f":material/fact_check: The demo's rates come from the {escape_markdown(status.measured)}."
                   f"{again}")
    else:
        st.caption(":material/fact_check: No measured rates for this model yet: run the claims report on the "
                   "Benchmark page (or `python -m ragtune showcases --measure`).")
