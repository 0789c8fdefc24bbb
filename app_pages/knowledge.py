"""Knowledge: workspaces, documents and their chunks, inline edits, demo versions, search playground."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from app_resources import get_knowledge_base, get_settings
from components.knowledge import (
    confirm_button,
    render_chunks,
    render_document_table,
    render_ingest_report,
    render_search_result,
    render_workspace_summary,
)
from ragtune.errors import RagtuneError
from ragtune.retrieval import SEARCH_MODES, KnowledgeBase
from ragtune.retrieval.demo import demo_version, restore_demo_workspace, set_demo_version
from ragtune.retrieval.knowledge import DOCUMENT_IDENTITY_RULE, strip_common_folder
from ragtune.retrieval.loaders import SUPPORTED_EXTENSIONS


def flash(message: str) -> None:
    """Show ``message`` after the rerun that follows a change."""
    st.session_state["kn_flash"] = message


def act(action: Callable[[], object], message: str, *, select: str | None = None) -> None:
    """Run a change; on success remember the message (and the workspace to select), rerun."""
    try:
        action()
    except RagtuneError as exc:
        st.error(str(exc))
        return
    flash(message)
    if select is not None:
        st.session_state["kn_select"] = select
    st.rerun()


def workspace_panel(kb: KnowledgeBase, demo: str) -> str | None:
    """Pick a workspace; create, rename, empty or delete one; restore a deleted demo. Returns the chosen name."""
    names = [w.name for w in kb.list_workspaces()]
    if st.session_state.get("kn_select") in names:
        st.session_state["kn_workspace"] = st.session_state.pop("kn_select")
    name = st.selectbox("Workspace", names, key="kn_workspace") if names else None
    with st.expander("Manage workspaces", icon=":material/folder_managed:", expanded=not names):
        new = st.text_input("New workspace", key="kn_new_name", placeholder="team-docs")
        if st.button("Create workspace", key="kn_create"):
            act(lambda: kb.create_workspace(new), f"Created workspace '{new.strip()}'.", select=new.strip())
        if demo and demo not in names and st.button("Restore the demo workspace", key="kn_restore_demo"):
            with st.spinner("Restoring the demo documents..."):
                act(lambda: restore_demo_workspace(kb, demo), f"Restored workspace '{demo}'.", select=demo)
        if name is None:
            return None
        target = st.text_input(f"Rename '{name}' to", key="kn_rename_to")
        if st.button("Rename", key="kn_rename"):
            act(lambda: kb.rename_workspace(name, target), f"Renamed to '{target.strip()}'.", select=target.strip())
        if confirm_button("Empty workspace", f"Remove every document from '{name}'?", key="kn_empty"):
            act(lambda: kb.empty_workspace(name), f"Emptied '{name}'.")
        if confirm_button("Delete workspace", f"Delete '{name}' and all its documents?", key="kn_delete_ws"):
            act(lambda: kb.delete_workspace(name), f"Deleted workspace '{name}'.")
    return name


def demo_panel(kb: KnowledgeBase, name: str) -> None:
    """Switch the demo between version 1 and version 2 of its documents."""
    current = demo_version(kb, name)
    switching = st.session_state.pop("kn_demo_switch", False)
    if not switching:  # the stored version is the truth, whoever switched it
        st.session_state["kn_demo_version"] = current
    chosen = st.radio(
        "Demo knowledge base version", ["v1", "v2"], key="kn_demo_version", horizontal=True,
        on_change=lambda: st.session_state.update(kn_demo_switch=True),
        help="Version 2 changes a few facts (a price, a date, policy limits): search again to see them.",
    )
    if switching and chosen != current:
        with st.spinner(f"Switching the demo to {chosen}..."):
            report = set_demo_version(kb, chosen, name)
        changed = [f.doc_id for f in report.files if f.status == "replaced"]
        st.success(f"Demo is now {chosen}; re-indexed: {', '.join(changed) or 'nothing'}.")


def upload_limit_mb(setting_mb: int) -> int:
    """The per-file limit the uploader enforces: RAGTUNE_MAX_UPLOAD_MB, unless the server's own cap
    (server.maxUploadSize, which `make run` sets from the same setting) is lower; then say so."""
    server_mb = int(st.get_option("server.maxUploadSize"))
    if server_mb < setting_mb:
        st.warning(f"This server accepts uploads up to {server_mb} MB (server.maxUploadSize), below "
                   f"RAGTUNE_MAX_UPLOAD_MB ({setting_mb} MB): start the app with `make run`, which passes the setting.")
    return min(server_mb, setting_mb)


def upload_panel(kb: KnowledgeBase, name: str, limit_mb: int) -> None:
    """Upload many files at once; show per-file progress and results. Files stay in the uploader
    after ingestion, so each is ingested once (by its upload id), not again on every click."""
    label = "Add documents (.md, .txt, .pdf, .html, .csv, .json)"
    folder = st.toggle("Upload a whole folder", key="kn_folder_mode")
    files = st.file_uploader(
        label, accept_multiple_files="directory" if folder else True, help=DOCUMENT_IDENTITY_RULE,
        key="kn_upload_folder" if folder else "kn_upload", max_upload_size=limit_mb,
        type=[ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS] if folder else None,
    ) or []
    ingested: set[str] = st.session_state.setdefault("kn_ingested_uploads", set())
    files = [f for f in files if f"{name}:{f.file_id}" not in ingested]
    if not files and st.session_state.get(f"kn_upload{'_folder' if folder else ''}"):
        st.caption("The files in the uploader are ingested; add new ones to ingest them.")
    if files and st.button(f"Ingest {len(files)} file(s)", key="kn_ingest", type="primary"):
        paths = strip_common_folder([f.name for f in files]) if folder else [f.name for f in files]
        with st.status(f"Ingesting {len(files)} file(s)...", expanded=True) as status:
            bar = st.progress(0.0)

            def progress(done: int, total: int, result) -> None:  # noqa: ANN001 (FileResult)
                bar.progress(done / total, text=f"{done}/{total}: {result.name} — {result.status}")

            report = kb.ingest_bytes(name, [(p, f.getvalue()) for p, f in zip(paths, files)], on_progress=progress)
            status.update(label="Ingestion finished", state="error" if report.failed else "complete")
        ingested.update(f"{name}:{f.file_id}" for f in files)
        st.session_state["kn_report"] = report
        st.rerun()  # redraw the counts and the document list with the new documents
    report = st.session_state.get("kn_report")
    if report is not None and report.workspace == name:
        render_ingest_report(report, key="kn_report_view")


def documents_panel(kb: KnowledgeBase, name: str) -> None:
    """List documents; preview, edit (re-indexed on save) or delete one."""
    docs = kb.list_documents(name)
    render_document_table(docs, key="kn_documents")
    if not docs:
        return
    by_id = {d.doc_id: d for d in docs}
    doc_id = st.selectbox(
        "Document", list(by_id), key="kn_doc", format_func=lambda d: f"{by_id[d].title} ({d})"
    )
    if doc_id is None:
        return
    doc = by_id[doc_id]
    chunks_tab, edit_tab, delete_tab = st.tabs(["Chunks", "Edit", "Delete"])
    with chunks_tab:
        render_chunks(kb.chunks(name, doc_id), key="kn_chunks")
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


def search_panel(kb: KnowledgeBase, name: str, default_mode: str) -> None:
    """Search the workspace; show ranked chunks with their scores."""
    query = st.text_input("Search this workspace", key="kn_query", placeholder="How long is the warranty?")
    left, right = st.columns([3, 1])
    mode = left.radio("Search mode", SEARCH_MODES, index=SEARCH_MODES.index(default_mode),
                      key="kn_mode", horizontal=True)
    k = right.number_input("Chunks", min_value=1, max_value=20, value=5, key="kn_k")
    if query.strip():
        render_search_result(kb.search(name, query, mode=mode, k=int(k)), key="kn_results")


def knowledge() -> None:
    st.title("Knowledge")
    try:
        settings = get_settings()
        with st.spinner("Opening the knowledge base (the first start builds the demo)..."):
            kb = get_knowledge_base()
    except RagtuneError as exc:
        st.error(str(exc))
        return
    if message := st.session_state.pop("kn_flash", None):
        st.success(message)
    try:
        name = workspace_panel(kb, settings.demo_workspace)
        if name is None:
            st.info("Create a workspace to add documents.")
            return
        info = next(w for w in kb.list_workspaces() if w.name == name)
        render_workspace_summary(info, key="kn_summary")
        if name == settings.demo_workspace:
            demo_panel(kb, name)
        st.subheader("Documents")
        upload_panel(kb, name, upload_limit_mb(settings.max_upload_mb))
        documents_panel(kb, name)
        st.subheader("Search")
        search_panel(kb, name, settings.search_mode)
    except RagtuneError as exc:
        st.error(str(exc))


knowledge()
