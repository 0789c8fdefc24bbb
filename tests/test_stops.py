"""Where an answer ends, decided on the streamed text: the loop detector, the end of a JSON object,
and the scanner that combines them with stop strings. Pure: no model."""

from __future__ import annotations

import json

import pytest

from ragtune.evaluation.stop_bench import legit_files
from ragtune.prompts import MAX_CITATIONS, GroundedAnswer
from ragtune.runtime.stops import JsonObjectEnd, RepetitionDetector, RepetitionRule, StopScanner

RULE = RepetitionRule()


def loops(text: str, rule: RepetitionRule = RULE) -> bool:
    return RepetitionDetector(rule).feed(text, final=True) is not None


def streamed(text: str, rule: RepetitionRule = RULE, piece: int = 3) -> int | None:
    """Where the detector stops ``text`` fed a few characters at a time, as a stream arrives."""
    detector = RepetitionDetector(rule)
    for end in range(piece, len(text) + piece, piece):
        found = detector.feed(text[:end])
        if found is not None:
            return found
    return detector.feed(text, final=True)


# -- loops it stops ------------------------------------------------------------------------------

def test_a_phrase_said_over_and_over_is_stopped_after_a_few_copies():
    text = "The best seller is " + "la Femme " * 60
    end = streamed(text)
    assert end is not None and text[:end].count("la Femme") <= 9


def test_a_sentence_said_again_and_again_is_stopped():
    sentence = "The Gutterbee G1 is available for a limited time only, in three colours and two sizes. "
    text = "Sure. " + sentence * 5
    end = streamed(text)
    assert end is not None and end < len(text)


def test_a_paragraph_repeated_once_is_a_loop_when_it_is_long():
    paragraph = ("The Mowbot M4 Pro is designed to last for 200 hours, which is a 20% increase from the "
                 "previous model. This means that the Mowbot M4 Pro can last for 200 hours of mowing.\n\n")
    assert not loops(paragraph + paragraph[:40])
    assert loops(paragraph * 2)


def test_a_word_that_loops_on_itself_is_stopped_while_it_grows():
    assert streamed("It is " + "Consumer" * 12) is not None
    assert streamed("Value: " + "ddid" * 20) is not None


def test_empty_lines_forever_are_a_loop():
    assert streamed("Answer:" + "\n" * 40) is not None


def test_a_loop_in_a_script_without_spaces_is_seen():
    assert streamed("答案是" + "价格很高" * 12) is not None


def test_a_loop_inside_a_json_answer_is_stopped():
    text = '{"answer": "' + "The price is $1,249. " * 12
    assert streamed(text) is not None


def test_the_stream_and_the_whole_text_agree_on_where_the_loop_is_seen():
    text = "Yes. " + "high-end " * 40
    assert streamed(text, piece=1) == streamed(text, piece=7) == RepetitionDetector(RULE).feed(text, final=True)


def test_a_unit_is_not_read_until_it_is_complete():
    detector = RepetitionDetector(RepetitionRule(min_units=12))
    text = "Paris is in France. " * 2 + "Paris is"  # the 12th repeated unit, if "is" does not become "island"
    assert detector.feed(text) is None
    assert detector.feed(text + " in") == len(text)


# -- legitimate text it leaves alone ---------------------------------------------------------------

LEGIT = {
    "table": (
        "| Plan | Price | Warranty | Support |\n|---|---|---|---|\n"
        "| Basic | $10 | 2 years | Yes |\n| Plus | $20 | 2 years | Yes |\n| Pro | $30 | 3 years | Yes |\n"
        "| Team | $40 | 3 years | Yes |\n| Fleet | $50 | 3 years | Yes |\n"
    ),
    "table with identical cells": (
        "| mode | correct | valid | cited |\n|---|---|---|---|\n"
        "| base | 0% (0/30) | 0% (0/30) | 0% (0/30) |\n| rag | 40% (12/30) | 0% (0/30) | 0% (0/30) |\n"
    ),
    "list with a shared prefix": "".join(f"- The warranty covers the {part} for two years.\n"
                                         for part in ("battery", "blades", "charger", "wheels", "motor", "dock")),
    "numbered steps": "".join(f"{i}. Open the app and tap {step}.\n"
                              for i, step in enumerate(("Settings", "Mower", "Schedule", "Zones", "Save"), 1)),
    "json with repeated keys": json.dumps([{"name": f"robot {i}", "price": 100 * i, "in_stock": True}
                                           for i in range(1, 15)], indent=2),
    "code with two identical lines": (
        "def test_ingest_twice():\n"
        "    assert main([\"ingest\", \"-w\", \"ops\", str(tmp_path)]) == 0\n"
        "    assert main([\"ingest\", \"-w\", \"ops\", str(tmp_path)]) == 0\n"
        "    out, _ = capsys.readouterr()\n"
    ),
    "rules and dividers": "Prices\n" + "=" * 60 + "\n\nParts\n" + "-" * 60 + "\n",
    "a price list": "E-17: $39.90, E-22: $49.90, E-31: $59.90, W-05: $9.90, B-21: $189, CD-4: $129.",
}


