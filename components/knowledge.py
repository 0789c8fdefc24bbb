"""Knowledge-base views: ingestion results, document list, chunks, search results, confirmations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.safe import escape_markdown, inline_code

if TYPE_CHECKING:
    from ragtune.retrieval.types import Chunk, DocumentInfo, IngestReport, SearchResult, WorkspaceInfo


def render_workspace_summary(info: WorkspaceInfo, *, key: str) -> None:
    """Document and chunk counts of one workspace, as metrics."""
    with st.container(key=key, horizontal=True):
        st.metric("Documents", info.n_documents)
        st.metric("Chunks", info.n_chunks)


def render_ingest_report(report: IngestReport, *, key: str) -> None:
    """Per-file results of an ingestion batch: a table, and each failure as an error."""
    with st.container(key=key):
        ok = len(report.files) - len(report.failed)
        (st.success if not report.failed else st.warning)(
            f"{ok} of {len(report.files)} files ingested into '{report.workspace}'."
        )
        st.dataframe(
            [
                {
                    "file": f.path or f.name,
                    "result": f.status,
                    "document": f.doc_id or "",
                    "version": f.version,
                    "chunks": f.n_chunks,
                }
                for f in report.files
            ],
            hide_index=True,
            key=f"{key}_table",
        )
        for failed in report.failed:
            st.error(failed.error or f"{failed.name}: failed.")


def render_document_table(docs: list[DocumentInfo], *, key: str) -> None:
    """The workspace's documents with their versions, chunk counts and update times."""
    if not docs:
        st.info("No documents yet: upload some above.")
        return
    st.dataframe(
        [
            {
                "document": d.doc_id,
                "title": d.title,
                "file": d.source,
                "version": d.version,
                "chunks": d.n_chunks,
                "characters": d.n_chars,
                "updated": d.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            }
            for d in docs
        ],
        hide_index=True,
        key=key,
    )


def render_chunks(chunks: list[Chunk], *, key: str) -> None:
    """A document's chunks in order, each with its id, section and character span."""
    with st.container(key=key):
        for chunk in chunks:
            with st.container(border=True):
                # Titles, sections and file names are the documents' own text: rendered inert
                # (the chunk text itself is drawn as plain text).
                st.caption(
                    f"{inline_code(chunk.chunk_id)} · {escape_markdown(chunk.section or chunk.title)} · "
                    f"chars {chunk.start}–{chunk.end} · v{chunk.version}"
                )
                st.text(chunk.text)


def render_search_result(result: SearchResult, *, key: str) -> None:
    """Ranked chunks with their scores and citation ids."""
    with st.container(key=key):
        st.caption(
            f"{len(result.hits)} chunks · {result.mode} search · {result.took_ms:.0f} ms · "
            f"workspace '{result.workspace}'"
        )
        if not result.hits:
            st.info("Nothing matched.")
        for hit in result.hits:
            parts = [f"score {hit.score:.4f}"]
            if hit.vector_score is not None and result.mode == "hybrid":
                parts.append(f"cosine {hit.vector_score:.3f}")
            if hit.keyword_score is not None and result.mode == "hybrid":
                parts.append(f"BM25 {hit.keyword_score:.2f}")
            with st.container(border=True):
                st.markdown(f"**[{hit.rank}] {escape_markdown(hit.chunk.title)}** — {inline_code(hit.chunk_id)} "
                            f"(v{hit.chunk.version})")
                st.caption(" · ".join(parts) + f" · {escape_markdown(hit.chunk.source)}, "
                           f"chars {hit.chunk.start}–{hit.chunk.end}")
                st.text(hit.chunk.text)


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
