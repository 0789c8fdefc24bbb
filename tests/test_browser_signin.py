"""Sign-in end to end in a real browser: ``streamlit run app.py`` with RAGTUNE_AUTH=oidc against a real OpenID
Connect provider on loopback (``oidc-provider-mock``), and with RAGTUNE_AUTH=proxy as a reverse proxy would call
it (the identity header on every request, the websocket's included).

Then what each user sees, on one server with the demo workspaces: a user finds nothing of another user's workspace
on the Knowledge page, in its search, the Lab's and the Benchmark's workspace lists, History or a hand-edited Lab
link; an admin sees every workspace and everyone's queries, and grants (then revokes) a role on the Access page.

Debian's Chromium driven by Playwright, as tests/test_browser.py (whose helpers this reuses); skipped, and saying
so, where /usr/bin/chromium is missing. Each user signs in in a fresh browser context: the identity cookie lasts
30 days, so a shared context would carry one user's sign-in into the next.
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from ragtune.access import AccessStore
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

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


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """A real OpenID Connect provider on loopback, with ANA, BO and BOSS registered (one for the module: it
    keeps no state between sign-ins beyond the users' claims)."""
    # The mock imports authlib.jose, which warns that joserfc replaces it (it works). Authlib's own import puts
    # an "always" filter first, so ours goes in after it.
    with warnings.catch_warnings():
        import authlib.deprecate  # noqa: F401
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import run_server_in_thread

    # Plain http on loopback: Authlib refuses OAuth over http unless told (the app's server inherits this too).
    with pytest.MonkeyPatch.context() as patch, run_server_in_thread() as server:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
        found = Provider(f"http://localhost:{server.server_port}")
        for user in (ANA, BO, BOSS):
            found.add(user)
        yield found


def write_auth_secrets(path: Path, provider: Provider) -> Path:
    """The app's ``[auth]`` secrets pointing at ``provider``."""
    # {port}: Streamlit fills in the port it listens on. The host must be the one the browser uses (127.0.0.1).
    path.write_text(
        "[auth]\n"
        'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{"5e" * 24}"\n'
        'client_id = "ragtune-test"\n'
        'client_secret = "any-secret-the-mock-accepts"\n'
        f'server_metadata_url = "{provider.url}/.well-known/openid-configuration"\n')
    return path


@pytest.fixture()
def oidc_app(provider: Provider, data_dir: Path, tiny_model: Path, tmp_path: Path) -> Iterator[str]:
    """The app with RAGTUNE_AUTH=oidc, its ``[auth]`` secrets pointing at ``provider``, on the tiny model."""
    secrets = write_auth_secrets(tmp_path / "secrets.toml", provider)
    with serve(data_dir, tmp_path / "streamlit.log", streamlit_args=["--secrets.files", str(secrets)],
               RAGTUNE_AUTH="oidc", RAGTUNE_ADMINS=BOSS.email, RAGTUNE_MODEL_PATH=str(tiny_model)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module: each user signs in in a fresh context of it."""
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
    expect(page.get_by_role("heading", name="Knowledge", exact=True)).to_have_count(0)
    expect(page.get_by_text("RAG or fine-tuning?")).to_be_visible()
    assert "Page not found" not in page.inner_text("body")


def test_two_users_sign_in_in_turn_and_sign_out_ends_the_session(oidc_app: str, browser: Browser, data_dir: Path):
    from playwright.sync_api import expect

    ana = sign_in(browser, oidc_app, ANA, path="knowledge")
    expect(ana.get_by_role("heading", name="ragtune", exact=True)).to_be_visible()  # the provider returns to Home
    ana.goto(f"{oidc_app}/knowledge")  # the deep link works now, signed in
    expect(ana.get_by_role("heading", name="Knowledge", exact=True)).to_be_visible(timeout=WAIT)
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
    expect(page.get_by_role("heading", name="Knowledge", exact=True)).to_be_visible(timeout=WAIT)
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


# -- what each user sees: two users, an admin -----------------------------------------------------------
# One server for these tests, with the demo workspace (and the tenant demo's two workspaces beside it) on:
# Ana signs in first, puts a fact only she may know into her personal workspace and asks about it in the Lab;
# then Bo must find it nowhere, and the admin everywhere. Each user's page stays open between tests; the admin's
# grant is revoked again before the end, so the two tests hold in either order.

SECRET = "KESTREL-4417"
"""Ana's fact: the one string that must never reach Bo's browser."""
ANA_DOC = (f"# Quillfeather vault\n\nThe Quillfeather vault code is {SECRET}. Only Ana's team may know it; the "
           "vault opens on weekdays between nine and five.\n").encode()
ANA_QUESTION = "What is the Quillfeather vault code?"
ANA_SPACE = "ana.lima"  # her personal workspace (the local part of her address)
BO_SPACE = "bo.berg"
SHARED = {"demo"}  # readable by everyone; the tenant workspaces are their personas' only


class Team(NamedTuple):
    """The served app, and each user's signed-in page (opened on first use, then reused)."""

    url: str
    browser: Browser
    data_dir: Path
    pages: dict[str, Page]

    def page(self, user: User) -> Page:
        if user.email not in self.pages:
            self.pages[user.email] = sign_in(self.browser, self.url, user)
        return self.pages[user.email]

    def open(self, user: User, path: str, heading: str) -> Page:
        """``user``'s page at ``url/path`` (a reload: a fresh run of the page), once its heading shows."""
        from playwright.sync_api import expect

        page = self.page(user)
        page.goto(f"{self.url}/{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=WAIT)
        expect_signed_in(page, user)
        settled(page)
        return page


@pytest.fixture(scope="module")
def team(provider: Provider, browser: Browser, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Team]:
    """The app with sign-in on and the demo workspaces seeded, on the tiny model with short answers."""
    data_dir, folder = tmp_path_factory.mktemp("team-data"), tmp_path_factory.mktemp("team-app")
    secrets = write_auth_secrets(folder / "secrets.toml", provider)
    with serve(data_dir, folder / "streamlit.log", streamlit_args=["--secrets.files", str(secrets)],
               RAGTUNE_AUTH="oidc", RAGTUNE_ADMINS=BOSS.email, RAGTUNE_MODEL_PATH=str(tiny_model),
               RAGTUNE_DEMO_WORKSPACE="demo", RAGTUNE_MAX_TOKENS="16", RAGTUNE_N_THREADS="1") as url:
        yield Team(url, browser, data_dir, {})


def open_list(page: Page, label: str) -> Locator:
    """Open the selectbox labelled ``label``; returns its list of options."""
    from playwright.sync_api import expect

    combobox = page.get_by_role("combobox", name=label, exact=True)
    # Into view first: the list closes when the page scrolls, as it does when a click brings a box into view.
    combobox.scroll_into_view_if_needed()
    combobox.click()
    listbox = page.get_by_role("listbox")
    expect(listbox).to_be_visible()
    return listbox


def options(page: Page, label: str) -> list[str]:
    """The options a selectbox offers (opened, read, closed again)."""
    from playwright.sync_api import expect

    listbox = open_list(page, label)
    found = [text.strip() for text in listbox.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    expect(listbox).to_have_count(0)
    return found


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    from playwright.sync_api import expect

    combobox = page.get_by_role("combobox", name=label, exact=True)
    open_list(page, label).get_by_role("option", name=option, exact=True).click()
    expect(combobox).to_have_value(option)


def settled(page: Page) -> None:
    """Wait until the page's script has finished its run and everything it drew is there (an element whose code
    loads on first use, such as a table, is a placeholder a moment longer)."""
    from playwright.sync_api import expect

    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning", timeout=WAIT)
    expect(page.get_by_test_id("stSkeleton")).to_have_count(0, timeout=WAIT)


def exported_history(page: Page) -> list[dict[str, str]]:
    """The rows of the History page's CSV export, as the browser downloads it (the table itself is drawn on a
    canvas: its cells are not text in the page)."""
    with page.expect_download() as download:
        page.get_by_role("button", name="Export these queries (CSV)").click()
    return list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))


def menu_link(page: Page, title: str) -> Locator:
    """The sidebar menu's link to the page ``title`` (the menu drawn first)."""
    from playwright.sync_api import expect

    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Home", exact=True)).to_be_visible(timeout=WAIT)
    return nav.get_by_role("link", name=title, exact=True)


def body(page: Page) -> str:
    """Everything the page shows, once its run has finished."""
    settled(page)
    return page.inner_text("body")


def search(page: Page, workspace: str, query: str) -> None:
    """Search ``workspace`` on the Knowledge page (picked in its selectbox) for ``query``; waits for the result."""
    from playwright.sync_api import expect

    choose(page, "Workspace", workspace)
    box = page.get_by_label("Search this workspace")
    box.fill(query)
    box.press("Enter")
    expect(page.get_by_text(re.compile(rf"search · \d+ ms · workspace '{re.escape(workspace)}'$"))
           ).to_be_visible(timeout=WAIT)


@pytest.fixture(scope="module")
def ana_asked(team: Team) -> str:
    """Ana, signed in, uploads her document to her personal workspace on the Knowledge page and asks about it in
    the Lab (RAG over her workspace); returns the Lab's permalink of her comparison."""
    from playwright.sync_api import expect

    page = team.open(ANA, "knowledge", "Knowledge")
    choose(page, "Workspace", ANA_SPACE)
    expect(page.get_by_text("No documents yet")).to_be_visible(timeout=WAIT)  # made empty on her first sign-in
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "vault.md", "mimeType": "text/markdown", "buffer": ANA_DOC}])
    page.get_by_role("button", name="Ingest 1 file(s)").click()
    expect(page.get_by_text(f"1 of 1 files ingested into '{ANA_SPACE}'.")).to_be_visible(timeout=WAIT)
    search(page, ANA_SPACE, ANA_QUESTION)
    assert SECRET in body(page)  # her own fact: she finds it

    page.goto(f"{team.url}/lab?{urlencode({'q': ANA_QUESTION, 'modes': 'rag', 'workspace': ANA_SPACE})}")
    expect(page.get_by_role("combobox", name="Workspace", exact=True)).to_have_value(ANA_SPACE, timeout=WAIT)
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_text("Share and take away")).to_be_visible(timeout=WAIT)
    expect(page).to_have_url(re.compile(r"[?&]run=[0-9a-f]{12}"))
    return page.url


