"""The knowledge base on real chromadb: ingestion, bad input, workspaces, atomic replacement, search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.errors import InputError, WorkspaceError
from ragtune.retrieval.ingest import WRITE_BATCH
from ragtune.retrieval.knowledge import KnowledgeBase
from tests.retrieval_fixtures import blank_pdf, embedding_function, kb, on_both_stores, text_pdf  # noqa: F401

GUIDE_V1 = b"# Mower guide\n\nThe Zephyr mower costs $450.\n\n## Battery\n\nThe battery lasts 70 minutes.\n"
GUIDE_V2 = b"# Mower guide\n\nThe Zephyr mower costs $520.\n\n## Battery\n\nThe battery lasts 95 minutes.\n"


def texts(kb: KnowledgeBase, workspace: str = "team") -> str:
    return "\n".join(c.text for d in kb.list_documents(workspace) for c in kb.chunks(workspace, d.doc_id))


def test_files_are_ingested_with_per_file_results_and_chunk_metadata(kb):
    seen = []
    report = kb.ingest_bytes(
        "team",
        [("guide.md", GUIDE_V1), ("notes.txt", b"Meeting on Friday.\n"), ("r.pdf", text_pdf(["Budget 9000"]))],
        on_progress=lambda done, total, result: seen.append((done, total, result.status)),
    )
    assert report.ok and [f.status for f in report.files] == ["added"] * 3
    assert seen == [(1, 3, "added"), (2, 3, "added"), (3, 3, "added")]
    chunks = kb.chunks("team", "guide")
    assert [c.chunk_id for c in chunks] == [f"guide#{n}" for n in range(len(chunks))]
    text = kb.document_text("team", "guide")
    for c in chunks:
        assert (c.title, c.source, c.version) == ("Mower guide", "guide.md", 1)
        assert text[c.start : c.end] == c.text
        assert c.updated_at.tzinfo is not None


def test_a_bad_batch_reports_each_bad_file_ingests_the_rest_and_changes_nothing_stored(kb, monkeypatch):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1), ("old.pdf", text_pdf(["Old budget 100"]))])
    before = {d.doc_id: d for d in kb.list_documents("team")}
    kb.max_upload_bytes = 2000
    report = kb.ingest_bytes("team", [
        ("guide.md", b""),                                  # empty, same name as a stored document
        ("old.pdf", blank_pdf(password="pw")),              # encrypted, replaces a stored document
        ("binary.txt", bytes(range(256))),
        ("latin1.md", "na\u00efve".encode("latin-1")),
        ("broken.pdf", b"%PDF-1.7 truncated"),
        ("scan.pdf", blank_pdf()),
        ("huge.txt", b"a " * 1500),
        ("fine.txt", b"The fine document is ingested."),
    ])
    assert [f.status for f in report.files] == ["failed"] * 7 + ["added"]
    reasons = [f.error for f in report.failed]
    for name, reason in [("guide.md", "empty"), ("old.pdf", "encrypted"), ("binary.txt", "binary"),
                         ("latin1.md", "UTF-8"), ("broken.pdf", "not a readable PDF"),
                         ("scan.pdf", "no extractable text"), ("huge.txt", "limit")]:
        assert any(r.startswith(name) and reason in r for r in reasons), (name, reasons)
    after = {d.doc_id: d for d in kb.list_documents("team")}
    assert {k: after[k] for k in before} == before
    assert set(after) == set(before) | {"fine"}


def test_the_size_limit_comes_from_the_settings(data_dir, embedding_function, tmp_path):
    base = KnowledgeBase.from_settings(load_settings(max_upload_mb=1), embedding_function)
    base.create_workspace("w")
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 220_000)  # 1.1 MB
    report = base.ingest_paths("w", [big])
    assert report.files[0].status == "failed" and "over the 1 MB limit" in report.files[0].error


def test_folders_are_ingested_recursively_skipping_hidden_files(kb, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("# A\n\nAlpha.")
    (tmp_path / "sub" / "b.txt").write_text("Beta.")
    (tmp_path / ".hidden.md").write_text("secret")
    report = kb.ingest_paths("team", [tmp_path, tmp_path / "missing.md"])
    assert {(f.name, f.status) for f in report.files} == {
        ("a.md", "added"), ("b.txt", "added"), (str(tmp_path / "missing.md"), "failed")}


@on_both_stores
def test_reingesting_a_changed_document_replaces_its_chunks(kb):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    first = kb.chunks("team", "guide")
    report = kb.ingest_bytes("team", [("guide.md", GUIDE_V2)])
    assert (report.files[0].status, report.files[0].version) == ("replaced", 2)
    chunks = kb.chunks("team", "guide")
    assert [c.chunk_id for c in chunks] == [c.chunk_id for c in first]
    assert all(c.version == 2 for c in chunks)
    assert "$520" in texts(kb) and "$450" not in texts(kb)
    assert kb.store.count(kb.workspace("team")) == len(chunks), "old chunks are gone"
    for mode in ("vector", "keyword", "hybrid"):
        hits = kb.search("team", "Zephyr mower price", mode=mode, k=5).hits
        assert all(h.chunk.version == 2 for h in hits)


@on_both_stores
def test_reingesting_identical_content_changes_nothing(kb):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    report = kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    assert (report.files[0].status, report.files[0].version) == ("unchanged", 1)


@on_both_stores
@pytest.mark.parametrize("step", ["chunks_written", "committed"])
def test_a_write_interrupted_between_steps_leaves_the_document_fully_old_or_fully_new(kb, step):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])

    def crash(name: str) -> None:
        if name == step:
            raise KeyboardInterrupt(f"simulated crash after {name}")

    kb.step_hook = crash
    with pytest.raises(KeyboardInterrupt):
        kb.ingest_bytes("team", [("guide.md", GUIDE_V2)])
    kb.step_hook = None
    expected, gone = ("$450", "$520") if step == "chunks_written" else ("$520", "$450")
    assert expected in texts(kb) and gone not in texts(kb)
    for mode in ("vector", "keyword", "hybrid"):
        found = " ".join(h.text for h in kb.search("team", "Zephyr mower costs", mode=mode, k=10).hits)
        assert expected in found and gone not in found
    # Leftover records are invisible, and collected once old enough.
    assert kb.collect_garbage(min_age_s=0) > 0
    assert kb.store.count(kb.workspace("team")) == len(kb.chunks("team", "guide"))


# Long enough for several write batches: a kill after the first leaves part of the new chunks stored.
GUIDE_V2_LONG = GUIDE_V2 + b"".join(
    b"\n## Part %d\n\nThe Zephyr mower part %d is sold separately at the service desk.\n" % (i, i) for i in range(200))


@on_both_stores
@pytest.mark.parametrize(("step", "live"), [("chunk_batch_written", 1), ("committed", 2)])
def test_a_process_killed_mid_ingest_leaves_the_document_fully_old_or_fully_new(
    data_dir, embedding_function, knowledge_store, step, live
):
    script = textwrap.dedent(f"""
        import os, signal
        from ragtune.config import load_settings
        from ragtune.retrieval.knowledge import KnowledgeBase
        kb = KnowledgeBase.from_settings(load_settings())
        kb.create_workspace("team")
        kb.ingest_bytes("team", [("guide.md", {GUIDE_V1!r})])
        kb.step_hook = lambda step: step == {step!r} and os.kill(os.getpid(), signal.SIGKILL)
        kb.ingest_bytes("team", [("guide.md", {GUIDE_V2_LONG!r})])
        print("not killed")
    """)
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == -9, proc.stderr
    base = KnowledgeBase.from_settings(load_settings(), embedding_function)  # a new client on the same store
    assert [(d.doc_id, d.version) for d in base.list_documents("team")] == [("guide", live)]
    expected, gone = ("$450", "$520") if live == 1 else ("$520", "$450")
    assert expected in texts(base) and gone not in texts(base)
    chunks = base.chunks("team", "guide")
    assert {c.version for c in chunks} == {live}
    assert len(chunks) == base.list_documents("team")[0].n_chunks
    assert len(chunks) == 2 if live == 1 else len(chunks) > WRITE_BATCH
    for mode in ("vector", "keyword", "hybrid"):
        hits = base.search("team", "how much does the Zephyr mower cost", mode=mode, k=10).hits
        assert hits and {h.chunk.version for h in hits} == {live}
        assert all(gone not in h.text for h in hits)
    assert base.store.count(base.workspace("team")) > len(chunks), "the killed write's leftovers exist"


@on_both_stores
def test_documents_persist_for_a_new_client_in_another_process(kb, data_dir):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "RAGTUNE_DEMO_WORKSPACE": "",
           "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "ragtune", "search", "-w", "team", "battery minutes", "--json", "-k", "1"],
        env=env, capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["hits"][0]["chunk"]["chunk_id"] == "guide#1"
    assert "70 minutes" in result["hits"][0]["chunk"]["text"]


@on_both_stores
def test_a_query_never_returns_another_workspaces_chunks(kb):
    kb.create_workspace("other")
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    kb.ingest_bytes("other", [("secret.md", b"# Secret\n\nThe Zephyr mower prototype costs $9999.")])
    for mode in ("vector", "keyword", "hybrid"):
        hits = kb.search("team", "Zephyr mower prototype $9999", mode=mode, k=10).hits
        assert hits and {h.chunk.doc_id for h in hits} == {"guide"}
        other = kb.search("other", "battery lasts 70 minutes", mode=mode, k=10).hits
        assert {h.chunk.doc_id for h in other} <= {"secret"}


@on_both_stores
def test_workspaces_can_be_renamed_emptied_and_deleted(kb):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    kb.rename_workspace("team", "field-team")
    assert [(w.name, w.n_documents) for w in kb.list_workspaces()] == [("field-team", 1)]
    assert kb.search("field-team", "battery", k=1).hits[0].chunk.doc_id == "guide"
    kb.empty_workspace("field-team")
    assert kb.list_workspaces()[0].n_chunks == 0 and kb.store.count(kb.workspace("field-team")) == 0
    assert kb.search("field-team", "battery", k=3).hits == []
    kb.delete_workspace("field-team")
    assert kb.list_workspaces() == []
    with pytest.raises(WorkspaceError, match="No workspace named 'field-team'"):
        kb.search("field-team", "battery")


@pytest.mark.parametrize("name", ["", "a b", "-x", "x" * 61, "../etc"])
def test_invalid_workspace_names_are_refused(kb, name):
    with pytest.raises(WorkspaceError, match="Invalid workspace name"):
        kb.create_workspace(name)


@on_both_stores
def test_a_taken_workspace_name_is_refused(kb):
    with pytest.raises(WorkspaceError, match="already exists"):
        kb.create_workspace("team")


@on_both_stores
def test_deleting_a_document_removes_all_its_chunks(kb):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1), ("notes.txt", b"Battery notes: charge overnight.")])
    kb.delete_document("team", "guide")
    assert [d.doc_id for d in kb.list_documents("team")] == ["notes"]
    assert kb.store.count(kb.workspace("team")) == 1
    assert {h.chunk.doc_id for h in kb.search("team", "battery minutes", k=5).hits} == {"notes"}


@on_both_stores
def test_an_inline_edit_is_reindexed_at_once(kb):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    result = kb.update_document_text("team", "guide", GUIDE_V1.decode().replace("70 minutes", "85 minutes"))
    assert (result.status, result.version) == ("replaced", 2)
    top = kb.search("team", "how long does the battery last", k=1).hits[0]
    assert "85 minutes" in top.text and top.chunk.version == 2


def test_search_results_carry_citation_fields_in_every_mode(kb):
    kb.ingest_bytes("team", [("guide.md", GUIDE_V1)])
    for mode in ("vector", "keyword", "hybrid"):
        result = kb.search("team", "battery minutes", mode=mode, k=2)
        assert result.mode == mode and [h.rank for h in result.hits] == [1, 2][: len(result.hits)]
        top = result.hits[0]
        assert top.chunk_id == "guide#1" and top.title == "Mower guide" and "70 minutes" in top.text
        assert result.hits == sorted(result.hits, key=lambda h: -h.score)


@pytest.mark.parametrize(("query", "kwargs", "message"), [
    ("  ", {}, "query is empty"),
    ("battery", {"mode": "fuzzy"}, "Unknown search mode"),
    ("battery", {"k": 0}, "k must be between"),
])
def test_invalid_searches_are_input_errors(kb, query, kwargs, message):
    with pytest.raises(InputError, match=message):
        kb.search("team", query, **kwargs)


def test_the_default_mode_and_k_come_from_the_settings(data_dir, embedding_function):
    base = KnowledgeBase.from_settings(load_settings(search_mode="keyword", top_k=1), embedding_function)
    base.create_workspace("w")
    base.ingest_bytes("w", [("guide.md", GUIDE_V1)])
    result = base.search("w", "battery")
    assert (result.mode, len(result.hits)) == ("keyword", 1)


def test_the_knowledge_base_writes_its_database_under_the_data_directory(data_dir, embedding_function):
    settings = load_settings()
    assert settings.chroma_dir.resolve().is_relative_to(data_dir.resolve())
    KnowledgeBase.from_settings(settings, embedding_function).create_workspace("w")
    assert settings.chroma_dir.is_dir() and any(settings.chroma_dir.iterdir())


@pytest.mark.parametrize(("size", "overlap"), [(400, 400), (400, 500)])
def test_an_overlap_not_smaller_than_the_chunk_size_is_a_settings_error(data_dir, embedding_function, size, overlap):
    from ragtune.errors import ConfigError

    with pytest.raises(ConfigError, match="RAGTUNE_CHUNK_OVERLAP .* must be smaller than RAGTUNE_CHUNK_SIZE"):
        KnowledgeBase.from_settings(load_settings(chunk_size=size, chunk_overlap=overlap), embedding_function)


def test_sizes_are_reported_in_the_unit_of_the_limit(kb):
    kb.max_upload_bytes = 20 * 1024 * 1024
    just_over = kb.max_upload_bytes + 1000  # 20.001 MiB: "20.0 MB is over the 20 MB limit" would be absurd
    report = kb.ingest_bytes("team", [("big.txt", b"a" * just_over), ("bigger.txt", b"a" * (21 * 1024 * 1024))])
    assert [f.error for f in report.files] == [
        "big.txt: 20.001 MB is over the 20 MB limit (RAGTUNE_MAX_UPLOAD_MB).",
        "bigger.txt: 21.0 MB is over the 20 MB limit (RAGTUNE_MAX_UPLOAD_MB).",
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifos_sockets_and_missing_paths_are_each_named_and_never_block(kb, tmp_path):
    import socket

    (tmp_path / "a.md").write_text("# A\n\nAlpha.")
    os.mkfifo(tmp_path / "pipe.md")  # opening it for reading would wait for a writer forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock.txt"))
    (tmp_path / "dangling.md").symlink_to(tmp_path / "nowhere.md")
    try:
        report = kb.ingest_paths("team", [tmp_path, tmp_path / "missing.md", tmp_path / "pipe.md"])
    finally:
        server.close()
    failed = {f.path: f.error for f in report.failed}
    given = str(tmp_path / "pipe.md")
    assert set(failed) == {"pipe.md", "sock.txt", "dangling.md", str(tmp_path / "missing.md"), given}
    assert "not a regular file (a FIFO)" in failed["pipe.md"] and given in failed["pipe.md"]
    assert "not a regular file (a FIFO)" in failed[given]
    assert "not a regular file (a socket)" in failed["sock.txt"]
    assert "broken link" in failed["dangling.md"] and "no such file" in failed[str(tmp_path / "missing.md")]
    assert [d.source for d in kb.list_documents("team")] == ["a.md"]


LONG = ("# Handbook\n\n" + " ".join(
    f"Rule {n}: the quota for team {n} is {n * 7} units per week, reviewed each quarter." for n in range(24)
) + "\n").encode()


def test_documents_chunked_with_other_settings_are_found_and_rechunked_in_place(data_dir, embedding_function):
    """After the chunk settings change, the documents ingested before still hold the old chunks
    (re-ingesting unchanged text keeps them): ``stale_documents`` names them, ``rechunk`` cuts
    them again atomically, keeping their text and version; a document already right is left."""
    from ragtune.retrieval.chunking import chunk_spans

    old = KnowledgeBase.from_settings(load_settings(chunk_size=500, chunk_overlap=60), embedding_function)
    old.create_workspace("team")
    assert old.ingest_bytes("team", [("handbook.md", LONG), ("short.txt", b"One line.\n")]).ok
    old_chunks = len(old.chunks("team", "handbook"))
    old.manifest.close()
    kb = KnowledgeBase.from_settings(load_settings(chunk_size=300, chunk_overlap=40), embedding_function)
    ref = kb.workspace("team")
    with kb.manifest.transaction() as conn:  # as a data directory migrated from bare-name sources is
        conn.execute("UPDATE documents SET legacy=1 WHERE doc_id='handbook'")
    before = kb.manifest.document(ref.id, "handbook")
    try:
        assert kb.stale_documents("team") == ["handbook"]  # a one-chunk document is the same either way
        assert kb.ingest_bytes("team", [("handbook.md", LONG)]).files[0].status == "unchanged"
        assert kb.stale_documents("team") == ["handbook"]
        seen = []
        assert kb.rechunk("team", on_progress=lambda done, total, r: seen.append((done, total, r.doc_id))) == ["handbook"]
        assert seen == [(1, 1, "handbook")]
        assert kb.stale_documents("team") == [] and kb.rechunk("team") == []
        text = kb.document_text("team", "handbook")
        assert text == LONG.decode().strip()
        chunks = kb.chunks("team", "handbook")
        assert [(c.start, c.end) for c in chunks] == [(s.start, s.end) for s in chunk_spans(text, size=300, overlap=40)]
        assert len(chunks) > old_chunks and {c.version for c in chunks} == {1}
        assert [d.version for d in kb.list_documents("team")] == [1, 1]
        after = kb.manifest.document(ref.id, "handbook")
        assert after.updated_at == before.updated_at and after.generation != before.generation
        assert kb.manifest.is_legacy(ref.id, "handbook")  # its migration's identity rules still apply
        hits = kb.search("team", "quota for team 9", mode="keyword", k=3).hits
        assert any("63 units" in h.chunk.text for h in hits)
        assert kb.store.count(kb.workspace("team")) == len(chunks) + 1  # the old chunks are gone
        with pytest.raises(WorkspaceError):
            kb.rechunk("absent")
    finally:
        kb.manifest.close()


@on_both_stores
def test_a_rechunk_never_undoes_an_edit_or_brings_back_a_deleted_document(kb):
    """A re-chunk writes the text it read, and only over the very version it read: an edit or a
    delete that lands in between wins, whatever the order of the writers."""
    from ragtune.retrieval import ingest
    from ragtune.retrieval.loaders import ParsedDocument

    assert kb.ingest_bytes("team", [("handbook.md", LONG), ("other.md", LONG.replace(b"Rule", b"Law"))]).ok
    ref = kb.workspace("team")
    read = {d: kb.manifest.document(ref.id, d) for d in ("handbook", "other")}
    kb.update_document_text("team", "handbook", "# Handbook\n\nEdited: the quota is 99 units.")
    kb.delete_document("team", "other")
    for doc_id, row in read.items():
        parsed = ParsedDocument(doc_id=doc_id, title=row.title, source=row.source, text=row.text)
        with pytest.raises(ingest.IdTaken):
            ingest.write_document(kb, ref, parsed, rechunk_of=row.generation)
    assert kb.document_text("team", "handbook") == "# Handbook\n\nEdited: the quota is 99 units."
    assert [d.doc_id for d in kb.list_documents("team")] == ["handbook"]
    assert "Rule 3" not in texts(kb)


def test_the_cli_rechunks_a_workspace_and_doctor_warns_until_then(data_dir, embedding_function, monkeypatch, capsys):
    from ragtune.cli import main

    old = KnowledgeBase.from_settings(load_settings(chunk_size=500, chunk_overlap=60), embedding_function)
    old.create_workspace("team")
    assert old.ingest_bytes("team", [("handbook.md", LONG)]).ok
    old.manifest.close()
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    main(["doctor"])
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "workspace team" in line]
    assert line.startswith("WARN") and "handbook" in line and "workspaces rechunk team" in line
    assert main(["workspaces", "rechunk", "team"]) == 0
    assert "1 document of team re-chunked at 300 characters, 40 overlap" in capsys.readouterr().out
    assert main(["workspaces", "rechunk", "team"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    main(["doctor"])
    [line] = [line for line in capsys.readouterr().out.splitlines() if "workspace team" in line]
    assert line.startswith("OK")
    assert main(["workspaces", "rechunk", "absent"]) == 2
    assert "absent" in capsys.readouterr().err
