"""The server runtime: the same :class:`~ragtune.runtime.base.Runtime` over a model server's HTTP API.

The model runs in llama-server (``make serve-model``) or any OpenAI-compatible server; this
process sends each request and streams the answer back (``/v1/chat/completions``, server-sent
events). There is no process-wide lock: requests run at once, each in a server slot
(:attr:`ServerRuntime.concurrent`).

Adapters, by dialect (``RAGTUNE_SERVER_DIALECT``):

* ``llamacpp``: every request carries llama-server's ``lora`` field with **every** adapter the
  server loaded and an explicit scale, 0 for those not applied. A request without the field, or
  with ``"lora": []``, is answered with every adapter at the scale it was loaded with (1.0, even
  under ``--lora-init-without-apply``), so a base answer needs the explicit zeros. The ids are read
  from ``GET /lora-adapters`` right before each request and matched to the app's files by content
  (:mod:`ragtune.runtime.server_adapters`); an adapter the server lacks is an error, never replaced.
* ``openai-lora`` (vLLM ``--lora-modules``, SGLang, LoRAX): the adapter's name is the request's
  ``model``, the base model's name otherwise; one adapter per request, at its trained scale.

Where each timing comes from (the README lists them too): ``ttft_ms`` and ``total_ms`` are
measured here on the stream; ``prompt_tokens`` is the server's ``prompt_n + cache_n``,
``cached_prompt_tokens`` its ``cache_n``, ``prompt_eval_ms`` its ``prompt_ms``,
``completion_tokens`` its ``predicted_n``, ``generation_ms`` its ``predicted_ms`` and
``tokens_per_s`` its ``predicted_per_second`` (``timings_per_token``: every event carries them, so
they stay right when the answer is cut short here); ``queue_wait_ms`` is the part of the time to
first token the server did not spend on the prompt (waiting for a free slot, plus HTTP);
``adapter_switch_ms`` is 0 (the server applies adapters per batch and does not report it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ragtune.errors import AdapterError, AdapterNotServedError, InputError, RuntimeBackendError
from ragtune.gguf.files import check_adapter_file
from ragtune.gguf.summary import GGUFSummary
from ragtune.runtime.base import (
    AdapterInfo,
    AdapterUse,
    BackendStatus,
    ChatMessage,
    Completion,
    CompletionResult,
    GenerationOptions,
    Runtime,
    Timings,
    _Finisher,
    validate_messages,
)
from ragtune.runtime.server_adapters import (
    ChecksumCache,
    ServerAdapter,
    find_served,
    lacking_reason,
    parse_lora_adapters,
    parse_openai_models,
)
from ragtune.runtime.server_http import ServerClient
from ragtune.runtime.stops import FinishReason, StopScanner

if TYPE_CHECKING:
    from ragtune.adapters import AdapterCatalog

Dialect = Literal["llamacpp", "openai-lora"]
STATUS_TIMEOUT_S = 2.0
"""The longest :meth:`ServerRuntime.backend_status` waits in all (the sidebar asks on every page)."""


def _ms(start: float, end: float) -> float:
    return round((end - start) * 1000.0, 3)


class ServerRuntime(Runtime):
    """A chat model served over HTTP.

    Args:
        url: The server's root URL (``RAGTUNE_SERVER_URL``).
        summary: The header of the local copy of the model the server should serve: adapters are
            checked against it, and the model card shows it.
        model_id: The registry id of the selected model (compared with the one the server serves).
        api_key: ``RAGTUNE_SERVER_API_KEY``; None: no key.
        dialect: How a request selects its adapters (see the module docstring).
        timeout_s: ``RAGTUNE_SERVER_TIMEOUT_S``: connecting, the first token, and between tokens.
        n_ctx: The context per request assumed until the server reports its own.
        cache_prompt: Let the server reuse a cached prompt prefix (False: every request evaluates its
            whole prompt; at temperature 0 a reused prefix can change the text, see the README).
        catalog: The app's adapters for this model, listed by :meth:`backend_status` (None: only the
            server's own list).

    The constructor does not contact the server: the app starts while the server is down, and
    each request says what is wrong until it is back.
    """

    concurrent = True

    def __init__(
        self,
        url: str,
        *,
        summary: GGUFSummary,
        model_id: str,
        api_key: str | None = None,
        dialect: Dialect = "llamacpp",
        timeout_s: float = 60.0,
        n_ctx: int = 4096,
        cache_prompt: bool = True,
        catalog: AdapterCatalog | None = None,
    ) -> None:
        self.url = url
        self.model_id = model_id
        self.summary = summary
        self.dialect: Dialect = dialect
        self.cache_prompt = cache_prompt
        self._client = ServerClient(url, api_key=api_key, timeout_s=timeout_s)
        self._catalog = catalog
        self._n_ctx = n_ctx
        self._server_n_ctx: int | None = None
        self._slots_total: int | None = None
        self._checksums = ChecksumCache()
        self._state = threading.Lock()
        self._loaded: dict[Path, AdapterInfo] = {}
        self._in_flight = 0
        self._cold_next = False

    @property
    def n_ctx(self) -> int:  # type: ignore[override]
        """The context per request: the server's, once it said (``/props``), else the configured one."""
        return self._server_n_ctx or self._n_ctx

    # -- adapters --------------------------------------------------------------------------
    def _served(self, *, timeout_s: float | None = None) -> list[ServerAdapter]:
        """The adapters the server has now, with their request ids (fresh: ids follow the server's order)."""
        if self.dialect == "openai-lora":
            _, names = self._openai_models(timeout_s=timeout_s)
            return [ServerAdapter(id=i, path=name, name=name) for i, name in enumerate(names)]
        payload = self._client.request_json("GET", "/lora-adapters", timeout_s=timeout_s)
        try:
            return parse_lora_adapters(payload, self._checksums)
        except ValueError as exc:
            raise RuntimeBackendError(f"The model server at {self.url} answered /lora-adapters oddly ({exc}): "
                                      "is it llama-server?") from exc

    def _openai_models(self, *, timeout_s: float | None = None) -> tuple[str, list[str]]:
        payload = self._client.request_json("GET", "/v1/models", timeout_s=timeout_s)
        try:
            return parse_openai_models(payload)
        except ValueError as exc:
            raise RuntimeBackendError(f"The model server at {self.url} answered /v1/models oddly ({exc}).") from exc

    def _match(self, served: list[ServerAdapter], path: Path, name: str) -> ServerAdapter:
        """The served adapter that is the file at ``path``.

        Raises:
            AdapterNotServedError: the server does not serve it (the message says what to do).
        """
        if self.dialect == "openai-lora":
            found = next((a for a in served if a.name == name), None)
            if found is None:
                raise AdapterNotServedError(
                    f"The adapter '{name}' cannot be used: the model server at {self.url} does not list a model "
                    f"named '{name}'. Serve it there (vLLM: --lora-modules {name}=PATH) and restart the server."
                )
            return found
        sha = self._checksums.sha256(path)
        found = find_served(served, name, sha)
        if found is None:
            raise AdapterNotServedError(f"The adapter '{name}' cannot be used: "
                                        f"{lacking_reason(served, name, sha, self.url)}.")
        return found

    def load_adapter(self, path: Path, *, name: str | None = None) -> AdapterInfo:
        """Check the file against the model, and that the server serves this very file.

        Raises:
            AdapterError: the file is not a LoRA adapter for this model.
            AdapterNotServedError: the server does not serve it.
            RuntimeBackendError: the server cannot be asked.
        """
        path = Path(path).expanduser().resolve()
        start = time.perf_counter()
        summary = check_adapter_file(path, self.summary)
        name = name or path.stem
        self._match(self._served(), path, name)
        ranks = {shape[1] for t, shape in summary.tensors.items() if t.endswith(".lora_a")}
        alpha = summary.metadata.get("adapter.lora.alpha")
        info = AdapterInfo(
            name=name, path=path, size_bytes=summary.size_bytes, rank=ranks.pop() if len(ranks) == 1 else None,
            alpha=float(alpha) if isinstance(alpha, (int, float)) else None, n_tensors=len(summary.tensors),
            load_ms=_ms(start, time.perf_counter()),
        )
        with self._state:
            self._loaded.setdefault(path, info)
        return info

    def loaded_adapters(self) -> list[AdapterInfo]:
        with self._state:
            return list(self._loaded.values())

    # -- the request -----------------------------------------------------------------------
    def chat_request(self, messages: Sequence[ChatMessage], adapters: Sequence[AdapterUse],
                     options: GenerationOptions) -> dict[str, Any]:
        """The exact JSON body sent to ``/v1/chat/completions`` (adapter ids read from the server now).

        Raises:
            AdapterError: the dialect cannot express this adapter set.
            AdapterNotServedError: an adapter the server does not serve.
            RuntimeBackendError: the server cannot be asked.
        """
        body: dict[str, Any] = {
            "messages": [m.model_dump() for m in messages],
            "stream": True,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "seed": options.seed,
        }
        if options.stop:
            body["stop"] = list(options.stop)
        with self._state:
            cold, self._cold_next = self._cold_next, False
        if self.dialect == "openai-lora":
            body["model"] = self._openai_model_for(adapters)
            body["stream_options"] = {"include_usage": True}
            if options.json_schema is not None:
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": "answer", "schema": options.json_schema}}
            return body
        served = self._served()
        scales = {a.id: 0.0 for a in served}
        for use in adapters:
            scales[self._match(served, use.path, self._name_of(use.path)).id] = float(use.scale)
        body.update({
            # every adapter, each with an explicit scale: no field (or []) would apply them all
            "lora": [{"id": i, "scale": s} for i, s in sorted(scales.items())],
            "top_k": options.top_k,
            "min_p": 0.0 if options.temperature == 0 else 0.05,  # as in process
            "repeat_penalty": options.repeat_penalty,
            "cache_prompt": self.cache_prompt and not cold,
            "timings_per_token": True,  # every event carries the timings: right even when cut short
            "sse_ping_interval": -1,  # no keep-alive pings: silence for timeout_s is a stall
            "reasoning_format": "none",  # the raw text, as the in-process runtime gives it
        })
        if options.json_schema is not None:
            body["json_schema"] = options.json_schema
        return body

    def _name_of(self, path: Path) -> str:
        with self._state:
            info = self._loaded.get(Path(path).expanduser().resolve())
        return info.name if info is not None else Path(path).stem

    def _openai_model_for(self, adapters: Sequence[AdapterUse]) -> str:
        base, _ = self._openai_models()
        if not adapters:
            return base
        if len(adapters) > 1 or adapters[0].scale != 1.0:
            raise AdapterError(
                "RAGTUNE_SERVER_DIALECT=openai-lora applies one adapter per request at its trained scale (1.0); "
                "this request asks for " + ", ".join(f"{self._name_of(u.path)} x{u.scale:g}" for u in adapters)
                + ". Use llama-server (dialect llamacpp) for adapter mixes and scales."
            )
        served = self._served()
        return self._match(served, adapters[0].path, self._name_of(adapters[0].path)).name

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        adapters: Sequence[AdapterUse] = (),
        options: GenerationOptions | None = None,
    ) -> Completion:
        messages = validate_messages(messages)
        options = options or GenerationOptions()
        adapters = list(adapters)
        for use in adapters:  # errors surface before streaming, as in process
            with self._state:
                known = Path(use.path).expanduser().resolve() in self._loaded
            if not known:
                self.load_adapter(use.path)
        finisher = _Finisher()
        return Completion(self._generate(messages, adapters, options, finisher), finisher)

    def _generate(self, messages: list[ChatMessage], adapters: list[AdapterUse], options: GenerationOptions,
                  finisher: _Finisher) -> Iterator[str]:
        start = time.perf_counter()
        with self._state:
            self._in_flight += 1
        try:
            if self.dialect == "llamacpp":
                self._check_fits(messages, options)
            # The ids are read right before the request: a restarted server may number them anew.
            body = self.chat_request(messages, adapters, options)
            scanner = StopScanner(list(options.stop), json_end=options.stop_at_json_end,
                                  repetition=options.repetition)
            hold = scanner.hold
            text, emitted, deltas = "", 0, 0
            finish: FinishReason = "length"
            server: dict[str, Any] = {}
            usage: dict[str, Any] = {}
            t_first = t_last = None
            events = self._client.stream_events("/v1/chat/completions", body)
            try:
                for event in events:
                    now = time.perf_counter()
                    if isinstance(event.get("timings"), dict):
                        server = event["timings"]
                    if isinstance(event.get("usage"), dict):
                        usage = event["usage"]
                    choices = event.get("choices") or [{}]
                    choice = choices[0] if isinstance(choices[0], dict) else {}
                    delta = (choice.get("delta") or {}).get("content") or ""
                    if delta:
                        t_first = t_first or now
                        t_last = now
                        deltas += 1
                        text += delta
                        stop = scanner.scan(text)
                        if stop is not None:  # closing the stream below ends the generation
                            text, finish = text[: stop.end], stop.reason
                            break
                        safe = len(text) - hold
                        if safe > emitted:
                            yield text[emitted:safe]
                            emitted = safe
                        produced = int(server.get("predicted_n") or deltas)
                        if options.free_text_max_tokens is not None and scanner.json_object is False \
                                and produced >= options.free_text_max_tokens:
                            break
                    if choice.get("finish_reason"):
                        finish = "stop" if choice["finish_reason"] == "stop" else "length"
            finally:
                events.close()
            if finish == "length":
                stop = scanner.scan(text, final=True)
                if stop is not None:
                    text, finish = text[: stop.end], stop.reason
            if len(text) > emitted:
                yield text[emitted:]
            end = time.perf_counter()
            finisher.result = CompletionResult(
                text=text, finish_reason=finish, model_id=self.model_id, adapters=adapters,
                timings=self._timings(server, usage, deltas, start, t_first or end, t_last or end, end),
            )
        finally:
            with self._state:
                self._in_flight -= 1

    @staticmethod
    def _timings(server: dict[str, Any], usage: dict[str, Any], deltas: int, start: float, t_first: float,
                 t_last: float, end: float) -> Timings:
        ttft = _ms(start, t_first)

        def num(key: str) -> float:
            value = server.get(key)
            return float(value) if isinstance(value, (int, float)) else 0.0

        if server:  # llama-server's own measurements
            prompt_ms = round(num("prompt_ms"), 3)
            return Timings(
                queue_wait_ms=round(max(0.0, ttft - prompt_ms), 3),
                prompt_tokens=int(num("prompt_n") + num("cache_n")), cached_prompt_tokens=int(num("cache_n")),
                prompt_eval_ms=prompt_ms, ttft_ms=ttft, generation_ms=round(num("predicted_ms"), 3),
                completion_tokens=int(num("predicted_n")), tokens_per_s=round(num("predicted_per_second"), 2),
                total_ms=_ms(start, end),
            )
        # An OpenAI-compatible server: its usage counts, and what the stream shows here.
        generation_s = t_last - t_first
        details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
        completion = int(usage.get("completion_tokens") or deltas)
        return Timings(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            cached_prompt_tokens=int(details.get("cached_tokens") or 0),
            ttft_ms=ttft, generation_ms=round(generation_s * 1000.0, 3), completion_tokens=completion,
            tokens_per_s=round((deltas - 1) / generation_s, 2) if deltas > 1 and generation_s > 0 else 0.0,
            total_ms=_ms(start, end),
        )

    # -- tokens ----------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as generated text, by the server's tokenizer (``/tokenize``).

        Raises:
            NotImplementedError: the openai-lora dialect (no standard tokenize endpoint).
            RuntimeBackendError: the server cannot be asked.
        """
        if self.dialect != "llamacpp":
            raise NotImplementedError("an OpenAI-compatible server has no standard tokenize endpoint")
        body = {"content": text, "add_special": False, "parse_special": False}
        return len(self._client.request_json("POST", "/tokenize", body).get("tokens", []))

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of ``messages`` as a prompt, counted by the server as it would run them (its chat
        template and tokenizer: ``/v1/chat/completions/input_tokens``)."""
        if self.dialect != "llamacpp":
            raise NotImplementedError("an OpenAI-compatible server has no standard tokenize endpoint")
        messages = validate_messages(messages)
        answer = self._client.request_json("POST", "/v1/chat/completions/input_tokens",
                                           {"messages": [m.model_dump() for m in messages]})
        count = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(count, int):
            raise RuntimeBackendError(f"The model server at {self.url} did not count the prompt's tokens.")
        return count

    def _context_size(self) -> int | None:
        """The server's context per request (``/props``), asked once."""
        if self._server_n_ctx is None:
            props = self._client.request_json("GET", "/props")
            settings = props.get("default_generation_settings") if isinstance(props, dict) else None
            if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
                self._server_n_ctx = settings["n_ctx"]
        return self._server_n_ctx

    def _check_fits(self, messages: list[ChatMessage], options: GenerationOptions) -> None:
        """Refuse a prompt that leaves no room for the answer, as in process (the server would cut the
        answer where its context ends)."""
        n_ctx = self._context_size()
        if n_ctx is None:
            return
        tokens = self.count_prompt_tokens(messages)
        if tokens + options.max_tokens > n_ctx:
            raise InputError(
                f"The prompt has {tokens} tokens; with up to {options.max_tokens} answer tokens it exceeds the "
                f"context window of {n_ctx} of the model server. Shorten the input, lower the answer length, or "
                "restart `make serve-model` with a larger RAGTUNE_N_CTX."
            )

    # -- state -----------------------------------------------------------------------------
    def reset_cache(self) -> None:
        """Make this runtime's next request evaluate its whole prompt (``cache_prompt: false``)."""
        with self._state:
            self._cold_next = True

    def _note_slots(self, total: int) -> None:
        with self._state:
            self._slots_total = total

    def is_busy(self) -> bool:
        """Whether this app keeps every server slot busy now (known once the server reported its slots)."""
        with self._state:
            return self._slots_total is not None and self._in_flight >= self._slots_total

    def close(self) -> None:
        self._client.close()

    def backend_status(self) -> BackendStatus:
        """Health, served model, adapters and busy slots, within :data:`STATUS_TIMEOUT_S` in all."""
        from ragtune.runtime.server_status import server_status

        return server_status(self, limit_s=min(STATUS_TIMEOUT_S, self._client.timeout_s))
