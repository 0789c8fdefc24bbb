"""The server runtime's own guarantees, on a real llama-server on loopback (``tests/servers.py``).

The contract both runtimes share is tested in tests/test_runtime.py and tests/test_pipeline.py;
here: the explicit-scale rule, adapter isolation under concurrency, adapters the server lacks,
timings and token counts, a stream closed early, and every way a server can fail (down, wrong
key, too slow, killed mid-answer), each a clear error and never a hang.
"""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ragtune.adapters import AdapterCatalog
from ragtune.config import load_settings
from ragtune.errors import AdapterNotServedError, InputError, ModeUnavailableError, RuntimeBackendError
from ragtune.gguf.files import check_model_file
from ragtune.runtime import AdapterUse, ChatMessage, GenerationOptions, load_runtime
from ragtune.runtime.server import ServerRuntime
from tests.factories import write_lora
from tests.servers import API_KEY, free_port, start_llama_server

QUESTION = [ChatMessage(role="user", content="Which warranty applies to the X200?")]
GREEDY = GenerationOptions(max_tokens=24, temperature=0.0)


def server_runtime(server, model: Path, **kwargs) -> ServerRuntime:
    kwargs.setdefault("api_key", API_KEY)
    kwargs.setdefault("cache_prompt", False)
    return ServerRuntime(server.url, summary=check_model_file(model), model_id="tiny", **kwargs)


@pytest.fixture()
def served(llama_server, tiny_model):
    runtime = server_runtime(llama_server, tiny_model)
    yield runtime
    runtime.close()


def uses(*paths: Path, scale: float = 1.0) -> list[AdapterUse]:
    return [AdapterUse(path=p, scale=scale) for p in paths]


def slots_busy(server) -> int:
    slots = httpx.get(f"{server.url}/slots", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5).json()
    return sum(1 for slot in slots if slot["is_processing"])


def until(condition, limit_s: float = 20.0) -> bool:
    """Poll ``condition`` until it holds or ``limit_s`` passed (no fixed sleeps)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- adapters: the explicit-scale rule, isolation, files the server lacks ------------------------


def test_a_base_answer_from_the_server_is_the_base_models(served, tiny_runtime, llama_server):
    base = served.chat(QUESTION, options=GREEDY).text
    assert base == tiny_runtime.chat(QUESTION, options=GREEDY).text
    adapter = llama_server.adapters["adapter-a"]
    assert served.chat(QUESTION, adapters=uses(adapter), options=GREEDY).text == \
        tiny_runtime.chat(QUESTION, adapters=uses(adapter), options=GREEDY).text


def test_the_explicit_zero_scales_are_what_keeps_the_adapters_off(served, llama_server):
    """llama-server's trap: an empty ``lora`` list is answered with every adapter applied."""
    body = served.chat_request(QUESTION, [], GREEDY)
    assert len(body["lora"]) == 3 and {entry["scale"] for entry in body["lora"]} == {0.0}
    body.update(lora=[], stream=False)
    trap = httpx.post(f"{llama_server.url}/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {API_KEY}"}).json()["choices"][0]["message"]["content"]
    every = served.chat(QUESTION, adapters=uses(*llama_server.adapters.values()), options=GREEDY).text
    assert trap == every != served.chat(QUESTION, options=GREEDY).text


def test_sixteen_concurrent_requests_alternating_adapters_each_get_their_own_answer(served, llama_server):
    kinds = [[], uses(llama_server.adapters["adapter-a"]), uses(llama_server.adapters["adapter-b"])]
    alone = [served.chat(QUESTION, adapters=k, options=GREEDY).text for k in kinds]
    assert len(set(alone)) == 3
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda i: served.chat(QUESTION, adapters=kinds[i % 3], options=GREEDY).text,
                                range(16)))
    assert answers == [alone[i % 3] for i in range(16)]


def test_an_adapter_the_server_lacks_is_an_error_never_another_answer(served, tmp_path):
    unknown = write_lora(tmp_path / "fresh.gguf", seed=99)
    with pytest.raises(AdapterNotServedError, match="does not serve 'fresh'; restart `make serve-model`"):
        served.load_adapter(unknown)
    with pytest.raises(AdapterNotServedError):
        served.chat(QUESTION, adapters=uses(unknown), options=GREEDY)


def test_an_adapter_retrained_under_a_served_name_is_not_served(served, tmp_path):
    retrained = write_lora(tmp_path / "adapter-a.gguf", seed=123)
    with pytest.raises(AdapterNotServedError, match="another file named 'adapter-a'"):
        served.load_adapter(retrained)


