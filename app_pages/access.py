"""Access (admins only): who may do what. The users, each workspace with its members and their roles, a form
that grants a role and a revoke that asks first. The core checks every change (ragtune.access.overview)."""

from __future__ import annotations

import streamlit as st

from app_resources import get_knowledge_base, session_scope
from components.access import member_label, render_grant_form, render_revoke, render_users, render_workspaces
from components.safe import errors_shown, escape_markdown
from ragtune.access import AccessOverview, Scope
from ragtune.errors import RagtuneError
from ragtune.retrieval.knowledge import KnowledgeBase

AUTH_OFF = ("Sign-in is off (`RAGTUNE_AUTH=none`): whoever reaches the app is the local user, an admin. The roles "
            "set here take effect once sign-in is on (`RAGTUNE_AUTH=oidc` or `proxy`).")


def flash(message: str) -> None:
    st.session_state["acc_flash"] = message
    st.rerun()


def grant_panel(scope: Scope, kb: KnowledgeBase, overview: AccessOverview) -> None:
    """The grant form; a bad address, workspace or role is refused with the core's message, nothing changed."""
    names = [w.name for w in overview.workspaces if w.exists]
    request = render_grant_form(names, key="acc_grant")
    if request is None:
        return
    try:
        granted = scope.grant(kb, request.email, request.workspace, request.role)
    except RagtuneError as exc:
        st.error(escape_markdown(str(exc)))  # it repeats what was typed
        return
    before = next((m.role for w in overview.workspaces for m in w.members
                   if m.email == granted.email and m.workspace == granted.workspace), None)
    change = f" (was {before})" if before and before != granted.role else " (unchanged)" if before else ""
    flash(f"{member_label(granted.email)} is now {granted.role} of '{granted.workspace}'{change}.")


def revoke_panel(scope: Scope, kb: KnowledgeBase, overview: AccessOverview) -> None:
    """Revoke one membership after a confirmation."""
    member = render_revoke(overview, key="acc")
    if member is None:
        return
    try:
        scope.revoke(kb, member.email, member.workspace)
    except RagtuneError as exc:  # revoked meanwhile (another admin): the core says what is left
        st.error(escape_markdown(str(exc)))
        return
    flash(f"Revoked {member_label(member.email)}'s {member.role} role on '{member.workspace}'.")


def access_page() -> None:
    scope = session_scope()
    # Listed in the menu for admins only; this covers a typed /access, and the core checks every call again.
    scope.require_admin("open the Access page")
    if not scope.access.auth_enabled:
        st.info(AUTH_OFF, icon=":material/lock_open:")
    if message := st.session_state.pop("acc_flash", None):
        st.success(escape_markdown(message))
    kb = get_knowledge_base()  # every workspace: an admin's view
    overview = scope.overview(kb)
    admins = escape_markdown(", ".join(overview.admins)) if overview.admins else (
        "none named in RAGTUNE_ADMINS" if overview.auth_enabled else "the local user")
    st.caption(f"Admins: {admins}")

    st.subheader("Users", anchor=False)
    render_users(overview, key="acc_users")

    st.subheader("Workspaces and members", anchor=False)
    render_workspaces(overview, key="acc_workspaces")
    st.caption("A user's own role and everyone's (*) add up: the stronger one counts. A role may be granted "
               "before the user's first sign-in.")
    grant_panel(scope, kb, overview)
    revoke_panel(scope, kb, overview)


st.title("Access")
st.caption("Who may do what: users, workspaces and their members. Grant and revoke roles.")
with errors_shown("the Access page"):
    access_page()
