"""The decision wizard's logic: a team's answers in, a recommendation they can defend out.

The method is the seed's two-question funnel, refined by its workload signatures and traps:

* **Q1** — does the answer depend on facts the model lacks, that change, differ per user or
  must be cited? Then RAG is mandatory: knowledge lives in retrieval.
* **Q2** — must the response follow a format, tone or decision rule that prompting alone fails
  to enforce? Then fine-tune *behaviour* (a LoRA adapter) on top. A purely syntactic need
  (valid JSON of a schema) is met more cheaply by constrained decoding; classification,
  routing and tagging by a small purpose-built or fine-tuned classifier.
* **Traps** — *fine-tuning for knowledge* (a plan to bake documents into weights) and *RAG /
  prompting for behaviour* (a prompt over 4,000 tokens, twenty examples to hold a format,
  retries on format failures, post-processing that repairs output) are detected and warned.

Everything here is pure: pydantic models in, pydantic models out, no Streamlit, no I/O.
The wizard's state round-trips through URL query parameters (:func:`answers_from_params`,
:func:`answers_to_params`) so a stakeholder link reproduces a decision.

Examples:
    >>> rec = recommend(WizardAnswers(cite=True))
    >>> rec.outcome
    <Outcome.RAG: 'rag'>
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ragtune.decision_economics import CostComparison, CostInputs, compare_costs
from ragtune.errors import InputError


class StrEnum(str, Enum):
    """A string enum whose ``str()`` is its value (Python 3.10 has no enum.StrEnum)."""

    def __str__(self) -> str:
        return self.value


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------


class TaskKind(StrEnum):
    ANSWER = "answer"
    WRITE = "write"
    EXTRACT = "extract"
    CLASSIFY = "classify"


class Frequency(StrEnum):
    NEVER = "never"
    YEARLY = "yearly"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"
    WEEKLY = "weekly"
    DAILY = "daily"

    @property
    def per_year(self) -> float:
        return _PER_YEAR[self]


_PER_YEAR = {
    Frequency.NEVER: 0.0, Frequency.YEARLY: 1.0, Frequency.QUARTERLY: 4.0,
    Frequency.MONTHLY: 12.0, Frequency.WEEKLY: 52.0, Frequency.DAILY: 365.0,
}


class PromptingStatus(StrEnum):
    UNTRIED = "untried"
    WORKS = "works"
    FAILS = "fails"


LONG_PROMPT_TOKENS = 4000
"""The seed's first symptom of the RAG-for-behaviour trap: system prompts longer than this."""

MANY_FEW_SHOT = 20
"""The seed's second symptom: twenty examples in the prompt just to hold the format."""

REFERENCE_PROMPT_TOKENS = 6000
"""The seed's reference prompt (system prompt + few-shot), used when the team gave no size."""

MIN_EXAMPLES_BEHAVIOUR = 200
"""The seed: 200-2,000 examples are usually enough for style, format and tone."""

MIN_EXAMPLES_RULES = 1000
"""The seed: 1,000-10,000 examples for decision rules and new task formats (and classifiers)."""


