"""The Benchmark page under AppTest, on the tiny model and a small real knowledge base."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT
from ragtune.evaluation.store import EvalStore

PAGE = str(PROJECT_ROOT / "app_pages" / "benchmark.py")


@pytest.fixture()
def env(team_workspace):
    return team_workspace(max_tokens=8)


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=180).run()


def start_run(at: AppTest, modes: list[str], limit: int = 2) -> AppTest:
    at.multiselect(key="bm_modes").set_value(modes)
    at.selectbox(key="bm_workspace").set_value("team")
    at.number_input(key="bm_limit").set_value(limit)
    return at.button(key="bm_run").click().run()


def test_the_page_opens_with_no_runs_and_the_four_main_modes(env):
    at = page()
    assert not at.exception and not at.error
    assert at.title[0].value == "Benchmark"
    assert at.multiselect(key="bm_modes").value == ["base", "rag", "lora", "rag+lora"]
    assert any("No stored runs yet" in i.value for i in at.info)


def test_a_small_run_shows_the_scoreboard_charts_exports_drilldown_and_claims(env, data_dir):
    at = start_run(page(), ["base", "rag"])
    assert not at.exception and not at.error
    (run,) = EvalStore(data_dir / "evaluations.sqlite3").runs()
    assert run.status == "complete" and run.n_results == 4
    board = at.dataframe[0].value
    assert list(board.index) == ["Base", "RAG"] and {"correct", "valid", "p50 ms", "API $/q"} <= set(board.columns)
    assert len(at.get("plotly_chart")) == 2
    assert {b.label for b in at.get("download_button")} == {"Download CSV", "Download JSON"}
    question = at.selectbox(key="bm_question")
    assert question.options[0].startswith("a01: In which year was Tidewell Robotics founded?")
    drill = [m.value for m in at.markdown if m.value.startswith("**Base**") or m.value.startswith("**RAG**")]
    assert drill == ["**Base**", "**RAG**"]
    assert any("Accepted: 2016, March 2016" in m.value for m in at.markdown)
    claims = [m.value for m in at.markdown if m.value.startswith(("**1.", "**6."))]
    assert claims == ["**1. RAG supplies facts the model does not know**",
                      "**6. Constrained decoding fixes syntax, not behaviour**"]
    assert any("not measured (mode lora not in this run)" in m.value for m in at.markdown)


def test_choosing_another_question_opens_its_drilldown(env):
    at = start_run(page(), ["rag"])
    at.selectbox(key="bm_question").set_value("a02@v1").run()
    assert not at.exception
    assert any("Accepted: Marcus Oyelaran, Oyelaran" in m.value for m in at.markdown)


def test_two_runs_can_be_compared_side_by_side(env, data_dir):
    at = start_run(page(), ["base"], limit=1)
    at = start_run(at, ["rag"], limit=1)
    newest, first = EvalStore(data_dir / "evaluations.sqlite3").runs()
    assert at.selectbox(key="bm_pick").value == newest.id  # the run just made is shown
    at = at.selectbox(key="bm_compare").set_value(first.id).run()
    assert not at.exception and len(at.dataframe) == 3  # the scoreboard, then the two compared
    assert [list(df.value.index) for df in at.dataframe[1:]] == [["RAG"], ["Base"]]


def test_an_invalid_upload_lists_the_bad_lines_and_nothing_can_run(env):
    at = page()
    at.radio(key="bm_source").set_value("Upload your own (JSONL)").run()
    at.file_uploader(key="bm_upload").set_value(
        ("mine.jsonl", b'{"id": "q1", "question": "?"}\nnot json\n{"id": "q1", "question": "?"}\n', "text/plain")
    ).run()
    assert not at.exception
    assert "mine.jsonl is invalid (2 bad line(s))" in at.error[0].value
    problems = at.dataframe[0].value
    assert list(problems["line"]) == [2, 3]
    assert at.button(key="bm_run").disabled


def test_a_valid_upload_runs(env, data_dir):
    at = page()
    at.radio(key="bm_source").set_value("Upload your own (JSONL)").run()
    at.file_uploader(key="bm_upload").set_value(
        ("mine.jsonl", b'{"id": "p", "question": "Price of the Poolpilot?", "answer": "$1,249", '
                       b'"doc_ids": ["poolpilot"]}\n', "text/plain")
    ).run()
    at = start_run(at, ["rag"])
    assert not at.exception and not at.error
    assert EvalStore(data_dir / "evaluations.sqlite3").runs()[0].set_name == "mine.jsonl"


def test_the_claims_report_runs_its_plan_and_names_the_modes_it_skips(env, data_dir):
    at = page()
    at.number_input(key="bm_report_limit").set_value(1)
    at = at.button(key="bm_report_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    skipped = [w.value for w in at.warning if w.value.startswith("Skipped ")]
    assert {s.split(":")[0] for s in skipped} == {"Skipped lora", "Skipped rag+lora", "Skipped knowledge-lora"}
    (run,) = EvalStore(data_dir / "evaluations.sqlite3").runs()
    assert run.kind == "report" and run.status == "complete" and run.n_items == 4
    assert run.mode_ids == ["base", "rag", "rag+fewshot", "constrained", "rag+constrained"] and run.n_results == 20
    assert any(m.value.startswith("**1. RAG supplies facts") for m in at.markdown)
