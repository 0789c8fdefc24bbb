"""The seed's funnel as named steps: a team's answers in, a recommendation they can defend out.

Read it backwards, says the seed: if your problem is "the model doesn't know X", RAG; if it is
"the model doesn't act like Y", fine-tune. :func:`recommend` walks the funnel in that order,
one small pure function a step:

1. :func:`read_answers`: contradictory answers are resolved in favour of the evidence.
2. :func:`knowledge`, **Q1**: does the answer depend on facts the model lacks, that change,
   differ per user or must be cited? Then RAG is mandatory: knowledge lives in retrieval.
3. :func:`traps`: *fine-tuning for knowledge* (a plan to bake documents into weights) and
   *RAG / prompting for behaviour* (a prompt over 4,000 tokens, twenty examples to hold a
   format, retries on format failures, post-processing that repairs output) are warned of.
4. :func:`behaviour`, **Q2**: must the response follow a format, tone or decision rule that
   prompting alone fails to enforce? Then fine-tune *behaviour* (a LoRA adapter) on top. A
   purely syntactic need (valid JSON of a schema) is met more cheaply by constrained decoding;
   classification, routing and tagging by a small purpose-built or fine-tuned classifier.
5. :func:`parts`: the building blocks of the seed's combined pattern this workload needs.
6. :func:`confidence`: how sure the recommendation is, and the shortfalls that lower it.

The write-up around the decision (headline, what to try first, alternatives, consequences,
Lab modes) is :mod:`ragtune.decision.advice`. No Streamlit, no I/O.

Examples:
    >>> rec = recommend(WizardAnswers(cite=True))
    >>> rec.outcome
    <Outcome.RAG: 'rag'>
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from ragtune.decision.advice import alternatives, consequences, headline, lab_modes, try_first
from ragtune.decision.answers import (
    LONG_PROMPT_TOKENS,
    MANY_FEW_SHOT,
    MIN_EXAMPLES_BEHAVIOUR,
    MIN_EXAMPLES_RULES,
    Frequency,
    PromptingStatus,
    TaskKind,
    WizardAnswers,
)
from ragtune.decision.economics import CostComparison, answer_costs, money
from ragtune.decision.questions import quote
from ragtune.decision.recommendation import Finding, Outcome, Part, PartChoice, Recommendation


def recommend(answers: WizardAnswers) -> Recommendation:
    """Turn the wizard's answers into a recommendation with its reasons, warnings and costs.

    Examples:
        >>> recommend(WizardAnswers()).outcome
        <Outcome.PROMPTING: 'prompting'>
        >>> recommend(WizardAnswers(facts=True, tone=True, prompting="fails")).outcome
        <Outcome.HYBRID: 'hybrid'>
    """
    a = answers
    costs = answer_costs(a)
    reading = read_answers(a)
    known = knowledge(a)
    trapped = traps(a, reading)
    acts = behaviour(a, reading, known.needed, costs)
    build = parts(a, known, acts)
    sure = confidence(a, reading, known, acts)
    outcome = outcome_of(build.choices)
    modes, recommended_mode = lab_modes(build.choices, a.bake, acts.need)
    return Recommendation(
        outcome=outcome,
        headline=headline(outcome, build.choices, acts.words),
        parts=build.choices,
        confidence=sure.score,
        confidence_level=sure.level,
        rationale=[known.rationale, *trapped.rationale, acts.rationale, *build.rationale,
                   *sure.rationale],
        warnings=[*reading.contradictions, *trapped.findings, *acts.warnings, *sure.warnings],
        try_first=try_first(a, build.choices, acts.untested, sure.examples_needed, acts.words),
        alternatives=alternatives(outcome, a, known.needed, acts),
        consequences=consequences(a, build.choices, costs, acts.words),
        lab_modes=modes,
        recommended_mode=recommended_mode,
        examples_needed=sure.examples_needed,
        costs=costs,
    )


def trap_symptoms(answers: WizardAnswers) -> list[str]:
    """The answers that match the seed's symptoms of the RAG-for-behaviour trap (field ids)."""
    found = []
    if answers.prompt_tokens is not None and answers.prompt_tokens > LONG_PROMPT_TOKENS:
        found.append("prompt_tokens")
    if answers.few_shot >= MANY_FEW_SHOT:
        found.append("few_shot")
    if answers.retries:
        found.append("retries")
    if answers.post_processing:
        found.append("post_processing")
    return found


