"""The acting user's view of everything: :class:`Scope`.

A page session or a CLI command makes one ``Scope`` for its user (:meth:`Scope.from_settings`; with
``RAGTUNE_AUTH=none`` that user is :data:`~ragtune.access.LOCAL`, an admin, and everything behaves as
without sign-in) and reaches the knowledge base, the query log, the evaluation runs, the training jobs,
the saved modes and the adapters only through it. Each view checks every call and raises
:class:`~ragtune.errors.PermissionDenied` naming what is missing (see :mod:`ragtune.access.scoped_kb`,
:mod:`ragtune.access.scoped_stores`, :mod:`ragtune.access.scoped_adapters`).

Examples:
    >>> import tempfile, pathlib
    >>> from ragtune.access import Access, AccessStore, Principal, Scope
    >>> store = AccessStore(pathlib.Path(tempfile.mkdtemp()) / "access.sqlite3")
    >>> scope = Scope(Access(store, ["boss@x.org"]), Principal(email="ana@x.org"))
    >>> scope.is_admin, scope.owner
    (False, 'ana@x.org')
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.access.policy import Access, personal_workspace_name
from ragtune.access.principal import EVERYONE, LOCAL, Principal
from ragtune.errors import WorkspaceError

if TYPE_CHECKING:
    from ragtune.access.overview import AccessOverview
    from ragtune.access.scoped_adapters import ScopedAdapterCatalog
    from ragtune.access.scoped_kb import ScopedKnowledgeBase
    from ragtune.access.scoped_stores import ScopedEvalStore, ScopedModeStore, ScopedQueryLog, ScopedTrainingJobs
    from ragtune.access.store import Membership
    from ragtune.config import Settings
    from ragtune.economics import EconomicsConfig
    from ragtune.pipeline import Pipeline
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.runtime.base import Runtime

_DEMO_SHARED = "demo_shared:{name}"


def unscoped(kb: KnowledgeBase | ScopedKnowledgeBase) -> KnowledgeBase:
    """The knowledge base itself behind a scoped one (for the app's own upkeep, never a user's call)."""
    return getattr(kb, "kb", kb)  # type: ignore[return-value]


class Scope:
    """One user's (``principal``'s) views of the stores, under ``access``'s rules.

    Args:
        access: the permission rules.
        principal: the acting user.
        demo_workspace: the demo workspace's name (RAGTUNE_DEMO_WORKSPACE): readable by everyone, and
            whoever may read it may make the Tour's scratch copies of it.
    """

    def __init__(self, access: Access, principal: Principal, *, demo_workspace: str = "demo") -> None:
        self.access = access
        self.principal = principal
        self.demo_workspace = demo_workspace

    @classmethod
    def from_settings(cls, settings: Settings, principal: Principal) -> Scope:
        """``principal``'s scope under the settings' rules (RAGTUNE_AUTH, RAGTUNE_ADMINS, the data directory)."""
        return cls(Access.from_settings(settings), principal, demo_workspace=settings.demo_workspace)

    @classmethod
    def local(cls, settings: Settings) -> Scope:
        """The local user's scope: an admin (what ``RAGTUNE_AUTH=none`` gives every session)."""
        return cls.from_settings(settings, LOCAL)

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    @property
    def owner(self) -> str:
        """What the user's records are stamped with: their address ('' for the local user, as before sign-in)."""
        return "" if self.principal.is_local else self.principal.email

    def require_admin(self, what: str) -> None:
        """Raise PermissionDenied unless the user is an admin; ``what`` names the action ("change cost settings")."""
        self.access.require_admin(self.principal, what)

    # -- the views ------------------------------------------------------------------------
    def knowledge_base(self, kb: KnowledgeBase | ScopedKnowledgeBase) -> ScopedKnowledgeBase:
        """The knowledge base as the user may use it."""
        from ragtune.access.scoped_kb import ScopedKnowledgeBase

        return ScopedKnowledgeBase(unscoped(kb), self)

    def query_log(self, path: Path) -> ScopedQueryLog:
        """The query log at ``path`` (``settings.query_log_file``) as the user may use it."""
        from ragtune.access.scoped_stores import ScopedQueryLog
        from ragtune.store import QueryLog

        return ScopedQueryLog(QueryLog(Path(path)), self)

    def eval_store(self, settings: Settings) -> ScopedEvalStore:
        from ragtune.access.scoped_stores import ScopedEvalStore
        from ragtune.evaluation.store import EvalStore

        return ScopedEvalStore(EvalStore.from_settings(settings), self)

    def training_jobs(self, settings: Settings) -> ScopedTrainingJobs:
        from ragtune.access.scoped_stores import ScopedTrainingJobs
        from ragtune.training.jobs import TrainingJobs

        return ScopedTrainingJobs(TrainingJobs(settings), self)

    def modes(self, path: Path) -> ScopedModeStore:
        """The saved modes at ``path`` (``settings.modes_file``) as the user may use them."""
        from ragtune.access.scoped_stores import ScopedModeStore
        from ragtune.modes import ModeStore

        return ScopedModeStore(ModeStore(Path(path)), self)

    def catalog(self, settings: Settings, model_id: str | None = None) -> ScopedAdapterCatalog:
        """The adapters the user may use with ``model_id`` (default: the configured model)."""
        from ragtune.access.scoped_adapters import ScopedAdapterCatalog

        return ScopedAdapterCatalog(settings, self, model_id=model_id)

    def pipeline(self, runtime: Runtime, kb: KnowledgeBase | ScopedKnowledgeBase | None, settings: Settings,
                 economics: EconomicsConfig | None = None) -> Pipeline:
        """A pipeline that retrieves through the user's knowledge base and resolves the user's adapters:
        a mode retrieving from a workspace the user may not read raises PermissionDenied."""
        from ragtune.pipeline import Pipeline

        scoped = None if kb is None else self.knowledge_base(kb)
        return Pipeline(runtime, scoped, self.catalog(settings, runtime.model_id), settings,  # type: ignore[arg-type]
                        economics)

    # -- sign-in --------------------------------------------------------------------------
    def share_demo(self, kb: KnowledgeBase | ScopedKnowledgeBase) -> bool:
        """Make the demo workspace readable by every signed-in user, once (an admin may take that back:
        it is not granted again). Whether this call granted it."""
        raw, demo = unscoped(kb), self.demo_workspace
        key = _DEMO_SHARED.format(name=demo)
        if not demo or self.access.store.get_meta(key) or not raw.has_workspace(demo):
            return False
        self.access.store.grant(EVERYONE, demo, "viewer", by="ragtune")
        self.access.store.set_meta(key, "1")
        return True

    def shared_names(self) -> set[str]:
        """The names of the shared demo workspaces (the demo, the tenants'): never a user's own workspace."""
        from ragtune.tenants import TENANTS

        return {t.workspace for t in TENANTS} | ({self.demo_workspace} if self.demo_workspace else set())

    def sign_in(self, kb: KnowledgeBase | ScopedKnowledgeBase) -> str | None:
        """Record the user's sign-in and make the demo readable by everyone (:meth:`share_demo`). On the
        user's first sign-in, make their personal workspace, owned by them, and return its name (None
        otherwise, and always for the local user)."""
        if self.principal.is_local:
            return None
        raw = unscoped(kb)
        self.share_demo(raw)
        known = self.access.store.user(self.principal.email)
        if known is not None and known.first_seen:
            self.access.sign_in(self.principal)
            return None
        # The workspace first, the sign-in after: a sign-in that fails half-way is a first sign-in again.
        name = self._make_personal_workspace(raw)
        self.access.sign_in(self.principal)
        self.access.store.set_personal_workspace(self.principal.email, name)
        return name

    def _make_personal_workspace(self, raw: KnowledgeBase) -> str:
        from ragtune.retrieval.knowledge import is_internal_workspace

        taken = {w.name for w in raw.list_workspaces(include_internal=True)} | self.shared_names()
        email = self.principal.email
        for _ in range(20):  # another user may take the name a moment before us
            name = personal_workspace_name(email, taken)
            if is_internal_workspace(name):  # a reserved prefix: never a user's workspace
                name = personal_workspace_name(f"my-{email}", taken)
            try:
                return self.knowledge_base(raw).create_workspace(name).name
            except WorkspaceError:
                if not raw.has_workspace(name):
                    raise
                taken.add(name)
        raise WorkspaceError(f"No free name for {email}'s personal workspace; try signing in again.")

    # -- admin: who may do what -----------------------------------------------------------
    def overview(self, kb: KnowledgeBase | ScopedKnowledgeBase) -> AccessOverview:
        """Users, workspaces and roles (admins only)."""
        from ragtune.access.overview import access_overview

        return access_overview(self, unscoped(kb))

    def grant(self, kb: KnowledgeBase | ScopedKnowledgeBase, email: str, workspace: str, role: Any) -> Membership:
        """Give ``email`` (or ``*``: everyone) ``role`` on an existing ``workspace`` (admins only).

        Raises:
            PermissionDenied: the user is no admin.
            InputError: the address or the role is invalid.
            WorkspaceError: no such workspace.
        """
        from ragtune.access.overview import grant_role

        return grant_role(self, unscoped(kb), email, workspace, role)

    def revoke(self, kb: KnowledgeBase | ScopedKnowledgeBase, email: str, workspace: str) -> None:
        """Take ``email``'s role on ``workspace`` away (admins only).

        Raises:
            PermissionDenied: the user is no admin.
            InputError: the address is invalid, or it has no role there.
        """
        from ragtune.access.overview import revoke_role

        revoke_role(self, unscoped(kb), email, workspace)


__all__ = ["Scope", "unscoped"]
