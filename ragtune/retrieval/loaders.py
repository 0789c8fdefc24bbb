"""Turn an uploaded file (name + bytes) into a document's title and plain text.

Every way a file can be unusable raises :class:`~ragtune.errors.IngestError` with a
reason a user can act on; nothing here touches a store, so a bad file can never
change what is already indexed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

from ragtune.errors import IngestError

TEXT_EXTENSIONS = (".md", ".markdown", ".txt")
SUPPORTED_EXTENSIONS = (*TEXT_EXTENSIONS, ".pdf", ".html", ".htm", ".csv", ".json")


@dataclass(frozen=True)
class ParsedDocument:
    """A file's extracted text, with the id and title it will be stored under."""

    doc_id: str
    title: str
    source: str
    text: str


def doc_id_for(name: str) -> str:
    """The document id of a file name: its stem as a lowercase slug (``Warranty Policy.md`` ->
    ``warranty-policy``). Uploading a file with the same stem replaces that document."""
    stem = PurePath(name).stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_stem.lower()).strip("-")
    return slug[:80] or "document"


def _title_from_stem(name: str) -> str:
    return re.sub(r"[-_]+", " ", PurePath(name).stem).strip().capitalize() or name


def _decode(name: str, data: bytes) -> str:
    """Strict text decoding: UTF-8 (with or without BOM) or BOM-marked UTF-16."""
    head = data[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise IngestError(f"{name}: invalid UTF-16 text ({exc.reason}).") from exc
    if b"\x00" in head:
        raise IngestError(
            f"{name}: contains binary data (NUL bytes), not text. "
            "Is the extension right? Supported: " + ", ".join(SUPPORTED_EXTENSIONS)
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"{name}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}). "
            "Save the file as UTF-8 and upload it again."
        ) from exc
    controls = sum(1 for ch in text[:8192] if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    if controls > max(8, len(text[:8192]) // 50):
        raise IngestError(f"{name}: looks like binary data (many control characters), not text.")
    return text


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


class _HTMLText(HTMLParser):
    """Visible text of an HTML page; headings become Markdown headings, blocks paragraphs."""

    BLOCKS = {"p", "div", "section", "article", "li", "tr", "br", "table", "ul", "ol", "pre",
              "blockquote", "header", "footer", "main", "nav", "dd", "dt"}
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html_text(text: str) -> tuple[str, str]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    body = "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))
    return parser.title.strip(), body


def _csv_text(name: str, text: str) -> str:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise IngestError(f"{name}: malformed CSV ({exc}).") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        return "\n".join(", ".join(row) for row in rows)
    header, body = rows[0], rows[1:]
    # One paragraph per row, "column: value" lines: each row is retrievable on its own.
    records = []
    for row in body:
        pairs = [f"{h.strip() or f'column {i + 1}'}: {v.strip()}" for i, (h, v) in enumerate(zip(header, row))]
        records.append("\n".join(pairs))
    return "\n\n".join(records)


def _pdf_text(name: str, data: bytes) -> tuple[str, str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # An empty user password is common and opens the file; anything else cannot.
            try:
                opened = reader.decrypt("")
            except Exception:  # pypdf raises several kinds here (missing crypto, bad key)
                opened = 0
            if not opened:
                raise IngestError(f"{name}: the PDF is encrypted. Remove the password and upload it again.")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = ""
        try:
            meta_title = str((reader.metadata or {}).get("/Title") or "").strip()
        except (PyPdfError, ValueError, TypeError):
            pass
    except IngestError:
        raise
    except (PdfReadError, PyPdfError, ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise IngestError(f"{name}: not a readable PDF ({exc.__class__.__name__}: {exc}).") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text.strip():
        raise IngestError(
            f"{name}: the PDF has no extractable text (a scan or images only?). "
            "Run OCR on it first, or upload the text."
        )
    return meta_title, text


def _markdown_title(text: str) -> str:
    match = re.search(r"^#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
    return match.group(1).strip() if match else ""


def parse_document(name: str, data: bytes, *, max_bytes: int) -> ParsedDocument:
    """Validate and extract one file.

    Args:
        name: the file name (its extension picks the reader; its stem the document id).
        data: the file's bytes.
        max_bytes: the upload size limit.

    Raises:
        IngestError: the file is too large, empty, binary, undecodable, an unreadable or
            encrypted PDF, a PDF without text, malformed JSON/CSV, or of an unsupported type.
    """
    source = PurePath(name).name or name
    suffix = PurePath(source).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise IngestError(
            f"{source}: unsupported file type {suffix or '(none)'!r}. "
            f"Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    if len(data) > max_bytes:
        raise IngestError(
            f"{source}: {len(data) / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
            "(RAGTUNE_MAX_UPLOAD_MB)."
        )
    if not data.strip():
        raise IngestError(f"{source}: the file is empty.")

    title = ""
    if suffix == ".pdf":
        title, text = _pdf_text(source, data)
    else:
        raw = _decode(source, data)
        if suffix in (".html", ".htm"):
            title, text = _html_text(raw)
        elif suffix == ".csv":
            text = _csv_text(source, raw)
        elif suffix == ".json":
            try:
                text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
            except json.JSONDecodeError as exc:
                raise IngestError(
                    f"{source}: malformed JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})."
                ) from exc
        else:
            text = raw
            if suffix in (".md", ".markdown"):
                title = _markdown_title(raw)
    text = _normalise(text)
    if not text:
        raise IngestError(f"{source}: no text left after extraction (the file is effectively empty).")
    return ParsedDocument(
        doc_id=doc_id_for(source),
        title=(title or _markdown_title(text) or _title_from_stem(source))[:200],
        source=source,
        text=text,
    )
