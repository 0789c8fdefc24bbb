"""The app's sidebar: the model choice, the loaded model's card, the models not installed, and
the form that adds a local GGUF, and the models the user added (each with a Remove). Loading,
adding and removing are the caller's (passed as callables)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st

from components.format import confirm_button
from components.model_info import render_model_card
from components.safe import errors_shown, escape_markdown, inline_code

if TYPE_CHECKING:
    from ragtune.gguf.summary import GGUFSummary
    from ragtune.models import ModelSpec, ModelStatus

SERVER_PATHS_OFF = ("Adding a model from a path on the server is off. An admin can add one with "
                    "`python -m ragtune models add PATH`, or turn path inputs on with "
                    "`RAGTUNE_ALLOW_SERVER_PATHS=true` (for a server only trusted users reach).")
ADMINS_ONLY = "Adding a model from a path on the server is an admin's (RAGTUNE_ADMINS)."


class LoadedModel(NamedTuple):
    """What the model card shows of the model in memory."""

    spec: ModelSpec
    summary: GGUFSummary
    n_ctx: int


def render_sidebar(statuses: list[ModelStatus], *, default_id: str | None,
                   load: Callable[[str], LoadedModel], add_local: Callable[[Path], ModelSpec] | None,
                   added: list[ModelSpec] | None = None, remove_local: Callable[[str], None] | None = None,
                   key: str = "model_id", paths_note: str = SERVER_PATHS_OFF, choose: bool = True) -> None:
    """Choose a model (kept in ``st.session_state[key]``; ``choose`` False: shown, not changeable — on a shared
    server one model is held for everyone, so an admin chooses it), show its card (``load`` loads it), list
    the missing models with what to do, add a local GGUF (``add_local``; None: not here, ``paths_note`` says
    why), and remove one of the ``added`` models after a confirmation (``remove_local``; None: no removing)."""
    available = [s.spec.id for s in statuses if s.loadable]  # a re-quantized model not made yet is made on load
    if not available:
        st.error("No model is installed. Run `make run`, or set RAGTUNE_MODEL_PATH to a GGUF file.")
        return
    if st.session_state.get(key) not in available:
        st.session_state[key] = default_id if default_id in available else available[0]
    names = model_labels([s.spec for s in statuses])
    st.selectbox("Model", available, key=key, format_func=names.__getitem__, disabled=not choose,
                 help="Only one model is held in memory: choosing another frees the current one."
                 + ("" if choose else " It is shared by everyone on this server, so an admin chooses it."))
    with errors_shown("the model card"):  # a model that fails to load still leaves the rest usable
        loaded = load(st.session_state[key])
        render_model_card(loaded.spec, loaded.summary, n_ctx=loaded.n_ctx, key="model_card")
    missing = [s for s in statuses if not s.loadable]
    if missing:
        with st.expander("More models"):
            for status in missing:
                st.caption(f"**{escape_markdown(status.spec.name)}**: {escape_markdown(status.hint)}")
    if added and remove_local is not None:
        render_added_models(added, remove_local)
    with st.expander("Add a local GGUF model"):
        if add_local is None:
            # A path input would let any web user probe the server's files (does it exist? what is it?).
            st.caption(paths_note)
            return
        path = st.text_input("Path to a .gguf file on this server", key="add_model_path")
        if st.button("Check and add", key="add_model_button"):
            with errors_shown("adding a local model"):
                spec = add_local(Path(path))
                st.success(f"Added '{escape_markdown(spec.id)}'. Choose it above.")


def model_labels(specs: list[ModelSpec]) -> dict[str, str]:
    """Each model's label in the picker: its name, with its quantization (else its id) where another model
    has the same name. The picker tells options apart by their labels, so two alike would be one choice."""
    counts = Counter(spec.name for spec in specs)
    labels = {spec.id: spec.name if counts[spec.name] == 1 else f"{spec.name} · {spec.quantization or spec.id}"
              for spec in specs}
    repeated = Counter(labels.values())
    return {model_id: label if repeated[label] == 1 else f"{label} ({model_id})" for model_id, label in labels.items()}


def render_added_models(added: list[ModelSpec], remove_local: Callable[[str], None]) -> None:
    """The models the user added, each with a Remove that asks first (the file itself stays)."""
    with st.expander("Models you added"):
        for spec in added:
            st.caption(f"**{escape_markdown(spec.name)}** · {inline_code(spec.id)}")
            question = f"Remove '{escape_markdown(spec.id)}' from the list? Its file stays where it is."
            if confirm_button(f"Remove {spec.id}", question, key=f"remove_model_{spec.id}"):
                with errors_shown("removing a model"):
                    remove_local(spec.id)
                    st.rerun()
