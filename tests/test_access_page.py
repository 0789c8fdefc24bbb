"""The Access page under AppTest: admins only, the users and the members, grant and revoke through the core's
checks, on real SQLite and chromadb in the test's data directory.

A signed-in user is simulated the way Streamlit does it for OIDC: ``RAGTUNE_AUTH=oidc`` and ``AppTest.user``
(what the page reads as ``st.user``), so the real ``app_resources.get_principal`` runs, unpatched.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.access import Access
from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.retrieval.knowledge import KnowledgeBase
from tests.retrieval_fixtures import embedding_function  # noqa: F401
from tests.signin_secrets import AUTH

APP = str(PROJECT_ROOT / "app.py")
PAGE = str(PROJECT_ROOT / "app_pages" / "access.py")
ADMIN, ANA, BOB = "ada@example.org", "ana@example.org", "bob@example.org"


@pytest.fixture()
def workspaces(data_dir, monkeypatch, embedding_function) -> list[str]:
    """Two workspaces, 'team' and 'sales', and no demo."""
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    kb = KnowledgeBase.from_settings(load_settings(), embedding_function)
    for name in ("team", "sales"):
        kb.create_workspace(name)
    kb.manifest.close()
    return ["sales", "team"]


@pytest.fixture()
def team(workspaces, monkeypatch) -> Access:
    """Sign-in on (oidc), ada an admin; ana signed in once and owns 'team'."""
    monkeypatch.setenv("RAGTUNE_AUTH", "oidc")
    monkeypatch.setenv("RAGTUNE_ADMINS", ADMIN)
    access = Access.from_settings(load_settings())
    access.store.seen(ANA, "Ana Lima")
    access.store.set_personal_workspace(ANA, "team")
    access.grant(access.principal(ADMIN), ANA, "team", "owner")
    return access


def signed_in(email: str, script: str = PAGE) -> AppTest:
    at = AppTest.from_file(script, default_timeout=60)
    at.user = {"is_logged_in": True, "email_verified": True, "email": email, "name": email.split("@")[0].title()}
    if script == APP:  # the entry point's sign-in gate checks the [auth] secrets first
        at.secrets["auth"] = dict(AUTH)
    return at.run()


def text(at: AppTest) -> str:
    return " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.info, *at.success, *at.warning])


def members(access: Access) -> list[tuple[str, str, str]]:
    return [(m.email, m.workspace, m.role) for m in access.store.members()]


def test_a_non_admin_is_told_only_an_admin_may_open_the_page_and_sees_nothing_of_it(team):
    at = signed_in(BOB)
    assert not at.exception
    assert [e.value for e in at.error] == [
        "bob@example.org may not open the Access page: only an admin may (RAGTUNE_ADMINS)."]
    assert not at.dataframe and not at.button


def test_signed_out_the_page_asks_to_sign_in(team):
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Sign in to use ragtune: nobody is signed in in this session."]


def test_an_admin_sees_users_and_each_workspace_with_its_members(team):
    at = signed_in(ADMIN)
    assert not at.exception and not at.error, [e.value for e in at.error]
    users, spaces = at.dataframe[0].value, at.dataframe[1].value
    assert list(users["address"]) == [ANA] and list(users["name"]) == ["Ana Lima"]
    assert list(users["personal workspace"]) == ["team"] and list(users["roles"]) == ["team: owner"]
    assert list(spaces["workspace"]) == ["sales", "team"]
    assert list(spaces["member"]) == ["(no one: admins only)", ANA]
    assert list(spaces["role"]) == ["", "owner"]
    assert "personal workspace of ana@example.org" in list(spaces["note"])[1]
    assert "Admins: ada@example.org" in text(at)


def test_granting_a_role_stores_it_and_says_so(team):
    at = signed_in(ADMIN)
    at.text_input(key="acc_grant_email").set_value(" Bob@Example.org ")
    at.selectbox(key="acc_grant_workspace").set_value("sales")
    at.selectbox(key="acc_grant_role").set_value("editor")
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error
    assert (BOB, "sales", "editor") in members(team)
    assert at.success[0].value == "bob@example.org is now editor of 'sales'."
    assert BOB in list(at.dataframe[0].value["address"])  # granted before signing in: a known user now


def test_granting_everyone_viewer_uses_the_star(team):
    at = signed_in(ADMIN)
    at.text_input(key="acc_grant_email").set_value("*")
    at.selectbox(key="acc_grant_workspace").set_value("sales")
    at.button[0].click().run()
    assert ("*", "sales", "viewer") in members(team)
    assert "everyone (*)" in list(at.dataframe[1].value["member"])


@pytest.mark.parametrize(("email", "role", "message"), [
    ("not an address", "viewer", "Invalid e-mail address 'not an address'"),
    ("", "viewer", "Invalid e-mail address (empty)"),
    ("ana@example.org, bob@example.org", "viewer", "write one address"),
])
def test_an_invalid_grant_is_refused_with_the_reason_and_nothing_changes(team, email, role, message):
    before = members(team)
    at = signed_in(ADMIN)
    at.text_input(key="acc_grant_email").set_value(email)
    at.selectbox(key="acc_grant_role").set_value(role)
    at.button[0].click().run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert members(team) == before


def test_revoking_asks_first_names_what_it_leaves_and_then_revokes(team):
    at = signed_in(ADMIN)
    at.selectbox(key="acc_pick").set_value(f"{ANA} · team · owner")
    at.button(key="acc_revoke").click().run()
    assert "'team' will have no owner left" in at.warning[0].value
    at.button(key="acc_revoke_cancel").click().run()
    assert members(team) == [(ANA, "team", "owner")]
    at.button(key="acc_revoke").click().run()
    at.button(key="acc_revoke_yes").click().run()
    assert not at.exception and members(team) == []
    assert at.success[0].value == "Revoked ana@example.org's owner role on 'team'."


def test_with_sign_in_off_the_local_user_is_the_admin_and_the_page_says_roles_wait_for_sign_in(workspaces):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception and not at.error
    assert "Sign-in is off" in at.info[0].value
    assert "Nobody has signed in yet" in at.info[1].value


def test_the_app_lists_the_page_for_admins_and_answers_a_typed_address_for_others(team):
    admin = signed_in(ADMIN, APP)
    assert not admin.exception
    admin.switch_page("app_pages/access.py").run()
    assert not admin.exception and admin.title[0].value == "Access" and len(admin.dataframe) == 2
    other = signed_in(BOB, APP)
    other.switch_page("app_pages/access.py").run()  # hidden from the menu, reachable by its address
    assert not other.exception
    assert any("only an admin may" in e.value for e in other.error)


def test_roles_left_on_a_workspace_that_is_gone_are_listed_and_can_be_revoked(team, embedding_function):
    kb = KnowledgeBase.from_settings(load_settings(), embedding_function)
    kb.delete_workspace("team")  # behind the app's back: the roles stay
    kb.manifest.close()
    at = signed_in(ADMIN)
    spaces = at.dataframe[1].value
    assert list(spaces["workspace"]) == ["sales", "team"]
    assert "no longer in the knowledge base" in list(spaces["note"])[1]
    assert at.selectbox(key="acc_grant_workspace").options == ["sales"]  # no new role on a workspace that is gone
    at.button(key="acc_revoke").click().run()
    at.button(key="acc_revoke_yes").click().run()
    assert not at.exception and members(team) == []
