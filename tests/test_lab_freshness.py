"""Freshness in one click: a changed-fact question brings the knowledge LoRA into the comparison,
the Lab switches the demo documents' version in place and asks again, and an answer to a document
edited after its gold answer was written is not judged (in the Lab and the Benchmark alike).

Real parts: the demo documents ingested into real chromadb, real inline edits, the tiny model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.adapters import AdapterCatalog
from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.evaluation.sets import demo_eval_set
from ragtune.evaluation.workspaces import NOT_JUDGED, judging
from ragtune.lab import FRESHNESS_MODE, Finished, compare, freshness_offer, plan_comparison, switch_documents
from ragtune.modes import BUILTIN_MODES, ModeStore
from ragtune.pipeline import Pipeline
from ragtune.retrieval.demo import KB_V1_DIR, demo_version, reset_demo_workspace, set_demo_version
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.store import QueryLog
from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture

CASES = {c.id: c for c in demo_eval_set().cases}
CHANGED = CASES["c03"]  # the return window: 30 days in version 1, 45 in version 2 (returns-policy)
UNCHANGED = CASES["a13"]  # the Poolpilot's price (poolpilot-p1-specifications)
MODES = {m.id: m for m in BUILTIN_MODES}
EDITED_RETURNS = "# Returns Policy\n\nYou may return any product within 60 days of delivery for a full refund.\n"


@pytest.fixture()
def demo(data_dir, embedding_function) -> Iterator[KnowledgeBase]:  # noqa: F811
    """A fresh demo workspace (version 1) on real chromadb: each test may edit or switch it."""
    kb = KnowledgeBase.from_settings(load_settings(), embedding_function)
    reset_demo_workspace(kb, "demo")
    yield kb
    kb.manifest.close()


def test_a_changed_fact_question_adds_the_knowledge_lora_and_says_so():
    known = [m.id for m in BUILTIN_MODES]
    plan = plan_comparison(CHANGED.question, ["base", "rag"], known)
    assert plan.mode_ids == ["base", "rag", FRESHNESS_MODE] and plan.added == [FRESHNESS_MODE]
    assert "Knowledge LoRA" in plan.note
    assert plan_comparison(CHANGED.question, ["rag", FRESHNESS_MODE], known).added == []  # chosen already
    unchanged = plan_comparison(UNCHANGED.question, ["rag"], known)
    assert unchanged.mode_ids == ["rag"] and not unchanged.note and unchanged.added == []
    assert plan_comparison("What is our refund policy?", ["rag"], known).mode_ids == ["rag"]  # not a demo question


def test_an_inline_edit_of_a_gold_document_stops_its_questions_being_judged(demo):
    assert judging(demo, "demo").edited == [] and judging(demo, "demo").not_judged(CHANGED) is None
    demo.update_document_text("demo", "returns-policy", EDITED_RETURNS)  # the Knowledge page's edit
    basis = judging(demo, "demo")
    assert basis.edited == ["returns-policy"]
    assert basis.not_judged(CHANGED) == f"{NOT_JUDGED} (returns-policy)"
    assert basis.not_judged(UNCHANGED) is None  # its document is as shipped: still judged
    # the shipped file ingested again: judged again
    demo.ingest_paths("demo", [KB_V1_DIR / "returns-policy.md"])
    assert judging(demo, "demo").edited == []


def test_switching_the_demo_to_version_2_is_not_an_edit(demo):
    set_demo_version(demo, "v2", "demo")
    basis = judging(demo, "demo")
    assert basis.version == "v2" and basis.edited == []
    assert judging(demo, "demo", "v1").edited  # the v2 documents are not version 1's text


def test_the_lab_does_not_judge_an_answer_to_an_edited_document_and_logs_why(demo, tiny_runtime):
    settings = load_settings(max_tokens=8)
    pipeline = Pipeline(tiny_runtime, demo, AdapterCatalog(settings), settings)
    log = QueryLog(settings.query_log_file)
    demo.update_document_text("demo", "returns-policy", EDITED_RETURNS)
    for case, judged in ((CHANGED, False), (UNCHANGED, True)):
        [finished] = [e for e in compare(pipeline, case.question, [MODES["rag"]], "demo", log=log, source="lab")
                      if isinstance(e, Finished)]
        assert (finished.verdict is not None) is judged
        assert (finished.not_judged is None) is judged
    edited_entry, judged_entry = log.entries()
    assert edited_entry.verdict is None and edited_entry.verdict_note == f"{NOT_JUDGED} (returns-policy)"
    assert judged_entry.verdict is not None


def test_the_benchmark_leaves_out_the_questions_whose_documents_were_edited(demo, tiny_runtime):
    from ragtune.evaluation.runner import plan_eval

    settings = load_settings()
    pipeline = Pipeline(tiny_runtime, demo, AdapterCatalog(settings), settings)
    full = plan_eval(pipeline, demo_eval_set(), [MODES["base"]], "demo")
    assert full.not_judged == {} and CHANGED.id in {i.case.id for i in full.items}
    demo.update_document_text("demo", "returns-policy", EDITED_RETURNS)
    plan = plan_eval(pipeline, demo_eval_set(), [MODES["base"]], "demo")
    on_returns = {c.id for c in demo_eval_set().cases if "returns-policy" in c.doc_ids}
    assert set(plan.not_judged) == on_returns and CHANGED.id in on_returns
    assert {i.case.id for i in plan.items} == {i.case.id for i in full.items} - on_returns
    assert all(NOT_JUDGED in why for why in plan.not_judged.values())


def test_the_freshness_offer_switches_the_demo_workspace_and_back(demo):
    offer = freshness_offer(demo, "demo", "demo", CHANGED.question)
    assert offer is not None and offer.current == "v1" and offer.target == "v2"
    assert offer.label == "Switch the documents to version 2 and ask again" and "everyone" in offer.caution
    switch_documents(demo, offer)
    assert demo_version(demo, "demo") == "v2"
    back = freshness_offer(demo, "demo", "demo", CHANGED.question)
    assert back is not None and back.target == "v1" and "back to version 1" in back.label
    assert freshness_offer(demo, "demo", "demo", UNCHANGED.question) is None  # its fact did not change
    assert freshness_offer(demo, "demo", "", CHANGED.question) is None  # not the demo workspace
    assert freshness_offer(None, "demo", "demo", CHANGED.question) is None


# -- the page --------------------------------------------------------------------------------

PAGE = str(PROJECT_ROOT / "app_pages" / "lab.py")


@pytest.fixture()
def demo_page_env(tiny_env, monkeypatch, data_dir, embedding_function):  # noqa: F811
    """The Lab page on the tiny model with the demo workspace (built here, as the app's first start does)."""
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "demo")
    monkeypatch.setenv("RAGTUNE_MAX_TOKENS", "8")
    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
    kb = KnowledgeBase.from_settings(load_settings(), embedding_function)
    reset_demo_workspace(kb, "demo")
    kb.manifest.close()


def test_the_lab_adds_the_knowledge_lora_and_asks_again_on_version_2_in_one_click(demo_page_env):
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    at.selectbox(key="lab_demo").set_value("c03").run()
    at.multiselect(key="lab_modes").set_value(["rag"])
    at = at.button(key="lab_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Knowledge LoRA" in [h.value for h in at.subheader]  # the column the question added
    assert any("version 2 of the demo documents" in i.value for i in at.info)
    assert "A demo question: answers are checked against demo documents v1." in [c.value for c in at.caption]
    assert any("for everyone using this server" in c.value for c in at.caption)
    at = at.button(key="lab_fresh_switch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    kb = KnowledgeBase.from_settings(load_settings())
    assert demo_version(kb, "demo") == "v2"
    assert "A demo question: answers are checked against demo documents v2." in [c.value for c in at.caption]
    entries = QueryLog(load_settings().query_log_file).entries()
    assert [e.mode_id for e in entries] == ["rag", "rag"] and len({e.run_id for e in entries}) == 2
    assert at.button(key="lab_fresh_switch").label == "Switch the documents back to version 1 and ask again"
    assert ModeStore(load_settings().modes_file).get(FRESHNESS_MODE)  # a built-in mode, never saved by the Lab
