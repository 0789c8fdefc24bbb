"""What the app runs on: the model backend and the document store, in words.

The model answers in process (one model behind one lock) or on a model server (llama-server, or any
OpenAI-compatible server); the documents live in the data directory's chroma files or on a Chroma
server. :meth:`ragtune.runtime.base.Runtime.backend_status` (a
:class:`~ragtune.runtime.base.BackendStatus`) and
:meth:`ragtune.retrieval.knowledge.KnowledgeBase.backend_status` (a
:class:`~ragtune.retrieval.types.StoreStatus`) describe each; both never raise and answer within a short
timeout, so the sidebar can ask on every page.

:func:`backend_notes` turns the two records into the sentences the sidebar shows: a
server that is down, one that serves another model than the one selected, adapters it lacks.

Examples:
    >>> from ragtune.runtime.base import BackendStatus
    >>> status = BackendStatus(kind="server", url="http://gpu:8080", healthy=True, model="qwen.gguf",
    ...                        model_matches=False)
    >>> for note in backend_notes(status, None, selected="SmolLM2"):  # doctest: +NORMALIZE_WHITESPACE
    ...     print(note.level, note.text)
    warning The model server http://gpu:8080 serves qwen.gguf, not the selected model SmolLM2: answers come
    from qwen.gguf. Choose that model, or restart `make serve-model` with RAGTUNE_MODEL set to the selected one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ragtune.retrieval.types import StoreStatus
    from ragtune.runtime.base import BackendStatus


class BackendNote(BaseModel):
    """A sentence about the backends, and how loud: ``error`` (it cannot answer), ``warning``, or ``info``."""

    model_config = ConfigDict(frozen=True)

    level: Literal["error", "warning", "info"]
    text: str


def backend_notes(model: BackendStatus | None, store: StoreStatus | None, *, selected: str) -> list[BackendNote]:
    """What needs saying about the backends, worst first: a server that does not answer, a model server that
    serves another model than ``selected`` (the selected model's name), catalogue adapters it lacks."""
    notes: list[BackendNote] = []
    if model is not None and not model.healthy:
        where = f"The model server {model.url}" if model.kind == "server" else "The model"
        notes.append(BackendNote(level="error", text=f"{where} does not answer: {model.error or 'no reason given'} "
                                 "Answers fail until it is back; the app reconnects by itself."))
    if store is not None and not store.healthy:
        where = f"The Chroma server {store.url}" if store.kind == "server" else "The knowledge base"
        notes.append(BackendNote(level="error", text=f"{where} does not answer: {store.error or 'no reason given'} "
                                 "Modes that retrieve fail until it is back; the app reconnects by itself."))
    if model is not None and model.healthy and model.error:
        notes.append(BackendNote(level="info", text=f"The model server {model.url} {model.error}; asking again "
                                 "in a few seconds."))
    if model is not None and model.healthy and model.model_matches is False:
        notes.append(BackendNote(level="warning", text=(
            f"The model server {model.url} serves {model.model or 'another model'}, not the selected model "
            f"{selected}: answers come from {model.model or 'that model'}. Choose that model, or restart "
            "`make serve-model` with RAGTUNE_MODEL set to the selected one.")))
    missing = [a.name for a in model.adapters if not a.served] if model is not None and model.healthy else []
    if missing:
        notes.append(BackendNote(level="warning", text=(
            f"The model server lacks {len(missing)} adapter{'s' if len(missing) > 1 else ''} of the catalogue "
            f"({', '.join(missing)}): the modes that use {'them' if len(missing) > 1 else 'it'} are unavailable. "
            "Restart `make serve-model` to load new adapters.")))
    return notes


def slots_text(status: BackendStatus) -> str | None:
    """``2 of 4 slots busy`` (``the model is busy`` / ``idle`` in process); None when the backend does not say.

    Examples:
        >>> from ragtune.runtime.base import BackendStatus
        >>> slots_text(BackendStatus(kind="server", healthy=True, slots_busy=2, slots_total=4))
        '2 of 4 slots busy'
        >>> slots_text(BackendStatus(kind="inprocess", healthy=True, slots_busy=0, slots_total=1))
        'idle'
    """
    if status.slots_busy is None or status.slots_total is None:
        return None
    if status.kind == "inprocess":
        return "busy: a new request waits its turn" if status.slots_busy else "idle"
    return f"{status.slots_busy} of {status.slots_total} slots busy"
