"""Decide's record, cost section and Lab link agree with its headline, for every outcome.

A grid of wizard answers (knowledge, task, behaviour, prompting, retries and repairs, volume,
a given or a missing prompt size) is walked through the real funnel; for each, the properties
below are checked on the recommendation, the decision record as a user downloads it, and (for
one case of each kind) the page as AppTest draws it. "Consistent with the headline" means:

1. The option the cost section recommends is the one the headline names (a LoRA adapter, a
   classifier for the labels, constrained decoding, else the prompt), and it is the only one.
2. A break-even (adapter or classifier vs the prompt) is shown only where a tuned option is on
   the table, in the record and the page alike.
3. No cost verdict argues against the headline: where the prompt is kept and a tuned option was
   weighed, it does not pay back within the horizon (and nothing says "then saves"); a tuned
   option chosen on cost pays back within it; constrained decoding never costs more than the
   prompt it replaces.
4. No contradictory advice: the record never says both to keep a few examples in the prompt and
   to drop them; with a grammar it does not tell the team to write examples at all.
5. Every figure the team did not give is labelled as assumed, in the record and the page: the
   seed's 6,000-token prompt wherever it is printed, a retry rate for "we retry", and the
   wizard's reference figures left at their defaults.
6. Retries feed the retry rate: saying "we retry" (or giving a share) makes the prompt option
   dearer than the same answers without retries.
7. The Lab link opens known modes; the recommended one shows the part the outcome is named
   after (the router or classifier: ``route``; an adapter: ``lora``/``rag+lora``; a grammar:
   ``constrained``/``rag+constrained``; RAG: a retrieving mode; prompting: ``base``), and
   every part of the recommendation is shown by some listed mode.
"""

from __future__ import annotations

import itertools
import re

import pytest
from streamlit.testing.v1 import AppTest

from components.safe import escape_markdown
from ragtune.decision.answers import WizardAnswers
from ragtune.decision.params import answers_to_params
from ragtune.decision.questions import RESULT_STEP
from ragtune.decision.recommend import recommend
from ragtune.decision.recommendation import LAB_MODE_PARTS, LAB_MODES, Outcome, Part
from ragtune.decision.record import record_markdown
from tests.test_decide_page import PAGE

KNOWLEDGE = {"no facts": {}, "facts": dict(facts=True),
             "cited per user, weekly": dict(cite=True, per_user=True, change="weekly"),
             "bake the documents": dict(bake=True, change="monthly")}
TASKS = {"answers": {}, "labels": dict(task="classify"), "routed": dict(routing=True)}
BEHAVIOUR = {"no behaviour": {}, "format": dict(strict_format=True),
             "syntactic format": dict(strict_format=True, syntax_only=True),
             "tone": dict(tone=True), "rules": dict(rules=True)}
PROMPTING = {"untried": {}, "works": dict(prompting="works"), "fails": dict(prompting="fails")}
SYMPTOMS = {"no symptom": {}, "we retry": dict(retries=True),
            "25% retried": dict(retries=True, retry_pct=25), "25 examples": dict(few_shot=25),
            "repairs": dict(post_processing=True)}
VOLUME = {"10/day": dict(requests_per_day=10), "default volume": {},
          "100k/day": dict(requests_per_day=100_000)}
PROMPT = {"no prompt size": {}, "1,200-token prompt": dict(prompt_tokens=1200),
          "8,000-token prompt": dict(prompt_tokens=8000)}
FACTORS = (KNOWLEDGE, TASKS, BEHAVIOUR, PROMPTING, SYMPTOMS, VOLUME, PROMPT)

# The figures every priced option uses; at their defaults they must be labelled as assumed.
ALWAYS_PRICED = ("requests_per_day", "context_tokens", "answer_tokens", "price_in", "price_out",
                 "cache_pct")
KEEP_FEW_SHOT = ("with a few examples", "3-5 examples")
DROP_FEW_SHOT = ("drop the",)
PROMPT_ASSUMED = ("Assumed: a 6,000-token prompt, the seed's reference point — set yours in "
                  "step 4.")


def grid() -> list[tuple[str, WizardAnswers]]:
    cases = []
    for picks in itertools.product(*(factor.items() for factor in FACTORS)):
        values: dict = {}
        for _, answer in picks:
            values |= answer
        cases.append((" · ".join(name for name, _ in picks), WizardAnswers(**values)))
    return cases


GRID = grid()


def headline_option(headline: str) -> str:
    """The option the headline names, read from its words alone."""
    if "classifier for the labels" in headline:
        return "classifier"
    if "LoRA adapter" in headline:
        return "adapter"
    if "onstrained decoding" in headline:
        return "constrained"
    return "prompt"


def costs_text(markdown: str) -> str:
    return markdown[markdown.index("## Costs"):markdown.index("## Reproduce")]


