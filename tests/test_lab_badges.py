"""Badges that say what happened: the verdict first, then what format the prompt asked for and what
came back, in colours that never make a correct answer look failed; the same on a fresh answer
(the Lab), a logged one (History, a permalink) and an export. The judge decides (scoring), the
card only draws."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.evaluation.scoring import format_outcome, judge_answer
from ragtune.evaluation.sets import demo_eval_set
from ragtune.evaluation.workspaces import NOT_JUDGED

PRICE = next(c for c in demo_eval_set().cases if c.id == "a13")  # the Poolpilot P1 costs $1,249


@pytest.mark.parametrize(("status", "text", "label", "tone"), [
    ("ok", '{"answer": "$1,249"}', "asked for JSON · got JSON", "met"),
    ("invalid_json", "The Poolpilot P1 costs $1,249.", "asked for JSON · got free text", "missed"),
    ("invalid_json", '{"answer": "$1,249" "citations"', "asked for JSON · got broken JSON", "missed"),
    ("truncated", '{"answer": "The Poolpilot', "asked for JSON · cut off", "missed"),
    ("schema_violation", '{"reply": "$1,249"}', "asked for JSON · breaks the schema", "missed"),
    ("unknown_citation", '{"answer": "$1,249"}', "asked for JSON · cites chunks it was not given", "missed"),
    ("free_text", "It costs $1,249.", "no format asked · free text", "none"),
    ("a_new_status", "", "asked for JSON · a new status", "missed"),  # named as it is, never hidden
])
def test_the_format_says_what_was_asked_and_what_came_back(status, text, label, tone):
    outcome = format_outcome(status, text)
    assert outcome.label == label and outcome.tone == tone


def grounded_answer(text: str, status: str):
    """A RAG answer as the pipeline returns it: the prompt asked for JSON."""
    from ragtune.answer import Answer, AnswerTimings, ParseReport
    from ragtune.economics import EconomicsConfig, query_cost
    from ragtune.modes import BUILTIN_MODES

    return Answer(
        query=PRICE.question, mode=next(m for m in BUILTIN_MODES if m.id == "rag"), workspace="demo",
        model_id="tiny", adapter=None, adapters_applied=[], text=text, finish_reason="stop",
        parse=ParseReport(status=status), retrieved=[], citations=[], timings=AnswerTimings(total_ms=10.0),
        cost=query_cost(compute_seconds=0.01, prompt_tokens=10, cached_prompt_tokens=0, completion_tokens=3,
                        uses_adapter=False, config=EconomicsConfig(), default_dollars_per_hour=0.1),
        created_at=datetime(2026, 1, 5, tzinfo=timezone.utc),
    )


def logged(answer, *, verdict: str | None, note: str | None):
    """The answer as the query log reads it back."""
    import tempfile
    from pathlib import Path

    from ragtune.store import QueryLog

    log = QueryLog(Path(tempfile.mkdtemp()) / "q.sqlite3")
    return log.get(log.add(answer, verdict=verdict, verdict_note=note))


def _fresh_card() -> None:
    from components.answer_card import render_answer_card
    from ragtune.evaluation.scoring import judge_answer
    from tests.test_lab_badges import PRICE, grounded_answer

    answer = grounded_answer("The Poolpilot P1 costs $1,249.", "invalid_json")
    render_answer_card(answer, verdict=judge_answer(PRICE, "v1", answer), key="card")


def _logged_card() -> None:
    from components.answer_card import render_answer_card
    from tests.test_lab_badges import grounded_answer, logged

    answer = grounded_answer("The Poolpilot P1 costs $1,249.", "invalid_json")
    render_answer_card(logged(answer, verdict="correct", note="matches the documents: $1,249"), key="card")


def _badges(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "-badge[" in m.value]


@pytest.mark.parametrize("card", [_fresh_card, _logged_card], ids=["fresh", "logged"])
def test_a_correct_answer_in_free_text_is_correct_first_and_nothing_is_red(card):
    at = AppTest.from_function(card, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    badges = _badges(at)
    assert badges[0].startswith(":green-badge[") and "correct" in badges[0]
    assert "orange-badge[" in badges[1] and "asked for JSON · got free text" in badges[1]
    assert not any(":red-badge[" in b for b in badges)


def _not_judged_cards() -> None:
    from components.answer_card import render_answer_card
    from ragtune.evaluation.workspaces import NOT_JUDGED
    from tests.test_lab_badges import grounded_answer, logged

    answer = grounded_answer('{"answer": "60 days", "citations": [], "confidence": "high"}', "ok")
    render_answer_card(answer, not_judged=f"{NOT_JUDGED} (returns-policy)", key="fresh")
    render_answer_card(logged(answer, verdict=None, note=f"{NOT_JUDGED} (returns-policy)"), key="logged")


def test_an_answer_that_was_not_judged_says_why_fresh_and_logged():
    at = AppTest.from_function(_not_judged_cards, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    badges = _badges(at)
    assert [b for b in badges if "not judged" in b] and not any("wrong" in b or "correct" in b for b in badges)
    why = [c.value for c in at.caption if "not judged: the document changed" in c.value.lower()]
    assert len(why) == 2


def _log_table() -> None:
    from components.history import render_log_table
    from ragtune.evaluation.workspaces import NOT_JUDGED
    from tests.test_lab_badges import grounded_answer, logged

    entry = logged(grounded_answer("It is $1,249.", "invalid_json"), verdict=None,
                   note=f"{NOT_JUDGED} (poolpilot-p1-specifications)")
    render_log_table([entry], key="t")


def test_the_history_table_has_the_verdict_then_the_format_in_words():
    at = AppTest.from_function(_log_table, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    frame = at.dataframe[0].value
    assert list(frame.columns).index("verdict") < list(frame.columns).index("format")
    assert frame["verdict"][0] == "not judged" and frame["format"][0] == "asked for JSON · got free text"


def _adapter_card() -> None:
    from components.answer_card import render_answer_card
    from tests.test_store import answer

    render_answer_card(answer("rag+lora", adapter="grounded-json"), key="card")


def test_dollar_amounts_in_a_cards_help_stay_text_not_math():
    at = AppTest.from_function(_adapter_card, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    local = next(m for m in at.metric if m.label == "Local")
    # "× $0.1/h + training $0.00…" would be typeset as math between the two dollar signs
    assert "training" in local.proto.help and "$" in local.proto.help
    assert local.proto.help.count("$") == local.proto.help.count("\\$")
