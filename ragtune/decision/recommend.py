"""The seed's funnel as named steps: a team's answers in, a recommendation they can defend out.

Read it backwards, says the seed: if your problem is "the model doesn't know X", RAG; if it is
"the model doesn't act like Y", fine-tune. :func:`recommend` walks the funnel in that order,
one small pure function a step:

1. :func:`~ragtune.decision.reading.read_answers`: contradictory answers are resolved in
   favour of the evidence.
2. :func:`knowledge`, **Q1**: does the answer depend on facts the model lacks, that change,
   differ per user or must be cited? Then RAG is mandatory: knowledge lives in retrieval.
3. :func:`behaviour`, **Q2**: must the response follow a format, tone or decision rule that
   prompting alone fails to enforce? Then fine-tune *behaviour* (a LoRA adapter) on top. A
   purely syntactic need (valid JSON of a schema) is met more cheaply by constrained decoding;
   classification, routing and tagging by a small purpose-built or fine-tuned classifier.
   Where prompting holds the behaviour (or the labels) at a price, the costs decide.
4. :func:`~ragtune.decision.reading.traps`: *fine-tuning for knowledge* and *RAG / prompting
   for behaviour* are warned of.
5. :func:`parts`: the building blocks of the seed's combined pattern this workload needs.
6. :func:`confidence`: how sure the recommendation is, and the shortfalls that lower it.

The write-up around the decision (headline, what to try first, alternatives, consequences,
Lab modes) is :mod:`ragtune.decision.advice`; the cost section :mod:`ragtune.decision.costs`.
No Streamlit, no I/O.

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
    MIN_EXAMPLES_BEHAVIOUR,
    MIN_EXAMPLES_RULES,
    Frequency,
    PromptingStatus,
    TaskKind,
    WizardAnswers,
)
from ragtune.decision.costs import cost_section, payback, pays_back, prompt_assumption_inline
from ragtune.decision.economics import CostComparison, answer_costs, money, prompt_tokens
from ragtune.decision.questions import quoted as _q
from ragtune.decision.reading import Reading, quote_symptom, read_answers, trap_symptoms, traps
from ragtune.decision.recommendation import Finding, Outcome, Part, PartChoice, Recommendation

__all__ = ["recommend", "trap_symptoms"]


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
    acts = behaviour(a, reading, known.needed, costs)
    trapped = traps(a, reading, prompt_kept=acts.no_payback)
    build = parts(a, known, acts)
    sure = confidence(a, reading, known, acts)
    outcome = outcome_of(build.choices)
    modes, recommended_mode = lab_modes(build.choices, a.bake, acts)
    section = cost_section(a, build.choices, acts, costs)
    return Recommendation(
        outcome=outcome,
        headline=headline(outcome, build.choices, acts.words),
        parts=build.choices,
        confidence=sure.score,
        confidence_level=sure.level,
        rationale=[known.rationale, *trapped.rationale, acts.rationale, *build.rationale,
                   *sure.rationale],
        warnings=[*reading.contradictions, *trapped.findings, *acts.warnings, *sure.warnings],
        try_first=try_first(a, build.choices, acts, sure.examples_needed),
        alternatives=alternatives(outcome, a, known.needed, acts, costs),
        consequences=consequences(a, build.choices, section, acts.words),
        lab_modes=modes,
        recommended_mode=recommended_mode,
        examples_needed=sure.examples_needed,
        costs=section,
    )


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


# --- 3. Q2: behaviour -------------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """Q2's answer: what must be enforced, what enforces it, and why.

    ``classify`` says the task is labelling; ``classifier`` that a classifier is built for it.
    ``by_cost``: the adapter or classifier was chosen because it pays back in time;
    ``no_payback``: it was weighed on cost (``weighed`` says which) and the prompt kept.
    """

    classify: bool
    need: bool
    syntactic: bool
    prompting: PromptingStatus
    words: str
    quotes: list[str]
    adapter: bool = False
    classifier: bool = False
    constrained: bool = False
    untested: bool = False
    by_cost: bool = False
    no_payback: bool = False
    weighed: Literal["adapter", "classifier"] | None = None
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
        quotes=[_q(a, f) for f in reading.behaviour_fields]
        + [quote_symptom(a, f) for f in symptoms])
    if base.classify:
        if base.prompting == PromptingStatus.WORKS and not symptoms:
            return _weigh(a, base, costs, "classifier")
        return replace(base, classifier=True, rationale=(
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
        return _weigh(a, base, costs, "adapter")
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


def _weigh(a: WizardAnswers, base: Behaviour, costs: CostComparison,
           tuned: Literal["adapter", "classifier"]) -> Behaviour:
    """Prompting holds the behaviour (or the labels) at a price: tune only if it pays back."""
    tokens, assumed = prompt_tokens(a)
    note = f" ({prompt_assumption_inline(tokens)})" if assumed else ""
    if tuned == "adapter":
        held = "prompting holds it, but at a price (" + "; ".join(base.quotes) + ")"
        name, kept = "An adapter that bakes the prompt in", "keep the prompt (with caching)"
    else:
        held = f"you said {_q(a, 'task')} and {_q(a, 'prompting')}"
        name, kept = "A small fine-tuned classifier", "keep the prompted model"
    if pays_back(costs):
        return replace(base, **{tuned: True}, by_cost=True, rationale=(
            f"Q2, behaviour: {held}. {name} {payback(costs)}{note}: fine-tune to cut the "
            "token cost of the prompt."))
    return replace(base, no_payback=True, weighed=tuned, rationale=(
        f"Q2, behaviour: {held}, and at your volume {name[0].lower() + name[1:]} "
        f"{payback(costs)}{note}: {kept} for now."), warnings=[Finding(
            code="no_payback",
            title=("An adapter" if tuned == "adapter" else "A classifier")
            + " does not pay for itself here",
            message=f"{name} saves {money(costs.monthly_savings)} a month against "
                    f"{money(a.training_cost)} per training run: it {payback(costs)}. "
                    "Revisit when volume grows or prompting starts failing.",
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
    if acts.classifier:
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
    if (not acts.adapter and not acts.classifier
            and (acts.need or acts.no_payback or not known.needed)):
        does, detail = _prompt_words(acts)
        choices.append(PartChoice(part=Part.PROMPT, role="instructions", does=does,
                                  detail=detail, because=acts.quotes))
    return Parts(choices, rationale)


def _prompt_words(acts: Behaviour) -> tuple[str, str]:
    """What the prompt carries, in words that agree with what to try first."""
    if acts.constrained:
        # The grammar holds the format: the examples that held it go (see try_first).
        return ("A short prompt carries the instructions; the grammar, not examples, holds "
                "the format.", "instructions only")
    if acts.weighed == "classifier":
        return ("A prompted model assigns your labels, as it reliably does today.",
                "your current prompt")
    if acts.no_payback:
        return (f"Your current prompt carries {acts.words}, served from the prompt cache.",
                "your current prompt")
    if acts.need:
        return (f"A clear prompt with a few examples carries {acts.words}.",
                "instructions, a few examples")
    return "A clear prompt carries the instructions.", "instructions"


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
    if acts.adapter or acts.classifier or a.routing:
        # Routing among a handful of routes needs a few hundred labels; a taxonomy needs more.
        examples_needed = (MIN_EXAMPLES_RULES if (a.rules or acts.classifier)
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
    score = round(min(0.95, max(0.2, score)), 2)
    level: Literal["high", "medium", "low"] = (
        "high" if score >= 0.75 else "medium" if score >= 0.5 else "low")
    return Confidence(score, level, examples_needed, warnings, rationale)
