"""Permissions in the core: every checked operation x every role -> allowed or PermissionDenied (real chromadb
in a temp dir, real SQLite), the per-user records (query log, evaluation runs, training jobs, saved modes,
adapters), the stores' migrations, sign-in, and the access store kept in step with renames and deletions."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ragtune.access import Access, Scope, ScopedKnowledgeBase
from ragtune.access.principal import LOCAL
from ragtune.adapters import AdapterCatalog
from ragtune.config import load_settings
from ragtune.errors import AdapterError, InputError, ModeError, PermissionDenied, WorkspaceError
from ragtune.evaluation.store import EvalRunInfo, EvalStore, RunSettings
from ragtune.modes import BUILTIN_MODES, Mode, Route, Router
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.store import LogFilter, QueryLog
from ragtune.training.jobs import JobState, TrainingJobs, _write_state
from tests.retrieval_fixtures import embedding_function, kb  # noqa: F401 - fixtures
from tests.test_store import answer

ADMIN = "boss@x.org"
ROLES = ("none", "viewer", "editor", "owner", "admin")
RANK = {"none": -1, "viewer": 0, "editor": 1, "owner": 2, "admin": 3}
NEEDS = {"read": 0, "write": 1, "manage": 2}
DOC = ("notes.md", b"# Notes\n\nThe Poolpilot P1 costs $1,249. Returns are accepted for 30 days.\n")


@pytest.fixture()
def signed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-in on (oidc), one admin; the demo workspace off unless a test makes it."""
    monkeypatch.setenv("RAGTUNE_AUTH", "oidc")
    monkeypatch.setenv("RAGTUNE_ADMINS", ADMIN)
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "demo")


def scope_of(email: str) -> Scope:
    settings = load_settings()
    access = Access.from_settings(settings)
    return Scope(access, access.principal(email), demo_workspace=settings.demo_workspace)


@pytest.fixture()
def team(signed_in: None, kb: KnowledgeBase) -> dict[str, ScopedKnowledgeBase]:  # noqa: F811
    """Workspace 'team' with one document; a user of each role on it (and one with none, and an admin)."""
    assert kb.ingest_bytes("team", [DOC]).ok
    store = Access.from_settings(load_settings()).store
    for role in ("viewer", "editor", "owner"):
        store.grant(f"{role}@x.org", "team", role)
    emails = {"none": "none@x.org", "viewer": "viewer@x.org", "editor": "editor@x.org", "owner": "owner@x.org",
              "admin": ADMIN}
    return {role: scope_of(email).knowledge_base(kb) for role, email in emails.items()}


def snapshot(kb: KnowledgeBase) -> tuple[list[str], list[tuple[str, str]]]:  # noqa: F811
    """What a refused call must leave as it was: the workspaces, and team's documents with their text."""
    docs = [(d.doc_id, d.sha256) for d in kb.list_documents("team")] if kb.has_workspace("team") else []
    return sorted(w.name for w in kb.list_workspaces(include_internal=True)), docs


def _ingest_path(skb: ScopedKnowledgeBase, doc_id: str, tmp: Path) -> object:
    path = tmp / "extra.md"
    path.write_text("# Extra\n\nThe Reefmaster costs $899.\n")
    return skb.ingest_paths("team", [path])


