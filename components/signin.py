"""The sign-in views: the sign-in page, the page that says why nobody can sign in, the warning that sign-in is
off on an open address, and who is signed in (with Sign out) in the sidebar. Signing in and out are the
caller's (passed as callables: ``st.login`` / ``st.logout``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from components.safe import escape_markdown, inline_code

if TYPE_CHECKING:
    from ragtune.access import Principal

PITCH = "RAG or fine-tuning? ragtune answers with measurements on your own documents, with a small local model."


def render_sign_in(*, on_sign_in: Callable[[], None], hint: str | None = None, key: str) -> None:
    """The page a signed-out visitor sees instead of any other: the pitch and a Sign in button (``on_sign_in``
    starts the provider's sign-in); ``hint`` warns when the browser is at an address sign-in cannot return to."""
    with st.container(key=key):
        st.title("ragtune")
        st.markdown(PITCH)
        if hint:
            st.warning(escape_markdown(hint), icon=":material/link_off:")
        if st.button("Sign in", key=f"{key}_button", type="primary", icon=":material/login:"):
            on_sign_in()
        st.caption("You sign in with your organisation's account; ragtune then shows the workspaces you may read.")


def render_auth_problem(message: str, *, on_sign_out: Callable[[], None] | None = None, key: str) -> None:
    """The page shown instead of any other when sign-in cannot work (``message`` says why and what to do);
    ``on_sign_out`` adds a Sign out button (an identity that cannot be used, e.g. one without an address)."""
    with st.container(key=key):
        st.title("ragtune")
        st.error(escape_markdown(message), icon=":material/lock:")
        if on_sign_out is not None and st.button("Sign out", key=f"{key}_sign_out", icon=":material/logout:"):
            on_sign_out()


def render_open_warning(message: str, *, key: str) -> None:
    """The warning above every page while anyone who reaches the app is an admin."""
    with st.container(key=key):
        st.warning(escape_markdown(message), icon=":material/lock_open:")


def render_user(principal: Principal, *, on_sign_out: Callable[[], None] | None, key: str) -> None:
    """Who is signed in (name, address, whether an admin), for the sidebar, with a Sign out button
    (``on_sign_out``; None: sign-out is the proxy's, and the caption says so)."""
    with st.container(key=key):
        name = escape_markdown(principal.name) if principal.name and principal.name != principal.email else ""
        role = " · admin" if principal.is_admin else ""
        who = f"**{name}** · {inline_code(principal.email)}" if name else inline_code(principal.email)
        st.caption(f":material/account_circle: Signed in as {who}{role}")
        if on_sign_out is None:
            st.caption("Signed in through the proxy: sign out there.")
        elif st.button("Sign out", key=f"{key}_sign_out", icon=":material/logout:"):
            on_sign_out()