class WizardAnswers(BaseModel):
    """Every answer the wizard collects; the defaults are "not checked" and the seed's figures.

    Field names are also the URL query-parameter names.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Step 1: the workload
    name: str = Field(default="", max_length=80)
    task: TaskKind = TaskKind.ANSWER
    routing: bool = False
    # Step 2: knowledge (Q1)
    facts: bool = False
    change: Frequency = Frequency.NEVER
    per_user: bool = False
    cite: bool = False
    bake: bool = False
    # Step 3: behaviour (Q2)
    strict_format: bool = False
    syntax_only: bool = False
    tone: bool = False
    rules: bool = False
    prompting: PromptingStatus = PromptingStatus.UNTRIED
    # Step 4: the current prompt (symptoms of the RAG-for-behaviour trap)
    prompt_tokens: int | None = Field(default=None, ge=0, le=1_000_000)
    few_shot: int = Field(default=0, ge=0, le=100_000)
    retries: bool = False
    post_processing: bool = False
    # Step 5: volume and prices (the economics)
    requests_per_day: int = Field(default=1000, ge=0, le=1_000_000_000)
    context_tokens: int = Field(default=500, ge=0, le=1_000_000)
    answer_tokens: int = Field(default=300, ge=1, le=1_000_000)
    price_in: float = Field(default=3.0, ge=0.0, le=10_000.0)
    price_out: float = Field(default=15.0, ge=0.0, le=10_000.0)
    cache_pct: int = Field(default=50, ge=0, le=100)
    training_cost: float = Field(default=200.0, ge=0.0, le=10_000_000.0)
    examples: int = Field(default=500, ge=0, le=100_000_000)
    spec_change: Frequency = Frequency.YEARLY
    adapter_tokens: int = Field(default=200, ge=0, le=1_000_000)
    adapter_price_in: float | None = Field(default=None, ge=0.0, le=10_000.0)
    adapter_price_out: float | None = Field(default=None, ge=0.0, le=10_000.0)
    hosting: float = Field(default=0.0, ge=0.0, le=10_000_000.0)
    retry_pct: int = Field(default=0, ge=0, le=100)
    horizon: int = Field(default=24, ge=1, le=120)

    @field_validator("name", mode="before")
    @classmethod
    def _clean_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            # Printable text only: the name ends up in a Markdown heading and a file.
            value = re.sub(r"[\x00-\x1f\x7f#<>`]", "", value).strip()
        return value

    @field_validator("price_in", "price_out", "training_cost", "hosting",
                     "adapter_price_in", "adapter_price_out")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


# --------------------------------------------------------------------------------------------
# Questions: the wizard's steps as data, so the page renders them generically
# --------------------------------------------------------------------------------------------


class Question(BaseModel):
    """One wizard input: how to ask it and how to quote the answer back."""

    model_config = ConfigDict(frozen=True)

    id: str
    step: int
    kind: Literal["bool", "choice", "int", "float", "text"]
    label: str
    help: str = ""
    options: dict[str, str] = Field(default_factory=dict)
    min_value: float | None = None
    max_value: float | None = None
    max_chars: int | None = None
    unit: str = ""
    advanced: bool = False
    optional: bool = False


class Step(BaseModel):
    number: int
    title: str
    intro: str


STEPS: tuple[Step, ...] = (
    Step(number=1, title="Your workload",
         intro="What the model does for your users, in one or two answers."),
    Step(number=2, title="Knowledge",
         intro="Q1 of the funnel: does the answer depend on facts that change, differ per user "
               "or must be cited? Tick every statement that is true of your workload."),
    Step(number=3, title="Behaviour",
         intro="Q2 of the funnel: must the response follow a format, tone or decision rule "
               "that prompting alone fails to enforce?"),
    Step(number=4, title="Your current prompt",
         intro="The symptoms of paying for behaviour with prompt tokens. Leave empty what you "
               "do not have yet."),
    Step(number=5, title="Volume and prices",
         intro="For the cost of a long prompt on every request versus an adapter trained once. "
               "The defaults are reference points; put in your own numbers."),
)
RESULT_STEP = len(STEPS) + 1

_FREQUENCY_LABELS = {
    "never": "Never / no such knowledge", "yearly": "Yearly", "quarterly": "Quarterly",
    "monthly": "Monthly", "weekly": "Weekly", "daily": "Daily",
}

_QUESTIONS: tuple[Question, ...] = (
    Question(id="name", step=1, kind="text", label="Workload name (for the decision record)",
             help="For example: support assistant, contract review.", max_chars=80),
    Question(id="task", step=1, kind="choice", label="What does the model mainly produce?",
             options={
                 "answer": "Answers to questions or chat (assistant, Q&A, support)",
                 "write": "Written text (emails, summaries, reports)",
                 "extract": "Structured data extracted from input (fields, JSON)",
                 "classify": "Labels: classify, route or tag into fixed categories",
             }),
    Question(id="routing", step=1, kind="bool",
             label="Queries must first be routed to different handlers "
                   "(an intent classifier picks the route).",
             help="For example: simple questions, document questions and tool use go "
                  "different ways."),
    Question(id="facts", step=2, kind="bool",
             label="Answers depend on facts the model does not know: our documents, "
                   "products, data."),
    Question(id="change", step=2, kind="choice", label="How often does that knowledge change?",
             options=_FREQUENCY_LABELS),
    Question(id="per_user", step=2, kind="bool",
             label="Different users see different facts (multi-tenant data, permissions)."),
    Question(id="cite", step=2, kind="bool",
             label="Answers must cite their sources, or we must audit which source "
                   "informed each answer."),
    Question(id="bake", step=2, kind="bool",
             label="We plan to fine-tune the model on our document collection so it answers "
                   "without retrieval."),
    Question(id="strict_format", step=3, kind="bool",
             label="Every response must follow a strict format (a JSON schema, a ticket "
                   "template, a citation style)."),
    Question(id="syntax_only", step=3, kind="bool",
             label="That format is purely syntactic: valid JSON of a known schema, nothing "
                   "about wording or judgement."),
    Question(id="tone", step=3, kind="bool",
             label="Responses must sound like our brand voice or a domain style."),
    Question(id="rules", step=3, kind="bool",
             label="Responses must apply our own decision rules or taxonomy "
                   "(e.g. our 47 ticket categories, our clause taxonomy)."),
    Question(id="prompting", step=3, kind="choice",
             label="Have you tried enforcing this with prompting alone?",
             options={
                 "untried": "Not tried yet",
                 "works": "Yes: prompting enforces it reliably",
                 "fails": "Yes: prompting alone fails to enforce it reliably",
             }),
    Question(id="prompt_tokens", step=4, kind="int", optional=True, unit="tokens",
             label="System prompt and few-shot tokens sent with every request",
             help="Empty if you have no prompt yet; the costs then use the 6,000-token reference."),
    Question(id="few_shot", step=4, kind="int", unit="examples",
             label="Examples in the prompt just to get the format right"),
    Question(id="retries", step=4, kind="bool",
             label="Format failures are frequent enough that we retry requests."),
    Question(id="post_processing", step=4, kind="bool",
             label="We post-process the output to fix what the model got wrong "
                   "(repair JSON, strip text, re-label)."),
    Question(id="requests_per_day", step=5, kind="int", unit="requests/day",
             label="Requests per day"),
    Question(id="context_tokens", step=5, kind="int", unit="tokens",
             label="Query and retrieved-passage tokens per request (the same either way)"),
    Question(id="answer_tokens", step=5, kind="int", unit="tokens",
             label="Expected answer tokens per request"),
    Question(id="price_in", step=5, kind="float", unit="$ per 1M",
             label="Price per 1M input tokens ($)"),
    Question(id="price_out", step=5, kind="float", unit="$ per 1M",
             label="Price per 1M output tokens ($)"),
    Question(id="cache_pct", step=5, kind="int", unit="%",
             label="Prompt-cache discount on the repeated prompt (%)",
             help="The share of the input price saved on cached prompt tokens (0 = no cache)."),
    Question(id="training_cost", step=5, kind="float", unit="$",
             label="Cost of one LoRA training run, including curating the data ($)",
             help="The seed's range: $20-$2,000 on managed providers."),
    Question(id="examples", step=5, kind="int", unit="examples",
             label="Training examples available (input and ideal output pairs)",
             help="The seed: 200-2,000 for format and tone, 1,000-10,000 for decision rules."),
    Question(id="spec_change", step=5, kind="choice",
             label="How often does the format, tone or rule set change? (each change = a retrain)",
             options={k: v for k, v in _FREQUENCY_LABELS.items()} | {"never": "Never"}),
    Question(id="adapter_tokens", step=5, kind="int", advanced=True, unit="tokens",
             label="Prompt tokens still sent with the adapter"),
    Question(id="adapter_price_in", step=5, kind="float", advanced=True, optional=True,
             unit="$ per 1M",
             label="Adapter model: price per 1M input tokens ($), empty = same as above",
             help="A small fine-tuned model is often far cheaper than the prompted one."),
    Question(id="adapter_price_out", step=5, kind="float", advanced=True, optional=True,
             unit="$ per 1M",
             label="Adapter model: price per 1M output tokens ($), empty = same as above"),
    Question(id="hosting", step=5, kind="float", advanced=True, unit="$/month",
             label="Adapter hosting per month ($)"),
    Question(id="retry_pct", step=5, kind="int", advanced=True, unit="%",
             label="Requests retried today because of format failures (%)"),
    Question(id="horizon", step=5, kind="int", advanced=True, unit="months",
             label="Months to chart"),
)


def _with_bounds(question: Question) -> Question:
    """Fill a numeric question's min/max from the WizardAnswers field: one source of truth."""
    if question.kind not in ("int", "float"):
        return question
    low = high = None
    for item in WizardAnswers.model_fields[question.id].metadata:
        if isinstance(item, Ge):
            low = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, Le):
            high = float(item.le)  # type: ignore[arg-type]
    return question.model_copy(update={"min_value": low, "max_value": high})


