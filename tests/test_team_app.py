"""The app with its backends in view: the sidebar says where the model answers and where the documents live,
their health, the served model and adapters, the busy slots; the Adapters page on a model server says how a
new adapter gets there. Drawn from the records the runtime and the knowledge base report
(ragtune.backends); tests/test_team_server.py draws them from real servers."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.backends import backend_notes, slots_text
from ragtune.retrieval.types import StoreStatus
from ragtune.runtime.base import BackendStatus, ServedAdapter
from ragtune.config import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")
SERVER = BackendStatus(kind="server", url="http://10.0.0.5:8080", healthy=True, model="qwen2.5-0.5b.gguf",
                       model_matches=True, slots_busy=3, slots_total=4,
                       adapters=[ServedAdapter(name="grounded-json", served=True),
                                 ServedAdapter(name="my-tone", served=False, why="the server has no such file")])


def test_a_server_serving_another_model_is_named_in_a_warning_with_the_selected_one():
    [note] = backend_notes(SERVER.model_copy(update={"model_matches": False, "adapters": []}), None,
                           selected="SmolLM2 135M")
    assert note.level == "warning" and "qwen2.5-0.5b.gguf" in note.text and "SmolLM2 135M" in note.text


def test_adapters_the_server_lacks_are_named_and_a_down_server_comes_first():
    notes = backend_notes(SERVER, StoreStatus(kind="server", url="http://10.0.0.6:8000", healthy=False,
                                              error="Connection refused."), selected="Qwen")
    assert [n.level for n in notes] == ["error", "warning"]
    assert "http://10.0.0.6:8000" in notes[0].text and "Connection refused." in notes[0].text
    assert "my-tone" in notes[1].text and "grounded-json" not in notes[1].text


def test_a_healthy_in_process_backend_needs_no_note_and_says_whether_it_is_busy():
    status = BackendStatus(kind="inprocess", healthy=True, model="tiny", model_matches=True, slots_busy=0,
                           slots_total=1)
    assert backend_notes(status, StoreStatus(kind="local", healthy=True), selected="tiny") == []
    assert slots_text(status) == "idle" and slots_text(SERVER) == "3 of 4 slots busy"
    assert slots_text(SERVER.model_copy(update={"slots_busy": None})) is None


def _sidebar(model, store) -> None:  # no annotations: AppTest runs the source on its own
    import streamlit as st

    from components.backends import render_backends

    with st.sidebar:
        render_backends(model, store, selected="SmolLM2 135M", key="backends")


def test_the_sidebar_shows_the_servers_their_health_the_slots_and_each_adapter():
    store = StoreStatus(kind="server", url="http://10.0.0.6:8000", healthy=True)
    at = AppTest.from_function(_sidebar, args=(SERVER, store), default_timeout=30).run()
    assert not at.exception
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "http://10.0.0.5:8080" in captions and "http://10.0.0.6:8000" in captions
    assert "3 of 4 slots busy" in captions and "qwen2.5-0.5b.gguf" in captions
    adapters = " ".join(m.value for m in at.sidebar.markdown)
    assert "`grounded-json` served" in adapters and "`my-tone` unavailable: the server has no such file" in adapters
    assert [w.value for w in at.sidebar.warning] == [backend_notes(SERVER, store, selected="SmolLM2 135M")[0].text]


def test_a_server_that_is_down_is_an_error_naming_it_and_the_rest_still_draws():
    down = BackendStatus(kind="server", url="http://10.0.0.5:8080", healthy=False, error="Connection refused.")
    at = AppTest.from_function(_sidebar, args=(down, StoreStatus(kind="local", healthy=True)), default_timeout=30).run()
    assert not at.exception
    assert len(at.sidebar.error) == 1 and "http://10.0.0.5:8080 does not answer" in at.sidebar.error[0].value
    assert any("Documents: in the data directory" in c.value for c in at.sidebar.caption)


@pytest.fixture()
def no_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")


def test_the_apps_sidebar_shows_the_model_in_this_process_and_the_documents_in_the_data_directory(
        tiny_env: Path, no_demo):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert "Model: in this process · idle" in captions and "Documents: in the data directory" in captions
    assert not at.sidebar.error and not at.sidebar.warning


def test_a_server_that_answers_but_is_slow_with_its_details_is_healthy_with_a_note():
    from ragtune.backends import backend_notes
    from ragtune.runtime.base import BackendStatus

    slow = BackendStatus(kind="server", url="http://s:8080", healthy=True,
                         error="it answers, but its details did not come in time (timed out)")
    notes = backend_notes(slow, None, selected="m")
    assert [n.level for n in notes] == ["info"] and "does not answer" not in notes[0].text
