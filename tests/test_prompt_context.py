"""The grounded prompt: each retrieved chunk's text once (overlaps removed), and ``prompt-bench``.

The prompt's size is measured with the real default model's tokenizer (no generation): the
RAG prompt on the demo questions stays at or under ~300 tokens (issue 12's target), with
nearly every answer still in the context.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.modes import BUILTIN_MODES
from ragtune.pipeline import Pipeline
from ragtune.retrieval.context import without_overlaps
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.retrieval.types import Chunk
from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture

TEXT = "The first sentence is here. The second one follows it. A third closes the paragraph."


def _chunk(n: int, start: int, end: int, *, doc: str = "d", version: int = 1, text: str | None = None) -> Chunk:
    return Chunk(chunk_id=f"{doc}#{n}", doc_id=doc, n=n, title="D", source=f"{doc}.md", version=version,
                 updated_at=datetime.now(timezone.utc), start=start, end=end,
                 text=TEXT[start:end] if text is None else text)


def test_a_neighbours_overlap_is_shown_once_in_either_order() -> None:
    a, b = _chunk(0, 0, 55), _chunk(1, 28, len(TEXT))
    assert [t for _, t in without_overlaps([a, b])] == [TEXT[0:55].strip(), TEXT[55:].strip()]
    assert [t for _, t in without_overlaps([b, a])] == [TEXT[28:].strip(), TEXT[0:28].strip()]


def test_other_documents_versions_and_covered_chunks() -> None:
    a = _chunk(0, 0, 55)
    other_doc = _chunk(1, 28, len(TEXT), doc="e")
    other_version = _chunk(1, 28, len(TEXT), version=2)
    inside = _chunk(2, 10, 40)
    shown = without_overlaps([a, other_doc, other_version, inside])
    assert [c.chunk_id for c, _ in shown] == ["d#0", "e#1", "d#1"]  # the covered chunk is dropped
    assert [t for _, t in shown][1:] == [TEXT[28:].strip(), TEXT[28:].strip()]


def test_a_chunk_whose_span_does_not_match_its_text_is_shown_whole() -> None:
    a = _chunk(0, 0, 55)
    odd = _chunk(1, 28, len(TEXT), text="something else")
    assert [t for _, t in without_overlaps([a, odd])] == [TEXT[0:55].strip(), "something else"]


def test_the_pipeline_shows_neighbouring_chunks_without_their_overlap(
    data_dir: Path, embedding_function  # noqa: F811 - a fixture
) -> None:
    words = " ".join(f"Fact {i}: the gizmo {i} weighs {i + 3} kg." for i in range(40))
    settings = load_settings(chunk_size=200, chunk_overlap=80)
    kb = KnowledgeBase.from_settings(settings, embedding_function)
    try:
        kb.create_workspace("team")
        assert kb.ingest_bytes("team", [("gizmos.md", f"# Gizmos\n\n{words}\n".encode())]).ok
        raw = kb.search("team", "gizmo weighs kg", k=6).hits
        spans = sorted((h.chunk.start, h.chunk.end) for h in raw)
        assert any(s2 < e1 for (_, e1), (s2, _) in zip(spans, spans[1:])), "the test needs overlapping hits"
        rag = next(m for m in BUILTIN_MODES if m.id == "rag").model_copy(update={"k": 6})
        pipeline = Pipeline(None, kb, None, settings)  # type: ignore[arg-type] - retrieval only
        chunks, _ = pipeline.retrieve("gizmo weighs kg", rag, "team")
        shown = " ".join(c.shown for c in chunks)
        for i in range(40):
            sentence = f"Fact {i}: the gizmo {i} weighs {i + 3} kg."
            assert shown.count(sentence) <= 1, sentence
        assert len(shown) < sum(len(h.chunk.text) for h in raw)
        # a citation still shows its whole chunk; only the prompt leaves the overlap out
        full = {h.chunk.chunk_id: h.chunk.text for h in raw}
        assert all(c.text == full[c.chunk_id] for c in chunks)
        assert any(c.prompt_text and c.prompt_text != c.text for c in chunks)
        prompt = pipeline.messages_for("gizmo weighs kg", rag, chunks)[1].content
        assert all(" ".join(c.shown.split()) in prompt for c in chunks)
    finally:
        kb.manifest.close()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ragtune", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=env, timeout=900)


def test_prompt_bench_validates_its_inputs_before_loading_a_model(tmp_path: Path) -> None:
    missing = _cli("prompt-bench", "--docs", str(tmp_path / "nope"), "--set", str(tmp_path / "x.jsonl"))
    assert missing.returncode == 2 and "No such file or folder" in missing.stderr
    (tmp_path / "d.md").write_text("# D\n\nx\n")
    half = _cli("prompt-bench", "--docs", str(tmp_path / "d.md"))
    assert half.returncode == 2 and "--set" in half.stderr


def test_prompt_bench_refuses_a_set_its_documents_cannot_answer(tiny_env: Path, tmp_path: Path) -> None:
    import os

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "fees.md").write_text("# Fees\n\nThe late fee is 12 euros per day.\n")
    absent = tmp_path / "absent.jsonl"
    absent.write_text(json.dumps({"id": "q1", "question": "Late fee?", "answer": "12 euros", "doc_ids": ["prices"]}) + "\n")
    unanswerable = tmp_path / "none.jsonl"
    unanswerable.write_text(json.dumps({"id": "q1", "question": "Who is the CEO?"}) + "\n")
    env = {**os.environ, "RAGTUNE_N_THREADS": "1"}
    done = _cli("prompt-bench", "--docs", str(tmp_path / "docs"), "--set", str(absent), env=env)
    assert done.returncode == 2 and "cites document(s) prices" in done.stderr and "fees" in done.stderr
    done = _cli("prompt-bench", "--docs", str(tmp_path / "docs"), "--set", str(unanswerable), env=env)
    assert done.returncode == 2 and "no answerable question" in done.stderr


def test_prompt_bench_runs_on_the_tiny_model(tiny_env: Path, tmp_path: Path) -> None:
    import os

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "fees.md").write_text("# Fees\n\nThe late fee is 12 euros per day.\n")
    (tmp_path / "set.jsonl").write_text(json.dumps(
        {"id": "q1", "question": "What is the late fee?", "answer": "12 euros", "doc_ids": ["fees"]}) + "\n")
    env = {**os.environ, "RAGTUNE_N_THREADS": "1", "RAGTUNE_MAX_TOKENS": "16"}
    done = _cli("prompt-bench", "--docs", str(tmp_path / "docs"), "--set", str(tmp_path / "set.jsonl"), "--json",
                env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) >= 5 and all(r["n_questions"] == 1 and r["hit_rate"] == 1.0 for r in rows)
    assert all(r["correct"] in (0.0, 1.0) and r["tokens_median"] > 20 for r in rows)
    # fewer chunks or shorter instructions never make the prompt longer
    by = {(r["config"]["chunk_size"], r["config"]["k"], r["config"]["instructions"]): r["tokens_median"] for r in rows}
    assert by[(300, 3, "minimal")] < by[(300, 3, "current")]


@pytest.mark.slow
def test_the_rag_prompt_on_the_demo_questions_is_at_most_300_tokens() -> None:
    """The configured chunking and the RAG mode's k, on the real default model's tokenizer."""
    done = _cli("prompt-bench", "--no-answers", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    configured, before = rows[0], rows[1]
    settings = load_settings()
    rag = next(m for m in BUILTIN_MODES if m.id == "rag")
    assert configured["config"] == {"chunk_size": settings.chunk_size, "chunk_overlap": settings.chunk_overlap,
                                    "k": rag.k, "dedupe": True, "instructions": "current"}
    assert before["config"]["instructions"] == "before" and before["config"]["k"] == 4
    assert configured["tokens_median"] <= 300, configured
    assert configured["tokens_median"] < 0.7 * before["tokens_median"], (configured, before)
    # k=2 costs the context an answer now and then (1 of 50 here): the README says so
    assert configured["hit_rate"] >= 0.95, configured
