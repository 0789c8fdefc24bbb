"""Retrieval: offline embeddings, chroma workspaces, ingestion, and hybrid search with citations.

Import the pieces from their modules; the names most callers need are re-exported here.
"""

from __future__ import annotations

from ragtune.retrieval.knowledge import KnowledgeBase
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

__all__ = [
    "SEARCH_MODES",
    "Chunk",
    "DocumentInfo",
    "FileResult",
    "IngestReport",
    "KnowledgeBase",
    "SearchHit",
    "SearchMode",
    "SearchResult",
    "WorkspaceInfo",
]