@pytest.mark.parametrize("name", list(LEGIT))
def test_legitimate_structure_is_not_a_loop(name):
    assert not loops(LEGIT[name])
    assert streamed(LEGIT[name]) is None


def test_a_valid_grounded_answer_citing_one_chunk_four_times_is_not_a_loop():
    cid = "firmware-3-4-release-notes-and-known-issues-for-every-model#12"
    answer = GroundedAnswer(answer="Version 3.4 fixes E-17.", citations=[cid] * MAX_CITATIONS, confidence="high")
    assert not loops(answer.to_json())
    assert not loops(json.dumps(answer.model_dump(), indent=2))
    assert loops(answer.to_json().replace(f'"{cid}"]', f'"{cid}", "{cid}", "{cid}"]'))  # 6 copies: a loop


def test_the_projects_own_documents_readme_and_code_are_never_cut():
    stopped = [p.name for p in legit_files() if loops(p.read_text(encoding="utf-8", errors="replace"))]
    assert stopped == []


def test_the_rule_is_checked_like_every_input():
    with pytest.raises(ValueError):
        RepetitionRule(min_units=0)
    with pytest.raises(ValueError):
        RepetitionRule(surprise=1)


# -- the end of the JSON object ---------------------------------------------------------------------

def test_the_json_object_ends_at_its_closing_brace_whatever_the_strings_hold():
    text = '{"answer": "a } and a \\" and {", "citations": ["a#1"], "nested": {"x": [1, {"y": 2}]}}'
    assert JsonObjectEnd().feed(text + "\n\nMore text.") == len(text)


def test_the_end_is_found_as_the_text_streams_in():
    tracker = JsonObjectEnd()
    text = '  {"answer": "x", "citations": [], "confidence": "low"} trailing'
    found = [tracker.feed(text[:i]) for i in range(1, len(text) + 1)]
    assert [f for f in found if f is not None] == [text.index("}") + 1]
    assert tracker.is_object is True and tracker.closed


def test_an_output_that_is_not_an_object_has_no_json_end():
    tracker = JsonObjectEnd()
    assert tracker.feed('Sure! {"answer": "x"}') is None and tracker.is_object is False
    assert JsonObjectEnd().feed('{"answer": "still going') is None


# -- the scanner ---------------------------------------------------------------------------------------

def test_a_stop_string_cuts_before_it():
    stop = StopScanner(["<|im_end|>"]).scan("Two years.<|im_end|>")
    assert stop is not None and (stop.end, stop.reason) == (len("Two years."), "stop")


def test_the_json_end_cuts_after_the_brace_and_wins_over_a_later_stop_string():
    text = '{"answer": "x", "citations": [], "confidence": "low"}\nNote: more<|im_end|>'
    stop = StopScanner(["<|im_end|>"], json_end=True).scan(text)
    assert stop is not None and stop.reason == "stop" and text[:stop.end].endswith('"low"}')


def test_a_loop_keeps_all_the_text_produced_as_evidence():
    text = "Yes. " + "la Femme " * 30
    stop = StopScanner([], repetition=RULE).scan(text)
    assert stop is not None and (stop.end, stop.reason) == (len(text), "repetition")


def test_an_answer_that_ended_by_itself_is_not_called_a_loop():
    text = "Yes. " + "la Femme " * 30 + "<|im_end|>"
    stop = StopScanner(["<|im_end|>"], repetition=RULE).scan(text)
    assert stop is not None and stop.reason == "stop"


def test_without_conditions_nothing_stops_and_the_hold_covers_a_partial_stop_string():
    scanner = StopScanner(["<|im_end|>"])
    assert scanner.scan("la Femme " * 50) is None and scanner.hold == len("<|im_end|>") - 1
    assert scanner.json_object is None


def test_the_scanner_says_whether_the_output_is_a_json_object():
    scanner = StopScanner([], json_end=True)
    scanner.scan("The answer is")
    assert scanner.json_object is False
