"""The decision wizard's logic, read as a specification.

The seed's TL;DR table, its four hybrid workloads and its two traps are the cases the logic
must get right; the economics are checked on numbers worked out by hand.
"""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from ragtune.decision.answers import WizardAnswers
from ragtune.decision.economics import CostInputs, compare_costs, cost_inputs
from ragtune.decision.params import answers_from_params, answers_to_params, lab_query, param_update
from ragtune.decision.questions import QUESTIONS, QUESTIONS_BY_ID, RESULT_STEP, quote
from ragtune.decision.recommend import recommend, trap_symptoms
from ragtune.decision.recommendation import LAB_MODES, Outcome, Part
from ragtune.decision.record import DecisionRecord, record_json, record_markdown
from ragtune.errors import InputError

# --- The seed's TL;DR table: need -> tool --------------------------------------------------

TLDR_ROWS = [
    ("new facts the model doesn't know", dict(facts=True), Outcome.RAG, Part.RAG),
    ("stable, structured output format", dict(strict_format=True, prompting="fails"),
     Outcome.FINE_TUNE, Part.ADAPTER),
    ("domain-specific style or tone", dict(tone=True, prompting="fails"),
     Outcome.FINE_TUNE, Part.ADAPTER),
    ("frequently-updated knowledge", dict(change="weekly"), Outcome.RAG, Part.RAG),
    ("reduce token cost of a long system prompt", dict(prompt_tokens=6000, prompting="works"),
     Outcome.FINE_TUNE, Part.ADAPTER),
    ("classification and tagging", dict(task="classify"), Outcome.CLASSIFIER, Part.CLASSIFIER),
    ("routing", dict(routing=True), Outcome.CLASSIFIER, Part.ROUTER),
    ("citation requirement", dict(cite=True), Outcome.RAG, Part.RAG),
]


@pytest.mark.parametrize(("need", "answers", "outcome", "part"), TLDR_ROWS,
                         ids=[row[0] for row in TLDR_ROWS])
def test_the_tldr_table_picks_the_seeds_tool(need: str, answers: dict, outcome: Outcome,
                                              part: Part) -> None:
    rec = recommend(WizardAnswers(**answers))
    assert rec.outcome == outcome, rec.rationale
    assert rec.has_part(part)


# --- The two-question funnel ----------------------------------------------------------------

FUNNEL = [
    # (Q1 yes?, Q2 yes?) -> outcome
    (dict(facts=True), Outcome.RAG),
    (dict(strict_format=True, rules=True, prompting="fails"), Outcome.FINE_TUNE),
    (dict(facts=True, rules=True, prompting="fails"), Outcome.HYBRID),
    (dict(), Outcome.PROMPTING),
]


@pytest.mark.parametrize(("answers", "outcome"), FUNNEL, ids=["q1", "q2", "q1+q2", "neither"])
def test_the_funnel_maps_q1_and_q2_to_an_outcome(answers: dict, outcome: Outcome) -> None:
    assert recommend(WizardAnswers(**answers)).outcome == outcome


def test_rag_without_a_behaviour_need_is_rag_with_prompt_engineering() -> None:
    rec = recommend(WizardAnswers(facts=True, per_user=True))
    assert rec.headline == "RAG with prompt engineering"
    assert not rec.has_part(Part.ADAPTER)
    assert "filtered per user" in rec.parts[0].does


# --- The seed's four hybrid workloads -------------------------------------------------------

HYBRIDS = {
    "customer support agent": (
        dict(facts=True, change="monthly", tone=True, strict_format=True, prompting="fails"),
        {Part.RAG: "knowledge", Part.ADAPTER: "behaviour"}, ["the format", "the tone"]),
    "legal review assistant": (
        dict(facts=True, cite=True, rules=True, prompting="fails", examples=1500),
        {Part.RAG: "knowledge", Part.ADAPTER: "behaviour"}, ["the decision rules"]),
    "internal search and Q&A": (
        dict(facts=True, routing=True),
        {Part.RAG: "knowledge", Part.ROUTER: "routing"}, []),
    "sales SDR": (
        dict(facts=True, per_user=True, tone=True, prompting="fails"),
        {Part.RAG: "knowledge", Part.ADAPTER: "behaviour"}, ["the tone"]),
}


