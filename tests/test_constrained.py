"""Constrained decoding with the schema built per query: citations can only be the retrieved chunk ids.

The tiny model's weights are random: it picks arbitrary tokens, so whatever structure its output
has comes from the grammar alone. That makes it the right model to test the grammar with.
"""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragtune.errors import InputError
from ragtune.modes import BUILTIN_MODES
from ragtune.prompts import (
    CHUNK_ID_PATTERN,
    MAX_ANSWER_CHARS,
    MAX_CITATIONS,
    ContextChunk,
    grounded_json_schema,
    grounded_messages,
)
from ragtune.runtime import ChatMessage, GenerationOptions

MODES = {m.id: m for m in BUILTIN_MODES}
# Chunk ids as the knowledge base makes them (document slug, '#', chunk number), with the characters
# that matter to a grammar's string literals: '#', '.', '-', '_'.
DOC_PART = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,24}\Z")
CHUNK_IDS = st.lists(st.builds(lambda doc, n: f"{doc}#{n}", DOC_PART, st.integers(0, 999)),
                     min_size=0, max_size=5, unique=True)
QUESTIONS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=80).filter(
    lambda q: q.strip())


@pytest.fixture(scope="module")
def runtime(tiny_model):
    """The tiny model with room for a prompt of five chunks and the longest constrained answer."""
    from ragtune.gguf.files import check_model_file
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    rt = LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=2048,
                         n_threads=1)
    yield rt
    rt.close()


def constrained_answer(runtime, question: str, ids: list[str]) -> tuple[dict, str]:
    chunks = [ContextChunk(chunk_id=cid, text=f"Chunk {i} says something about {question[:20]}.")
              for i, cid in enumerate(ids)]
    options = GenerationOptions(max_tokens=700, json_schema=grounded_json_schema(ids), stop_at_json_end=True)
    result = runtime.chat(grounded_messages(question, chunks), options=options)
    assert result.finish_reason == "stop", result.text[-200:]
    return json.loads(result.text), result.text


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(ids=CHUNK_IDS, question=QUESTIONS)
def test_constrained_citations_are_always_among_the_retrieved_ids(runtime, ids, question):
    data, _ = constrained_answer(runtime, question, ids)
    assert list(data) == ["answer", "citations", "confidence"]
    assert set(data["citations"]) <= set(ids)
    assert len(data["citations"]) <= min(MAX_CITATIONS, len(ids))
    assert 1 <= len(data["answer"]) <= MAX_ANSWER_CHARS and data["confidence"] in ("high", "medium", "low")


def test_with_no_chunks_a_constrained_answer_cites_nothing(runtime):
    data, text = constrained_answer(runtime, "How much does the Poolpilot P1 cost?", [])
    assert data["citations"] == [] and text.lstrip().startswith("{")


def test_the_schema_lists_the_queries_ids_once_and_bounds_the_list():
    schema = grounded_json_schema(["a#1", "b.c-d_e#22", "a#1"])
    citations = schema["properties"]["citations"]
    assert citations["items"] == {"type": "string", "enum": ["a#1", "b.c-d_e#22"]}
    assert citations["maxItems"] == 2
    assert grounded_json_schema([])["properties"]["citations"]["maxItems"] == 0
    assert "enum" not in grounded_json_schema()["properties"]["citations"]["items"]  # no query: any id


def test_an_id_that_could_break_out_of_the_grammar_is_refused():
    with pytest.raises(ValueError, match="not a citable chunk id"):
        grounded_json_schema(['a#1" | [^"]* "'])


def test_a_grammar_llama_cpp_cannot_parse_is_refused_not_silently_ignored(runtime):
    broken = {"type": "object", "properties": {"c": {"type": "array", "items": {"type": "string", "enum": []}}},
              "required": ["c"]}
    with pytest.raises(InputError, match="cannot parse the grammar"):
        runtime.chat([ChatMessage(role="user", content="Hi")],
                          options=GenerationOptions(max_tokens=8, json_schema=broken))


def test_the_constrained_mode_is_the_base_mode_plus_the_grammar():
    constrained, base = MODES["constrained"], MODES["base"]
    assert constrained.label == "Constrained" and constrained.constrained and not constrained.retrieval
    assert constrained.model_copy(update={"id": "base", "label": "Base", "description": base.description,
                                          "constrained": False}) == base
    assert MODES["rag+constrained"].retrieval and MODES["rag+constrained"].constrained


def test_the_pipeline_builds_each_querys_schema_from_its_retrieved_chunks(runtime, tmp_path):
    from ragtune.adapters import AdapterCatalog
    from ragtune.config import load_settings
    from ragtune.pipeline import Pipeline
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.retrieval.embeddings import shared_embedding_function

    settings = load_settings(data_dir=tmp_path, max_tokens=700)
    kb = KnowledgeBase.from_settings(settings, shared_embedding_function())
    kb.create_workspace("team")
    assert kb.ingest_bytes("team", [("pool-pilot.v2.md", b"# Poolpilot\n\nThe Poolpilot P1 costs $1,249.\n"),
                                    ("war_ranty.md", b"# Warranty\n\nTwo years on parts.\n")]).ok
    pipeline = Pipeline(runtime, kb, AdapterCatalog(settings), settings)
    try:
        answer = pipeline.run("How much does the Poolpilot P1 cost?", MODES["rag+constrained"], "team")
        enum = pipeline.prepare("How much does the Poolpilot P1 cost?", MODES["rag+constrained"],
                                "team").options.json_schema["properties"]["citations"]["items"]["enum"]
        assert enum == answer.retrieved_ids and all(re.match(CHUNK_ID_PATTERN, cid) for cid in enum)
        assert answer.finish_reason == "stop" and answer.parse.status != "invalid_json"
        assert all(c.status == "retrieved" for c in answer.citations)
        alone = pipeline.run("How much does the Poolpilot P1 cost?", MODES["constrained"], "team")
        assert alone.retrieved == [] and alone.citations == [] and alone.text.lstrip().startswith("{")
    finally:
        kb.manifest.close()
