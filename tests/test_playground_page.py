"""The app shell and the Playground page, driven by Streamlit's AppTest on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")
PAGE = str(PROJECT_ROOT / "app_pages" / "playground.py")


@pytest.fixture(autouse=True)
def no_demo_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the model, not the knowledge base: skip building the demo."""
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")


def on_playground(at: AppTest) -> AppTest:
    """The whole app (entry point, sidebar, navigation), opened on the Playground page."""
    at.run()
    assert not at.exception, at.exception
    at.switch_page("app_pages/playground.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture()
def app(tiny_env: Path) -> AppTest:
    return on_playground(AppTest.from_file(APP, default_timeout=120))


@pytest.fixture()
def paths_app(tiny_env: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app on a server whose admin allows server-path inputs (RAGTUNE_ALLOW_SERVER_PATHS)."""
    monkeypatch.setenv("RAGTUNE_ALLOW_SERVER_PATHS", "true")
    return on_playground(AppTest.from_file(APP, default_timeout=120))


def test_the_app_starts_on_home_and_the_playground_shows_the_model_card(tiny_env):
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception and at.title[0].value == "ragtune"
    app = on_playground(at)
    assert app.title[0].value == "Playground"
    sidebar_text = " ".join(m.value for m in app.sidebar.markdown)
    assert "local:tiny" in sidebar_text
    assert any("licence apache-2.0" in c.value for c in app.sidebar.caption)
    assert not app.error


def test_a_message_produces_an_answer_and_a_timing_chart(app):
    app.chat_input(key="pg_input").set_value("What is ragtune?").run()
    assert not app.exception and not app.error
    messages = [m.value for m in app.markdown]
    assert "What is ragtune?" in messages
    assert len(app.get("plotly_chart")) == 1
    assert {m.label for m in app.metric} >= {"Total", "Time to first token", "Prompt tokens", "Speed"}
    assert any("base model" in c.value for c in app.caption)


def test_a_looping_answer_ends_early_and_says_stopped_repetition(looping_model, monkeypatch):
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(looping_model))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.chat_input(key="pg_input").set_value("How much does the Poolpilot P1 cost?").run()
    assert not at.exception and not at.error
    assert any(c.value.endswith("· stopped: repetition") for c in at.caption)
    answer_tokens = int(next(m for m in at.metric if m.label == "Answer tokens").value)
    assert answer_tokens < at.number_input(key="pg_max_tokens").value / 2  # it ended well before its cap


def test_the_default_answer_cap_is_a_brief_answers_for_this_model(app, tiny_runtime):
    from ragtune.answer_caps import answer_caps
    from ragtune.config import load_settings

    cap = app.number_input(key="pg_max_tokens").value
    ceiling = load_settings().max_tokens
    assert cap == min(answer_caps(tiny_runtime).plain_answer, ceiling) and 100 < cap < ceiling


def test_the_answer_uses_the_chosen_adapter(app, data_dir, random_lora):
    adapters = data_dir / "adapters"
    adapters.mkdir()
    (adapters / "style.gguf").write_bytes(random_lora.read_bytes())
    app.run()
    app.selectbox(key="pg_adapter").set_value("style (shared)").run()
    app.chat_input(key="pg_input").set_value("Hello").run()
    assert not app.exception and not app.error
    assert any("style × 1" in c.value for c in app.caption)


def test_an_invalid_adapter_path_shows_an_error_not_an_exception(paths_app, tmp_path):
    fake = tmp_path / "fake.gguf"
    fake.write_text("plain text")
    paths_app.text_input(key="pg_adapter_path").set_value(str(fake)).run()
    paths_app.button(key="pg_load_path").click().run()
    assert not paths_app.exception
    assert "not a GGUF file" in paths_app.error[0].value


def test_an_adapter_for_another_model_shows_an_error(paths_app, tmp_path):
    from tests.factories import write_lora

    other = write_lora(tmp_path / "qwen.gguf", architecture="qwen2")
    paths_app.text_input(key="pg_adapter_path").set_value(str(other)).run()
    paths_app.button(key="pg_load_path").click().run()
    assert not paths_app.exception
    assert "'qwen2' model" in paths_app.error[0].value


def test_a_loaded_path_adapter_becomes_selectable(paths_app, random_lora):
    paths_app.text_input(key="pg_adapter_path").set_value(str(random_lora)).run()
    paths_app.button(key="pg_load_path").click().run()
    assert paths_app.success
    assert "random (from path)" in paths_app.selectbox(key="pg_adapter").options


def test_the_page_runs_on_its_own(tiny_env):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception and at.title[0].value == "Playground"


def test_a_missing_model_shows_an_error_on_the_page(monkeypatch):
    monkeypatch.setenv("RAGTUNE_MODEL", "no-such-model")
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    assert "Unknown model 'no-such-model'" in at.error[0].value


def test_invalid_settings_show_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("RAGTUNE_N_THREADS", "0")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "RAGTUNE_N_THREADS" in at.error[0].value


def test_server_path_inputs_are_off_by_default(app):
    keys = {t.key for t in app.text_input} | {t.key for t in app.sidebar.text_input}
    assert "pg_adapter_path" not in keys and "add_model_path" not in keys
    assert not [b for b in app.button if b.key in ("pg_load_path", "add_model_button")]
    # A note says how an admin turns them on, in the sidebar and in the adapter panel.
    assert any("RAGTUNE_ALLOW_SERVER_PATHS=true" in c.value for c in app.sidebar.caption)
    assert any("RAGTUNE_ALLOW_SERVER_PATHS=true" in c.value for c in app.main.caption)


def test_server_path_inputs_appear_when_the_admin_allows_them(paths_app):
    assert paths_app.text_input(key="pg_adapter_path") is not None
    assert paths_app.sidebar.text_input(key="add_model_path") is not None


def test_a_local_model_can_be_added_by_path_when_allowed(paths_app, tiny_model):
    paths_app.sidebar.text_input(key="add_model_path").set_value(str(tiny_model)).run()
    paths_app.sidebar.button(key="add_model_button").click().run()
    assert not paths_app.exception and paths_app.sidebar.success