def _q(answers: WizardAnswers, field: str) -> str:
    return f"“{quote(answers, field)}”"


# --- 1. Reading the answers -------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The answers as the evidence reads them, and the contradictions that were resolved."""

    strict_format: bool
    syntax_only: bool
    tone: bool
    rules: bool
    prompting: PromptingStatus
    symptoms: list[str]
    contradictions: list[Finding]

    @property
    def behaviour_fields(self) -> list[str]:
        """The behaviour needs ticked (format, tone, rules), as the evidence reads them."""
        return [f for f, on in (("strict_format", self.strict_format), ("tone", self.tone),
                                ("rules", self.rules)) if on]

    @property
    def syntactic(self) -> bool:
        """The only behaviour need is a purely syntactic format."""
        return self.strict_format and self.syntax_only and not self.tone and not self.rules


def read_answers(a: WizardAnswers) -> Reading:
    """Resolve contradictory answers in favour of the evidence, and say so for each."""
    strict_format, syntax_only, tone = a.strict_format, a.syntax_only, a.tone
    prompting = a.prompting
    found: list[tuple[str, list[str]]] = []
    if syntax_only and not strict_format:
        found.append((
            "You said the format is purely syntactic but not that responses must follow a "
            "strict format. Read as: a strict, purely syntactic format.",
            [_q(a, "syntax_only")]))
        strict_format = True
    if syntax_only and (a.tone or a.rules):
        found.append((
            "A purely syntactic format cannot also carry a tone or decision rules. Read as: "
            "the format is not purely syntactic.",
            [_q(a, "syntax_only")] + [_q(a, f) for f in ("tone", "rules") if getattr(a, f)]))
        syntax_only = False
    failure_evidence = [f for f in ("retries", "post_processing") if getattr(a, f)]
    if prompting == PromptingStatus.WORKS and failure_evidence:
        found.append((
            "You said prompting enforces the behaviour reliably, yet you retry or repair its "
            "output. The evidence wins: read as prompting fails.",
            [_q(a, "prompting")] + [_q(a, f) for f in failure_evidence]))
    if failure_evidence:
        prompting = PromptingStatus.FAILS
    if a.few_shot > 0 and a.prompt_tokens == 0:
        found.append((
            f"{a.few_shot:,} few-shot examples cannot fit in a 0-token prompt. The cost "
            "comparison uses 0 tokens; correct the number in step 4.",
            [_q(a, "few_shot"), _q(a, "prompt_tokens")]))
    if a.task == TaskKind.CLASSIFY and a.tone:
        found.append((
            "Labels have no tone: a classification task does not need a brand voice. "
            "The tone answer is set aside.",
            [_q(a, "task"), _q(a, "tone")]))
        tone = False
    symptoms = trap_symptoms(a)
    if (a.prompting == PromptingStatus.FAILS and not (strict_format or tone or a.rules)
            and not symptoms and a.task != TaskKind.CLASSIFY and not a.routing):
        found.append((
            "You said prompting fails to enforce the behaviour, but ticked no format, tone or "
            "rule it should enforce. Tick what fails in step 3.",
            [_q(a, "prompting")]))
    return Reading(
        strict_format=strict_format, syntax_only=syntax_only, tone=tone, rules=a.rules,
        prompting=prompting, symptoms=symptoms,
        contradictions=[Finding(code="contradiction", title="Contradictory answers",
                                message=message, evidence=evidence)
                        for message, evidence in found])


# --- 2. Q1: knowledge -------------------------------------------------------------------------


@dataclass(frozen=True)
class Knowledge:
    """Q1's answer: the answers that call for retrieval (none: no RAG), and why."""

    fields: list[str]
    rationale: str

    @property
    def needed(self) -> bool:
        return bool(self.fields)


def knowledge(a: WizardAnswers) -> Knowledge:
    """Q1: the model doesn't know X (facts it lacks, that change, differ per user, cited)? RAG."""
    fields = [f for f in ("facts", "per_user", "cite", "bake") if getattr(a, f)]
    if a.change != Frequency.NEVER:
        fields.insert(1, "change")
    if fields:
        return Knowledge(fields, (
            "Q1, knowledge: yes. You said " + "; ".join(_q(a, f) for f in fields)
            + ". The answer depends on facts the model lacks, that change, differ per user or "
            "must be cited: RAG is mandatory, and the documents stay in retrieval."))
    return Knowledge(fields, (
        "Q1, knowledge: no. Nothing you ticked says the answer depends on facts the model "
        "lacks, that change, differ per user or must be cited: no retrieval needed."))


