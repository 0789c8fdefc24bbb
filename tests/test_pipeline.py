"""The pipeline on the tiny test model with a real chroma knowledge base.

The tiny model's weights are random, so its text is noise: these tests check what the
pipeline does around the model (retrieval, prompts, which adapter is on during generation,
parsing, citations, timings, costs), not answer quality. The smoke test covers the real model.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragtune.adapters import AdapterCatalog
from ragtune.config import load_settings
from ragtune.errors import ModeUnavailableError, StoreError, WorkspaceError
from ragtune.gguf.files import check_model_file
from ragtune.modes import BUILTIN_MODES, Mode
from ragtune.pipeline import Pipeline
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.runtime import ChatMessage, CompletionResult, Runtime, Timings
from ragtune.runtime.llamacpp import LlamaCppRuntime
from tests.servers import API_KEY
from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture

MODES = {m.id: m for m in BUILTIN_MODES}
QUESTION = "How much does the Poolpilot P1 cost?"
DOCS = [
    ("poolpilot.md", b"# Poolpilot P1\n\nThe Poolpilot P1 pool robot costs $1,249 and cleans pools up to 12 m.\n"),
    ("warranty.md", b"# Warranty\n\nEvery Tidewell robot has a two-year warranty on parts and labour.\n"),
    ("shipping.md", b"# Shipping\n\nStandard shipping is free above $500; express costs $25.\n"),
]


@pytest.fixture(scope="module", params=["inprocess", "server"])
def runtime(request, tiny_model: Path) -> Iterator[Runtime]:
    """The tiny model with room for the few-shot prompt (n_ctx 2048), in process or on llama-server
    (the prompt cache off: answers compared across requests must not depend on a reused prefix).
    One thread: two threads spin-wait on each other and crawl whenever another process is busy on a
    2-core machine."""
    if request.param == "server":
        from ragtune.runtime.server import ServerRuntime

        server = request.getfixturevalue("llama_server")
        rt: Runtime = ServerRuntime(server.url, summary=check_model_file(tiny_model), model_id="tiny",
                                    api_key=API_KEY, cache_prompt=False)
    else:
        rt = LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=2048,
                             n_threads=1)
    yield rt
    rt.close()


def in_process_only(runtime: Runtime) -> None:
    """Skip a test of the in-process runtime's lock: a server has slots instead."""
    if runtime.concurrent:
        pytest.skip("the in-process runtime's lock: a model server runs requests at once in its slots")


def server_scales(runtime: Runtime, prepared) -> list[float]:
    """The scale of every adapter the server has, as this query's request sets them."""
    return [entry["scale"] for entry in runtime.chat_request(prepared.messages, prepared.adapters,
                                                             prepared.options)["lora"]]