def test_a_mode_whose_adapter_the_server_lacks_is_unavailable(served, tmp_path):
    from ragtune.modes import BUILTIN_MODES
    from ragtune.pipeline import Pipeline

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    write_lora(shipped / "grounded-json.gguf", seed=99)
    settings = load_settings(max_tokens=8)
    pipeline = Pipeline(served, None, AdapterCatalog(settings, shipped_dir=shipped), settings)
    lora = next(m for m in BUILTIN_MODES if m.id == "lora")
    with pytest.raises(ModeUnavailableError, match="unavailable: The adapter 'grounded-json' cannot be used"):
        pipeline.run("What does it cost?", lora, None)


# -- tokens, timings, the stream ---------------------------------------------------------------


def test_the_server_counts_tokens_as_in_process(served, tiny_runtime):
    conversations = [QUESTION, [ChatMessage(role="system", content="Answer in French."),
                                ChatMessage(role="user", content="Où est la garantie ? 42 €")]]
    for messages in conversations:
        assert served.count_prompt_tokens(messages) == tiny_runtime.count_prompt_tokens(messages)
    for text in ["Hello world", "The Poolpilot P1 costs $1,249.", "naïve café 東京"]:
        assert served.count_tokens(text) == tiny_runtime.count_tokens(text)


def test_timings_come_from_the_server_and_the_prompt_cache_is_reported(llama_server, tiny_model, tiny_runtime):
    runtime = server_runtime(llama_server, tiny_model, cache_prompt=True)
    try:
        runtime.reset_cache()
        cold = runtime.chat(QUESTION, options=GREEDY).timings
        assert cold.prompt_tokens == tiny_runtime.count_prompt_tokens(QUESTION)
        assert cold.cached_prompt_tokens == 0 and cold.completion_tokens == GREEDY.max_tokens
        assert 0 < cold.prompt_eval_ms <= cold.ttft_ms <= cold.total_ms
        assert cold.queue_wait_ms >= 0 and cold.tokens_per_s > 0 and cold.generation_ms > 0
        warm = runtime.chat(QUESTION, options=GREEDY).timings
        assert warm.cached_prompt_tokens > 0 and warm.prompt_tokens == cold.prompt_tokens
        runtime.reset_cache()
        assert runtime.chat(QUESTION, options=GREEDY).timings.cached_prompt_tokens == 0
    finally:
        runtime.close()


def test_an_answer_cut_short_here_closes_the_stream_and_frees_the_slot(served, tiny_runtime, llama_server):
    """A free-text answer past its cap is ended by the client (not the server's max_tokens)."""
    options = GenerationOptions(max_tokens=600, stop_at_json_end=True, free_text_max_tokens=5)
    result = served.chat(QUESTION, options=options)
    assert result.finish_reason == "length" and result.timings.completion_tokens < 50
    assert result.text == tiny_runtime.chat(QUESTION, options=options).text
    assert until(lambda: slots_busy(llama_server) == 0)


def test_closing_a_stream_mid_answer_frees_the_servers_slot(served, llama_server):
    completion = served.stream_chat(QUESTION, options=GenerationOptions(max_tokens=900))
    next(iter(completion))
    completion.close()
    assert until(lambda: slots_busy(llama_server) == 0)


def test_the_server_refuses_a_schema_it_cannot_turn_into_a_grammar(served):
    schema = {"type": "object", "properties": {"c": {"type": "array", "items": {"enum": []}}}, "required": ["c"]}
    with pytest.raises(InputError, match="enum"):
        served.chat(QUESTION, options=GenerationOptions(max_tokens=8, json_schema=schema))


# -- failures: every one a clear error within the timeout ----------------------------------------


def test_a_wrong_api_key_is_refused(llama_server, tiny_model):
    for key in ("wrong-key", None):
        runtime = server_runtime(llama_server, tiny_model, api_key=key)
        with pytest.raises(RuntimeBackendError, match="refused the API key.*RAGTUNE_SERVER_API_KEY"):
            runtime.chat(QUESTION, options=GREEDY)
        status = runtime.backend_status()
        assert not status.healthy and "API key" in status.error


def test_a_server_that_is_down_is_named_in_the_error(tiny_model):
    url = f"http://127.0.0.1:{free_port()}"
    runtime = ServerRuntime(url, summary=check_model_file(tiny_model), model_id="tiny", timeout_s=5)
    with pytest.raises(RuntimeBackendError, match=f"{url} cannot be reached.*make serve-model"):
        runtime.chat(QUESTION, options=GREEDY)
    status = runtime.backend_status()
    assert (status.kind, status.url, status.healthy) == ("server", url, False) and url in status.error


