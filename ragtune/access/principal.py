"""Who is acting: a :class:`Principal`, and what a workspace role allows.

A principal is the user behind a page session or a CLI command. With ``RAGTUNE_AUTH=none`` every session is
:data:`LOCAL`, the single local user, who is an admin: the app behaves as it did before sign-in existed.

Roles are per workspace and ordered: a viewer reads (lists documents, searches, asks), an editor also writes
(adds, edits and deletes documents, rechunks, empties), an owner also manages (renames, deletes the workspace).
Admins may do everything, everywhere.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["viewer", "editor", "owner"]
ROLES: tuple[Role, ...] = get_args(Role)
"""The roles, weakest first."""

Action = Literal["read", "write", "manage"]
ACTION_NEEDS: dict[Action, Role] = {"read": "viewer", "write": "editor", "manage": "owner"}
"""The weakest role that may do each action on a workspace."""

EVERYONE = "*"
"""The member that stands for every signed-in user (the demo workspace is readable by everyone)."""

LOCAL_EMAIL = "local"


class Principal(BaseModel):
    """The acting user: an e-mail address (lower case), a display name, whether an admin.

    ``demo`` marks a demo persona (the multi-tenant demo asks as two of them): a persona is an ordinary
    non-admin user whose permissions are checked like anyone's.
    """

    model_config = ConfigDict(frozen=True)

    email: str = Field(min_length=1, max_length=320)
    name: str = ""
    is_admin: bool = False
    demo: bool = False

    @property
    def label(self) -> str:
        """How the user is shown: ``Name <email>``, or the address alone."""
        return f"{self.name} <{self.email}>" if self.name and self.name != self.email else self.email

    @property
    def is_local(self) -> bool:
        return self.email == LOCAL_EMAIL


LOCAL = Principal(email=LOCAL_EMAIL, name="local user", is_admin=True)
"""The single user of ``RAGTUNE_AUTH=none``: an admin, as everyone on a local machine is."""


def role_allows(role: Role | None, action: Action) -> bool:
    """Whether ``role`` (None: no role) may do ``action``."""
    return role is not None and ROLES.index(role) >= ROLES.index(ACTION_NEEDS[action])


def stronger(a: Role | None, b: Role | None) -> Role | None:
    """The stronger of two roles (None is weaker than any)."""
    if a is None or b is None:
        return a or b
    return a if ROLES.index(a) >= ROLES.index(b) else b


__all__ = ["ACTION_NEEDS", "EVERYONE", "LOCAL", "LOCAL_EMAIL", "ROLES", "Action", "Principal", "Role",
           "role_allows", "stronger"]