@pytest.fixture(scope="module")
def team_kb(tmp_path_factory, embedding_function):  # noqa: F811 - a fixture
    """A real chroma knowledge base with workspace 'team' (three small documents), built once."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("pipeline-kb"))
    base = KnowledgeBase.from_settings(settings, embedding_function)
    base.create_workspace("team")
    assert base.ingest_bytes("team", DOCS).ok
    yield base
    base.manifest.close()


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory, random_lora) -> Path:
    """Adapters named like the shipped ones, with random weights: they change the output,
    which is what "the adapter was on" needs. Module-wide, so each loads (and warms up) once."""
    folder = tmp_path_factory.mktemp("adapters")
    for name in ("grounded-json", "knowledge-baked"):
        shutil.copy(random_lora, folder / f"{name}.gguf")
    return folder


@pytest.fixture()
def pipeline(runtime, team_kb, adapters_dir):
    settings = load_settings(max_tokens=24)
    return Pipeline(runtime, team_kb, AdapterCatalog(settings, shipped_dir=adapters_dir), settings)


def completion(text: str, finish: str = "stop") -> CompletionResult:
    return CompletionResult(text=text, finish_reason=finish, model_id="tiny",  # type: ignore[arg-type]
                            timings=Timings(total_ms=10.0, prompt_tokens=100, completion_tokens=20))


@pytest.mark.parametrize("mode_id", ["rag", "rag+lora", "rag+fewshot", "rag+constrained"])
def test_retrieval_modes_put_numbered_workspace_chunks_in_the_prompt(pipeline, team_kb, mode_id):
    answer = pipeline.run(QUESTION, MODES[mode_id], "team")
    live = {c.chunk_id for d in team_kb.list_documents("team") for c in team_kb.chunks("team", d.doc_id)}
    assert answer.retrieved and set(answer.retrieved_ids) <= live
    assert answer.retrieved[0].chunk_id == "poolpilot#0"
    prompt = pipeline.prepare(QUESTION, MODES[mode_id], "team").messages[-1].content
    assert "[1] (poolpilot#0) # Poolpilot P1 The Poolpilot P1 pool robot costs $1,249" in prompt
    assert answer.timings.retrieval_ms > 0


@pytest.mark.parametrize("mode_id", ["base", "lora", "knowledge-lora"])
def test_modes_without_retrieval_retrieve_nothing(pipeline, mode_id):
    answer = pipeline.run(QUESTION, MODES[mode_id], "team")
    assert answer.retrieved == [] and answer.timings.retrieval_ms == 0
    assert "$1,249" not in " ".join(m.content for m in pipeline.prepare(QUESTION, MODES[mode_id], "team").messages)


@pytest.mark.parametrize("mode_id", ["lora", "rag+lora", "knowledge-lora"])
def test_the_modes_adapter_is_on_during_generation_and_changes_the_output(pipeline, runtime, mode_id):
    mode = MODES[mode_id]
    prepared = pipeline.prepare(QUESTION, mode, "team")
    stream = pipeline.stream(QUESTION, mode, "team")
    seen = []
    for _ in stream:
        seen.append(getattr(runtime, "_active", None))  # in process: the set attached to the context now
    answer = stream.answer()
    expected_path = pipeline.catalog.resolve(mode.adapter)
    if runtime.concurrent:  # the request names every served adapter: this one at 1, the others at 0
        scales = server_scales(runtime, prepared)
        assert len(scales) >= 2 and sorted(scales) == [0.0] * (len(scales) - 1) + [1.0]
    else:
        assert seen and all(active == ((expected_path, 1.0),) for active in seen)
    assert answer.adapter == mode.adapter and [a.path for a in answer.adapters_applied] == [expected_path]
    with_adapter = runtime.chat(prepared.messages, adapters=prepared.adapters, options=prepared.options)
    without = runtime.chat(prepared.messages, options=prepared.options)
    assert answer.text == with_adapter.text != without.text


def test_the_runtime_reports_busy_while_an_answer_streams(pipeline, runtime):
    in_process_only(runtime)
    stream = pipeline.stream(QUESTION, MODES["base"], "team")
    busy = [runtime.is_busy() for _ in stream]
    stream.answer()
    assert busy and all(busy) and not runtime.is_busy()


def test_a_base_answer_after_an_adapter_answer_runs_with_no_adapter(pipeline, runtime):
    pipeline.run(QUESTION, MODES["rag+lora"], "team")
    stream = pipeline.stream(QUESTION, MODES["rag"], "team")
    seen = [getattr(runtime, "_active", ()) for _ in stream]
    answer = stream.answer()
    assert seen and all(active == () for active in seen)
    if runtime.concurrent:  # every served adapter explicitly at 0: no field would apply them all
        assert set(server_scales(runtime, pipeline.prepare(QUESTION, MODES["rag"], "team"))) == {0.0}
    assert answer.adapter is None and answer.adapters_applied == []


def test_the_tiny_models_noise_is_reported_as_a_parse_failure_not_hidden(pipeline):
    answer = pipeline.run(QUESTION, MODES["rag"], "team")
    assert answer.finish_reason == "length"
    assert answer.parse.status == "truncated" and answer.parse.format_valid is False
    assert answer.parse.detail and answer.display_text == answer.text


def test_constrained_output_is_json_from_the_first_character(pipeline):
    answer = pipeline.run(QUESTION, MODES["rag+constrained"], "team")
    # an object's first key from the start; llama-server's grammar allows line breaks and tabs as
    # whitespace where the in-process one allows one space
    assert re.match(r'\{\s*"', answer.text.lstrip())
    assert pipeline.prepare(QUESTION, MODES["rag+constrained"], "team").options.json_schema is not None


def test_a_plain_prompt_answer_is_free_text_without_a_format_verdict(pipeline):
    answer = pipeline.run(QUESTION, MODES["knowledge-lora"], "team")
    assert answer.parse.status == "free_text" and answer.parse.format_valid is None


def test_the_few_shot_prompt_pays_a_token_tax(pipeline):
    rag = pipeline.run(QUESTION, MODES["rag"], "team")
    fewshot = pipeline.run(QUESTION, MODES["rag+fewshot"], "team")
    assert fewshot.timings.prompt_tokens > rag.timings.prompt_tokens + 500
    assert fewshot.cost.api_reference_usd > rag.cost.api_reference_usd


def test_citations_resolve_to_retrieved_real_or_unknown_chunks(pipeline):
    prepared = pipeline.prepare(QUESTION, Mode(id="k1", label="k1", retrieval=True, k=1), "team")
    text = '{"answer": "$1,249", "citations": ["poolpilot#0", "warranty#0", "made-up#7"], "confidence": "high"}'
    answer = pipeline.finish(prepared, completion(text))
    by_id = {c.chunk_id: c for c in answer.citations}
    assert by_id["poolpilot#0"].status == "retrieved" and by_id["poolpilot#0"].number == 1
    assert "$1,249" in by_id["poolpilot#0"].text
    assert by_id["warranty#0"].status == "not_retrieved" and "two-year warranty" in by_id["warranty#0"].text
    assert by_id["made-up#7"].status == "unknown"
    assert answer.parse.status == "unknown_citation" and "warranty#0" in answer.parse.detail


class UnreachableKnowledgeBase:
    """The team knowledge base, except that looking a document up fails as a lost store does."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb

    def search(self, *args, **kwargs):
        return self._kb.search(*args, **kwargs)

    def chunks(self, workspace: str, doc_id: str):
        raise StoreError("The knowledge base cannot be reached: check RAGTUNE_CHROMA_HOST.")

    def has_workspace(self, name: str) -> bool:
        raise StoreError("The knowledge base cannot be reached: check RAGTUNE_CHROMA_HOST.")


