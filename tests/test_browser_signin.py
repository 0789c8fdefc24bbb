"""Sign-in end to end in a real browser: ``streamlit run app.py`` with RAGTUNE_AUTH=oidc against a real OpenID
Connect provider on loopback (``oidc-provider-mock``), and with RAGTUNE_AUTH=proxy as a reverse proxy would call
it (the identity header on every request, the websocket's included).

Debian's Chromium driven by Playwright, as tests/test_browser.py (whose helpers this reuses); skipped, and saying
so, where /usr/bin/chromium is missing. Each user signs in in a fresh browser context: the identity cookie lasts
30 days, so a shared context would carry one user's sign-in into the next.
"""

from __future__ import annotations

import json
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

from ragtune.access import AccessStore
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
]

WAIT = 120_000
VIEWPORT = {"width": 1400, "height": 1000}


class User(NamedTuple):
    """A user of the provider: the subject typed on its sign-in form, and the claims it then sends."""

    sub: str
    email: str
    name: str


ANA = User("ana", "ana.lima@example.org", "Ana Lima")
BO = User("bo", "bo.berg@example.org", "Bo Berg")
BOSS = User("boss", "boss@example.org", "The Admin")


class Provider(NamedTuple):
    url: str

    def add(self, user: User) -> None:
        """Register ``user``'s claims (``PUT /users/{sub}``): the provider then sends them on sign-in."""
        body = json.dumps({"email": user.email, "email_verified": True, "name": user.name}).encode()
        request = urllib.request.Request(f"{self.url}/users/{user.sub}", data=body, method="PUT",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert reply.status == 204


@pytest.fixture()
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    """A real OpenID Connect provider on loopback, with ANA, BO and BOSS registered."""
    # The mock imports authlib.jose, which warns that joserfc replaces it (it works). Authlib's own import puts
    # an "always" filter first, so ours goes in after it.
    with warnings.catch_warnings():
        import authlib.deprecate  # noqa: F401
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import run_server_in_thread

    # Plain http on loopback: Authlib refuses OAuth over http unless told (the app's server inherits this too).
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with run_server_in_thread() as server:
        found = Provider(f"http://localhost:{server.server_port}")
        for user in (ANA, BO, BOSS):
            found.add(user)
        yield found


@pytest.fixture()
def oidc_app(provider: Provider, data_dir: Path, tiny_model: Path, tmp_path: Path) -> Iterator[str]:
    """The app with RAGTUNE_AUTH=oidc, its ``[auth]`` secrets pointing at ``provider``, on the tiny model."""
    secrets = tmp_path / "secrets.toml"
    # {port}: Streamlit fills in the port it listens on. The host must be the one the browser uses (127.0.0.1).
    secrets.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{"5e" * 24}"\n'
        'client_id = "ragtune-test"\n'
        'client_secret = "any-secret-the-mock-accepts"\n'
        f'server_metadata_url = "{provider.url}/.well-known/openid-configuration"\n')
    with serve(data_dir, tmp_path / "streamlit.log", streamlit_args=["--secrets.files", str(secrets)],
               RAGTUNE_AUTH="oidc", RAGTUNE_ADMINS=BOSS.email, RAGTUNE_MODEL_PATH=str(tiny_model)) as url:
        yield url


@pytest.fixture()
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# -- helpers: a user signs in, a user signs out --------------------------------------------------------

def expect_sign_in_page(page: Page) -> None:
    from playwright.sync_api import expect

    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=WAIT)
    expect(page.get_by_test_id("stSidebar")).to_have_count(0)  # no pages, no model: nothing else ran


def expect_signed_in(page: Page, user: User) -> None:
    from playwright.sync_api import expect

    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text(f"Signed in as {user.name} · {user.email}")).to_be_visible(timeout=WAIT)
    expect(sidebar.get_by_role("button", name="Sign out")).to_be_visible()


