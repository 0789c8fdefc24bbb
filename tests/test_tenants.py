"""The multi-tenant demo's core: the tenant documents and questions, seeding (idempotent, never destructive),
and the same question asked as each persona on the tiny model (own workspace only, the other one refused)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ragtune.access import Access, AccessStore, Principal
from ragtune.adapters import AdapterCatalog
from ragtune.config import load_settings
from ragtune.errors import PermissionDenied
from ragtune.evaluation.scoring import contains_variant, doc_of
from ragtune.evaluation.sets import demo_eval_set, find_case, tenant_eval_set
from ragtune.pipeline import Pipeline
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.tenant_ask import (PersonaAnswered, PersonaStarted, PersonaToken, TenantsDone, ask_as_tenants,
                                tenant_case, tenant_questions)
from ragtune.tenants import TENANTS, changed_documents, ensure_tenant_workspaces, seeded_here, tenant
from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture

NORTH, SOUTH = tenant("north"), tenant("south")
QUESTION = "How many days do I have to return a product if I change my mind?"


def open_kb(data_dir: Path, embedding_function) -> tuple[KnowledgeBase, AccessStore]:  # noqa: F811
    settings = load_settings(data_dir=data_dir)
    return KnowledgeBase.from_settings(settings, embedding_function), AccessStore(settings.access_file)


@pytest.fixture()
def fresh(data_dir, embedding_function):  # noqa: F811
    kb, members = open_kb(data_dir, embedding_function)
    yield kb, members
    kb.manifest.close()


# -- the documents and the questions -------------------------------------------------------------


def test_every_question_is_asked_once_per_tenant_with_a_different_answer_from_that_tenants_documents():
    cases = tenant_eval_set().cases
    questions = tenant_questions()
    assert len(questions) >= 10 and len(cases) == len(questions) * len(TENANTS)
    for question in questions:
        north, south = (tenant_case(tenant_eval_set(), question, t) for t in (NORTH, SOUTH))
        assert north is not None and south is not None, question
        assert not contains_variant(north.answer, south.gold()) and not contains_variant(south.answer, north.gold())
        assert set(north.doc_ids) <= NORTH.doc_ids() and set(south.doc_ids) <= SOUTH.doc_ids()


def test_tenant_documents_never_share_an_id_with_each_other_or_with_the_demo():
    from ragtune.retrieval.demo import shipped_hashes

    assert not NORTH.doc_ids() & SOUTH.doc_ids()
    assert not (NORTH.doc_ids() | SOUTH.doc_ids()) & set(shipped_hashes("v2"))


def test_no_tenant_question_is_worded_like_a_demo_question():
    # the Lab judges a demo question's answer against the demo's gold answer, whatever the workspace
    assert all(find_case(demo_eval_set(), q) is None for q in tenant_questions())


def test_each_gold_answer_is_whole_in_one_chunk_of_its_document(fresh):
    kb, members = fresh
    ensure_tenant_workspaces(kb, members)
    for case in tenant_eval_set().cases:
        chunks = kb.chunks(case.workspace, case.doc_ids[0])
        assert any(contains_variant(c.text, case.gold()) for c in chunks), case.id


# -- seeding -----------------------------------------------------------------------------------------


def test_seeding_fills_each_tenant_workspace_and_makes_its_persona_a_viewer_of_it_alone(fresh):
    kb, members = fresh
    seeds = ensure_tenant_workspaces(kb, members)
    assert [s.status for s in seeds] == ["created", "created"]
    for t in TENANTS:
        assert {d.doc_id for d in kb.list_documents(t.workspace)} == t.doc_ids()
        assert seeded_here(kb, t) and changed_documents(kb, t) == []
        assert members.roles(t.persona.email) == {t.workspace: "viewer"}


def test_seeding_again_changes_nothing_not_even_an_edit_or_a_revoked_role(fresh):
    kb, members = fresh
    ensure_tenant_workspaces(kb, members)
    kb.update_document_text(NORTH.workspace, "northgate-price-list", "# Prices\n\nEverything costs £1.\n")
    members.revoke(SOUTH.persona.email, SOUTH.workspace)
    before = {t.workspace: kb.list_documents(t.workspace) for t in TENANTS}
    assert [s.status for s in ensure_tenant_workspaces(kb, members)] == ["present", "present"]
    assert {t.workspace: kb.list_documents(t.workspace) for t in TENANTS} == before
    assert changed_documents(kb, NORTH) == ["northgate-price-list"]
    assert members.role(SOUTH.persona.email, SOUTH.workspace) is None


def test_a_users_own_workspace_with_a_tenants_name_is_left_alone_and_the_persona_gets_no_role(fresh):
    kb, members = fresh
    kb.create_workspace("tenant-north")
    assert kb.ingest_bytes("tenant-north", [("mine.md", b"# Mine\n\nMy own notes.\n")]).ok
    north, south = ensure_tenant_workspaces(kb, members)
    assert north.status == "taken" and "left as it is" in north.note and south.status == "created"
    assert [d.doc_id for d in kb.list_documents("tenant-north")] == ["mine"]
    assert members.role(NORTH.persona.email, "tenant-north") is None
    assert not seeded_here(kb, NORTH)
    assert ensure_tenant_workspaces(kb, members)[0].status == "taken"  # and on every later start


def test_a_deleted_tenant_workspace_stays_deleted_until_it_is_set_up_again(fresh):
    kb, members = fresh
    ensure_tenant_workspaces(kb, members)
    kb.delete_workspace(NORTH.workspace)
    assert ensure_tenant_workspaces(kb, members)[0].status == "deleted"
    assert not kb.has_workspace(NORTH.workspace)
    north, south = ensure_tenant_workspaces(kb, members, again=True)
    assert (north.status, south.status) == ("created", "present")
    assert seeded_here(kb, NORTH)


def test_a_workspace_made_by_someone_after_the_seeded_one_was_deleted_is_not_taken_for_the_tenants(fresh):
    kb, members = fresh
    ensure_tenant_workspaces(kb, members)
    kb.delete_workspace(NORTH.workspace)
    kb.create_workspace(NORTH.workspace)  # a user's, under the freed name
    assert ensure_tenant_workspaces(kb, members, again=True)[0].status == "taken"
    assert not seeded_here(kb, NORTH) and kb.list_documents(NORTH.workspace) == []


def test_a_seed_interrupted_after_creating_the_workspace_is_finished_on_the_next_start(fresh):
    kb, members = fresh
    kb.create_workspace(NORTH.workspace)
    kb.manifest.set_meta(f"tenant_created:{NORTH.workspace}", kb.workspace(NORTH.workspace).id)
    assert ensure_tenant_workspaces(kb, members)[0].status == "created"
    assert seeded_here(kb, NORTH) and members.role(NORTH.persona.email, NORTH.workspace) == "viewer"


def test_the_app_seeds_the_tenants_beside_the_demo_only(monkeypatch, data_dir):
    import app_resources

    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    kb = app_resources.get_knowledge_base()
    assert not any(kb.has_workspace(t.workspace) for t in TENANTS)


# -- asking as the personas --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, embedding_function):  # noqa: F811
    """The tenants seeded once for the module, with the demo persona roles in a real access store."""
    kb, members = open_kb(tmp_path_factory.mktemp("tenants"), embedding_function)
    ensure_tenant_workspaces(kb, members)
    yield kb, members
    kb.manifest.close()


@pytest.fixture(scope="module")
def pipeline(seeded, tiny_runtime, tmp_path_factory, random_lora):
    """The tiny model with a random-weight adapter named grounded-json (the shared mode's adapter)."""
    adapters = tmp_path_factory.mktemp("adapters")
    shutil.copy(random_lora, adapters / "grounded-json.gguf")
    settings = load_settings(data_dir=tmp_path_factory.mktemp("tenant-pipeline"), max_tokens=16)
    return Pipeline(tiny_runtime, seeded[0], AdapterCatalog(settings, shipped_dir=adapters), settings)


def ask(seeded, pipeline, question: str = QUESTION, presenter: Principal | None = None) -> list:
    kb, members = seeded
    access = Access(members, auth_enabled=True)
    presenter = presenter or Principal(email="presenter@team.example")
    return list(ask_as_tenants(question, pipeline_for=lambda persona: pipeline, kb=kb, access=access,
                               presenter=presenter))


@pytest.fixture(scope="module")
def asked(seeded, pipeline) -> list:
    return ask(seeded, pipeline)


def test_each_persona_answers_in_turn_with_the_same_adapter_mode(asked):
    kinds = [type(e) for e in asked]
    assert kinds[0] is PersonaStarted and kinds[-1] is TenantsDone
    assert kinds.count(PersonaStarted) == kinds.count(PersonaAnswered) == len(TENANTS)
    assert PersonaToken in kinds
    done = asked[-1].comparison
    assert [a.tenant for a in done.answers] == list(TENANTS)
    assert {a.answer.mode.id for a in done.answers} == {"rag+lora"}
    assert {a.answer.adapter for a in done.answers} == {"grounded-json"}


def test_each_persona_retrieves_and_cites_only_from_their_own_workspace(asked):
    for answered in asked[-1].comparison.answers:
        own = answered.tenant
        assert answered.answer.workspace == own.workspace
        assert answered.answer.retrieved and {doc_of(c) for c in answered.answer.retrieved_ids} <= own.doc_ids()
        assert answered.foreign == []
        assert answered.case is not None and answered.case.workspace == own.workspace


def test_each_persona_is_refused_the_other_tenants_workspace(asked, seeded):
    kb, members = seeded
    access = Access(members, auth_enabled=True)
    for answered in asked[-1].comparison.answers:
        others = [t.workspace for t in TENANTS if t != answered.tenant]
        assert list(answered.refused) == others and answered.readable == []
        assert all("may not read workspace" in why for why in answered.refused.values())
        with pytest.raises(PermissionDenied):
            access.require(answered.tenant.persona, "read", others[0])
        checks = answered.checks()
        assert checks[0].held and checks[1].held and checks[1].text.endswith(f"is refused {others[0]}")


def test_a_persona_granted_the_other_tenants_workspace_fails_the_separation_check(seeded, pipeline):
    kb, members = seeded
    members.grant(NORTH.persona.email, SOUTH.workspace, "viewer")
    try:
        events = ask(seeded, pipeline)
    finally:
        members.revoke(NORTH.persona.email, SOUTH.workspace)
    north = events[-1].comparison.answers[0]
    assert north.readable == [SOUTH.workspace]
    assert any(c.text.endswith(f"is refused {SOUTH.workspace}") and c.held is False for c in north.checks())


def test_an_answer_citing_another_tenants_document_fails_the_citation_check(asked):
    from ragtune.answer import Citation

    north = asked[-1].comparison.answers[0]
    cited = north.answer.model_copy(update={"citations": [Citation(chunk_id="southern-cross-price-list#1",
                                                                   status="unknown")]})
    bad = north.model_copy(update={"answer": cited})
    check = next(c for c in bad.checks() if "cites only" in c.text)
    assert check.held is False and "tenant-south's" in check.detail
    own = north.answer.model_copy(update={"citations": [Citation(chunk_id="northgate-returns-and-refunds#0",
                                                                 status="retrieved")]})
    assert next(c for c in north.model_copy(update={"answer": own}).checks() if "cites only" in c.text).held


def test_a_question_outside_the_tenant_set_is_asked_but_not_judged(seeded, pipeline):
    done = ask(seeded, pipeline, "Do you sell lawn robots?")[-1].comparison
    assert all(a.answer is not None and a.case is None and a.result is None for a in done.answers)
    assert not any("answer (" in c.text for c in done.checks())


def test_only_an_admin_may_ask_as_a_persona_over_documents_that_are_not_the_demos(seeded, pipeline):
    kb, _ = seeded
    assert kb.ingest_bytes(NORTH.workspace, [("secret.md", b"# Secret\n\nThe margin is 41%.\n")]).ok
    try:
        north = ask(seeded, pipeline)[-1].comparison.answers[0]
        assert north.answer is None and "only an admin may ask as a demo persona" in north.withheld
        assert "secret" in north.withheld and not north.denied
        assert north.checks()[0].text == f"the presenter may ask as {NORTH.persona.email}"
        assert north.checks()[0].held is False
        admin = ask(seeded, pipeline, presenter=Principal(email="boss@team.example", is_admin=True))
        assert admin[-1].comparison.answers[0].answer is not None
    finally:
        kb.delete_document(NORTH.workspace, "secret")


def test_a_question_too_long_is_refused_before_anything_runs(seeded, pipeline):
    from ragtune.errors import InputError

    with pytest.raises(InputError, match="characters long"):
        ask(seeded, pipeline, "x" * 5000)


# -- measured: eval per tenant workspace ------------------------------------------------------------


def test_an_eval_of_the_tenant_set_asks_each_workspace_its_own_tenants_questions_only(seeded, pipeline):
    from ragtune.errors import InputError
    from ragtune.evaluation.runner import plan_eval
    from ragtune.tenant_ask import shared_mode

    plan = plan_eval(pipeline, tenant_eval_set(), [shared_mode()], NORTH.workspace)
    assert {item.case.workspace for item in plan.items} == {NORTH.workspace}
    assert len(plan.items) == len(tenant_questions()) and set(plan.elsewhere.values()) == {SOUTH.workspace}
    assert plan.not_judged == {}
    with pytest.raises(InputError, match="answers are for tenant-north, tenant-south"):
        plan_eval(pipeline, tenant_eval_set(), [shared_mode()], "somewhere-else")


def test_eval_from_the_cli_seeds_the_tenant_and_its_run_gives_the_measured_rate(tiny_env, random_lora, monkeypatch,
                                                                                capsys):
    import json

    from ragtune.cli import main
    from ragtune.evaluation.sets import TENANT_SET_FILE
    from ragtune.evaluation.store import EvalStore
    from ragtune.tenant_ask import measured_rates

    monkeypatch.setenv("RAGTUNE_MAX_TOKENS", "8")
    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
    settings = load_settings()
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(random_lora, settings.adapters_dir / "grounded-json.gguf")
    assert main(["eval", "--set", str(TENANT_SET_FILE), "--workspace", SOUTH.workspace, "--modes", "rag+lora",
                 "--limit", "3", "--json"]) == 0
    partial = json.loads(capsys.readouterr().out)["run"]
    assert partial["n_items"] == 3 and partial["workspaces"] == {"v1": SOUTH.workspace}
    store = EvalStore.from_settings(settings)
    assert measured_rates(store, partial["model_id"]) == []  # three questions are not the whole tenant set
    assert main(["eval", "--set", str(TENANT_SET_FILE), "--workspace", SOUTH.workspace, "--modes", "rag+lora",
                 "--json"]) == 0
    captured = capsys.readouterr()
    run = json.loads(captured.out)["run"]
    assert run["n_items"] == len(tenant_questions()) and run["status"] == "complete"
    assert f"questions are left out: their answers are for {NORTH.workspace}" in captured.err
    [rate] = measured_rates(store, run["model_id"])
    assert (rate.workspace, rate.run_id, rate.n, rate.source) == (SOUTH.workspace, run["id"],
                                                                   len(tenant_questions()), "stored")
    assert rate.text("RAG + LoRA").startswith(f"RAG + LoRA on {SOUTH.workspace}: correct {rate.correct} of {rate.n}")


def test_the_shipped_measurement_counts_until_the_installation_measures_its_own(tmp_path):
    from ragtune.evaluation.store import EvalStore
    from ragtune.tenant_ask import MEASURED_DIR, measured_rates, showcase_question

    model = "smollm2-135m-instruct-q4_1"
    shipped = measured_rates(None, model)
    assert {(r.workspace, r.mode_id) for r in shipped} == {(t.workspace, m) for t in TENANTS
                                                           for m in ("rag+lora", "rag")}
    assert all(r.source == "shipped" and r.n == len(tenant_questions()) for r in shipped)
    question, clear = showcase_question(shipped)
    for t in TENANTS:  # the question offered first: every persona answered it right in the measured runs
        case = tenant_case(tenant_eval_set(), question, t)
        assert any(case.id in r.correct_cases for r in shipped if r.workspace == t.workspace
                   and r.mode_id == "rag+lora")
    assert 1 <= clear <= len(tenant_questions())
    assert measured_rates(EvalStore(tmp_path / "empty.sqlite3"), model) == shipped  # nothing stored: shipped
    assert measured_rates(None, "another-model") == []
    damaged = tmp_path / model
    damaged.mkdir()
    (damaged / f"{NORTH.workspace}.json").write_text("{not json")
    assert measured_rates(None, model, shipped_dir=tmp_path) == []
    assert showcase_question([]) == (tenant_questions()[0], 0)
    assert (MEASURED_DIR / model / f"{SOUTH.workspace}.json").is_file()
