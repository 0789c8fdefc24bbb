"""``stop-bench``: answers recorded without stops, the repetition rule replayed over them and over
legitimate text, and the command's input checks."""

from __future__ import annotations

import pytest

from ragtune.adapters import AdapterCatalog
from ragtune.cli import main
from ragtune.config import load_settings
from ragtune.errors import InputError
from ragtune.evaluation.sets import EvalCase
from ragtune.evaluation.stop_bench import (
    PLAYGROUND,
    RECORD_TOKENS,
    Recorded,
    legit_repetition,
    load_rows,
    record_answers,
    replay,
    replay_table,
    save_rows,
)
from ragtune.modes import BUILTIN_MODES
from ragtune.pipeline import Pipeline
from ragtune.runtime.stops import RepetitionRule

RULE = RepetitionRule()
CASES = [EvalCase(id="a01", question="How much does the Poolpilot P1 cost?", answer="$1,249", doc_ids=["pp"]),
         EvalCase(id="a02", question="What is the warranty?", answer="two years", doc_ids=["w"])]


def words(text: str) -> int:
    return len(text.split())


def test_answers_are_recorded_without_stops_and_the_rule_stops_the_loops_among_them(looping_runtime):
    settings = load_settings(max_tokens=512)
    pipeline = Pipeline(looping_runtime, None, AdapterCatalog(settings), settings)
    rows = record_answers(pipeline, CASES, [PLAYGROUND, next(m for m in BUILTIN_MODES if m.id == "base")], None)
    assert [(r.mode, r.case_id) for r in rows] == [(PLAYGROUND, "a01"), (PLAYGROUND, "a02"), ("base", "a01"),
                                                  ("base", "a02")]
    assert all(r.finish_reason == "length" and r.completion_tokens == RECORD_TOKENS for r in rows)
    assert [r.json_asked for r in rows] == [False, False, True, True]
    replays = replay(rows, RULE, looping_runtime.count_tokens)
    assert [(r.mode, r.ran_to_cap, r.stopped) for r in replays] == [(PLAYGROUND, 2, 2), ("base", 2, 2)]
    assert all(0 < t < 60 for r in replays for t in r.tokens_at_stop), replays


def test_the_replay_counts_stops_cuts_and_the_tokens_after_a_json_object():
    rows = [
        Recorded(mode="rag", case_id="loop", text="The P1. " + "la Femme " * 40, finish_reason="length",
                 completion_tokens=256, json_asked=True),
        Recorded(mode="rag", case_id="ramble", text="It depends on many things. " * 3 + "And more.",
                 finish_reason="length", completion_tokens=256, json_asked=True),
        Recorded(mode="rag", case_id="json", text='{"answer": "x", "citations": [], "confidence": "low"} I hope '
                 "this helps you.", finish_reason="stop", completion_tokens=30, json_asked=True),
        Recorded(mode="rag", case_id="echo", text="Yes. " + "The answer is high-end. " * 12, finish_reason="stop",
                 completion_tokens=80, json_asked=True),
    ]
    (r,) = replay(rows, RULE, words)
    assert (r.answers, r.ran_to_cap, r.stopped, r.ended_alone, r.cut) == (4, 2, 1, 2, ["echo"])
    assert r.tokens_at_stop == [18] and r.after_json_tokens == 5
    table = replay_table([r])
    assert "| rag | 4 | 2 | 1 (18, 18) | 2 | 1 (echo) | 5 |" in table


def test_legitimate_text_is_measured_and_a_loop_in_it_is_named(tmp_path):
    table = tmp_path / "table.md"
    table.write_text("| a | b | c | d |\n|---|---|---|---|\n| x | 0% (0/30) | 0% (0/30) | 0% (0/30) |\n")
    code = tmp_path / "code.py"
    code.write_text("def f():\n    assert main(['ingest', '-w', 'ops']) == 0\n    assert main(['ingest', '-w', 'ops']) == 0\n")
    loop = tmp_path / "loop.txt"
    loop.write_text("Price: " + "la Femme " * 30)
    clean = legit_repetition(RULE, [table, code])
    assert clean.files == 2 and clean.stopped == []
    assert clean.most_copies == 3 and clean.most_copies_in.endswith("table.md")
    assert 20 < clean.longest_units < RULE.min_units and clean.longest_in.endswith("code.py")
    assert [name.endswith("loop.txt") for name in legit_repetition(RULE, [table, loop]).stopped] == [True]


def test_a_recording_round_trips_and_anything_else_is_refused(tmp_path):
    rows = [Recorded(mode="base", case_id="a01", text="x", finish_reason="stop", completion_tokens=1)]
    path = tmp_path / "rec.jsonl"
    save_rows(rows, path)
    assert load_rows(path) == rows
    path.write_text("not json\n")
    with pytest.raises(InputError, match="not a stop-bench recording"):
        load_rows(path)


@pytest.fixture()
def nothing_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import ragtune.runtime

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model loaded although the options were invalid")

    monkeypatch.setattr(ragtune.runtime, "load_runtime", refuse)


@pytest.mark.parametrize(("argv", "message"), [
    (["stop-bench", "--modes", "playground,telepathy"], "telepathy"),
    (["stop-bench", "--load", "/nonexistent/rec.jsonl"], "No recording"),
    (["stop-bench", "--modes", "base,route"], "Mode 'route' routes each question to another mode"),
    (["stop-bench", "--load", "/nonexistent/rec.jsonl", "--modes", "base"], "--modes does not apply"),
    (["stop-bench", "--load", "/nonexistent/rec.jsonl", "--limit", "3"], "--limit does not apply"),
    (["stop-bench", "--load", "/nonexistent/rec.jsonl", "--workspace", "demo"], "--workspace does not apply"),
])
def test_bad_options_exit_2_before_the_model_loads(argv, message, capsys, nothing_loads):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_save_with_load_is_refused_and_writes_nothing(tmp_path, capsys, nothing_loads):
    recording, out = tmp_path / "rec.jsonl", tmp_path / "again.jsonl"
    save_rows([Recorded(mode="base", case_id="a01", text="x", finish_reason="stop", completion_tokens=1)], recording)
    assert main(["stop-bench", "--load", str(recording), "--save", str(out)]) == 2
    assert "--save does not apply" in capsys.readouterr().err
    assert not out.exists()


def test_a_routing_mode_is_not_recorded(looping_runtime):
    settings = load_settings(max_tokens=512)
    pipeline = Pipeline(looping_runtime, None, AdapterCatalog(settings), settings)
    routed = next(m for m in BUILTIN_MODES if m.id == "route")
    with pytest.raises(InputError, match="Record rag\\+lora instead"):
        record_answers(pipeline, CASES, [PLAYGROUND, routed], None)


def test_a_limit_out_of_range_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["stop-bench", "--limit", "0"])
    assert exited.value.code == 2 and "--limit" in capsys.readouterr().err
