"""Access (admins only): who may do what. The users, each workspace with its members and their roles, a form
that grants a role and a revoke that asks first. The core checks every change (ragtune.access.overview)."""

from __future__ import annotations

import streamlit as st

from app_resources import get_access, get_knowledge_base, get_principal
from components.access import member_label, render_grant_form, render_revoke, render_users, render_workspaces
from components.safe import errors_shown, escape_markdown
from ragtune.access import Access, Principal
from ragtune.access.overview import AccessOverview, access_overview, grant_role, revoke_role
from ragtune.errors import RagtuneError

AUTH_OFF = ("Sign-in is off (`RAGTUNE_AUTH=none`): whoever reaches the app is the local user, an admin. The roles "
            "set here take effect once sign-in is on (`RAGTUNE_AUTH=oidc` or `proxy`).")


def workspace_names() -> list[str]:
    """The knowledge base's workspaces (all of them: an admin reads every one); none when it is unavailable."""
    try:
        return [w.name for w in get_knowledge_base().list_workspaces()]
    except RagtuneError as exc:
        st.warning(f"The knowledge base is unavailable, so no role can be granted now: {exc}")
        return []


def flash(message: str) -> None:
    st.session_state["acc_flash"] = message
    st.rerun()


def grant_panel(access: Access, who: Principal, overview: AccessOverview, names: list[str]) -> None:
    """The grant form; a bad address, workspace or role is refused with the core's message, nothing changed."""
    request = render_grant_form(names, key="acc_grant")
    if request is None:
        return
    try:
        granted = grant_role(access, who, request.email, request.workspace, request.role, workspaces=names)
    except RagtuneError as exc:
        st.error(escape_markdown(str(exc)))  # it repeats what was typed
        return
    before = next((m.role for m in overview.memberships()
                   if m.email == granted.email and m.workspace == granted.workspace), None)
    change = f" (was {before})" if before and before != granted.role else " (unchanged)" if before else ""
    flash(f"{member_label(granted.email)} is now {granted.role} of '{granted.workspace}'{change}.")


def revoke_panel(access: Access, who: Principal, overview: AccessOverview) -> None:
    """Revoke one membership after a confirmation."""
    member = render_revoke(overview, key="acc")
    if member is None:
        return
    try:
        removed = revoke_role(access, who, member.email, member.workspace)
    except RagtuneError as exc:
        st.error(escape_markdown(str(exc)))  # it repeats what was typed
        return
    flash(f"Revoked {member_label(member.email)}'s {member.role} role on '{member.workspace}'." if removed
          else f"{member_label(member.email)} had no role on '{member.workspace}' any more.")


def access_page() -> None:
    who, access = get_principal(), get_access()
    if who is None:  # the entry point signs users in before any page runs; a page run on its own says so
        st.error("Sign in to open the Access page.")
        return
    # The page is only listed for admins; the check here covers a typed /access (and the core checks again).
    access.require_admin(who, "open the Access page")
    if not access.auth_enabled:
        st.info(AUTH_OFF, icon=":material/lock_open:")
    if message := st.session_state.pop("acc_flash", None):
        st.success(escape_markdown(message))
    names = workspace_names()
    overview = access_overview(access, who, names)
    st.caption("Admins: " + (escape_markdown(", ".join(overview.admins)) if overview.admins else
                             "none named in RAGTUNE_ADMINS" if access.auth_enabled else "the local user"))

    st.subheader("Users", anchor=False)
    render_users(overview, key="acc_users")

    st.subheader("Workspaces and members", anchor=False)
    render_workspaces(overview, key="acc_workspaces")
    st.caption("A user's own role and everyone's (*) add up: the stronger one counts.")
    grant_panel(access, who, overview, names)
    revoke_panel(access, who, overview)


st.title("Access")
st.caption("Who may do what: users, workspaces and their members. Grant and revoke roles.")
with errors_shown("the Access page"):
    access_page()