@pytest.mark.parametrize("workload", HYBRIDS)
def test_the_seeds_hybrid_workloads_get_rag_for_knowledge_and_tuning_for_the_rest(
        workload: str) -> None:
    answers, roles, learned = HYBRIDS[workload]
    rec = recommend(WizardAnswers(**answers))
    assert rec.outcome == Outcome.HYBRID
    assert {p.part: p.role for p in rec.parts} == roles
    adapter = [p for p in rec.parts if p.part == Part.ADAPTER]
    for words in learned:
        assert words in adapter[0].detail
    assert rec.confidence_level == "high"
    assert rec.warnings == []


def test_a_hybrid_opens_the_lab_on_the_prompt_and_the_adapter_side_by_side() -> None:
    rec = recommend(WizardAnswers(**HYBRIDS["customer support agent"][0]))
    assert rec.lab_modes == ["base", "rag", "rag+fewshot", "rag+lora"]
    assert rec.recommended_mode == "rag+lora"
    assert lab_query(rec) == {"modes": "base,rag,rag+fewshot,rag+lora"}


def test_the_rationale_quotes_the_answers_that_drove_it() -> None:
    answers = WizardAnswers(**HYBRIDS["customer support agent"][0])
    rec = recommend(answers)
    text = " ".join(rec.rationale)
    for field in ("facts", "change", "tone", "strict_format", "prompting"):
        assert f"“{quote(answers, field)}”" in text, field


# --- Trap 1: fine-tuning for knowledge -------------------------------------------------------


def test_planning_to_bake_documents_into_weights_gets_rag_and_a_warning() -> None:
    rec = recommend(WizardAnswers(bake=True))
    assert rec.outcome == Outcome.RAG
    assert not rec.has_part(Part.ADAPTER)
    assert "fine_tune_for_knowledge" in rec.warning_codes()
    assert "knowledge-lora" in rec.lab_modes  # so the trap can be seen beside retrieval
    assert any(a.option == "Fine-tune the model on the documents" and a.verdict == "rejected"
               for a in rec.alternatives)


def test_the_knowledge_trap_warning_prices_retraining_on_every_change() -> None:
    rec = recommend(WizardAnswers(bake=True, cite=True, change="weekly", training_cost=200))
    warning = next(w for w in rec.warnings if w.code == "fine_tune_for_knowledge")
    assert "$10,400/year" in warning.message  # 52 changes x $200
    assert "cannot give them" in warning.message  # citations
    assert len(warning.evidence) == 3


def test_the_knowledge_trap_still_fine_tunes_behaviour_when_it_is_needed() -> None:
    rec = recommend(WizardAnswers(bake=True, tone=True, prompting="fails"))
    assert rec.outcome == Outcome.HYBRID
    adapter = next(p for p in rec.parts if p.part == Part.ADAPTER)
    assert adapter.detail == "the tone"
    assert "holds no facts" in adapter.does


# --- Trap 2: RAG / prompting for behaviour --------------------------------------------------

SYMPTOMS = [
    (dict(prompt_tokens=4001), ["prompt_tokens"]),
    (dict(prompt_tokens=4000), []),
    (dict(few_shot=20), ["few_shot"]),
    (dict(few_shot=19), []),
    (dict(retries=True), ["retries"]),
    (dict(post_processing=True), ["post_processing"]),
    (dict(prompt_tokens=6000, few_shot=20, retries=True, post_processing=True),
     ["prompt_tokens", "few_shot", "retries", "post_processing"]),
]


@pytest.mark.parametrize(("answers", "symptoms"), SYMPTOMS)
def test_each_symptom_of_the_behaviour_trap_is_detected_at_the_seeds_threshold(
        answers: dict, symptoms: list[str]) -> None:
    a = WizardAnswers(**answers)
    assert trap_symptoms(a) == symptoms
    assert ("rag_for_behaviour" in recommend(a).warning_codes()) == bool(symptoms)