QUESTIONS: tuple[Question, ...] = tuple(_with_bounds(q) for q in _QUESTIONS)
"""Every wizard input in display order; one per :class:`WizardAnswers` field."""
QUESTIONS_BY_ID: dict[str, Question] = {q.id: q for q in QUESTIONS}


def questions_for_step(step: int) -> list[Question]:
    """The questions of one wizard step, in display order."""
    return [q for q in QUESTIONS if q.step == step]


def quote(answers: WizardAnswers, field: str) -> str:
    """An answer as the rationale quotes it: the statement ticked, or "label: value"."""
    question = QUESTIONS_BY_ID[field]
    value = getattr(answers, field)
    if question.kind == "bool":
        return question.label
    if question.kind == "choice":
        return f"{question.label} {question.options[str(value)]}"
    if value is None:
        return f"{question.label}: not given"
    if isinstance(value, float):
        return f"{question.label}: {value:,.2f}"
    if isinstance(value, int):
        return f"{question.label}: {value:,}"
    return f"{question.label}: {value}"


def _q(answers: WizardAnswers, field: str) -> str:
    return f"“{quote(answers, field)}”"


# --------------------------------------------------------------------------------------------
# The recommendation
# --------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    RAG = "rag"
    FINE_TUNE = "fine_tune"
    HYBRID = "hybrid"
    PROMPTING = "prompting"
    CLASSIFIER = "classifier"
    CONSTRAINED_DECODING = "constrained_decoding"


class Part(StrEnum):
    """A building block of the architecture the seed's combined pattern draws."""

    ROUTER = "router"
    RAG = "rag"
    CLASSIFIER = "classifier"
    ADAPTER = "adapter"
    CONSTRAINED = "constrained"
    PROMPT = "prompt"


class PartChoice(BaseModel):
    """One part to build, which job it does, and the answers that called for it."""

    part: Part
    role: Literal["knowledge", "behaviour", "routing", "labels", "format", "instructions"]
    does: str
    detail: str = Field(default="", description="What it holds, in a few words (for diagrams).")
    because: list[str] = Field(default_factory=list)


class Finding(BaseModel):
    """A warning shown with the recommendation: a trap, a contradiction, a shortfall."""

    code: Literal[
        "fine_tune_for_knowledge", "rag_for_behaviour", "contradiction", "few_examples",
        "no_payback", "nothing_checked", "untested_prompting",
    ]
    title: str
    message: str
    evidence: list[str] = Field(default_factory=list)


class Alternative(BaseModel):
    option: str
    verdict: Literal["rejected", "fallback", "later", "not needed"]
    reason: str


class Recommendation(BaseModel):
    """What to build, how sure we are, why, what to watch, and what it costs."""

    outcome: Outcome
    headline: str
    parts: list[PartChoice]
    confidence: float = Field(ge=0.0, le=1.0)
    confidence_level: Literal["high", "medium", "low"]
    rationale: list[str]
    warnings: list[Finding]
    try_first: list[str]
    alternatives: list[Alternative]
    consequences: list[str]
    lab_modes: list[str]
    recommended_mode: str
    examples_needed: int | None
    costs: CostComparison

    def has_part(self, part: Part) -> bool:
        return any(p.part == part for p in self.parts)

    def warning_codes(self) -> list[str]:
        return [w.code for w in self.warnings]


