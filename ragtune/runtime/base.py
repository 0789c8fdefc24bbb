"""The runtime interface: a loaded chat model that streams answers with timings.

A :class:`Runtime` holds one model. Callers ask for a chat completion with an
optional set of LoRA adapters (each with a scale); the runtime applies exactly that
set for the request, so a base answer is never produced with an adapter still on.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ragtune.errors import InputError
from ragtune.gguf.summary import GGUFSummary
from ragtune.runtime.stops import FinishReason, RepetitionRule


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


class GenerationOptions(BaseModel):
    """Sampling options for one request. ``temperature=0`` is greedy and deterministic."""

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(default=256, ge=1, le=8192)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0, le=1000)
    repeat_penalty: float = Field(default=1.0, ge=0.5, le=2.0)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    stop: list[str] = Field(default_factory=list, max_length=8)
    json_schema: dict[str, Any] | None = Field(
        default=None, description="Constrain the output to JSON of this schema (grammar)."
    )
    stop_at_json_end: bool = Field(
        default=False, description="End the answer where its top-level JSON object closes."
    )
    free_text_max_tokens: int | None = Field(
        default=None, ge=1, le=8192,
        description="With stop_at_json_end: the cap once the output turns out not to be a JSON object "
        "(it is free text: a free-text answer's cap applies). None: max_tokens throughout.",
    )
    repetition: RepetitionRule | None = Field(
        default=None, description="End the answer when it loops (finish reason 'repetition'); None: never."
    )


class AdapterUse(BaseModel):
    """One adapter applied to a request, with its scale (1.0 = as trained)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    scale: float = Field(default=1.0, ge=-4.0, le=4.0)

    @field_validator("path", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()


class AdapterInfo(BaseModel):
    """An adapter the runtime has loaded (and checked against its base model)."""

    model_config = ConfigDict(frozen=True)

    name: str
    path: Path
    size_bytes: int
    rank: int | None = None
    alpha: float | None = None
    n_tensors: int
    load_ms: float


class Timings(BaseModel):
    """Where the time of one request went, measured from real events.

    ``ttft_ms`` runs from the start of the request to the first token, so it includes
    the queue wait, the adapter switch and the prompt evaluation. ``generation_ms``
    runs from the first token to the last; ``tokens_per_s`` is the decode speed over
    that span.
    """

    queue_wait_ms: float = 0.0
    adapter_switch_ms: float = 0.0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    prompt_eval_ms: float = 0.0
    ttft_ms: float = 0.0
    generation_ms: float = 0.0
    completion_tokens: int = 0
    tokens_per_s: float = 0.0
    total_ms: float = 0.0


class CompletionResult(BaseModel):
    """The finished answer of one request."""

    text: str
    finish_reason: FinishReason
    model_id: str
    adapters: list[AdapterUse] = Field(default_factory=list)
    timings: Timings


class Completion:
    """A streaming answer: iterate for text pieces; afterwards ``result`` is set.

    Iterating holds the model lock, so consume it promptly (or call :meth:`close`).
    """

    def __init__(self, pieces: Iterator[str], finish: "_Finisher") -> None:
        self._pieces = pieces
        self._finish = finish
        self._chunks: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self._chunks.append(piece)
            yield piece

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    @property
    def result(self) -> CompletionResult | None:
        return self._finish.result

    def consume(self) -> CompletionResult:
        """Read the rest of the stream and return the finished result."""
        for _ in self:
            pass
        if self._finish.result is None:  # pragma: no cover - a generator bug, not user input
            raise RuntimeError("the completion ended without a result")
        return self._finish.result

    def close(self) -> None:
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


class _Finisher:
    """Where a streaming generator leaves its result for the :class:`Completion`."""

    def __init__(self) -> None:
        self.result: CompletionResult | None = None


class ServedAdapter(BaseModel):
    """An adapter as a backend sees it: whether requests can use it here, and why not."""

    model_config = ConfigDict(frozen=True)

    name: str
    served: bool
    why: str = Field(default="", description="Why it cannot be used (empty when served).")


class BackendStatus(BaseModel):
    """The model backend's health for the sidebar and ``doctor``; never raised, always returned."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["inprocess", "server"]
    url: str | None = None
    healthy: bool
    error: str = ""
    model: str = Field(default="", description="The served model's name (the file or alias the backend reports).")
    model_matches: bool | None = Field(
        default=None, description="Whether it serves the selected model (None: it cannot be told)."
    )
    adapters: list[ServedAdapter] = Field(default_factory=list)
    slots_busy: int | None = None
    slots_total: int | None = None


class Runtime(ABC):
    """A loaded chat model. Implementations must be safe to call from many threads."""

    model_id: str
    summary: GGUFSummary
    n_ctx: int
    #: Whether requests may run at once (a server with its own slots) or queue on one lock (in process).
    concurrent: bool = False

    @abstractmethod
    def load_adapter(self, path: Path, *, name: str | None = None) -> AdapterInfo:
        """Check and load a LoRA adapter once; later requests can apply it by path.

        Raises:
            AdapterError: the file is not a LoRA adapter for this model.
        """

    @abstractmethod
    def loaded_adapters(self) -> list[AdapterInfo]:
        """The adapters loaded so far."""

    @abstractmethod
    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        adapters: Sequence[AdapterUse] = (),
        options: GenerationOptions | None = None,
    ) -> Completion:
        """Start a chat completion with exactly ``adapters`` applied (none: base model)."""

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        adapters: Sequence[AdapterUse] = (),
        options: GenerationOptions | None = None,
    ) -> CompletionResult:
        """Run a chat completion to the end and return it."""
        return self.stream_chat(messages, adapters=adapters, options=options).consume()

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """How many tokens ``messages`` take as a prompt (chat template included).

        Raises:
            NotImplementedError: a runtime that cannot tokenize locally.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot count prompt tokens")

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` takes as generated text (no chat template, no BOS).

        Raises:
            NotImplementedError: a runtime that cannot tokenize locally.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot count tokens")

    def reset_cache(self) -> None:  # noqa: B027 - optional hook
        """Forget any reusable prompt prefix (benchmarks measure cold prompts with it)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Free the model."""

    def backend_status(self) -> BackendStatus:
        """The backend's health, model, adapters and busy slots. Never raises, never blocks long.

        The default describes an in-process model: always healthy, one slot (its lock).
        """
        adapters = [ServedAdapter(name=info.name, served=True) for info in self.loaded_adapters()]
        return BackendStatus(kind="inprocess", healthy=True, model=self.model_id, model_matches=True,
                             adapters=adapters, slots_busy=int(self.is_busy()), slots_total=1)

    def is_busy(self) -> bool:
        """Whether a request holds the model right now (a new one would wait). Never blocks.

        Implementations that serialise requests through a :class:`ModelLock` kept in
        ``self._lock`` get this for free.
        """
        lock = getattr(self, "_lock", None)
        return isinstance(lock, ModelLock) and lock.locked()


def validate_messages(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Check a conversation before it reaches the model.

    Raises:
        InputError: empty conversation, or the last message is not from the user.
    """
    messages = list(messages)
    if not messages:
        raise InputError("The conversation is empty: type a message first.")
    if messages[-1].role != "user":
        raise InputError("The last message must be the user's question.")
    if not messages[-1].content.strip():
        raise InputError("The message is empty: type a question first.")
    return messages


class ModelLock:
    """A lock that reports how long the caller waited for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self) -> float:
        import time

        start = time.perf_counter()
        self._lock.acquire()
        return (time.perf_counter() - start) * 1000.0

    def release(self) -> None:
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()
