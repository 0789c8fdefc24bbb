"""The model server's status for the sidebar and ``doctor``: :meth:`ServerRuntime.backend_status`.

Health (``/health``), the served model (llama-server's ``/props``: its alias and file; an
OpenAI-compatible server's ``/v1/models``), the app's adapters each served or why not, and busy
slots (``/slots``: the slots processing a request now, of ``total_slots``). Every call shares one
short deadline, and any failure becomes the status's ``error``: this never raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.errors import AdapterError, RagtuneError, RuntimeBackendError, ServerAuthError
from ragtune.runtime.base import BackendStatus, ServedAdapter

if TYPE_CHECKING:
    from ragtune.runtime.server import ServerRuntime
    from ragtune.runtime.server_adapters import ServerAdapter


def server_status(runtime: ServerRuntime, *, limit_s: float) -> BackendStatus:
    """The status of ``runtime``'s server, asked within ``limit_s`` seconds in all."""
    deadline = time.monotonic() + limit_s

    def left() -> float:
        return max(0.05, deadline - time.monotonic())

    status: dict[str, Any] = {"kind": "server", "url": runtime.url, "healthy": False}
    try:
        health = runtime._client.request_json("GET", "/health", timeout_s=left(), empty_ok=True)
        if isinstance(health, dict) and health.get("status") not in (None, "ok"):
            raise RuntimeBackendError(f"The model server at {runtime.url} reports {health.get('status')!r}.")
    except RagtuneError as exc:
        status["error"] = str(exc)
        return BackendStatus(**status)
    # It answers: healthy. A busy server may not find time for the details within the deadline; that is
    # said as such (details_missing), never as a server that is down.
    status["healthy"] = True
    try:
        if runtime.dialect == "llamacpp":
            status.update(_llamacpp_model_and_slots(runtime, left))
        else:
            base, _ = runtime._openai_models(timeout_s=left())
            status.update(model=base, model_matches=True if base == runtime.model_id else None)
        status["adapters"] = adapter_table(runtime, runtime._served(timeout_s=left()))
    except ServerAuthError as exc:  # it answers /health to anyone, and nothing else to this app
        status.update(healthy=False, error=str(exc))
    except RagtuneError as exc:
        status["error"] = f"it answers, but its details did not come in time ({exc})"
    return BackendStatus(**status)


def _llamacpp_model_and_slots(runtime: ServerRuntime, left: Callable[[], float]) -> dict[str, Any]:
    props = runtime._client.request_json("GET", "/props", timeout_s=left())
    props = props if isinstance(props, dict) else {}
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
        runtime._server_n_ctx = settings["n_ctx"]
    path = str(props.get("model_path") or "")
    alias = str(props.get("model_alias") or "")
    file = Path(path.replace("\\", "/")).name
    # `make serve-model` names the model by its registry id (--alias); a server started by hand by its file
    matches = alias == runtime.model_id or file == runtime.summary.path.name
    found: dict[str, Any] = {"model": alias if not file or alias == file else f"{alias} ({file})",
                             "model_matches": matches}
    if isinstance(props.get("total_slots"), int):
        found["slots_total"] = props["total_slots"]
        runtime._note_slots(props["total_slots"])
    try:
        slots = runtime._client.request_json("GET", "/slots", timeout_s=left())
    except RagtuneError:  # started with --no-slots: the busy count stays unknown
        return found
    if isinstance(slots, list):
        found["slots_busy"] = sum(1 for s in slots if isinstance(s, dict) and s.get("is_processing"))
    return found


def adapter_table(runtime: ServerRuntime, served: list[ServerAdapter]) -> list[ServedAdapter]:
    """The app's adapters for this model, each served or why not; then the served ones the app lacks."""
    entries = runtime._catalog.list() if runtime._catalog is not None else []
    rows, used = [], set()
    for entry in entries:
        try:
            found = runtime._match(served, Path(entry.path), entry.name)
        except (AdapterError, OSError) as exc:
            rows.append(ServedAdapter(name=entry.name, served=False, why=str(exc)))
            continue
        used.add(found.id)
        rows.append(ServedAdapter(name=entry.name, served=True))
    lacking = ("served, but no adapter of this app has its checksum" if runtime.dialect == "llamacpp"
               else "served, but not in this app's catalog")
    rows += [ServedAdapter(name=a.name, served=False, why=lacking) for a in served if a.id not in used]
    return rows