def test_retrying_on_format_failures_means_fine_tune_the_format() -> None:
    rec = recommend(WizardAnswers(strict_format=True, retries=True, post_processing=True))
    assert rec.outcome == Outcome.FINE_TUNE
    assert any("post-processing repairs" in step for step in rec.try_first)


def test_retries_alone_name_the_format_as_what_the_adapter_learns() -> None:
    rec = recommend(WizardAnswers(retries=True))
    assert rec.outcome == Outcome.FINE_TUNE
    assert rec.parts[0].detail == "the format"


def test_a_long_prompt_alone_is_baked_in_as_the_behaviour_in_the_prompt() -> None:
    rec = recommend(WizardAnswers(prompt_tokens=9000, prompting="works"))
    assert rec.headline == "Fine-tune: a LoRA adapter for the behaviour in your prompt"


def test_the_behaviour_trap_with_documents_is_a_hybrid() -> None:
    rec = recommend(WizardAnswers(facts=True, strict_format=True, prompt_tokens=8000, few_shot=25))
    assert rec.outcome == Outcome.HYBRID
    assert "rag_for_behaviour" in rec.warning_codes()


def test_a_purely_syntactic_format_gets_constrained_decoding_not_fine_tuning() -> None:
    rec = recommend(WizardAnswers(strict_format=True, syntax_only=True, retries=True))
    assert rec.outcome == Outcome.CONSTRAINED_DECODING
    assert not rec.has_part(Part.ADAPTER)
    assert any(a.option == "A LoRA adapter for the format" and a.verdict == "fallback"
               for a in rec.alternatives)


def test_rag_with_a_syntactic_format_opens_the_constrained_mode() -> None:
    rec = recommend(WizardAnswers(facts=True, strict_format=True, syntax_only=True))
    assert rec.outcome == Outcome.RAG
    assert rec.has_part(Part.CONSTRAINED)
    assert rec.recommended_mode == "rag+constrained"


def test_untried_prompting_means_try_prompting_first() -> None:
    rec = recommend(WizardAnswers(tone=True))
    assert rec.outcome == Outcome.PROMPTING
    assert "untested_prompting" in rec.warning_codes()
    assert rec.confidence_level == "medium"
    assert any(a.option == "A LoRA adapter for behaviour" and a.verdict == "later"
               for a in rec.alternatives)


def test_a_long_prompt_at_low_volume_keeps_the_prompt_because_the_adapter_never_pays_back() -> None:
    rec = recommend(WizardAnswers(prompt_tokens=6000, prompting="works", requests_per_day=10))
    assert rec.outcome == Outcome.PROMPTING
    assert "no_payback" in rec.warning_codes()
    assert rec.costs.break_even is not None and rec.costs.break_even.break_even_month is None


def test_too_few_examples_for_decision_rules_is_a_warning() -> None:
    low = recommend(WizardAnswers(rules=True, prompting="fails", examples=300))
    enough = recommend(WizardAnswers(rules=True, prompting="fails", examples=1000))
    assert "few_examples" in low.warning_codes()
    assert "few_examples" not in enough.warning_codes()
    assert low.examples_needed == enough.examples_needed == 1000
    assert low.confidence < enough.confidence


# --- Edge cases -----------------------------------------------------------------------------


def test_nothing_checked_recommends_prompting_and_says_so() -> None:
    rec = recommend(WizardAnswers())
    assert rec.outcome == Outcome.PROMPTING
    assert rec.warning_codes() == ["nothing_checked"]
    assert rec.confidence <= 0.6
    assert rec.lab_modes == ["base"]


EVERYTHING = {q.id: True for q in QUESTIONS if q.kind == "bool"} | dict(
    change="daily", prompting="fails", prompt_tokens=8000, few_shot=30)


