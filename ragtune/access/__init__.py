"""Team access: who is asking (:class:`Principal`), their roles on workspaces (:class:`AccessStore`), the
checks that refuse what they may not do (:class:`Access`, raising :class:`~ragtune.errors.PermissionDenied`),
and the user's checked views of every store (:class:`Scope`).

The views load the stores they wrap, so they are imported when first named here (``import ragtune.access``
stays light for the CLI's start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ragtune.access.policy import Access, personal_workspace_name
from ragtune.access.principal import (ACTION_NEEDS, EVERYONE, LOCAL, ROLES, Action, Principal, Role, role_allows,
                                      stronger)
from ragtune.access.store import AccessStore, Membership, UserInfo, check_member, check_role

if TYPE_CHECKING:
    from ragtune.access.overview import AccessOverview, UserAccess, WorkspaceAccess
    from ragtune.access.scoped import Scope, unscoped
    from ragtune.access.scoped_adapters import ScopedAdapterCatalog
    from ragtune.access.scoped_kb import ScopedKnowledgeBase, ScopedManifest, workspace_kind
    from ragtune.access.scoped_stores import ScopedEvalStore, ScopedModeStore, ScopedQueryLog, ScopedTrainingJobs

_LAZY: dict[str, str] = {
    "Scope": "scoped", "unscoped": "scoped",
    "ScopedKnowledgeBase": "scoped_kb", "ScopedManifest": "scoped_kb", "workspace_kind": "scoped_kb",
    "ScopedQueryLog": "scoped_stores", "ScopedEvalStore": "scoped_stores", "ScopedTrainingJobs": "scoped_stores",
    "ScopedModeStore": "scoped_stores",
    "ScopedAdapterCatalog": "scoped_adapters",
    "AccessOverview": "overview", "UserAccess": "overview", "WorkspaceAccess": "overview",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"ragtune.access.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'ragtune.access' has no attribute {name!r}")


__all__ = ["ACTION_NEEDS", "EVERYONE", "LOCAL", "ROLES", "Access", "AccessOverview", "AccessStore", "Action",
           "Membership", "Principal", "Role", "Scope", "ScopedAdapterCatalog", "ScopedEvalStore",
           "ScopedKnowledgeBase", "ScopedManifest", "ScopedModeStore", "ScopedQueryLog", "ScopedTrainingJobs",
           "UserAccess", "UserInfo", "WorkspaceAccess", "check_member", "check_role", "personal_workspace_name",
           "role_allows", "stronger", "unscoped", "workspace_kind"]