LAB_MODES: tuple[str, ...] = (
    "base", "rag", "lora", "rag+lora", "rag+fewshot", "knowledge-lora", "rag+constrained",
)
"""The mode ids the Lab page understands (``?modes=rag,rag+lora``)."""


def cost_inputs(answers: WizardAnswers) -> CostInputs:
    """The economics inputs implied by the answers (the seed's reference prompt if none given)."""
    a = answers
    return CostInputs(
        requests_per_day=a.requests_per_day,
        prompt_tokens=REFERENCE_PROMPT_TOKENS if a.prompt_tokens is None else a.prompt_tokens,
        adapter_prompt_tokens=a.adapter_tokens,
        context_tokens=a.context_tokens,
        answer_tokens=a.answer_tokens,
        price_input_per_m=a.price_in,
        price_output_per_m=a.price_out,
        adapter_price_input_per_m=a.adapter_price_in,
        adapter_price_output_per_m=a.adapter_price_out,
        cache_discount=a.cache_pct / 100,
        training_cost=a.training_cost,
        adapter_hosting_per_month=a.hosting,
        retrains_per_year=a.spec_change.per_year,
        prompt_retry_rate=a.retry_pct / 100,
        horizon_months=a.horizon,
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


def _money(value: float) -> str:
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


def recommend(answers: WizardAnswers) -> Recommendation:
    """Turn the wizard's answers into a recommendation with its reasons, warnings and costs.

    Examples:
        >>> recommend(WizardAnswers()).outcome
        <Outcome.PROMPTING: 'prompting'>
        >>> recommend(WizardAnswers(facts=True, tone=True, prompting="fails")).outcome
        <Outcome.HYBRID: 'hybrid'>
    """
    a = answers
    costs = compare_costs(cost_inputs(a))
    warnings: list[Finding] = []
    rationale: list[str] = []
    confidence = 0.9

    # --- Contradictions: say so, pick the reading the evidence supports, lower confidence.
    reading = _read(a)
    strict_format, syntax_only, tone = reading.strict_format, reading.syntax_only, reading.tone
    prompting, symptoms = reading.prompting, reading.symptoms
    behaviour_fields = [f for f, on in (("strict_format", strict_format), ("tone", tone),
                                        ("rules", a.rules)) if on]
    warnings += reading.contradictions
    confidence -= 0.15 * len(reading.contradictions)

    # --- Q1: knowledge.
    q1_fields = [f for f in ("facts", "per_user", "cite", "bake") if getattr(a, f)]
    if a.change != Frequency.NEVER:
        q1_fields.insert(1, "change")
    q1 = bool(q1_fields)
    if q1:
        rationale.append(
            "Q1, knowledge: yes. You said " + "; ".join(_q(a, f) for f in q1_fields)
            + ". The answer depends on facts the model lacks, that change, differ per user or "
            "must be cited: RAG is mandatory, and the documents stay in retrieval.")
    else:
        rationale.append(
            "Q1, knowledge: no. Nothing you ticked says the answer depends on facts the model "
            "lacks, that change, differ per user or must be cited: no retrieval needed.")

    # --- Trap 1: fine-tuning for knowledge.
    if a.bake:
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
                          f"a year ({_money(yearly)}/year at your training cost).")
        else:
            detail.append("Baked-in knowledge goes stale the day a document changes.")
        detail.append("A model fine-tuned on facts still hallucinates, with more confidence "
                      "and no retrievable source to ground it.")
        warnings.append(Finding(
            code="fine_tune_for_knowledge", title="Trap: fine-tuning for knowledge",
            message=" ".join(detail) + " Keep the documents in retrieval; fine-tune only "
                    "behaviour (citation format, response structure, tone).",
            evidence=evidence))
        rationale.append("You plan to bake the documents into the weights; this recommendation "
                         "keeps them in retrieval instead (see the warning).")

    # --- Trap 2: RAG / prompting for behaviour.
    syntactic = strict_format and syntax_only and not tone and not a.rules
    if symptoms:
        fix = ("Constrained decoding (your format is purely syntactic) or a LoRA adapter "
               "removes that tax." if syntactic else
               f"A LoRA adapter on {MIN_EXAMPLES_BEHAVIOUR}-2,000 examples learns it once and "
               "removes that tax.")
        warnings.append(Finding(
            code="rag_for_behaviour", title="Trap: prompting (or RAG) for behaviour",
            message="You pay, on every request, for prompt tokens, retries or repairs that "
                    "enforce behaviour prompting does not hold reliably: interest forever. " + fix,
            evidence=[_q(a, f) for f in symptoms]))

    # --- Q2: behaviour.
    classify = a.task == TaskKind.CLASSIFY
    behaviour_need = bool(behaviour_fields or symptoms)
    long_prompt = "prompt_tokens" in symptoms or "few_shot" in symptoms
    parts: list[PartChoice] = []
    adapter = constrained = False
    untested = no_payback = False
    # Retries, repairs and few-shot examples are, in the seed's words, about getting the format
    # right; a long prompt alone says only that some behaviour is paid for in tokens.
    format_symptom = bool(set(symptoms) & {"few_shot", "retries", "post_processing"})
    behaviour_words = (_behaviour_words(strict_format or format_symptom, tone, a.rules)
                       or "the behaviour in your prompt")
    behaviour_quotes = [_q(a, f) for f in behaviour_fields + symptoms]

    if classify:
        rationale.append(
            f"Q2, behaviour: you said {_q(a, 'task')}. Classification and tagging belong to "
            "a small purpose-built or fine-tuned classifier, not a prompted general model.")
    elif not behaviour_need:
        rationale.append("Q2, behaviour: no. You ticked no format, tone or decision rule to "
                         "enforce: prompt engineering is enough.")
    elif syntactic:
        constrained = True
        rationale.append(
            f"Q2, behaviour: your only behaviour need is syntactic ({_q(a, 'syntax_only')}). "
            "Constrained decoding guarantees valid output of the schema at generation time, "
            "with no training: cheaper than fine-tuning for the same result.")
    elif prompting == PromptingStatus.FAILS:
        adapter = True
        stated = [_q(a, "prompting")] if a.prompting == PromptingStatus.FAILS else []
        because = behaviour_quotes + stated
        rationale.append(
            "Q2, behaviour: yes. You need " + behaviour_words + " (" + "; ".join(because)
            + ") and prompting alone does not enforce it reliably: fine-tune the behaviour "
            "with a LoRA adapter" + (" on top of the RAG output." if q1 else "."))
    elif long_prompt:
        horizon = a.horizon
        if costs.break_even_month is not None and costs.break_even_month <= horizon:
            adapter = True
            rationale.append(
                "Q2, behaviour: prompting holds it, but at a price ("
                + "; ".join(behaviour_quotes) + ")."
                f" An adapter that bakes the prompt in pays back in month {costs.break_even_month} "
                f"and then saves {_money(costs.monthly_savings)} a month: fine-tune to cut the "
                "token cost of the long prompt.")
        else:
            no_payback = True
            when = ("never within ten years" if costs.break_even_month is None
                    else f"only in month {costs.break_even_month}")
            rationale.append(
                f"Q2, behaviour: the long prompt works, and at your volume an adapter pays back "
                f"{when}: keep the prompt (with caching) for now.")
            warnings.append(Finding(
                code="no_payback", title="An adapter does not pay for itself here",
                message=f"Baking the prompt into an adapter saves {_money(costs.monthly_savings)}"
                        f" a month against {_money(a.training_cost)} per training run; it pays "
                        f"back {when}. Revisit when volume grows or prompting starts failing.",
                evidence=[_q(a, "requests_per_day"), _q(a, "training_cost")]))
    elif prompting == PromptingStatus.UNTRIED:
        untested = True
        rationale.append(
            f"Q2, behaviour: you need {behaviour_words} ({'; '.join(behaviour_quotes)}) but have "
            "not tried prompting yet. Try prompt engineering first; fine-tune if it fails "
            "to hold reliably.")
        warnings.append(Finding(
            code="untested_prompting", title="Prompting not tried yet",
            message="The funnel fine-tunes behaviour only when prompting alone fails. Measure "
                    "the failure rate of a good prompt on real queries before training.",
            evidence=[_q(a, "prompting")]))
    else:
        rationale.append(
            f"Q2, behaviour: you need {behaviour_words}, and you said {_q(a, 'prompting')} with "
            "a prompt of modest size: prompt engineering is enough.")

    # --- The parts to build.
    if q1:
        parts.append(PartChoice(
            part=Part.RAG, role="knowledge",
            does="Retrieves your documents at query time"
                 + (", filtered per user" if a.per_user else "")
                 + (", numbered for citation" if a.cite else "") + ".",
            because=[_q(a, f) for f in q1_fields]))
    if a.routing:
        parts.append(PartChoice(
            part=Part.ROUTER, role="routing",
            does="A small fine-tuned intent classifier picks the route for each query.",
            because=[_q(a, "routing")]))
        rationale.append(f"You said {_q(a, 'routing')}: routing is classification, so a small "
                         "fine-tuned intent classifier picks the route.")
    if classify:
        parts.append(PartChoice(
            part=Part.CLASSIFIER, role="labels",
            does="A small purpose-built or fine-tuned classifier assigns your labels.",
            because=[_q(a, "task")] + ([_q(a, "rules")] if a.rules else [])))
    if adapter:
        parts.append(PartChoice(
            part=Part.ADAPTER, role="behaviour",
            does=f"A LoRA adapter learns {behaviour_words}; it holds no facts.",
            detail=behaviour_words,
            because=behaviour_quotes))
    if constrained:
        parts.append(PartChoice(
            part=Part.CONSTRAINED, role="format",
            does="Constrained decoding (a JSON-schema grammar) makes every output parse.",
            because=[_q(a, "strict_format"), _q(a, "syntax_only")]))
    if not adapter and not classify and (behaviour_need or not q1):
        parts.append(PartChoice(
            part=Part.PROMPT, role="instructions",
            does="A clear prompt with a few examples carries the instructions.",
            because=behaviour_quotes))

    outcome = _outcome(parts)
    tuned = adapter or classify or a.routing
    examples_needed: int | None = None
    if tuned:
        # Routing among a handful of routes needs a few hundred labels; a taxonomy needs more.
        examples_needed = MIN_EXAMPLES_RULES if (a.rules or classify) else MIN_EXAMPLES_BEHAVIOUR
        if a.examples < examples_needed:
            warnings.append(Finding(
                code="few_examples", title="Too few training examples",
                message=f"You have {a.examples:,} examples; the seed's reference is "
                        f"{MIN_EXAMPLES_BEHAVIOUR}-2,000 for format and tone and "
                        f"{MIN_EXAMPLES_RULES:,}-10,000 for decision rules and labels. Curating "
                        "the dataset is the expensive part: budget for it before training.",
                evidence=[_q(a, "examples")]))
            confidence -= 0.1

    nothing = not q1 and not behaviour_need and not classify and not a.routing
    if nothing:
        confidence = min(confidence, 0.6)
        warnings.append(Finding(
            code="nothing_checked", title="Nothing in your answers calls for RAG or fine-tuning",
            message="You ticked no knowledge, behaviour or classification need. A base model "
                    "with a good prompt is the place to start; if your workload has documents, "
                    "formats or labels, go back and tick them.",
        ))
    if untested:
        confidence -= 0.2  # the funnel's Q2 is unanswered until prompting has been tried
    if no_payback:
        confidence -= 0.1
    if classify and a.prompting == PromptingStatus.WORKS and not symptoms:
        confidence -= 0.1
        rationale.append("A prompted model labels well today; a small classifier is the "
                         "cheaper, faster option at volume.")
    confidence = round(min(0.95, max(0.2, confidence)), 2)
    level: Literal["high", "medium", "low"] = (
        "high" if confidence >= 0.75 else "medium" if confidence >= 0.5 else "low")

    modes, recommended_mode = _lab_modes(parts, a.bake, behaviour_need)
    return Recommendation(
        outcome=outcome,
        headline=_headline(outcome, parts, behaviour_words),
        parts=parts,
        confidence=confidence,
        confidence_level=level,
        rationale=rationale,
        warnings=warnings,
        try_first=_try_first(a, parts, untested, examples_needed, behaviour_words),
        alternatives=_alternatives(outcome, a, q1, adapter, constrained, syntactic, classify,
                                   behaviour_need, prompting, behaviour_words),
        consequences=_consequences(a, parts, costs, behaviour_words),
        lab_modes=modes,
        recommended_mode=recommended_mode,
        examples_needed=examples_needed,
        costs=costs,
    )