def test_everything_checked_is_a_hybrid_with_both_traps_and_the_contradiction() -> None:
    rec = recommend(WizardAnswers(**EVERYTHING))
    assert rec.outcome == Outcome.HYBRID
    assert {p.part for p in rec.parts} == {Part.RAG, Part.ROUTER, Part.ADAPTER}
    codes = rec.warning_codes()
    for code in ("fine_tune_for_knowledge", "rag_for_behaviour", "contradiction"):
        assert code in codes
    clean = recommend(WizardAnswers(**HYBRIDS["customer support agent"][0]))
    assert rec.confidence < clean.confidence


def test_everything_checked_on_a_labelling_task_is_rag_plus_classifiers() -> None:
    rec = recommend(WizardAnswers(**EVERYTHING | {"task": "classify"}))
    assert rec.outcome == Outcome.HYBRID
    assert {p.part for p in rec.parts} == {Part.RAG, Part.ROUTER, Part.CLASSIFIER}


CONTRADICTIONS = {
    "syntactic but no strict format": dict(syntax_only=True),
    "syntactic yet a tone": dict(strict_format=True, syntax_only=True, tone=True,
                                 prompting="fails"),
    "prompting works yet retries": dict(strict_format=True, prompting="works", retries=True),
    "few-shot in a 0-token prompt": dict(prompt_tokens=0, few_shot=5),
    "labels with a tone": dict(task="classify", tone=True),
    "prompting fails at nothing": dict(prompting="fails"),
    "we retry, yet 0% retried": dict(strict_format=True, retries=True, retry_pct=0),
}


@pytest.mark.parametrize("case", CONTRADICTIONS)
def test_contradictory_answers_are_named_and_lower_the_confidence(case: str) -> None:
    rec = recommend(WizardAnswers(**CONTRADICTIONS[case]))
    contradiction = [w for w in rec.warnings if w.code == "contradiction"]
    assert len(contradiction) == 1
    assert contradiction[0].evidence
    assert rec.confidence < 0.9


def test_a_contradiction_is_resolved_by_the_evidence() -> None:
    # "prompting works" but retries on format failures: the retries win.
    assert recommend(WizardAnswers(**CONTRADICTIONS["prompting works yet retries"])).outcome \
        == Outcome.FINE_TUNE
    # A tone cannot be syntactic: fine-tune, not constrained decoding.
    assert recommend(WizardAnswers(**CONTRADICTIONS["syntactic yet a tone"])).outcome \
        == Outcome.FINE_TUNE


ALL_CASES = ([row[1] for row in TLDR_ROWS] + [h[0] for h in HYBRIDS.values()]
             + list(CONTRADICTIONS.values()) + [EVERYTHING, {}, dict(bake=True)])


@pytest.mark.parametrize("answers", ALL_CASES)
def test_every_recommendation_is_complete_and_opens_known_lab_modes(answers: dict) -> None:
    rec = recommend(WizardAnswers(**answers))
    assert rec.headline and rec.rationale and rec.alternatives and rec.consequences
    assert set(rec.lab_modes) <= set(LAB_MODES)
    assert rec.recommended_mode in rec.lab_modes
    assert 0.2 <= rec.confidence <= 0.95


# --- Economics on fixed numbers -------------------------------------------------------------

SEED = CostInputs(requests_per_day=1000, prompt_tokens=6000, adapter_prompt_tokens=200,
                  context_tokens=500, answer_tokens=300, price_input_per_m=3.0,
                  price_output_per_m=15.0, cache_discount=0.5, training_cost=200.0,
                  retrains_per_year=1.0)


def test_costs_per_request_and_per_month_on_the_seeds_numbers() -> None:
    c = compare_costs(SEED)
    # prompt: 6,000 cached at half price + 500 fresh at $3/M + 300 out at $15/M
    assert c.prompt_cost_per_request == pytest.approx((6000 * 1.5 + 500 * 3 + 300 * 15) / 1e6)
    assert c.adapter_cost_per_request == pytest.approx((200 * 1.5 + 500 * 3 + 300 * 15) / 1e6)
    assert c.prompt_monthly == pytest.approx(450.0)  # 0.015 x 1,000 x 30
    assert c.adapter_monthly == pytest.approx(189.0)
    assert c.monthly_savings == pytest.approx(261.0)
    assert c.tokens_saved_per_month == 5800 * 30_000