def test_a_user_sees_nothing_of_another_users_workspace_anywhere(team: Team, ana_asked: str):
    from playwright.sync_api import expect

    assert ANA_SPACE in parse_qs(urlsplit(ana_asked).query)["workspace"]
    own = {BO_SPACE, *SHARED}

    # Knowledge: only Bo's own workspace and the demo to pick, so search cannot target Ana's; and searching
    # what Bo may read for Ana's question finds none of her text.
    page = team.open(BO, "knowledge", "Knowledge")
    assert set(options(page, "Workspace")) == own
    for workspace in sorted(own):
        search(page, workspace, ANA_QUESTION)
        assert SECRET not in body(page)
    assert ANA_SPACE not in body(page)

    # History: Bo has asked nothing, and Ana's question is not his to see.
    page = team.open(BO, "history", "History")
    expect(page.get_by_text("You have asked nothing yet")).to_be_visible(timeout=WAIT)
    assert ANA_QUESTION not in body(page)

    # The Lab: Ana's workspace is not offered; her own permalink is refused with the core's reason and shows
    # none of her answers; and comparing from it answers from a workspace Bo may read, never from hers.
    page = team.open(BO, "lab", "Lab")
    assert set(options(page, "Workspace")) == own
    page.goto(ana_asked)
    refusal = (f"{BO.email} may not read workspace '{ANA_SPACE}': that needs the viewer role and you have no "
               "role there.")
    expect(page.get_by_text(refusal)).to_be_visible(timeout=WAIT)
    expect(page.get_by_text("You have no stored answers for this link")).to_be_visible()
    expect(page.get_by_role("combobox", name="Workspace", exact=True)).not_to_have_value(ANA_SPACE)
    assert SECRET not in body(page)
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_text("Share and take away")).to_be_visible(timeout=WAIT)
    assert parse_qs(urlsplit(page.url).query)["workspace"][0] in own
    assert SECRET not in body(page)

    # History again: Bo's own query now, still none of Ana's (the table names each query's workspace).
    page = team.open(BO, "history", "History")
    expect(page.get_by_text(re.compile(r"^(\d+) of \1 logged queries match\.$"))).to_be_visible(timeout=WAIT)
    rows = exported_history(page)
    assert rows and {(r["user"], r["query"]) for r in rows} == {(BO.email, ANA_QUESTION)}
    assert ANA_SPACE not in {r["workspace"] for r in rows}
    assert not any(SECRET in r["answer"] or "vault#" in r["retrieved_ids"] for r in rows)

    # Access: not in Bo's menu, and typed in, the page says only an admin may.
    expect(menu_link(page, "Access")).to_have_count(0)
    page = team.open(BO, "access", "Access")
    expect(page.get_by_text(f"{BO.email} may not open the Access page: only an admin may")).to_be_visible()
    expect(page.get_by_role("button", name="Grant")).to_have_count(0)
    assert ANA_SPACE not in body(page)

    # The Benchmark's workspace list too; and no page of Bo's menu shows her workspace or her fact.
    page = team.open(BO, "benchmark", "Benchmark")
    assert set(options(page, "Workspace")) == own
    menu = page.get_by_test_id("stSidebarNav").get_by_role("link")
    addresses = [link.get_attribute("href") or "" for link in menu.all()]
    assert len(addresses) >= 9  # every page of the menu (Home to Decide)
    for address in addresses:
        page.goto(address)
        expect_signed_in(page, BO)
        shown = body(page)
        assert ANA_SPACE not in shown and SECRET not in shown, address


