"""The History page under AppTest, on a query log written through the real store."""

from __future__ import annotations

import csv
import io

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.store import LogFilter, QueryLog
from tests.test_store import answer

PAGE = str(PROJECT_ROOT / "app_pages" / "history.py")


@pytest.fixture()
def log(monkeypatch: pytest.MonkeyPatch) -> QueryLog:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    log = QueryLog(load_settings().query_log_file)
    log.add(answer("base", minutes=0))
    log.add(answer("rag", minutes=1))
    log.add(answer("rag+lora", minutes=2, adapter="grounded-json", workspace="team"))
    return log


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60).run()


def test_an_empty_log_says_where_queries_come_from(monkeypatch):
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    at = page()
    assert not at.exception and "The log is empty" in at.info[0].value


def test_the_log_is_charted_and_tabled(log):
    at = page()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == 4
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 3
    assert "3 of 3 logged queries match." in [c.value for c in at.caption]


def test_filters_narrow_the_table(log):
    at = page()
    at.multiselect(key="hist_modes").set_value(["rag", "rag+lora"]).run()
    at.multiselect(key="hist_adapters").set_value(["grounded-json"]).run()
    assert list(at.dataframe[0].value["mode"]) == ["rag+lora"]
    at.multiselect(key="hist_adapters").set_value([]).run()
    at.multiselect(key="hist_workspaces").set_value(["demo"]).run()
    assert sorted(at.dataframe[0].value["mode"]) == ["rag"]


def test_the_time_range_filters_old_queries_out(log):
    at = page()
    at.selectbox(key="hist_window").set_value("Last hour").run()  # the test answers are from January 2026
    assert "0 of 3 logged queries match." in [c.value for c in at.caption]


def test_the_export_is_the_filtered_csv(log):
    at = page()
    at.multiselect(key="hist_modes").set_value(["base"]).run()
    button = at.get("download_button")[0]
    assert button.proto.label == "Export these queries (CSV)"
    rows = list(csv.DictReader(io.StringIO(log.export_csv(LogFilter(modes=["base"])))))
    assert [r["mode_id"] for r in rows] == ["base"]


def test_a_clicked_row_shows_that_answer_in_full(log):
    at = page()
    at.session_state["hist_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert any(m.value.startswith("**#3 · RAG + LoRA**") for m in at.markdown)


def test_clearing_asks_first_and_then_empties_the_log(log):
    at = page()
    at.button(key="hist_clear").click().run()
    assert log.count() == 3 and "Delete all 3 logged queries" in at.warning[0].value
    at.button(key="hist_clear_cancel").click().run()
    assert log.count() == 3
    at.button(key="hist_clear").click().run()
    at.button(key="hist_clear_yes").click().run()
    assert not at.exception and log.count() == 0
    assert "The log is empty" in at.info[0].value


def test_a_clicked_row_shows_the_verdict_stored_with_the_answer(log):
    log.add(answer("rag", minutes=3), verdict="stale", verdict_note="gives the old answer 30 days")
    at = page()
    assert list(at.dataframe[0].value["verdict"]) == ["stale", "", "", ""]
    at.session_state["hist_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    badges = [m.value for m in at.markdown if "badge[" in m.value]
    assert any("stale" in b for b in badges), badges
    assert [m.label for m in at.metric].count("Total") == 1  # the Lab's answer card


def test_a_logged_answer_stopped_in_a_loop_says_so_in_the_table_and_its_card(log):
    from ragtune.answer import ParseReport

    log.add(answer("base", minutes=3).model_copy(update={
        "finish_reason": "repetition", "text": "la Femme " * 20,
        "parse": ParseReport(status="repetition", detail="the output repeated itself and was stopped")}))
    at = page()
    assert list(at.dataframe[0].value["stopped"]) == ["stopped: repetition", "", "", ""]
    assert list(at.dataframe[0].value["format"])[0] == "asked for JSON · stopped: repetition"
    at.session_state["hist_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception
    assert any(c.value.startswith("Stopped: repetition — ") for c in at.caption)