def test_break_even_month_and_crossing_point() -> None:
    c = compare_costs(SEED)
    assert c.break_even_month == 1
    assert c.crossing is not None
    assert c.crossing.month == pytest.approx(200 / 261)
    assert c.crossing.cost == pytest.approx(450 * 200 / 261)


def test_break_even_counts_the_retraining_that_comes_after_the_first_touch() -> None:
    c = compare_costs(SEED.model_copy(update={"requests_per_day": 100}))
    # Savings $26.10/month: the lines first touch in month 8, the yearly retrain ($200) pushes
    # the adapter back above, and it stays below for good from month 16 (400 / 26.1 = 15.3).
    assert c.adapter_cumulative[8] <= c.prompt_cumulative[8]
    assert c.adapter_cumulative[12] > c.prompt_cumulative[12]
    assert c.break_even_month == 16
    assert all(a <= p for a, p in zip(c.adapter_cumulative[16:], c.prompt_cumulative[16:]))


@pytest.mark.parametrize(("update", "break_even"), [
    ({"requests_per_day": 0}, None),
    ({"requests_per_day": 20}, None),  # $5.22/month saved never covers $200/year retraining
    ({"cache_discount": 1.0}, None),  # a free cached prompt leaves nothing to save
    ({"retrains_per_year": 52.0}, None),  # a knowledge-LoRA retrained weekly
    ({"prompt_tokens": 200}, None),  # no prompt tax to remove
    ({"training_cost": 2000.0, "retrains_per_year": 0.0}, 8),  # 2,000 / 261 = 7.7
    ({"training_cost": 2000.0}, 16),  # the month-12 retrain: 4,000 / 261 = 15.3
    ({"training_cost": 0.0, "retrains_per_year": 0.0}, 1),
], ids=["no traffic", "low volume", "full cache", "weekly retrain", "short prompt",
        "expensive training once", "expensive training yearly", "free training"])
def test_break_even_on_fixed_numbers(update: dict, break_even: int | None) -> None:
    assert compare_costs(SEED.model_copy(update=update)).break_even_month == break_even


def test_a_cheaper_model_behind_the_adapter_saves_more() -> None:
    cheap = compare_costs(SEED.model_copy(update={"adapter_price_input_per_m": 0.06,
                                                  "adapter_price_output_per_m": 0.3}))
    per_request = (200 * 0.03 + 500 * 0.06 + 300 * 0.3) / 1e6  # cached prompt at half price
    assert cheap.adapter_monthly == pytest.approx(per_request * 30_000)
    assert cheap.monthly_savings > compare_costs(SEED).monthly_savings


def test_retries_make_the_prompt_approach_dearer() -> None:
    c = compare_costs(SEED.model_copy(update={"prompt_retry_rate": 0.1}))
    assert c.prompt_monthly == pytest.approx(495.0)


def test_the_chart_series_start_at_zero_and_reach_past_a_late_crossing() -> None:
    c = compare_costs(SEED.model_copy(update={"requests_per_day": 100, "horizon_months": 6}))
    assert c.months[0] == 0 and c.prompt_cumulative[0] == 0
    assert c.adapter_cumulative[0] == 200
    assert c.months[-1] > 16
    assert len(c.months) == len(c.prompt_cumulative) == len(c.adapter_cumulative)


def test_the_wizard_uses_the_seeds_prompt_size_when_none_is_given() -> None:
    assert cost_inputs(WizardAnswers()).prompt_tokens == 6000
    assert cost_inputs(WizardAnswers(prompt_tokens=100)).adapter_prompt_tokens == 100
    assert cost_inputs(WizardAnswers(prompt_tokens=1200)).prompt_tokens == 1200
    assert cost_inputs(WizardAnswers(cache_pct=90)).cache_discount == pytest.approx(0.9)
    assert cost_inputs(WizardAnswers(spec_change="quarterly")).retrains_per_year == 4


