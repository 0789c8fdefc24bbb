"""ragtune's entry point: page config, the demo's first-start setup, navigation and the sidebar
(drawn by :mod:`components.sidebar` and :mod:`components.backends`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_resources import (get_backend_status, get_knowledge_base, get_registry, get_runtime, get_scope,
                           get_scratch_sweeper, get_settings, get_store_status)
from components.backends import render_backends
from components.safe import errors_shown
from components.sidebar import ADMINS_ONLY, SERVER_PATHS_OFF, LoadedModel, render_sidebar
from ragtune.errors import RagtuneError
from ragtune.models import ModelSpec
from ragtune.tour import drop_scratch, scratch_name

HERE = Path(__file__).parent

st.set_page_config(page_title="ragtune", page_icon=":material/tune:", layout="wide")


def sidebar() -> None:
    """The shared sidebar, over the registry and the loaded model."""
    registry = get_registry()

    def load(model_id: str) -> LoadedModel:
        runtime = get_runtime(model_id)
        return LoadedModel(registry.get(runtime.model_id), runtime.summary, runtime.n_ctx)

    scope = get_scope()
    admin = scope is not None and scope.is_admin
    # Local models are managed here only where paths may be typed, and only by an admin (the core checks too).
    manage = get_settings().allow_server_paths and admin

    def add_local(path: Path) -> ModelSpec:
        scope.require_admin("add a model by its path on the server")  # type: ignore[union-attr]
        return registry.add_local(path)

    def remove_local(model_id: str) -> None:
        scope.require_admin("remove a model added by its path")  # type: ignore[union-attr]
        registry.remove_local(model_id)

    render_sidebar(registry.statuses(), default_id=registry.default_id(), load=load,
                   add_local=add_local if manage else None, added=registry.user_models(),
                   remove_local=remove_local if manage else None,
                   paths_note=SERVER_PATHS_OFF if admin or not get_settings().allow_server_paths else ADMINS_ONLY)
    model_id = st.session_state.get("model_id")
    if model_id:  # None: no model is installed (render_sidebar said so)
        with errors_shown("the backends"):
            render_backends(get_backend_status(model_id), get_store_status(), selected=registry.get(model_id).name,
                            key="backends")


def signed_in_admin() -> bool:
    """Whether the session's user is an admin (the Access page is listed for admins only)."""
    try:
        scope = get_scope()
    except RagtuneError:
        return False  # an identity that cannot be read: the sign-in gate says why
    return scope is not None and scope.is_admin


def tidy_tour_scratch(on_tour: bool) -> None:
    """The Tour's freshness step works in a scratch copy of the demo documents: drop this session's copy as
    soon as another page runs (the Tour drops it when another step opens), and any session's copy left for
    two hours (a closed browser; swept when the app starts, then at most every ten minutes)."""
    leaving, sweeper = not on_tour and "tour_fresh" in st.session_state, get_scratch_sweeper()
    if not leaving and not sweeper.due():
        return  # the usual case: nothing to tidy, the knowledge base is not even opened
    try:
        kb = get_knowledge_base()
        if leaving:
            if token := st.session_state.get("tour_token"):
                drop_scratch(kb, scratch_name(token))
            del st.session_state["tour_fresh"]
        sweeper.sweep(kb)
    except RagtuneError:
        pass  # no knowledge base, no scratch copy: the pages that need one say why


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
    "Start": [
        st.Page(PAGES / "home.py", title="Home", icon=":material/home:", default=True),
        st.Page(PAGES / "tour.py", title="Tour", icon=":material/slideshow:", url_path="tour"),
    ],
    "Try": [
        st.Page(PAGES / "playground.py", title="Playground", icon=":material/chat:", url_path="playground"),
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
# Listed for admins only. For anyone else it stays reachable but hidden, so a typed /access is answered by the
# page's own "only an admin" message rather than by Streamlit's "page not found".
admin = signed_in_admin()
access_page = st.Page(PAGES / "access.py", title="Access", icon=":material/admin_panel_settings:",
                      url_path="access", visibility="visible" if admin else "hidden")
pages.setdefault("Admin" if admin else "Measure", []).append(access_page)
navigation = st.navigation(pages)
tidy_tour_scratch(on_tour=navigation.url_path == "tour")
with st.sidebar, errors_shown("the sidebar"):
    sidebar()
with errors_shown(f"the page {navigation.title}"):  # run on their own (AppTest), pages guard themselves too
    navigation.run()
