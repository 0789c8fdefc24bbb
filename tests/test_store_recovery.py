"""Stores on disk: damaged files are named with the way back, concurrent ingests neither crash
nor lose files, their leftovers are collected, and chroma stays quiet about our embedding function."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.retrieval.knowledge import KnowledgeBase
from tests.retrieval_fixtures import embedding_function, on_both_stores  # noqa: F401

GUIDE = b"# Mower guide\n\nThe Zephyr mower costs $450.\n\n## Battery\n\nThe battery lasts 70 minutes.\n"


def run_cli(data_dir: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "RAGTUNE_DEMO_WORKSPACE": "",
           "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-m", "ragtune", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=PROJECT_ROOT)


@pytest.fixture(scope="module")
def stored(tmp_path_factory, embedding_function) -> Path:
    """A data directory with workspace 'team' holding one document and enough records (1,200)
    that chroma has written its HNSW index files to disk."""
    data_dir = tmp_path_factory.mktemp("stored")
    kb = KnowledgeBase.from_settings(load_settings(data_dir=data_dir), embedding_function)
    kb.create_workspace("team")
    kb.ingest_bytes("team", [("guide.md", GUIDE)])
    ref = kb.workspace("team")
    rng = random.Random(0)
    n = 1200  # leftovers (no live generation): invisible to readers, but in the index
    kb.store.upsert(ref, [f"old#{i}@gone" for i in range(n)], ["x"] * n,
                    [{"doc_id": "old", "generation": "gone", "written_at": 1e12} for _ in range(n)],
                    embeddings=[[rng.random() for _ in range(384)] for _ in range(n)])
    kb.manifest.close()
    return data_dir


def damaged_copy(stored: Path, tmp_path: Path, relative: str) -> Path:
    data_dir = tmp_path / "data"
    shutil.copytree(stored, data_dir)
    target = next(data_dir.glob(relative))
    size = target.stat().st_size
    target.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(max(size, 4096))))
    for side in data_dir.glob("*.sqlite3-*"):  # a WAL would otherwise bring the pages back
        side.unlink()
    return target


def test_the_fixture_store_is_whole(stored):
    proc = run_cli(stored, "search", "-w", "team", "battery", "-k", "1")
    assert proc.returncode == 0, proc.stderr
    assert "guide#1" in proc.stdout


@pytest.mark.parametrize(("relative", "command"), [
    ("knowledge.sqlite3", ["workspaces"]),
    ("knowledge.sqlite3", ["search", "-w", "team", "battery"]),
    ("chroma/chroma.sqlite3", ["workspaces"]),
    ("chroma/chroma.sqlite3", ["search", "-w", "team", "battery"]),
    ("chroma/*-*/header.bin", ["search", "-w", "team", "battery"]),
    ("chroma/*-*/index_metadata.pickle", ["search", "-w", "team", "battery"]),
    ("chroma/*-*/data_level0.bin", ["search", "-w", "team", "battery"]),
    ("chroma/*-*/link_lists.bin", ["search", "-w", "team", "battery"]),  # chroma alone searches forever
], ids=["manifest-list", "manifest-search", "chroma-list", "chroma-search", "hnsw-header", "hnsw-metadata",
        "hnsw-vectors", "hnsw-links"])
def test_a_damaged_store_file_is_named_with_how_to_recover(stored, tmp_path, relative, command):
    target = damaged_copy(stored, tmp_path, relative)
    proc = run_cli(tmp_path / "data", *command)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    named = str(target if target.suffix == ".sqlite3" else target.parent)
    assert proc.stderr.startswith("error: ") and named in proc.stderr, proc.stderr
    assert "python -m ragtune" in proc.stderr  # the command that gets the user out


def test_a_workspace_with_a_damaged_index_can_be_deleted_and_rebuilt(stored, tmp_path):
    damaged_copy(stored, tmp_path, "chroma/*-*/header.bin")
    data_dir = tmp_path / "data"
    assert run_cli(data_dir, "workspaces", "delete", "team", "--yes").returncode == 0
    (tmp_path / "guide.md").write_bytes(GUIDE)
    assert run_cli(data_dir, "ingest", "-w", "team", str(tmp_path / "guide.md")).returncode == 0
    proc = run_cli(data_dir, "search", "-w", "team", "battery", "-k", "1")
    assert proc.returncode == 0 and "guide#1" in proc.stdout, proc.stderr


RACE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ragtune.cli import main
    start = float(sys.argv[1])
    while time.time() < start:  # both processes leave this line at the same moment
        time.sleep(0.001)
    sys.exit(main(["ingest", "-w", "shared", sys.argv[2]]))
""")


