"""ragtune's entry point: page config, navigation and the shared sidebar."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_resources import get_settings
from ragtune.errors import RagtuneError

HERE = Path(__file__).parent

st.set_page_config(page_title="ragtune", page_icon=":material/tune:", layout="wide")

try:
    get_settings()
except RagtuneError as exc:
    st.error(str(exc))
    st.stop()

pages = [
    st.Page(HERE / "pages" / "playground.py", title="Playground", icon=":material/chat:", default=True),
]
st.navigation(pages).run()
