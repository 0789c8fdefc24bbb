"""The runtime contract on a real (tiny, random-weight) GGUF model and real LoRA GGUF files.

The contract tests run on both runtimes (the ``runtime`` fixture): in process, and on a real
llama-server over HTTP (``tests/servers.py``) with the prompt cache off, since a reused prefix can
change greedy text there (the README, "The model server"). The other tests are the in-process
runtime's own (its KV cache and adapter switch): those on ``tiny_runtime`` or ``fresh_runtime``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ragtune.errors import AdapterError, InputError
from ragtune.gguf.files import check_model_file
from ragtune.runtime import AdapterUse, ChatMessage, GenerationOptions, Runtime
from ragtune.runtime.llamacpp import LlamaCppRuntime
from tests.factories import TinyConfig, write_lora
from tests.servers import API_KEY

QUESTION = [ChatMessage(role="user", content="Which warranty applies to the X200?")]
GREEDY = GenerationOptions(max_tokens=24, temperature=0.0)


@pytest.fixture(params=["inprocess", "server"])
def runtime(request, tiny_runtime, tiny_model):
    """The tiny model in process, or served by llama-server (with every test adapter loaded there)."""
    if request.param == "inprocess":
        yield tiny_runtime
        return
    from ragtune.runtime.server import ServerRuntime

    server = request.getfixturevalue("llama_server")
    served = ServerRuntime(server.url, summary=check_model_file(tiny_model), model_id="tiny", api_key=API_KEY,
                           cache_prompt=False)
    yield served
    served.close()


def fresh_runtime(model: Path) -> LlamaCppRuntime:
    return LlamaCppRuntime(model, summary=check_model_file(model), model_id="tiny", n_ctx=1024, n_threads=2)


def ask(runtime: Runtime, *adapters: Path, scale: float = 1.0, messages=QUESTION) -> str:
    uses = [AdapterUse(path=p, scale=scale) for p in adapters]
    return runtime.chat(messages, adapters=uses, options=GREEDY).text


def test_generation_is_deterministic_and_non_empty(runtime):
    first = ask(runtime)
    assert first.strip()
    assert ask(runtime) == first


def test_zero_adapter_gives_exactly_the_base_output(runtime, zero_lora):
    assert ask(runtime, zero_lora) == ask(runtime)


def test_random_adapter_changes_the_output(runtime, random_lora):
    assert ask(runtime, random_lora) != ask(runtime)


def test_adapter_scale_zero_gives_the_base_output(runtime, random_lora):
    assert ask(runtime, random_lora, scale=0.0) == ask(runtime)


def test_base_adapter_base_round_trip_reproduces_base_without_reload(runtime, random_lora):
    base = ask(runtime)
    with_adapter = ask(runtime, random_lora)
    assert ask(runtime) == base
    assert ask(runtime, random_lora) == with_adapter


def test_adapter_answer_after_base_matches_a_fresh_model_with_the_adapter(tiny_model, random_lora):
    """The KV-cache prefix from a base request must not leak into an adapter request."""
    fresh = fresh_runtime(tiny_model)
    try:
        expected = ask(fresh, random_lora)
    finally:
        fresh.close()
    warm = fresh_runtime(tiny_model)
    try:
        ask(warm)  # same prompt, base model: its KV cache is now a prefix of the next prompt
        assert ask(warm, random_lora) == expected
        base_again = ask(warm)
    finally:
        warm.close()
    fresh_base = fresh_runtime(tiny_model)
    try:
        assert base_again == ask(fresh_base)
    finally:
        fresh_base.close()


def test_two_adapters_at_once_differ_from_each_alone(runtime, random_lora, second_lora):
    both = ask(runtime, random_lora, second_lora)
    assert both != ask(runtime, random_lora)
    assert both != ask(runtime, second_lora)


def test_concurrent_requests_each_get_their_own_answer(runtime, random_lora):
    alone = {"base": ask(runtime), "lora": ask(runtime, random_lora)}
    results: dict[str, list[str]] = {"base": [], "lora": []}
    errors: list[BaseException] = []

    def worker(kind: str) -> None:
        try:
            for _ in range(3):
                adapters = (random_lora,) if kind == "lora" else ()
                results[kind].append(ask(runtime, *adapters))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in ("base", "lora")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert results["base"] == [alone["base"]] * 3
    assert results["lora"] == [alone["lora"]] * 3


def test_timings_account_for_the_request(tiny_runtime, random_lora):
    tiny_runtime.reset_cache()  # no prompt state kept from other tests, under any adapter set
    first = tiny_runtime.chat(QUESTION, options=GREEDY).timings
    assert first.prompt_tokens > 10
    assert first.completion_tokens == GREEDY.max_tokens
    assert 0 < first.ttft_ms <= first.total_ms
    assert first.prompt_eval_ms <= first.ttft_ms
    assert first.generation_ms <= first.total_ms
    assert first.tokens_per_s > 0
    again = tiny_runtime.chat(QUESTION, options=GREEDY).timings
    assert again.cached_prompt_tokens > 0  # the same prompt reuses the KV cache
    switched = tiny_runtime.chat(QUESTION, adapters=[AdapterUse(path=random_lora)], options=GREEDY).timings
    assert switched.cached_prompt_tokens == 0  # a switch to a set that has no prompt state yet
    assert switched.adapter_switch_ms > 0
    back = tiny_runtime.chat(QUESTION, options=GREEDY).timings
    assert back.cached_prompt_tokens == again.cached_prompt_tokens  # the base set's state came back


def test_streaming_pieces_add_up_to_the_result(runtime):
    completion = runtime.stream_chat(QUESTION, options=GREEDY)
    pieces = list(completion)
    assert len(pieces) > 1
    assert "".join(pieces) == completion.consume().text


def test_max_tokens_caps_the_answer(runtime):
    result = runtime.chat(QUESTION, options=GenerationOptions(max_tokens=3))
    assert result.timings.completion_tokens == 3
    assert result.finish_reason == "length"


def test_a_prompt_longer_than_the_context_is_an_input_error(runtime):
    long = [ChatMessage(role="user", content="word " * 2000)]
    with pytest.raises(InputError, match="context window"):
        runtime.chat(long, options=GREEDY)
    assert ask(runtime).strip()  # the runtime still works afterwards


def test_an_empty_question_is_an_input_error(runtime):
    with pytest.raises(InputError, match="empty"):
        runtime.chat([ChatMessage(role="user", content="   ")])


def test_adapter_for_another_architecture_is_refused(runtime, tmp_path):
    other = write_lora(tmp_path / "qwen.gguf", architecture="qwen2")
    with pytest.raises(AdapterError, match="'qwen2' model"):
        runtime.load_adapter(other)


def test_adapter_with_other_shapes_is_refused(runtime, tmp_path):
    wide = write_lora(tmp_path / "wide.gguf", shape_delta=8)
    with pytest.raises(AdapterError, match="do not fit"):
        runtime.load_adapter(wide)


def test_adapter_for_a_tensor_the_model_lacks_is_refused(runtime, tmp_path):
    deeper = write_lora(tmp_path / "deeper.gguf", config=TinyConfig(n_layer=3))
    with pytest.raises(AdapterError, match="does not have"):
        runtime.load_adapter(deeper)


def test_truncated_adapter_is_refused(runtime, random_lora, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(random_lora.read_bytes()[: random_lora.stat().st_size // 2])
    with pytest.raises(AdapterError, match="truncated|cannot be read"):
        runtime.load_adapter(cut)


def test_text_file_renamed_gguf_is_refused(runtime, tmp_path):
    fake = tmp_path / "notes.gguf"
    fake.write_text("these are my notes, not an adapter\n")
    with pytest.raises(AdapterError, match="not a GGUF file"):
        runtime.load_adapter(fake)


def test_model_file_used_as_adapter_is_refused(runtime, tiny_model):
    with pytest.raises(AdapterError, match="not a LoRA adapter"):
        runtime.load_adapter(tiny_model)


def test_a_refused_adapter_leaves_the_runtime_working(runtime, tmp_path, random_lora):
    fake = tmp_path / "bad.gguf"
    fake.write_bytes(b"GGUF" + b"\x00" * 10)
    before = ask(runtime, random_lora)
    with pytest.raises(AdapterError):
        runtime.chat(QUESTION, adapters=[AdapterUse(path=fake)], options=GREEDY)
    assert ask(runtime, random_lora) == before


def test_constrained_output_is_valid_json_of_the_schema(runtime):
    import json

    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 20}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    result = runtime.chat(QUESTION, options=GenerationOptions(max_tokens=64, json_schema=schema))
    assert set(json.loads(result.text)) == {"answer"}


def test_prefix_states_survive_adapter_switches_and_change_no_answer(tiny_model, random_lora):
    """A comparison's switches (base, lora, base, lora) restore each adapter set's own prompt state:
    the shared prefix is taken from it, and every answer is the one a cold model gives."""
    system = ChatMessage(role="system", content="You answer questions about lawn mowers briefly and politely.")
    questions = [[system, ChatMessage(role="user", content=text)]
                 for text in ("How wide does the Mowbot cut?", "What does the Mowbot cost?")]
    plan = [(q, adapters) for q in questions for adapters in ((), (random_lora,))]
    cold = []
    for messages, adapters in plan:
        fresh = fresh_runtime(tiny_model)
        try:
            cold.append(ask(fresh, *adapters, messages=messages))
        finally:
            fresh.close()
    warm = fresh_runtime(tiny_model)
    try:
        answers, cached = [], []
        for messages, adapters in plan:
            result = warm.chat(messages, adapters=[AdapterUse(path=p) for p in adapters], options=GREEDY)
            answers.append(result.text)
            cached.append(result.timings.cached_prompt_tokens)
    finally:
        warm.close()
    assert answers == cold
    assert cached[:2] == [0, 0]  # nothing saved yet for either set
    assert cached[2] > 0 and cached[3] > 0  # each set got its own state back after the switch


def test_without_prefix_states_a_switch_starts_from_an_empty_cache(tiny_model, random_lora):
    runtime = LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=1024,
                              n_threads=2, prefix_states=False)
    try:
        runtime.chat(QUESTION, options=GREEDY)
        runtime.chat(QUESTION, adapters=[AdapterUse(path=random_lora)], options=GREEDY)
        assert runtime.chat(QUESTION, options=GREEDY).timings.cached_prompt_tokens == 0
    finally:
        runtime.close()
