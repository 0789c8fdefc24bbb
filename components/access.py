"""The Access page's views: the users, the workspaces with their members, the grant form and the revoke
(confirmed first). Granting and revoking are the caller's: these return what the admin asked for."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, NamedTuple

import streamlit as st

from components.format import confirm_button
from components.safe import escape_markdown
from ragtune.access.principal import EVERYONE, ROLES

if TYPE_CHECKING:
    from ragtune.access.overview import AccessOverview
    from ragtune.access.store import Membership

ROLE_HELP = ("viewer: list documents, search, ask · editor: also add, edit and delete documents · "
             "owner: also rename or delete the workspace. Admins (RAGTUNE_ADMINS) may do everything.")


class GrantRequest(NamedTuple):
    """What the grant form asks for (checked by the core, not here)."""

    email: str
    workspace: str
    role: str


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M") if stamp else ""


def member_label(email: str) -> str:
    """How a member is named: ``*`` is everyone."""
    return "everyone (*)" if email == EVERYONE else email


def personal_of(overview: AccessOverview) -> dict[str, list[str]]:
    """Workspace -> the users whose personal workspace it is."""
    owners: dict[str, list[str]] = {}
    for row in overview.users:
        if row.user.personal_workspace:
            owners.setdefault(row.user.personal_workspace, []).append(row.user.email)
    return owners


def revoke_warning(overview: AccessOverview, email: str, workspace: str) -> str:
    """What revoking ``email``'s role on ``workspace`` leaves behind that an admin should know first ('': nothing)."""
    row = next((w for w in overview.workspaces if w.name == workspace), None)
    if row is None or not row.exists:
        return ""
    notes = []
    if [m.email for m in row.members if m.role == "owner"] == [email]:
        notes.append(f"'{workspace}' will have no owner left: only admins can then rename or delete it.")
    if email == EVERYONE:
        notes.append("Every signed-in user without a role of their own there loses access to it.")
    elif email in personal_of(overview).get(workspace, []):
        notes.append(f"It is {email}'s personal workspace.")
    return " ".join(notes)


def render_users(overview: AccessOverview, *, key: str) -> None:
    """The known users: address, name, first and last sign-in (UTC), personal workspace, admin, their roles."""
    if not overview.users:
        st.info("Nobody has signed in yet, and no role was granted to anyone: users appear here on their first "
                "sign-in (each gets a personal workspace).", icon=":material/group:")
        return
    rows = [{"address": r.user.email, "name": r.user.name,
             "first seen (UTC)": _when(r.user.first_seen) or "never signed in",
             "last seen (UTC)": _when(r.user.last_seen), "personal workspace": r.user.personal_workspace,
             "admin": r.is_admin, "roles": ", ".join(f"{w}: {role}" for w, role in sorted(r.roles.items()))}
            for r in overview.users]
    st.dataframe(rows, hide_index=True, key=key)


def render_workspaces(overview: AccessOverview, *, key: str) -> None:
    """Each workspace with its members and their roles; a workspace nobody holds a role on says so."""
    if not overview.workspaces:
        st.info("There is no workspace yet: create one on the Knowledge page.", icon=":material/folder_off:")
        return
    personal, rows = personal_of(overview), []
    for ws in overview.workspaces:
        notes = [f"personal workspace of {', '.join(personal[ws.name])}" if ws.name in personal else "",
                 "" if ws.exists else "no longer in the knowledge base"]
        note = "; ".join(n for n in notes if n)
        if not ws.members:
            rows.append({"workspace": ws.name, "member": "(no one: admins only)", "role": "", "granted by": "",
                         "granted (UTC)": "", "note": note})
        rows += [{"workspace": ws.name, "member": member_label(m.email), "role": m.role, "granted by": m.granted_by,
                  "granted (UTC)": _when(m.granted_at), "note": note} for m in ws.members]
    st.dataframe(rows, hide_index=True, key=key)
    st.caption(escape_markdown(ROLE_HELP))


def render_grant_form(workspaces: list[str], *, key: str) -> GrantRequest | None:
    """A form: a user's address (or ``*`` for every signed-in user), a workspace of ``workspaces``, a role.
    Returns what was submitted (None until then, and when there is no workspace to grant on)."""
    if not workspaces:
        st.caption("No workspace to grant a role on yet.")
        return None
    with st.form(key=f"{key}_form", clear_on_submit=False, border=True):
        st.markdown("**Grant a role**")
        cols = st.columns([3, 2, 1])
        email = cols[0].text_input("User's e-mail address, or * for every signed-in user", key=f"{key}_email",
                                   placeholder="ana.lima@example.org", max_chars=320)
        workspace = cols[1].selectbox("Workspace", workspaces, key=f"{key}_workspace")
        role = cols[2].selectbox("Role", ROLES, key=f"{key}_role", help=ROLE_HELP)
        if st.form_submit_button("Grant", type="primary", icon=":material/person_add:"):
            return GrantRequest(email=email, workspace=str(workspace), role=str(role))
    return None


def render_revoke(overview: AccessOverview, *, key: str) -> Membership | None:
    """Pick a membership and revoke it after a confirmation (naming what it leaves behind, such as a
    workspace without an owner). Returns the membership on the run the admin confirmed."""
    members = [m for w in overview.workspaces for m in w.members]
    if not members:
        st.caption("No role granted yet: nothing to revoke.")
        return None
    labels = {f"{member_label(m.email)} · {m.workspace} · {m.role}": m for m in members}
    chosen = st.selectbox("Revoke a role", list(labels), key=f"{key}_pick")
    if chosen is None:
        return None
    member = labels[chosen]
    question = (f"Take away {member_label(member.email)}'s {member.role} role on '{member.workspace}'? "
                f"{revoke_warning(overview, member.email, member.workspace)}").strip()
    if confirm_button("Revoke", escape_markdown(question), key=f"{key}_revoke"):
        return member
    return None


__all__ = ["GrantRequest", "member_label", "personal_of", "render_grant_form", "render_revoke", "render_users",
           "render_workspaces", "revoke_warning"]
