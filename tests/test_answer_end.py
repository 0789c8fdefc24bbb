"""Answers that end: the caps of each answer's shape, the stop at the end of the JSON object and the
repetition stop, on real tiny models (the looping one falls into a cycle within a few tokens)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ragtune.adapters import AdapterCatalog
from ragtune.answer_caps import AnswerCaps, answer_cap, answer_caps, chat_cap, longest_grounded_json
from ragtune.config import load_settings
from ragtune.evaluation.scoring import json_valid
from ragtune.modes import BUILTIN_MODES, Mode
from ragtune.pipeline import Pipeline
from ragtune.prompts import MAX_ANSWER_CHARS
from ragtune.retrieval.demo import demo_files
from ragtune.runtime import AdapterUse, ChatMessage, GenerationOptions
from ragtune.runtime.stops import RepetitionRule

MODES = {m.id: m for m in BUILTIN_MODES}
QUESTION = "How much does the Poolpilot P1 cost?"
ASK = [ChatMessage(role="user", content=QUESTION)]
LOOPING = GenerationOptions(max_tokens=200, repetition=RepetitionRule())
PLAIN = Mode(id="plain", label="Plain", prompt="plain")


# -- the caps ------------------------------------------------------------------------------------------

def test_the_json_cap_fits_the_longest_valid_answer_made_of_any_demo_prose(tiny_runtime):
    """The tiny model carries the default model's tokenizer: these are real token counts."""
    caps = answer_caps(tiny_runtime)
    files = sorted({*demo_files("v1"), *demo_files("v2")})
    longest_id = max((f"{p.stem}#99" for p in files), key=len)
    for path in files:
        flat = " ".join(path.read_text(encoding="utf-8").split())
        for start in range(0, max(len(flat) - MAX_ANSWER_CHARS, 0) + 1, 97):
            window = flat[start:start + MAX_ANSWER_CHARS]
            assert tiny_runtime.count_tokens(longest_grounded_json(window, longest_id)) < caps.json_answer
            assert tiny_runtime.count_tokens(window) < caps.plain_answer


def test_a_brief_answer_is_capped_well_below_a_json_answer(tiny_runtime):
    caps = answer_caps(tiny_runtime)
    assert 100 < caps.plain_answer < caps.json_answer < 400  # measured, not typed: see the test above
    assert "demo documents" in caps.basis


def test_each_mode_gets_its_shapes_cap_within_the_ceiling_and_its_own_cap_wins(tiny_runtime):
    caps = AnswerCaps(json_answer=270, plain_answer=170, basis="fixed for this test")
    roomy, tight = load_settings(max_tokens=512), load_settings(max_tokens=100)
    assert answer_cap(MODES["rag"], caps, roomy) == 270 and answer_cap(PLAIN, caps, roomy) == 170
    assert answer_cap(MODES["rag"], caps, tight) == 100  # RAGTUNE_MAX_TOKENS is the ceiling
    assert answer_cap(MODES["rag"].model_copy(update={"max_tokens": 600}), caps, roomy) == 600
    assert chat_cap(tiny_runtime, roomy) == answer_caps(tiny_runtime).plain_answer


def test_a_runtime_that_cannot_count_tokens_gets_a_bound_that_never_cuts_a_valid_answer():
    def cannot(text: str) -> int:
        raise NotImplementedError

    caps = answer_caps(SimpleNamespace(model_id="no-tokenizer-here", count_tokens=cannot))  # type: ignore[arg-type]
    assert caps.plain_answer >= 4 * MAX_ANSWER_CHARS  # UTF-8 bytes: no byte-level tokenizer needs more
    assert caps.json_answer > caps.plain_answer and "bytes" in caps.basis


# -- the repetition stop in the runtime -------------------------------------------------------------

def test_a_loop_ends_the_stream_early_marked_repetition(looping_runtime):
    looping = looping_runtime.chat(ASK, options=LOOPING)
    unstopped = looping_runtime.chat(ASK, options=GenerationOptions(max_tokens=200))
    assert unstopped.finish_reason == "length" and unstopped.timings.completion_tokens == 200
    assert looping.finish_reason == "repetition"
    assert 0 < looping.timings.completion_tokens < 60
    assert unstopped.text.startswith(looping.text)  # the raw text: what the model produced up to the stop


def test_a_stopped_stream_streams_exactly_its_text_and_counts_its_tokens(looping_runtime):
    completion = looping_runtime.stream_chat(ASK, options=LOOPING)
    pieces = list(completion)
    result = completion.consume()
    assert "".join(pieces) == result.text
    t = result.timings
    assert t.generation_ms > 0 and t.tokens_per_s > 0 and t.ttft_ms <= t.total_ms
    # The tokens counted are the tokens that made the text: capped at that many, the model writes the same.
    same = looping_runtime.chat(ASK, options=GenerationOptions(max_tokens=t.completion_tokens))
    assert same.text == result.text and same.timings.completion_tokens == t.completion_tokens


