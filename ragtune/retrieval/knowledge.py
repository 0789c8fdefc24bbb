"""The knowledge base: workspaces of documents, ingestion, and search with citations.

This is the one object pages and the CLI use. It combines a :class:`VectorStore`
(chunk vectors) with the :class:`Manifest` (which version of each document is live),
so that every document change is atomic (see :mod:`ragtune.retrieval.manifest`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ragtune.errors import ConfigError, IngestError, InputError, RagtuneError, StoreError, WorkspaceError
from ragtune.retrieval.chunking import chunk_spans
from ragtune.retrieval.keyword import BM25, reciprocal_rank_fusion
from ragtune.retrieval.loaders import (
    ParsedDocument,
    _markdown_title,
    doc_id_for,
    parse_document,
    source_path,
    unique_doc_id_for,
)
from ragtune.retrieval.manifest import DocumentRow, Manifest, ManifestConflict, utcnow
from ragtune.retrieval.progress import report_chunks
from ragtune.retrieval.store import StoredRecord, VectorStore, WorkspaceRef
from ragtune.retrieval.types import (
    SEARCH_MODES,
    Chunk,
    DocumentInfo,
    FileResult,
    IngestReport,
    SearchHit,
    SearchMode,
    SearchResult,
    WorkspaceInfo,
)

if TYPE_CHECKING:
    from ragtune.config import Settings

ProgressCallback = Callable[[int, int, FileResult], None]
"""Called after each file with (files done, files in batch, that file's result)."""

RRF_K = 60
WRITE_BATCH = 128
"""Chunks embedded and written per store call while ingesting a document."""
# Leftover chunk records younger than this may belong to an ingest still running in
# another process, so garbage collection leaves them alone (readers ignore them anyway).
GC_MIN_AGE_S = 600.0
MIB = 1024 * 1024
"""RAGTUNE_MAX_UPLOAD_MB counts in MiB (as Streamlit's maxUploadSize does); every size shown uses it."""
INTERNAL_WORKSPACE_PREFIX = "demo-eval-"
"""Workspaces the claims report builds for itself (``evaluation.REPORT_WORKSPACES``): not listed to
users, and the prefix is reserved, so no user workspace is ever hidden by it."""
_WRITE_ATTEMPTS = 3
DOCUMENT_IDENTITY_RULE = (
    "A document is its file's path: the path inside the uploaded folder, or the file name for single files. "
    "Uploading the same path again replaces that document (unchanged content is skipped); files with the "
    "same name in different folders, or with different extensions, stay separate documents."
)


def is_internal_workspace(name: str) -> bool:
    return name.startswith(INTERNAL_WORKSPACE_PREFIX)


def format_mb(size: int, limit: int | None = None) -> str:
    """``size`` bytes in MB (MiB), with one decimal, or more where one decimal would not show
    that ``size`` is over ``limit`` (21,000,000 bytes -> ``20.0`` would read as under 20)."""
    for digits in range(1, 7):
        text = f"{size / MIB:.{digits}f}"
        if limit is None or float(text) > limit / MIB:
            return text
    return f"{size / MIB:.6f}"


def too_large_error(name: str, size: int, limit: int) -> IngestError:
    return IngestError(
        f"{name}: {format_mb(size, limit)} MB is over the {limit / MIB:g} MB limit (RAGTUNE_MAX_UPLOAD_MB)."
    )


def strip_common_folder(names: Sequence[str]) -> list[str]:
    """Paths relative to the folder they share: a browser's folder upload names each file
    ``<chosen folder>/<path inside it>``; without the folder's own name, a file gets the same
    identity as when that folder is ingested from the CLI."""
    parts = [PurePosixPath(source_path(n)).parts for n in names]
    if not parts or any(len(p) < 2 for p in parts) or len({p[0] for p in parts}) != 1:
        return [source_path(n) for n in names]
    return ["/".join(p[1:]) for p in parts]


class _IdTaken(Exception):
    """The document's id or source was taken by another writer mid-write (retry with a fresh look)."""


def _embedding_input(title: str, section: str, text: str) -> str:
    # The title and heading path give a chunk the context its own words may lack.
    head = f"{title} — {section}" if section and section != title else title
    return f"{head}\n{text}"


def _chunk_from(record: StoredRecord) -> Chunk:
    m = record.metadata
    return Chunk(
        chunk_id=str(m["chunk_id"]),
        doc_id=str(m["doc_id"]),
        n=int(m["n"]),
        title=str(m["title"]),
        source=str(m["source"]),
        section=str(m.get("section", "")),
        version=int(m["version"]),
        updated_at=datetime.fromisoformat(str(m["updated_at"])),
        start=int(m["start"]),
        end=int(m["end"]),
        text=record.text,
    )


class _KeywordIndex:
    def __init__(self, revision: int, chunks: list[Chunk]) -> None:
        self.revision = revision
        self.chunks = chunks
        self.bm25 = BM25([f"{c.title}\n{c.section}\n{c.text}" for c in chunks])


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
        chunk_size: int = 800,
        chunk_overlap: int = 120,
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
        self._indexes: dict[str, _KeywordIndex] = {}
        self._write_lock = threading.Lock()
        # Test seam: called with the name of each step of a document write, so a test
        # can stop the write between steps (raise, or kill the process) and inspect.
        self.step_hook: Callable[[str], None] | None = None

    @staticmethod
    def _check_chunking(chunk_size: int, chunk_overlap: int) -> None:
        if chunk_overlap >= chunk_size:
            raise ConfigError(
                f"RAGTUNE_CHUNK_OVERLAP ({chunk_overlap}) must be smaller than RAGTUNE_CHUNK_SIZE ({chunk_size}): "
                "a chunk cannot repeat all of the previous one. Lower the overlap (default 120) or raise the size."
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
        with self._write_lock:
            self.store.rename_workspace(name, new_name)
        return next(w for w in self.list_workspaces(include_internal=True) if w.name == new_name.strip())

    def empty_workspace(self, name: str) -> None:
        """Remove every document from the workspace; the workspace stays."""
        with self._write_lock:
            ref = self.workspace(name)
            self.manifest.remove_documents(ref.id)  # commit point: all documents gone at once
            self.store.delete(ref, ids=[r.id for r in self.store.get_all(ref)])
            self._indexes.pop(ref.id, None)

    def delete_workspace(self, name: str) -> None:
        """Delete the workspace and all its documents."""
        with self._write_lock:
            ref = self.workspace(name)
            self.store.delete_workspace(name)
            self.manifest.forget_workspace(ref.id)
            self._indexes.pop(ref.id, None)

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
        return sorted((_chunk_from(r) for r in records), key=lambda c: c.n)

    def delete_document(self, workspace: str, doc_id: str) -> None:
        """Remove a document and all its chunks."""
        with self._write_lock:
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
            return self._write(self.workspace(workspace), parsed)
        except _IdTaken as exc:
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
        items = list(files)
        return self._ingest(
            workspace, [(name, source_path(name), (lambda d=data: d)) for name, data in items], on_progress
        )

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
        entries: list[tuple[str, str, Callable[[], bytes]]] = []
        for path in map(Path, paths):
            if path.is_dir():
                for p in sorted(path.rglob("*")):
                    rel = p.relative_to(path)
                    if any(part.startswith(".") for part in rel.parts) or p.is_dir():
                        continue
                    entries.append((p.name, rel.as_posix(), self._reader(p)))
            elif path.is_file():
                entries.append((path.name, path.name, self._reader(path)))
            else:  # missing, a FIFO, a socket ...: never stored, so shown by the path as given
                entries.append((str(path), str(path), self._reader(path)))
        return self._ingest(workspace, entries, on_progress)

    def _reader(self, path: Path) -> Callable[[], bytes]:
        def read() -> bytes:
            try:
                if not stat.S_ISREG(mode := os.stat(path).st_mode):  # a socket cannot even be opened
                    raise IngestError(f"{path}: not a regular file ({_file_kind(mode)}); only files are read.")
                # O_NONBLOCK: should it have become a FIFO since, opening must not wait for a writer.
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
            except FileNotFoundError:
                kind = "a broken link" if path.is_symlink() else "no such file or folder"
                raise IngestError(f"{path}: {kind}.") from None
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise IngestError(f"{path}: not a regular file ({_file_kind(info.st_mode)}); only files are read.")
                if info.st_size > self.max_upload_bytes:  # refuse before reading it into memory
                    raise too_large_error(str(path), info.st_size, self.max_upload_bytes)
                return handle.read()

        return read

    def _resolve_id(self, ref: WorkspaceRef, source: str, batch_sources: set[str]) -> str:
        """The id of the document whose identity is ``source``: its own if stored, else the
        preferred slug if free, else the slug of the whole path with a hash (never another file's)."""
        row = self.manifest.document_by_source(ref.id, source)
        if row is not None:
            return row.doc_id
        preferred = doc_id_for(source)
        holder = self.manifest.document(ref.id, preferred)
        if holder is None:
            return preferred
        name = PurePosixPath(source).name
        if (name != source and holder.source == name and name not in batch_sources
                and self.manifest.is_legacy(ref.id, preferred)):
            # Stored before paths were kept (as its bare name): the same file, now under its path.
            return preferred
        unique = unique_doc_id_for(source)
        other = self.manifest.document(ref.id, unique)
        if other is not None and other.source != source:
            raise IngestError(f"{source}: its document id {unique!r} is taken by {other.source}; rename the file.")
        return unique

    def _ingest(
        self,
        workspace: str,
        files: list[tuple[str, str, Callable[[], bytes]]],
        on_progress: ProgressCallback | None,
    ) -> IngestReport:
        ref = self.workspace(workspace)
        batch_sources = {source for _, source, _ in files}
        first_of: dict[str, str] = {}
        results: list[FileResult] = []
        for i, (name, source, read) in enumerate(files, start=1):
            try:
                if source in first_of:
                    raise IngestError(
                        f"{name}: this batch holds {source!r} twice, so it was ingested once (the first); "
                        "rename one of the two files, or ingest them separately."
                    )
                first_of[source] = name
                data = read()
                if len(data) > self.max_upload_bytes:
                    raise too_large_error(name, len(data), self.max_upload_bytes)
                parsed = parse_document(PurePosixPath(source).name or name, data, max_bytes=self.max_upload_bytes)
                for attempt in range(_WRITE_ATTEMPTS):
                    doc = dataclasses.replace(
                        parsed, doc_id=self._resolve_id(ref, source, batch_sources), source=source
                    )
                    try:
                        result = self._write(ref, doc)
                        break
                    except _IdTaken:
                        if attempt == _WRITE_ATTEMPTS - 1:
                            raise IngestError(
                                f"{name}: other writers kept changing this document; try again."
                            ) from None
                result = result.model_copy(update={"name": name, "path": source})
            except RagtuneError as exc:
                result = FileResult(name=name, path=source, status="failed", error=str(exc))
            except OSError as exc:
                result = FileResult(name=name, path=source, status="failed",
                                    error=f"{source}: cannot read ({exc.strerror or exc}).")
            results.append(result)
            if on_progress is not None:
                on_progress(i, len(files), result)
        return IngestReport(workspace=ref.name, files=results)

    def _step(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)

    def _write(self, ref: WorkspaceRef, doc: ParsedDocument) -> FileResult:
        """Write one document atomically: new chunks (invisible), flip the manifest, drop old chunks."""
        sha = hashlib.sha256(f"{doc.title}\n{doc.text}".encode()).hexdigest()
        with self._write_lock:
            old = self.manifest.document(ref.id, doc.doc_id)
            if old is not None and old.sha256 == sha and old.source == doc.source:
                return FileResult(name=doc.source, status="unchanged", doc_id=doc.doc_id,
                                  version=old.version, n_chunks=old.n_chunks)
            spans = chunk_spans(doc.text, size=self.chunk_size, overlap=self.chunk_overlap)
            generation = uuid.uuid4().hex[:12]
            version = old.version + 1 if old else 1
            now = utcnow()
            ids = [f"{doc.doc_id}#{n}@{generation}" for n in range(len(spans))]
            # Embedded and written WRITE_BATCH chunks at a time: memory stays flat however
            # large the file, and each batch is progress to report. The chunks stay invisible
            # until the manifest flips; a failure midway leaves the old version live and these
            # records to garbage collection.
            for first in range(0, len(spans), WRITE_BATCH):
                batch = spans[first : first + WRITE_BATCH]
                texts = [doc.text[span.start : span.end] for span in batch]
                metas = [{
                    "doc_id": doc.doc_id, "n": n, "chunk_id": f"{doc.doc_id}#{n}", "title": doc.title,
                    "source": doc.source, "section": span.section, "version": version,
                    "generation": generation, "updated_at": now.isoformat(),
                    "start": span.start, "end": span.end, "written_at": time.time(),
                } for n, span in enumerate(batch, start=first)]
                inputs = [_embedding_input(doc.title, span.section, text) for span, text in zip(batch, texts)]
                self.store.upsert(ref, ids[first : first + len(batch)], texts, metas,
                                  embeddings=self.store.embed(inputs))
                report_chunks(doc.source, first + len(batch), len(spans))
                self._step("chunk_batch_written")
            self._step("chunks_written")
            try:
                self.manifest.put_document(DocumentRow(
                    workspace_id=ref.id, doc_id=doc.doc_id, title=doc.title, source=doc.source,
                    version=version, generation=generation, updated_at=now, n_chunks=len(ids),
                    sha256=sha, text=doc.text,
                ), replaces=old.generation if old else None)
            except ManifestConflict as exc:
                self.store.delete(ref, ids=ids)  # ours, never live; another writer won
                raise _IdTaken(str(exc)) from exc
            self._step("committed")
            if old is not None:
                self.store.delete(ref, ids=[f"{old.doc_id}#{n}@{old.generation}" for n in range(old.n_chunks)])
            self._step("old_deleted")
        return FileResult(name=doc.source, status="replaced" if old else "added",
                          doc_id=doc.doc_id, version=version, n_chunks=len(ids))

    def collect_garbage(self, *, min_age_s: float = GC_MIN_AGE_S) -> int:
        """Delete chunk records no live document version owns (left by an interrupted
        write) and manifest rows of workspaces that no longer exist. Returns records deleted."""
        # The manifest first: a workspace created after this read cannot be mistaken for a gone one.
        known = self.manifest.workspace_ids()
        refs = self.store.list_workspaces()
        for stale in known - {ref.id for ref in refs}:
            self.manifest.forget_workspace(stale)
        deleted = 0
        cutoff = time.time() - min_age_s
        for ref in refs:
            live = self.manifest.live_generations(ref.id)
            try:
                if self.store.count(ref) == sum(d.n_chunks for d in self.manifest.documents(ref.id)):
                    continue  # the common case: nothing left over
                orphans = [
                    r.id for r in self.store.get_all(ref)
                    if live.get(str(r.metadata.get("doc_id"))) != r.metadata.get("generation")
                    and float(r.metadata.get("written_at", 0)) <= cutoff
                ]
                self.store.delete(ref, ids=orphans)
            except StoreError:
                # A damaged workspace is reported when it is used; opening the knowledge base must
                # still work, or the command that deletes or rebuilds it could not run.
                continue
            deleted += len(orphans)
        return deleted

    # -- search ---------------------------------------------------------------------
    def _keyword_index(self, ref: WorkspaceRef) -> _KeywordIndex:
        revision = self.manifest.revision(ref.id)
        index = self._indexes.get(ref.id)
        if index is None or index.revision != revision:
            live = self.manifest.live_generations(ref.id)
            chunks = [
                _chunk_from(r) for r in self.store.get_all(ref)
                if live.get(str(r.metadata.get("doc_id"))) == r.metadata.get("generation")
            ]
            chunks.sort(key=lambda c: (c.doc_id, c.n))
            index = _KeywordIndex(revision, chunks)
            self._indexes[ref.id] = index
        return index

    def _vector_ranked(self, ref: WorkspaceRef, query: str, n: int) -> list[tuple[Chunk, float]]:
        live = self.manifest.live_generations(ref.id)
        total = self.store.count(ref)
        want = min(total, n + 10)
        while True:
            records = self.store.query(ref, query, want)
            ranked = [
                (_chunk_from(r), 1.0 - float(r.distance or 0.0)) for r in records
                if live.get(str(r.metadata.get("doc_id"))) == r.metadata.get("generation")
            ]
            # Leftover records of interrupted writes are skipped; fetch more if they crowded us out.
            if len(ranked) >= n or want >= total:
                return ranked[:n]
            want = min(total, want * 2)

    def _keyword_ranked(self, ref: WorkspaceRef, query: str, n: int) -> list[tuple[Chunk, float]]:
        index = self._keyword_index(ref)
        return [(index.chunks[i], score) for i, score in index.bm25.search(query, n)]

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
        mode = mode or self.default_mode
        k = self.top_k if k is None else k
        if mode not in SEARCH_MODES:
            raise InputError(f"Unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}.")
        if not 1 <= k <= 100:
            raise InputError(f"k must be between 1 and 100 (got {k}).")
        if not query.strip():
            raise InputError("The search query is empty.")
        started = time.perf_counter()
        ref = self.workspace(workspace)
        hits: list[SearchHit] = []
        if mode == "vector":
            for rank, (chunk, score) in enumerate(self._vector_ranked(ref, query, k), start=1):
                hits.append(SearchHit(rank=rank, score=score, chunk=chunk, vector_score=score))
        elif mode == "keyword":
            for rank, (chunk, score) in enumerate(self._keyword_ranked(ref, query, k), start=1):
                hits.append(SearchHit(rank=rank, score=score, chunk=chunk, keyword_score=score))
        else:
            depth = max(4 * k, 20)
            vector = self._vector_ranked(ref, query, depth)
            keyword = self._keyword_ranked(ref, query, depth)
            by_id = {c.chunk_id: c for c, _ in vector} | {c.chunk_id: c for c, _ in keyword}
            v_scores = {c.chunk_id: s for c, s in vector}
            k_scores = {c.chunk_id: s for c, s in keyword}
            fused = reciprocal_rank_fusion(
                [[c.chunk_id for c, _ in vector], [c.chunk_id for c, _ in keyword]], k=RRF_K
            )
            for rank, (chunk_id, score) in enumerate(fused[:k], start=1):
                hits.append(SearchHit(
                    rank=rank, score=score, chunk=by_id[str(chunk_id)],
                    vector_score=v_scores.get(str(chunk_id)), keyword_score=k_scores.get(str(chunk_id)),
                ))
        took = (time.perf_counter() - started) * 1000
        return SearchResult(workspace=ref.name, query=query, mode=mode, k=k, hits=hits, took_ms=took)


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "not a file"
