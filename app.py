"""ragtune's entry point: page config, navigation and the shared sidebar."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_resources import get_knowledge_base, get_registry, get_runtime, get_settings
from components.model_info import render_model_card
from components.safe import errors_shown, escape_markdown
from ragtune.errors import RagtuneError

HERE = Path(__file__).parent
SERVER_PATHS_OFF = ("Adding a model from a path on the server is off. An admin can add one with "
                    "`python -m ragtune models add PATH`, or turn path inputs on with "
                    "`RAGTUNE_ALLOW_SERVER_PATHS=true` (for a server only trusted users reach).")

st.set_page_config(page_title="ragtune", page_icon=":material/tune:", layout="wide")


def sidebar() -> None:
    """Model choice, the loaded model's card, and adding a local GGUF."""
    registry = get_registry()
    statuses = registry.statuses()
    available = [s.spec.id for s in statuses if s.available]
    default = registry.default_id()
    if not available:
        st.error("No model is installed. Run `make run`, or set RAGTUNE_MODEL_PATH to a GGUF file.")
        return
    if st.session_state.get("model_id") not in available:
        st.session_state["model_id"] = default if default in available else available[0]
    st.selectbox(
        "Model",
        available,
        key="model_id",
        format_func=lambda mid: next(s.spec.name for s in statuses if s.spec.id == mid),
        help="Only one model is held in memory: choosing another frees the current one.",
    )
    with errors_shown("the model card"):  # a model that fails to load still leaves the rest usable
        runtime = get_runtime(st.session_state["model_id"])
        render_model_card(
            registry.get(runtime.model_id), runtime.summary, n_ctx=runtime.n_ctx, key="model_card"
        )
    missing = [s for s in statuses if not s.available]
    if missing:
        with st.expander("More models"):
            for status in missing:
                st.caption(f"**{escape_markdown(status.spec.name)}**: {escape_markdown(status.hint)}")
    with st.expander("Add a local GGUF model"):
        if not get_settings().allow_server_paths:
            # A path input would let any web user probe the server's files (does it exist? what is it?).
            st.caption(SERVER_PATHS_OFF)
            return
        path = st.text_input("Path to a .gguf file on this server", key="add_model_path")
        if st.button("Check and add", key="add_model_button"):
            with errors_shown("adding a local model"):
                spec = registry.add_local(Path(path))
                st.success(f"Added '{escape_markdown(spec.id)}'. Choose it above.")


try:
    settings = get_settings()
except RagtuneError as exc:
    st.error(str(exc))
    st.stop()

if settings.demo_workspace:
    # The demo workspace is there from the first start (cached: this runs once per process).
    with errors_shown("setting up the demo knowledge base"):
        try:
            with st.spinner("Setting up the demo knowledge base (first start only)…"):
                get_knowledge_base()
        except RagtuneError as exc:
            st.warning(f"The demo knowledge base could not be set up: {exc}")

PAGES = HERE / "app_pages"
pages = {
    "Try": [
        st.Page(PAGES / "playground.py", title="Playground", icon=":material/chat:", default=True),
        st.Page(PAGES / "lab.py", title="Lab", icon=":material/science:", url_path="lab"),
    ],
    "Build": [
        st.Page(PAGES / "knowledge.py", title="Knowledge", icon=":material/library_books:", url_path="knowledge"),
        st.Page(PAGES / "adapters.py", title="Adapters", icon=":material/layers:", url_path="adapters"),
    ],
    "Measure": [
        st.Page(PAGES / "benchmark.py", title="Benchmark", icon=":material/leaderboard:", url_path="benchmark"),
        st.Page(PAGES / "history.py", title="History", icon=":material/history:", url_path="history"),
    ],
    "Decide": [
        st.Page(PAGES / "decide.py", title="Decide", icon=":material/alt_route:", url_path="decide"),
    ],
}
navigation = st.navigation(pages)
with st.sidebar, errors_shown("the sidebar"):
    sidebar()
with errors_shown(f"the page {navigation.title}"):  # run on their own (AppTest), pages guard themselves too
    navigation.run()
