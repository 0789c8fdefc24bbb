"""HTTP to a model server: JSON calls and server-sent event streams, every failure a clear error.

One :class:`ServerClient` per runtime holds a pooled ``httpx.Client`` (thread-safe, so concurrent
requests share connections). Each failure a user can meet becomes a
:class:`~ragtune.errors.RuntimeBackendError` that names the server and what to do: the server is
down or refuses the connection, the API key is wrong, it is still loading its model, it answers
too slowly, or it dies in the middle of an answer. A request the server rejects as too long for
its context is an :class:`~ragtune.errors.InputError`, as in process.

Timeouts: ``timeout_s`` bounds the connection, the wait for the first byte and the wait between
two bytes (httpx's read timeout), and, for a stream, the time between two data events (a server
that sends only keep-alive comments is stalled too). Nothing waits longer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from ragtune.errors import InputError, RuntimeBackendError, ServerAuthError

_FIX_URL = "Start it (`make serve-model`) or check RAGTUNE_SERVER_URL."
_MAX_ERROR_CHARS = 300


def _server_message(response: httpx.Response) -> str:
    """The error text a server put in its body (OpenAI shape, llama-server's, or plain text), short."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
    else:
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            text = str(error.get("message") or error)
        elif error is not None:
            text = str(error)
        else:
            text = str(body.get("message") or body.get("detail") or body) if isinstance(body, dict) else str(body)
    return " ".join(text.split())[:_MAX_ERROR_CHARS]


class ServerClient:
    """JSON and SSE calls to one server.

    Args:
        url: The server's root URL (``Settings.server_url``: normalized, no trailing slash).
        api_key: Sent as ``Authorization: Bearer``; None: no header.
        timeout_s: The limit on connecting, on the first byte and between bytes or events.
    """

    def __init__(self, url: str, *, api_key: str | None = None, timeout_s: float = 60.0) -> None:
        self.url = url
        self.timeout_s = float(timeout_s)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
            trust_env=False,  # a proxy from the environment must not sit between the app and its server
        )

    def close(self) -> None:
        self._http.close()

    # -- errors ----------------------------------------------------------------------------
    def _transport_error(self, exc: httpx.HTTPError, path: str, timeout_s: float) -> RuntimeBackendError:
        where = f"The model server at {self.url}"
        if isinstance(exc, httpx.TimeoutException):
            return RuntimeBackendError(
                f"{where} did not answer {path} within {timeout_s:g} s (RAGTUNE_SERVER_TIMEOUT_S). It may be "
                "overloaded or stuck: check it, or raise the timeout."
            )
        if isinstance(exc, httpx.ConnectError):
            return RuntimeBackendError(f"{where} cannot be reached ({_reason(exc)}). {_FIX_URL}")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
            return RuntimeBackendError(
                f"{where} closed the connection in the middle of {path} ({_reason(exc)}): it stopped or "
                "restarted. Try again once it is back."
            )
        return RuntimeBackendError(f"{where} failed on {path} ({type(exc).__name__}: {_reason(exc)}).")

    def _status_error(self, response: httpx.Response, path: str) -> Exception:
        where = f"The model server at {self.url}"
        status = response.status_code
        message = _server_message(response)
        if status in (401, 403):
            return ServerAuthError(
                f"{where} refused the API key (HTTP {status}: {message}). Set RAGTUNE_SERVER_API_KEY to the "
                "key it was started with (llama-server's --api-key)."
            )
        if status == 503:
            return RuntimeBackendError(f"{where} is not ready ({message}); it may still be loading its model. "
                                       "Try again in a moment.")
        if status == 404:
            return RuntimeBackendError(
                f"{where} has no {path} (HTTP 404: {message}). Is it llama-server? For vLLM, SGLang or LoRAX "
                "set RAGTUNE_SERVER_DIALECT=openai-lora."
            )
        if status == 400 and "context" in message.lower():
            return InputError(f"The prompt does not fit the model server's context window ({message}). Shorten the "
                              "input or lower the answer length; the server's context per request is "
                              "RAGTUNE_N_CTX when it was started by `make serve-model`.")
        if status == 400:
            return InputError(f"{where} refused the request to {path} (HTTP 400: {message}).")
        return RuntimeBackendError(f"{where} answered {path} with HTTP {status} ({message}).")

    # -- calls -----------------------------------------------------------------------------
    def request_json(self, method: str, path: str, body: Any = None, *, timeout_s: float | None = None,
                     empty_ok: bool = False) -> Any:
        """One call whose answer is JSON (``empty_ok``: or an empty body, answered as None: vLLM's /health).

        Raises:
            RuntimeBackendError: unreachable, too slow, refused, or not JSON.
            InputError: the server refused the request as invalid (HTTP 400).
        """
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            response = self._http.request(method, path, json=body, timeout=httpx.Timeout(limit))
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path, limit) from exc
        if response.status_code >= 400:
            raise self._status_error(response, path)
        if empty_ok and not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise RuntimeBackendError(
                f"The model server at {self.url} answered {path} with something that is not JSON: is "
                "RAGTUNE_SERVER_URL the model server's address?"
            ) from exc

    def stream_events(self, path: str, body: Any) -> Iterator[dict[str, Any]]:
        """POST ``body`` and yield each server-sent ``data:`` event as JSON, until ``[DONE]``.

        Closing the generator closes the connection, which makes llama-server stop generating.

        Raises:
            RuntimeBackendError: unreachable, refused, stalled for ``timeout_s``, died mid-stream,
                or sent an error event.
            InputError: the server refused the request as invalid (HTTP 400).
        """
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._status_error(response, path)
                last_event = time.monotonic()
                for line in response.iter_lines():
                    now = time.monotonic()
                    if not line.startswith("data:"):
                        # a comment (": ping") or a blank separator: alive, but no progress
                        if now - last_event > self.timeout_s:
                            raise RuntimeBackendError(
                                f"The model server at {self.url} sent nothing for {self.timeout_s:g} s "
                                "(RAGTUNE_SERVER_TIMEOUT_S) but keep-alive pings: it is stuck or overloaded."
                            )
                        if line.startswith("error:"):
                            raise self._event_error(line.removeprefix("error:"), path)
                        continue
                    last_event = now
                    data = line.removeprefix("data:").strip()
                    if data == "[DONE]":
                        return
                    try:
                        event = json.loads(data)
                    except ValueError as exc:
                        raise RuntimeBackendError(
                            f"The model server at {self.url} sent an event that is not JSON on {path}."
                        ) from exc
                    if isinstance(event, dict) and "error" in event:
                        raise self._event_error(data, path)
                    if isinstance(event, dict):
                        yield event
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, path, self.timeout_s) from exc

    def _event_error(self, data: str, path: str) -> RuntimeBackendError:
        try:
            error = json.loads(data)
            error = error.get("error", error) if isinstance(error, dict) else error
            message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        except ValueError:
            message = data
        message = " ".join(message.split())[:_MAX_ERROR_CHARS]
        return RuntimeBackendError(f"The model server at {self.url} failed during {path}: {message}")


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:_MAX_ERROR_CHARS] if text else type(exc).__name__
