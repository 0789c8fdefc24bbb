"""The grounded-json training data: invented domains split by kind, real chunks, balanced behaviours, no leaks."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT, Settings
from ragtune.evaluation.sets import load_eval_set
from ragtune.modes import Mode
from ragtune.prompts import ABSTENTION, ContextChunk, GroundedAnswer, grounded_messages
from ragtune.retrieval.chunking import chunk_spans
from ragtune.retrieval.loaders import doc_id_for
from ragtune.training.domains import (
    HELDOUT_DOMAINS,
    HELDOUT_SYLLABLES,
    KINDS,
    TRAIN_DOMAINS,
    TRAIN_SYLLABLES,
    make_organisation,
)
from ragtune.training.recipes.base import TRAINING_DATA_DIR
from ragtune.training.recipes.grounded_json import (
    BEHAVIOUR_SHARES,
    HELDOUT_DIR,
    N_TRAIN,
    OrgChunks,
    build_grounded,
    generate_items,
    heldout_corpus,
    write_heldout,
)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_CONTEXT_LINE = re.compile(r"^\[(\d+)\] \(([^)]+)\) (.*)$")


@pytest.fixture(scope="module")
def items():
    return generate_items(42, N_TRAIN, TRAIN_DOMAINS, TRAIN_SYLLABLES, BEHAVIOUR_SHARES)


@pytest.fixture(scope="module")
def train_text() -> str:
    return (TRAINING_DATA_DIR / "grounded-json" / "train.jsonl").read_text(encoding="utf-8")


def test_the_split_is_by_domain_kind_with_disjoint_name_syllables() -> None:
    assert len(KINDS) >= 8 and len(HELDOUT_DOMAINS) == 3
    assert set(TRAIN_DOMAINS) | set(HELDOUT_DOMAINS) == set(KINDS)
    assert not set(TRAIN_DOMAINS) & set(HELDOUT_DOMAINS)
    assert not set(TRAIN_SYLLABLES) & set(HELDOUT_SYLLABLES)


def test_generation_is_deterministic_for_a_seed_and_differs_across_seeds() -> None:
    a, b, c = build_grounded(7, 24, 8), build_grounded(7, 24, 8), build_grounded(8, 24, 8)
    assert [e.model_dump() for e in a[0]] == [e.model_dump() for e in b[0]]
    assert [h.model_dump() for h in a[1]] == [h.model_dump() for h in b[1]]
    assert [e.model_dump() for e in a[0]] != [e.model_dump() for e in c[0]]


def test_the_behaviours_come_in_their_stated_shares(items) -> None:
    assert len(items) == N_TRAIN
    counts = Counter(item.behaviour for item in items)
    for behaviour, share in BEHAVIOUR_SHARES.items():
        assert abs(counts[behaviour] / N_TRAIN - share) <= 0.02, (behaviour, counts)
    assert sum(i.reply.is_abstention for i in items) == counts["abstain"] + counts["empty"]
    assert all(not i.chunks for i in items if i.behaviour == "empty") and counts["empty"] >= 20
    assert all(len(i.reply.citations) == 2 for i in items if i.behaviour == "two-chunk")


def test_documents_have_a_title_sections_and_realistic_lengths() -> None:
    rng = random.Random(3)
    for kind in KINDS:
        org = make_organisation(rng, kind, HELDOUT_SYLLABLES if kind in HELDOUT_DOMAINS else TRAIN_SYLLABLES)
        assert 2 <= len(org.documents) <= 6, kind
        for doc in org.documents:
            assert doc.markdown.startswith(f"# {org.name} ")
            assert 2 <= doc.markdown.count("\n## ") <= 6, doc.markdown
            assert 550 <= len(doc.text) <= 2500, (kind, len(doc.text))
            assert doc.doc_id == doc_id_for(doc.file_name)


def test_every_example_is_the_pipelines_prompt_over_real_chunks_of_its_documents(items) -> None:
    size = Settings.model_fields["chunk_size"].default
    overlap = Settings.model_fields["chunk_overlap"].default
    k = Mode.model_fields["k"].default
    from collections import namedtuple

    from ragtune.retrieval.context import without_overlaps

    Real = namedtuple("Real", "chunk_id doc_id version start end text")
    trimmed = 0
    for item in items:
        real = {}
        for doc in item.org.documents:
            for n, span in enumerate(chunk_spans(doc.text, size=size, overlap=overlap)):
                real[f"{doc.doc_id}#{n}"] = Real(f"{doc.doc_id}#{n}", doc.doc_id, 1, span.start, span.end,
                                                 doc.text[span.start:span.end])
        # exactly the pipeline's context: real chunker spans, overlaps with an earlier chunk shown once
        shown = without_overlaps([real[c.chunk_id] for c in item.chunks])
        assert [(r.chunk_id, text) for r, text in shown] == [(c.chunk_id, c.text) for c in item.chunks], item.question
        trimmed += sum(c.text != real[c.chunk_id].text for c in item.chunks)
        assert len(item.chunks) == (0 if item.behaviour == "empty" else min(k, len(real)))
        assert item.messages == grounded_messages(item.question, item.chunks)
        assert len({c.chunk_id for c in item.chunks}) == len(item.chunks)
    assert trimmed > 0  # neighbours do meet in some contexts: the trimming is exercised


def test_contexts_are_picked_by_bm25_with_the_gold_chunk_forced_in(items) -> None:
    k = Mode.model_fields["k"].default
    for item in items:
        oc = OrgChunks.of(item.org)
        top = [oc.chunks[i].chunk_id for i in oc.ranked(item.question)[:k]]
        shown = [c.chunk_id for c in item.chunks]
        if item.behaviour == "empty":
            assert shown == []  # no context at all: the LoRA mode, or an empty workspace
        elif item.reply.is_abstention:
            assert shown == top  # the near misses retrieval would return
        else:
            assert set(item.reply.citations) <= set(shown)
            kept = [cid for cid in shown if cid not in item.reply.citations]
            assert all(cid in top for cid in kept) or item.behaviour == "distractor"


def test_the_committed_examples_render_with_grounded_messages_and_cite_what_they_show(train_text: str) -> None:
    for line in train_text.splitlines():
        system, user, assistant = json.loads(line)["messages"]
        context, _, question = user["content"].partition("\n\nQuestion: ")
        chunks = []
        rows = context.removeprefix("Context:\n").splitlines()
        for row in [] if rows == ["(no context chunks were found)"] else rows:
            match = _CONTEXT_LINE.match(row)
            assert match, row
            chunks.append(ContextChunk(chunk_id=match[2], text=match[3]))
        rendered = grounded_messages(question, chunks)
        assert [system["content"], user["content"]] == [m.content for m in rendered]
        reply = GroundedAnswer.model_validate_json(assistant["content"])
        assert len(reply.answer) <= 200
        shown = {c.chunk_id: c.text for c in chunks}
        assert set(reply.citations) <= set(shown)
        if reply.answer == ABSTENTION:
            assert reply.citations == []
            continue
        cited_text = " ".join(shown[c] for c in reply.citations)
        numbers = re.findall(r"[€£]?\d+(?:[.:]\d+)?", reply.answer)
        assert numbers or reply.answer, reply
        for value in numbers:
            assert value in cited_text, (value, reply.answer)


def test_answers_copy_the_documents_values_verbatim_into_a_cited_chunk(items) -> None:
    for item in items:
        if item.reply.is_abstention:
            assert item.expected == [] and item.reply.citations == []
            continue
        cited = {c.chunk_id: c.text for c in item.chunks if c.chunk_id in item.reply.citations}
        assert len(cited) == len(item.reply.citations)
        for value in item.expected:
            assert value in item.reply.answer
            assert any(value in text for text in cited.values()), (value, item.question)


def _kb_tokens() -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for d in ("kb", "kb_v2") for p in (PROJECT_ROOT / "data" / d).glob("*.md"))
    lower = set(re.findall(r"(?<![\w./@-])[a-z][a-z]+(?![\w/@-]|\.\w)", text))  # words, not URL parts
    calendar = {*_MONTHS, *_WEEKDAYS}
    # proper nouns: capitalised mid-sentence, never written in lower case (URLs aside), not a month or day
    names = {w for w in re.findall(r"(?<=[a-z,] )[A-Z][A-Za-z0-9]{3,}\b", text) if w.lower() not in lower} - calendar
    camel = set(re.findall(r"\b[A-Z][a-z]+[A-Z][A-Za-z0-9]*\b", text))
    money = set(re.findall(r"\$\d[\d,]*(?:\.\d+)?", text))
    measures = set(re.findall(r"\b\d+\.\d+ ?(?:kg|hours|km|m|kW|W|V|Wh|GB|litres)\b", text))
    return names | camel | money | measures


def test_no_demo_fact_appears_in_the_training_data(train_text: str) -> None:
    tokens = _kb_tokens()
    assert {"Tidewell", "Mowbot", "$899"} <= tokens  # the check sees the demo's distinctive facts
    found = [t for t in tokens if re.search(rf"(?<![\w.$]){re.escape(t)}(?![\w])", train_text)]
    assert found == []


def test_no_held_out_organisation_name_text_or_syllable_reaches_training(train_text: str) -> None:
    orgs, _ = heldout_corpus(42)
    for org in orgs:
        assert org.name not in train_text
        for entity in org.entities:
            assert entity not in train_text
        for doc in org.documents:
            assert doc.doc_id not in train_text
    words = set(re.findall(r"\b[A-Z][a-z]{5,}\b", train_text))
    syllable_word = re.compile("(?:" + "|".join(HELDOUT_SYLLABLES) + "){2,}")
    assert [w for w in words if syllable_word.fullmatch(w.lower())] == []
    held = "\n".join(p.read_text(encoding="utf-8") for p in (HELDOUT_DIR / "docs").glob("*.md"))
    assert "Tuv" not in train_text and any(s.capitalize() in held for s in HELDOUT_SYLLABLES)


def test_the_held_out_cases_come_from_held_out_kinds_about_a_third_unanswerable() -> None:
    _, cases = build_grounded(42)
    assert len(cases) == 48
    kinds = Counter(c.kind for c in cases)
    assert 14 <= kinds["unanswerable"] <= 18 and kinds["two-chunk"] >= 5
    for case in cases:
        assert 1 <= case.messages[1].content.count("\n[") <= Mode.model_fields["k"].default
        assert set(case.cited) <= set(case.allowed_ids)
        assert (case.kind == "unanswerable") == (not case.expected)


def test_the_committed_data_is_what_the_generator_writes_for_seed_42(tmp_path: Path) -> None:
    docs, questions = write_heldout(tmp_path, 42)
    committed = sorted(p.name for p in (HELDOUT_DIR / "docs").glob("*.md"))
    assert sorted(p.name for p in docs.glob("*.md")) == committed and len(committed) == 12
    for name in committed:
        assert (docs / name).read_bytes() == (HELDOUT_DIR / "docs" / name).read_bytes()
    assert questions.read_bytes() == (HELDOUT_DIR / "questions.jsonl").read_bytes()


def test_the_held_out_question_set_loads_and_names_the_ingested_document_ids() -> None:
    eval_set = load_eval_set(HELDOUT_DIR / "questions.jsonl")
    counts = eval_set.counts()
    assert len(eval_set.cases) == 30 and 8 <= counts["unanswerable"] <= 10
    ids = {doc_id_for(p.name) for p in (HELDOUT_DIR / "docs").glob("*.md")}
    texts = {doc_id_for(p.name): p.read_text(encoding="utf-8") for p in (HELDOUT_DIR / "docs").glob("*.md")}
    for case in eval_set.cases:
        assert any(t.startswith("domain:") and t[7:] in HELDOUT_DOMAINS for t in case.tags)
        assert set(case.doc_ids) <= ids
        for gold in case.gold():
            assert any(gold in texts[d] for d in case.doc_ids), (case.id, gold)


def test_distractor_examples_show_the_same_attribute_of_another_entity(items) -> None:
    def near_misses(item) -> list[str]:
        cited = set(item.reply.citations)
        # the same attribute of another entity (its value may happen to be the same)
        lines = [f.line for f in item.org.facts if f.attr.key == item.attr_key and f.entity not in item.question]
        return [c.chunk_id for c in item.chunks if c.chunk_id not in cited and any(line in c.text for line in lines)]

    distractors = [i for i in items if i.behaviour == "distractor"]
    assert distractors and all(near_misses(i) for i in distractors)
    answers = [i for i in items if i.behaviour == "answer"]
    assert sum(bool(near_misses(i)) for i in answers) / len(answers) >= 0.3  # present in many of the others too


def test_confidence_is_medium_exactly_when_a_cited_chunk_hedges_the_fact(items) -> None:
    for item in items:
        if item.reply.is_abstention:
            assert item.reply.confidence == "low"
            continue
        hedge = KINDS[item.domain].hedge
        facts = [f for f in item.org.facts
                 if f.value in item.expected and f.attr.key == item.attr_key and f.entity in item.question]
        hedged = any(f.hedged for f in facts)
        assert item.reply.confidence == ("medium" if hedged else "high")
        if hedged:
            cited = " ".join(c.text for c in item.chunks if c.chunk_id in item.reply.citations)
            assert hedge[:-1].lower() in cited.lower()


def test_the_generator_follows_the_configured_chunk_size_and_k(monkeypatch) -> None:
    org = make_organisation(random.Random(5), TRAIN_DOMAINS[0], TRAIN_SYLLABLES)
    default = OrgChunks.of(org)
    monkeypatch.setattr(Settings.model_fields["chunk_size"], "default", 150)
    monkeypatch.setattr(Mode.model_fields["k"], "default", 2)
    narrower = OrgChunks.of(org)
    assert len(narrower.chunks) > len(default.chunks)
    assert [c.text for c in narrower.chunks] == [doc.text[s.start:s.end] for doc in org.documents for s in chunk_spans(doc.text, size=150, overlap=Settings.model_fields["chunk_overlap"].default)]
    items = generate_items(1, 6, TRAIN_DOMAINS, TRAIN_SYLLABLES, BEHAVIOUR_SHARES)
    assert all(len(i.chunks) <= 2 for i in items)


def test_a_two_chunk_answer_is_correct_only_when_it_states_both_values() -> None:
    from ragtune.training.recipes.grounded_json import _states

    assert _states("It is €40, and the other is £55.", ["€40", "£55"], "two-chunk")
    assert not _states("It is €40.", ["€40", "£55"], "two-chunk")
    assert _states("It is €40.", ["€40"], "answerable") and not _states("It is €41.", ["€40"], "answerable")
    assert not _states("anything", [], "answerable")