# --- 3. The traps -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Traps:
    """The seed's two traps found in the answers, and what the rationale says about them."""

    findings: list[Finding]
    rationale: list[str]


def traps(a: WizardAnswers, reading: Reading) -> Traps:
    """The seed's two mirror mistakes: fine-tuning for knowledge, prompting for behaviour."""
    found = [f for f in (knowledge_trap(a), behaviour_trap(a, reading)) if f is not None]
    rationale = (["You plan to bake the documents into the weights; this recommendation "
                  "keeps them in retrieval instead (see the warning)."] if a.bake else [])
    return Traps(found, rationale)


def knowledge_trap(a: WizardAnswers) -> Finding | None:
    """Fine-tuning for knowledge: opaque (no citations), stale, and still hallucinating."""
    if not a.bake:
        return None
    evidence = [_q(a, "bake")]
    detail = ["A fine-tuned model does not cite its sources: you cannot audit which "
              "document drove which answer."]
    if a.cite:
        evidence.append(_q(a, "cite"))
        detail[0] = "You need citations, and a fine-tuned model cannot give them."
    if a.change != Frequency.NEVER:
        evidence.append(_q(a, "change"))
        yearly = a.training_cost * a.change.per_year
        detail.append(f"Baked-in knowledge goes stale: it changes {a.change.value}, so "
                      f"keeping it current means about {a.change.per_year:g} retraining runs "
                      f"a year ({money(yearly)}/year at your training cost).")
    else:
        detail.append("Baked-in knowledge goes stale the day a document changes.")
    detail.append("A model fine-tuned on facts still hallucinates, with more confidence "
                  "and no retrievable source to ground it.")
    return Finding(
        code="fine_tune_for_knowledge", title="Trap: fine-tuning for knowledge",
        message=" ".join(detail) + " Keep the documents in retrieval; fine-tune only "
                "behaviour (citation format, response structure, tone).",
        evidence=evidence)


def behaviour_trap(a: WizardAnswers, reading: Reading) -> Finding | None:
    """Prompting (or RAG) for behaviour: the seed's symptoms, paid on every request."""
    if not reading.symptoms:
        return None
    fix = ("Constrained decoding (your format is purely syntactic) or a LoRA adapter "
           "removes that tax." if reading.syntactic else
           f"A LoRA adapter on {MIN_EXAMPLES_BEHAVIOUR}-2,000 examples learns it once and "
           "removes that tax.")
    return Finding(
        code="rag_for_behaviour", title="Trap: prompting (or RAG) for behaviour",
        message="You pay, on every request, for prompt tokens, retries or repairs that "
                "enforce behaviour prompting does not hold reliably: interest forever. " + fix,
        evidence=[_q(a, f) for f in reading.symptoms])


# --- 4. Q2: behaviour -------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """Q2's answer: what must be enforced, what enforces it, and why."""

    classify: bool
    need: bool
    syntactic: bool
    prompting: PromptingStatus
    words: str
    quotes: list[str]
    adapter: bool = False
    constrained: bool = False
    untested: bool = False
    no_payback: bool = False
    rationale: str = ""
    warnings: list[Finding] = field(default_factory=list)


