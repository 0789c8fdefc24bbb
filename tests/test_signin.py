"""The sign-in gate (RAGTUNE_AUTH none | oidc | proxy): its pure rules in ``ragtune.access.signin``, then app.py
under AppTest in each mode: what a visitor sees before any page runs, and what a signed-in user sees.

AppTest seeds ``st.user`` (``at.user``), the secrets (``at.secrets``) and config options, but not request headers:
the proxy's header is tested in a real browser (tests/test_browser_signin.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.access import AccessStore
from ragtune.access.signin import (COOKIE_SECRET_MIN, auth_problem, invalid_identity, is_loopback, missing_identity,
                                   oidc_problem, open_access_warning, origin, proxy_identity, proxy_problem,
                                   sign_in_address_hint)
from ragtune.config import PROJECT_ROOT, Settings, load_settings
from ragtune.errors import InputError
from tests.signin_secrets import AUTH, CLIENT_SECRET, COOKIE

APP = str(PROJECT_ROOT / "app.py")


def settings(**values: str) -> Settings:
    return Settings(**values)


# -- where the app listens -------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.0.2", "::1", "[::1]", "localhost", " LocalHost ",
                                     "::ffff:127.0.0.1"])
def test_loopback_addresses_are_reachable_from_this_machine_only(address):
    assert is_loopback(address)


@pytest.mark.parametrize("address", [None, "", "0.0.0.0", "::", "[::]", "192.168.1.20", "10.0.0.5", "fe80::1",
                                     "ragtune.example.org", "myhost", "127.0.0.1.example.org"])
def test_unset_wildcard_network_and_host_name_addresses_are_not_loopback(address):
    # unset is Streamlit's default, which listens on every interface; a name may resolve to any of them
    assert not is_loopback(address)


# -- none: the open-address warning ----------------------------------------------------------------

def test_without_sign_in_an_open_address_warns_that_everyone_is_an_admin():
    text = open_access_warning(settings(auth="none"), "0.0.0.0")
    assert text and "is an admin" in text and "every network interface" in text
    assert "RAGTUNE_AUTH=oidc" in text and "--server.address 127.0.0.1" in text
    assert "server.address is not set" in open_access_warning(settings(auth="none"), None)
    assert "192.168.1.20" in open_access_warning(settings(auth="none"), "192.168.1.20")


def test_without_sign_in_on_loopback_or_with_sign_in_there_is_no_warning():
    assert open_access_warning(settings(auth="none"), "127.0.0.1") is None
    assert open_access_warning(settings(auth="oidc"), "0.0.0.0") is None
    assert open_access_warning(settings(auth="proxy"), None) is None


# -- oidc: a usable [auth] section -----------------------------------------------------------------

def test_a_complete_auth_section_is_usable_flat_or_with_a_default_provider_table():
    assert oidc_problem({"auth": AUTH}) is None
    shared = {k: AUTH[k] for k in ("redirect_uri", "cookie_secret")}
    provider = {k: v for k, v in AUTH.items() if k not in shared}
    assert oidc_problem({"auth": {**shared, "default": provider}}) is None
    assert auth_problem(settings(auth="oidc"), "0.0.0.0", {"auth": AUTH}) is None


def test_no_secrets_file_names_where_it_was_looked_for():
    text = oidc_problem(None, secret_files=["/home/u/.streamlit/secrets.toml", "/srv/app/.streamlit/secrets.toml"])
    assert "no secrets file could be read" in text and "/srv/app/.streamlit/secrets.toml" in text
    assert "[auth]" in text and "Sign-in and permissions" in text


@pytest.mark.parametrize("secrets", [{}, {"other": {"a": 1}}, {"auth": {}}, {"auth": "yes"}])
def test_secrets_without_an_auth_section_say_so(secrets):
    assert "no [auth] section" in oidc_problem(secrets)


def test_missing_keys_are_each_named_with_what_they_are_and_present_ones_are_not():
    auth = {k: v for k, v in AUTH.items() if k not in ("cookie_secret", "server_metadata_url")}
    auth["client_id"] = "  "  # blank is missing
    text = oidc_problem({"auth": auth})
    assert "cookie_secret (a long random string" in text and "server_metadata_url (the provider's" in text
    assert "client_id (the client id" in text
    assert "redirect_uri" not in text and "client_secret" not in text


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("redirect_uri", "http://localhost:8501/", "must end with /oauth2callback"),
    ("redirect_uri", "localhost:8501/oauth2callback", "redirect_uri must be an absolute"),
    ("redirect_uri", "http://localhost:port/oauth2callback", "redirect_uri is not a valid URL"),
    ("server_metadata_url", "/.well-known/openid-configuration", "server_metadata_url must be an absolute"),
    ("cookie_secret", "short", f"shorter than {COOKIE_SECRET_MIN} characters"),
])
def test_unusable_values_are_named(key, value, expected):
    assert expected in oidc_problem({"auth": {**AUTH, key: value}})


def test_a_redirect_uri_with_streamlits_port_placeholder_is_usable():
    assert oidc_problem({"auth": {**AUTH, "redirect_uri": "http://localhost:{port}/oauth2callback"}}) is None


def test_secret_values_are_never_repeated_in_a_problem():
    for auth in ({**AUTH, "redirect_uri": "nope"}, {**AUTH, "cookie_secret": "tiny-secret"},
                 {k: v for k, v in AUTH.items() if k != "client_id"}):
        text = oidc_problem({"auth": auth})
        assert text and CLIENT_SECRET not in text and "tiny-secret" not in text and COOKIE not in text


def test_without_authlib_or_with_an_old_one_oidc_names_the_install_step():
    assert "Authlib" in oidc_problem({"auth": AUTH}, authlib=None)
    assert "1.2.0, too old" in oidc_problem({"auth": AUTH}, authlib=(1, 2, 0))
    assert oidc_problem({"auth": AUTH}, authlib=(1, 9, 10)) is None


# -- proxy: loopback only ----------------------------------------------------------------------------

def test_proxy_mode_is_refused_unless_the_app_listens_on_loopback_only():
    text = proxy_problem("X-Auth-Email", "0.0.0.0")
    assert text and "refused" in text and "X-Auth-Email" in text and "--server.address 127.0.0.1" in text
    assert proxy_problem("X-Auth-Email", None)  # Streamlit's default listens on every interface
    assert proxy_problem("X-Auth-Email", "127.0.0.1") is None
    proxied = settings(auth="proxy", proxy_header="Remote-Email")
    assert "Remote-Email" in auth_problem(proxied, "10.0.0.5", None)
    assert auth_problem(proxied, "::1", None) is None


def test_a_request_without_the_header_or_with_a_bad_one_is_explained():
    assert "sent no identity" in missing_identity("Remote-Email") and "Remote-Email header" in missing_identity(
        "Remote-Email")
    bad = InputError("Invalid e-mail address 'ana': write one address, e.g. ana@example.org.")
    text = invalid_identity(settings(auth="proxy", proxy_header="X-Forwarded-User"), bad)
    assert "X-Forwarded-User header does not hold one e-mail address" in text and "'ana'" in text
    assert "Sign out" in invalid_identity(settings(auth="oidc"), bad)


def test_the_proxys_header_gives_the_address_and_a_second_one_is_refused():
    assert proxy_identity(["ana@example.org"], "X-Forwarded-Email") == "ana@example.org"
    assert proxy_identity([], "X-Forwarded-Email") is None and proxy_identity(["  "], "X-Forwarded-Email") is None
    with pytest.raises(InputError, match="2 X-Forwarded-Email headers: the proxy must replace"):
        # a client's own header beside the proxy's: which is which cannot be told
        proxy_identity(["boss@example.org", "ana@example.org"], "X-Forwarded-Email")


def test_none_has_no_problem_whatever_the_address():
    assert auth_problem(settings(auth="none"), "0.0.0.0", None) is None


# -- oidc: the address the provider returns to ------------------------------------------------------

def test_a_browser_at_another_origin_than_the_redirect_uri_is_told_where_to_open_the_app():
    hint = sign_in_address_hint("http://localhost:8501/oauth2callback", "http://127.0.0.1:8501/knowledge")
    assert hint and "Open the app at http://localhost:8501" in hint and "http://127.0.0.1:8501" in hint
    assert sign_in_address_hint("http://localhost:8501/oauth2callback", "http://localhost:8501/lab?x=1") is None
    assert sign_in_address_hint("https://rag.example.org/oauth2callback", "https://rag.example.org:443/") is None
    assert sign_in_address_hint("http://localhost:{port}/oauth2callback", "http://localhost:8600/", port=8600) is None
    assert sign_in_address_hint("http://localhost:8501/oauth2callback", None) is None
    assert origin("http://[::1]:8501/x") == "http://[::1]:8501" and origin("mailto:a@b") is None


# -- app.py under AppTest ----------------------------------------------------------------------------

@contextmanager
def listening_on(address: str | None) -> Iterator[None]:
    """The server's ``server.address`` option (as ``--server.address`` sets it), restored afterwards: set for
    real, because ``st.get_option`` does not see ``patch_config_options``."""
    from streamlit import config

    before, where = config.get_option("server.address"), config.get_where_defined("server.address")
    config.set_option("server.address", address)
    try:
        yield
    finally:
        config.set_option("server.address", before, where)


def app(monkeypatch: pytest.MonkeyPatch, auth: str, **env: str) -> AppTest:
    monkeypatch.setenv("RAGTUNE_AUTH", auth)
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    for name, value in env.items():
        monkeypatch.setenv(f"RAGTUNE_{name.upper()}", value)
    return AppTest.from_file(APP, default_timeout=120)


def page_text(at: AppTest) -> str:
    return " ".join([t.value for t in at.title] + [m.value for m in at.markdown] + [c.value for c in at.caption]
                    + [w.value for w in at.warning] + [e.value for e in at.error])


def nothing_else_ran(at: AppTest) -> bool:
    """Only the gate's page: no page title but ragtune's, no sidebar (no model chooser, no user)."""
    return [t.value for t in at.title] == ["ragtune"] and not at.sidebar.children and not at.selectbox


@pytest.fixture()
def oidc_app(monkeypatch: pytest.MonkeyPatch, tiny_env: Path) -> AppTest:
    at = app(monkeypatch, "oidc", admins="boss@example.org")
    at.secrets["auth"] = dict(AUTH)
    return at


def test_without_sign_in_on_loopback_the_app_runs_as_before_with_no_warning(monkeypatch, tiny_env):
    at = app(monkeypatch, "none")
    with listening_on("127.0.0.1"):
        at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "is an admin" not in page_text(at)
    assert at.title[0].value == "ragtune" and at.sidebar.selectbox  # Home and the model chooser
    assert not [c for c in at.sidebar.caption if "Signed in" in c.value]


def test_without_sign_in_on_an_open_address_every_page_warns_that_anyone_is_an_admin(monkeypatch, tiny_env):
    at = app(monkeypatch, "none")
    with listening_on("0.0.0.0"):
        at.run()
        assert not at.exception
        assert any("Anyone who can reach this app is an admin" in w.value for w in at.warning)
        at.switch_page("app_pages/decide.py").run()
    assert not at.exception
    assert any("Anyone who can reach this app is an admin" in w.value for w in at.warning)
    assert any("Decide" in t.value for t in at.title)  # the page still runs


def test_oidc_without_an_auth_section_shows_what_is_missing_and_nothing_else(monkeypatch, tiny_env):
    at = app(monkeypatch, "oidc")
    at.secrets["unrelated"] = "x"  # secrets without [auth] (and no secrets file of the machine's in the way)
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "no [auth] section" in at.error[0].value
    assert nothing_else_ran(at) and not at.button


def test_oidc_with_an_incomplete_auth_section_names_the_missing_keys(monkeypatch, tiny_env):
    at = app(monkeypatch, "oidc")
    at.secrets["auth"] = {k: v for k, v in AUTH.items() if k != "client_secret"}
    at.run()
    assert not at.exception and "client_secret (that client's secret)" in at.error[0].value
    assert nothing_else_ran(at)


def test_oidc_signed_out_gets_the_sign_in_page_even_on_a_deep_link(oidc_app):
    oidc_app.user = {"is_logged_in": False}
    oidc_app.switch_page("app_pages/knowledge.py").run()
    assert not oidc_app.exception and not oidc_app.error
    assert [b.label for b in oidc_app.button] == ["Sign in"]
    assert "RAG or fine-tuning?" in page_text(oidc_app)
    assert nothing_else_ran(oidc_app)  # the Knowledge page did not run


def test_oidc_signed_in_shows_the_user_and_sign_out_in_the_sidebar_and_records_the_sign_in(oidc_app, data_dir):
    oidc_app.user = {"is_logged_in": True, "email_verified": True, "email": "Ana.Lima@Example.org", "name": "Ana Lima"}
    oidc_app.run()
    assert not oidc_app.exception and not oidc_app.error, [e.value for e in oidc_app.error]
    who = [c.value for c in oidc_app.sidebar.caption if "Signed in as" in c.value]
    assert who == [":material/account_circle: Signed in as **Ana Lima** · `ana.lima@example.org`"]
    assert [b.label for b in oidc_app.sidebar.button][:1] == ["Sign out"]
    assert oidc_app.title[0].value == "ragtune" and oidc_app.sidebar.selectbox  # Home and the sidebar ran
    store = AccessStore(load_settings().access_file)
    user = store.user("ana.lima@example.org")
    assert user is not None and user.name == "Ana Lima" and user.first_seen > 0


def test_a_first_sign_in_makes_the_personal_workspace_once(oidc_app, data_dir):
    from ragtune.retrieval.knowledge import KnowledgeBase

    oidc_app.user = {"is_logged_in": True, "email_verified": True, "email": "ana.lima@example.org", "name": "Ana Lima"}
    oidc_app.run()
    assert not oidc_app.exception and not oidc_app.error, [e.value for e in oidc_app.error]
    assert [t.value for t in oidc_app.toast] == [
        "Welcome! Your personal workspace 'ana.lima' is ready: add documents on the Knowledge page."]
    store = AccessStore(load_settings().access_file)
    assert store.user("ana.lima@example.org").personal_workspace == "ana.lima"
    assert store.role("ana.lima@example.org", "ana.lima") == "owner"
    oidc_app.run()  # the same session again: recorded once
    again = AppTest.from_file(APP, default_timeout=120)  # a new session of the same user: not a first sign-in
    again.secrets["auth"], again.user = dict(AUTH), dict(oidc_app.user)
    again.run()
    assert not again.exception and not again.toast
    kb = KnowledgeBase.from_settings(load_settings())
    assert [w.name for w in kb.list_workspaces()] == ["ana.lima"]


def test_an_admin_is_marked_as_one(oidc_app):
    oidc_app.user = {"is_logged_in": True, "email_verified": True, "email": "boss@example.org"}
    oidc_app.run()
    assert any(c.value.endswith("`boss@example.org` · admin") for c in oidc_app.sidebar.caption)


def test_sign_out_ends_the_session_back_to_the_sign_in_page(oidc_app):
    oidc_app.user = {"is_logged_in": True, "email_verified": True, "email": "ana@example.org"}
    oidc_app.run()
    oidc_app.sidebar.button(key="signed_in_sign_out").click().run()
    assert not oidc_app.exception and not oidc_app.title  # the page is not drawn for the user who left
    oidc_app.run()  # the browser comes back from the provider's sign-out
    assert [b.label for b in oidc_app.button] == ["Sign in"] and nothing_else_ran(oidc_app)


def test_a_provider_that_sends_no_email_claim_is_explained_with_a_way_out(oidc_app):
    oidc_app.user = {"is_logged_in": True, "sub": "1234", "name": "No Mail"}
    oidc_app.run()
    assert not oidc_app.exception
    assert "'email' claim" in oidc_app.error[0].value and nothing_else_ran(oidc_app)
    assert [b.label for b in oidc_app.button] == ["Sign out"]


def test_proxy_mode_on_an_open_address_is_refused_before_anything_runs(monkeypatch, tiny_env):
    at = app(monkeypatch, "proxy")
    with listening_on("0.0.0.0"):
        at.run()
    assert not at.exception
    assert "RAGTUNE_AUTH=proxy is refused" in at.error[0].value and nothing_else_ran(at)


def test_proxy_mode_without_the_header_names_the_header_it_expected(monkeypatch, tiny_env):
    at = app(monkeypatch, "proxy", proxy_header="Remote-Email")
    with listening_on("127.0.0.1"):
        at.run()  # AppTest sends no headers: the request of someone who bypassed the proxy's identity
    assert not at.exception
    assert "sent no identity" in at.error[0].value and "Remote-Email header" in at.error[0].value
    assert nothing_else_ran(at)


def test_an_address_the_provider_has_not_verified_does_not_sign_in(oidc_app):
    # Roles and admin rights go by address: an unverified one (typed into the account) could be an admin's.
    oidc_app.user = {"is_logged_in": True, "email": "boss@example.org", "email_verified": False}
    oidc_app.run()
    assert not oidc_app.exception
    assert "'email_verified'" in oidc_app.error[0].value and nothing_else_ran(oidc_app)
    assert [b.label for b in oidc_app.button] == ["Sign out"]
    oidc_app.user = {"is_logged_in": True, "email": "boss@example.org"}  # a provider that says nothing
    oidc_app.run()
    assert "'email_verified'" in oidc_app.error[0].value and nothing_else_ran(oidc_app)


@pytest.mark.parametrize("claims, require, expected", [
    ({"email": "A@x.org", "email_verified": True, "name": "A"}, True, ("A@x.org", "A")),
    ({"email": "a@x.org", "email_verified": "true"}, True, ("a@x.org", "")),  # some providers send text
    ({"email": "a@x.org"}, False, ("a@x.org", "")),  # RAGTUNE_OIDC_REQUIRE_VERIFIED_EMAIL=false
    ({"email": "a@x.org", "email_verified": "false"}, True, None),
    ({"email": "a@x.org", "email_verified": 1}, True, None),
    ({"name": "no mail", "email_verified": True}, False, None),
])
def test_the_identity_comes_from_a_verified_email_claim(claims, require, expected):
    from ragtune.access.signin import oidc_identity

    if expected is None:
        with pytest.raises(InputError):
            oidc_identity(claims, require_verified=require)
    else:
        assert oidc_identity(claims, require_verified=require) == expected
