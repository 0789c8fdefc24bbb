"""The records the knowledge base hands across its boundary (pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SearchMode = Literal["vector", "keyword", "hybrid"]
SEARCH_MODES: tuple[SearchMode, ...] = ("vector", "keyword", "hybrid")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Chunk(_Record):
    """One piece of a document, as stored and cited."""

    chunk_id: str = Field(description="Stable citation id: '<doc_id>#<n>'.")
    doc_id: str
    n: int = Field(ge=0, description="Position of the chunk in its document.")
    title: str
    source: str = Field(description="Path of the file it came from, relative to the folder ingested.")
    section: str = Field(default="", description="Heading path above the chunk, if any.")
    version: int = Field(ge=1)
    updated_at: datetime
    start: int = Field(ge=0, description="Character span in the document's text: [start, end).")
    end: int = Field(ge=0)
    text: str


class DocumentInfo(_Record):
    """A document of a workspace, as listed."""

    doc_id: str
    title: str
    source: str
    version: int
    updated_at: datetime
    n_chunks: int
    n_chars: int
    sha256: str


class WorkspaceInfo(_Record):
    """A workspace with its counts."""

    name: str
    n_documents: int
    n_chunks: int


class FileResult(_Record):
    """What happened to one file of an ingestion batch."""

    name: str
    path: str | None = Field(
        default=None,
        description="The file's identity: its path relative to the folder ingested (its name for a single file).",
    )
    status: Literal["added", "replaced", "unchanged", "failed"]
    doc_id: str | None = None
    version: int | None = None
    n_chunks: int = 0
    error: str | None = Field(default=None, description="Why the file was rejected.")

    @property
    def ok(self) -> bool:
        return self.status != "failed"


class IngestReport(_Record):
    """Per-file results of one ingestion batch."""

    workspace: str
    files: list[FileResult]

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if not f.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def replaced(self) -> list[str]:
        """The documents the batch re-indexed as a new version."""
        return [f.doc_id for f in self.files if f.status == "replaced" and f.doc_id]


class SearchHit(_Record):
    """A ranked chunk: what a citation points at."""

    rank: int = Field(ge=1)
    score: float = Field(description="Higher is better; the scale depends on the mode.")
    chunk: Chunk
    vector_score: float | None = Field(default=None, description="Cosine similarity, if ranked.")
    keyword_score: float | None = Field(default=None, description="BM25 score, if ranked.")

    @property
    def chunk_id(self) -> str:
        return self.chunk.chunk_id

    @property
    def title(self) -> str:
        return self.chunk.title

    @property
    def text(self) -> str:
        return self.chunk.text


class SearchResult(_Record):
    """The answer to one knowledge search."""

    workspace: str
    query: str
    mode: SearchMode
    k: int
    hits: list[SearchHit]
    took_ms: float


class StoreStatus(_Record):
    """Where the knowledge base's store is and whether it answers (the sidebar's backend line)."""

    kind: Literal["local", "server"] = Field(description="local: chroma in the data directory; server: a Chroma server.")
    url: str | None = Field(default=None, description="The Chroma server's URL (None for the local store).")
    healthy: bool
    error: str = Field(default="", description="Why it is not healthy, with what to do; empty when healthy.")