def test_an_admin_sees_every_workspace_and_query_and_a_grant_opens_a_workspace_to_its_viewer(
        team: Team, ana_asked: str):
    from playwright.sync_api import expect

    team.page(BO)  # Bo has signed in (his personal workspace exists) before the admin looks
    page = team.open(BOSS, "knowledge", "Knowledge")
    assert {ANA_SPACE, BO_SPACE, *SHARED, "tenant-north", "tenant-south"} <= set(options(page, "Workspace"))
    search(page, ANA_SPACE, ANA_QUESTION)
    assert SECRET in body(page)
    expect(menu_link(page, "Access")).to_be_visible()

    # History: everyone's queries, with who asked (a user column), and a filter by user.
    page = team.open(BOSS, "history", "History")
    rows = exported_history(page)
    assert (ANA.email, ANA_SPACE) in {(r["user"], r["workspace"]) for r in rows}
    assert ANA.email in options(page, "User")  # the filter by user, shown to admins
    choose(page, "User", ANA.email)
    expect(page.get_by_text(re.compile(r"^1 of \d+ logged queries match\.$"))).to_be_visible(timeout=WAIT)

    # Access: grant Bo viewer on Ana's workspace.
    page = team.open(BOSS, "access", "Access")
    page.get_by_label("User's e-mail address, or * for every signed-in user").fill(BO.email)
    choose(page, "Workspace", ANA_SPACE)
    choose(page, "Role", "viewer")
    page.get_by_role("button", name="Grant").click()
    expect(page.get_by_text(f"{BO.email} is now viewer of '{ANA_SPACE}'.")).to_be_visible(timeout=WAIT)
    assert AccessStore(team.data_dir / "access.sqlite3").role(BO.email, ANA_SPACE) == "viewer"

    # Bo, on his next page load, may now pick it in the Lab, and open it on the Knowledge page as a reader.
    page = team.open(BO, "lab", "Lab")
    assert ANA_SPACE in options(page, "Workspace")
    page = team.open(BO, "knowledge", "Knowledge")
    search(page, ANA_SPACE, ANA_QUESTION)
    expect(page.get_by_text(f"You may read '{ANA_SPACE}'")).to_be_visible()
    assert SECRET in body(page)  # what was kept from him is his to read now
    expect(page.get_by_role("button", name=re.compile("^Ingest"))).to_have_count(0)  # a viewer adds nothing

    # The admin revokes it (asked to confirm first), and Bo's next page load no longer offers it.
    page = team.open(BOSS, "access", "Access")
    choose(page, "Revoke a role", f"{BO.email} · {ANA_SPACE} · viewer")
    page.get_by_role("button", name="Revoke", exact=True).click()
    expect(page.get_by_text(f"Take away {BO.email}'s viewer role on '{ANA_SPACE}'?")).to_be_visible(timeout=WAIT)
    page.get_by_role("button", name="Yes, do it").click()
    expect(page.get_by_text(f"Revoked {BO.email}'s viewer role on '{ANA_SPACE}'.")).to_be_visible(timeout=WAIT)
    page = team.open(BO, "lab", "Lab")
    assert set(options(page, "Workspace")) == {BO_SPACE, *SHARED}
