"""Writing documents into a knowledge base: reading files, one atomic write per document, and collecting what an
interrupted write left behind.

A write puts the new chunks in first (invisible: no live version names their generation), then flips the manifest
(the commit point), then deletes the old version's chunks. :meth:`KnowledgeBase.ingest_bytes`,
:meth:`~KnowledgeBase.ingest_paths`, :meth:`~KnowledgeBase.update_document_text` and
:meth:`~KnowledgeBase.collect_garbage` call the functions here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ragtune.errors import IngestError, RagtuneError, StoreError
from ragtune.retrieval.chunking import chunk_spans
from ragtune.retrieval.loaders import (
    ParsedDocument,
    doc_id_for,
    parse_document,
    source_path,
    too_large_error,
    unique_doc_id_for,
)
from ragtune.retrieval.manifest import DocumentRow, Manifest, ManifestConflict, utcnow
from ragtune.retrieval.progress import report_chunks
from ragtune.retrieval.store import WorkspaceRef
from ragtune.retrieval.types import FileResult, IngestReport

if TYPE_CHECKING:
    from ragtune.retrieval.knowledge import KnowledgeBase

ProgressCallback = Callable[[int, int, FileResult], None]
"""Called after each file with (files done, files in batch, that file's result)."""

WRITE_BATCH = 128
"""Chunks embedded and written per store call while ingesting a document."""
# Leftover chunk records younger than this may belong to an ingest still running in
# another process, so garbage collection leaves them alone (readers ignore them anyway).
GC_MIN_AGE_S = 600.0
_WRITE_ATTEMPTS = 3
DOCUMENT_IDENTITY_RULE = (
    "A document is its file's path: the path inside the uploaded folder, or the file name for single files. "
    "Uploading the same path again replaces that document (unchanged content is skipped); files with the "
    "same name in different folders, or with different extensions, stay separate documents."
)

_Entry = tuple[str, str, Callable[[], bytes]]
"""A file to ingest: (name shown, source path: its identity, a function that reads its bytes)."""


def strip_common_folder(names: Sequence[str]) -> list[str]:
    """Paths relative to the folder they share: a browser's folder upload names each file
    ``<chosen folder>/<path inside it>``; without the folder's own name, a file gets the same
    identity as when that folder is ingested from the CLI."""
    parts = [PurePosixPath(source_path(n)).parts for n in names]
    if not parts or any(len(p) < 2 for p in parts) or len({p[0] for p in parts}) != 1:
        return [source_path(n) for n in names]
    return ["/".join(p[1:]) for p in parts]


class IdTaken(Exception):
    """The document's id or source was taken by another writer mid-write (retry with a fresh look)."""


def _embedding_input(title: str, section: str, text: str) -> str:
    # The title and heading path give a chunk the context its own words may lack.
    head = f"{title} — {section}" if section and section != title else title
    return f"{head}\n{text}"


def ingest_bytes(
    kb: KnowledgeBase, workspace: str, files: Iterable[tuple[str, bytes]], on_progress: ProgressCallback | None
) -> IngestReport:
    """Uploaded (name, content) pairs; a name's path is the document's identity."""
    items = list(files)
    return _ingest(kb, workspace, [(name, source_path(name), (lambda d=data: d)) for name, data in items], on_progress)


def ingest_paths(
    kb: KnowledgeBase, workspace: str, paths: Sequence[Path], on_progress: ProgressCallback | None
) -> IngestReport:
    """Files and folders (recursively, hidden files skipped); a file's identity is its path inside the folder."""
    entries: list[_Entry] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = len(entries)
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path)
                if any(part.startswith(".") for part in rel.parts) or p.is_dir():
                    continue
                entries.append((p.name, rel.as_posix(), _reader(p, kb.max_upload_bytes)))
            if len(entries) == found:  # a folder asked for by name is never silently skipped
                entries.append((str(path), str(path), _refuse(f"{path}: a folder with no files in it "
                                                              "(hidden files and folders are skipped).")))
        elif path.is_file():
            entries.append((path.name, path.name, _reader(path, kb.max_upload_bytes)))
        else:  # missing, a FIFO, a socket ...: never stored, so shown by the path as given
            entries.append((str(path), str(path), _reader(path, kb.max_upload_bytes)))
    return _ingest(kb, workspace, entries, on_progress)