@pytest.mark.parametrize("bad", [
    dict(requests_per_day=-1), dict(price_in=float("inf")), dict(price_in=float("nan")),
    dict(cache_pct=101), dict(horizon=0), dict(prompt_tokens=-5), dict(change="hourly"),
    dict(unknown=True),
])
def test_out_of_range_answers_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        WizardAnswers(**bad)


# --- The URL: a stakeholder link reproduces the wizard ---------------------------------------


@pytest.mark.parametrize("answers", [HYBRIDS["customer support agent"][0], EVERYTHING,
                                     dict(name="Contract review", price_in=0.25, cache_pct=90,
                                          adapter_price_in=0.05, horizon=60),
                                     dict(retries=True, retry_pct=0)])
def test_answers_round_trip_through_query_parameters(answers: dict) -> None:
    original = WizardAnswers(**answers)
    params = answers_to_params(original, RESULT_STEP)
    parsed = answers_from_params(params)
    assert parsed.answers == original
    assert parsed.step == RESULT_STEP
    assert parsed.problems == []


def test_default_answers_make_a_short_link() -> None:
    assert answers_to_params(WizardAnswers(), 1) == {"step": "1"}
    assert answers_to_params(WizardAnswers(cite=True)) == {"cite": "1"}


GARBAGE = [
    ({"requests_per_day": "lots"}, "requests_per_day"),
    ({"requests_per_day": "-5"}, "requests_per_day"),
    ({"facts": "maybe"}, "facts"),
    ({"change": "hourly"}, "change"),
    ({"price_in": "nan"}, "price_in"),
    ({"price_in": "1e999"}, "price_in"),
    ({"cache_pct": "150"}, "cache_pct"),
    ({"name": "x" * 500}, "name"),
    ({"step": "99"}, "step"),
    ({"step": "two"}, "step"),
    ({"utm_source": "mail"}, "utm_source"),
]


@pytest.mark.parametrize(("params", "named"), GARBAGE)
def test_garbage_in_the_link_is_ignored_with_a_reason_and_the_rest_is_kept(
        params: dict, named: str) -> None:
    parsed = answers_from_params(params | {"cite": "1"})
    assert len(parsed.problems) == 1
    assert named in parsed.problems[0]
    assert parsed.answers.cite is True
    defaults = WizardAnswers()
    for key in params:
        if key in QUESTIONS_BY_ID:
            assert getattr(parsed.answers, key) == getattr(defaults, key)


def test_a_repeated_parameter_takes_its_last_value() -> None:
    assert answers_from_params({"facts": ["0", "1"]}).answers.facts is True


def test_a_name_from_the_link_is_cleaned_for_the_record() -> None:
    parsed = answers_from_params({"name": "# Support\x00 <bot>"})
    assert parsed.answers.name == "Support bot"


def test_one_changed_answer_becomes_one_url_value() -> None:
    assert param_update("cite", True) == "1"
    assert param_update("cite", False) is None  # the default leaves the URL
    assert param_update("price_in", 0.25) == "0.25"
    assert param_update("prompt_tokens", None) is None
    with pytest.raises(InputError, match="Requests per day"):
        param_update("requests_per_day", -3)
    with pytest.raises(InputError, match="Unknown"):
        param_update("nope", 1)


# --- The decision record ----------------------------------------------------------------------


def test_the_markdown_record_has_context_decision_alternatives_consequences_and_costs() -> None:
    answers = WizardAnswers(name="Support bot", **HYBRIDS["customer support agent"][0])
    rec = recommend(answers)
    md = record_markdown(answers, rec, base_url="http://localhost:8501/decide")
    for heading in ("# Decision record: Support bot", "## Context", "## Decision",
                    "## Alternatives considered", "## Consequences", "## Costs"):
        assert heading in md
    assert f"- {quote(answers, 'tone')}" in md
    assert rec.headline in md
    assert "| Inference per month | $450 | $189 |" in md
    assert "Break-even: month 1" in md
    assert "http://localhost:8501/decide?step=6&" in md


