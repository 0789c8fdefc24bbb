"""The shared prompt builders and the grounded answer schema."""

from __future__ import annotations

import json

import pytest

from ragtune.prompts import (
    ABSTENTION,
    MAX_CITATIONS,
    ContextChunk,
    GroundedAnswer,
    grounded_json_schema,
    grounded_messages,
    parse_grounded,
    parse_label,
    plain_messages,
    router_messages,
)

CHUNKS = [
    ContextChunk(chunk_id="warranty-policy#0", text="Tidewell robots have a  two-year\nwarranty."),
    ContextChunk(chunk_id="returns-policy#3", text="Returns are accepted within 30 days."),
]


def valid(**overrides: object) -> str:
    data = {"answer": "Two years.", "citations": ["warranty-policy#0"], "confidence": "high"} | overrides
    return json.dumps(data)


def test_every_prompt_starts_with_an_explicit_system_message() -> None:
    for messages in (grounded_messages("q?", CHUNKS), plain_messages("q?"), router_messages("m", ["a", "b"])):
        assert messages[0].role == "system" and messages[0].content
        assert messages[-1].role == "user"


def test_chunks_are_numbered_with_their_ids_visible() -> None:
    user = grounded_messages("How long is the warranty?", CHUNKS)[1].content
    assert user.splitlines()[:3] == [
        "Context:",
        "[1] (warranty-policy#0) Tidewell robots have a two-year warranty.",
        "[2] (returns-policy#3) Returns are accepted within 30 days.",
    ]
    assert user.endswith("Question: How long is the warranty?")


def test_a_prompt_without_chunks_says_so() -> None:
    assert "(no context chunks were found)" in grounded_messages("q?", [])[1].content


def test_the_router_prompt_lists_the_labels() -> None:
    assert "billing, technical" in router_messages("help", ["billing", "technical"])[0].content


def test_a_valid_answer_parses() -> None:
    parsed = parse_grounded(valid(), allowed_ids=["warranty-policy#0"])
    assert parsed.ok and parsed.answer is not None and parsed.answer.citations == ["warranty-policy#0"]


def test_an_abstention_is_the_exact_sentence_with_no_citations_and_low_confidence() -> None:
    parsed = parse_grounded(GroundedAnswer.abstain().to_json())
    assert parsed.ok and parsed.answer is not None and parsed.answer.is_abstention
    assert parse_grounded(valid(answer=ABSTENTION, citations=[], confidence="high")).status == "schema_violation"
    assert parse_grounded(valid(answer=ABSTENTION)).status == "schema_violation"


def test_an_answer_must_cite_a_chunk() -> None:
    assert parse_grounded(valid(citations=[])).status == "schema_violation"


@pytest.mark.parametrize(
    ("text", "finish", "status"),
    [
        ('{"answer": "Two years.", "citations": ["warranty-policy#0", "warr', "length", "truncated"),
        ('{"answer": "Two years.", "citations": ["warranty-policy#0"', "stop", "truncated"),
        ("The warranty is two years.", "stop", "invalid_json"),
        ("[1, 2]", "stop", "invalid_json"),
        ('{"answer": "x", "citations": ["w#0"], "confidence": "sure"}', "stop", "schema_violation"),
        ('{"answer": "x", "citations": ["w#0"], "confidence": "high", "extra": 1}', "stop", "schema_violation"),
        ('{"answer": "x", "citations": ["not an id"], "confidence": "high"}', "stop", "schema_violation"),
    ],
)
def test_failures_have_distinct_reasons(text: str, finish: str, status: str) -> None:
    assert parse_grounded(text, finish_reason=finish).status == status  # type: ignore[arg-type]


def test_citing_a_chunk_that_was_not_in_the_prompt_is_reported() -> None:
    parsed = parse_grounded(valid(citations=["made-up#9"]), allowed_ids=["warranty-policy#0"])
    assert parsed.status == "unknown_citation" and "made-up#9" in parsed.detail


def test_the_schema_bounds_arrays_and_strings() -> None:
    schema = grounded_json_schema()
    props = schema["properties"]
    assert props["citations"]["maxItems"] == MAX_CITATIONS
    assert props["answer"]["maxLength"] and props["citations"]["items"]["maxLength"]
    assert schema["required"] == ["answer", "citations", "confidence"]


def test_the_schema_compiles_to_a_llama_cpp_grammar() -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    LlamaGrammar.from_json_schema(json.dumps(grounded_json_schema()), verbose=False)


def test_the_model_and_the_schema_agree_on_fields() -> None:
    assert set(GroundedAnswer.model_fields) == set(grounded_json_schema()["properties"])


def test_a_label_is_accepted_only_when_it_is_exactly_one_of_the_labels() -> None:
    labels = ["billing", "technical"]
    assert parse_label(" billing.\n", labels) == "billing"
    assert parse_label("It is billing", labels) is None


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"answer": ' + "9" * 5000 + "}", '{"a": ' * 50_000 + "1" + "}" * 50_000],
    ids=["nested-100000", "integer-5000-digits", "object-nested-50000"],
)
def test_hostile_model_output_is_invalid_json_not_an_exception(text: str) -> None:
    # A model can emit anything up to its token cap; the parser must judge it, not crash.
    parsed = parse_grounded(text)
    assert parsed.status == "invalid_json"
