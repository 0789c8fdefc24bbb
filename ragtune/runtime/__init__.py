"""LLM runtimes: the :class:`Runtime` interface, the in-process llama.cpp runtime, and the server
runtime (llama-server or any OpenAI-compatible server, ``RAGTUNE_RUNTIME=server``)."""

from __future__ import annotations

from collections.abc import Callable

from ragtune.config import Settings
from ragtune.errors import ConfigError
from ragtune.models import ModelRegistry
from ragtune.runtime.base import (
    AdapterInfo,
    AdapterUse,
    BackendStatus,
    ChatMessage,
    Completion,
    CompletionResult,
    GenerationOptions,
    Runtime,
    ServedAdapter,
    Timings,
)

__all__ = [
    "AdapterInfo",
    "AdapterUse",
    "BackendStatus",
    "ChatMessage",
    "Completion",
    "CompletionResult",
    "GenerationOptions",
    "Runtime",
    "ServedAdapter",
    "Timings",
    "load_runtime",
]


def load_runtime(
    settings: Settings,
    *,
    registry: ModelRegistry | None = None,
    model_id: str | None = None,
    progress: Callable[[str], None] | None = None,
    inprocess: bool = False,
) -> Runtime:
    """Check the chosen model's file and load it in process, or connect to the model server.

    With ``RAGTUNE_RUNTIME=server`` the model runs on the server at ``RAGTUNE_SERVER_URL``; the
    local copy of the model is still checked (adapters are checked against its header, and the
    server's model is compared with it). The server is not contacted here: a server that is down
    makes each request fail with a clear error until it is back. ``inprocess`` loads the model here
    whatever the setting (commands that measure freshly trained adapter files no server has loaded).

    Raises:
        ModelError: the model is unknown, missing or fails its checks.
        RuntimeBackendError: llama.cpp could not load it.
    """
    registry = registry or ModelRegistry(settings)
    spec = registry.get(model_id or registry.default_id())
    summary = registry.verify(spec, progress=progress)
    n_ctx = min(settings.n_ctx, summary.context_length or settings.n_ctx)
    if settings.runtime == "server" and not inprocess:
        from ragtune.adapters import AdapterCatalog
        from ragtune.runtime.server import ServerRuntime

        if settings.server_url is None:  # pragma: no cover - Settings refuses it
            raise ConfigError("RAGTUNE_SERVER_URL is required when RAGTUNE_RUNTIME=server.")
        key = settings.server_api_key.get_secret_value() if settings.server_api_key else None
        return ServerRuntime(
            settings.server_url, summary=summary, model_id=spec.id, api_key=key, dialect=settings.server_dialect,
            timeout_s=settings.server_timeout_s, n_ctx=n_ctx, catalog=AdapterCatalog(settings, model_id=spec.id),
        )
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    if progress:
        progress(f"Loading {spec.name} into llama.cpp")
    return LlamaCppRuntime(
        summary.path,
        summary=summary,
        model_id=spec.id,
        n_ctx=n_ctx,
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
        seed=settings.seed,
        flash_attn=settings.flash_attn,
        prefix_states=settings.prefix_states,
    )
