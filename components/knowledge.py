"""Knowledge-base views: the upload, search and demo-version forms, ingestion progress and results,
the document list and picker, chunks and search results."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st

from components.format import confirm_button
from components.safe import escape_markdown, inline_code
import ragtune.retrieval.ingest as ingestion
from ragtune.retrieval.ingest import DOCUMENT_IDENTITY_RULE
from ragtune.retrieval.loaders import SUPPORTED_EXTENSIONS
from ragtune.retrieval.progress import chunk_progress
from ragtune.errors import RagtuneError
from ragtune.retrieval.types import SEARCH_MODES, SearchMode
from ragtune.retrieval.workspace_actions import WorkspaceAction

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

    from ragtune.retrieval.knowledge import KnowledgeBase

    from ragtune.retrieval.types import Chunk, DocumentInfo, FileResult, IngestReport, SearchResult, WorkspaceInfo

    ProgressFn = Callable[[int, int, FileResult], None]


def render_workspace_manager(name: str | None, *, restorable_demo: str | None, expanded: bool,
                             key: str, can_write: bool = True, can_manage: bool = True) -> WorkspaceAction | None:
    """Create a workspace, restore the deleted demo (``restorable_demo``), rename, empty or delete
    ``name`` (the last two confirmed first); returns what the user asked for on this run. Emptying is
    offered only with ``can_write`` (the editor role), renaming and deleting only with ``can_manage`` (owner)."""
    with st.expander("Manage workspaces", icon=":material/folder_managed:", expanded=expanded):
        new = st.text_input("New workspace", key=f"{key}_new_name", placeholder="team-docs")
        if st.button("Create workspace", key=f"{key}_create"):
            return WorkspaceAction("create", new)
        if restorable_demo and st.button("Restore the demo workspace", key=f"{key}_restore_demo"):
            return WorkspaceAction("restore_demo", restorable_demo)
        if name is None:
            return None
        if can_manage:
            target = st.text_input(f"Rename '{name}' to", key=f"{key}_rename_to")
            if st.button("Rename", key=f"{key}_rename"):
                return WorkspaceAction("rename", name, target)
        if can_write and confirm_button("Empty workspace", f"Remove every document from '{name}'?", key=f"{key}_empty"):
            return WorkspaceAction("empty", name)
        if can_manage and confirm_button("Delete workspace", f"Delete '{name}' and all its documents?",
                                         key=f"{key}_delete_ws"):
            return WorkspaceAction("delete", name)
    return None


def render_role_note(role: str | None, workspace: str, *, key: str) -> None:
    """What the user's role on ``workspace`` lets them do, when it is less than an owner's (an owner and an
    admin: nothing to say)."""
    if role == "owner":
        return
    shown = escape_markdown(workspace)
    if role == "editor":
        text = (f"You are an editor of '{shown}': you may add, edit and delete its documents; renaming or deleting "
                "the workspace is its owner's.")
    else:
        text = (f"You may read '{shown}': list and search its documents and ask about them in the Lab. Changing "
                "them needs the editor role: ask an admin.")
    with st.container(key=key):
        st.caption(text)


def render_workspace_summary(info: WorkspaceInfo, *, key: str) -> None:
    """Document and chunk counts of one workspace, as metrics."""
    with st.container(key=key, horizontal=True):
        st.metric("Documents", info.n_documents)
        st.metric("Chunks", info.n_chunks)


def stale_documents(kb: KnowledgeBase, name: str, *, key: str) -> list[str]:
    """:meth:`KnowledgeBase.stale_documents`, read once per session and per state of the workspace's
    documents (it reads every chunk's span: not on each rerun); a damaged store reads as none (the
    documents panel reports it)."""
    state = (name, tuple((d.doc_id, d.version, d.n_chunks, d.sha256) for d in kb.list_documents(name)))
    cached = st.session_state.get(f"{key}_cache")
    if cached is None or cached[0] != state:
        try:
            stale = kb.stale_documents(name)
        except RagtuneError:
            stale = []
        cached = (state, stale)
        st.session_state[f"{key}_cache"] = cached
    return cached[1]


def render_stale_chunking(n_stale: int, chunk_size: int, chunk_overlap: int, *, key: str) -> bool:
    """A warning that ``n_stale`` documents were chunked with other settings, and a button to cut
    them again; True when it is pressed."""
    if not n_stale:
        return False
    with st.container(key=key):
        st.warning(
            f"{n_stale} document{'s were' if n_stale != 1 else ' was'} chunked with other settings than today's "
            f"({chunk_size} characters, {chunk_overlap} overlap): search and the Lab's prompts use the old chunks. "
            "Re-chunking keeps the text and the version; each document switches when its new chunks are in.",
            icon=":material/content_cut:",
        )
        return st.button(f"Re-chunk {n_stale} document{'s' if n_stale != 1 else ''}", key=f"{key}_button")


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



class SearchRequest(NamedTuple):
    """What the search form asks for."""

    query: str
    mode: SearchMode
    k: int


def render_search_form(default_mode: SearchMode, *, key: str) -> SearchRequest | None:
    """The query, the search mode and the number of chunks; None while the query is blank."""
    query = st.text_input("Search this workspace", key=f"{key}_query", placeholder="How long is the warranty?")
    left, right = st.columns([3, 1])
    mode = left.radio("Search mode", SEARCH_MODES, index=SEARCH_MODES.index(default_mode),
                      key=f"{key}_mode", horizontal=True)
    k = right.number_input("Chunks", min_value=1, max_value=20, value=5, key=f"{key}_k")
    return SearchRequest(query, mode, int(k)) if query.strip() else None


def render_document_picker(docs: list[DocumentInfo], *, key: str) -> DocumentInfo | None:
    """Choose one of the workspace's documents (by title and id)."""
    by_id = {d.doc_id: d for d in docs}
    doc_id = st.selectbox("Document", list(by_id), key=key, format_func=lambda d: f"{by_id[d].title} ({d})")
    return by_id.get(doc_id) if doc_id is not None else None


