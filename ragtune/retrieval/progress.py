"""Progress within one large file: chunks embedded and written so far.

The ingest methods' ``on_progress`` fires once per file, which for a 19 MB file means
minutes of silence. A caller that wants finer progress wraps the ingest call::

    with chunk_progress(lambda source, done, total: print(f"{source}: {done}/{total} chunks")):
        kb.ingest_paths("team", [folder])

The callback lives in a context variable, so it reaches the knowledge base without a
parameter on every method, and it is per thread: two Streamlit sessions ingesting at the
same time through the one shared knowledge base each see only their own progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ChunkProgress = Callable[[str, int, int], None]
"""Called with (file's source name, chunks written so far, chunks in the file)."""

_current: ContextVar[ChunkProgress | None] = ContextVar("ragtune_chunk_progress", default=None)


@contextmanager
def chunk_progress(callback: ChunkProgress | None) -> Iterator[None]:
    """Report chunk progress to ``callback`` for ingests run inside this block (None: silence)."""
    token = _current.set(callback)
    try:
        yield
    finally:
        _current.reset(token)


def report_chunks(source: str, done: int, total: int) -> None:
    """Tell the current block's callback, if any, that ``done`` of ``total`` chunks are written."""
    callback = _current.get()
    if callback is not None:
        callback(source, done, total)


def print_chunk_progress(source: str, done: int, total: int) -> None:
    """A :data:`ChunkProgress` for terminals: a line on stderr per batch of a file of more
    than one batch (``big.txt: 1280/24000 chunks embedded``); small files stay quiet."""
    import sys

    from ragtune.retrieval.ingest import WRITE_BATCH

    if total > WRITE_BATCH:
        print(f"  {source}: {done}/{total} chunks embedded", file=sys.stderr, flush=True)
