"""The tour's core: steps, the step from a link, the live check, the scratch copy's life, the economics cases."""

from __future__ import annotations

import time

import pytest

from ragtune.errors import InputError
from ragtune.evaluation.sets import demo_eval_set
from ragtune.showcases import THESIS_IDS, thesis
from ragtune.tour import (
    SCRATCH_MAX_AGE_S,
    SCRATCH_PREFIX,
    TOUR,
    ScratchSweeper,
    drop_scratch,
    drop_stale_scratches,
    economics_cases,
    make_scratch,
    parse_step,
    routing_examples,
    scratch_name,
    step,
    step_modes,
    step_question,
)
from ragtune.showcases import rank_showcases
from tests.test_showcases import WHEN, four_modes, sample


def test_the_tour_has_one_step_per_thesis_in_the_seeds_order():
    assert [s.number for s in TOUR] == list(range(1, len(TOUR) + 1))
    assert [s.slug for s in TOUR] == ["facts", "format", "both", "freshness", "routing", "constrained", "tenants",
                                      "economics"]
    assert {s.thesis for s in TOUR if s.thesis} == set(THESIS_IDS)
    assert all(s.claim.endswith(".") and s.look_for and s.notes for s in TOUR)
    # one name per thesis on every screen: the tour, the Lab and the CLI take it from the thesis
    assert all(s.title == thesis(s.thesis).title for s in TOUR if s.thesis)


def test_the_tour_runs_only_built_in_modes_so_a_users_broken_modes_file_cannot_touch_it():
    from ragtune.modes import BUILTIN_MODES

    for s in TOUR:
        assert step_modes(s) == [m for i in s.modes for m in BUILTIN_MODES if m.id == i]


def test_the_constrained_step_does_not_promise_what_the_grammar_cannot_guarantee():
    said = " ".join(step(6).look_for)
    assert "guarantees **got JSON**" not in said and "breaks the schema" in said


@pytest.mark.parametrize("text", ["0", "9", "-1", "1.5", "x", "9" * 50, "<script>", "²", "٣", "9" * 5000,
                                  "Economics", "economics "],
                         ids=["0", "9", "-1", "1.5", "x", "50 digits", "script", "superscript two",
                              "arabic-indic three", "5000 digits", "a slug in capitals", "a slug and a space"])
def test_a_bad_step_in_a_link_starts_at_the_first_with_a_warning(text):
    number, warning = parse_step(text)
    if text.strip() == "economics":  # surrounding spaces are forgiven, as for a number
        assert (number, warning) == (len(TOUR), "")
        return
    assert number == 1 and "steps 1 to 8" in warning and len(warning) < 140


def test_a_step_link_may_name_the_step_by_its_slug_so_it_survives_renumbering():
    assert [parse_step(s.slug) for s in TOUR] == [(s.number, "") for s in TOUR]
    assert step(parse_step("tenants")[0]).kind == "tenants"


def test_a_good_step_needs_no_warning():
    assert parse_step(" 4 ") == (4, "")
    with pytest.raises(InputError):
        step(len(TOUR) + 1)


def test_a_step_asks_its_theses_best_question_or_the_demos_own_pick():
    facts = step(1)
    assert step_question(facts, None).id == "a13"
    a05 = next(c for c in demo_eval_set().cases if c.id == "a05")
    shows = rank_showcases(four_modes(a05, rag=True), model_id="m", run_id="r", run_created_at=WHEN)
    assert step_question(facts, shows).id == "a05"  # its best-ranked question
    assert step_question(facts, sample()).id == "a13"  # a ranked question the demo set lacks: the default
    assert step_question(step(len(TOUR)), shows) is None  # the economics step asks nothing
    assert step_question(step(parse_step("tenants")[0]), shows) is None  # its questions are the tenants' own
    assert all(step_question(s, None) in demo_eval_set().cases for s in TOUR if s.thesis)


def test_a_scratch_name_is_internal_and_only_scratch_copies_can_be_made_or_dropped(data_dir):
    from ragtune.config import load_settings
    from ragtune.retrieval.embeddings import shared_embedding_function
    from ragtune.retrieval.knowledge import KnowledgeBase

    kb = KnowledgeBase.from_settings(load_settings(), shared_embedding_function())
    name = scratch_name("Session-42!")
    assert name == f"{SCRATCH_PREFIX}session42"
    with pytest.raises(InputError):
        make_scratch(kb, "demo")
    kb.create_workspace("team")
    assert not drop_scratch(kb, "team") and kb.has_workspace("team")
    make_scratch(kb, name)
    assert name not in [w.name for w in kb.list_workspaces()]  # never listed to users
    assert drop_stale_scratches(kb) == []  # young: kept for the session that made it
    assert drop_stale_scratches(kb, now=10**12) == [name]
    assert not kb.has_workspace(name) and kb.has_workspace("team")


def test_the_sweeper_drops_stale_copies_when_first_asked_then_at_most_once_an_interval(data_dir):
    from ragtune.config import load_settings
    from ragtune.retrieval.embeddings import shared_embedding_function
    from ragtune.retrieval.knowledge import KnowledgeBase

    kb = KnowledgeBase.from_settings(load_settings(), shared_embedding_function())
    old, young = scratch_name("old"), scratch_name("young")
    make_scratch(kb, old)
    kb.manifest.set_meta(f"tour-scratch-created:{old}", str(time.time() - SCRATCH_MAX_AGE_S - 60))
    sweeper = ScratchSweeper(interval_s=600)
    assert sweeper.due() and sweeper.sweep(kb) == [old]  # a process's first sweep: at start
    make_scratch(kb, young)
    later = time.time() + SCRATCH_MAX_AGE_S + 60
    assert sweeper.sweep(kb, now=time.time() + 1) == [] and not sweeper.due()  # not due yet: not even looked
    assert sweeper.sweep(kb, now=later) == [young] and not kb.has_workspace(young)


def test_routing_examples_come_from_the_measured_run_else_the_set():
    assert set(routing_examples(None)) == {"documents", "billing-handoff", "account-handoff", "small-talk"}
    shows = sample().model_copy(update={"routes": {"documents": "What does the P1 cost?"}})
    assert routing_examples(shows) == {"documents": "What does the P1 cost?"}


def test_the_economics_step_prices_the_seed_and_the_demos_measured_prompts():
    (seed,) = economics_cases(None)
    assert seed.costs.inputs.prompt_tokens == 6000 and "assumed" in seed.source
    shows = sample().model_copy(update={"prompt_tokens": {"rag+fewshot": 1290, "rag+lora": 243}})
    seed, measured = economics_cases(shows)
    assert (measured.costs.inputs.prompt_tokens, measured.costs.inputs.adapter_prompt_tokens) == (1290, 243)
    assert measured.costs.monthly_savings < seed.costs.monthly_savings
    assert "measured in the claims report run r1" in measured.source


def test_every_thesis_predicts_only_modes_that_exist():
    from ragtune.modes import BUILTIN_IDS

    for thesis_id in THESIS_IDS:
        t = thesis(thesis_id)
        assert {p.mode for p in t.predictions} <= BUILTIN_IDS and set(t.modes) <= BUILTIN_IDS
