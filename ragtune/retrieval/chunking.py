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
from collections.abc import Iterator
from dataclasses import dataclass

MAX_HEADING_CHARS = 200
"""A heading's title is cut to this many characters in a chunk's section path (a heading line
of a megabyte would otherwise be repeated in every chunk of its section)."""

# Every pattern here runs over user text, so each is linear: no nested or adjacent
# quantifiers that can backtrack over the same characters. Headings are found by
# scanning candidate lines by hand (see ``heading``), not by one clever pattern.
_HEADING_CANDIDATE = re.compile(r"^#{1,6}[^\S\n]", re.MULTILINE)
_CUTS = (
    re.compile(r"\n[^\S\n]*+(?:\n[^\S\n]*+)+"),  # a blank line (or several)
    re.compile(r"\n"),  # a line break
    re.compile(r"(?<=[.!?;:])\s++"),  # the end of a sentence
    re.compile(r"\s++"),  # a word boundary
)


@dataclass(frozen=True)
class Span:
    """A chunk's character span in the document and the heading path above it."""

    start: int
    end: int
    section: str


def heading(line: str) -> tuple[int, str] | None:
    """(level, title) when ``line`` (one line, no newline) is a Markdown ATX heading, else None.

    ``## Battery ##`` -> ``(2, "Battery")``: one to six ``#``, whitespace, the title, and
    optionally a closing run of ``#``. Linear in the line's length, whatever it holds.
    """
    level = 0
    while level < 7 and level < len(line) and line[level] == "#":
        level += 1
    if not 1 <= level <= 6 or level == len(line) or not line[level].isspace():
        return None
    rest = line[level:].lstrip()
    if not rest:
        return None  # "#" and nothing else: no title to give a section
    # The shortest title the closing sequence (spaces, #s, spaces) can follow; never empty.
    core = rest.rstrip().rstrip("#").rstrip()
    return level, (core or rest[0]).strip()


def headings(text: str) -> Iterator[tuple[int, int, str]]:
    """(offset of the line, level, title) of every heading line of ``text``, in order."""
    for match in _HEADING_CANDIDATE.finditer(text):
        start = match.start()
        end = text.find("\n", start)
        found = heading(text[start : len(text) if end == -1 else end])
        if found is not None:
            yield start, found[0], found[1]


def _is_heading_only(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is one heading line and nothing else."""
    body = text[start:end].strip()  # a chunk is short: the copy is cheap
    return body.startswith("#") and "\n" not in body and heading(body) is not None


def _sections(text: str) -> list[tuple[int, int, str]]:
    """(start, end, heading path) for each heading-delimited section of ``text``."""
    bounds: list[tuple[int, str]] = []
    path: list[tuple[int, str]] = []
    for start, level, title in headings(text):
        path = [p for p in path if p[0] < level] + [(level, title[:MAX_HEADING_CHARS].strip())]
        bounds.append((start, " > ".join(t for _, t in path)))
    if not bounds or bounds[0][0] > 0:
        bounds.insert(0, (0, ""))
    sections = []
    for i, (start, heading_path) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        sections.append((start, end, heading_path))
    return sections


def _pieces(text: str, start: int, end: int, size: int) -> list[tuple[int, int]]:
    """Spans no longer than ``size`` covering ``text[start:end]``, cut at the
    coarsest boundary available: paragraph, line, sentence, word, character."""
    out: list[tuple[int, int]] = []

    def split(s: int, e: int, patterns: tuple[re.Pattern[str], ...]) -> None:
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
        # pos/endpos instead of a slice: no copy of a (possibly huge) section per level.
        cuts = [m.end() for m in patterns[0].finditer(text, s, e)]
        if not cuts:
            split(s, e, patterns[1:])
            return
        prev = s
        for cut in [*cuts, e]:
            split(prev, cut, patterns[1:])
            prev = cut

    split(start, end, _CUTS)
    return out


def chunk_spans(text: str, *, size: int = 800, overlap: int = 120) -> list[Span]:
    """Chunk ``text`` into spans of about ``size`` characters with ``overlap``.

    Args:
        text: the document's text.
        size: target chunk length in characters (a chunk exceeds it only by a
            heading line kept with its first paragraph).
        overlap: characters of the previous chunk a continuation chunk repeats.
    """
    return list(iter_spans(text, size=size, overlap=overlap))


def iter_spans(text: str, *, size: int = 800, overlap: int = 120) -> Iterator[Span]:
    """The spans of :func:`chunk_spans`, one section at a time (for a large document)."""
    if size <= 0:
        raise ValueError("size must be positive")
    overlap = max(0, min(overlap, size // 2))
    # A lone heading line (a section with no body) would be a useless chunk: merge it forward.
    pending: Span | None = None
    for span in _raw_spans(text, size, overlap):
        if pending is None:
            pending = span
        elif _is_heading_only(text, pending.start, pending.end) and not _is_heading_only(text, span.start, span.end):
            pending = Span(pending.start, span.end, span.section)
        else:
            yield pending
            pending = span
    if pending is not None:
        yield pending


def _raw_spans(text: str, size: int, overlap: int) -> Iterator[Span]:
    for sec_start, sec_end, section in _sections(text):
        pieces = _pieces(text, sec_start, sec_end, size)
        current: tuple[int, int] | None = None
        for p_start, p_end in pieces:
            if current is None:
                current = (p_start, p_end)
            elif p_end - current[0] <= size:
                current = (current[0], p_end)
            else:
                yield Span(current[0], current[1], section)
                # Start the next chunk a little before this piece, at a word boundary.
                back = max(current[0], p_start - overlap)
                if back < p_start:
                    space = text.find(" ", back, p_start)
                    newline = text.find("\n", back, p_start)
                    marks = [m + 1 for m in (space, newline) if m != -1]
                    back = min(marks) if marks else p_start
                current = (back if p_end - back <= size + overlap else p_start, p_end)
        if current is not None:
            yield Span(current[0], current[1], section)