def test_the_json_record_reloads_into_the_same_answers_and_recommendation() -> None:
    answers = WizardAnswers(**EVERYTHING)
    rec = recommend(answers)
    data = json.loads(record_json(answers, rec))
    record = DecisionRecord.model_validate(data)
    assert record.answers == answers
    assert record.recommendation == rec
    assert data["recommendation"]["outcome"] == "hybrid"
    assert data["format"] == "ragtune.decision-record/2"
    prompt = data["recommendation"]["costs"]["options"][0]
    assert prompt["kind"] == "prompt"
    assert math.isclose(prompt["monthly"], rec.costs.break_even.prompt_monthly)


def test_a_record_with_nothing_ticked_says_so() -> None:
    md = record_markdown(WizardAnswers(), recommend(WizardAnswers()))
    assert "What does the model mainly produce?" in md  # the task is always context
    assert "None of the wizard's other statements was ticked." in md
    assert "Nothing in your answers calls for RAG or fine-tuning" in md


# --- The cost section weighs what the recommendation weighs (issue 13, item 9) ----------------

REFERENCE_PROMPT = ("Assumed: a 6,000-token prompt, the seed's reference point — set yours in "
                    "step 4.")


def test_default_answers_price_only_the_prompt_and_say_its_size_is_assumed() -> None:
    # Seen by a new user: "Prompting is enough" above "the adapter pays back in month 1".
    answers = WizardAnswers()
    rec = recommend(answers)
    assert rec.headline.startswith("Prompting is enough")
    assert [o.kind for o in rec.costs.options] == ["prompt"]
    assert rec.costs.break_even is None
    assert REFERENCE_PROMPT in [x.text for x in rec.costs.assumptions]
    md = record_markdown(answers, rec)
    assert "| Prompt tokens per request | 6,000 (assumed) |" in md
    assert "Break-even" not in md and "pays back" not in md
    assert "1,000 requests a day" in next(x.text for x in rec.costs.assumptions
                                          if "reference figures" in x.text)


def test_a_prompt_size_the_team_gives_is_theirs_not_assumed() -> None:
    rec = recommend(WizardAnswers(prompt_tokens=1200, requests_per_day=2000))
    assert all("token prompt" not in x.text for x in rec.costs.assumptions)
    assert rec.costs.given[:1] == ["2,000 requests a day"]
    assert "a 1,200-token prompt" in rec.costs.given
    assert rec.costs.options[0].prompt_tokens == 1200


@pytest.mark.parametrize(("answers", "rate", "assumed"), [
    (dict(strict_format=True, retries=True), 0.10, True),
    (dict(strict_format=True, retries=True, retry_pct=25), 0.25, False),
    (dict(strict_format=True, retry_pct=5), 0.05, False),
    (dict(strict_format=True), 0.0, False),
], ids=["ticked, no share", "ticked, 25%", "a share alone", "no retries"])
def test_retries_feed_the_retry_rate_of_the_prompt(answers: dict, rate: float,
                                                   assumed: bool) -> None:
    rec = recommend(WizardAnswers(prompting="fails", **answers))
    prompt = rec.costs.option("prompt")
    assert prompt is not None and prompt.retry_rate == pytest.approx(rate)
    assert any("retried on format failures" in x.text for x in rec.costs.assumptions) == assumed
    assert ("rag_for_behaviour" in rec.warning_codes()) == (rate > 0)


def test_the_retry_rate_makes_the_prompt_dearer_per_request() -> None:
    calm = recommend(WizardAnswers(strict_format=True, prompting="fails")).costs
    retrying = recommend(WizardAnswers(strict_format=True, retries=True)).costs
    assert retrying.options[0].cost_per_request == pytest.approx(
        calm.options[0].cost_per_request * 1.1)


