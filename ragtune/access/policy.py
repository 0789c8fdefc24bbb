"""The permission checks, in the core: :class:`Access` says what a :class:`Principal` may do.

Every check that refuses raises :class:`~ragtune.errors.PermissionDenied` with a message that names the user,
the action, the workspace and the role it needs, so a hand-edited URL, a CLI command and a page all get the same
answer. Pages hide what a user may not do as a courtesy; the check here is what protects the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ragtune.access.principal import ACTION_NEEDS, EVERYONE, LOCAL, Action, Principal, Role, role_allows
from ragtune.access.store import AccessStore, Membership
from ragtune.errors import PermissionDenied
from ragtune.names import check_email

_VERB: dict[Action, str] = {"read": "read", "write": "change documents in", "manage": "rename or delete"}


class Access:
    """The permission rules over an :class:`AccessStore` and the admins' addresses.

    ``auth_enabled`` False (``RAGTUNE_AUTH=none``) makes everyone :data:`LOCAL`, an admin.
    """

    def __init__(self, store: AccessStore, admins: Iterable[str] = (), *, auth_enabled: bool = True) -> None:
        self.store = store
        self.admins = frozenset(a.lower() for a in admins)
        self.auth_enabled = auth_enabled

    @classmethod
    def from_settings(cls, settings: object) -> Access:
        return cls(AccessStore(settings.access_file), settings.admin_emails,  # type: ignore[attr-defined]
                   auth_enabled=settings.auth != "none")  # type: ignore[attr-defined]

    def principal(self, email: str, name: str = "") -> Principal:
        """The principal for a signed-in address (checked, lower-cased); an admin when listed in RAGTUNE_ADMINS.

        Raises:
            InputError: ``email`` is not an e-mail address.
        """
        if not self.auth_enabled:
            return LOCAL
        address = check_email(email)
        return Principal(email=address, name=name.strip()[:200], is_admin=address in self.admins)

    # Questions
    def role(self, who: Principal, workspace: str) -> Role | None:
        """``who``'s role on ``workspace`` (admins: owner everywhere)."""
        return "owner" if who.is_admin else self.store.role(who.email, workspace)

    def can(self, who: Principal, action: Action, workspace: str) -> bool:
        return who.is_admin or role_allows(self.store.role(who.email, workspace), action)

    # Checks
    def require(self, who: Principal, action: Action, workspace: str) -> None:
        """Raise PermissionDenied unless ``who`` may do ``action`` on ``workspace``."""
        if self.can(who, action, workspace):
            return
        has = self.store.role(who.email, workspace)
        needs = ACTION_NEEDS[action]
        had = f"you are {'an' if has == 'editor' else 'a'} {has} there" if has else "you have no role there"
        raise PermissionDenied(
            f"{who.email} may not {_VERB[action]} workspace {workspace!r}: that needs the {needs} role and {had}. "
            "Ask an admin to grant it.")

    def require_admin(self, who: Principal, what: str) -> None:
        """Raise PermissionDenied unless ``who`` is an admin; ``what`` names the action ("change cost settings")."""
        if not who.is_admin:
            raise PermissionDenied(f"{who.email} may not {what}: only an admin may (RAGTUNE_ADMINS).")

    # Changes
    def sign_in(self, who: Principal) -> bool:
        """Record ``who``'s sign-in; True on the first one (the caller then makes the personal workspace)."""
        if who.is_local:
            return False
        return self.store.seen(who.email, who.name)

    def grant(self, who: Principal, email: str, workspace: str, role: str) -> Membership:
        """Admin only: give ``email`` (or ``*``) ``role`` on ``workspace``."""
        self.require_admin(who, "grant roles")
        return self.store.grant(email, workspace, role, by=who.email)

    def revoke(self, who: Principal, email: str, workspace: str) -> bool:
        """Admin only: take away ``email``'s role on ``workspace`` (False: it had none)."""
        self.require_admin(who, "revoke roles")
        return self.store.revoke(email, workspace)


def personal_workspace_name(email: str, taken: Iterable[str]) -> str:
    """A workspace name for ``email``'s personal workspace: the address's local part as a workspace name
    (``ana.lima@x.org`` -> ``ana.lima``), with ``-2``, ``-3``... when taken."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", email.split("@")[0]).strip("-_.")[:50] or "user"
    base = re.sub(r"\.{2,}", ".", base)
    used, name, n = set(taken), base, 1
    while name in used:
        n += 1
        name = f"{base}-{n}"
    return name


__all__ = ["EVERYONE", "Access", "personal_workspace_name"]
