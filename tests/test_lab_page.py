"""The Lab page under AppTest, on the tiny model and a small real knowledge base."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.economics import EconomicsStore
from ragtune.modes import ModeStore
from ragtune.store import QueryLog

PAGE = str(PROJECT_ROOT / "app_pages" / "lab.py")
FOUR = ["base", "rag", "rag+fewshot", "rag+constrained"]


@pytest.fixture()
def env(team_workspace):
    return team_workspace(max_tokens=16)


def page(**query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180)
    for name, value in query.items():
        at.query_params[name] = value
    return at.run()


def compare(at: AppTest, modes: list[str], question: str = "How much is the Poolpilot P1?") -> AppTest:
    at.text_area(key="lab_question").set_value(question)
    at.multiselect(key="lab_modes").set_value(modes)
    at.selectbox(key="lab_workspace").set_value("team")
    return at.button(key="lab_run").click().run()


def test_the_page_opens_with_the_four_main_modes(env):
    at = page()
    assert not at.exception and not at.error
    assert at.title[0].value == "Lab"
    assert at.multiselect(key="lab_modes").value == ["base", "rag", "lora", "rag+lora"]


def test_four_modes_give_four_answers_the_charts_and_four_log_entries(env):
    at = compare(page(), FOUR)
    assert not at.exception and not at.error, [e.value for e in at.error]
    headers = [h.value for h in at.subheader]
    assert all(label in headers for label in ("Base", "RAG", "RAG + few-shot", "RAG + constrained"))
    assert [m.label for m in at.metric].count("Total") == 4
    # this comparison's latency and cost charts, and the log's four charts
    assert len(at.get("plotly_chart")) == 6
    entries = QueryLog(load_settings().query_log_file).entries()
    assert [e.mode_id for e in entries] == FOUR and len({e.run_id for e in entries}) == 1
    assert entries[1].retrieved_ids and not entries[0].retrieved_ids


def test_the_answers_stay_after_another_interaction(env):
    at = compare(page(), ["base", "rag"])
    at.text_area(key="lab_question").set_value("Something else").run()
    assert [m.label for m in at.metric].count("Total") == 2


def test_modes_come_from_the_link_and_unknown_ids_are_ignored_with_a_warning(env):
    at = page(modes="rag,rag+lora,telepathy")
    assert not at.exception
    assert at.multiselect(key="lab_modes").value == ["rag", "rag+lora"]
    assert "telepathy" in at.warning[0].value


def test_a_link_with_a_question_but_no_modes_opens_with_the_default_modes_ready_to_compare(env):
    at = page(q="How much is the Poolpilot P1?")
    assert not at.exception and not at.error
    assert at.text_area(key="lab_question").value == "How much is the Poolpilot P1?"
    assert at.multiselect(key="lab_modes").value == ["base", "rag", "lora", "rag+lora"]
    assert not at.button(key="lab_run").disabled


def test_a_mode_whose_adapter_is_unusable_says_so_in_its_column(env):
    at = compare(page(), ["rag", "lora"])
    assert not at.exception
    assert len(at.error) == 1 and "grounded-json" in at.error[0].value
    assert [m.label for m in at.metric].count("Total") == 1


def test_an_answer_waits_while_another_session_holds_the_model_and_logs_the_wait(env):
    import threading

    from app_resources import _load_runtime

    at = page()
    runtime = _load_runtime("local:tiny")  # the process-wide model the page uses
    runtime._lock.acquire()  # another session's request
    releaser = threading.Timer(0.5, runtime._lock.release)
    releaser.start()
    try:
        at = compare(at, ["base"])
    finally:
        releaser.join()
    assert not at.exception and not at.error
    assert QueryLog(load_settings().query_log_file).entries()[0].queue_wait_ms >= 400


def test_a_demo_question_fills_the_question_box_and_states_the_prediction(env):
    at = page()
    at.selectbox(key="lab_demo").set_value("a13").run()
    assert at.text_area(key="lab_question").value == "What is the price of the Poolpilot P1 pool robot?"
    assert any("predicts" in i.value for i in at.info)


def test_an_empty_question_is_an_error_not_an_exception(env):
    at = page()
    at.button(key="lab_run").click().run()
    assert not at.exception and "Type a question" in at.error[0].value


def test_a_user_defined_mode_is_saved_and_selectable(env):
    at = page()
    at.text_input(key="lab_mode_form-label").set_value("RAG k=2")
    at.text_input(key="lab_mode_form-id").set_value("rag-k2")
    at.slider(key="lab_mode_form-k").set_value(2)
    at.button(key="FormSubmitter:lab_mode_form-Save the mode").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert ModeStore(load_settings().modes_file).get("rag-k2").k == 2
    assert "RAG k=2" in at.multiselect(key="lab_modes").options


def test_an_invalid_mode_is_rejected_with_its_reason(env):
    at = page()
    at.text_input(key="lab_mode_form-label").set_value("Bad")
    at.text_input(key="lab_mode_form-id").set_value("Not An Id")
    at.button(key="FormSubmitter:lab_mode_form-Save the mode").click().run()
    assert not at.exception and "id:" in at.error[0].value


def test_cost_settings_are_validated_and_saved(env):
    at = page()
    at.number_input(key="lab_costs-rate").set_value(1.5)
    at.button(key="FormSubmitter:lab_costs-Save the cost settings").click().run()
    assert not at.exception and not at.error
    assert EconomicsStore(load_settings().economics_file).load().compute_dollars_per_hour == 1.5


def test_the_page_shows_an_error_when_the_model_is_missing(monkeypatch):
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_MODEL", "no-such-model")
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.text_area(key="lab_question").set_value("Anyone there?")
    at.button(key="lab_run").click().run()
    assert not at.exception and "Unknown model 'no-such-model'" in at.error[0].value


def test_a_demo_questions_answers_carry_the_verdict_shown_and_logged(env):
    at = page()
    at.selectbox(key="lab_demo").set_value("a13").run()
    at.multiselect(key="lab_modes").set_value(["base"])
    at.selectbox(key="lab_workspace").set_value("team")
    at = at.button(key="lab_run").click().run()
    assert not at.exception and not at.error
    assert "A demo question: answers are checked against demo documents v1." in [c.value for c in at.caption]
    entry = QueryLog(load_settings().query_log_file).entries()[0]
    assert entry.verdict in {"correct", "stale", "wrong", "abstained", "invented"} and entry.verdict_note
    assert any("badge[" in m.value and entry.verdict.split()[0] in m.value for m in at.markdown)


def test_a_routed_answer_says_its_route_and_the_latency_chart_has_a_routing_stage(env, random_lora):
    import shutil

    from ragtune.modes import Mode, Route, Router

    settings = load_settings()
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(random_lora, settings.adapters_dir / "my-router.gguf")
    ModeStore(settings.modes_file).save(Mode(id="routed", label="Routed here", router=Router(
        adapter="my-router", labels={"billing": "handoff"}, default="handoff",
        routes=[Route(name="handoff", answer="Passed to our billing team.")])))
    at = compare(page(modes="routed,base"), ["routed", "base"])
    assert not at.exception and not at.error, [e.value for e in at.error]
    routed = [c.value for c in at.caption if c.value.startswith("Routed: ")]
    assert len(routed) == 1 and "→ handoff (a fixed answer) · router " in routed[0]
    latency = at.get("plotly_chart")[0].proto.spec
    assert '"name":"Routing"' in latency.replace(" ", "")
    assert QueryLog(load_settings().query_log_file).entries()[0].route.route == "handoff"


def test_a_looping_answer_is_stopped_and_its_card_says_stopped_repetition(team_workspace, looping_model,
                                                                           monkeypatch):
    team_workspace(max_tokens=200)
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(looping_model))
    at = compare(page(), ["base"])
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(c.value.startswith("Stopped: repetition — ") for c in at.caption)
    assert any("stopped: repetition" in m.value for m in at.markdown)  # the format badge
    entry = QueryLog(load_settings().query_log_file).entries()[-1]
    assert (entry.finish_reason, entry.parse_status) == ("repetition", "repetition")
