"""LLM runtimes: the :class:`Runtime` interface and its in-process llama.cpp implementation."""

from __future__ import annotations

from collections.abc import Callable

from ragtune.config import Settings
from ragtune.models import ModelRegistry
from ragtune.runtime.base import (
    AdapterInfo,
    AdapterUse,
    ChatMessage,
    Completion,
    CompletionResult,
    GenerationOptions,
    Runtime,
    Timings,
)

__all__ = [
    "AdapterInfo",
    "AdapterUse",
    "ChatMessage",
    "Completion",
    "CompletionResult",
    "GenerationOptions",
    "Runtime",
    "Timings",
    "load_runtime",
]


def load_runtime(
    settings: Settings,
    *,
    registry: ModelRegistry | None = None,
    model_id: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Runtime:
    """Check the chosen model's file and load it in process.

    Raises:
        ModelError: the model is unknown, missing or fails its checks.
        RuntimeBackendError: llama.cpp could not load it.
    """
    from ragtune.runtime.llamacpp import LlamaCppRuntime

    registry = registry or ModelRegistry(settings)
    spec = registry.get(model_id or registry.default_id())
    summary = registry.verify(spec, progress=progress)
    if progress:
        progress(f"Loading {spec.name} into llama.cpp")
    return LlamaCppRuntime(
        summary.path,
        summary=summary,
        model_id=spec.id,
        n_ctx=min(settings.n_ctx, summary.context_length or settings.n_ctx),
        n_threads=settings.n_threads,
        n_batch=settings.n_batch,
        seed=settings.seed,
    )
