"""The knowledge base: workspaces of documents, ingestion, and search with citations.

This is the one object pages and the CLI use. It combines a :class:`VectorStore`
(chunk vectors) with the :class:`Manifest` (which version of each document is live),
so that every document change is atomic (see :mod:`ragtune.retrieval.manifest`).
Workspaces and documents are handled here; writing documents lives in
:mod:`ragtune.retrieval.ingest` and ranking in :mod:`ragtune.retrieval.search`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.errors import ConfigError, IngestError, InputError, WorkspaceError
from ragtune.retrieval import ingest
from ragtune.retrieval.chunking import chunk_spans
from ragtune.retrieval.ingest import GC_MIN_AGE_S, ProgressCallback
from ragtune.retrieval.loaders import MIB, ParsedDocument, _markdown_title
from ragtune.retrieval.manifest import DocumentRow, Manifest
from ragtune.retrieval.search import KeywordIndexes, chunk_from, search_workspace
from ragtune.retrieval.store import VectorStore, WorkspaceRef
from ragtune.retrieval.types import (
    Chunk,
    DocumentInfo,
    FileResult,
    IngestReport,
    SearchMode,
    SearchResult,
    StoreStatus,
    WorkspaceInfo,
)

if TYPE_CHECKING:
    from ragtune.config import Settings

INTERNAL_WORKSPACE_PREFIX = "demo-eval-"
"""Workspaces the claims report builds for itself (``evaluation.REPORT_WORKSPACES``): not listed to
users, and the prefix is reserved, so no user workspace is ever hidden by it."""


def is_internal_workspace(name: str) -> bool:
    return name.startswith(INTERNAL_WORKSPACE_PREFIX)


class KnowledgeBase:
    """Workspaces of documents with atomic (re)ingestion and vector/keyword/hybrid search.

    Args:
        store: where chunk vectors live.
        manifest: which document versions are live.
        chunk_size: target chunk length in characters.
        chunk_overlap: characters repeated between consecutive chunks of a section.
        max_upload_bytes: files larger than this are rejected.
        default_mode: search mode when a call does not choose one.
        top_k: chunks returned when a call does not choose.
    """

    def __init__(
        self,
        store: VectorStore,
        manifest: Manifest,
        *,
        chunk_size: int = 300,
        chunk_overlap: int = 40,
        max_upload_bytes: int = 20 * 1024 * 1024,
        default_mode: SearchMode = "hybrid",
        top_k: int = 5,
    ) -> None:
        self._check_chunking(chunk_size, chunk_overlap)
        self.store = store
        self.manifest = manifest
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.max_upload_bytes = max_upload_bytes
        self.default_mode: SearchMode = default_mode
        self.top_k = top_k
        self.keyword_indexes = KeywordIndexes()
        self.write_lock = threading.Lock()  # one document write at a time in this process
        # Test seam: called with the name of each step of a document write, so a test
        # can stop the write between steps (raise, or kill the process) and inspect.
        self.step_hook: Callable[[str], None] | None = None

    @staticmethod
    def _check_chunking(chunk_size: int, chunk_overlap: int) -> None:
        if chunk_overlap >= chunk_size:
            raise ConfigError(
                f"RAGTUNE_CHUNK_OVERLAP ({chunk_overlap}) must be smaller than RAGTUNE_CHUNK_SIZE ({chunk_size}): "
                "a chunk cannot repeat all of the previous one. Lower the overlap (default 40) or raise the size."
            )

    @classmethod
    def from_settings(cls, settings: Settings, embedding_function: object | None = None) -> KnowledgeBase:
        """The knowledge base under ``settings.data_dir`` (chroma in ``chroma/``), cleaned up.

        Raises:
            ConfigError: the data directory is not writable.
            ModelError: the offline embedding model is missing.
        """
        from ragtune.retrieval.embeddings import shared_embedding_function
        from ragtune.retrieval.store import ChromaVectorStore

        settings.ensure_data_dir()
        cls._check_chunking(settings.chunk_size, settings.chunk_overlap)  # before anything is opened
        ef = embedding_function or shared_embedding_function()
        kb = cls(
            ChromaVectorStore(settings.chroma_dir, ef),
            Manifest(settings.knowledge_manifest_file),
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            max_upload_bytes=settings.max_upload_mb * MIB,
            default_mode=settings.search_mode,
            top_k=settings.top_k,
        )
        kb.collect_garbage()
        return kb

    def backend_status(self) -> StoreStatus:
        """Where the documents live and whether they can be read (the sidebar asks on every page): here the
        data directory's chroma files. Never raises."""
        from ragtune.errors import RagtuneError

        try:
            self.store.list_workspaces()
        except RagtuneError as exc:
            return StoreStatus(kind="local", healthy=False, error=str(exc))
        return StoreStatus(kind="local", healthy=True)

    # -- workspaces -----------------------------------------------------------------
    def workspace(self, name: str) -> WorkspaceRef:
        """The workspace named ``name`` (raises WorkspaceError if there is none)."""
        return self.store.get_workspace(name)

    def has_workspace(self, name: str) -> bool:
        return any(ref.name == name for ref in self.store.list_workspaces())

    def list_workspaces(self, *, include_internal: bool = False) -> list[WorkspaceInfo]:
        """Every workspace with its live document and chunk counts (the claims report's own
        workspaces only with ``include_internal``)."""
        infos = []
        for ref in self.store.list_workspaces():
            if is_internal_workspace(ref.name) and not include_internal:
                continue
            docs = self.manifest.documents(ref.id)
            infos.append(
                WorkspaceInfo(name=ref.name, n_documents=len(docs), n_chunks=sum(d.n_chunks for d in docs))
            )
        return infos

    @staticmethod
    def _check_user_name(name: str, internal: bool) -> None:
        if is_internal_workspace(name.strip()) and not internal:
            raise WorkspaceError(
                f"Invalid workspace name {name.strip()!r}: names starting with {INTERNAL_WORKSPACE_PREFIX!r} are "
                "reserved for the claims report's own workspaces. Choose another name."
            )

    def create_workspace(self, name: str, *, internal: bool = False) -> WorkspaceInfo:
        """Create an empty workspace (raises WorkspaceError if the name is invalid or taken)."""
        self._check_user_name(name, internal)
        ref = self.store.create_workspace(name)
        return WorkspaceInfo(name=ref.name, n_documents=0, n_chunks=0)

    def ensure_workspace(self, name: str) -> bool:
        """Create the workspace unless it exists; idempotent, also when another process creates
        it at the same moment. Returns whether this call created it."""
        self._check_user_name(name, False)
        existed = self.has_workspace(name.strip())
        self.store.ensure_workspace(name)
        return not existed

    def rename_workspace(self, name: str, new_name: str) -> WorkspaceInfo:
        """Rename in one step (the manifest is keyed by the workspace's stable id)."""
        self._check_user_name(new_name, is_internal_workspace(name.strip()))
        with self.write_lock:
            self.store.rename_workspace(name, new_name)
        return next(w for w in self.list_workspaces(include_internal=True) if w.name == new_name.strip())

    def empty_workspace(self, name: str) -> None:
        """Remove every document from the workspace; the workspace stays."""
        with self.write_lock:
            ref = self.workspace(name)
            self.manifest.remove_documents(ref.id)  # commit point: all documents gone at once
            self.store.delete(ref, ids=[r.id for r in self.store.get_all(ref)])
            self.keyword_indexes.forget(ref.id)

    def delete_workspace(self, name: str) -> None:
        """Delete the workspace and all its documents."""
        with self.write_lock:
            ref = self.workspace(name)
            self.store.delete_workspace(name)
            self.manifest.forget_workspace(ref.id)
            self.keyword_indexes.forget(ref.id)

    # -- documents ------------------------------------------------------------------
    def list_documents(self, workspace: str) -> list[DocumentInfo]:
        ref = self.workspace(workspace)
        return [
            DocumentInfo(
                doc_id=row.doc_id, title=row.title, source=row.source, version=row.version,
                updated_at=row.updated_at, n_chunks=row.n_chunks, n_chars=len(row.text), sha256=row.sha256,
            )
            for row in self.manifest.documents(ref.id)
        ]

    def _row(self, workspace: str, doc_id: str) -> tuple[WorkspaceRef, DocumentRow]:
        ref = self.workspace(workspace)
        row = self.manifest.document(ref.id, doc_id)
        if row is None:
            raise InputError(f"No document {doc_id!r} in workspace {workspace!r}.")
        return ref, row

    def document_text(self, workspace: str, doc_id: str) -> str:
        """The live text of a document (what its chunks' spans refer to)."""
        return self._row(workspace, doc_id)[1].text

    def chunks(self, workspace: str, doc_id: str) -> list[Chunk]:
        """The live chunks of a document, in order."""
        ref, row = self._row(workspace, doc_id)
        records = self.store.get_all(ref, where={"doc_id": doc_id, "generation": row.generation})
        return sorted((chunk_from(r) for r in records), key=lambda c: c.n)

    def stale_documents(self, workspace: str) -> list[str]:
        """The ids of ``workspace``'s documents whose chunks are not what the current chunk size and
        overlap make of their text: ingested before a settings change (re-ingesting unchanged text
        keeps its chunks, so they stay so until deleted and ingested again)."""
        ref = self.workspace(workspace)
        stale = []
        for row in self.manifest.documents(ref.id):  # one read: a document deleted meanwhile is not looked up
            spans = chunk_spans(row.text, size=self.chunk_size, overlap=self.chunk_overlap)
            records = self.store.get_all(ref, where={"doc_id": row.doc_id, "generation": row.generation})
            stored = sorted((c.start, c.end) for c in (chunk_from(r) for r in records))
            if stored != [(sp.start, sp.end) for sp in spans]:
                stale.append(row.doc_id)
        return stale

    def rechunk(self, workspace: str, on_progress: ProgressCallback | None = None) -> list[str]:
        """Cut the :meth:`stale_documents` of ``workspace`` again with the current chunk settings, one
        document at a time and atomically (its old chunks answer until its new ones are in); text,
        title, version and update time stay. A document edited or deleted meanwhile is left to that
        change (whose chunks use the current settings already). Returns the ids re-chunked.

        Raises:
            WorkspaceError: no such workspace.
        """
        ref = self.workspace(workspace)
        stale = self.stale_documents(workspace)
        done = []
        for doc_id in stale:
            row = self.manifest.document(ref.id, doc_id)
            if row is None:
                continue  # deleted meanwhile
            parsed = ParsedDocument(doc_id=doc_id, title=row.title, source=row.source, text=row.text)
            try:
                result = ingest.write_document(self, ref, parsed, rechunk_of=row.generation)
            except ingest.IdTaken:
                continue  # edited or deleted meanwhile: that change wins
            done.append(doc_id)
            if on_progress is not None:
                on_progress(len(done), len(stale), result)
        return done

    def delete_document(self, workspace: str, doc_id: str) -> None:
        """Remove a document and all its chunks."""
        with self.write_lock:
            ref, row = self._row(workspace, doc_id)
            self.manifest.remove_documents(ref.id, [doc_id])  # commit point
            self.store.delete(ref, ids=[f"{doc_id}#{n}@{row.generation}" for n in range(row.n_chunks)])

    def update_document_text(self, workspace: str, doc_id: str, text: str) -> FileResult:
        """Replace a document's text (an inline edit); re-indexed before this returns.

        Raises:
            IngestError: the new text is empty.
        """
        _, row = self._row(workspace, doc_id)
        text = text.replace("\r\n", "\n").strip()
        if not text:
            raise IngestError(f"{row.source}: the edited text is empty; delete the document instead.")
        title = row.title
        if row.source.lower().endswith((".md", ".markdown")):
            title = _markdown_title(text) or title
        parsed = ParsedDocument(doc_id=doc_id, title=title, source=row.source, text=text)
        try:
            return ingest.write_document(self, self.workspace(workspace), parsed)
        except ingest.IdTaken as exc:
            raise InputError(
                f"{row.source}: the document was changed by someone else while you edited it. "
                "Reload it and make your edit again."
            ) from exc

    def ingest_bytes(
        self,
        workspace: str,
        files: Iterable[tuple[str, bytes]],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest uploaded files; a bad file is reported and skipped, the rest go in.

        Args:
            workspace: an existing workspace's name.
            files: (file name, content) pairs. A name may be a relative path (``docs/a.md``, as a
                folder upload gives): the path is the document's identity in the workspace.
            on_progress: called after each file (for a progress bar).

        Raises:
            WorkspaceError: no such workspace (nothing is read).
        """
        return ingest.ingest_bytes(self, workspace, files, on_progress)

    def ingest_paths(
        self,
        workspace: str,
        paths: Sequence[Path],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest files and folders (recursively; hidden files are skipped).

        A file's identity is its path relative to the folder given (its name when the file
        itself is given). Whatever cannot be read (a missing path, a FIFO, socket or device, a
        broken link) is reported by its path, in order with the rest; nothing ever blocks on it.
        """
        return ingest.ingest_paths(self, workspace, paths, on_progress)

    def collect_garbage(self, *, min_age_s: float = GC_MIN_AGE_S) -> int:
        """Delete chunk records no live document version owns (left by an interrupted
        write) and manifest rows of workspaces that no longer exist. Returns records deleted."""
        return ingest.collect_garbage(self, min_age_s)

    # -- search ---------------------------------------------------------------------
    def search(
        self, workspace: str, query: str, *, mode: SearchMode | None = None, k: int | None = None
    ) -> SearchResult:
        """The ``k`` chunks that best match ``query`` in ``workspace``.

        Args:
            workspace: the workspace to search (no other workspace's chunks can appear).
            query: the question or keywords.
            mode: ``vector`` (embeddings), ``keyword`` (BM25) or ``hybrid`` (both fused by
                reciprocal rank); default: the configured mode.
            k: number of chunks; default: the configured ``top_k``.

        Raises:
            InputError: empty query, unknown mode, or k out of range.
            WorkspaceError: no such workspace.
        """
        return search_workspace(self, workspace, query, mode, k)