def _refuse(message: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise IngestError(message)

    return read


def _reader(path: Path, max_bytes: int) -> Callable[[], bytes]:
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
            if info.st_size > max_bytes:  # refuse before reading it into memory
                raise too_large_error(str(path), info.st_size, max_bytes)
            return handle.read()

    return read


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "not a file"


def _resolve_id(manifest: Manifest, ref: WorkspaceRef, source: str, batch_sources: set[str]) -> str:
    """The id of the document whose identity is ``source``: its own if stored, else the
    preferred slug if free, else the slug of the whole path with a hash (never another file's)."""
    row = manifest.document_by_source(ref.id, source)
    if row is not None:
        return row.doc_id
    preferred = doc_id_for(source)
    holder = manifest.document(ref.id, preferred)
    if holder is None:
        return preferred
    name = PurePosixPath(source).name
    if (name != source and holder.source == name and name not in batch_sources
            and manifest.is_legacy(ref.id, preferred)):
        # Stored before paths were kept (as its bare name): the same file, now under its path.
        return preferred
    unique = unique_doc_id_for(source)
    other = manifest.document(ref.id, unique)
    if other is not None and other.source != source:
        raise IngestError(f"{source}: its document id {unique!r} is taken by {other.source}; rename the file.")
    return unique


def _ingest(
    kb: KnowledgeBase, workspace: str, files: list[_Entry], on_progress: ProgressCallback | None
) -> IngestReport:
    ref = kb.workspace(workspace)
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
            if len(data) > kb.max_upload_bytes:
                raise too_large_error(name, len(data), kb.max_upload_bytes)
            parsed = parse_document(PurePosixPath(source).name or name, data, max_bytes=kb.max_upload_bytes)
            for attempt in range(_WRITE_ATTEMPTS):
                doc = dataclasses.replace(
                    parsed, doc_id=_resolve_id(kb.manifest, ref, source, batch_sources), source=source
                )
                try:
                    result = write_document(kb, ref, doc)
                    break
                except IdTaken:
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


def _step(kb: KnowledgeBase, name: str) -> None:
    if kb.step_hook is not None:
        kb.step_hook(name)


def document_sha256(doc: ParsedDocument) -> str:
    """The content hash the manifest keeps for a document (its title and text): equal hashes, same content."""
    return hashlib.sha256(f"{doc.title}\n{doc.text}".encode()).hexdigest()


def write_document(
    kb: KnowledgeBase, ref: WorkspaceRef, doc: ParsedDocument, *, rechunk_of: str | None = None
) -> FileResult:
    """Write one document atomically: new chunks (invisible), flip the manifest, drop old chunks.

    ``rechunk_of``: a re-chunk of the live generation of that id: the same text is cut again with
    the current chunk settings, keeping its version, update time and migration mark. If the
    document changed or went since that generation was read, nothing is written (IdTaken).

    Raises:
        IdTaken: another writer took the document's id or source meanwhile, or (re-chunking) the
            document is no longer the one read (nothing of ours stays).
    """
    sha = document_sha256(doc)
    with kb.write_lock:
        old = kb.manifest.document(ref.id, doc.doc_id)
        same = old is not None and old.sha256 == sha and old.source == doc.source
        if rechunk_of is not None and not (same and old is not None and old.generation == rechunk_of):
            raise IdTaken(f"{doc.source}: changed or deleted since it was read; not re-chunked")
        if same and rechunk_of is None:
            assert old is not None
            return FileResult(name=doc.source, status="unchanged", doc_id=doc.doc_id,
                              version=old.version, n_chunks=old.n_chunks)
        spans = chunk_spans(doc.text, size=kb.chunk_size, overlap=kb.chunk_overlap)
        generation = uuid.uuid4().hex[:12]
        version = (old.version if same else old.version + 1) if old else 1
        now = old.updated_at if old is not None and rechunk_of is not None else utcnow()
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
            kb.store.upsert(ref, ids[first : first + len(batch)], texts, metas, embeddings=kb.store.embed(inputs))
            report_chunks(doc.source, first + len(batch), len(spans))
            _step(kb, "chunk_batch_written")
        _step(kb, "chunks_written")
        try:
            kb.manifest.put_document(DocumentRow(
                workspace_id=ref.id, doc_id=doc.doc_id, title=doc.title, source=doc.source,
                version=version, generation=generation, updated_at=now, n_chunks=len(ids),
                sha256=sha, text=doc.text,
            ), replaces=old.generation if old else None, keep_legacy=rechunk_of is not None)
        except ManifestConflict as exc:
            kb.store.delete(ref, ids=ids)  # ours, never live; another writer won
            raise IdTaken(str(exc)) from exc
        _step(kb, "committed")
        if old is not None:
            kb.store.delete(ref, ids=[f"{old.doc_id}#{n}@{old.generation}" for n in range(old.n_chunks)])
        _step(kb, "old_deleted")
    return FileResult(name=doc.source, status="replaced" if old else "added",
                      doc_id=doc.doc_id, version=version, n_chunks=len(ids))


def collect_garbage(kb: KnowledgeBase, min_age_s: float) -> int:
    """Chunk records no live version owns (older than ``min_age_s``) and manifest rows of gone
    workspaces are deleted; returns the records deleted."""
    # The manifest first: a workspace created after this read cannot be mistaken for a gone one.
    known = kb.manifest.workspace_ids()
    refs = kb.store.list_workspaces()
    for stale in known - {ref.id for ref in refs}:
        kb.manifest.forget_workspace(stale)
    kb.manifest.compact(min_age_s)
    deleted = 0
    cutoff = time.time() - min_age_s
    for ref in refs:
        live = kb.manifest.live_generations(ref.id)
        try:
            if kb.store.count(ref) == sum(d.n_chunks for d in kb.manifest.documents(ref.id)):
                continue  # the common case: nothing left over
            orphans = [
                r.id for r in kb.store.get_all(ref)
                if live.get(str(r.metadata.get("doc_id"))) != r.metadata.get("generation")
                and float(r.metadata.get("written_at", 0)) <= cutoff
            ]
            kb.store.delete(ref, ids=orphans)
        except StoreError:
            # A damaged workspace is reported when it is used; opening the knowledge base must
            # still work, or the command that deletes or rebuilds it could not run.
            continue
        deleted += len(orphans)
    return deleted