class _Reading(BaseModel):
    """The answers as the evidence reads them, and the contradictions that were resolved."""

    strict_format: bool
    syntax_only: bool
    tone: bool
    prompting: PromptingStatus
    symptoms: list[str]
    contradictions: list[Finding]


def _read(a: WizardAnswers) -> _Reading:
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
    return _Reading(
        strict_format=strict_format, syntax_only=syntax_only, tone=tone, prompting=prompting,
        symptoms=symptoms,
        contradictions=[Finding(code="contradiction", title="Contradictory answers",
                                message=message, evidence=evidence)
                        for message, evidence in found])


def _behaviour_words(strict_format: bool, tone: bool, rules: bool) -> str:
    words = [w for w, on in (("the format", strict_format), ("the tone", tone),
                             ("the decision rules", rules)) if on]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _outcome(parts: Sequence[PartChoice]) -> Outcome:
    have = {p.part for p in parts}
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


_SHORT_TITLES = {
    Outcome.RAG: "RAG", Outcome.FINE_TUNE: "Fine-tune", Outcome.HYBRID: "Hybrid",
    Outcome.CLASSIFIER: "Classifier", Outcome.CONSTRAINED_DECODING: "Constrained decoding",
    Outcome.PROMPTING: "Prompting",
}

_PART_PHRASES = {
    Part.RAG: "RAG for knowledge",
    Part.ROUTER: "a fine-tuned intent classifier for routing",
    Part.CLASSIFIER: "a small fine-tuned classifier for the labels",
    Part.CONSTRAINED: "constrained decoding for the schema",
}