def test_constrained_decoding_is_priced_against_the_prompt_it_replaces_with_no_break_even() -> None:
    answers = WizardAnswers(strict_format=True, syntax_only=True, few_shot=12, retries=True)
    rec = recommend(answers)
    assert rec.outcome == Outcome.CONSTRAINED_DECODING
    costs = rec.costs
    assert [(o.kind, o.role) for o in costs.options] == [("prompt", "alternative"),
                                                         ("constrained", "recommended")]
    assert costs.break_even is None
    assert costs.options[1].monthly < costs.options[0].monthly
    assert costs.options[1].retry_rate == 0 and costs.options[1].upfront == 0
    md = record_markdown(answers, rec)
    assert "drop the 12 few-shot examples" in md
    assert "a few examples" not in md  # the prompt part no longer keeps them
    assert f"({money_text(costs.options[1].monthly)} a month" in md  # consequences: the grammar's


def money_text(value: float) -> str:
    from ragtune.decision.economics import money
    return money(value)


def test_an_adapter_needed_because_prompting_fails_is_decided_by_need_even_at_low_volume() -> None:
    rec = recommend(WizardAnswers(tone=True, prompting="fails", requests_per_day=10))
    assert rec.outcome == Outcome.FINE_TUNE
    assert rec.costs.basis == "need"
    assert rec.costs.break_even is not None and rec.costs.break_even.break_even_month is None
    assert rec.costs.verdict.startswith("Decided by need, not cost: prompting alone does not "
                                        "hold the tone")
    assert "does not pay back" in rec.costs.verdict


def test_a_long_prompt_kept_on_cost_shows_the_adapter_it_weighed_not_paying_back() -> None:
    rec = recommend(WizardAnswers(prompt_tokens=6000, prompting="works", requests_per_day=10))
    assert rec.outcome == Outcome.PROMPTING
    assert rec.headline == "Prompting is enough for now: keep your current prompt, cached"
    assert [(o.kind, o.role) for o in rec.costs.options] == [("prompt", "recommended"),
                                                             ("adapter", "alternative")]
    assert rec.costs.basis == "cost"
    assert "keeping the prompt is cheaper" in rec.costs.verdict
    assert rec.lab_modes == ["base", "lora"] and rec.recommended_mode == "base"


@pytest.mark.parametrize(("volume", "outcome", "mode"), [
    (5, Outcome.PROMPTING, "base"), (1000, Outcome.CLASSIFIER, "route")])
def test_labels_a_prompted_model_gets_right_are_tuned_only_if_the_classifier_pays_back(
        volume: int, outcome: Outcome, mode: str) -> None:
    rec = recommend(WizardAnswers(task="classify", prompting="works", requests_per_day=volume,
                                  prompt_tokens=2000))
    assert rec.outcome == outcome
    assert rec.costs.tuned == "classifier" and rec.costs.basis == "cost"
    assert rec.recommended_mode == mode
    assert "route" in rec.lab_modes


@pytest.mark.parametrize(("answers", "modes", "recommended"), [
    (dict(task="classify"), ["base", "route"], "route"),
    (dict(routing=True), ["base", "route"], "route"),
    (dict(facts=True, routing=True), ["base", "rag", "route"], "route"),
    (dict(strict_format=True, syntax_only=True), ["base", "constrained", "lora"], "constrained"),
    (dict(facts=True, strict_format=True, syntax_only=True),
     ["base", "rag", "rag+fewshot", "rag+constrained", "rag+lora"], "rag+constrained"),
    (dict(tone=True, prompting="fails"), ["base", "lora"], "lora"),
], ids=["labels", "routing", "documents + routing", "syntactic format",
        "documents + syntactic format", "tone"])
def test_the_lab_link_opens_the_mode_that_shows_the_recommendation(
        answers: dict, modes: list[str], recommended: str) -> None:
    rec = recommend(WizardAnswers(**answers))
    assert rec.lab_modes == modes
    assert rec.recommended_mode == recommended
    assert lab_query(rec) == {"modes": ",".join(modes)}
