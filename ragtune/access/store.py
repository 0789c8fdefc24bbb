"""Users and workspace members in SQLite, in the data directory beside the query log.

With a team server the documents may live on a Chroma server, but who may read them stays with the app: one
file, ``<data dir>/access.sqlite3``. Workspaces are referred to by name; :class:`AccessStore` follows a rename
or a deletion when the knowledge base reports one (see :mod:`ragtune.access.scoped_kb`).
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from ragtune.access.principal import EVERYONE, ROLES, Role, stronger
from ragtune.errors import InputError
from ragtune.names import check_email, check_name
from ragtune.sqlite_file import SQLiteFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    email TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    personal_workspace TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS members (
    email TEXT NOT NULL,
    workspace TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'owner')),
    granted_by TEXT NOT NULL DEFAULT '',
    granted_at REAL NOT NULL,
    PRIMARY KEY (email, workspace)
);
CREATE INDEX IF NOT EXISTS members_workspace ON members (workspace);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class UserInfo(BaseModel):
    """A user who has signed in (or was granted a role before their first sign-in: ``first_seen`` 0)."""

    email: str
    name: str = ""
    first_seen: float = 0.0
    last_seen: float = 0.0
    personal_workspace: str = ""


class Membership(BaseModel):
    """One user's role on one workspace (``email`` ``*``: every signed-in user)."""

    email: str
    workspace: str
    role: Role
    granted_by: str = ""
    granted_at: float = 0.0


def check_member(email: str) -> str:
    """A member's address, or ``*`` for everyone (raises InputError naming the problem)."""
    return EVERYONE if email.strip() == EVERYONE else check_email(email)


def check_role(role: object) -> Role:
    """``role`` if it is one of viewer, editor, owner (raises InputError)."""
    if role not in ROLES:
        raise InputError(f"Invalid role {role!r}: use one of {', '.join(ROLES)}.")
    return role  # type: ignore[return-value]


class AccessStore(SQLiteFile):
    """The users and the workspace members (roles)."""

    schema = SCHEMA
    what = "access store"

    # Users
    def seen(self, email: str, name: str = "") -> bool:
        """Record a sign-in; True when it is this user's first."""
        now = time.time()
        with self._connect() as db:
            row = db.execute("SELECT first_seen FROM users WHERE email = ?", (email,)).fetchone()
            if row is None:
                db.execute("INSERT INTO users (email, name, first_seen, last_seen) VALUES (?, ?, ?, ?)",
                           (email, name, now, now))
                return True
            first = row["first_seen"] == 0
            db.execute("UPDATE users SET name = COALESCE(NULLIF(?, ''), name), last_seen = ?, "
                       "first_seen = CASE WHEN first_seen = 0 THEN ? ELSE first_seen END WHERE email = ?",
                       (name, now, now, email))
            return bool(first)

    def user(self, email: str) -> UserInfo | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
        return UserInfo(**dict(row)) if row else None

    def users(self) -> list[UserInfo]:
        """Every known user: signed in, or granted a role."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM users ORDER BY email").fetchall()
            known = {r["email"] for r in rows}
            granted = [r["email"] for r in db.execute("SELECT DISTINCT email FROM members ORDER BY email")]
        return [UserInfo(**dict(r)) for r in rows] + [UserInfo(email=e) for e in granted
                                                       if e not in known and e != EVERYONE]

    def set_personal_workspace(self, email: str, workspace: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE users SET personal_workspace = ? WHERE email = ?", (workspace, email))

    # Members
    def role(self, email: str, workspace: str) -> Role | None:
        """The user's role on the workspace: their own or everyone's, whichever is stronger (None: none)."""
        with self._connect() as db:
            rows = db.execute("SELECT role FROM members WHERE workspace = ? AND email IN (?, ?)",
                              (workspace, email, EVERYONE)).fetchall()
        role: Role | None = None
        for row in rows:
            role = stronger(role, row["role"])
        return role

    def roles(self, email: str) -> dict[str, Role]:
        """Every workspace the user has a role on (their own or everyone's) -> the stronger role."""
        with self._connect() as db:
            rows = db.execute("SELECT workspace, role FROM members WHERE email IN (?, ?)",
                              (email, EVERYONE)).fetchall()
        out: dict[str, Role] = {}
        for row in rows:
            out[row["workspace"]] = stronger(out.get(row["workspace"]), row["role"]) or row["role"]
        return out

    def members(self, workspace: str | None = None) -> list[Membership]:
        """The memberships of one workspace, or of all."""
        sql, args = "SELECT * FROM members", ()
        if workspace is not None:
            sql, args = sql + " WHERE workspace = ?", (workspace,)
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY workspace, email", args).fetchall()
        return [Membership(**dict(r)) for r in rows]

    def grant(self, email: str, workspace: str, role: str, *, by: str = "") -> Membership:
        """Give ``email`` (or ``*``) ``role`` on ``workspace``, replacing the role it had.

        Raises:
            InputError: the address, the workspace name or the role is invalid, or ``*`` (everyone) is made an
                owner.
        """
        member = Membership(email=check_member(email), workspace=check_name("workspace", workspace),
                            role=check_role(role), granted_by=by, granted_at=time.time())
        if member.email == EVERYONE and member.role == "owner":  # anyone signed in could delete it
            raise InputError("Everyone ('*') may be a viewer or an editor of a workspace, not its owner: an owner may "
                             "rename or delete it. Make a person its owner by their address.")
        with self._connect() as db:
            db.execute("INSERT INTO members (email, workspace, role, granted_by, granted_at) VALUES (?, ?, ?, ?, ?) "
                       "ON CONFLICT (email, workspace) DO UPDATE SET role = excluded.role, "
                       "granted_by = excluded.granted_by, granted_at = excluded.granted_at",
                       (member.email, member.workspace, member.role, member.granted_by, member.granted_at))
        return member

    def revoke(self, email: str, workspace: str) -> bool:
        """Take away ``email``'s role on ``workspace``; False when it had none."""
        with self._connect() as db:
            cur = db.execute("DELETE FROM members WHERE email = ? AND workspace = ?",
                             (check_member(email), workspace.strip()))
        return cur.rowcount > 0

    def get_meta(self, key: str) -> str | None:
        """A bookkeeping value (e.g. that the demo workspace was shared once); None: never set."""
        with self._connect() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self._connect() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                       "value = excluded.value", (key, value))

    def rename_workspace(self, old: str, new: str) -> None:
        """Move the members of ``old`` to ``new`` (after the knowledge base renamed it)."""
        with self._connect() as db:
            db.execute("DELETE FROM members WHERE workspace = ?", (new,))
            db.execute("UPDATE members SET workspace = ? WHERE workspace = ?", (new, old))
            db.execute("UPDATE users SET personal_workspace = ? WHERE personal_workspace = ?", (new, old))

    def drop_workspace(self, workspace: str) -> None:
        """Forget the members of a deleted workspace."""
        with self._connect() as db:
            db.execute("DELETE FROM members WHERE workspace = ?", (workspace,))
            db.execute("UPDATE users SET personal_workspace = '' WHERE personal_workspace = ?", (workspace,))


__all__ = ["AccessStore", "Membership", "UserInfo", "check_member", "check_role"]
