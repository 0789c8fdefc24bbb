"""Ranking a workspace's live chunks for a query: by vector, by keyword (BM25), or both fused by reciprocal rank.

Only chunks of a live document version are ranked: records of an interrupted write are skipped.
:meth:`KnowledgeBase.search` calls :func:`search_workspace`.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from ragtune.errors import InputError
from ragtune.retrieval.keyword import BM25, reciprocal_rank_fusion
from ragtune.retrieval.manifest import Manifest
from ragtune.retrieval.store import StoredRecord, VectorStore, WorkspaceRef
from ragtune.retrieval.types import SEARCH_MODES, Chunk, SearchHit, SearchMode, SearchResult

if TYPE_CHECKING:
    from ragtune.retrieval.knowledge import KnowledgeBase

RRF_K = 60


def chunk_from(record: StoredRecord) -> Chunk:
    """The chunk a stored record holds (its text and the metadata the write gave it)."""
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


class KeywordIndexes:
    """A BM25 index of each workspace's live chunks, built on first use and again when the manifest's revision moves."""

    def __init__(self) -> None:
        self._by_workspace: dict[str, _KeywordIndex] = {}

    def forget(self, workspace_id: str) -> None:
        self._by_workspace.pop(workspace_id, None)

    def get(self, store: VectorStore, manifest: Manifest, ref: WorkspaceRef) -> _KeywordIndex:
        revision = manifest.revision(ref.id)
        index = self._by_workspace.get(ref.id)
        if index is None or index.revision != revision:
            live = manifest.live_generations(ref.id)
            chunks = [
                chunk_from(r) for r in store.get_all(ref)
                if live.get(str(r.metadata.get("doc_id"))) == r.metadata.get("generation")
            ]
            chunks.sort(key=lambda c: (c.doc_id, c.n))
            index = _KeywordIndex(revision, chunks)
            self._by_workspace[ref.id] = index
        return index


def _vector_ranked(kb: KnowledgeBase, ref: WorkspaceRef, query: str, n: int) -> list[tuple[Chunk, float]]:
    live = kb.manifest.live_generations(ref.id)
    total = kb.store.count(ref)
    want = min(total, n + 10)
    while True:
        records = kb.store.query(ref, query, want)
        ranked = [
            (chunk_from(r), 1.0 - float(r.distance or 0.0)) for r in records
            if live.get(str(r.metadata.get("doc_id"))) == r.metadata.get("generation")
        ]
        # Leftover records of interrupted writes are skipped; fetch more if they crowded us out.
        if len(ranked) >= n or want >= total:
            return ranked[:n]
        want = min(total, want * 2)


def _keyword_ranked(kb: KnowledgeBase, ref: WorkspaceRef, query: str, n: int) -> list[tuple[Chunk, float]]:
    index = kb.keyword_indexes.get(kb.store, kb.manifest, ref)
    return [(index.chunks[i], score) for i, score in index.bm25.search(query, n)]


def search_workspace(
    kb: KnowledgeBase, workspace: str, query: str, mode: SearchMode | None, k: int | None
) -> SearchResult:
    """The ``k`` best chunks of ``workspace`` for ``query`` (the knowledge base's defaults where None)."""
    mode = mode or kb.default_mode
    k = kb.top_k if k is None else k
    if mode not in SEARCH_MODES:
        raise InputError(f"Unknown search mode {mode!r}; choose one of {', '.join(SEARCH_MODES)}.")
    if not 1 <= k <= 100:
        raise InputError(f"k must be between 1 and 100 (got {k}).")
    if not query.strip():
        raise InputError("The search query is empty.")
    started = time.perf_counter()
    ref = kb.workspace(workspace)
    hits: list[SearchHit] = []
    if mode == "vector":
        for rank, (chunk, score) in enumerate(_vector_ranked(kb, ref, query, k), start=1):
            hits.append(SearchHit(rank=rank, score=score, chunk=chunk, vector_score=score))
    elif mode == "keyword":
        for rank, (chunk, score) in enumerate(_keyword_ranked(kb, ref, query, k), start=1):
            hits.append(SearchHit(rank=rank, score=score, chunk=chunk, keyword_score=score))
    else:
        depth = max(4 * k, 20)
        vector = _vector_ranked(kb, ref, query, depth)
        keyword = _keyword_ranked(kb, ref, query, depth)
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
