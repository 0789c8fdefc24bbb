"""Chunking follows the document's headings and paragraphs, with overlap and exact spans."""

from __future__ import annotations

from ragtune.retrieval.chunking import chunk_spans

DOC = (
    "# Guide\n\nIntro paragraph.\n\n"
    "## Battery\n\n" + " ".join(f"Sentence {i} about the battery pack." for i in range(60)) + "\n\n"
    "## Warranty\n\nTwo years on robots.\n\nOne year on batteries."
)


def test_every_chunk_is_an_exact_span_of_the_text_within_the_size():
    spans = chunk_spans(DOC, size=300, overlap=60)
    for span in spans:
        assert 0 <= span.start < span.end <= len(DOC)
        assert span.end - span.start <= 300 + 60
        assert DOC[span.start : span.end] == DOC[span.start : span.end].strip()


def test_no_chunk_straddles_a_heading():
    spans = chunk_spans(DOC, size=300, overlap=60)
    warranty = DOC.index("## Warranty")
    assert all(not (s.start < warranty < s.end) for s in spans)
    assert [s.section for s in spans if "Two years" in DOC[s.start : s.end]] == ["Guide > Warranty"]


def test_small_paragraphs_of_one_section_share_a_chunk():
    spans = chunk_spans(DOC, size=300, overlap=60)
    last = DOC[spans[-1].start : spans[-1].end]
    assert last.startswith("## Warranty") and last.endswith("One year on batteries.")


def test_a_long_section_is_cut_at_sentences_with_overlap():
    spans = [s for s in chunk_spans(DOC, size=300, overlap=60) if s.section == "Guide > Battery"]
    assert len(spans) > 3
    for before, after in zip(spans, spans[1:]):
        assert after.start < before.end, "consecutive chunks of a section overlap"
        assert before.end - after.start <= 60
        assert DOC[after.start - 1] in " \n", "a continuation starts at a word boundary"


def test_the_whole_text_is_covered():
    spans = chunk_spans(DOC, size=300, overlap=60)
    covered = set()
    for s in spans:
        covered.update(range(s.start, s.end))
    assert all(i in covered or DOC[i].isspace() for i in range(len(DOC)))


def test_chunking_is_deterministic():
    assert chunk_spans(DOC, size=300, overlap=60) == chunk_spans(DOC, size=300, overlap=60)


def test_text_without_structure_is_still_cut_to_size():
    text = "x" * 2500
    spans = chunk_spans(text, size=1000, overlap=100)
    assert [(s.start, s.end) for s in spans] == [(0, 1000), (1000, 2000), (2000, 2500)]
