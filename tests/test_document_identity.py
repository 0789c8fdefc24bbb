"""A document is its file's path: no two files of a batch share an id, the same file replaces
its own document, and data directories written before this rule keep every document."""

from __future__ import annotations

import re
import sqlite3
import unicodedata
import uuid
from datetime import datetime, timezone
from pathlib import Path, PurePath

import pytest

from ragtune.config import load_settings
from ragtune.prompts import CHUNK_ID_PATTERN, MAX_CHUNK_ID_CHARS
from ragtune.retrieval.chunking import chunk_spans
from ragtune.retrieval.ingest import strip_common_folder
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.retrieval.loaders import doc_id_for, unique_doc_id_for
from ragtune.retrieval.manifest_sqlite import SCHEMA_VERSION, SQLiteManifest
from ragtune.retrieval.store import ChromaVectorStore
from tests.retrieval_fixtures import embedding_function, kb, on_both_stores  # noqa: F401

COLLIDING_BEFORE = [  # each group shared one id under the old rule (the stem, slugged, cut to 80)
    [("a/README.md", b"# A readme\n\nAlpha team notes."), ("b/README.md", b"# B readme\n\nBeta team notes.")],
    [("notes.md", b"Notes in Markdown about kites."), ("notes.txt", b"Notes in plain text about boats.")],
    [("a-b.md", b"Hyphen file about apples."), ("a_b.md", b"Underscore file about pears.")],
    [("x" * 85 + "1.md", b"Long name one about owls."), ("x" * 85 + "2.md", b"Long name two about bats.")],
    [("日本語.md", b"Japanese file about trains."), ("中文.md", b"Chinese file about tea.")],
]


def texts_by_source(kb: KnowledgeBase, workspace: str = "team") -> dict[str, str]:
    return {d.source: kb.document_text(workspace, d.doc_id) for d in kb.list_documents(workspace)}


@pytest.mark.parametrize("files", COLLIDING_BEFORE, ids=["folders", "extensions", "punctuation", "long", "non-ascii"])
def test_two_files_of_one_batch_never_share_an_id(kb, files):
    report = kb.ingest_bytes("team", files)
    assert [f.status for f in report.files] == ["added", "added"], report
    ids = [f.doc_id for f in report.files]
    assert len(set(ids)) == 2
    assert texts_by_source(kb) == {name: data.decode() for name, data in files}
    for doc_id in ids:  # ids stay valid citation ids
        assert re.match(CHUNK_ID_PATTERN, f"{doc_id}#12345") and len(f"{doc_id}#12345") <= MAX_CHUNK_ID_CHARS


@on_both_stores
def test_the_same_path_ingested_again_replaces_its_own_document(kb):
    kb.ingest_bytes("team", [("a/README.md", b"Alpha v1."), ("b/README.md", b"Beta v1.")])
    ids = {d.source: d.doc_id for d in kb.list_documents("team")}
    report = kb.ingest_bytes("team", [("b/README.md", b"Beta v2."), ("a/README.md", b"Alpha v1.")])
    assert [(f.path, f.status, f.doc_id) for f in report.files] == [
        ("b/README.md", "replaced", ids["b/README.md"]), ("a/README.md", "unchanged", ids["a/README.md"])]
    assert texts_by_source(kb) == {"a/README.md": "Alpha v1.", "b/README.md": "Beta v2."}
    assert [d.version for d in kb.list_documents("team") if d.source == "b/README.md"] == [2]


def test_the_same_path_twice_in_one_batch_is_reported_not_overwritten(kb):
    report = kb.ingest_bytes("team", [("guide.md", b"First upload."), ("guide.md", b"Second upload.")])
    assert [f.status for f in report.files] == ["added", "failed"]
    assert "twice" in report.files[1].error and report.files[1].error.startswith("guide.md")
    assert texts_by_source(kb) == {"guide.md": "First upload."}


def test_ids_are_readable_slugs_with_a_hash_only_where_needed():
    assert doc_id_for("Warranty Policy.md") == "warranty-policy"
    assert doc_id_for("日本語.md") != doc_id_for("中文.md")
    assert doc_id_for("日本語.md").startswith("doc-md_")
    assert unique_doc_id_for("a/README.md").startswith("a-readme-md_")
    assert unique_doc_id_for("a/README.md") != unique_doc_id_for("b/README.md")
    assert len(doc_id_for("x" * 200 + ".md")) <= 64 and doc_id_for("x" * 200 + "1.md") != doc_id_for("x" * 200 + "2.md")


def test_a_folder_ingested_from_disk_keeps_paths_relative_to_it(kb, tmp_path):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "README.md").write_text(f"# {sub}\n\nReadme of {sub}.")
    report = kb.ingest_paths("team", [tmp_path])
    assert sorted((f.path, f.status) for f in report.files) == [("a/README.md", "added"), ("b/README.md", "added")]
    again = kb.ingest_paths("team", [tmp_path])
    assert {f.status for f in again.files} == {"unchanged"}
    assert len(kb.list_documents("team")) == 2


def test_a_browser_folder_upload_names_files_by_their_path_inside_the_folder():
    # Streamlit's frontend sends webkitRelativePath: "<chosen folder>/<path inside it>".
    assert strip_common_folder(["docs/a.md", "docs/sub/b.txt"]) == ["a.md", "sub/b.txt"]
    assert strip_common_folder(["a.md", "b.md"]) == ["a.md", "b.md"]
    assert strip_common_folder(["x/a.md", "y/a.md"]) == ["x/a.md", "y/a.md"]


