"""Large files: a document is embedded and written in batches, with progress, and stays atomic."""

from __future__ import annotations

import threading

import pytest

import ragtune.retrieval.ingest as ingest
from ragtune.retrieval.loaders import parse_document
from ragtune.retrieval.progress import chunk_progress
from tests.retrieval_fixtures import embedding_function, kb  # noqa: F401  (fixtures)


def paragraphs(n: int, word: str) -> bytes:
    return "\n\n".join(f"Paragraph {i} says the price is {word} for item {i}." for i in range(n)).encode()


@pytest.fixture()
def small_batches(kb, monkeypatch):  # noqa: F811
    """Chunks of about 60 characters, written 3 per batch; records the size of every store write."""
    kb.chunk_size, kb.chunk_overlap = 60, 0
    monkeypatch.setattr(ingest, "WRITE_BATCH", 3)
    writes: list[int] = []
    upsert = kb.store.upsert

    def recording_upsert(ref, ids, *args, **kwargs):
        writes.append(len(ids))
        return upsert(ref, ids, *args, **kwargs)

    monkeypatch.setattr(kb.store, "upsert", recording_upsert)
    return writes


def test_a_document_is_embedded_and_written_a_batch_at_a_time_with_progress(kb, small_batches):  # noqa: F811
    seen: list[tuple[str, int, int]] = []
    with chunk_progress(lambda source, done, total: seen.append((source, done, total))):
        report = kb.ingest_bytes("team", [("big.txt", paragraphs(10, "$450"))])
    assert report.files[0].status == "added" and report.files[0].n_chunks == 10
    assert small_batches == [3, 3, 3, 1]
    assert seen == [("big.txt", 3, 10), ("big.txt", 6, 10), ("big.txt", 9, 10), ("big.txt", 10, 10)]
    assert [c.n for c in kb.chunks("team", report.files[0].doc_id)] == list(range(10))


def test_no_progress_is_reported_outside_the_block_or_to_another_thread(kb, small_batches):  # noqa: F811
    seen: list[int] = []
    done = threading.Event()

    def other_thread() -> None:
        kb.ingest_bytes("team", [("other.txt", paragraphs(4, "$1"))])
        done.set()

    with chunk_progress(lambda source, n, total: seen.append(n)):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(120)
    assert done.is_set() and seen == []
    kb.ingest_bytes("team", [("after.txt", paragraphs(4, "$2"))])
    assert seen == []


def test_a_failure_after_some_batches_leaves_the_old_version_live_and_the_rest_collectable(
    kb, small_batches  # noqa: F811
):
    first = kb.ingest_bytes("team", [("prices.txt", paragraphs(10, "$450"))]).files[0]
    batches = 0

    def fail_on_the_second_batch(step: str) -> None:
        nonlocal batches
        batches += step == "chunk_batch_written"
        if batches == 2:
            raise OSError("disk full")

    kb.step_hook = fail_on_the_second_batch
    with pytest.raises(OSError):
        ingest.write_document(kb, kb.workspace("team"), parse_document("prices.txt", paragraphs(10, "$520"), max_bytes=10**6))
    kb.step_hook = None
    assert "$450" in kb.document_text("team", first.doc_id) and kb.list_documents("team")[0].version == 1
    assert all("$450" in h.chunk.text for h in kb.search("team", "price of item", mode="keyword", k=10).hits)
    assert kb.collect_garbage(min_age_s=0) == 6  # the two batches written before the failure
    assert kb.store.count(kb.workspace("team")) == first.n_chunks


def test_the_ingest_command_prints_batch_progress_for_a_file_of_several_batches(tmp_path, monkeypatch, capsys,
                                                                                embedding_function):  # noqa: F811
    from ragtune.cli import main

    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_CHUNK_SIZE", "800")  # one paragraph, one chunk
    monkeypatch.setenv("RAGTUNE_CHUNK_OVERLAP", "120")
    monkeypatch.setattr(ingest, "WRITE_BATCH", 4)
    (tmp_path / "big.txt").write_bytes(b"\n\n".join(b"word " * 140 for _ in range(6)))  # 6 chunks of 700
    (tmp_path / "small.txt").write_text("One short paragraph.")
    assert main(["ingest", "-w", "ops", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "  big.txt: 4/6 chunks embedded\n  big.txt: 6/6 chunks embedded\n" in err
    assert "small.txt" not in err and "2 of 2 files ingested into ops" in out


def test_the_ingest_memory_measurement_reads_a_fresh_process_peak():
    from ragtune.retrieval.bench import measure_ingest_memory, synthetic_text

    assert abs(len(synthetic_text(0.02)) - 20_000) < 1_500
    m = measure_ingest_memory(0.02)
    assert m.n_chunks > 10 and 0.019 < m.input_mb < 0.025
    assert m.peak_rss_mb >= m.baseline_rss_mb > 50 and m.extra_mb == m.peak_rss_mb - m.baseline_rss_mb
    assert m.baseline_rss_mb >= m.loaded_rss_mb > 50  # a high-water mark only rises