def _headline(outcome: Outcome, parts: Sequence[PartChoice], behaviour_words: str) -> str:
    phrases = []
    for p in parts:
        if p.part == Part.ADAPTER:
            phrases.append(f"a LoRA adapter for {behaviour_words}")
        elif p.part in _PART_PHRASES:
            phrases.append(_PART_PHRASES[p.part])
    if outcome == Outcome.PROMPTING:
        return "Prompting is enough: a base model with a clear prompt"
    if outcome == Outcome.RAG:
        if any(p.part == Part.CONSTRAINED for p in parts):
            return "RAG with constrained decoding for the schema"
        return "RAG with prompt engineering"
    if outcome == Outcome.CONSTRAINED_DECODING:
        return "Constrained decoding: the schema enforced at generation time, no training"
    return f"{_SHORT_TITLES[outcome]}: " + " + ".join(phrases)


def _lab_modes(parts: Sequence[PartChoice], bake: bool, behaviour_need: bool
               ) -> tuple[list[str], str]:
    have = {p.part for p in parts}
    modes = ["base"]
    if Part.RAG in have:
        modes.append("rag")
        recommended = "rag"
        if Part.ADAPTER in have:
            modes += ["rag+fewshot", "rag+lora"]
            recommended = "rag+lora"
        elif Part.CONSTRAINED in have:
            modes.append("rag+constrained")
            recommended = "rag+constrained"
        elif behaviour_need:
            modes.append("rag+fewshot")
            recommended = "rag+fewshot"
    elif have & {Part.ADAPTER, Part.CLASSIFIER, Part.ROUTER, Part.CONSTRAINED}:
        # The Lab has no constrained-only mode: compare the base model with the LoRA alternative.
        modes.append("lora")
        recommended = "base" if Part.CONSTRAINED in have else "lora"
    else:
        recommended = "base"
    if bake:
        modes.append("knowledge-lora")  # shows the trap side by side with retrieval
    return modes, recommended