# -- migration: a data directory written by the code before paths were identities -------------

LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    workspace_id TEXT NOT NULL, doc_id TEXT NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL,
    version INTEGER NOT NULL, generation TEXT NOT NULL, updated_at TEXT NOT NULL,
    n_chunks INTEGER NOT NULL, sha256 TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (workspace_id, doc_id)
);
CREATE TABLE IF NOT EXISTS workspace_state (
    workspace_id TEXT PRIMARY KEY, revision INTEGER NOT NULL DEFAULT 0, demo_version TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def legacy_doc_id_for(name: str) -> str:
    """The old rule, verbatim: the stem as a lowercase slug, cut to 80 characters."""
    stem = PurePath(name).stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_stem.lower()).strip("-")
    return slug[:80] or "document"


def write_legacy_store(data_dir: Path, ef, files: dict[str, str]) -> None:
    """What the old code wrote for ``ingest -w team FOLDER``: rows keyed by the old id with the
    bare file name as source, chunk records ``<old id>#<n>@<generation>``; no schema version."""
    settings = load_settings(data_dir=data_dir)
    settings.ensure_data_dir()
    store = ChromaVectorStore(settings.chroma_dir, ef)
    ref = store.create_workspace("team")
    conn = sqlite3.connect(settings.knowledge_manifest_file)
    conn.executescript(LEGACY_SCHEMA)
    for path, text in files.items():
        name = PurePath(path).name
        doc_id, generation = legacy_doc_id_for(name), uuid.uuid4().hex[:12]
        spans = chunk_spans(text, size=settings.chunk_size, overlap=settings.chunk_overlap)
        now = datetime.now(timezone.utc).isoformat()
        store.upsert(
            ref, [f"{doc_id}#{n}@{generation}" for n in range(len(spans))],
            [text[s.start:s.end] for s in spans],
            [{"doc_id": doc_id, "n": n, "chunk_id": f"{doc_id}#{n}", "title": name, "source": name,
              "section": s.section, "version": 1, "generation": generation, "updated_at": now,
              "start": s.start, "end": s.end, "written_at": 0.0} for n, s in enumerate(spans)],
        )
        conn.execute(
            "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
            (ref.id, doc_id, name, name, 1, generation, now, len(spans), "old-sha", text),
        )
    conn.commit()
    conn.close()


LEGACY_FILES = {
    "guide.md": "# Guide\n\nThe Zephyr mower costs $450.\n\n## Battery\n\nThe battery lasts 70 minutes.",
    "Team Notes.txt": "Team meeting every Friday at 10:00 in the boathouse.",
    "日本語.md": "The Kyoto office opens at nine.",
    "sub/faq.md": "# FAQ\n\nThe gate code is 4471.",
}


def test_a_store_written_before_the_change_keeps_every_document_and_is_searchable(tmp_path, embedding_function):
    write_legacy_store(tmp_path, embedding_function, LEGACY_FILES)
    kb = KnowledgeBase.from_settings(load_settings(data_dir=tmp_path), embedding_function)
    assert kb.manifest.schema_version() == SCHEMA_VERSION
    docs = {d.doc_id: d for d in kb.list_documents("team")}
    assert set(docs) == {"guide", "team-notes", "document", "faq"}  # the old ids stay valid citations
    for path, text in LEGACY_FILES.items():
        doc = docs[legacy_doc_id_for(PurePath(path).name)]
        assert kb.document_text("team", doc.doc_id) == text
        assert len(kb.chunks("team", doc.doc_id)) == doc.n_chunks >= 1
    assert kb.search("team", "gate code", mode="keyword", k=1).hits[0].chunk.chunk_id == "faq#0"
    assert "70 minutes" in kb.search("team", "how long does the battery last", mode="vector", k=1).hits[0].text


def test_reingesting_the_same_files_after_the_migration_replaces_them_without_duplicates(
    tmp_path, embedding_function
):
    write_legacy_store(tmp_path / "data", embedding_function, LEGACY_FILES)
    folder = tmp_path / "docs"
    for path, text in LEGACY_FILES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text.replace("$450", "$520"), encoding="utf-8")
    kb = KnowledgeBase.from_settings(load_settings(data_dir=tmp_path / "data"), embedding_function)
    report = kb.ingest_paths("team", [folder])
    assert report.ok and {f.status for f in report.files} == {"replaced"}
    docs = kb.list_documents("team")
    assert sorted(d.doc_id for d in docs) == ["document", "faq", "guide", "team-notes"]
    assert sorted(d.source for d in docs) == sorted(LEGACY_FILES)  # now with the subfolder's path
    assert "$520" in kb.document_text("team", "guide")
    assert kb.store.count(kb.workspace("team")) == sum(d.n_chunks for d in docs), "the old chunks are gone"
    again = kb.ingest_paths("team", [folder])
    assert {f.status for f in again.files} == {"unchanged"}


def test_the_migration_is_one_step_and_runs_once(tmp_path, embedding_function):
    write_legacy_store(tmp_path, embedding_function, {"guide.md": LEGACY_FILES["guide.md"]})
    settings = load_settings(data_dir=tmp_path)
    first = SQLiteManifest(settings.knowledge_manifest_file)
    ref_id = next(iter(first.workspace_ids()))
    assert first.is_legacy(ref_id, "guide") and first.schema_version() == SCHEMA_VERSION
    first.close()
    second = SQLiteManifest(settings.knowledge_manifest_file)  # a second open changes nothing
    assert second.is_legacy(ref_id, "guide") and [d.doc_id for d in second.documents(ref_id)] == ["guide"]
