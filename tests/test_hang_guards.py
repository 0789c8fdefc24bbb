"""Hang guards: pathological files go through reading, chunking and keyword indexing in bounded time.

Each case runs in a forked child with a generous timeout that only catches a hang (a case takes
well under a second; the old quadratic and cubic patterns took hours on the same inputs). A case
passes when the child finishes with a document or a clear IngestError, never another exception.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable

import pytest

from ragtune.errors import IngestError
from ragtune.retrieval.chunking import chunk_spans
from ragtune.retrieval.keyword import BM25, tokenize
from ragtune.retrieval.loaders import parse_document

HANG_TIMEOUT_S = 60.0
MAX_BYTES = 20 * 1024 * 1024

CASES: dict[str, tuple[str, Callable[[], bytes]]] = {
    # Markdown headings: the old heading pattern backtracked cubically over a run of blanks.
    "heading with 5,000 spaces": ("notes.md", lambda: b"# a" + b" " * 5_000 + b"b"),
    "heading with 200,000 spaces then text": ("notes.md", lambda: b"# a" + b" " * 200_000 + b"b\n\nbody text"),
    "heading with tabs and spaces": ("notes.md", lambda: b"## a" + b" \t" * 100_000 + b"b\n"),
    "heading followed by 100,000 #": ("notes.md", lambda: b"# a" + b"#" * 100_000 + b"b\n"),
    "heading of alternating ' #'": ("notes.md", lambda: b"# a" + b" #" * 50_000 + b"b\n"),
    "a line of a million #": ("notes.md", lambda: b"#" * 1_000_000 + b" a\n"),
    "100,000 heading lines": ("notes.md", lambda: b"# h\n" * 100_000),
    "a heading line of 2 MB": ("notes.md", lambda: b"# " + b"word " * 400_000 + b"\n\nbody"),
    # Whitespace: the old normaliser's [ \t]+\n restarted at every blank of a run.
    "a line of a million spaces": ("notes.txt", lambda: b"text\n" + b" " * 1_000_000 + b"x\nmore"),
    "a million spaces then a newline": ("notes.txt", lambda: b"text " + b" \t" * 500_000 + b"\nmore"),
    "a million line breaks of every kind": ("notes.txt", lambda: b"a" + b"\r\n \n\r\f" * 250_000 + b"b"),
    "a newline, a million spaces, a word": ("notes.txt", lambda: b"a\n" + b" " * 1_000_000 + b"x"),
    # Long runs without the boundaries chunking cuts at.
    "5 MB without a space": ("notes.txt", lambda: b"x" * 5_000_000),
    "a million full stops": ("notes.txt", lambda: b"." * 1_000_000),
    "sentence ends and a million spaces": ("notes.txt", lambda: b"a;" + b" " * 1_000_000 + b"b"),
    "100,000 lines of '- '": ("list.md", lambda: b"- \n" * 100_000 + b"end"),
    "nested emphasis": ("notes.md", lambda: b"*" * 200_000 + b"a" + b"*" * 200_000),
    "emphasis runs": ("notes.md", lambda: b"_**" * 200_000 + b"x"),
    "a million digits and dots": ("notes.txt", lambda: b"1." * 500_000 + b"1,1" * 100_000),
    # CSV.
    "a CSV field of 300 KB": ("data.csv", lambda: b'name,notes\nwidget,"' + b"long " * 60_000 + b'"\n'),
    "a CSV of 100,000 empty rows": ("data.csv", lambda: b"a,b\n" + b",\n" * 100_000 + b"1,2\n"),
    # HTML: CPython's HTMLParser rescans unfinished tags to the end of the page.
    "HTML <a repeated": ("page.html", lambda: b"<p>x</p>" + b"<a" * 200_000),
    "HTML </a repeated": ("page.html", lambda: b"<p>x</p>" + b"</a" * 200_000),
    "HTML unclosed comments": ("page.html", lambda: b"<p>x</p>" + b"<!--" * 200_000),
    "HTML <a x=' repeated": ("page.html", lambda: b"<p>x</p>" + b"<a x='" * 100_000 + b">"),
    "HTML nested 200,000 deep": ("page.html", lambda: b"<div>" * 200_000 + b"deep" + b"</div>" * 200_000),
    "HTML attribute of 3 MB": ("page.html", lambda: b'<a href="' + b"x" * 3_000_000 + b'">link</a><p>text</p>'),
    "HTML with an unclosed script": ("page.html", lambda: b"<p>x</p><script>" + b"<a" * 200_000),
    "HTML heading of 2 MB": ("page.html", lambda: b"<h1>" + b"word " * 400_000 + b"</h1><p>body</p>"),
    # JSON.
    "JSON nested 100,000 deep": ("data.json", lambda: b"[" * 100_000 + b"]" * 100_000),
    "JSON with brackets in strings": ("data.json", lambda: b'["' + b"[{" * 500_000 + b'"]'),
    "JSON nested 150 deep with a wide array": (
        "data.json", lambda: b"[" * 150 + b"1," * 300_000 + b"1" + b"]" * 150),
}


def _run_case(name: str, conn) -> None:  # type: ignore[no-untyped-def]
    filename, build = CASES[name]
    try:
        doc = parse_document(filename, build(), max_bytes=MAX_BYTES)
    except IngestError as exc:
        conn.send(("rejected", str(exc)[:300]))
        return
    except BaseException as exc:  # the point of the test: nothing but IngestError
        conn.send(("crashed", f"{exc.__class__.__name__}: {str(exc)[:300]}"))
        return
    spans = chunk_spans(doc.text, size=800, overlap=120)
    texts = [doc.text[s.start : s.end] for s in spans]
    index = BM25(texts)
    index.search(doc.text[:2000], 5)
    tokenize(doc.text[:200_000])
    bad = [s for s in spans if not (0 <= s.start < s.end <= len(doc.text)) or len(s.section) > 1300]
    conn.send(("ok", f"{len(spans)} chunks, {len(bad)} bad"))


def run_guarded(name: str, timeout: float = HANG_TIMEOUT_S) -> tuple[str, str]:
    """Run one case in a forked child; ('hang', ...) when it is still running after ``timeout``."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_run_case, args=(name, child), daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(timeout):
            return "hang", f"still running after {timeout:.0f} s"
        return parent.recv()
    except EOFError:
        return "crashed", f"the child died (exit code {process.exitcode})"
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()


@pytest.mark.parametrize("name", list(CASES))
def test_a_pathological_file_is_read_and_chunked_without_hanging(name):
    outcome, detail = run_guarded(name)
    assert outcome in ("ok", "rejected"), f"{name}: {outcome}: {detail}"
    if outcome == "ok":
        assert detail.endswith(" 0 bad"), detail


def test_deep_json_is_refused_with_the_rule_not_a_recursion_error():
    assert run_guarded("JSON nested 100,000 deep") == (
        "rejected", "data.json: JSON nested 100000 deep (at column 201); the limit is 200."
    )


def test_a_2_mb_heading_is_cut_in_the_section_path():
    outcome, detail = run_guarded("a heading line of 2 MB")
    assert outcome == "ok" and detail.endswith(" 0 bad")