def test_an_unreachable_knowledge_base_leaves_a_citation_unverified_not_invented(pipeline, team_kb):
    prepared = pipeline.prepare(QUESTION, Mode(id="k1", label="k1", retrieval=True, k=1), "team")
    pipeline.kb = UnreachableKnowledgeBase(team_kb)
    text = '{"answer": "$1,249", "citations": ["poolpilot#0", "warranty#0"], "confidence": "high"}'
    answer = pipeline.finish(prepared, completion(text))
    by_id = {c.chunk_id: c.status for c in answer.citations}
    assert by_id == {"poolpilot#0": "retrieved", "warranty#0": "unverified"}


def test_a_citation_without_a_knowledge_base_is_unverified(pipeline):
    prepared = pipeline.prepare(QUESTION, MODES["base"], "team")
    pipeline.kb = None
    text = '{"answer": "$1,249", "citations": ["warranty#0"], "confidence": "high"}'
    assert [c.status for c in pipeline.finish(prepared, completion(text)).citations] == ["unverified"]


def test_a_valid_cited_answer_parses_and_shows_its_answer_field(pipeline):
    prepared = pipeline.prepare(QUESTION, MODES["rag"], "team")
    answer = pipeline.finish(prepared, completion(
        '{"answer": "It costs $1,249.", "citations": ["poolpilot#0"], "confidence": "high"}'))
    assert answer.parse.status == "ok" and answer.parse.format_valid is True
    assert answer.display_text == "It costs $1,249."
    assert [c.status for c in answer.citations] == ["retrieved"]


