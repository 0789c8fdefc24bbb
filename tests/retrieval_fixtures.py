"""Fixtures and file makers for the knowledge-base tests.

Test modules import the fixtures they use (``from tests.retrieval_fixtures import kb``).
The embedding function is the process-wide one the app uses, so its model loads once
per test session.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragtune.config import load_settings
from ragtune.retrieval.embeddings import OfflineMiniLM, shared_embedding_function
from ragtune.retrieval.knowledge import KnowledgeBase
from tests.servers import on_both_stores  # noqa: F401 - re-exported for the contract tests


@pytest.fixture(scope="session")
def embedding_function() -> OfflineMiniLM:
    return shared_embedding_function()


@pytest.fixture()
def kb(data_dir: Path, embedding_function: OfflineMiniLM, knowledge_store: str) -> Iterator[KnowledgeBase]:
    """A knowledge base on real chromadb (in this test's data directory, or on the Chroma server: see
    ``knowledge_store``), with workspace 'team'."""
    base = KnowledgeBase.from_settings(load_settings(), embedding_function)
    base.create_workspace("team")
    yield base
    base.manifest.close()


@pytest.fixture(scope="session")
def demo_kb(tmp_path_factory: pytest.TempPathFactory, embedding_function: OfflineMiniLM) -> KnowledgeBase:
    """The demo knowledge base, ingested once per session (read-only for tests)."""
    from ragtune.retrieval.demo import ensure_demo_workspace

    settings = load_settings(data_dir=tmp_path_factory.mktemp("demo-kb"))
    base = KnowledgeBase.from_settings(settings, embedding_function)
    ensure_demo_workspace(base, "demo")
    return base


def text_pdf(lines: list[str]) -> bytes:
    """A minimal valid one-page PDF whose text layer holds ``lines``."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(
        f"({line.replace('(', '').replace(')', '')}) '" for line in lines
    ) + " ET"
    return one_page_pdf(content)


def one_page_pdf(content: str) -> bytes:
    """A valid one-page PDF whose page content stream is exactly ``content``."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return raw_pdf(objects)


def raw_pdf(objects: list[str]) -> bytes:
    """A PDF made of exactly these object bodies (object 1 is the catalog), valid xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def blank_pdf(*, password: str | None = None) -> bytes:
    """A one-page PDF with no text (optionally encrypted with ``password``)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if password:
        writer.encrypt(password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
