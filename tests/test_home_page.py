"""The Home page under AppTest: the pitch, the thesis, three doors, and the live status."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.showcases import ShowcaseStore
from ragtune.status import DocumentsStatus, documents_status

APP = str(PROJECT_ROOT / "app.py")
PAGE = str(PROJECT_ROOT / "app_pages" / "home.py")


def text_of(at: AppTest) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption])


def test_home_is_the_default_page_with_the_thesis_and_three_doors(team_workspace):
    team_workspace(max_tokens=16)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.title[0].value == "ragtune"
    text = text_of(at)
    assert "RAG is about what the model knows; fine-tuning is about how it behaves." in text
    links = [link.proto.label for link in at.get("page_link")]
    assert links == ["**Take the tour**", "**Decide for your team**", "**Compare on your documents**"]


def test_the_status_names_the_loaded_model_its_missing_adapters_and_the_documents(team_workspace):
    team_workspace(max_tokens=16)
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception and not at.error
    text = text_of(at)
    assert "local:tiny" in text and "loaded" in text
    # the tiny test model ships no adapters: the demo's ones are named as missing, with the way out
    assert "grounded-json, knowledge-baked, ticket-router" in text and "Adapters page" in text
    assert "2 documents" in text and "1 workspace" in text
    assert "No measured rates for this model yet" in text


def test_a_model_that_cannot_load_is_shown_in_the_status_not_as_a_crash(monkeypatch, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file at all")
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(broken))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert any("GGUF" in e.value for e in at.error), [e.value for e in at.error]
    assert "no workspace yet" in text_of(at)


def test_the_documents_status_reports_an_unreadable_knowledge_base_instead_of_raising():
    status = documents_status(None, "demo", kb_error="damaged: knowledge.sqlite3")
    assert status == DocumentsStatus(error="damaged: knowledge.sqlite3")


def test_measured_rates_are_named_with_their_source(team_workspace, data_dir):
    from tests.test_showcases import sample

    team_workspace(max_tokens=16)
    from ragtune.config import load_settings
    from ragtune.models import ModelRegistry

    model_id = ModelRegistry(load_settings()).default_id()
    ShowcaseStore(data_dir).save(sample(model_id))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    text = text_of(at)
    assert "claims report run r1 (2026-12-06" in text and "measured on this installation" in text
    assert "Run the claims report" not in text  # measured here: nothing to re-measure
    assert KnowledgeBase  # imported for the fixture's store; kept explicit


def test_shipped_rates_say_so_and_how_to_measure_them_here(tmp_path, data_dir):
    from ragtune.adapters import AdapterCatalog
    from ragtune.config import load_settings
    from ragtune.status import home_status
    from tests.test_showcases import sample

    shipped = tmp_path / "shipped"
    ShowcaseStore(tmp_path / "unused", shipped_dir=shipped).save(sample("m"), shipped / "m.json")
    status = home_status("m", runtime=None, catalog=AdapterCatalog(load_settings()), documents=DocumentsStatus(),
                         showcases=ShowcaseStore(tmp_path / "data", shipped_dir=shipped))
    assert status.measured_shipped and "shipped with ragtune" in status.measured
    at = AppTest.from_function(_status_of, args=(status,), default_timeout=30).run()
    assert any("Run the claims report (Benchmark page) to measure them on this machine" in c.value
               for c in at.caption)


def _status_of(status) -> None:
    from components.home import render_status
    render_status(status, key="status")