@pytest.mark.parametrize(("text", "finish", "status"), [
    ("The Poolpilot costs $1,249.", "stop", "invalid_json"),
    ('{"answer": "It costs', "length", "truncated"),
    ('{"answer": "It costs $1,249.", "citations": [], "confidence": "high"}', "stop", "schema_violation"),
])
def test_parse_failures_keep_their_reason(pipeline, text, finish, status):
    answer = pipeline.finish(pipeline.prepare(QUESTION, MODES["rag"], "team"), completion(text, finish))
    assert answer.parse.status == status and answer.parse.detail
    assert answer.display_text == text


def test_a_schema_violation_still_has_its_citations_checked(pipeline):
    text = '{"answer": "x", "citations": ["made-up#1"], "confidence": "certain"}'
    answer = pipeline.finish(pipeline.prepare(QUESTION, MODES["rag"], "team"), completion(text))
    assert answer.parse.status == "schema_violation"
    assert [(c.chunk_id, c.status) for c in answer.citations] == [("made-up#1", "unknown")]


def test_timings_add_retrieval_and_costs_follow_the_measurements(pipeline):
    answer = pipeline.run(QUESTION, MODES["rag+lora"], "team")
    t = answer.timings
    assert t.total_ms >= t.retrieval_ms + t.prompt_eval_ms + t.generation_ms
    assert t.ttft_ms >= t.retrieval_ms and t.prompt_tokens > 0 and t.completion_tokens == 24
    assert answer.cost.compute_seconds == pytest.approx(t.compute_ms / 1000)
    assert answer.cost.local_compute_usd > 0 and answer.cost.amortized_usd > 0
    assert pipeline.run(QUESTION, MODES["rag"], "team").cost.amortized_usd == 0


def test_a_missing_adapter_makes_the_mode_unavailable_with_a_clear_message(pipeline):
    mode = Mode(id="x", label="Router", adapter="ticket-router")
    with pytest.raises(ModeUnavailableError, match="needs the adapter 'ticket-router'"):
        pipeline.run(QUESTION, mode, "team")


def test_an_adapter_for_another_model_makes_the_mode_unavailable(pipeline, tmp_path):
    from tests.factories import write_lora

    pipeline.settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    write_lora(pipeline.settings.adapters_dir / "qwen-style.gguf", architecture="qwen2")
    with pytest.raises(ModeUnavailableError, match="does not fit the loaded model"):
        pipeline.run(QUESTION, Mode(id="q", label="Q", adapter="qwen-style"), "team")


def test_retrieval_needs_an_existing_workspace(pipeline):
    with pytest.raises(ModeUnavailableError, match="no workspace"):
        pipeline.run(QUESTION, MODES["rag"], None)
    with pytest.raises(WorkspaceError):
        pipeline.run(QUESTION, MODES["rag"], "nowhere")


def test_the_fewshot_examples_are_not_about_the_demo_company():
    from ragtune.fewshot import fewshot_messages

    text = " ".join(m.content for m in fewshot_messages("q", []))
    assert "Tidewell" not in text and "Mowbot" not in text
    assert ChatMessage  # the messages are ChatMessage records


def test_compare_yields_each_modes_events_in_order_and_logs_each_answer_once(pipeline, tmp_path):
    from ragtune.lab import Failed, Finished, Started, Token, compare
    from ragtune.store import QueryLog

    log = QueryLog(tmp_path / "queries.sqlite3")
    missing = Mode(id="router", label="Router", adapter="ticket-router")
    # one mode after another (on a model server compare() would send them at once: tests/test_lab_concurrent.py)
    events = list(compare(pipeline, QUESTION, [MODES["base"], missing], "team", log=log, source="cli",
                          concurrent=False))
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "Started" and kinds[-2:] == ["Started", "Failed"]
    assert set(kinds[1:-3]) == {"Token"} and kinds[-3] == "Finished"
    started = [e for e in events if isinstance(e, Started)]
    assert [(s.mode.id, s.index, s.total) for s in started] == [("base", 0, 2), ("router", 1, 2)]
    finished = next(e for e in events if isinstance(e, Finished))
    assert "".join(e.text for e in events if isinstance(e, Token)) == finished.answer.text
    assert finished.verdict is None  # not a demo question: not judged
    assert "needs the adapter 'ticket-router'" in next(e for e in events if isinstance(e, Failed)).error
    entries = log.entries()
    assert [(e.id, e.mode_id, e.source, e.verdict) for e in entries] == [(finished.log_id, "base", "cli", None)]


