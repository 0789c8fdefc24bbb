"""Reading files into documents: each supported format, and every way a file can be unusable."""

from __future__ import annotations

import pytest

from ragtune.errors import IngestError
from ragtune.retrieval.loaders import doc_id_for, parse_document
from tests.retrieval_fixtures import blank_pdf, text_pdf

MB = 1024 * 1024


def parse(name: str, data: bytes, max_bytes: int = MB):
    return parse_document(name, data, max_bytes=max_bytes)


def test_markdown_title_comes_from_its_first_heading():
    doc = parse("Return Policy.md", "# Returns\n\nWithin 30 days.\n".encode())
    assert (doc.doc_id, doc.title, doc.source) == ("return-policy", "Returns", "Return Policy.md")
    assert doc.text == "# Returns\n\nWithin 30 days."


def test_utf8_bom_and_crlf_are_normalised():
    assert parse("a.txt", b"\xef\xbb\xbfline one\r\nline two\r\n").text == "line one\nline two"


def test_utf16_with_bom_is_accepted():
    assert parse("a.txt", "caf\u00e9 au lait".encode("utf-16")).text == "caf\u00e9 au lait"


def test_html_keeps_visible_text_and_headings_only():
    html = (b"<html><head><title>Specs</title><style>p{color:red}</style></head><body>"
            b"<h2>Battery</h2><p>Runs 70&nbsp;minutes.</p><script>alert(1)</script></body></html>")
    doc = parse("specs.html", html)
    assert doc.title == "Specs"
    assert "## Battery" in doc.text and "Runs 70 minutes." in doc.text
    assert "alert" not in doc.text and "color" not in doc.text


def test_csv_rows_become_column_value_paragraphs():
    doc = parse("prices.csv", b"part,price\nblade set,24.90\nwheel,45\n")
    assert doc.text == "part: blade set\nprice: 24.90\n\npart: wheel\nprice: 45"


def test_json_is_pretty_printed_text():
    assert parse("cfg.json", b'{"limit": 120}').text == '{\n  "limit": 120\n}'


def test_pdf_text_is_extracted():
    doc = parse("report.pdf", text_pdf(["Quarterly report", "Revenue grew 12 percent."]))
    assert "Revenue grew 12 percent." in doc.text


def test_doc_ids_are_slugs_of_the_file_stem():
    assert doc_id_for("My Notes (final) v2.MD") == "my-notes-final-v2"
    assert doc_id_for("Ünïcode ståff.txt") == "unicode-staff"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "the file is empty"),
        ("blank.txt", b"   \n\n\t ", "the file is empty"),
        ("image.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary data"),
        ("latin1.txt", "Caf\u00e9 cr\u00e8me".encode("latin-1"), "not valid UTF-8"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "not a readable PDF"),
        ("renamed.pdf", b"this is plain text, not a PDF", "not a readable PDF"),
        ("locked.pdf", blank_pdf(password="secret"), "encrypted"),
        ("scan.pdf", blank_pdf(), "no extractable text"),
        ("data.json", b'{"limit": 120,,}', "malformed JSON"),
        ("slides.pptx", b"PK\x03\x04", "unsupported file type"),
        ("page.html", b"<html><script>x()</script></html>", "no text left"),
    ],
)
def test_a_bad_file_is_rejected_by_name_with_its_reason(name, data, reason):
    with pytest.raises(IngestError) as err:
        parse(name, data)
    assert str(err.value).startswith(f"{name}: ")
    assert reason in str(err.value)


def test_a_file_over_the_size_limit_is_rejected_before_parsing():
    with pytest.raises(IngestError, match=r"big.txt: .* over the .* limit \(RAGTUNE_MAX_UPLOAD_MB\)"):
        parse("big.txt", b"x" * (MB + 1))