def behaviour(a: WizardAnswers, reading: Reading, knowledge_needed: bool,
              costs: CostComparison) -> Behaviour:
    """Q2: the model doesn't act like Y (format, tone, rules prompting fails to hold)? Fine-tune."""
    symptoms = reading.symptoms
    # Retries, repairs and few-shot examples are, in the seed's words, about getting the format
    # right; a long prompt alone says only that some behaviour is paid for in tokens.
    format_symptom = bool(set(symptoms) & {"few_shot", "retries", "post_processing"})
    words = (_behaviour_words(reading.strict_format or format_symptom, reading.tone, a.rules)
             or "the behaviour in your prompt")
    base = Behaviour(
        classify=a.task == TaskKind.CLASSIFY, need=bool(reading.behaviour_fields or symptoms),
        syntactic=reading.syntactic, prompting=reading.prompting, words=words,
        quotes=[_q(a, f) for f in reading.behaviour_fields + symptoms])
    if base.classify:
        return replace(base, rationale=(
            f"Q2, behaviour: you said {_q(a, 'task')}. Classification and tagging belong to "
            "a small purpose-built or fine-tuned classifier, not a prompted general model."))
    if not base.need:
        return replace(base, rationale=(
            "Q2, behaviour: no. You ticked no format, tone or decision rule to "
            "enforce: prompt engineering is enough."))
    if base.syntactic:
        return replace(base, constrained=True, rationale=(
            f"Q2, behaviour: your only behaviour need is syntactic ({_q(a, 'syntax_only')}). "
            "Constrained decoding guarantees valid output of the schema at generation time, "
            "with no training: cheaper than fine-tuning for the same result."))
    if base.prompting == PromptingStatus.FAILS:
        stated = [_q(a, "prompting")] if a.prompting == PromptingStatus.FAILS else []
        return replace(base, adapter=True, rationale=(
            "Q2, behaviour: yes. You need " + words + " (" + "; ".join(base.quotes + stated)
            + ") and prompting alone does not enforce it reliably: fine-tune the behaviour "
            "with a LoRA adapter" + (" on top of the RAG output." if knowledge_needed else ".")))
    if "prompt_tokens" in symptoms or "few_shot" in symptoms:
        return _long_prompt(a, base, costs)
    if base.prompting == PromptingStatus.UNTRIED:
        return replace(base, untested=True, rationale=(
            f"Q2, behaviour: you need {words} ({'; '.join(base.quotes)}) but have "
            "not tried prompting yet. Try prompt engineering first; fine-tune if it fails "
            "to hold reliably."), warnings=[Finding(
                code="untested_prompting", title="Prompting not tried yet",
                message="The funnel fine-tunes behaviour only when prompting alone fails. "
                        "Measure the failure rate of a good prompt on real queries before "
                        "training.",
                evidence=[_q(a, "prompting")])])
    return replace(base, rationale=(
        f"Q2, behaviour: you need {words}, and you said {_q(a, 'prompting')} with "
        "a prompt of modest size: prompt engineering is enough."))


def _long_prompt(a: WizardAnswers, base: Behaviour, costs: CostComparison) -> Behaviour:
    """Prompting holds the behaviour with a long prompt: an adapter if it pays back in time."""
    if costs.break_even_month is not None and costs.break_even_month <= a.horizon:
        return replace(base, adapter=True, rationale=(
            "Q2, behaviour: prompting holds it, but at a price (" + "; ".join(base.quotes) + ")."
            f" An adapter that bakes the prompt in pays back in month {costs.break_even_month} "
            f"and then saves {money(costs.monthly_savings)} a month: fine-tune to cut the "
            "token cost of the long prompt."))
    when = ("never within ten years" if costs.break_even_month is None
            else f"only in month {costs.break_even_month}")
    return replace(base, no_payback=True, rationale=(
        f"Q2, behaviour: the long prompt works, and at your volume an adapter pays back "
        f"{when}: keep the prompt (with caching) for now."), warnings=[Finding(
            code="no_payback", title="An adapter does not pay for itself here",
            message=f"Baking the prompt into an adapter saves {money(costs.monthly_savings)}"
                    f" a month against {money(a.training_cost)} per training run; it pays "
                    f"back {when}. Revisit when volume grows or prompting starts failing.",
            evidence=[_q(a, "requests_per_day"), _q(a, "training_cost")])])


def _behaviour_words(strict_format: bool, tone: bool, rules: bool) -> str:
    words = [w for w, on in (("the format", strict_format), ("the tone", tone),
                             ("the decision rules", rules)) if on]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# --- 5. The parts to build --------------------------------------------------------------------


@dataclass(frozen=True)
class Parts:
    """The parts to build, in the order the seed's combined pattern draws them."""

    choices: list[PartChoice]
    rationale: list[str]


