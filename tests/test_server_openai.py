"""The ``openai-lora`` dialect (vLLM ``--lora-modules``, SGLang, LoRAX) against a small real HTTP server.

There is no vLLM here: the server below speaks the part of the OpenAI API the dialect uses, the
way vLLM does (``/health`` with an empty body, ``/v1/models`` listing adapters with a ``parent``,
streamed chat completions with a usage event), and records every request it gets. The tests
check what the runtime sends: the adapter's name as ``model``, the base model's name otherwise,
``response_format`` for a schema, and never a request for an adapter the server does not list.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ragtune.adapters import AdapterCatalog
from ragtune.config import load_settings
from ragtune.errors import AdapterError, AdapterNotServedError
from ragtune.gguf.files import check_model_file
from ragtune.runtime import AdapterUse, ChatMessage, GenerationOptions
from ragtune.runtime.server import ServerRuntime

QUESTION = [ChatMessage(role="user", content="Which warranty applies?")]
BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"


class FakeOpenAIServer:
    """Records the chat requests; answers each with "Hello world" in two deltas and a usage event."""

    def __init__(self, adapters: list[str]) -> None:
        self.requests: list[dict[str, Any]] = []
        models = {"object": "list", "data": [{"id": BASE, "object": "model", "parent": None}]
                  + [{"id": name, "object": "model", "parent": BASE} for name in adapters]}
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, data: bytes, kind: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send(b"" if self.path == "/health" else json.dumps(models).encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorded.append(body)
                chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]},
                          {"choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]},
                          {"choices": [{"index": 0, "delta": {"content": " world"}, "finish_reason": None}]},
                          {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                          {"choices": [], "usage": {"prompt_tokens": 31, "completion_tokens": 2,
                                                    "prompt_tokens_details": {"cached_tokens": 16}}}]
                stream = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
                self._send(stream.encode(), "text/event-stream")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def setup(tiny_model, random_lora, second_lora, tmp_path):
    """A catalog with 'adapter-a' (served) and 'adapter-b' (not served), and the runtime on the fake server."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copyfile(random_lora, shipped / "adapter-a.gguf")
    shutil.copyfile(second_lora, shipped / "adapter-b.gguf")
    server = FakeOpenAIServer(["adapter-a"])
    catalog = AdapterCatalog(load_settings(), shipped_dir=shipped)
    runtime = ServerRuntime(server.url, summary=check_model_file(tiny_model), model_id="tiny",
                            dialect="openai-lora", timeout_s=10, catalog=catalog)
    yield runtime, server, shipped
    runtime.close()
    server.close()


def test_a_base_request_names_the_base_model_and_sends_no_lora_field(setup):
    runtime, server, _ = setup
    result = runtime.chat(QUESTION, options=GenerationOptions(max_tokens=16))
    [sent] = server.requests
    assert sent["model"] == BASE and "lora" not in sent and sent["stream"] is True
    assert result.text == "Hello world" and result.finish_reason == "stop"
    assert (result.timings.prompt_tokens, result.timings.cached_prompt_tokens,
            result.timings.completion_tokens) == (31, 16, 2)


def test_an_adapter_request_names_the_adapter_as_the_model(setup):
    runtime, server, shipped = setup
    runtime.chat(QUESTION, adapters=[AdapterUse(path=shipped / "adapter-a.gguf")], options=GenerationOptions())
    assert server.requests[-1]["model"] == "adapter-a"


def test_a_schema_goes_as_response_format(setup):
    runtime, server, _ = setup
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    runtime.chat(QUESTION, options=GenerationOptions(json_schema=schema))
    assert server.requests[-1]["response_format"] == {"type": "json_schema",
                                                      "json_schema": {"name": "answer", "schema": schema}}


def test_an_adapter_the_server_does_not_list_is_never_requested(setup):
    runtime, server, shipped = setup
    with pytest.raises(AdapterNotServedError, match="does not list a model named 'adapter-b'"):
        runtime.chat(QUESTION, adapters=[AdapterUse(path=shipped / "adapter-b.gguf")])
    assert server.requests == []


@pytest.mark.parametrize("scales", [(1.0, 1.0), (0.5,)])
def test_a_mix_or_a_scale_the_dialect_cannot_express_is_refused(setup, scales):
    runtime, server, shipped = setup
    both = [Path(shipped / "adapter-a.gguf"), Path(shipped / "adapter-a.gguf")]
    uses = [AdapterUse(path=path, scale=scale) for path, scale in zip(both, scales)]
    with pytest.raises(AdapterError, match="one adapter per request at its trained scale"):
        runtime.chat(QUESTION, adapters=uses)
    assert server.requests == []


def test_status_lists_the_served_model_and_which_adapters_are_served(setup):
    runtime, _, _ = setup
    status = runtime.backend_status()
    assert status.healthy and status.model == BASE and status.model_matches is None
    assert {(a.name, a.served) for a in status.adapters} == {("adapter-a", True), ("adapter-b", False)}
