"""Reading files into documents: each supported format, and every way a file can be unusable."""

from __future__ import annotations

import pytest

from ragtune.errors import IngestError
from ragtune.retrieval.loaders import doc_id_for, parse_document
from tests.retrieval_fixtures import blank_pdf, one_page_pdf, raw_pdf, text_pdf

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


# -- hostile files: every failure is an IngestError naming the file ---------------------------

HOSTILE = [
    # pypdf recursed without end on this content stream (RecursionError escaped).
    ("nested.pdf", one_page_pdf("[" * 5000 + "]" * 5000 + " BT /F1 12 Tf (Hi) Tj ET"), "not a readable PDF"),
    ("pages-loop.pdf", raw_pdf(["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]),
     "not a readable PDF"),
    ("odd.txt", "caf\u00e9".encode("utf-16") + b"\x00", "invalid UTF-16"),
    # CPython's HTMLParser raised AssertionError on a marked section without a name.
    ("marked.html", b"<p>text</p><![<![<![<![<!", None),
    # html.unescape passed 5,000 digits to int() (ValueError: the integer-string limit).
    ("charref.html", b"<p>a &#" + b"1" * 5000 + b"; b</p>", None),
    ("deep.json", b"[" * 100_000 + b"]" * 100_000, "JSON nested 100000 deep (at column 201); the limit is 200"),
    ("big-int.json", b'{"n": ' + b"7" * 5000 + b"}", "a JSON integer with 5000 digits at column 7; the limit is 4300"),
]


@pytest.mark.parametrize(("name", "data", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_file_is_read_or_refused_by_name_never_a_raw_exception(name, data, reason):
    if reason is None:
        assert parse(name, data).text  # read: the damaged part is skipped, the text kept
        return
    with pytest.raises(IngestError) as err:
        parse(name, data)
    assert str(err.value).startswith(f"{name}: ") and reason in str(err.value)


def test_a_huge_character_reference_becomes_a_replacement_character():
    page = b"<p>a &#" + b"1" * 5000 + b"; b &#65; &#x1F600;</p>"
    assert parse("charref.html", page).text == "a \ufffd b A \U0001F600"


def test_a_csv_field_over_the_csv_modules_128_kb_cap_is_ingested():
    field = "long " * 60_000
    doc = parse("notes.csv", f'name,notes\nwidget,"{field}"\n'.encode())
    assert doc.text == f"name: widget\nnotes: {field.strip()}"


def test_a_csv_that_would_grow_beyond_twice_the_upload_limit_is_refused():
    header = ",".join(f"a_rather_long_column_name_{i}" for i in range(200))
    data = (header + "\n" + "\n".join("1" + "," * 199 for _ in range(2000))).encode()
    with pytest.raises(IngestError, match=r"wide.csv: as text .* over 2 MB; split it"):
        parse("wide.csv", data, max_bytes=MB)


def test_json_that_indentation_would_blow_up_is_kept_compact():
    data = b"[" * 150 + b"1," * 20_000 + b"1" + b"]" * 150
    doc = parse("deep.json", data, max_bytes=100_000)
    assert doc.text == data.decode().replace(",", ", ")


def test_a_lone_surrogate_from_a_json_escape_becomes_a_replacement_character():
    doc = parse("s.json", b'{"a": "x\\ud800y"}')
    assert doc.text == '{\n  "a": "x\ufffdy"\n}'
    doc.text.encode("utf-8")  # storable


def test_an_unexpected_error_in_a_reader_becomes_an_ingest_error(monkeypatch):
    import ragtune.retrieval.loaders as loaders

    def broken(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(loaders, "_csv_text", broken)
    with pytest.raises(IngestError, match=r"^table.csv: cannot be read \(KeyError: 'surprise'\)\.$"):
        parse("table.csv", b"a,b\n1,2\n")


# -- the readers keep their behaviour on ordinary files ---------------------------------------

@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# Returns\n", "Returns"),
        ("intro\n\n#  Spaced title  ##  \n", "Spaced title"),
        ("## Not level one\n# C#\n", "C"),  # a closing '#' run, as before
        ("#hashtag\n####### seven\n# Real\n", "Real"),
        ("#\n# After a lone hash\n", "After a lone hash"),
    ],
)
def test_the_markdown_title_is_the_first_level_one_heading(text, title):
    assert parse("doc.md", text.encode() + b"body\n").title == title


def test_normalising_strips_line_end_blanks_and_collapses_blank_lines():
    data = b"one  \t\r\ntwo\rthree \f four\n \n\t\n\n\nfive   "
    assert parse("a.txt", data).text == "one\ntwo\nthree\n\n four\n\nfive"


def test_html_tags_comments_and_attributes_with_angle_brackets():
    page = (b"<!DOCTYPE html><html><body><!-- hidden --><p title='a > b'>One<br/>two</p>"
            b"<script>if (a < b) { document.write('<p>no</p>') }</script>"
            b"<H3>Small &amp; bold</H3><p>x < y, &#65;&#x42;</p></body></html>")
    doc = parse("page.html", page)
    assert doc.text == "One\n\ntwo\n\n### Small & bold\n\nx < y, AB"
