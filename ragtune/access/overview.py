"""The admins' use cases: who may do what (:func:`access_overview`), grant and revoke roles.

The Access page and ``python -m ragtune access`` both call these (through :class:`~ragtune.access.Scope`).
Everything is checked before anything is stored: a bad address, an unknown role or workspace changes
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ragtune.access.principal import EVERYONE, Role
from ragtune.access.store import Membership, UserInfo, check_member, check_role
from ragtune.errors import InputError, WorkspaceError

if TYPE_CHECKING:
    from ragtune.access.scoped import Scope
    from ragtune.retrieval.knowledge import KnowledgeBase


class UserAccess(BaseModel):
    """A known user (signed in, or granted a role), whether an admin, and their own roles."""

    user: UserInfo
    is_admin: bool = False
    roles: dict[str, Role] = Field(default_factory=dict, description="Workspace -> the user's own role there.")


class WorkspaceAccess(BaseModel):
    """A workspace and its members (``*``: every signed-in user); no members: admins only."""

    name: str
    members: list[Membership] = Field(default_factory=list)
    exists: bool = Field(default=True, description="False: roles left on a workspace that is gone.")

    @property
    def everyone(self) -> Role | None:
        """The role every signed-in user has here (None: none)."""
        return next((m.role for m in self.members if m.email == EVERYONE), None)


class AccessOverview(BaseModel):
    """Users, workspaces and roles, as an admin sees them."""

    auth_enabled: bool = Field(description="False with RAGTUNE_AUTH=none (everyone is the local admin).")
    admins: list[str]
    users: list[UserAccess]
    workspaces: list[WorkspaceAccess]


def access_overview(scope: Scope, kb: KnowledgeBase) -> AccessOverview:
    """Every user, every workspace (not the internal ones) with its members, and the admins.

    Raises:
        PermissionDenied: the user is no admin.
    """
    from ragtune.access.scoped_kb import workspace_kind

    scope.require_admin("see who has access")
    store, access = scope.access.store, scope.access
    members = store.members()
    names = [w.name for w in kb.list_workspaces()]
    gone = sorted({m.workspace for m in members if m.workspace not in names and workspace_kind(m.workspace) == "user"})
    workspaces = [WorkspaceAccess(name=name, members=[m for m in members if m.workspace == name], exists=name in names)
                  for name in [*names, *gone]]
    users = [UserAccess(user=user, is_admin=user.email in access.admins,
                        roles={m.workspace: m.role for m in members if m.email == user.email})
             for user in store.users()]
    return AccessOverview(auth_enabled=access.auth_enabled, admins=sorted(access.admins),
                          users=users, workspaces=workspaces)


def _existing_workspace(kb: KnowledgeBase, workspace: str) -> str:
    from ragtune.access.scoped_kb import workspace_kind

    name = workspace.strip()
    if workspace_kind(name) != "user" or not kb.has_workspace(name):
        known = ", ".join(w.name for w in kb.list_workspaces()) or "none yet"
        raise WorkspaceError(f"No workspace {name!r} to grant roles on. Workspaces: {known}.")
    return name


def grant_role(scope: Scope, kb: KnowledgeBase, email: str, workspace: str, role: object) -> Membership:
    """Give ``email`` (or ``*``) ``role`` on ``workspace``, replacing the role it had there (admins only).

    Raises:
        PermissionDenied: the user is no admin.
        InputError: the address or the role is invalid.
        WorkspaceError: no such workspace (internal ones included).
    """
    scope.require_admin("grant roles")
    member, checked = check_member(email), check_role(role)
    name = _existing_workspace(kb, workspace)
    return scope.access.grant(scope.principal, member, name, checked)


def revoke_role(scope: Scope, kb: KnowledgeBase, email: str, workspace: str) -> None:
    """Take ``email``'s role on ``workspace`` away (admins only); a role left on a workspace that is gone
    may be revoked too.

    Raises:
        PermissionDenied: the user is no admin.
        InputError: the address is invalid, or it has no role on the workspace.
    """
    scope.require_admin("revoke roles")
    member, name = check_member(email), workspace.strip()
    if not scope.access.revoke(scope.principal, member, name):
        held = ", ".join(f"{m.email} ({m.role})" for m in scope.access.store.members(name)) or "nobody"
        raise InputError(f"{member} has no role on {name!r}, so nothing was revoked. Roles there: {held}.")


__all__ = ["AccessOverview", "UserAccess", "WorkspaceAccess", "access_overview", "grant_role", "revoke_role"]
