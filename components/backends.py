"""The sidebar's backends: where the model answers (in this process, or a model server) and where the
documents live (the data directory, or a Chroma server); their health, the served model and adapters,
busy slots, and what needs saying (:func:`ragtune.backends.backend_notes`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.safe import escape_markdown, inline_code
from ragtune.backends import backend_notes, slots_text

if TYPE_CHECKING:
    from ragtune.retrieval.types import StoreStatus
    from ragtune.runtime.base import BackendStatus


def _health(healthy: bool) -> str:
    return ":green[:material/check_circle: up]" if healthy else ":red[:material/error: down]"


def render_backends(model: BackendStatus | None, store: StoreStatus | None, *, selected: str, key: str) -> None:
    """The model backend and the document store, one line each, with their problems as errors or warnings
    above; on a server, an expander lists the served model, the adapters (those the server lacks marked
    unavailable, with why) and the busy slots. ``model`` None: the model is not loaded (its own error is shown
    with the model card); ``store`` None: the knowledge base is not opened. ``selected``: the selected
    model's name (a server serving another model is named in a warning)."""
    with st.container(key=key):
        for note in backend_notes(model, store, selected=selected):
            {"error": st.error, "warning": st.warning, "info": st.info}[note.level](escape_markdown(note.text))
        st.caption(_model_line(model) + "  \n" + _store_line(store))
        if model is not None and model.kind == "server":
            with st.expander("Model server", expanded=not model.healthy):
                _server_details(model, key=key)


def _model_line(model: BackendStatus | None) -> str:
    if model is None:
        return ":material/memory: Model: not loaded"
    if model.kind == "inprocess":
        busy = slots_text(model)
        return ":material/memory: Model: in this process" + (f" · {busy}" if busy else "")
    busy = slots_text(model) if model.healthy else None
    return (f":material/dns: Model server {inline_code(model.url or '?')} · {_health(model.healthy)}"
            + (f" · {busy}" if busy else ""))


def _store_line(store: StoreStatus | None) -> str:
    if store is None:
        return ":material/library_books: Documents: not opened"
    if store.kind == "local":
        where = "in the data directory"
        return f":material/library_books: Documents: {where}" + ("" if store.healthy else f" · {_health(False)}")
    return f":material/library_books: Chroma server {inline_code(store.url or '?')} · {_health(store.healthy)}"


def _server_details(model: BackendStatus, *, key: str) -> None:
    if not model.healthy:
        st.caption(escape_markdown(model.error) or "It does not answer.")
        return
    served = inline_code(model.model) if model.model else "a model it does not name"
    match = {True: " (the selected model)", False: " (not the selected model)", None: ""}[model.model_matches]
    st.caption(f"Serves {served}{match}.")
    busy = slots_text(model)
    if busy:
        st.caption(f"Slots: {busy}; more requests wait in the server's queue.")
    render_served_adapters(model, key=f"{key}_adapters")


def render_served_adapters(model: BackendStatus, *, key: str) -> None:
    """The catalogue's adapters on the model server: served, or unavailable with why (the sidebar and the
    Adapters page)."""
    with st.container(key=key):
        if not model.adapters:
            st.caption("No adapter of the catalogue to serve.")
            return
        lines = []
        for adapter in model.adapters:
            if adapter.served:
                lines.append(f"- :green[:material/check:] {inline_code(adapter.name)} served")
            else:
                why = f": {escape_markdown(adapter.why)}" if adapter.why else ""
                lines.append(f"- :orange[:material/block:] {inline_code(adapter.name)} unavailable{why}")
        st.markdown("**Adapters on the server**\n\n" + "\n".join(lines))


RESTART_NOTE = ("The model answers on the model server {url}, which loads every adapter when it starts: a newly "
                "trained or uploaded adapter reaches it when `make serve-model` is restarted. Until then the modes "
                "that use it are unavailable.")


def render_server_adapters(model: BackendStatus, *, key: str) -> None:
    """The Adapters page on a model server: how a new adapter reaches the server (restart ``make serve-model``),
    and which of the catalogue's adapters it serves now (unknown while it does not answer)."""
    with st.container(key=key):
        st.info(RESTART_NOTE.format(url=inline_code(model.url or "?")), icon=":material/dns:")
        if model.healthy:
            render_served_adapters(model, key=f"{key}_served")
        else:
            st.warning("The model server does not answer, so which adapters it serves is unknown: "
                       f"{escape_markdown(model.error) or 'no reason given'}")
