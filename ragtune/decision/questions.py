"""The wizard's questions and steps as data, so the page renders them generically.

One :class:`Question` per :class:`~ragtune.decision.answers.WizardAnswers` field, in display
order; numeric bounds are read from the answers model, so the two never disagree.
"""

from __future__ import annotations

from typing import Literal

from annotated_types import Ge, Le
from pydantic import BaseModel, ConfigDict, Field

from ragtune.decision.answers import ASSUMED_RETRY_PCT, WizardAnswers


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
         intro="For the costs of the options your answers put on the table: your prompt on every "
               "request, an adapter or classifier trained once, constrained decoding. The "
               "defaults are reference points, and the result labels the ones you keep."),
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
             help="Empty if you do not know: the costs then assume the seed's 6,000-token "
                  "reference and label it as assumed."),
    Question(id="few_shot", step=4, kind="int", unit="examples",
             label="Examples in the prompt just to get the format right"),
    Question(id="retries", step=4, kind="bool",
             label="Format failures are frequent enough that we retry requests."),
    Question(id="retry_pct", step=4, kind="int", optional=True, unit="%",
             label="Requests retried because of format failures (%)",
             help="Empty if you do not know: if you retry, the costs then assume "
                  f"{ASSUMED_RETRY_PCT}% and say so."),
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
             options=_FREQUENCY_LABELS | {"never": "Never"}),
    Question(id="adapter_tokens", step=5, kind="int", advanced=True, unit="tokens",
             label="Prompt tokens still sent once an adapter or a grammar holds the behaviour",
             help="The instructions left when the examples that held the format or tone go."),
    Question(id="adapter_price_in", step=5, kind="float", advanced=True, optional=True,
             unit="$ per 1M",
             label="Adapter model: price per 1M input tokens ($), empty = same as above",
             help="A small fine-tuned model is often far cheaper than the prompted one."),
    Question(id="adapter_price_out", step=5, kind="float", advanced=True, optional=True,
             unit="$ per 1M",
             label="Adapter model: price per 1M output tokens ($), empty = same as above"),
    Question(id="hosting", step=5, kind="float", advanced=True, unit="$/month",
             label="Adapter hosting per month ($)"),
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


def quoted(answers: WizardAnswers, field: str) -> str:
    """:func:`quote` in curly quotes, as the rationale and the warnings cite an answer."""
    return f"“{quote(answers, field)}”"