def parts(a: WizardAnswers, known: Knowledge, acts: Behaviour) -> Parts:
    """Retrieval for knowledge, a router, a classifier, an adapter, a grammar or a prompt."""
    choices: list[PartChoice] = []
    rationale: list[str] = []
    if known.needed:
        choices.append(PartChoice(
            part=Part.RAG, role="knowledge",
            does="Retrieves your documents at query time"
                 + (", filtered per user" if a.per_user else "")
                 + (", numbered for citation" if a.cite else "") + ".",
            because=[_q(a, f) for f in known.fields]))
    if a.routing:
        choices.append(PartChoice(
            part=Part.ROUTER, role="routing",
            does="A small fine-tuned intent classifier picks the route for each query.",
            because=[_q(a, "routing")]))
        rationale.append(f"You said {_q(a, 'routing')}: routing is classification, so a small "
                         "fine-tuned intent classifier picks the route.")
    if acts.classify:
        choices.append(PartChoice(
            part=Part.CLASSIFIER, role="labels",
            does="A small purpose-built or fine-tuned classifier assigns your labels.",
            because=[_q(a, "task")] + ([_q(a, "rules")] if a.rules else [])))
    if acts.adapter:
        choices.append(PartChoice(
            part=Part.ADAPTER, role="behaviour",
            does=f"A LoRA adapter learns {acts.words}; it holds no facts.",
            detail=acts.words, because=acts.quotes))
    if acts.constrained:
        choices.append(PartChoice(
            part=Part.CONSTRAINED, role="format",
            does="Constrained decoding (a JSON-schema grammar) makes every output parse.",
            because=[_q(a, "strict_format"), _q(a, "syntax_only")]))
    if not acts.adapter and not acts.classify and (acts.need or not known.needed):
        choices.append(PartChoice(
            part=Part.PROMPT, role="instructions",
            does="A clear prompt with a few examples carries the instructions.",
            because=acts.quotes))
    return Parts(choices, rationale)


def outcome_of(choices: Sequence[PartChoice]) -> Outcome:
    """The outcome the parts add up to: retrieval plus anything tuned is a hybrid."""
    have = {p.part for p in choices}
    tuned = have & {Part.ADAPTER, Part.CLASSIFIER, Part.ROUTER}
    if Part.RAG in have:
        return Outcome.HYBRID if tuned else Outcome.RAG
    if Part.ADAPTER in have:
        return Outcome.FINE_TUNE
    if tuned:
        return Outcome.CLASSIFIER
    if Part.CONSTRAINED in have:
        return Outcome.CONSTRAINED_DECODING
    return Outcome.PROMPTING


# --- 6. Confidence ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Confidence:
    """How sure the recommendation is, and the shortfalls that lowered it."""

    score: float
    level: Literal["high", "medium", "low"]
    examples_needed: int | None
    warnings: list[Finding]
    rationale: list[str]


def confidence(a: WizardAnswers, reading: Reading, known: Knowledge, acts: Behaviour
               ) -> Confidence:
    """Lowered by contradictions, too few examples, untested prompting and no payback."""
    score = 0.9 - 0.15 * len(reading.contradictions)
    warnings: list[Finding] = []
    rationale: list[str] = []
    examples_needed: int | None = None
    if acts.adapter or acts.classify or a.routing:
        # Routing among a handful of routes needs a few hundred labels; a taxonomy needs more.
        examples_needed = (MIN_EXAMPLES_RULES if (a.rules or acts.classify)
                           else MIN_EXAMPLES_BEHAVIOUR)
        if a.examples < examples_needed:
            warnings.append(Finding(
                code="few_examples", title="Too few training examples",
                message=f"You have {a.examples:,} examples; the seed's reference is "
                        f"{MIN_EXAMPLES_BEHAVIOUR}-2,000 for format and tone and "
                        f"{MIN_EXAMPLES_RULES:,}-10,000 for decision rules and labels. Curating "
                        "the dataset is the expensive part: budget for it before training.",
                evidence=[_q(a, "examples")]))
            score -= 0.1
    if not known.needed and not acts.need and not acts.classify and not a.routing:
        score = min(score, 0.6)
        warnings.append(Finding(
            code="nothing_checked", title="Nothing in your answers calls for RAG or fine-tuning",
            message="You ticked no knowledge, behaviour or classification need. A base model "
                    "with a good prompt is the place to start; if your workload has documents, "
                    "formats or labels, go back and tick them."))
    if acts.untested:
        score -= 0.2  # the funnel's Q2 is unanswered until prompting has been tried
    if acts.no_payback:
        score -= 0.1
    if acts.classify and a.prompting == PromptingStatus.WORKS and not reading.symptoms:
        score -= 0.1
        rationale.append("A prompted model labels well today; a small classifier is the "
                         "cheaper, faster option at volume.")
    score = round(min(0.95, max(0.2, score)), 2)
    level: Literal["high", "medium", "low"] = (
        "high" if score >= 0.75 else "medium" if score >= 0.5 else "low")
    return Confidence(score, level, examples_needed, warnings, rationale)
