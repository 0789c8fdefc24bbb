"""Every page acts as the session's user: the same pages under AppTest as a non-admin and as an admin.

Sign-in is on (``RAGTUNE_AUTH=oidc``) and the user is set the way Streamlit's AppTest simulates an OIDC sign-in,
``AppTest.user`` (what the app reads as ``st.user``): the real ``app_resources.get_principal`` and ``get_scope``
run, unpatched, so these tests go through the very code a signed-in browser session does.

Three users: ada (an admin, RAGTUNE_ADMINS), ana and bob. Workspaces on real chromadb: ``alpha`` (ana owns it),
``beta`` (bob owns it) and ``ref`` (ana may only read it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.access import Access
from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.economics import EconomicsStore
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.store import QueryLog
from ragtune.tour import SCRATCH_PREFIX
from tests.retrieval_fixtures import embedding_function  # noqa: F401
from tests.signin_secrets import AUTH
from tests.test_store import answer

ADA, ANA, BOB = "ada@example.org", "ana@example.org", "bob@example.org"
DOC = [("note.md", b"# Note\n\nThe Poolpilot P1 pool robot costs $1,249.\n")]


def page_path(name: str) -> str:
    return str(PROJECT_ROOT / ("app.py" if name == "app" else f"app_pages/{name}.py"))


@pytest.fixture()
def team(data_dir, monkeypatch, embedding_function, tiny_env) -> Access:
    """Sign-in on, ada the admin; alpha (ana: owner), beta (bob: owner), ref (ana: viewer), each with a document."""
    for name, value in {"RAGTUNE_AUTH": "oidc", "RAGTUNE_ADMINS": ADA, "RAGTUNE_DEMO_WORKSPACE": "",
                        "RAGTUNE_MAX_TOKENS": "8", "RAGTUNE_N_THREADS": "1"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    kb = KnowledgeBase.from_settings(settings, embedding_function)
    access = Access.from_settings(settings)
    admin = access.principal(ADA)
    for workspace, owner in (("alpha", ANA), ("beta", BOB), ("ref", ADA)):
        kb.create_workspace(workspace)
        assert kb.ingest_bytes(workspace, DOC).ok
        access.grant(admin, owner, workspace, "owner")
    access.grant(admin, ANA, "ref", "viewer")
    kb.manifest.close()
    return access


def as_user(email: str, name: str, **query: str) -> AppTest:
    at = AppTest.from_file(page_path(name), default_timeout=180)
    at.user = {"is_logged_in": True, "email_verified": True, "email": email, "name": email.split("@")[0].title()}
    if name == "app":  # the entry point's sign-in gate checks the [auth] secrets before it lets anyone in
        at.secrets["auth"] = dict(AUTH)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def keys(at: AppTest) -> set[str]:
    """Every widget key on the page."""
    found: set[str] = set()

    def walk(node) -> None:  # noqa: ANN001
        key = getattr(node, "key", None)
        if isinstance(key, str):
            found.add(key)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    return found


def shown(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.success]
    return "\n".join(str(p.value) for p in parts)


# -- Knowledge ----------------------------------------------------------------------------------

def test_knowledge_lists_only_the_workspaces_the_user_may_read(team):
    assert as_user(ANA, "knowledge").selectbox(key="kn_workspace").options == ["alpha", "ref"]
    assert as_user(BOB, "knowledge").selectbox(key="kn_workspace").options == ["beta"]
    assert as_user(ADA, "knowledge").selectbox(key="kn_workspace").options == ["alpha", "beta", "ref"]


def test_a_viewer_reads_and_searches_but_is_offered_no_change(team):
    at = as_user(ANA, "knowledge")
    at.selectbox(key="kn_workspace").set_value("ref").run()
    assert not at.exception and not at.error
    offered = keys(at)
    assert not offered & {"kn_upload", "kn_rename", "kn_empty", "kn_delete_ws", "kn_save", "kn_delete_doc"}
    assert "You may read 'ref'" in shown(at)
    assert "kn_query" in offered and "kn_new_name" in offered  # search, and making a workspace of one's own
    at.text_input(key="kn_query").set_value("poolpilot price").run()
    assert "`note#0`" in shown(at)  # the search hit


def test_the_owner_is_offered_every_change(team):
    at = as_user(ANA, "knowledge")  # alpha, ana's own
    assert {"kn_upload", "kn_rename", "kn_empty", "kn_delete_ws", "kn_save", "kn_delete_doc"} <= keys(at)
    assert "You may read" not in shown(at)


def test_a_workspace_a_user_creates_is_theirs_and_nobody_elses(team):
    at = as_user(BOB, "knowledge")
    at.text_input(key="kn_new_name").set_value("bobs-notes")
    at.button(key="kn_create").click().run()
    assert not at.exception and "Created workspace 'bobs-notes'" in shown(at)
    assert team.store.role(BOB, "bobs-notes") == "owner"
    assert "bobs-notes" not in as_user(ANA, "knowledge").selectbox(key="kn_workspace").options


# -- Lab --------------------------------------------------------------------------------------

def test_the_lab_lists_only_readable_workspaces(team):
    assert as_user(ANA, "lab").selectbox(key="lab_workspace").options == ["alpha", "ref"]


def test_a_lab_link_to_another_users_workspace_is_refused_with_the_reason(team):
    at = as_user(ANA, "lab", q="How much is the Poolpilot P1?", workspace="beta", modes="rag")
    assert [e.value for e in at.error] == [
        "ana@example.org may not read workspace 'beta': that needs the viewer role and you have no role there. "
        "Ask an admin to grant it."]
    assert at.selectbox(key="lab_workspace").value != "beta"
    assert "beta" not in at.selectbox(key="lab_workspace").options
    assert QueryLog(load_settings().query_log_file).count() == 0  # nothing was asked of beta


def test_a_lab_link_to_a_workspace_the_user_may_read_is_filled_in(team):
    at = as_user(ANA, "lab", q="How much is the Poolpilot P1?", workspace="ref", modes="rag")
    assert not at.error and at.selectbox(key="lab_workspace").value == "ref"


def test_a_permalink_shows_only_the_users_own_stored_answers(team):
    log = QueryLog(load_settings().query_log_file)
    log.add(answer("rag", workspace="alpha"), run_id="0123456789ab", user=ANA)
    link = {"q": "How much is the Poolpilot?", "modes": "rag", "workspace": "alpha", "run": "0123456789ab"}
    mine = as_user(ANA, "lab", **link)
    assert "The stored answers of this comparison" in shown(mine) and not mine.error
    theirs = as_user(BOB, "lab", **link)
    assert "may not read workspace 'alpha'" in theirs.error[0].value
    # not "gone": the answers are there, only not Bob's to see, and the note says it may be so
    assert "it may be another user's comparison" in shown(theirs) and "are gone" not in shown(theirs)
    assert "The stored answers of this comparison" not in shown(theirs)


def test_a_comparison_is_logged_as_the_users_own(team):
    at = as_user(ANA, "lab")
    at.text_area(key="lab_question").set_value("How much is the Poolpilot P1?")
    at.multiselect(key="lab_modes").set_value(["rag"])
    at.selectbox(key="lab_workspace").set_value("alpha")
    at.button(key="lab_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [(e.user, e.workspace) for e in QueryLog(load_settings().query_log_file).entries()] == [(ANA, "alpha")]


def test_cost_settings_are_an_admins(team):
    user = as_user(ANA, "lab")
    assert not {"lab_costs-rate", "lab_costs_reset"} & keys(user)
    admin = as_user(ADA, "lab")
    admin.number_input(key="lab_costs-rate").set_value(0.5)
    admin.button(key="FormSubmitter:lab_costs-Save the cost settings").click().run()
    assert not admin.exception and not admin.error
    assert EconomicsStore(load_settings().economics_file).load().compute_dollars_per_hour == 0.5


# -- History ----------------------------------------------------------------------------------

@pytest.fixture()
def logged(team) -> QueryLog:
    log = QueryLog(load_settings().query_log_file)
    log.add(answer("rag", minutes=0, workspace="alpha"), user=ANA)
    log.add(answer("base", minutes=1, workspace="beta"), user=BOB)
    log.add(answer("rag+lora", minutes=2, workspace="alpha"), user=ANA)
    log.add(answer("base", minutes=3), user="")  # before sign-in
    return log


def test_history_shows_a_user_their_own_queries_only(logged):
    at = as_user(ANA, "history")
    assert list(at.dataframe[0].value["mode"]) == ["rag+lora", "rag"]
    assert "user" not in at.dataframe[0].value.columns and "hist_user" not in keys(at)
    assert "2 of 2 logged queries match." in [c.value for c in at.caption]


def test_history_clears_only_the_users_own_queries(logged):
    at = as_user(BOB, "history")
    at.button(key="hist_clear").click().run()
    assert "Delete your 1 logged queries?" in at.warning[0].value
    at.button(key="hist_clear_yes").click().run()
    assert not at.exception and sorted(e.user for e in logged.entries()) == ["", ANA, ANA]
    assert "You have asked nothing yet" in at.info[0].value


def test_a_user_cannot_open_another_users_entry(logged):
    at = as_user(BOB, "history")
    assert list(at.dataframe[0].value["#"]) == [2]


def test_an_admin_sees_everyones_queries_with_a_user_column_and_filter(logged):
    at = as_user(ADA, "history")
    table = at.dataframe[0].value
    assert list(table["user"]) == ["(before sign-in)", ANA, BOB, ANA]
    assert at.selectbox(key="hist_user").options == ["(everyone)", "(before sign-in)", ANA, BOB]
    at.selectbox(key="hist_user").set_value(BOB).run()
    assert list(at.dataframe[0].value["user"]) == [BOB]
    assert "1 of 4 logged queries match." in [c.value for c in at.caption]


# -- Benchmark --------------------------------------------------------------------------------

def test_an_evaluation_run_is_its_owners_and_the_admins(team):
    at = as_user(ANA, "benchmark")
    assert at.selectbox(key="bm_workspace").options == ["alpha", "ref"]
    at.multiselect(key="bm_modes").set_value(["base"])
    at.selectbox(key="bm_workspace").set_value("alpha")
    at.number_input(key="bm_limit").set_value(1)
    at.button(key="bm_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "No stored runs yet" not in shown(at)
    assert "No stored runs yet" in shown(as_user(BOB, "benchmark"))
    assert "No stored runs yet" not in shown(as_user(ADA, "benchmark"))


# -- Adapters and the Playground --------------------------------------------------------------

@pytest.fixture()
def shared_adapter(team, data_dir: Path, random_lora: Path) -> Path:
    """An adapter in the shared folder (as an admin's upload puts it)."""
    folder = data_dir / "adapters"
    folder.mkdir(exist_ok=True)
    path = folder / "style.gguf"
    path.write_bytes(random_lora.read_bytes())
    return path


def upload_adapter(at: AppTest, data: bytes, name: str) -> AppTest:
    at.file_uploader(key="ad_upload").set_value(("x.gguf", data, "application/octet-stream"))
    at.run()
    at.text_input(key="ad_upload_name").set_value(name)
    return at.button(key="ad_upload_save").click().run()


def test_a_users_upload_is_personal_and_an_admins_shared(shared_adapter, random_lora):
    at = upload_adapter(as_user(ANA, "adapters"), random_lora.read_bytes(), "mine")
    assert not at.exception and "Added 'mine' (personal: ana@example.org)" in shown(at)
    assert "**mine** · personal: ana@example.org" in shown(at.run())  # the list above is drawn first
    assert "**mine**" not in shown(as_user(BOB, "adapters"))
    admin = as_user(ADA, "adapters")
    assert "**mine** · personal: ana@example.org" in shown(admin) and "**style** · shared" in shown(admin)
    admin = upload_adapter(admin, random_lora.read_bytes(), "house")
    assert "Added 'house' (shared)" in shown(admin)
    assert "**house** · shared" in shown(as_user(BOB, "adapters"))


def test_deleting_a_shared_adapter_is_an_admins_a_personal_one_its_owners(shared_adapter, random_lora):
    at = upload_adapter(as_user(ANA, "adapters"), random_lora.read_bytes(), "mine").run()
    offered = keys(at)
    assert "ad_delete_style" not in offered and f"ad_delete_mine-{ANA}" in offered
    at.button(key=f"ad_delete_mine-{ANA}").click().run()
    at.button(key=f"ad_delete_mine-{ANA}_yes").click().run()
    assert not at.exception and "**mine**" not in shown(at)
    admin = as_user(ADA, "adapters")
    admin.button(key="ad_delete_style").click().run()
    admin.button(key="ad_delete_style_yes").click().run()
    assert not admin.exception and not shared_adapter.exists()


def test_loading_an_adapter_or_a_model_by_server_path_is_an_admins(team, monkeypatch):
    monkeypatch.setenv("RAGTUNE_ALLOW_SERVER_PATHS", "true")
    user = as_user(ANA, "playground")
    assert "pg_adapter_path" not in keys(user)
    assert "is an admin's" in shown(user)
    assert "pg_adapter_path" in keys(as_user(ADA, "playground"))
    app = as_user(ANA, "app")
    assert "add_model_path" not in keys(app) and "is an admin's" in "\n".join(c.value for c in app.sidebar.caption)
    assert "add_model_path" in keys(as_user(ADA, "app"))



# -- Tour ---------------------------------------------------------------------------------------

def test_a_user_runs_the_tours_freshness_step_in_a_scratch_copy_of_their_own(team):
    at = as_user(ANA, "tour", step="4")
    at.button(key="tour_fresh_1").click().run()
    at.button(key="tour_fresh_2").click().run()
    assert not at.exception
    assert all("knowledge-baked" in e.value for e in at.error), [e.value for e in at.error]  # no such adapter here
    text = " ".join(m.value for m in at.markdown)
    assert "Against version 1 of the documents" in text and "After the change: version 2" in text
    scratch = [m.workspace for m in team.store.members() if m.workspace.startswith(SCRATCH_PREFIX)]
    assert len(scratch) == 1 and team.store.role(ANA, scratch[0]) == "owner"
    assert team.store.role(BOB, scratch[0]) is None  # nobody else's to see
    at.button(key="tour_nav_next").click().run()  # leaving the step drops the copy, and its role
    assert not at.exception and not [m for m in team.store.members() if m.workspace.startswith(SCRATCH_PREFIX)]


def test_on_a_shared_server_the_model_held_for_everyone_is_an_admins_to_choose(team):
    user, admin = as_user(ANA, "app"), as_user(ADA, "app")
    assert user.sidebar.selectbox(key="model_id").disabled and "an admin chooses it" in user.sidebar.selectbox(
        key="model_id").help
    assert not admin.sidebar.selectbox(key="model_id").disabled
