"""The knowledge manifest: which version of each document is live, kept where the chunks live.

Chunk records in the vector store are tagged with a *generation* (a random id per
write). A document's row in the manifest names its live generation; readers ignore chunks
of any other generation. Replacing a document therefore is: write the new chunks
(invisible), flip the row in one write (the commit point), delete the old chunks. A process
killed at any moment leaves the document fully old or fully new; leftovers are invisible and
collected later.

Rows are keyed by the workspace's stable id, so renaming a workspace touches nothing here.

A document's identity is its ``source``: the file's path relative to the folder it was
ingested from (its name for single files and uploads). At most one live row per workspace
holds a source, and :meth:`Manifest.put_document` is a compare-and-swap on the row's
generation, so a writer that read an old version never overwrites a newer one.

Two implementations, one per vector store, so the bookkeeping always sits next to the chunks:

* :class:`~ragtune.retrieval.manifest_sqlite.SQLiteManifest`: ``knowledge.sqlite3`` in the data
  directory, for the local chroma store (one SQLite transaction per change).
* :class:`~ragtune.retrieval.manifest_chroma.ChromaManifest`: records in a reserved collection of
  the Chroma server, so every app instance on that server reads the same live versions. What it
  guarantees with concurrent writers is stated in its docstring.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone


class ManifestConflict(Exception):
    """Another writer changed the document (or took its id or source) since it was read."""


@dataclass(frozen=True)
class DocumentRow:
    """One live document: what its chunks were cut from, and which generation of them is live."""

    workspace_id: str
    doc_id: str
    title: str
    source: str
    version: int
    generation: str
    updated_at: datetime
    n_chunks: int
    sha256: str
    text: str


class Manifest(ABC):
    """The live version of every document, per workspace id; also the demo version and a few meta keys.

    Attributes:
        location: where it is kept, for messages (a file path or a server URL).
    """

    location: str = ""

    @abstractmethod
    def documents(self, workspace_id: str) -> list[DocumentRow]:
        """The workspace's live documents, by doc_id."""

    @abstractmethod
    def document(self, workspace_id: str, doc_id: str) -> DocumentRow | None:
        """The live row of ``doc_id``, or None."""

    @abstractmethod
    def document_by_source(self, workspace_id: str, source: str) -> DocumentRow | None:
        """The document whose identity is ``source`` (its relative path), if any."""

    @abstractmethod
    def is_legacy(self, workspace_id: str, doc_id: str) -> bool:
        """Whether the row was written before sources were identities (its source is a bare name)."""

    @abstractmethod
    def live_generations(self, workspace_id: str) -> dict[str, str]:
        """doc_id -> live generation, for filtering chunk records."""

    @abstractmethod
    def revision(self, workspace_id: str) -> int:
        """A number that changes with every change to the workspace's documents (for caches):
        equal revisions, same live documents."""

    @abstractmethod
    def put_document(self, row: DocumentRow, *, replaces: str | None = None, keep_legacy: bool = False) -> None:
        """Make ``row`` the live version of its document (the commit point of an ingest).

        ``replaces`` is the generation the writer read for ``row.doc_id`` (None: it read no row).
        If the live row is another one by now, or another document already holds ``row.source``,
        nothing becomes live. ``keep_legacy``: the row keeps the ``legacy`` mark of the row it
        replaces (a re-chunk); otherwise it is cleared.

        Raises:
            ManifestConflict: another writer got there first; re-read and try again.
        """

    @abstractmethod
    def remove_documents(self, workspace_id: str, doc_ids: list[str] | None = None) -> None:
        """Remove some (or all, when ``doc_ids`` is None, in one step) documents of a workspace."""

    @abstractmethod
    def forget_workspace(self, workspace_id: str) -> None:
        """Drop everything kept for a workspace (it was deleted)."""

    @abstractmethod
    def workspace_ids(self) -> set[str]:
        """Every workspace id something is kept for."""

    @abstractmethod
    def demo_version(self, workspace_id: str) -> str | None:
        """The demo version the workspace was last switched to, if any."""

    @abstractmethod
    def set_demo_version(self, workspace_id: str, version: str) -> None:
        """Remember the demo version of a workspace."""

    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """A stored value (the demo's "seeded" marks, the tour's scratch workspaces), or None."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Store a value under ``key`` (the last write wins)."""

    @abstractmethod
    def schema_version(self) -> int:
        """The layout version of the stored bookkeeping."""

    def compact(self, min_age_s: float) -> int:
        """Drop bookkeeping no reader needs any more, older than ``min_age_s``; returns how many
        entries went (garbage collection calls it; nothing to do where rows are updated in place)."""
        return 0

    def close(self) -> None:
        """Release the connection (the manifest is not used afterwards)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
