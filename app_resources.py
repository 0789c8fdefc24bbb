"""The app's shared, process-wide resources (``st.cache_resource`` factories).

Pages import these instead of building their own, so one process holds one copy
of the settings, the model and every store. Nothing here contains business logic:
each factory calls into :mod:`ragtune` and caches the result.
"""

from __future__ import annotations

from functools import partial

import streamlit as st

from ragtune.access import Access, Principal, Scope, ScopedAdapterCatalog, ScopedKnowledgeBase
from ragtune.access.signin import oidc_identity, proxy_identity
from ragtune.config import Settings, load_settings
from ragtune.errors import InputError, PermissionDenied, RagtuneError
from ragtune.models import ModelRegistry
from ragtune.retrieval.demo import ensure_demo_workspace
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.retrieval.types import StoreStatus
from ragtune.runtime import Runtime, load_runtime
from ragtune.runtime.base import BackendStatus
from ragtune.showcases import Showcases, ShowcaseStore
from ragtune.economics import EconomicsStore
from ragtune.evaluation.runner import deterministic_settings
from ragtune.evaluation.store import EvalStore
from ragtune.pipeline import Pipeline
from ragtune.tenant_ask import TenantDemo, ask_as_tenants, measured_rates, tenant_questions
from ragtune.tenants import ensure_tenant_workspaces, missing_tenants
from ragtune.tour import ScratchSweeper


@st.cache_resource(show_spinner=False)
def get_settings() -> Settings:
    """The settings, read once per process (raises ConfigError when invalid)."""
    settings = load_settings()
    settings.ensure_data_dir()
    return settings


def get_registry() -> ModelRegistry:
    """The model registry (cheap: reads the manifest and the user list on each call)."""
    return ModelRegistry(get_settings())


def _model_id() -> str | None:
    """The session's model (the sidebar's choice), or the configured default."""
    return st.session_state.get("model_id") or get_registry().default_id()


# max_entries=1: one model per process. Choosing another model in the sidebar frees the
# previous one before the next loads, instead of holding both in memory.
@st.cache_resource(show_spinner=False, max_entries=1, on_release=lambda rt: rt.close())
def _load_runtime(model_id: str) -> Runtime:
    return load_runtime(get_settings(), registry=get_registry(), model_id=model_id)


def get_runtime(model_id: str | None = None) -> Runtime:
    """The loaded model (``model_id`` or the configured default), loading it on first use.

    Raises:
        RagtuneError: the model is unknown, missing, fails its checks or cannot load.
    """
    model_id = model_id or st.session_state.get("model_id") or get_registry().default_id()
    if model_id is None:  # pragma: no cover - default_id always answers
        raise RuntimeError("no model configured")
    with st.spinner(f"Loading {model_id} (first use: checking the file, then loading it)..."):
        return _load_runtime(model_id)


# A failed load is not cached (st.cache_resource caches only what returns), so a model server or a
# Chroma server that is down at start is tried again on the next page: the app recovers by itself.
@st.cache_resource(show_spinner=False)
def get_knowledge_base() -> KnowledgeBase:
    """The knowledge base (chroma under the data directory, or a Chroma server), with the demo workspace
    created and filled on first start (RAGTUNE_DEMO_WORKSPACE; empty turns that off), and the multi-tenant
    demo's two tenant workspaces beside it (RAGTUNE_DEMO_TENANTS=false turns those off).

    Raises:
        RagtuneError: the data directory or the embedding model is unusable.
    """
    settings = get_settings()
    kb = KnowledgeBase.from_settings(settings)
    if settings.demo_workspace:
        ensure_demo_workspace(kb, settings.demo_workspace)
        if settings.demo_tenants:  # the multi-tenant demo: never writes to a workspace it did not create
            ensure_tenant_workspaces(kb, get_access().store)
    return kb


BACKEND_STATUS_TTL_S = 5.0
"""How long the sidebar reuses a backend's status: it is drawn on every page, and a server asked that often
would spend its time answering health checks (shared by every session: one check serves them all)."""


@st.cache_data(ttl=BACKEND_STATUS_TTL_S, show_spinner=False)
def get_backend_status(model_id: str) -> BackendStatus | None:
    """The model backend's status for the sidebar (``model_id``'s runtime); None when the model is not loaded
    in process (the model card says why). A model server that cannot be reached is a status that says so."""
    try:
        runtime = _load_runtime(model_id)
    except RagtuneError as exc:
        settings = get_settings()
        if settings.runtime != "server":
            return None
        return BackendStatus(kind="server", url=settings.server_url, healthy=False, error=str(exc))
    return runtime.backend_status()


@st.cache_data(ttl=BACKEND_STATUS_TTL_S, show_spinner=False)
def get_store_status() -> StoreStatus:
    """The document store's status for the sidebar (a Chroma server that cannot be reached says so)."""
    try:
        return get_knowledge_base().backend_status()
    except RagtuneError as exc:
        url = get_settings().chroma_url
        return StoreStatus(kind="server" if url else "local", url=url, healthy=False, error=str(exc))


