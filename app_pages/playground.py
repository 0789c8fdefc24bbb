"""Playground: the model alone or with a LoRA adapter; the answer streams in with its timings."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_resources import get_runtime, get_scoped_catalog, get_settings, session_scope
from components.adapters import sharing_label
from components.format import page_link
from ragtune.answer_caps import chat_cap
from components.chat import render_answer_footer, render_exchange
from components.safe import errors_shown, escape_markdown, render_untrusted_text, write_untrusted_stream
from ragtune.errors import RagtuneError
from ragtune.runtime import AdapterUse, ChatMessage, GenerationOptions
from ragtune.runtime.stops import RepetitionRule

NO_ADAPTER = "(none: base model)"
SERVER_PATHS_OFF = ("Loading an adapter from a path on the server is off: upload it above. An admin can turn "
                    "path inputs on with `RAGTUNE_ALLOW_SERVER_PATHS=true` (for a server only trusted users reach).")
ADMINS_ONLY = "Loading an adapter from a path on the server is an admin's: upload it above."


def adapter_choices(extra: list[str]) -> dict[str, Path | None]:
    """Label -> adapter path, the base model first."""
    choices: dict[str, Path | None] = {NO_ADAPTER: None}
    for entry in get_scoped_catalog().list():  # shipped, shared and the user's own
        choices[f"{entry.name} ({sharing_label(entry)})"] = entry.path
    for path in extra:
        choices.setdefault(f"{Path(path).stem} (from path)", Path(path))
    return choices


def add_adapter_panel() -> None:
    """Upload a LoRA GGUF into the data directory (a personal one, unless an admin adds it), or (admins, where
    path inputs are on) load one from a path on the server."""
    runtime, scope = get_runtime(), session_scope()
    with st.expander("Add a LoRA adapter", icon=":material/add:"):
        upload = st.file_uploader("Upload a GGUF LoRA adapter", type=["gguf"], key="pg_upload")
        if upload is not None and st.button("Check and save", key="pg_save_upload"):
            try:
                entry = get_scoped_catalog().add(upload.name, upload.getvalue(), base=runtime.summary)
                runtime.load_adapter(entry.path)
                st.success(f"Saved and loaded '{escape_markdown(entry.name)}'.")
            except RagtuneError as exc:
                st.error(str(exc))
        if not get_settings().allow_server_paths or not scope.is_admin:
            # A path input would let any web user probe the server's files.
            st.caption(SERVER_PATHS_OFF if scope.is_admin else ADMINS_ONLY)
            return
        path = st.text_input("…or the path of an adapter file on this server", key="pg_adapter_path")
        if st.button("Load from path", key="pg_load_path"):
            try:
                scope.require_admin("load an adapter by its path on the server")
                info = runtime.load_adapter(get_scoped_catalog().resolve(path))
                extra = st.session_state.setdefault("pg_extra_adapters", [])
                if str(info.path) not in extra:
                    extra.append(str(info.path))
                st.success(f"Loaded '{escape_markdown(info.name)}' (rank {info.rank}, {info.load_ms:.1f} ms).")
            except RagtuneError as exc:
                st.error(str(exc))


def playground() -> None:
    settings = get_settings()
    try:
        runtime = get_runtime()
    except RagtuneError as exc:
        st.error(str(exc))
        return

    add_adapter_panel()  # first, so an adapter added now is in the list below
    choices = adapter_choices(st.session_state.get("pg_extra_adapters", []))
    left, middle, right = st.columns([3, 2, 2])
    label = left.selectbox("Adapter", list(choices), key="pg_adapter")
    scale = middle.slider(
        "Adapter scale", 0.0, 2.0, 1.0, 0.05, key="pg_scale", disabled=choices[label] is None,
        help="1 applies the adapter as trained; 0 switches it off.",
    )
    max_tokens = right.number_input(
        "Max answer tokens", min_value=1, max_value=2048, value=chat_cap(runtime, settings), key="pg_max_tokens",
        help="Default: a brief answer's length for this model (its tokens for the longest answer text ragtune "
        "asks for). A loop ends the answer sooner either way (stopped: repetition).",
    )
    temperature = right.slider("Temperature", 0.0, 1.5, settings.temperature, 0.05, key="pg_temperature",
                               help="0 is greedy: the same question gives the same answer.")

    history = st.session_state.setdefault("pg_history", [])
    if history:
        if st.button("Clear the conversation", key="pg_clear", icon=":material/delete:"):
            history.clear()
            st.rerun()
    else:
        st.info("Ask anything below. Each question is answered on its own (no memory of earlier turns), "
                "so answers with and without an adapter compare fairly.", icon=":material/info:")
    for i, (question, result) in enumerate(history):
        render_exchange(question, result, key=f"pg_past_{i}")

    question = st.chat_input("Ask the model…", key="pg_input", max_chars=4000)
    if not question:
        return
    path = choices[label]
    adapters = [AdapterUse(path=path, scale=scale)] if path is not None else []
    options = GenerationOptions(max_tokens=int(max_tokens), temperature=temperature, seed=settings.seed,
                                repetition=RepetitionRule())
    with st.chat_message("user"):
        render_untrusted_text(question)
    with st.chat_message("assistant"):
        try:
            completion = runtime.stream_chat(
                [ChatMessage(role="user", content=question)], adapters=adapters, options=options
            )
            write_untrusted_stream(completion)  # the model's text may carry images or HTML: never loaded
            result = completion.consume()
        except RagtuneError as exc:
            st.error(str(exc))
            return
        render_answer_footer(result, key=f"pg_now_{len(history)}")
    history.append((question, result))


st.title("Playground")
st.caption("One question, the model alone or with a LoRA adapter: see the answer stream in and where the time went.")
with st.container(horizontal=True, vertical_alignment="center"):
    st.info("This is the model (with an adapter if you pick one) and **no documents**: it answers from what its "
            "weights hold, so it does not know your facts. To answer from documents, with citations, compare modes "
            "in the Lab.", icon=":material/info:")
    page_link("app_pages/lab.py", label="Open the Lab", icon=":material/science:", url_path="lab")
with errors_shown("the Playground"):
    playground()
