"""ragtune's entry point: page config, the sign-in gate, the demo's first-start setup, navigation and the
sidebar (drawn by :mod:`components.sidebar` and :mod:`components.backends`).

The gate runs here, before navigation, so it covers every page, deep links included: that is why the pages
live in ``app_pages/`` (a ``pages/`` folder would let a fresh server run a deep-linked page without this file).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_resources import (get_access, get_backend_status, get_knowledge_base, get_model_choice, get_principal,
                           get_registry, get_runtime, get_scope, get_scratch_sweeper, get_settings, get_store_status)
from components.backends import render_backends
from components.safe import errors_shown
from components.sidebar import ADMINS_ONLY, SERVER_PATHS_OFF, LoadedModel, render_sidebar
from components.signin import render_auth_problem, render_open_warning, render_sign_in, render_user
from ragtune.access import Principal, Scope
from ragtune.access.signin import (auth_problem, authlib_version, invalid_identity, missing_identity,
                                   open_access_warning, sign_in_address_hint)
from ragtune.config import Settings
from ragtune.errors import InputError, RagtuneError
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

    # With sign-in on, the model held for everyone is an admin's to choose; the other sessions follow it.
    choose, shared = admin or get_settings().auth == "none", get_model_choice()
    if not choose and shared.model_id:
        st.session_state["model_id"] = shared.model_id
    render_sidebar(registry.statuses(), default_id=registry.default_id(), load=load,
                   add_local=add_local if manage else None, added=registry.user_models(),
                   remove_local=remove_local if manage else None, choose=choose,
                   paths_note=SERVER_PATHS_OFF if admin or not get_settings().allow_server_paths else ADMINS_ONLY)
    if choose:
        shared.model_id = st.session_state.get("model_id")
    model_id = st.session_state.get("model_id")
    if model_id:  # None: no model is installed (render_sidebar said so)
        with errors_shown("the backends"):
            render_backends(get_backend_status(model_id), get_store_status(), selected=registry.get(model_id).name,
                            key="backends")


def signed_in(settings: Settings, pages: dict[str, list[st.Page]]) -> Principal:
    """The session's user. When sign-in cannot work, or nobody is signed in, draw the page that says so (the
    sign-in page, with oidc) and stop the run: no page, no sidebar. The pages are registered hidden then, so
    a deep link shows that page at its own address rather than "page not found"."""
    address, oidc = st.get_option("server.address"), settings.auth == "oidc"
    secrets = (st.secrets.to_dict() if st.secrets.load_if_toml_exists() else None) if oidc else None
    problem = auth_problem(settings, address, secrets, secret_files=st.get_option("secrets.files"),
                           authlib=authlib_version() if oidc else None)
    principal, leave = None, None
    if problem is None:
        try:
            principal = get_principal()
        except InputError as exc:  # the proxy's header or the provider's email claim is not one address
            problem, leave = invalid_identity(settings, exc), (sign_out if oidc else None)
        except RagtuneError as exc:  # the access store cannot be opened (the data directory)
            problem = str(exc)
    if principal is not None:
        if warning := open_access_warning(settings, address):
            render_open_warning(warning, key="open_access")
        return principal
    st.navigation(pages, position="hidden")
    if problem:
        render_auth_problem(problem, on_sign_out=leave, key="auth")
    elif oidc:
        hint = sign_in_address_hint(str(secrets["auth"]["redirect_uri"]), st.context.url,  # type: ignore[index]
                                    port=st.get_option("server.port"))
        render_sign_in(on_sign_in=st.login, hint=hint, key="sign_in")
    else:
        render_auth_problem(missing_identity(settings.proxy_header), key="auth")
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")  # pragma: no cover


def sign_out() -> None:
    """End the session: ``st.logout`` clears the identity cookie and sends the browser through the provider's
    sign-out, and nothing more of this page is drawn for the user who left. Not ``st.rerun``: a rerun clears
    the messages not yet sent to the browser, the redirect among them (seen: a sign-out that did nothing)."""
    st.logout()
    st.stop()


def record_sign_in(settings: Settings, principal: Principal) -> None:
    """Once per session, record the user's sign-in (first and last seen); a first sign-in makes the user's
    personal workspace, said in a toast. A failure is shown and tried again on the next run: it does not keep
    the user out."""
    if principal.is_local or st.session_state.get("signin_recorded") == principal.email:
        return
    with errors_shown("recording the sign-in"):
        scope = Scope(get_access(), principal, demo_workspace=settings.demo_workspace)
        if created := scope.sign_in(get_knowledge_base()):
            st.toast(f"Welcome! Your personal workspace '{created}' is ready: add documents on the Knowledge page.",
                     icon=":material/waving_hand:")
        st.session_state["signin_recorded"] = principal.email


def access_page(*, visible: bool) -> st.Page:
    """The Access page (admins only; the page checks too)."""
    return st.Page(HERE / "app_pages" / "access.py", title="Access", icon=":material/admin_panel_settings:",
                   url_path="access", visibility="visible" if visible else "hidden")


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
principal = signed_in(settings, {**pages, "Measure": [*pages["Measure"], access_page(visible=False)]})
# Nothing below runs for a visitor who is not signed in (a signed-out /access lands on the sign-in page too).

if settings.demo_workspace:
    # The demo workspace is there from the first start (cached: this runs once per process).
    with errors_shown("setting up the demo knowledge base"):
        try:
            with st.spinner("Setting up the demo knowledge base (first start only)…"):
                get_knowledge_base()
        except RagtuneError as exc:
            st.warning(f"The demo knowledge base could not be set up: {exc}")

record_sign_in(settings, principal)
# Listed for admins only. For anyone else it stays reachable but hidden, so a typed /access is answered by the
# page's own "only an admin" message rather than by Streamlit's "page not found".
if principal.is_admin:
    pages["Admin"] = [access_page(visible=True)]
else:
    pages["Measure"].append(access_page(visible=False))
navigation = st.navigation(pages)
tidy_tour_scratch(on_tour=navigation.url_path == "tour")
with st.sidebar, errors_shown("the sidebar"):
    if settings.auth != "none":
        render_user(principal, on_sign_out=sign_out if settings.auth == "oidc" else None, key="signed_in")
    sidebar()
with errors_shown(f"the page {navigation.title}"):  # run on their own (AppTest), pages guard themselves too
    navigation.run()