def _try_first(a: WizardAnswers, parts: Sequence[PartChoice], untested: bool,
               examples_needed: int | None, behaviour_words: str) -> list[str]:
    have = {p.part for p in parts}
    steps: list[str] = []
    if Part.RAG in have:
        step = ("Index your documents and answer with retrieval and a grounded prompt"
                + (" that numbers the passages for citation" if a.cite else "") + ".")
        if a.per_user:
            step += " Filter retrieval by user or tenant at query time."
        if a.change != Frequency.NEVER:
            step += f" Re-index on every change ({a.change.value}): no retraining."
        steps.append(step)
    if Part.CONSTRAINED in have:
        steps.append("Turn on constrained decoding with your JSON schema, drop the few-shot "
                     "examples that only held the format, and measure format validity.")
    if Part.PROMPT in have and untested:
        steps.append(f"Write a clear prompt for {behaviour_words} with 3-5 examples, and measure "
                     "how often it fails on 50 real queries; fine-tune if failures persist.")
    elif Part.PROMPT in have and Part.CONSTRAINED not in have:
        steps.append("Keep the prompt short and cached; track format failures so you notice "
                     "when prompting stops being enough.")
    if Part.ROUTER in have:
        steps.append("Label a few hundred real queries with their route and train a small "
                     "intent classifier; a prompted router is the baseline to beat.")
    if Part.CLASSIFIER in have:
        steps.append("Measure a prompted model on a labelled test set, then train a small "
                     f"classifier on at least {examples_needed or MIN_EXAMPLES_RULES:,} "
                     "labelled examples and compare.")
    if Part.ADAPTER in have:
        source = (" (the outputs your post-processing repairs are a ready source)"
                  if a.post_processing else "")
        steps.append(f"Collect at least {examples_needed or MIN_EXAMPLES_BEHAVIOUR:,} examples "
                     f"of ideal outputs{source}; train a LoRA on {behaviour_words} only, never "
                     "on the documents, and compare it with the long prompt in the Lab.")
    return steps


def _alternatives(outcome: Outcome, a: WizardAnswers, q1: bool, adapter: bool, constrained: bool,
                  syntactic: bool, classify: bool, behaviour_need: bool,
                  prompting: PromptingStatus, behaviour_words: str) -> list[Alternative]:
    out: list[Alternative] = []
    if q1:
        out.append(Alternative(
            option="Fine-tune the model on the documents", verdict="rejected",
            reason="Knowledge becomes opaque (no citations), stale (retrain on every change) "
                   "and hallucinable. Retrieve for knowledge; fine-tune only behaviour."))
    if outcome != Outcome.PROMPTING:
        if q1:
            why = "the model does not have your facts"
        elif adapter:
            why = f"prompting alone does not reliably enforce {behaviour_words}"
        elif classify:
            why = "a small classifier labels more cheaply and consistently at volume"
        elif constrained:
            why = "a prompt cannot guarantee that every output parses"
        else:
            why = "your answers call for more than a prompt"
        out.append(Alternative(option="Prompting alone", verdict="rejected", reason=why[0].upper()
                               + why[1:] + "."))
    if q1 and adapter:
        out.append(Alternative(
            option="RAG with prompt engineering only", verdict="fallback",
            reason=f"Retrieval supplies facts, not behaviour: you said prompting does not hold "
                   f"{behaviour_words}. It is the baseline the adapter must beat in the Lab."))
    if adapter and a.strict_format and not syntactic:
        out.append(Alternative(
            option="Constrained decoding instead of an adapter", verdict="rejected",
            reason=f"It guarantees syntax only, not {behaviour_words}. Worth adding for the "
                   "schema if the adapter still produces invalid output."))
    if constrained:
        out.append(Alternative(
            option="A LoRA adapter for the format", verdict="fallback",
            reason="It learns the format too, but costs training and a dataset; constrained "
                   "decoding guarantees a syntactic format for free."))
    if not adapter and not constrained and behaviour_need and not classify:
        verdict: Literal["later", "not needed"] = (
            "later" if prompting != PromptingStatus.WORKS else "not needed")
        out.append(Alternative(
            option="A LoRA adapter for behaviour", verdict=verdict,
            reason="Fine-tune when prompting fails to hold the behaviour reliably, or when the "
                   "prompt's token cost outgrows one training run."))
    if not behaviour_need and not classify and outcome in (Outcome.RAG, Outcome.PROMPTING):
        out.append(Alternative(
            option="Fine-tuning for behaviour", verdict="not needed",
            reason="You ticked no format, tone or decision rule that prompting fails to enforce."))
    if not q1:
        out.append(Alternative(
            option="RAG", verdict="not needed",
            reason="No answer depends on facts the model lacks, that change, differ per user or "
                   "must be cited."))
    if not classify and not a.routing:
        out.append(Alternative(
            option="A small classifier", verdict="not needed",
            reason="No classification, routing or tagging step in this workload."))
    return out