def test_a_stopped_stream_frees_the_model_and_keeps_the_kv_cache_and_adapter_contract(looping_runtime, random_lora):
    lora = [AdapterUse(path=random_lora)]
    stopped = looping_runtime.chat(ASK, adapters=lora, options=LOOPING)
    assert not looping_runtime.is_busy()
    after_stop = looping_runtime.chat(ASK, options=LOOPING)  # base, right after an adapter answer was cut short
    looping_runtime.reset_cache()
    cold = looping_runtime.chat(ASK, options=LOOPING)
    assert after_stop.text == cold.text and after_stop.finish_reason == cold.finish_reason
    assert looping_runtime.chat(ASK, adapters=lora, options=LOOPING).text == stopped.text  # and reused cache


def test_closing_a_stream_midway_frees_the_model(looping_runtime):
    completion = looping_runtime.stream_chat(ASK, options=GenerationOptions(max_tokens=200))
    next(iter(completion))
    completion.close()
    assert not looping_runtime.is_busy()


# -- the end of the JSON object in the runtime ------------------------------------------------------

def scripted(runtime, text: str):
    """Make llama.cpp sample the real tokens of ``text``: a random-weight model cannot be made to write
    a JSON object followed by more text, and this is what the stop must handle."""
    tokens = runtime._llm.tokenize(text.encode(), add_bos=False, special=False)

    def generate(prompt, **kwargs):
        runtime._llm.reset()  # nothing of this request is left in the KV cache for the next one
        yield from tokens

    return generate


def test_a_json_answer_ends_where_its_object_closes(tiny_runtime, monkeypatch):
    answer = '{"answer": "Two years.", "citations": ["warranty#0"], "confidence": "high"}'
    monkeypatch.setattr(tiny_runtime._llm, "generate", scripted(tiny_runtime, answer + "\n\nI hope this helps! {"))
    options = GenerationOptions(max_tokens=200, stop_at_json_end=True)
    completion = tiny_runtime.stream_chat(ASK, options=options)
    streamed = "".join(completion)
    result = completion.consume()
    assert result.text == streamed == answer and result.finish_reason == "stop"
    assert result.timings.completion_tokens == tiny_runtime.count_tokens(answer)
    assert not tiny_runtime.is_busy()


def test_without_the_json_stop_the_text_after_the_object_stays(tiny_runtime, monkeypatch):
    answer = '{"answer": "Two years.", "citations": [], "confidence": "low"}'
    monkeypatch.setattr(tiny_runtime._llm, "generate", scripted(tiny_runtime, answer + " More."))
    result = tiny_runtime.chat(ASK, options=GenerationOptions(max_tokens=200))
    assert result.text == answer + " More." and result.finish_reason == "length"


def test_an_output_that_is_not_json_gets_the_free_text_cap(tiny_runtime, monkeypatch):
    monkeypatch.setattr(tiny_runtime._llm, "generate", scripted(tiny_runtime, "The price is $1,249 for sure. " * 20))
    options = GenerationOptions(max_tokens=200, stop_at_json_end=True, free_text_max_tokens=12)
    result = tiny_runtime.chat(ASK, options=options)
    assert result.finish_reason == "length" and result.timings.completion_tokens == 12


# -- the pipeline ---------------------------------------------------------------------------------------

@pytest.fixture()
def looping_pipeline(looping_runtime):
    settings = load_settings(max_tokens=200)
    return Pipeline(looping_runtime, None, AdapterCatalog(settings), settings)


def test_a_json_modes_looping_answer_is_stopped_and_not_a_valid_answer(looping_pipeline):
    answer = looping_pipeline.run(QUESTION, MODES["base"], None)
    assert answer.finish_reason == "repetition"
    assert answer.parse.status == "repetition" and answer.parse.format_valid is False
    assert "repeated itself" in answer.parse.detail
    assert json_valid(answer.parse.status) is False
    assert answer.timings.completion_tokens < 60


def test_a_free_text_looping_answer_is_stopped_and_stays_free_text(looping_pipeline):
    answer = looping_pipeline.run(QUESTION, PLAIN, None)
    assert answer.finish_reason == "repetition" and answer.parse.status == "free_text"


def test_json_modes_stop_at_their_object_and_cap_free_text_as_free_text(looping_pipeline, looping_runtime):
    caps = answer_caps(looping_runtime)
    json_options = looping_pipeline.prepare(QUESTION, MODES["base"], None).options
    assert json_options.stop_at_json_end and json_options.repetition is not None
    assert json_options.max_tokens == min(caps.json_answer, 200)
    assert json_options.free_text_max_tokens == min(caps.plain_answer, 200)
    plain_options = looping_pipeline.prepare(QUESTION, PLAIN, None).options
    assert not plain_options.stop_at_json_end and plain_options.free_text_max_tokens is None
    assert plain_options.max_tokens == min(caps.plain_answer, 200)
    own = looping_pipeline.prepare(QUESTION, MODES["base"].model_copy(update={"max_tokens": 40}), None).options
    assert own.max_tokens == 40 and own.free_text_max_tokens is None  # a mode's own cap is its cap