def sign_in(browser: Browser, app_url: str, user: User, *, path: str = "") -> Page:
    """``user`` signs in, in a fresh browser context, from ``app_url/path``; returns the page, signed in."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{app_url}/{path}")
    expect_sign_in_page(page)
    page.get_by_role("button", name="Sign in").click()
    page.locator("input[name=sub]").fill(user.sub)  # the provider's form
    page.get_by_role("button", name="Authorize").click()
    expect_signed_in(page, user)
    return page


def sign_out(page: Page) -> None:
    """Sign out from the sidebar, through the provider's end-session page, back to the app's sign-in page."""
    page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click(timeout=WAIT)  # the provider asks to confirm
    expect_sign_in_page(page)


# -- oidc ---------------------------------------------------------------------------------------------

def test_a_deep_link_signed_out_lands_on_the_sign_in_page_and_runs_no_page(oidc_app: str, browser: Browser):
    from playwright.sync_api import expect

    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{oidc_app}/knowledge")
    expect_sign_in_page(page)
    expect(page.get_by_role("heading", name="Knowledge")).to_have_count(0)
    expect(page.get_by_text("RAG or fine-tuning?")).to_be_visible()
    assert "Page not found" not in page.inner_text("body")


def test_two_users_sign_in_in_turn_and_sign_out_ends_the_session(oidc_app: str, browser: Browser, data_dir: Path):
    from playwright.sync_api import expect

    ana = sign_in(browser, oidc_app, ANA, path="knowledge")
    expect(ana.get_by_role("heading", name="ragtune")).to_be_visible()  # the provider returns to Home
    ana.goto(f"{oidc_app}/knowledge")  # the deep link works now, signed in
    expect(ana.get_by_role("heading", name="Knowledge")).to_be_visible(timeout=WAIT)
    expect_signed_in(ana, ANA)

    sign_out(ana)
    ana.goto(f"{oidc_app}/knowledge")  # the identity cookie is gone: still signed out after a reload
    expect_sign_in_page(ana)

    bo = sign_in(browser, oidc_app, BO)
    expect(bo.get_by_text(ANA.email)).to_have_count(0)

    store = AccessStore(data_dir / "access.sqlite3")
    assert {u.email: (u.name, u.personal_workspace) for u in store.users()} == {
        ANA.email: (ANA.name, "ana.lima"), BO.email: (BO.name, "bo.berg")}  # made on each one's first sign-in


def test_an_admin_is_marked_as_one_in_the_sidebar(oidc_app: str, browser: Browser):
    from playwright.sync_api import expect

    page = sign_in(browser, oidc_app, BOSS)
    expect(page.get_by_test_id("stSidebar").get_by_text(f"{BOSS.email} · admin")).to_be_visible()


# -- proxy --------------------------------------------------------------------------------------------

@pytest.fixture()
def proxied_app(data_dir: Path, tiny_model: Path, tmp_path: Path) -> Iterator[str]:
    """The app with RAGTUNE_AUTH=proxy on loopback, as behind oauth2-proxy (X-Forwarded-Email)."""
    with serve(data_dir, tmp_path / "streamlit.log", RAGTUNE_AUTH="proxy", RAGTUNE_MODEL_PATH=str(tiny_model)) as url:
        yield url


def test_behind_a_proxy_the_header_signs_the_user_in_and_its_absence_or_a_bad_value_is_explained(
        proxied_app: str, browser: Browser, data_dir: Path):
    from playwright.sync_api import expect

    # The proxy sets the header on every request, the websocket's included: Streamlit reads it from there.
    page = browser.new_context(viewport=VIEWPORT, extra_http_headers={"X-Forwarded-Email": "Ana.Lima@Example.org"}
                               ).new_page()
    page.goto(f"{proxied_app}/knowledge")
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Signed in as ana.lima@example.org")).to_be_visible(timeout=WAIT)
    expect(sidebar.get_by_text("Signed in through the proxy: sign out there.")).to_be_visible()
    expect(page.get_by_role("heading", name="Knowledge")).to_be_visible(timeout=WAIT)
    assert AccessStore(data_dir / "access.sqlite3").user("ana.lima@example.org") is not None

    bypass = browser.new_context(viewport=VIEWPORT).new_page()  # no header: someone who went around the proxy
    bypass.goto(f"{proxied_app}/knowledge")
    expect(bypass.get_by_text("The proxy sent no identity")).to_be_visible(timeout=WAIT)
    expect(bypass.get_by_text("X-Forwarded-Email header").first).to_be_visible()
    expect(bypass.get_by_test_id("stSidebar")).to_have_count(0)

    bad = browser.new_context(viewport=VIEWPORT, extra_http_headers={"X-Forwarded-Email": "ana"}).new_page()
    bad.goto(proxied_app)
    expect(bad.get_by_text("does not hold one e-mail address")).to_be_visible(timeout=WAIT)
    expect(bad.get_by_test_id("stSidebar")).to_have_count(0)
