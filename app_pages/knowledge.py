"""Knowledge: workspaces, documents and their chunks, inline edits, demo versions, search playground — the
workspaces the user may read, with the changes their role allows (the core checks each one)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app_resources import get_scoped_knowledge_base, get_settings
from components import knowledge as view
from components.format import confirm_button
from components.safe import errors_shown
from ragtune.access import ScopedKnowledgeBase
from ragtune.errors import RagtuneError
from ragtune.retrieval import SearchMode
from ragtune.retrieval.demo import demo_version, set_demo_version
from ragtune.retrieval.ingest import strip_common_folder
from ragtune.retrieval.workspace_actions import WorkspaceAction, WorkspaceChange, apply_workspace_action


def act(change: Callable[[], object], message: str = "", *, select: str | None = None) -> None:
    """Run a change; on success remember its message (and the workspace to select), rerun.
    A workspace action says both itself (a WorkspaceChange)."""
    try:
        result = change()
    except RagtuneError as exc:
        st.error(str(exc))
        return
    if isinstance(result, WorkspaceChange):
        message, select = result
    st.session_state["kn_flash"] = message  # shown after the rerun
    if select is not None:
        st.session_state["kn_select"] = select
    st.rerun()


def workspace_panel(kb: ScopedKnowledgeBase, demo: str) -> str | None:
    """Pick a workspace; create, rename, empty or delete one; restore a deleted demo. Returns the chosen name."""
    names = [w.name for w in kb.list_workspaces()]  # the ones the user may read
    if st.session_state.get("kn_select") in names:
        st.session_state["kn_workspace"] = st.session_state.pop("kn_select")
    name = st.selectbox("Workspace", names, key="kn_workspace") if names else None
    restorable = demo if demo not in names and kb.scope.is_admin else None  # the shared demo is an admin's
    action = view.render_workspace_manager(name, restorable_demo=restorable, expanded=not names, key="kn",
                                           can_write=bool(name) and kb.can("write", name),
                                           can_manage=bool(name) and kb.can("manage", name))
    if action is not None:
        with st.spinner("Restoring the demo documents..." if action.kind == "restore_demo" else "Saving..."):
            act(lambda: apply_workspace_action(kb, action))
    return name


def demo_panel(kb: ScopedKnowledgeBase, name: str) -> None:
    """Switch the demo between version 1 and version 2 of its documents."""
    if chosen := view.render_demo_switch(demo_version(kb, name), key="kn_demo"):
        with st.spinner(f"Switching the demo to {chosen}..."):
            report = set_demo_version(kb, chosen, name)
        st.success(f"Demo is now {chosen}; re-indexed: {', '.join(report.replaced) or 'nothing'}.")


def upload_panel(kb: ScopedKnowledgeBase, name: str, limit_mb: int) -> None:
    """Upload many files at once; show per-file progress and results. Files stay in the uploader
    after ingestion, so each is ingested once (by its upload id), not again on every click."""
    files, folder = view.render_uploader(limit_mb, key="kn")
    ingested: set[str] = st.session_state.setdefault("kn_ingested_uploads", set())
    files = [f for f in files if f"{name}:{f.file_id}" not in ingested]
    if not files and st.session_state.get(f"kn_upload{'_folder' if folder else ''}"):
        st.caption("The files in the uploader are ingested; add new ones to ingest them.")
    if files and st.button(f"Ingest {len(files)} file(s)", key="kn_ingest", type="primary"):
        paths = strip_common_folder([f.name for f in files]) if folder else [f.name for f in files]
        batch = [(p, f.getvalue()) for p, f in zip(paths, files)]
        report = view.render_ingest_progress(lambda progress: kb.ingest_bytes(name, batch, on_progress=progress),
                                        n_files=len(files))
        ingested.update(f"{name}:{f.file_id}" for f in files)
        st.session_state["kn_report"] = report
        st.rerun()  # redraw the counts and the document list with the new documents
    report = st.session_state.get("kn_report")
    if report is not None and report.workspace == name:
        view.render_ingest_report(report, key="kn_report_view")


def documents_panel(kb: ScopedKnowledgeBase, name: str, can_write: bool) -> None:
    """List documents; preview, edit (re-indexed on save) or delete one (editing and deleting: an editor's)."""
    docs = kb.list_documents(name)
    view.render_document_table(docs, key="kn_documents")
    if not docs:
        return
    doc = view.render_document_picker(docs, key="kn_doc")
    if doc is None:
        return
    doc_id = doc.doc_id
    if not can_write:
        view.render_chunks(kb.chunks(name, doc_id), key="kn_chunks")
        return
    chunks_tab, edit_tab, delete_tab = st.tabs(["Chunks", "Edit", "Delete"])
    with chunks_tab:
        view.render_chunks(kb.chunks(name, doc_id), key="kn_chunks")
    with edit_tab:
        text = st.text_area(
            f"Text of {doc.source} (version {doc.version})", kb.document_text(name, doc_id),
            height=360, key=f"kn_edit_{doc_id}_v{doc.version}",
        )
        if st.button("Save and re-index", key="kn_save", type="primary"):
            act(lambda: kb.update_document_text(name, doc_id, text),
                f"Saved {doc.source}: re-indexed as version {doc.version + 1}.")
    with delete_tab:
        if confirm_button("Delete document", f"Delete '{doc.title}' and its {doc.n_chunks} chunks?",
                          key="kn_delete_doc"):
            act(lambda: kb.delete_document(name, doc_id), f"Deleted {doc.source}.")


def search_panel(kb: ScopedKnowledgeBase, name: str, default_mode: SearchMode) -> None:
    """Search the workspace; show ranked chunks with their scores."""
    if request := view.render_search_form(default_mode, key="kn"):
        view.render_search_result(kb.search(name, request.query, mode=request.mode, k=request.k), key="kn_results")


def knowledge() -> None:
    st.title("Knowledge")
    with errors_shown("the Knowledge page"):
        settings = get_settings()
        with st.spinner("Opening the knowledge base (the first start builds the demo)..."):
            kb = get_scoped_knowledge_base()
        if message := st.session_state.pop("kn_flash", None):
            st.success(message)
        name = workspace_panel(kb, settings.demo_workspace)
        if name is None:
            st.info("Create a workspace to add documents.")
            return
        view.render_workspace_summary(next(w for w in kb.list_workspaces() if w.name == name), key="kn_summary")
        view.render_role_note(kb.role(name), name, key="kn_role")
        can_write = kb.can("write", name)
        if can_write and view.render_stale_chunking(len(view.stale_documents(kb, name, key="kn_stale")),
                                                    kb.chunk_size, kb.chunk_overlap, key="kn_stale"):
            st.session_state.pop("kn_stale_cache", None)
            with st.spinner("Re-chunking..."):
                act(lambda: apply_workspace_action(kb, WorkspaceAction("rechunk", name)))
        if name == settings.demo_workspace and can_write:  # switching versions changes them for every reader
            demo_panel(kb, name)
        st.subheader("Documents")
        if can_write:
            server_mb = int(st.get_option("server.maxUploadSize"))
            upload_panel(kb, name, view.render_upload_limit(settings.max_upload_mb, server_mb))
        documents_panel(kb, name, can_write)
        st.subheader("Search")
        search_panel(kb, name, settings.search_mode)

knowledge()