def inconsistencies(a: WizardAnswers) -> list[str]:
    """Every way the record, the costs and the Lab link disagree with the headline."""
    rec = recommend(a)
    md = record_markdown(a, rec)
    costs = rec.costs
    money_text = costs_text(md)
    found: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok:
            found.append(what)

    # 1. The recommended option is the headline's.
    named = headline_option(rec.headline)
    recommended = [o for o in costs.options if o.role == "recommended"]
    check(len(recommended) == 1, f"{len(recommended)} options recommended")
    check(bool(recommended) and recommended[0].kind == named,
          f"costs recommend {[o.kind for o in recommended]}, headline names {named}")
    check(rec.headline in md, "headline missing from the record")
    # 2. A break-even only where a tuned option is on the table.
    tuned = [o for o in costs.options if o.kind in ("adapter", "classifier")]
    check((costs.break_even is not None) == bool(tuned), "break-even without a tuned option")
    check(("Break-even" in money_text) == bool(tuned), "record's break-even line disagrees")
    check("pays back" not in money_text or bool(tuned), "payback talk with no tuned option")
    # 3. No cost verdict against the headline.
    be = costs.break_even
    if named == "prompt" and be is not None:
        check(be.break_even_month is None or be.break_even_month > a.horizon,
              "the prompt is kept although the tuned option pays back in time")
        check("then saves" not in money_text, "a saving argued for a tuned option not built")
    if named in ("adapter", "classifier") and costs.basis == "cost":
        check(be is not None and be.break_even_month is not None
              and be.break_even_month <= a.horizon, "tuned on cost, but it does not pay back")
    if named == "constrained":
        prompt, grammar = costs.option("prompt"), costs.option("constrained")
        check(prompt is not None and grammar is not None
              and (grammar.monthly or 0) <= (prompt.monthly or 0) + 1e-9,
              "constrained decoding priced above the prompt it replaces")
    for option in costs.options:
        if option.role != "recommended":
            check(not option.note.startswith("The recommendation"),
                  f"{option.kind} described as the recommendation")
    # 4. No contradictory advice about few-shot examples.
    keeps = any(p in md for p in KEEP_FEW_SHOT)
    drops = any(p in md for p in DROP_FEW_SHOT)
    check(not (keeps and drops) or named == "adapter", "few-shot both kept and dropped")
    if rec.has_part(Part.CONSTRAINED):
        check(not keeps, "a grammar, yet the prompt keeps a few examples")
    # 5. Every assumption labelled, wherever its figure is printed.
    for assumption in costs.assumptions:
        check(assumption.text in md, f"assumption not in the record: {assumption.text}")
    if a.prompt_tokens is None:
        check(PROMPT_ASSUMED in md, "assumed prompt not labelled")
        for match in re.finditer(r"6,000", md):
            before, after = md[max(0, match.start() - 14):match.start()], md[match.end():]
            labelled = after.startswith(" (assumed)") or (
                after.startswith("-token prompt") and "assumed" in before.lower())
            check(labelled, f"6,000 printed without its label: …{before}6,000{after[:20]}…")
    assumed = {f for assumption in costs.assumptions for f in assumption.fields}
    for field in ALWAYS_PRICED:
        if getattr(a, field) == getattr(WizardAnswers(), field):
            check(field in assumed, f"default {field} not labelled as assumed")
    # 6. Retries feed the retry rate.
    prompt = costs.option("prompt")
    if a.retries or a.retry_pct:
        check(prompt is not None and prompt.retry_rate > 0, "retries not in the retry rate")
        calm = recommend(a.model_copy(update={"retries": False, "retry_pct": None}))
        calm_prompt = calm.costs.option("prompt")
        check(prompt is not None and calm_prompt is not None
              and (prompt.cost_per_request or 0) > (calm_prompt.cost_per_request or 0),
              "retries do not make the prompt dearer")
        if a.retry_pct is None:
            check("of requests retried on format failures — you said you retry" in md,
                  "assumed retry rate not labelled")
    # 7. The Lab link.
    check(set(rec.lab_modes) <= set(LAB_MODES), f"unknown modes {rec.lab_modes}")
    check(rec.recommended_mode in rec.lab_modes, "recommended mode not listed")
    shown = set().union(*(LAB_MODE_PARTS[m] for m in rec.lab_modes))
    for part in rec.parts:
        check(part.part in shown, f"no Lab mode shows the {part.part.value}")
    picked = LAB_MODE_PARTS.get(rec.recommended_mode, frozenset())
    if rec.has_part(Part.ROUTER) or rec.has_part(Part.CLASSIFIER):
        check(rec.recommended_mode == "route", "router or classifier not opened in route")
    elif named == "adapter":
        check(Part.ADAPTER in picked, "the adapter is not in the recommended mode")
    elif named == "constrained":
        check(Part.CONSTRAINED in picked, "the grammar is not in the recommended mode")
    if rec.has_part(Part.RAG):
        check(Part.RAG in picked, "RAG is not in the recommended mode")
    if rec.outcome == Outcome.PROMPTING:
        check(rec.recommended_mode == "base", "prompting does not open the base model")
    check(f"(recommended: {rec.recommended_mode})" in md, "record's Lab line disagrees")
    return found


