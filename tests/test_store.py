"""The query log: round trip, reopening, filters, CSV export, clearing, WAL mode."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from ragtune.economics import EconomicsConfig, query_cost
from ragtune.errors import InputError
from ragtune.modes import BUILTIN_MODES
from ragtune.answer import Answer, AnswerTimings, Citation, ParseReport, RetrievedChunk
from ragtune.prompts import GroundedAnswer
from ragtune.store import LogFilter, QueryLog

MODES = {m.id: m for m in BUILTIN_MODES}
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def answer(mode_id: str = "rag", *, minutes: int = 0, workspace: str = "demo", adapter: str | None = None,
           model: str = "smollm2") -> Answer:
    timings = AnswerTimings(retrieval_ms=12.0, queue_wait_ms=3.0, prompt_eval_ms=400.0, ttft_ms=420.0,
                            generation_ms=800.0, total_ms=1230.0, prompt_tokens=480,
                            cached_prompt_tokens=100, completion_tokens=40, tokens_per_s=50.0)
    parsed = GroundedAnswer(answer="$1,249", citations=["poolpilot#0"], confidence="high")
    return Answer(
        query="How much is the Poolpilot?", mode=MODES[mode_id], workspace=workspace, model_id=model,
        adapter=adapter, adapters_applied=[], text=parsed.to_json(), finish_reason="stop",
        parse=ParseReport(status="ok", parsed=parsed),
        retrieved=[RetrievedChunk(number=1, chunk_id="poolpilot#0", doc_id="poolpilot", title="Poolpilot",
                                  version=1, score=0.5, text="It costs $1,249.")],
        citations=[Citation(chunk_id="poolpilot#0", status="retrieved", number=1)],
        timings=timings,
        cost=query_cost(compute_seconds=1.227, prompt_tokens=480, cached_prompt_tokens=100,
                        completion_tokens=40, uses_adapter=adapter is not None, config=EconomicsConfig(),
                        default_dollars_per_hour=0.1),
        created_at=T0 + timedelta(minutes=minutes),
    )


@pytest.fixture()
def log(data_dir):
    return QueryLog(data_dir / "queries.sqlite3")


def test_an_answer_round_trips_through_the_log(log):
    original = answer()
    entry = log.get(log.add(original, source="cli", run_id="r1"))
    assert (entry.query, entry.mode_id, entry.workspace, entry.model_id) == (
        original.query, "rag", "demo", "smollm2")
    assert entry.retrieved_ids == ["poolpilot#0"] and entry.display_answer == "$1,249"
    assert entry.parse_status == "ok" and entry.format_valid is True
    assert entry.citations == [{"chunk_id": "poolpilot#0", "status": "retrieved", "number": 1}]
    assert entry.total_ms == 1230.0 and entry.prompt_tokens == 480 and entry.cached_prompt_tokens == 100
    assert entry.local_cost_usd == pytest.approx(original.cost.local_compute_usd)
    assert entry.api_cost_usd == pytest.approx(original.cost.api_reference_usd)
    assert entry.created_at == T0 and (entry.source, entry.run_id) == ("cli", "r1")


def test_a_repetition_stopped_answer_keeps_its_finish_reason_and_format_status_in_the_log(log):
    stopped = answer().model_copy(update={
        "text": '{"answer": "la Femme la Femme la Femme', "finish_reason": "repetition",
        "parse": ParseReport(status="repetition", detail="the output repeated itself and was stopped")})
    entry = log.get(log.add(stopped))
    assert entry.finish_reason == "repetition" and entry.parse_status == "repetition"
    assert entry.format_valid is False and entry.answer == stopped.text
    assert "repetition" in log.export_csv(LogFilter())


def test_the_log_survives_reopening_and_uses_wal(log, data_dir):
    log.add(answer())
    reopened = QueryLog(data_dir / "queries.sqlite3")
    assert reopened.count() == 1
    assert reopened.journal_mode() == "wal"


def test_filters_by_mode_workspace_model_adapter_and_time(log):
    log.add(answer("base", minutes=0))
    log.add(answer("rag", minutes=10, workspace="team"))
    log.add(answer("rag+lora", minutes=20, adapter="grounded-json", model="qwen"))
    assert [e.mode_id for e in log.entries(LogFilter(modes=["rag", "base"]))] == ["base", "rag"]
    assert [e.mode_id for e in log.entries(LogFilter(workspaces=["team"]))] == ["rag"]
    assert [e.mode_id for e in log.entries(LogFilter(models=["qwen"]))] == ["rag+lora"]
    assert [e.mode_id for e in log.entries(LogFilter(adapters=[""]))] == ["base", "rag"]
    window = LogFilter(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=15))
    assert [e.mode_id for e in log.entries(window)] == ["rag"]
    assert log.distinct("adapter") == ["", "grounded-json"]


def test_the_limit_keeps_the_newest_entries_oldest_first(log):
    for minute in range(5):
        log.add(answer(minutes=minute))
    assert [e.created_at.minute for e in log.entries(LogFilter(limit=2))] == [3, 4]


def test_csv_export_has_a_header_and_one_row_per_answer(log):
    log.add(answer("base"))
    log.add(answer("rag", minutes=1))
    rows = list(csv.DictReader(io.StringIO(log.export_csv(LogFilter(modes=["rag"])))))
    assert len(rows) == 1
    assert rows[0]["mode_id"] == "rag" and rows[0]["retrieved_ids"] == "poolpilot#0"
    assert float(rows[0]["total_ms"]) == 1230.0


def test_clear_deletes_everything(log):
    log.add(answer())
    log.add(answer())
    assert log.clear() == 2 and log.count() == 0


def test_a_missing_entry_is_a_clear_error(log):
    with pytest.raises(InputError, match="#42"):
        log.get(42)


def test_a_verdict_is_stored_with_the_answer_and_shown_in_the_csv(log):
    judged = log.add(answer(), verdict="stale", verdict_note="gives the old answer 30 days")
    unjudged = log.add(answer())
    assert (log.get(judged).verdict, log.get(judged).verdict_note) == ("stale", "gives the old answer 30 days")
    assert log.get(unjudged).verdict is None and log.get(unjudged).verdict_note is None
    assert [r["verdict"] for r in csv.DictReader(io.StringIO(log.export_csv()))] == ["stale", ""]


def test_a_log_from_before_verdicts_gains_the_column_and_its_rows_are_not_judged(data_dir):
    import sqlite3

    path = data_dir / "old.sqlite3"
    QueryLog(path).add(answer())
    with sqlite3.connect(path) as db:  # the file as the release without verdicts wrote it
        db.execute("ALTER TABLE queries DROP COLUMN verdict")
        db.execute("ALTER TABLE queries DROP COLUMN verdict_note")
    reopened = QueryLog(path)
    assert reopened.entries()[0].verdict is None
    assert reopened.get(reopened.add(answer(), verdict="correct", verdict_note="ok")).verdict == "correct"
    assert reopened.count() == 2


def test_an_entry_gives_back_the_timings_of_its_answer(log):
    original = answer()
    assert log.get(log.add(original)).timings == original.timings