class SilentServer:
    """A real HTTP server that answers a chat stream with ``events`` and then stalls: keep-alive
    comments only (``pings``) or nothing at all. Everything else it answers like llama-server."""

    def __init__(self, events: list[str], *, pings: bool) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        release = self.release = threading.Event()
        answers = {"/props": {"default_generation_settings": {"n_ctx": 4096}}, "/lora-adapters": [],
                   "/v1/chat/completions/input_tokens": {"input_tokens": 10}}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, payload) -> None:
                import json

                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._json(answers.get(self.path, {}))

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/v1/chat/completions":
                    self._json(answers.get(self.path, {}))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for event in events:
                    self.wfile.write(f"data: {event}\n\n".encode())
                    self.wfile.flush()
                while not release.wait(0.2):
                    if pings:
                        self.wfile.write(b": ping\n\n")
                        self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("pings", [False, True], ids=["silent", "pings-only"])
def test_a_stream_that_stalls_fails_within_the_timeout_never_hangs(tiny_model, pings):
    first = '{"choices": [{"delta": {"content": "Hello"}, "finish_reason": null}]}'
    server = SilentServer([first], pings=pings)
    runtime = ServerRuntime(server.url, summary=check_model_file(tiny_model), model_id="tiny", timeout_s=1)
    outcome: list[BaseException | str] = []

    def ask() -> None:
        try:
            outcome.append(runtime.chat(QUESTION, options=GREEDY).text)
        except BaseException as exc:  # reported below
            outcome.append(exc)

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout=60)
    server.close()
    assert not worker.is_alive(), "the request hung"
    [error] = outcome
    assert isinstance(error, RuntimeBackendError) and server.url in str(error)
    assert "RAGTUNE_SERVER_TIMEOUT_S" in str(error)


def test_killing_the_server_mid_answer_is_a_clean_error_and_the_next_request_recovers(tmp_path, tiny_model):
    server = start_llama_server(tmp_path, tiny_model, {}, n_ctx=1024)
    runtime = server_runtime(server, tiny_model)
    try:
        completion = runtime.stream_chat(QUESTION, options=GenerationOptions(max_tokens=900))
        pieces = iter(completion)
        next(pieces)
        server.stop(kill=True)
        with pytest.raises(RuntimeBackendError, match="closed the connection|cannot be reached"):
            for _ in pieces:
                pass
        with pytest.raises(RuntimeBackendError, match="cannot be reached"):
            runtime.chat(QUESTION, options=GREEDY)
        server.restart()
        assert runtime.chat(QUESTION, options=GREEDY).text.strip()
    finally:
        runtime.close()
        server.stop(kill=True)


# -- status and selection ----------------------------------------------------------------------


def test_backend_status_lists_health_model_adapters_and_slots(llama_server, tiny_model, tmp_path):
    settings = load_settings(data_dir=tmp_path / "app")
    settings.adapters_dir.mkdir(parents=True)
    shutil.copyfile(llama_server.adapters["adapter-a"], settings.adapters_dir / "adapter-a.gguf")
    write_lora(settings.adapters_dir / "fresh.gguf", seed=99)
    catalog = AdapterCatalog(settings, shipped_dir=tmp_path / "none")
    runtime = server_runtime(llama_server, tiny_model, catalog=catalog)
    status = runtime.backend_status()
    assert status.healthy and status.error == "" and status.model_matches is True
    assert "tiny.gguf" in status.model and (status.slots_total, status.slots_busy) == (4, 0)
    rows = {row.name: row for row in status.adapters}
    assert rows["adapter-a"].served and not rows["fresh"].served
    assert "restart `make serve-model`" in rows["fresh"].why
    assert not rows["adapter-b"].served and "checksum" in rows["adapter-b"].why
    assert runtime.n_ctx == 2048  # the server's context per request, not the configured default


def test_a_server_serving_another_model_is_named(llama_server, looping_model):
    runtime = ServerRuntime(llama_server.url, summary=check_model_file(looping_model), model_id="looping",
                            api_key=API_KEY)
    status = runtime.backend_status()
    assert status.healthy and status.model_matches is False and "tiny.gguf" in status.model


def test_the_server_runtime_is_chosen_by_settings(llama_server, tiny_env, monkeypatch):
    monkeypatch.setenv("RAGTUNE_RUNTIME", "server")
    monkeypatch.setenv("RAGTUNE_SERVER_URL", llama_server.url + "/v1")
    monkeypatch.setenv("RAGTUNE_SERVER_API_KEY", API_KEY)
    runtime = load_runtime(load_settings())
    try:
        assert isinstance(runtime, ServerRuntime) and runtime.concurrent and runtime.url == llama_server.url
        assert runtime.chat(QUESTION, options=GREEDY).text.strip()
    finally:
        runtime.close()
