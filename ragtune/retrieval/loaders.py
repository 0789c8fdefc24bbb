"""Turn an uploaded file (name + bytes) into a document's title and plain text.

Every way a file can be unusable raises :class:`~ragtune.errors.IngestError` with a
reason a user can act on; nothing here touches a store, so a bad file can never
change what is already indexed.

Every reader here is linear in the file's size, whatever the file holds: the patterns
cannot backtrack (possessive quantifiers, lookbehinds that pin a match to the start of
a run), HTML is read by a small tokenizer of our own (CPython's ``HTMLParser`` is
quadratic on inputs like ``<a<a<a...``), and JSON goes through the bounded reader.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath

from ragtune.errors import IngestError, JSONInputError, RagtuneError
from ragtune.jsonio import loads_bounded
from ragtune.retrieval.chunking import headings

MIB = 1024 * 1024
"""RAGTUNE_MAX_UPLOAD_MB counts in MiB (as Streamlit's maxUploadSize does); every size shown uses it."""


def format_mb(size: int, limit: int | None = None) -> str:
    """``size`` bytes in MB (MiB), with one decimal, or more where one decimal would not show
    that ``size`` is over ``limit`` (21,000,000 bytes -> ``20.0`` would read as under 20)."""
    for digits in range(1, 7):
        text = f"{size / MIB:.{digits}f}"
        if limit is None or float(text) > limit / MIB:
            return text
    return f"{size / MIB:.6f}"


def too_large_error(name: str, size: int, limit: int) -> IngestError:
    return IngestError(
        f"{name}: {format_mb(size, limit)} MB is over the {limit / MIB:g} MB limit (RAGTUNE_MAX_UPLOAD_MB)."
    )


TEXT_EXTENSIONS = (".md", ".markdown", ".txt")
SUPPORTED_EXTENSIONS = (*TEXT_EXTENSIONS, ".pdf", ".html", ".htm", ".csv", ".json")


@dataclass(frozen=True)
class ParsedDocument:
    """A file's extracted text, with the id and title it will be stored under.

    ``source`` is the document's identity in its workspace: the file's path relative to
    the folder it was ingested from (its name for single files and uploads).
    """

    doc_id: str
    title: str
    source: str
    text: str


MAX_DOC_ID_CHARS = 64
"""Longest document id: a chunk id ``<doc_id>#<n>`` stays within prompts.MAX_CHUNK_ID_CHARS (80)."""
_SHORT_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def source_path(name: str) -> str:
    """The identity of an uploaded or ingested file: its relative path, POSIX-style, without
    empty, ``.`` or leading-slash parts (``./docs\\a.md`` -> ``docs/a.md``)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts) or name


def unique_doc_id_for(path: str) -> str:
    """The collision-free id of a relative path: a slug of the whole path, extension
    included, plus a hash of the exact path (``a/README.md`` -> ``a-readme-md_3f9a1c2b7d``).

    The ``_`` never occurs in a :func:`doc_id_for` slug, so the two kinds of id cannot meet.
    """
    path = source_path(path)
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    suffix = PurePath(path).suffix
    ext = _slug(suffix)[:10]
    body = _slug(path[: len(path) - len(suffix)] if suffix else path) or "doc"
    body = body[: MAX_DOC_ID_CHARS - len(digest) - len(ext) - 2].strip("-")
    return f"{body}-{ext}_{digest}" if ext else f"{body}_{digest}"


def doc_id_for(name: str) -> str:
    """The preferred id of a file: its stem as a lowercase slug (``Warranty Policy.md`` ->
    ``warranty-policy``).

    A stem with nothing left to slug (``日本語.md``) or a slug longer than
    :data:`MAX_DOC_ID_CHARS` gets :func:`unique_doc_id_for` instead, so such names never
    share an id. When the preferred id already belongs to another file of the workspace
    (``notes.md`` and ``notes.txt``, ``a/README.md`` and ``b/README.md``), the knowledge base
    gives the newcomer its :func:`unique_doc_id_for` (see ``KnowledgeBase``).
    """
    slug = _slug(PurePath(source_path(name)).stem)
    if not slug or len(slug) > MAX_DOC_ID_CHARS or not _SHORT_ID.fullmatch(slug):
        return unique_doc_id_for(name)
    return slug


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


# A run of line breaks (\n, \r\n, \r; \f counts as two) with the spaces and tabs before each.
# The lookbehind starts a match only at the start of a run of blanks, and the possessive
# quantifiers never give characters back: a line of a million spaces is scanned once.
_BREAKS = re.compile(r"(?<![ \t])[ \t]*+(?:\r\n?|[\n\f])(?:[ \t]*+(?:\r\n?|[\n\f]))*+")


def _breaks(match: re.Match[str]) -> str:
    run = match.group()
    lines = run.count("\n") + run.count("\r") - run.count("\r\n") + 2 * run.count("\f")
    return "\n" if lines == 1 else "\n\n"


def _normalise(text: str) -> str:
    """Unix line ends, no trailing blanks on a line, at most one empty line in a row; one pass."""
    return _BREAKS.sub(_breaks, text).strip()


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _without_surrogates(text: str) -> str:
    # JSON escapes (and PDFs) can carry lone UTF-16 surrogates, which no store can encode.
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


_TAG_NAME = re.compile(r"<(/?)([A-Za-z][^\t\n\r\f />\x00]*+)")
# The rest of a tag up to its '>': quoted attribute values may hold '>'; a stray or
# unclosed quote is an ordinary character. Possessive, so one pass per tag.
_TAG_REST = re.compile(r"""(?:[^>"'=]++|=\s*+(?:"[^"]*+"|'[^']*+')?|["'])*+>""")
_RAW_TEXT = {"script", "style"}  # their content is not markup: it ends only at the closing tag
_RAW_TEXT_END = {tag: re.compile(rf"</{tag}(?![A-Za-z0-9])", re.IGNORECASE) for tag in _RAW_TEXT}
# A numeric character reference too long to be a code point (over 7 decimal / 6 hex digits):
# html.unescape would pass it to int() and fail on Python's integer-string limit.
_HUGE_CHARREF = re.compile(r"&#(?:[xX]0*+[0-9a-fA-F]{7,}+|0*+[0-9]{8,}+);?")
_MAX_TITLE_CHARS = 1000


class _HTMLText:
    """Visible text of an HTML page; headings become Markdown headings, blocks paragraphs."""

    BLOCKS = {"p", "div", "section", "article", "li", "tr", "br", "table", "ul", "ol", "pre",
              "blockquote", "header", "footer", "main", "nav", "dd", "dt"}
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._title_chars = 0
        self._skip = 0
        self._in_title = False

    @property
    def title(self) -> str:
        return "".join(self.title_parts)

    def feed(self, page: str) -> None:
        """Tokenize the whole page (one pass; the HTML5 rules where a construct never ends)."""
        n = len(page)
        last_gt = page.rfind(">")  # no tag can close after it: a later '<' is text
        pos = 0
        while pos < n:
            lt = page.find("<", pos)
            if lt == -1:
                self.handle_data(page[pos:])
                break
            if lt > pos:
                self.handle_data(page[pos:lt])
            pos = lt + 1
            if lt > last_gt:
                self.handle_data("<")
                continue
            if page.startswith("<!--", lt):  # a comment; unclosed, it runs to the end
                close = page.find("-->", lt + 4)
                pos = n if close == -1 else close + 3
                continue
            tag = _TAG_NAME.match(page, lt)
            if tag is None:
                if page.startswith(("<!", "<?", "</"), lt):  # declaration, processing instruction, bogus
                    pos = page.find(">", lt) + 1
                else:
                    self.handle_data("<")
                continue
            rest = _TAG_REST.match(page, tag.end())
            if rest is None:  # no '>' outside quotes: not a tag after all
                self.handle_data("<")
                continue
            pos = rest.end()
            name = tag.group(2).lower()
            if tag.group(1):
                self.handle_endtag(name)
                continue
            self.handle_starttag(name, [])
            if page.startswith("/>", pos - 2):
                self.handle_endtag(name)
            elif name in _RAW_TEXT:
                close = _RAW_TEXT_END[name].search(page, pos)
                if close is None:
                    break  # an unclosed script runs to the end
                pos = close.start()

    def close(self) -> None:
        """Nothing is buffered: :meth:`feed` reads the whole page at once."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip += 1
        elif tag in self.HEADINGS:
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self.HEADINGS or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if "&" in data:
            data = html.unescape(_HUGE_CHARREF.sub("\ufffd", data))
        if self._in_title:
            if self._title_chars < _MAX_TITLE_CHARS:
                self.title_parts.append(data[: _MAX_TITLE_CHARS - self._title_chars])
                self._title_chars += len(self.title_parts[-1])
        elif not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html_text(text: str) -> tuple[str, str]:
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    body = "\n".join(line.strip() for line in "".join(parser.parts).split("\n"))
    return parser.title.strip(), body


def _csv_text(name: str, text: str, *, max_chars: int) -> str:
    # A field may be as large as the file (the csv module's default cap is 128 KB, and
    # the cap is process-wide: only ever raise it).
    if csv.field_size_limit() < len(text) + 1:
        csv.field_size_limit(len(text) + 1)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise IngestError(f"{name}: malformed CSV ({exc}).") from exc
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if len(rows) < 2:
        return "\n".join(", ".join(row) for row in rows)
    header, body = rows[0], rows[1:]
    labels = [h.strip() or f"column {i + 1}" for i, h in enumerate(header)]
    # One paragraph per row, "column: value" lines: each row is retrievable on its own.
    # The column names repeat on every row, so a wide header over many short rows could
    # grow the text far beyond the file: bound it.
    records = []
    total = 0
    for row in body:
        record = "\n".join(f"{label}: {v.strip()}" for label, v in zip(labels, row))
        total += len(record) + 2
        if total > max_chars:
            raise IngestError(
                f"{name}: as text (column names repeated on every row) this CSV is over "
                f"{max_chars / MIB:g} MB; split it into smaller files or shorten the column names."
            )
        records.append(record)
    return "\n\n".join(records)


def _json_text(name: str, raw: str, *, max_chars: int) -> str:
    try:
        data = loads_bounded(raw, what=name)
    except JSONInputError as exc:
        if exc.kind == "syntax":
            raise IngestError(f"{name}: malformed JSON ({exc.detail}).") from exc
        raise IngestError(str(exc)) from exc
    # Pretty-printed for chunking (one value a line), unless indentation would blow a
    # deeply nested file up: then compact, which is never much larger than the file.
    parts: list[str] = []
    pending: list[str] = []
    size = 0
    for piece in json.JSONEncoder(indent=2, ensure_ascii=False).iterencode(data):
        pending.append(piece)
        size += len(piece)
        if size > max_chars:
            return json.dumps(data, ensure_ascii=False)
        if len(pending) >= 4096:
            parts.append("".join(pending))
            pending.clear()
    parts.append("".join(pending))
    return "".join(parts)


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
    except RecursionError as exc:  # reference loops and absurd nesting in hostile files
        raise IngestError(f"{name}: not a readable PDF (its objects nest or refer to each other "
                          "without end).") from exc
    except MemoryError as exc:
        raise IngestError(f"{name}: not a readable PDF (it expands to more than memory holds).") from exc
    except Exception as exc:  # pypdf raises many kinds on malformed files (KeyError, AssertionError, ...)
        raise IngestError(f"{name}: not a readable PDF ({_describe(exc)}).") from exc
    text = "\n\n".join(page.strip() for page in pages if page.strip())
    if not text.strip():
        raise IngestError(
            f"{name}: the PDF has no extractable text (a scan or images only?). "
            "Run OCR on it first, or upload the text."
        )
    return meta_title, text


def _markdown_title(text: str) -> str:
    """The title of the first level-1 heading (``# Title``), or ''."""
    for _, level, title in headings(text):
        if level == 1:
            return title
    return ""


def _describe(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    if len(message) > 160:
        message = message[:160] + "..."
    return f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__


def parse_document(name: str, data: bytes, *, max_bytes: int) -> ParsedDocument:
    """Validate and extract one file.

    Args:
        name: the file name (its extension picks the reader; its stem the document id).
        data: the file's bytes.
        max_bytes: the upload size limit.

    Raises:
        IngestError: the file is too large, empty, binary, undecodable, an unreadable or
            encrypted PDF, a PDF without text, malformed JSON/CSV, or of an unsupported type;
            and, by construction, whatever else goes wrong reading it (no other exception
            leaves this function but KeyboardInterrupt and SystemExit).
    """
    try:
        return _parse_document(name, data, max_bytes=max_bytes)
    except RagtuneError:
        raise
    except RecursionError as exc:
        raise IngestError(f"{PurePath(name).name or name}: cannot be read (nested too deep).") from exc
    except MemoryError as exc:
        raise IngestError(
            f"{PurePath(name).name or name}: cannot be read (it needs more memory than there is)."
        ) from exc
    except Exception as exc:  # a reader's bug or an unforeseen file must not abort a batch
        raise IngestError(f"{PurePath(name).name or name}: cannot be read ({_describe(exc)}).") from exc


def _parse_document(name: str, data: bytes, *, max_bytes: int) -> ParsedDocument:
    source = PurePath(name).name or name
    suffix = PurePath(source).suffix.lower()
    if suffix not in SUPPORTED_EXTENSIONS:
        raise IngestError(
            f"{source}: unsupported file type {suffix or '(none)'!r}. "
            f"Supported: {', '.join(SUPPORTED_EXTENSIONS)}."
        )
    if len(data) > max_bytes:
        raise too_large_error(source, len(data), max_bytes)
    if not data or data.isspace():  # (not data.strip(): no copy of a large file)
        raise IngestError(f"{source}: the file is empty.")

    title = ""
    if suffix == ".pdf":
        title, text = _pdf_text(source, data)
    else:
        raw = _decode(source, data)
        if suffix in (".html", ".htm"):
            title, text = _html_text(raw)
        elif suffix == ".csv":
            text = _csv_text(source, raw, max_chars=2 * max_bytes)
        elif suffix == ".json":
            text = _json_text(source, raw, max_chars=2 * max_bytes)
        else:
            text = raw
            if suffix in (".md", ".markdown"):
                title = _markdown_title(raw)
        del raw  # (the decoded file: drop it before the normalised copy is made)
    text = _without_surrogates(_normalise(text))
    title = _without_surrogates(title)
    if not text:
        raise IngestError(f"{source}: no text left after extraction (the file is effectively empty).")
    return ParsedDocument(
        doc_id=doc_id_for(source),
        title=(title or _markdown_title(text) or _title_from_stem(source))[:200],
        source=source,
        text=text,
    )
