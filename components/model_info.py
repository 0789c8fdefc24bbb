"""The loaded model's card in the sidebar."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from ragtune.gguf_files import GGUFSummary
    from ragtune.models import ModelSpec


def render_model_card(spec: ModelSpec, summary: GGUFSummary, *, n_ctx: int, key: str) -> None:
    """Name, size, quantization, context and licence of the model in use."""
    licence = spec.license if spec.license != "unknown" else (summary.license or "unknown")
    with st.container(border=True, key=key):
        st.markdown(f"**{spec.name}**  \n`{spec.id}`")
        st.caption(
            f"{summary.size_bytes / 1e6:.0f} MB · {summary.quantization or spec.quantization or '?'} · "
            f"{summary.architecture} · context {n_ctx} of {summary.context_length or '?'} · "
            f"licence {licence}"
        )
        if spec.origin:
            with st.expander("Where it comes from"):
                st.caption(spec.origin)
