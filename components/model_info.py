"""The loaded model's card in the sidebar."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from components.safe import escape_markdown, inline_code

if TYPE_CHECKING:
    from ragtune.gguf.summary import GGUFSummary
    from ragtune.models import ModelSpec


def render_model_card(spec: ModelSpec, summary: GGUFSummary, *, n_ctx: int, key: str) -> None:
    """Name, size, quantization, context and licence of the model in use."""
    licence = spec.license if spec.license != "unknown" else (summary.license or "unknown")
    with st.container(border=True, key=key):
        # Name, licence and origin come from the file's own metadata: text its author chose.
        st.markdown(f"**{escape_markdown(spec.name)}**  \n{inline_code(spec.id)}")
        st.caption(escape_markdown(
            f"{summary.size_bytes / 1e6:.0f} MB · {summary.quantization or spec.quantization or '?'} · "
            f"{summary.architecture} · context {n_ctx} of {summary.context_length or '?'} · "
            f"licence {licence}"
        ))
        if spec.origin:
            with st.expander("Where it comes from"):
                st.caption(escape_markdown(spec.origin))
