"""The bounded JSON reader, and the three inputs that use it: documents, eval sets, training sets.

Nesting 100,000 deep used to raise RecursionError and a 5,000-digit integer a plain ValueError
(Python's integer-string limit); both escaped the callers' JSONDecodeError handlers.
"""

from __future__ import annotations

import json

import pytest

from tests.retrieval_fixtures import embedding_function, kb  # noqa: F401  (fixtures)

from ragtune.errors import EvalSetError, InputError, JSONInputError, TrainingDataError
from ragtune.evaluation.sets import parse_eval_set
from ragtune.jsonio import MAX_JSON_DEPTH, loads_bounded
from ragtune.training.data import parse_examples

DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = '{"id": "q", "question": "?", "n": ' + "9" * 5000 + "}"
GOOD_CASE = '{"id": "q1", "question": "Who is the CFO?"}'
GOOD_EXAMPLE = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})


def test_ordinary_json_reads_as_json_loads_would():
    text = '{"a": [1, 2.5, -3, "x[{"], "b": {"c": null, "d": true}, "e": "\\"]"}'
    assert loads_bounded(text, what="x.json") == json.loads(text)


def test_nesting_at_the_limit_is_read_and_one_deeper_is_refused():
    assert loads_bounded("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, what="x")
    with pytest.raises(JSONInputError) as err:
        loads_bounded("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), what="x.json")
    assert err.value.kind == "depth"
    deeper = MAX_JSON_DEPTH + 1
    assert str(err.value) == f"x.json: JSON nested {deeper} deep (at column {deeper}); the limit is {MAX_JSON_DEPTH}."


def test_deep_nesting_names_the_full_depth_and_where_it_crossed_the_limit():
    with pytest.raises(JSONInputError) as err:
        loads_bounded('{"a":\n' + DEEP + "}", what="data.json")
    assert isinstance(err.value, InputError)
    assert str(err.value) == "data.json: JSON nested 100001 deep (at line 2, column 200); the limit is 200."


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps(["[{" * 10_000, "\\\"[[[", "]]"])
    assert loads_bounded(text, what="x") == json.loads(text)


def test_an_integer_over_the_digit_limit_is_refused_with_its_length():
    with pytest.raises(JSONInputError) as err:
        loads_bounded('[1,\n -' + "4" * 5000 + "]", what="n.json")
    assert err.value.kind == "integer"
    assert str(err.value) == "n.json: a JSON integer with 5000 digits at line 2, column 2; the limit is 4300."


def test_long_fractions_exponents_and_digit_strings_are_not_integers():
    text = "[0." + "1" * 5000 + ", 1e-" + "2" * 5000 + ', "' + "3" * 9000 + '"]'
    value = loads_bounded(text, what="x")
    assert value[2] == "3" * 9000


def test_malformed_json_says_where():
    with pytest.raises(JSONInputError) as err:
        loads_bounded('{"a": 1,,}', what="line 4")
    assert (err.value.kind, str(err.value)) == (
        "syntax", "line 4: not JSON (Expecting property name enclosed in double quotes at column 9).")


def test_an_unterminated_string_full_of_brackets_is_a_syntax_error():
    with pytest.raises(JSONInputError) as err:
        loads_bounded('["' + "[" * 1000, what="x")
    assert err.value.kind == "syntax"


# -- eval sets ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (DEEP, "JSON nested 100000 deep (at column 201); the limit is 200"),
        (HUGE_INT, "a JSON integer with 5000 digits at column 35; the limit is 4300"),
        ("{not json", "not JSON (Expecting property name enclosed in double quotes at column 2)"),
    ],
    ids=["deep", "huge-int", "malformed"],
)
def test_an_eval_set_line_beyond_a_json_limit_is_reported_by_number(bad, message):
    with pytest.raises(EvalSetError) as err:
        parse_eval_set("\n".join([GOOD_CASE, bad]), name="mine.jsonl")
    assert [(p.line, p.message) for p in err.value.problems] == [(2, message)]
    assert f"line 2: {message}" in str(err.value)


# -- training sets -----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (DEEP, "JSON nested 100000 deep (at column 201); the limit is 200"),
        ('{"messages": ' + "1" * 5000 + "}", "a JSON integer with 5000 digits at column 14; the limit is 4300"),
    ],
    ids=["deep", "huge-int"],
)
def test_a_training_line_beyond_a_json_limit_is_reported_by_number(bad, message):
    with pytest.raises(TrainingDataError) as err:
        parse_examples("\n".join([GOOD_EXAMPLE, bad, GOOD_EXAMPLE]).encode(), source="train.jsonl")
    assert err.value.problems == [(2, message)]
    assert f"line 2: {message}" in str(err.value)


# -- documents: one bad JSON file does not stop the batch ---------------------------------------

def test_an_ingest_batch_with_deep_and_huge_json_files_ingests_the_others(kb):
    report = kb.ingest_bytes("team", [
        ("deep.json", DEEP.encode()),
        ("first.md", b"# First\n\nThe first document."),
        ("huge.json", ('{"n": ' + "1" * 5000 + "}").encode()),
        ("last.json", b'{"warranty": "two years"}'),
    ])
    by_name = {f.name: f for f in report.files}
    assert [by_name[n].status for n in ("deep.json", "first.md", "huge.json", "last.json")] == [
        "failed", "added", "failed", "added"]
    assert by_name["deep.json"].error == "deep.json: JSON nested 100000 deep (at column 201); the limit is 200."
    assert by_name["huge.json"].error == "huge.json: a JSON integer with 5000 digits at column 7; the limit is 4300."
    assert sorted(d.source for d in kb.list_documents("team")) == ["first.md", "last.json"]
