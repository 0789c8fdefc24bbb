"""The admin's view of who may do what: every user, every workspace with its members, and the checked grant and
revoke the Access page (and any other front end) calls.

Everything here is admin only: each function takes the acting :class:`Principal` and raises
:class:`~ragtune.errors.PermissionDenied` for anyone else, so the page's own check is a courtesy, not the guard.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel

from ragtune.access.policy import Access
from ragtune.access.principal import EVERYONE, Principal
from ragtune.access.store import Membership, UserInfo, check_member, check_role
from ragtune.errors import InputError
from ragtune.names import check_name


class UserRow(UserInfo):
    """A known user, with whether RAGTUNE_ADMINS names them and how many workspaces they have a role on."""

    is_admin: bool = False
    n_roles: int = 0


class WorkspaceMembers(BaseModel):
    """One workspace and its members (``*``: every signed-in user).

    ``exists`` False: roles are left for a workspace the knowledge base no longer has (deleted outside the app,
    or a Chroma server that does not answer); ``personal_of`` the users whose personal workspace it is.
    """

    name: str
    exists: bool = True
    members: list[Membership] = []
    personal_of: list[str] = []

    @property
    def owners(self) -> list[str]:
        return [m.email for m in self.members if m.role == "owner"]


class AccessOverview(BaseModel):
    """Users, workspaces with their members, and the admins' addresses (RAGTUNE_ADMINS)."""

    users: list[UserRow]
    workspaces: list[WorkspaceMembers]
    admins: list[str]
    auth_enabled: bool = True

    def memberships(self) -> list[Membership]:
        """Every membership, workspace by workspace."""
        return [m for w in self.workspaces for m in w.members]


def access_overview(access: Access, who: Principal, workspaces: Iterable[str]) -> AccessOverview:
    """Admin only: the users and the members of ``workspaces`` (the knowledge base's), plus any workspace that
    still has members but is not among them (listed with ``exists`` False).

    Raises:
        PermissionDenied: ``who`` is not an admin.
    """
    access.require_admin(who, "see who may do what (the Access page)")
    members = access.store.members()
    users = access.store.users()
    names = list(dict.fromkeys(workspaces))
    known = set(names)
    orphans = sorted({m.workspace for m in members} - known)
    personal: dict[str, list[str]] = {}
    for user in users:
        if user.personal_workspace:
            personal.setdefault(user.personal_workspace, []).append(user.email)
    rows = [WorkspaceMembers(name=n, exists=n in known, members=[m for m in members if m.workspace == n],
                             personal_of=personal.get(n, [])) for n in names + orphans]
    n_roles = {u.email: sum(1 for m in members if m.email == u.email) for u in users}
    admins = sorted(access.admins)
    return AccessOverview(
        users=[UserRow(**u.model_dump(), is_admin=u.email in access.admins, n_roles=n_roles[u.email])
               for u in users],
        workspaces=rows, admins=admins, auth_enabled=access.auth_enabled)


def grant_role(access: Access, who: Principal, email: str, workspace: str, role: str, *,
               workspaces: Iterable[str]) -> Membership:
    """Admin only: give ``email`` (an address, or ``*`` for every signed-in user) ``role`` on ``workspace``,
    which must be one of ``workspaces`` (the knowledge base's). Replaces the role the member had.

    Everyone (``*``) may be made a viewer or an editor, never an owner: an owner may delete the workspace, and
    "anyone may delete it" is never what an admin means.

    Raises:
        PermissionDenied: ``who`` is not an admin.
        InputError: the address, the workspace or the role is invalid or unknown; nothing is changed.
    """
    access.require_admin(who, "grant roles")
    member, role_ = check_member(email), check_role(role)
    name = check_name("workspace", workspace)
    names = list(workspaces)
    if name not in names:
        known = ", ".join(repr(n) for n in names[:10]) or "none yet"
        raise InputError(f"Unknown workspace {name!r}: grant a role on one that exists ({known}).")
    if member == EVERYONE and role_ == "owner":
        raise InputError("Everyone ('*') may be a viewer or an editor of a workspace, not its owner: an owner "
                         "may rename or delete it. Make a person its owner instead.")
    return access.grant(who, member, name, role_)


def revoke_role(access: Access, who: Principal, email: str, workspace: str) -> bool:
    """Admin only: take away ``email``'s role on ``workspace``; False when it had none.

    Raises:
        PermissionDenied: ``who`` is not an admin.
        InputError: the address is invalid.
    """
    access.require_admin(who, "revoke roles")
    return access.revoke(who, check_member(email), workspace.strip())


def revoke_warning(overview: AccessOverview, email: str, workspace: str) -> str:
    """What revoking would leave behind that an admin should know before confirming ('' when nothing)."""
    row = next((w for w in overview.workspaces if w.name == workspace), None)
    if row is None:
        return ""
    notes = []
    if row.owners == [email]:
        notes.append(f"'{workspace}' will have no owner left: only admins can then rename or delete it.")
    if email == EVERYONE:
        notes.append("Every signed-in user without a role of their own loses access to it.")
    elif email in row.personal_of:
        notes.append(f"It is {email}'s personal workspace.")
    return " ".join(notes)


__all__ = ["AccessOverview", "UserRow", "WorkspaceMembers", "access_overview", "grant_role", "revoke_role",
           "revoke_warning"]
