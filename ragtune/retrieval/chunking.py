"""Split a document's text into overlapping chunks along its own structure.

A chunk never straddles a Markdown heading: each section (a heading and the text
under it) is packed paragraph by paragraph into chunks of about ``size``
characters. A paragraph longer than that is cut at line, then sentence, then word
boundaries. A chunk continuing a section repeats up to ``overlap`` characters of
the previous one (starting at a word boundary), so a fact cut in two is still
whole in one chunk. Every chunk is an exact span ``text[start:end]`` of the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Span:
    """A chunk's character span in the document and the heading path above it."""

    start: int
    end: int
    section: str


def _sections(text: str) -> list[tuple[int, int, str]]:
    """(start, end, heading path) for each heading-delimited section of ``text``."""
    bounds: list[tuple[int, str]] = []
    path: list[tuple[int, str]] = []
    for match in _HEADING.finditer(text):
        level, title = len(match.group(1)), match.group(2).strip()
        path = [p for p in path if p[0] < level] + [(level, title)]
        bounds.append((match.start(), " > ".join(t for _, t in path)))
    if not bounds or bounds[0][0] > 0:
        bounds.insert(0, (0, ""))
    sections = []
    for i, (start, heading) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        sections.append((start, end, heading))
    return sections


def _pieces(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Spans no longer than ``size`` covering ``text[start:end]``, cut at the
    coarsest boundary available: paragraph, line, sentence, word, character."""
    out: list[tuple[int, int]] = []

    def split(s: int, e: int, patterns: tuple[str, ...]) -> None:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s >= e:
            return
        if e - s <= size:
            out.append((s, e))
            return
        if not patterns:
            for i in range(s, e, size):
                out.append((i, min(e, i + size)))
            return
        cuts = [m.end() for m in re.finditer(patterns[0], text[s:e])]
        if not cuts:
            split(s, e, patterns[1:])
            return
        prev = s
        for cut in [s + c for c in cuts] + [e]:
            split(prev, cut, patterns[1:])
            prev = cut

    split(start, end, (r"\n\s*\n", r"\n", r"(?<=[.!?;:])\s+", r"\s+"))
    return out


def chunk_spans(text: str, *, size: int = 800, overlap: int = 120) -> list[Span]:
    """Chunk ``text`` into spans of about ``size`` characters with ``overlap``.

    Args:
        text: the document's text.
        size: target chunk length in characters (a chunk exceeds it only by a
            heading line kept with its first paragraph).
        overlap: characters of the previous chunk a continuation chunk repeats.
    """
    if size <= 0:
        raise ValueError("size must be positive")
    overlap = max(0, min(overlap, size // 2))
    spans: list[Span] = []
    for sec_start, sec_end, heading in _sections(text):
        pieces = _pieces(text, sec_start, sec_end, size)
        current: tuple[int, int] | None = None
        for p_start, p_end in pieces:
            if current is None:
                current = (p_start, p_end)
            elif p_end - current[0] <= size:
                current = (current[0], p_end)
            else:
                spans.append(Span(current[0], current[1], heading))
                # Start the next chunk a little before this piece, at a word boundary.
                back = max(current[0], p_start - overlap)
                if back < p_start:
                    space = text.find(" ", back, p_start)
                    newline = text.find("\n", back, p_start)
                    marks = [m + 1 for m in (space, newline) if m != -1]
                    back = min(marks) if marks else p_start
                current = (back if p_end - back <= size + overlap else p_start, p_end)
        if current is not None:
            spans.append(Span(current[0], current[1], heading))
    # A lone heading line (a section with no body) would be a useless chunk: merge it forward.
    merged: list[Span] = []
    for span in spans:
        body = text[span.start : span.end]
        if merged and _HEADING.fullmatch(body.strip()) is None and _HEADING.fullmatch(
            text[merged[-1].start : merged[-1].end].strip()
        ):
            merged[-1] = Span(merged[-1].start, span.end, span.section)
        else:
            merged.append(span)
    return merged
