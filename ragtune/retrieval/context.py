"""What a prompt shows of the retrieved chunks: each chunk once, overlaps removed.

Consecutive chunks of a section share ``chunk_overlap`` characters, so two neighbours
retrieved for the same question repeat those characters in the prompt: tokens the model
reads twice and the user pays for in latency. :func:`without_overlaps` trims, from each
chunk, the characters an earlier chunk of the same document version already shows (by
their character spans, so it is exact), and drops a chunk whose text is all shown already.
The order of the chunks (their rank) is kept.

Examples:
    >>> from datetime import datetime, timezone
    >>> def chunk(n, start, end, text):
    ...     return Chunk(chunk_id=f"d#{n}", doc_id="d", n=n, title="D", source="d.md", version=1,
    ...                  updated_at=datetime.now(timezone.utc), start=start, end=end, text=text)
    >>> doc = "alpha beta gamma delta"
    >>> [t for _, t in without_overlaps([chunk(1, 6, 22, doc[6:22]), chunk(0, 0, 16, doc[0:16])])]
    ['beta gamma delta', 'alpha']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from ragtune.retrieval.types import Chunk  # noqa: F401 - the usual argument (and the doctest's)


class Spanned(Protocol):
    """What :func:`without_overlaps` reads of a chunk (a stored :class:`Chunk` has it all)."""

    @property
    def doc_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> str: ...


C = TypeVar("C", bound=Spanned)


def without_overlaps(chunks: Sequence[C]) -> list[tuple[C, str]]:
    """Each chunk with the text the prompt shows of it (see the module docstring). The training
    data of ``grounded-json`` goes through this too, so it sees the prompts the pipeline sends."""
    shown: dict[tuple[str, int], list[tuple[int, int]]] = {}
    out: list[tuple[C, str]] = []
    for chunk in chunks:
        start, end = chunk.start, chunk.end
        if end - start != len(chunk.text):  # spans that do not describe the text: show it whole
            out.append((chunk, chunk.text))
            continue
        spans = shown.setdefault((chunk.doc_id, chunk.version), [])
        changed = True
        while changed and start < end:
            changed = False
            for s, e in spans:
                if s <= start < e:  # its beginning is shown already
                    start, changed = e, True
                if s < end <= e:  # its end is shown already
                    end, changed = s, True
        if start >= end:
            continue
        spans.append((start, end))
        text = chunk.text[start - chunk.start : end - chunk.start].strip()
        if text:
            out.append((chunk, text))
    return out