def render_demo_switch(current: str, *, key: str) -> str | None:
    """The demo's version (``current``, the stored truth); returns the other version when the user picks it."""
    flag = f"{key}_switch"
    switching = st.session_state.pop(flag, False)
    if not switching:  # the stored version is the truth, whoever switched it
        st.session_state[f"{key}_version"] = current
    chosen = st.radio(
        "Demo knowledge base version", ["v1", "v2"], key=f"{key}_version", horizontal=True,
        on_change=lambda: st.session_state.update({flag: True}),
        help="Version 2 changes a few facts (a price, a date, policy limits): search again to see them.",
    )
    return chosen if switching and chosen != current else None


def render_upload_limit(setting_mb: int, server_mb: int) -> int:
    """The per-file limit the uploader enforces: RAGTUNE_MAX_UPLOAD_MB, unless the server's own cap
    (server.maxUploadSize, which `make run` sets from the same setting) is lower; then say so."""
    if server_mb < setting_mb:
        st.warning(f"This server accepts uploads up to {server_mb} MB (server.maxUploadSize), below "
                   f"RAGTUNE_MAX_UPLOAD_MB ({setting_mb} MB): start the app with `make run`, which passes the setting.")
    return min(server_mb, setting_mb)


def render_uploader(limit_mb: int, *, key: str) -> tuple[list[UploadedFile], bool]:
    """Files, or a whole folder (the toggle), to add; returns them and whether a folder was chosen."""
    folder = st.toggle("Upload a whole folder", key=f"{key}_folder_mode")
    files = st.file_uploader(
        "Add documents (.md, .txt, .pdf, .html, .csv, .json)", help=DOCUMENT_IDENTITY_RULE,
        accept_multiple_files="directory" if folder else True, max_upload_size=limit_mb,
        key=f"{key}_upload_folder" if folder else f"{key}_upload",
        type=[ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS] if folder else None,
    )
    return list(files or []), folder


def render_ingest_progress(ingest: Callable[[ProgressFn], IngestReport], *, n_files: int) -> IngestReport:
    """Run ``ingest`` (given a per-file progress callback) inside a status box with a progress bar."""
    with st.status(f"Ingesting {n_files} file(s)...", expanded=True) as status:
        bar = st.progress(0.0)

        within = st.empty()  # a large file's own progress: minutes of embedding otherwise look frozen

        def progress(done: int, total: int, result: FileResult) -> None:
            bar.progress(done / total, text=f"{done}/{total}: {result.name} — {result.status}")

        def chunks(source: str, done: int, total: int) -> None:
            if total > ingestion.WRITE_BATCH:
                within.progress(done / total, text=f"{source}: {done:,}/{total:,} chunks embedded")

        with chunk_progress(chunks):
            report = ingest(progress)
        status.update(label="Ingestion finished", state="error" if report.failed else "complete")
    return report