Operation = Callable[[ScopedKnowledgeBase, str, Path], object]
OPERATIONS: dict[str, tuple[str, Operation]] = {
    "workspace": ("read", lambda s, d, t: s.workspace("team")),
    "list_documents": ("read", lambda s, d, t: s.list_documents("team")),
    "document_text": ("read", lambda s, d, t: s.document_text("team", d)),
    "chunks": ("read", lambda s, d, t: s.chunks("team", d)),
    "stale_documents": ("read", lambda s, d, t: s.stale_documents("team")),
    "search": ("read", lambda s, d, t: s.search("team", "Poolpilot price")),
    "manifest.documents": ("read", lambda s, d, t: s.manifest.documents(s.kb.workspace("team").id)),
    "manifest.demo_version": ("read", lambda s, d, t: s.manifest.demo_version(s.kb.workspace("team").id)),
    "ingest_bytes": ("write", lambda s, d, t: s.ingest_bytes("team", [("more.md", b"# More\n\nMore text.\n")])),
    "ingest_paths": ("write", _ingest_path),
    "update_document_text": ("write", lambda s, d, t: s.update_document_text("team", d, "# Notes\n\nNew text.")),
    "delete_document": ("write", lambda s, d, t: s.delete_document("team", d)),
    "rechunk": ("write", lambda s, d, t: s.rechunk("team")),
    "empty_workspace": ("write", lambda s, d, t: s.empty_workspace("team")),
    "manifest.set_demo_version": ("write", lambda s, d, t: s.manifest.set_demo_version(s.kb.workspace("team").id,
                                                                                        "v2")),
    "rename_workspace": ("manage", lambda s, d, t: s.rename_workspace("team", "team-renamed")),
    "delete_workspace": ("manage", lambda s, d, t: s.delete_workspace("team")),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_each_knowledge_base_operation_needs_its_role(operation: str, role: str, team, kb, tmp_path) -> None:  # noqa: F811
    action, call = OPERATIONS[operation]
    doc_id = kb.list_documents("team")[0].doc_id
    before = snapshot(kb)
    if RANK[role] >= NEEDS[action]:
        call(team[role], doc_id, tmp_path)
        return
    with pytest.raises(PermissionDenied) as refused:
        call(team[role], doc_id, tmp_path)
    message = str(refused.value)
    assert f"{role}@x.org" in message and "'team'" in message and f"the {('viewer', 'editor', 'owner')[NEEDS[action]]} " \
        "role" in message
    assert snapshot(kb) == before  # refused before anything was read or changed


@pytest.mark.parametrize("role", ROLES)
def test_retrieval_through_the_scoped_pipeline_needs_the_viewer_role(role: str, team, kb, tiny_runtime) -> None:  # noqa: F811
    settings = load_settings()
    pipeline = team[role].scope.pipeline(tiny_runtime, kb, settings)
    rag = next(m for m in BUILTIN_MODES if m.id == "rag")
    if role == "none":
        with pytest.raises(PermissionDenied, match="may not read workspace 'team'"):
            pipeline.prepare("How much is the Poolpilot P1?", rag, "team")
    else:
        prepared = pipeline.prepare("How much is the Poolpilot P1?", rag, "team")
        assert prepared.retrieved and "1,249" in " ".join(c.text for c in prepared.retrieved)


@pytest.mark.parametrize("role", ROLES)
def test_a_user_lists_only_the_workspaces_they_may_read(role: str, team, kb) -> None:  # noqa: F811
    kb.create_workspace("private")
    names = [w.name for w in team[role].list_workspaces()]
    assert ("team" in names) == (role != "none")
    assert ("private" in names) == (role == "admin")
    assert team[role].has_workspace("team") == (role != "none")
    assert team[role].role("team") == {"none": None, "admin": "owner"}.get(role, role)


def test_the_scoped_knowledge_base_has_every_public_method_with_the_same_parameters_and_nothing_else(kb) -> None:  # noqa: F811
    for name, method in inspect.getmembers(KnowledgeBase, inspect.isfunction):
        if name.startswith("_") or name == "from_settings":
            continue
        scoped = getattr(ScopedKnowledgeBase, name, None)
        assert scoped is not None, f"ScopedKnowledgeBase does not wrap KnowledgeBase.{name}"
        assert list(inspect.signature(scoped).parameters) == list(inspect.signature(method).parameters), name
    skb = Scope.local(load_settings()).knowledge_base(kb)
    for internal in ("store", "keyword_indexes", "write_lock", "step_hook"):  # no unchecked way in
        assert not hasattr(skb, internal)


def test_the_local_user_may_do_everything_as_before_sign_in(kb) -> None:  # noqa: F811
    skb = Scope.local(load_settings()).knowledge_base(kb)
    skb.ingest_bytes("team", [DOC])
    assert skb.search("team", "Poolpilot").hits
    skb.rename_workspace("team", "crew")
    skb.delete_workspace("crew")
    assert [w.name for w in skb.list_workspaces()] == []


# -- creating, renaming, deleting: the access store follows -------------------------------------------


def test_whoever_creates_a_workspace_owns_it_and_no_older_roles_come_back(team, kb) -> None:  # noqa: F811
    viewer = team["viewer"]
    store = viewer.scope.access.store
    viewer.create_workspace("mine")
    assert store.members("mine")[0].email == "viewer@x.org" and viewer.role("mine") == "owner"
    viewer.delete_workspace("mine")
    assert store.members("mine") == []
    store.grant("editor@x.org", "gone", "owner")  # a role left over from a workspace deleted elsewhere
    team["none"].create_workspace("gone")
    assert [(m.email, m.role) for m in store.members("gone")] == [("none@x.org", "owner")]


def test_a_rename_moves_the_roles_and_a_deletion_forgets_them(team, kb) -> None:  # noqa: F811
    store = team["owner"].scope.access.store
    team["owner"].rename_workspace("team", "crew")
    assert {m.email for m in store.members("crew")} == {"viewer@x.org", "editor@x.org", "owner@x.org"}
    assert store.members("team") == []
    assert team["viewer"].search("crew", "Poolpilot").hits  # the viewer still reads it, under its new name
    team["owner"].delete_workspace("crew")
    assert store.members("crew") == [] and not kb.has_workspace("crew")


def test_a_user_may_not_make_internal_workspaces_other_than_the_tours_and_the_reports(team, kb) -> None:  # noqa: F811
    with pytest.raises(PermissionDenied, match="internal workspace"):
        team["owner"].create_workspace("demo-eval-mine", internal=True)
    assert not kb.has_workspace("demo-eval-mine")


def test_a_tour_scratch_copy_belongs_to_whoever_made_it(team, kb) -> None:  # noqa: F811
    from ragtune.tour import SCRATCH_PREFIX, drop_scratch, make_scratch, scratch_name

    kb.create_workspace("demo")
    Access.from_settings(load_settings()).store.grant("*", "demo", "viewer")
    name = scratch_name("session1")
    make_scratch(team["viewer"], name)  # the demo's readers may make one
    assert team["viewer"].list_documents(name) and team["viewer"].role(name) == "owner"
    assert not team["editor"].has_workspace(name)
    with pytest.raises(PermissionDenied):
        team["editor"].delete_workspace(name)
    assert drop_scratch(team["editor"], name) is False and kb.has_workspace(name)
    assert drop_scratch(team["viewer"], name) is True and not kb.has_workspace(name)
    store = Access.from_settings(load_settings()).store
    team["viewer"].create_workspace(name, internal=True)
    drop_scratch(kb, name)  # the app's sweeper drops copies with the knowledge base itself
    team["viewer"].create_workspace(scratch_name("session3"), internal=True)
    assert [m.workspace for m in store.members() if m.workspace.startswith(SCRATCH_PREFIX)] == [scratch_name("session3")]
    Access.from_settings(load_settings()).store.revoke("*", "demo")
    with pytest.raises(PermissionDenied):  # no longer a reader of the demo: no copy of it
        team["viewer"].create_workspace(scratch_name("session2"), internal=True)


def test_the_reports_copy_of_the_demo_takes_only_the_shipped_documents(team, kb, tmp_path) -> None:  # noqa: F811
    from ragtune.retrieval.demo import demo_files

    viewer = team["viewer"]
    viewer.create_workspace("demo-eval-v1", internal=True)
    viewer.ingest_paths("demo-eval-v1", demo_files("v1")[:1])
    stray = tmp_path / "stray.md"
    stray.write_text("# Stray\n\nNot a demo document.\n")
    with pytest.raises(PermissionDenied, match="claims report's copy"):
        viewer.ingest_paths("demo-eval-v1", [stray])
    with pytest.raises(PermissionDenied, match="claims report's copy"):
        viewer.ingest_bytes("demo-eval-v1", [("stray.md", b"# Stray\n\nx\n")])
    assert len(viewer.list_documents("demo-eval-v1")) == 1
    team["admin"].ingest_bytes("demo-eval-v1", [("stray.md", b"# Stray\n\nx\n")])  # an admin may


# -- sign-in ------------------------------------------------------------------------------------------


def test_a_first_sign_in_makes_a_personal_workspace_and_shares_the_demo_once(signed_in, kb) -> None:  # noqa: F811
    kb.create_workspace("demo")
    ana = scope_of("ana.lima@x.org")
    assert ana.sign_in(kb) == "ana.lima"
    assert ana.sign_in(kb) is None  # only the first sign-in
    store = ana.access.store
    assert store.user("ana.lima@x.org").personal_workspace == "ana.lima"
    assert ana.knowledge_base(kb).role("ana.lima") == "owner" and ana.knowledge_base(kb).role("demo") == "viewer"
    store.revoke("*", "demo")  # an admin took the demo back: a later sign-in does not undo that
    assert scope_of("ana.lima@y.org").sign_in(kb) == "ana.lima-2"
    assert store.role("someone@x.org", "demo") is None


def test_the_local_user_signs_in_to_nothing(kb) -> None:  # noqa: F811
    scope = Scope.local(load_settings())
    assert scope.sign_in(kb) is None and scope.access.store.users() == []


# -- the query log ---------------------------------------------------------------------------------


def test_each_user_sees_only_their_own_queries_and_an_admin_sees_all(signed_in) -> None:
    path = load_settings().query_log_file
    QueryLog(path).add(answer("base"))  # logged before sign-in: an admin's to see
    ana, bob, boss = (scope_of(e).query_log(path) for e in ("ana@x.org", "bob@x.org", ADMIN))
    mine = ana.add(answer("rag", minutes=1), run_id="r1")
    bob.add(answer("lora", minutes=2), run_id="r1")
    assert [e.mode_id for e in ana.entries()] == ["rag"] and ana.count() == 1
    assert ana.distinct("mode_id") == ["rag"] and ana.run_entries("r1")[0].id == mine
    assert "lora" not in ana.export_csv()
    with pytest.raises(PermissionDenied, match="only an admin may read other users' queries"):
        ana.entries(LogFilter(user="bob@x.org"))
    bobs = bob.entries()[0].id
    with pytest.raises(PermissionDenied):
        ana.get(bobs)
    assert boss.count() == 3 and [e.user for e in boss.entries(LogFilter(user="bob@x.org"))] == ["bob@x.org"]
    assert [e.mode_id for e in boss.entries(LogFilter(user=""))] == ["base"]
    assert boss.distinct("user") == ["", "ana@x.org", "bob@x.org"]
    assert ana.clear() == 1 and bob.count() == 1 and boss.count() == 2  # a user clears only their own
    assert boss.clear() == 2 and QueryLog(path).count() == 0


def test_an_old_query_log_gains_the_user_column_and_keeps_every_row(data_dir) -> None:
    path = data_dir / "queries.sqlite3"
    log = QueryLog(path)
    ids = [log.add(answer(m)) for m in ("base", "rag")]
    with sqlite3.connect(path) as db:  # the file as written before users existed
        db.execute("DROP INDEX queries_user")
        db.execute("ALTER TABLE queries DROP COLUMN user")
    reopened = QueryLog(path)
    assert [(e.id, e.user) for e in reopened.entries()] == [(ids[0], ""), (ids[1], "")]
    assert [e.mode_id for e in Scope.local(load_settings()).query_log(path).entries()] == ["base", "rag"]


# -- evaluation runs --------------------------------------------------------------------------------


def run_info(run_id: str) -> EvalRunInfo:
    return EvalRunInfo(id=run_id, created_at=datetime(2026, 1, 5, tzinfo=timezone.utc), status="running",
                       set_name="demo", model_id="tiny", mode_ids=["base"], workspaces={"v1": "demo"},
                       settings=RunSettings(), n_items=1)


def test_evaluation_runs_carry_their_owner_and_each_user_reads_their_own(signed_in) -> None:
    settings = load_settings()
    ana, bob, boss = (scope_of(e).eval_store(settings) for e in ("ana@x.org", "bob@x.org", ADMIN))
    ana.create_run(run_info("run-a"), [])
    bob.create_run(run_info("run-b"), [])
    assert [(r.id, r.owner) for r in ana.runs()] == [("run-a", "ana@x.org")]
    assert ana.load("run-a").info.owner == "ana@x.org"
    with pytest.raises(PermissionDenied, match="evaluation run 'run-b'"):
        ana.load("run-b")
    with pytest.raises(PermissionDenied):
        ana.finish_run("run-b", "complete")
    assert EvalStore.from_settings(settings).load("run-b").info.status == "running"
    assert {r.id for r in boss.runs()} == {"run-a", "run-b"} and boss.load("run-b").info.owner == "bob@x.org"
    with pytest.raises(InputError, match="No stored evaluation run"):
        ana.load("nope")


def test_an_old_evaluation_store_gains_the_owner_column_and_keeps_its_runs(data_dir) -> None:
    store = EvalStore(data_dir / "evaluations.sqlite3")
    store.create_run(run_info("old"), [])
    with sqlite3.connect(store.path) as db:
        db.execute("ALTER TABLE eval_runs DROP COLUMN owner")
    runs = EvalStore(store.path).runs()
    assert [(r.id, r.owner) for r in runs] == [("old", "")]


# -- training jobs ----------------------------------------------------------------------------------


def test_training_jobs_are_their_owners(signed_in) -> None:
    settings = load_settings()
    root = TrainingJobs(settings).root
    for job_id, owner in (("job-a", "ana@x.org"), ("job-b", "bob@x.org"), ("job-old", "")):
        (root / job_id).mkdir(parents=True)
        _write_state(root / job_id, JobState(id=job_id, name=job_id, base_model_id="tiny", status="done",
                                             owner=owner))
    ana, boss = scope_of("ana@x.org").training_jobs(settings), scope_of(ADMIN).training_jobs(settings)
    assert [j.id for j in ana.list()] == ["job-a"]
    assert {j.id for j in boss.list()} == {"job-a", "job-b", "job-old"}
    for call in (ana.get, ana.cancel, ana.forget, ana.log_tail):
        with pytest.raises(PermissionDenied, match="training job 'job-b'"):
            call("job-b")
    assert not (root / "job-b" / "cancel").exists() and (root / "job-b").is_dir()
    ana.forget("job-a")
    boss.forget("job-b")
    assert [j.id for j in boss.list()] == ["job-old"]


# -- saved modes ------------------------------------------------------------------------------------


def test_saved_modes_are_their_owners_and_shared_ones_everyones(signed_in) -> None:
    path = load_settings().modes_file
    ana, bob, boss = (scope_of(e).modes(path) for e in ("ana@x.org", "bob@x.org", ADMIN))
    Scope.local(load_settings()).modes(path).save(Mode(id="shared", label="Shared"))  # before sign-in: everyone's
    ana.save(Mode(id="mine", label="Mine", retrieval=True))
    assert ana.get("mine").owner == "ana@x.org"
    assert "mine" in ana.ids() and "mine" not in bob.ids() and "shared" in bob.ids()
    assert {m.id for m in boss.user_modes()} == {"shared", "mine"}
    with pytest.raises(ModeError, match="Unknown mode 'mine'"):
        bob.get("mine")
    with pytest.raises(ModeError, match="taken"):  # never replaces another user's mode
        bob.save(Mode(id="mine", label="Bob's"))
    with pytest.raises(PermissionDenied, match="everyone's"):
        bob.save(Mode(id="shared", label="Bob's"))
    with pytest.raises(PermissionDenied, match="everyone's"):
        bob.delete("shared")
    router = Router(labels={"billing": "go"}, routes=[Route(name="go", mode_id="mine")], default="go")
    with pytest.raises(ModeError, match="unknown mode 'mine'"):  # no route to a mode bob cannot use
        bob.save(Mode(id="bobs-router", label="Router", router=router))
    with pytest.raises(ModeError, match="No saved mode 'mine'"):
        bob.delete("mine")
    ana.delete("mine")
    boss.delete("shared")
    assert boss.user_modes() == []


# -- adapters ----------------------------------------------------------------------------------------


@pytest.fixture()
def catalogs(signed_in, tmp_path) -> Callable[[str], object]:
    from ragtune.access import ScopedAdapterCatalog

    settings = load_settings()

    def of(email: str) -> ScopedAdapterCatalog:
        shared = AdapterCatalog(settings, shipped_dir=tmp_path / "shipped")
        return ScopedAdapterCatalog(settings, scope_of(email), shared=shared)

    return of


def test_a_users_adapter_is_personal_and_an_admins_is_shared(catalogs, tiny_model, random_lora, zero_lora) -> None:
    from ragtune.gguf.files import check_model_file

    base = check_model_file(tiny_model)
    ana, bob, boss = catalogs("ana@x.org"), catalogs("bob@x.org"), catalogs(ADMIN)
    mine = ana.add("style", random_lora.read_bytes(), base=base)
    bobs = bob.add("style", zero_lora.read_bytes(), base=base)  # the same name: two users, two files
    assert mine.path != bobs.path and mine.path.read_bytes() == random_lora.read_bytes()
    assert (mine.owner, bobs.owner) == ("ana@x.org", "bob@x.org")
    assert ana.resolve("style") == mine.path and bob.resolve("style") == bobs.path
    assert [(e.name, e.owner) for e in ana.list()] == [("style", "ana@x.org")]
    with pytest.raises(PermissionDenied, match="path on the server"):
        ana.resolve(str(bobs.path))
    with pytest.raises(AdapterError, match="exists already"):  # an admin's shared one may not hide theirs
        boss.add("style", random_lora.read_bytes(), base=base)
    shared = boss.add("house", random_lora.read_bytes(), base=base)
    assert shared.owner == "" and shared.path.parent == load_settings().adapters_dir
    assert {(e.name, e.owner) for e in boss.list()} == {("house", ""), ("style", "ana@x.org"),
                                                        ("style", "bob@x.org")}
    assert ana.resolve("house") == shared.path and boss.resolve(str(bobs.path)) == bobs.path
    with pytest.raises(PermissionDenied, match="shared adapter 'house'"):
        ana.remove("house")
    ana.remove("style")
    assert not mine.path.exists() and bobs.path.exists()  # removing hers never touches his
    boss.remove("style", owner="bob@x.org")
    boss.remove("house")
    assert boss.list() == []


def test_the_local_users_adapters_are_shared_as_before(tmp_path, tiny_model, random_lora) -> None:
    from ragtune.access import ScopedAdapterCatalog
    from ragtune.gguf.files import check_model_file

    settings = load_settings()
    local = ScopedAdapterCatalog(settings, Scope.local(settings),
                                 shared=AdapterCatalog(settings, shipped_dir=tmp_path / "shipped"))
    entry = local.add("style", random_lora.read_bytes(), base=check_model_file(tiny_model))
    assert entry.path.parent == settings.adapters_dir and local.resolve(str(entry.path)) == entry.path


# -- the admins' use cases ---------------------------------------------------------------------------


def test_only_an_admin_grants_revokes_and_sees_who_has_access(team, kb) -> None:  # noqa: F811
    owner, admin = team["owner"].scope, team["admin"].scope
    for call in (lambda s: s.grant(kb, "ana@x.org", "team", "viewer"), lambda s: s.revoke(kb, "viewer@x.org", "team"),
                 lambda s: s.overview(kb)):
        with pytest.raises(PermissionDenied, match="only an admin"):
            call(owner)
    store = admin.access.store
    before = store.members()
    with pytest.raises(InputError, match="e-mail"):
        admin.grant(kb, "not-an-address", "team", "viewer")
    with pytest.raises(InputError, match="Invalid role"):
        admin.grant(kb, "ana@x.org", "team", "boss")
    with pytest.raises(WorkspaceError, match="No workspace 'nowhere'"):
        admin.grant(kb, "ana@x.org", "nowhere", "viewer")
    with pytest.raises(InputError, match="has no role"):
        admin.revoke(kb, "ana@x.org", "team")
    with pytest.raises(InputError, match="not its owner"):  # anyone signed in could delete it
        admin.grant(kb, "*", "team", "owner")
    assert store.members() == before  # nothing stored changed
    admin.grant(kb, "ana@x.org", "team", "editor")
    overview = admin.overview(kb)
    assert ("ana@x.org", "editor") in {(m.email, m.role) for w in overview.workspaces for m in w.members}
    assert overview.admins == [ADMIN] and overview.auth_enabled
    admin.revoke(kb, "ana@x.org", "team")
    assert store.role("ana@x.org", "team") is None


def test_a_users_training_job_installs_a_personal_adapter(signed_in, tiny_env) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from ragtune.training.jobs import JobRequest, run_job
    from ragtune.training.options import TrainOptions
    from tests.training_fixtures import tiny_jsonl

    settings = load_settings()
    folder = TrainingJobs(settings).root / "job-ana"
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_bytes(tiny_jsonl())
    request = JobRequest(name="codes", base_model_id="local:tiny", data_name="codes.jsonl", owner="ana@x.org",
                         personal=True, options=TrainOptions(steps=2, batch_size=2, rank=2, threads=2))
    (folder / "request.json").write_text(request.model_dump_json())
    _write_state(folder, JobState(id="job-ana", name="codes", base_model_id="local:tiny", owner="ana@x.org"))
    assert run_job(folder, settings) == 0
    adapter = Path(scope_of("ana@x.org").training_jobs(settings).get("job-ana").adapter_path or "")
    assert adapter.parent != settings.adapters_dir and adapter.is_file()
    assert scope_of("ana@x.org").catalog(settings).resolve("codes") == adapter.resolve()
    assert "codes" not in {e.name for e in scope_of("bob@x.org").catalog(settings).list()}
    assert "codes" not in {e.name for e in AdapterCatalog(settings).list()}  # not among the shared ones


def test_only_an_admin_creates_a_shared_demo_workspace_and_no_personal_workspace_takes_its_name(team, kb):  # noqa: F811
    owner, admin = team["owner"], team["admin"]
    for name in ("demo", "tenant-north", "tenant-south"):
        for create in (owner.create_workspace, owner.ensure_workspace):
            with pytest.raises(PermissionDenied, match="shared demo workspace"):
                create(name)
        assert not kb.has_workspace(name)  # whoever created it would own what everyone reads
    admin.create_workspace("demo")
    assert admin.scope.access.store.role("*", "demo") == "viewer" and owner.can("read", "demo")
    admin.delete_workspace("demo")
    assert scope_of("demo@elsewhere.org").sign_in(kb) == "demo-2"  # a personal workspace never takes its name


def test_a_demo_reader_rebuilds_the_reports_copies_but_never_deletes_them(team, kb):  # noqa: F811
    from ragtune.evaluation.workspaces import REPORT_WORKSPACES

    copy = REPORT_WORKSPACES["v1"]
    kb.create_workspace(copy, internal=True)
    viewer = team["viewer"]
    assert viewer.can("read", copy) and viewer.can("write", copy) and not viewer.can("manage", copy)
    with pytest.raises(PermissionDenied):
        viewer.delete_workspace(copy)  # another user's report may be reading it
    assert kb.has_workspace(copy)
    team["admin"].delete_workspace(copy)
    assert not kb.has_workspace(copy)


def test_a_re_seeded_tenant_workspace_keeps_no_role_from_an_older_one_of_its_name(signed_in, kb):  # noqa: F811
    from ragtune.tenants import ensure_tenant_workspaces

    store = Access.from_settings(load_settings()).store
    store.grant("mallory@x.org", "tenant-north", "owner")  # left behind by a deletion the store never heard of
    ensure_tenant_workspaces(kb, store)
    assert store.role("mallory@x.org", "tenant-north") is None
    assert store.role("ana@north.example", "tenant-north") == "viewer"