def test_the_grid_reaches_every_outcome() -> None:
    assert {recommend(a).outcome for _, a in GRID} == set(Outcome)


def test_record_costs_and_lab_link_agree_with_the_headline_across_the_grid() -> None:
    failures = []
    for name, answers in GRID:
        try:
            problems = inconsistencies(answers)
        except Exception as exc:  # a crash is an inconsistency too; keep walking the grid
            problems = [f"{type(exc).__name__}: {exc}"]
        failures += [f"{name}: {p}" for p in problems]
    assert not failures, f"{len(failures)} inconsistencies, e.g.:\n" + "\n".join(failures[:25])


def signature(a: WizardAnswers) -> tuple:
    """What makes a page different: outcome, options, break-even, assumptions."""
    rec = recommend(a)
    return (rec.outcome, tuple(o.kind for o in rec.costs.options),
            rec.costs.break_even is not None, rec.costs.basis,
            tuple(len(x.fields) > 1 for x in rec.costs.assumptions))


def page_cases() -> list[tuple[str, WizardAnswers]]:
    seen: dict[tuple, tuple[str, WizardAnswers]] = {}
    for name, answers in GRID:
        seen.setdefault(signature(answers), (name, answers))
    return list(seen.values())


PAGE_CASES = page_cases()

# A "$" Streamlit would read as the start of LaTeX ("$200 a run and $200 a year" loses its figures).
RAW_DOLLAR = re.compile(r"(?<!\\)\$")


def drawn_text(at: AppTest) -> list[str]:
    """Every text the page draws as Markdown: blocks, captions, warnings, metric labels and help."""
    texts = [e.value for kind in ("markdown", "caption", "warning", "info") for e in at.get(kind)]
    texts += [t for m in at.metric for t in (m.label, m.proto.help)]
    return texts


@pytest.mark.parametrize("answers", [a for _, a in PAGE_CASES], ids=[n for n, _ in PAGE_CASES])
def test_the_page_says_what_the_record_says(answers: WizardAnswers) -> None:
    rec = recommend(answers)
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.query_params.update(answers_to_params(answers, RESULT_STEP))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.markdown[0].value == f"### {rec.headline}"
    labels = [m.label for m in at.metric if m.label != "Confidence"]
    expected = [f"{o.label} / month" if o.monthly is not None else f"{o.label}, training"
                for o in rec.costs.options]
    assert labels == expected + (["Break-even"] if rec.costs.break_even is not None else [])
    assert bool(at.get("plotly_chart")) == (rec.costs.break_even is not None)
    assert escape_markdown(rec.costs.verdict) in [m.value for m in at.markdown]
    captions = [c.value for c in at.caption]
    for assumption in rec.costs.assumptions:
        assert escape_markdown(assumption.text) in captions
    assert not [t for t in drawn_text(at) if RAW_DOLLAR.search(t)], "a $ read as LaTeX"
    if rec.costs.break_even is None:
        assert not any("pays back" in c for c in captions)
    record = at.code[-1].value  # the record preview: what the download holds
    assert rec.costs.verdict in record
    for assumption in rec.costs.assumptions:
        assert assumption.text in record
    modes = " ".join(m.value for m in at.markdown if m.value.startswith("Modes to compare"))
    assert f"`{rec.recommended_mode}` (recommended)" in modes


def test_every_lab_mode_the_wizard_links_to_is_a_built_in_mode_that_shows_its_parts() -> None:
    """Needs the ``route`` and ``constrained`` modes, which other branches add to BUILTIN_MODES."""
    from ragtune.modes import BUILTIN_MODES

    modes = {m.id: m for m in BUILTIN_MODES}
    assert [m for m in LAB_MODES if m not in modes] == []
    for mode_id, parts in LAB_MODE_PARTS.items():
        mode = modes[mode_id]
        if mode_id == "route":
            assert getattr(mode, "router", None) is not None, "route has no router stage"
            continue
        if not parts:  # knowledge-lora: the trap, no part of a recommendation
            continue
        assert mode.retrieval == (Part.RAG in parts), mode_id
        assert mode.constrained == (Part.CONSTRAINED in parts), mode_id
        assert (mode.adapter is not None) == (Part.ADAPTER in parts), mode_id