def _consequences(a: WizardAnswers, parts: Sequence[PartChoice], costs: CostComparison,
                  behaviour_words: str) -> list[str]:
    have = {p.part for p in parts}
    out: list[str] = []
    if Part.RAG in have:
        out.append("Good: updating knowledge is re-indexing, not retraining"
                   + (f" ({a.change.value} changes)" if a.change != Frequency.NEVER else "") + ".")
        out.append("Good: every answer can show the sources it came from.")
        out.append("Cost: you run and maintain a retrieval index (chunking, embeddings, and "
                   "evaluating retrieval quality).")
    if Part.ADAPTER in have:
        out.append(f"Good: the adapter learns {behaviour_words} once; the prompt shrinks from "
                   f"{costs.inputs.prompt_tokens:,} to {costs.inputs.adapter_prompt_tokens:,} "
                   "tokens per request.")
        out.append(f"Cost: a retraining run at every change of {behaviour_words} "
                   f"({a.spec_change.value}): {_money(costs.retraining_per_year)} a year, plus "
                   "curating the examples.")
    if Part.CONSTRAINED in have:
        out.append("Good: every output parses against the schema.")
        out.append("Cost: the runtime must support grammar or JSON-schema constrained "
                   "decoding (llama.cpp does).")
    if have & {Part.CLASSIFIER, Part.ROUTER}:
        out.append("Good: a small model labels faster and far cheaper than a prompted large one.")
        out.append("Cost: the labelled set must be kept up to date when categories or routes "
                   "change.")
    if Part.PROMPT in have:
        out.append(f"Good: nothing to train. Cost: the prompt is paid on every request "
                   f"({_money(costs.prompt_monthly)} a month at your volume).")
    return out


# --------------------------------------------------------------------------------------------
# URL query parameters: a stakeholder link reproduces the wizard
# --------------------------------------------------------------------------------------------


class ParsedParams(BaseModel):
    """The wizard state read from a URL: answers, the step, and what was ignored and why."""

    answers: WizardAnswers
    step: int
    problems: list[str]


STEP_PARAM = "step"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
MAX_PARAM_CHARS = 200


def _last(value: str | Sequence[str]) -> str:
    if isinstance(value, str):
        return value
    return str(value[-1]) if len(value) else ""


def _decode(question: Question, raw: str) -> Any:
    raw = raw.strip()
    if question.kind == "bool":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected 1 or 0")
    if question.kind in ("int", "float") and raw == "" and question.optional:
        return None
    if question.kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if question.kind == "float":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if question.kind == "choice" and raw not in question.options:
        raise ValueError("expected one of " + ", ".join(question.options))
    return raw


def encode_value(value: Any) -> str:
    """One answer as it appears in the URL."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}" if value == float(f"{value:g}") else repr(value)
    return str(value)


def answers_from_params(params: Mapping[str, str | Sequence[str]]) -> ParsedParams:
    """Read the wizard state from query parameters; bad values are ignored and reported.

    Never raises on user input: an unknown key, a malformed or out-of-range value falls back
    to the default and adds a line to ``problems``.

    Examples:
        >>> parsed = answers_from_params({"cite": "1", "requests_per_day": "lots"})
        >>> parsed.answers.cite, parsed.answers.requests_per_day, len(parsed.problems)
        (True, 1000, 1)
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    step = 1
    for key, raw_value in params.items():
        raw = _last(raw_value)
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        if len(raw) > MAX_PARAM_CHARS:
            problems.append(f"Ignored link parameter {key!r}: value too long.")
            continue
        if key == STEP_PARAM:
            try:
                step = int(raw)
                if not 1 <= step <= RESULT_STEP:
                    raise ValueError
            except ValueError:
                step = 1
                problems.append(f"Ignored link parameter 'step={shown}': expected 1 to "
                                f"{RESULT_STEP}.")
            continue
        question = QUESTIONS_BY_ID.get(key)
        if question is None:
            problems.append(f"Ignored unknown link parameter {key!r}.")
            continue
        try:
            value = _decode(question, raw)
            # Validate the one field on its own so one bad value never discards the rest.
            WizardAnswers.model_validate({key: value})
        except (ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            problems.append(f"Ignored link parameter '{key}={shown}': {reason}.")
            continue
        values[key] = value
    return ParsedParams(answers=WizardAnswers.model_validate(values), step=step,
                        problems=problems)


def answers_to_params(answers: WizardAnswers, step: int | None = None) -> dict[str, str]:
    """The query parameters that reproduce ``answers`` (defaults left out to keep links short)."""
    defaults = WizardAnswers()
    out: dict[str, str] = {}
    if step is not None:
        out[STEP_PARAM] = str(step)
    for field in WizardAnswers.model_fields:
        value = getattr(answers, field)
        if value != getattr(defaults, field):
            out[field] = encode_value(value)
    return out


def lab_query(rec: Recommendation) -> dict[str, str]:
    """Query parameters that open the Lab with the recommendation's modes preselected."""
    return {"modes": ",".join(rec.lab_modes)}


def param_update(field: str, value: Any) -> str | None:
    """One changed answer as its URL value, or None when it is the default (leave it out).

    Raises:
        InputError: the field is unknown or the value is out of range; the message says which.
    """
    if field not in QUESTIONS_BY_ID:
        raise InputError(f"Unknown wizard answer {field!r}.")
    try:
        answers = WizardAnswers.model_validate({field: value})
    except ValidationError as exc:
        label = QUESTIONS_BY_ID[field].label
        raise InputError(f"{label}: {exc.errors()[0]['msg']} (got {value!r}). "
                         "The previous value is kept.") from exc
    checked = getattr(answers, field)
    if checked == getattr(WizardAnswers(), field):
        return None
    return encode_value(checked)