def test_a_demo_question_is_judged_once_and_the_verdict_is_logged(pipeline, tmp_path):
    from ragtune.lab import Finished, compare, demo_questions
    from ragtune.store import QueryLog

    log = QueryLog(tmp_path / "queries.sqlite3")
    price = next(case for item, case in demo_questions() if item.eval_id == "a13")
    events = list(compare(pipeline, price.question, [MODES["base"]], "team", log=log, source="lab"))
    finished = next(e for e in events if isinstance(e, Finished))
    assert finished.verdict is not None and finished.version == "v1"
    entry = log.get(finished.log_id)
    assert (entry.verdict, entry.verdict_note) == (finished.verdict.verdict, finished.verdict.note)


def test_closing_a_comparison_mid_answer_frees_the_model(pipeline, runtime):
    in_process_only(runtime)
    from ragtune.lab import Token, compare

    events = compare(pipeline, QUESTION, [MODES["base"], MODES["rag"]], "team", log=None, source="cli")
    next(e for e in events if isinstance(e, Token))
    assert runtime.is_busy()
    events.close()
    assert not runtime.is_busy()


def test_a_demo_answer_is_left_unjudged_when_the_knowledge_base_cannot_say_its_version(pipeline, team_kb):
    from ragtune.lab import Finished, compare, demo_questions

    pipeline.kb = UnreachableKnowledgeBase(team_kb)
    price = next(case for item, case in demo_questions() if item.eval_id == "a13")
    events = list(compare(pipeline, price.question, [MODES["base"]], "team", log=None, source="cli"))
    finished = next(e for e in events if isinstance(e, Finished))
    assert finished.verdict is None and finished.answer.text


def test_citations_of_hostile_json_output_are_none_not_an_exception() -> None:
    from ragtune.pipeline import _loose_citations

    assert _loose_citations("[" * 100_000 + "]" * 100_000) == []
    assert _loose_citations('{"citations": ["a#0"], "n": ' + "9" * 5000 + "}") == []


def test_a_mode_resolves_its_adapter_among_those_shipped_for_the_loaded_model(runtime, team_kb, random_lora,
                                                                                tmp_path, monkeypatch):
    """The Lab's modes name adapters ("grounded-json"); the pipeline takes the one shipped for the
    model it runs (another model's folder), never the default model's file of that name."""
    import ragtune.adapters as adapters_module

    shipped = tmp_path / "shipped"
    (shipped / runtime.model_id).mkdir(parents=True)
    (shipped / "grounded-json.gguf").write_bytes(b"not for this model")
    shutil.copy(random_lora, shipped / runtime.model_id / "grounded-json.gguf")
    monkeypatch.setattr(adapters_module, "SHIPPED_ADAPTERS_DIR", shipped)
    settings = load_settings(max_tokens=8)
    pipeline = Pipeline(runtime, team_kb, AdapterCatalog(settings), settings)
    [use] = pipeline.adapter_for(MODES["rag+lora"])
    assert use.path == (shipped / runtime.model_id / "grounded-json.gguf").resolve()


def test_a_mode_whose_adapter_ships_only_for_another_model_says_so(runtime, team_kb, random_lora, tmp_path,
                                                                    monkeypatch):
    import ragtune.adapters as adapters_module

    shipped = tmp_path / "shipped"
    (shipped / "other-model").mkdir(parents=True)
    shutil.copy(random_lora, shipped / "other-model" / "knowledge-baked.gguf")
    monkeypatch.setattr(adapters_module, "SHIPPED_ADAPTERS_DIR", shipped)
    settings = load_settings(max_tokens=8)
    pipeline = Pipeline(runtime, team_kb, AdapterCatalog(settings), settings)
    with pytest.raises(ModeUnavailableError, match="ships for another model, not for tiny"):
        pipeline.adapter_for(MODES["knowledge-lora"])