def get_showcases() -> Showcases | None:
    """The session's model's showcases (measured demo questions and rates), or None when not measured."""
    model_id = st.session_state.get("model_id") or get_registry().default_id()
    return ShowcaseStore(get_settings().data_dir).load(model_id) if model_id else None


def get_tenant_demo() -> TenantDemo:
    """The two-tenant run for this session (the Tour's tenant step, the Lab's "Two tenants" preset): each tenant's
    persona asked on the session's model (greedy, as the tenant set was measured), checked by the permission
    rules, the session's user presenting (an admin may set missing tenant workspaces up again); with the
    model's measured rates (the data directory's stored runs, else the shipped ones)."""
    settings, kb, access = deterministic_settings(get_settings()), get_knowledge_base(), get_access()
    presenter = get_principal()
    if presenter is None:  # the sign-in gate stops before any page: never ask as the personas for nobody
        raise PermissionDenied("Sign in first: the demo users are asked on a signed-in user's behalf.")

    def pipeline(persona: Principal) -> Pipeline:  # each persona through its own checked views: one model
        scope = Scope(access, persona, demo_workspace=settings.demo_workspace)
        return scope.pipeline(get_runtime(), kb, settings, EconomicsStore(settings.economics_file).load())

    model_id = st.session_state.get("model_id") or get_registry().default_id()
    return TenantDemo(
        ask=lambda question: ask_as_tenants(question, pipeline_for=pipeline, kb=kb, access=access,
                                            presenter=presenter),
        questions=tenant_questions(), missing=missing_tenants(kb),
        setup=partial(ensure_tenant_workspaces, kb, access.store, again=True) if presenter.is_admin else None,
        rates=measured_rates(EvalStore.from_settings(settings), model_id) if model_id else [])


@st.cache_resource(show_spinner=False)
def get_scratch_sweeper() -> ScratchSweeper:
    """The process's sweeper of the tour's stale scratch copies (it sweeps when first asked, then now and then)."""
    return ScratchSweeper()


@st.cache_resource(show_spinner=False)
def get_access() -> Access:
    """The permission rules (users, workspace roles in ``<data dir>/access.sqlite3``, RAGTUNE_ADMINS)."""
    return Access.from_settings(get_settings())


def get_principal() -> Principal | None:
    """The session's user, or None when nobody is signed in.

    RAGTUNE_AUTH=none: always LOCAL (an admin). ``oidc``: the user signed in with ``st.login`` (by their ``email``
    claim). ``proxy``: the address in the trusted proxy's header (RAGTUNE_PROXY_HEADER); the entry point refuses
    proxy mode unless the app listens on loopback only, so nobody can reach it without passing the proxy.

    Raises:
        InputError: the identity provider or the proxy sent something that is not one e-mail address (or the
            proxy's header twice).
    """
    settings, access = get_settings(), get_access()
    if settings.auth == "none":
        return access.principal("local")
    if settings.auth == "oidc":
        if not st.user.is_logged_in:
            return None
        email, name = oidc_identity(st.user.to_dict(), require_verified=settings.oidc_require_verified_email)
        return access.principal(email, name)
    header = proxy_identity(st.context.headers.get_all(settings.proxy_header), settings.proxy_header)
    return access.principal(header) if header else None


def get_scope() -> Scope | None:
    """The session's user's :class:`Scope` (every store through it is checked); None when nobody is signed in.

    The entry point stops before any page when nobody is signed in, so a page may count on a scope; one run on
    its own (a test) gets :func:`session_scope`'s clear refusal instead.

    Raises:
        InputError: the identity provider or the proxy sent something that is not one e-mail address.
    """
    who = get_principal()
    if who is None:
        return None
    return Scope(get_access(), who, demo_workspace=get_settings().demo_workspace)


def session_scope() -> Scope:
    """The session's :class:`Scope`.

    Raises:
        PermissionDenied: nobody is signed in.
    """
    scope = get_scope()
    if scope is None:
        raise PermissionDenied("Sign in to use ragtune: nobody is signed in in this session.")
    return scope


def get_scoped_knowledge_base() -> ScopedKnowledgeBase:
    """The knowledge base as the session's user may use it: only the workspaces they may read are listed, and
    every read or change is checked (PermissionDenied names what is missing).

    Raises:
        PermissionDenied: nobody is signed in.
        RagtuneError: the knowledge base is unusable (as :func:`get_knowledge_base`).
    """
    return session_scope().knowledge_base(get_knowledge_base())


def get_scoped_catalog() -> ScopedAdapterCatalog:
    """The adapters the session's user may use with the session's model: the shipped and shared ones, and
    their own personal ones (an admin: everyone's)."""
    return session_scope().catalog(get_settings(), _model_id())


class ModelChoice:
    """The model this process holds for everyone (one at a time): with sign-in on, an admin's choice in the
    sidebar, which every other session follows (a user switching models would unload it for all the others)."""

    def __init__(self) -> None:
        self.model_id: str | None = None


@st.cache_resource(show_spinner=False)
def get_model_choice() -> ModelChoice:
    """The process's :class:`ModelChoice`."""
    return ModelChoice()