def test_two_ingests_creating_the_same_workspace_both_succeed(tmp_path):
    import time

    data_dir = tmp_path / "data"
    files = []
    for n in range(2):
        path = tmp_path / f"file{n}.md"
        path.write_text(f"# File {n}\n\nThe secret number of file {n} is {n * 1111}.")
        files.append(path)
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "RAGTUNE_DEMO_WORKSPACE": "",
           "PYTHONPATH": str(PROJECT_ROOT)}
    # Each process opens the store first (imports, model), then all start ingesting together.
    start = time.time() + 25
    procs = [subprocess.Popen([sys.executable, "-c", RACE, str(start), str(f)], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, (out, err)
        assert "Traceback" not in err
    listing = run_cli(data_dir, "workspaces", "--json")
    assert '"n_documents": 2' in listing.stdout, listing


def test_creating_a_workspace_that_another_process_just_created_is_idempotent(tmp_path, embedding_function):
    data_dir = tmp_path / "data"
    kb = KnowledgeBase.from_settings(load_settings(data_dir=data_dir), embedding_function)
    other = run_cli(data_dir, "workspaces", "create", "shared")
    assert other.returncode == 0, other.stderr
    kb.store.list_workspaces = lambda: []  # our look happened before the other process created it
    assert kb.ensure_workspace("shared") is True  # chroma says "already exists": we take it
    del kb.store.list_workspaces
    assert [w.name for w in kb.list_workspaces()] == ["shared"]
    assert kb.ensure_workspace("shared") is False


@on_both_stores
def test_leftovers_of_a_write_that_lost_a_race_are_removed(tmp_path, embedding_function, knowledge_store):
    data_dir = tmp_path / "data"
    first = KnowledgeBase.from_settings(load_settings(data_dir=data_dir), embedding_function)
    first.create_workspace("team")
    second = KnowledgeBase.from_settings(load_settings(data_dir=data_dir), embedding_function)

    def other_writer_commits(step: str) -> None:  # between our chunks and our commit
        if step == "chunks_written":
            second.step_hook = None
            second.ingest_bytes("team", [("guide.md", GUIDE.replace(b"$450", b"$520"))])

    first.step_hook = other_writer_commits
    report = first.ingest_bytes("team", [("guide.md", GUIDE)])
    first.step_hook = None
    # Our write lost the compare-and-swap: it dropped its chunks and wrote again, on top of theirs.
    assert report.ok and (report.files[0].status, report.files[0].version) == ("replaced", 2)
    assert [d.version for d in first.list_documents("team")] == [2]
    assert "$450" in first.document_text("team", "guide")
    assert first.store.count(first.workspace("team")) == len(first.chunks("team", "guide"))


@on_both_stores
def test_orphans_of_a_killed_concurrent_ingest_are_collected(tmp_path, embedding_function, knowledge_store):
    data_dir = tmp_path / "data"
    kb = KnowledgeBase.from_settings(load_settings(data_dir=data_dir), embedding_function)
    kb.create_workspace("team")
    kb.ingest_bytes("team", [("guide.md", GUIDE)])
    script = textwrap.dedent(f"""
        import os, signal
        from ragtune.config import load_settings
        from ragtune.retrieval.knowledge import KnowledgeBase
        kb = KnowledgeBase.from_settings(load_settings())
        kb.step_hook = lambda step: step == "chunks_written" and os.kill(os.getpid(), signal.SIGKILL)
        kb.ingest_bytes("team", [("other.md", b"An other document about kites.")])
    """)
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    ref = kb.workspace("team")
    live = len(kb.chunks("team", "guide"))
    assert kb.store.count(ref) > live and [d.doc_id for d in kb.list_documents("team")] == ["guide"]
    assert kb.collect_garbage(min_age_s=600) == 0, "a young leftover may be a write still running"
    assert kb.collect_garbage(min_age_s=0) == 1
    assert kb.store.count(ref) == live


def test_chroma_does_not_warn_about_our_embedding_function(stored):
    script = textwrap.dedent("""
        import warnings
        warnings.simplefilter("error")
        from ragtune.cli import main
        assert main(["workspaces"]) == 0
        from ragtune.config import load_settings
        from ragtune.retrieval.knowledge import KnowledgeBase
        kb = KnowledgeBase.from_settings(load_settings())
        for collection in kb.store._client.list_collections():
            collection.schema  # chroma rebuilds the embedding function named in the schema here
        print("quiet")
    """)
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(stored), "RAGTUNE_DEMO_WORKSPACE": "",
           "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "quiet" in proc.stdout, proc.stderr
    assert "Could not reconstruct" not in proc.stderr
    search = run_cli(stored, "search", "-w", "team", "battery", "-k", "1")
    assert search.returncode == 0 and "Could not reconstruct" not in search.stderr


@on_both_stores
def test_garbage_collection_never_forgets_a_workspace_created_while_it_runs(tmp_path, embedding_function, knowledge_store):
    data_dir = tmp_path / "data"
    collector = KnowledgeBase.from_settings(load_settings(data_dir=data_dir), embedding_function)
    other = KnowledgeBase.from_settings(load_settings(data_dir=data_dir), embedding_function)
    real_listing = collector.store.list_workspaces

    def listing_then_another_process_creates_a_workspace():
        refs = real_listing()
        other.create_workspace("late")
        other.ingest_bytes("late", [("guide.md", GUIDE)])
        return refs  # what the collector saw: no "late" yet

    collector.store.list_workspaces = listing_then_another_process_creates_a_workspace
    collector.collect_garbage(min_age_s=0)
    del collector.store.list_workspaces
    assert [d.doc_id for d in collector.list_documents("late")] == ["guide"]
