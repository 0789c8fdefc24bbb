"""Smoke test: every built-in mode on the real default model, with the shipped adapters.

A mode whose shipped adapter file is not in ``models/adapters`` yet is skipped (and the skip
says which file). What is asserted is the plumbing the lab relies on with a real model:
retrieval finds the right document, the few-shot prompt costs its tokens, grammar-constrained
output is JSON, every answer gets a format verdict, timings and costs. Answer quality is
measured in the Lab and the benchmark, not asserted here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ragtune.adapters import SHIPPED_ADAPTERS_DIR, AdapterCatalog
from ragtune.answer import Answer
from ragtune.config import load_settings
from ragtune.modes import BUILTIN_MODES
from ragtune.pipeline import Pipeline
from ragtune.retrieval.demo import KB_V1_DIR
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.runtime import load_runtime
from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow

QUESTION = "What is the price of the Poolpilot P1 pool robot?"
DEMO_DOCS = ("poolpilot-p1-specifications.md", "returns-policy.md", "mowbot-m4-pro-specifications.md")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, embedding_function) -> Iterator[Pipeline]:  # noqa: F811
    # One thread: on a busy 2-core machine two spin-waiting threads are several times slower.
    settings = load_settings(data_dir=tmp_path_factory.mktemp("lab-smoke"), n_ctx=2048, n_threads=1,
                             max_tokens=64)
    kb = KnowledgeBase.from_settings(settings, embedding_function)
    kb.create_workspace("demo")
    assert kb.ingest_paths("demo", [KB_V1_DIR / name for name in DEMO_DOCS]).ok
    runtime = load_runtime(settings)
    yield Pipeline(runtime, kb, AdapterCatalog(settings), settings)
    runtime.close()
    kb.manifest.close()


@pytest.fixture(scope="module")
def answers(pipeline: Pipeline) -> dict[str, Answer]:
    """Each available mode's answer, computed once (the model is the expensive part)."""
    results = {}
    for mode in BUILTIN_MODES:
        adapter = mode.router.adapter if mode.router is not None else mode.adapter
        if adapter and not (SHIPPED_ADAPTERS_DIR / f"{adapter}.gguf").is_file():
            continue
        results[mode.id] = pipeline.run(QUESTION, mode, "demo")
    return results


@pytest.mark.parametrize("mode", BUILTIN_MODES, ids=[m.id for m in BUILTIN_MODES])
def test_every_mode_answers_on_the_default_model(answers, mode):
    if mode.id not in answers:
        adapter = mode.router.adapter if mode.router is not None else mode.adapter
        pytest.skip(f"the shipped adapter models/adapters/{adapter}.gguf does not exist yet")
    answer = answers[mode.id]
    assert answer.model_id == "smollm2-135m-instruct-q8_0"
    assert answer.timings.completion_tokens > 0 and answer.text.strip()
    assert answer.parse.status in {"ok", "truncated", "repetition", "invalid_json", "schema_violation",
                                   "unknown_citation", "free_text"}
    assert answer.cost.local_compute_usd > 0 and answer.cost.api_reference_usd > 0
    # A routing mode answers through the mode its route chose (None: a fixed answer, no model call).
    answered = answer.route.answered_by if mode.router is not None else mode
    if mode.router is not None:
        assert answer.route is not None and answer.timings.routing_ms > 0
        assert answer.route.timings.completion_tokens > 0 and answer.route.router_adapter == "ticket-router"
    if answered is None:
        return
    assert bool(answer.retrieved) == answered.retrieval
    if answered.retrieval:
        assert any(c.doc_id == "poolpilot-p1-specifications" for c in answer.retrieved)
    assert (answer.adapter is not None) == (answered.adapter is not None)


def test_the_few_shot_prompt_carries_a_token_tax_on_the_real_tokenizer(answers):
    assert answers["rag+fewshot"].timings.prompt_tokens > answers["rag"].timings.prompt_tokens + 800


@pytest.mark.parametrize("mode_id", ["constrained", "rag+constrained"])
def test_grammar_constrained_output_is_json_citing_only_retrieved_chunks_on_the_real_model(answers, mode_id):
    answer = answers[mode_id]
    assert answer.text.lstrip().startswith("{")
    assert answer.parse.status != "invalid_json"
    assert {c.chunk_id for c in answer.citations} <= set(answer.retrieved_ids)
