"""The decision wizard's economics: a long prompt paid on every request vs an adapter paid once.

The *prompt approach* sends the system prompt and few-shot examples with every request
(the "tax" of the seed's RAG-for-behaviour trap). The *adapter approach* trains a LoRA once,
retrains it whenever what it holds changes, and sends only a short residual prompt. Both send
the same user query, retrieved passages and answer tokens, so those appear in both totals.

All figures are in US dollars; a month is :data:`DAYS_PER_MONTH` days. The defaults are the
seed's reference points (a 6,000-token prompt, 500 examples, a $20-$200 LoRA), not answers.

The records of the result's cost section (:class:`CostSection`: the options weighed, the
verdict, the assumptions) live here too; :mod:`ragtune.decision.costs` fills them.

Examples:
    >>> costs = compare_costs(CostInputs(requests_per_day=1000, prompt_tokens=6000))
    >>> costs.break_even_month
    1
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.decision.answers import WizardAnswers, retry_pct

DAYS_PER_MONTH = 30
"""A month in this cost model: round on purpose, so a stakeholder can redo the sums."""

MAX_BREAK_EVEN_MONTHS = 120
"""How far the break-even search looks; beyond ten years we say "does not pay back"."""

PER_MILLION = 1_000_000

Dollars = Annotated[float, Field(ge=0.0, le=1e9)]
PricePerMillion = Annotated[float, Field(ge=0.0, le=10_000.0)]
Tokens = Annotated[int, Field(ge=0, le=10_000_000)]

REFERENCE_PROMPT_TOKENS = 6000
"""The seed's reference prompt (system prompt + few-shot), used when the team gave no size."""


def money(value: float) -> str:
    """Dollars, with cents only for small amounts."""
    return f"${value:,.0f}" if abs(value) >= 100 else f"${value:,.2f}"


class CostInputs(BaseModel):
    """What the cost comparison needs; every figure validated to a sane range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_day: int = Field(default=1000, ge=0, le=1_000_000_000)
    prompt_tokens: Tokens = Field(
        default=6000, description="System prompt + few-shot tokens sent with every request."
    )
    adapter_prompt_tokens: Tokens = Field(
        default=200, description="The short instruction still sent when the adapter holds the rest."
    )
    context_tokens: Tokens = Field(
        default=500, description="User query + retrieved passages per request (same either way)."
    )
    answer_tokens: Tokens = Field(default=300, description="Expected answer tokens per request.")
    price_input_per_m: PricePerMillion = 3.0
    price_output_per_m: PricePerMillion = 15.0
    adapter_price_input_per_m: PricePerMillion | None = Field(
        default=None, description="Price of the model serving the adapter; None = same as above."
    )
    adapter_price_output_per_m: PricePerMillion | None = None
    cache_discount: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Share of the price saved on cached prompt tokens."
    )
    training_cost: Dollars = Field(
        default=200.0, description="One LoRA training run, including curating its data."
    )
    adapter_hosting_per_month: Dollars = 0.0
    retrains_per_year: float = Field(
        default=1.0, ge=0.0, le=365.0, description="How often the adapter must be retrained."
    )
    prompt_retry_rate: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of prompt-approach requests retried."
    )
    horizon_months: int = Field(default=24, ge=1, le=MAX_BREAK_EVEN_MONTHS)


class Crossing(BaseModel):
    """Where the two cumulative cost lines meet (month may be fractional)."""

    month: float
    cost: float


class CostComparison(BaseModel):
    """Monthly and cumulative cost of both approaches, and when the adapter pays back."""

    inputs: CostInputs
    prompt_cost_per_request: float
    adapter_cost_per_request: float
    prompt_monthly: float = Field(description="Prompt approach, inference per month.")
    adapter_monthly: float = Field(description="Adapter approach, inference + hosting per month.")
    adapter_upfront: float = Field(description="The first training run, paid at month 0.")
    retraining_per_year: float = Field(description="Retraining spend per year.")
    monthly_savings: float = Field(description="prompt_monthly - adapter_monthly (may be < 0).")
    tokens_saved_per_month: int
    break_even_month: int | None = Field(
        description="First whole month from which the adapter's running total stays at or "
        f"below the prompt's; None if not within {MAX_BREAK_EVEN_MONTHS} months."
    )
    crossing: Crossing | None
    months: list[int]
    prompt_cumulative: list[float]
    adapter_cumulative: list[float]


def prompt_tokens(answers: WizardAnswers) -> tuple[int, bool]:
    """The prompt sent with every request, and whether it is assumed (the seed's reference)."""
    if answers.prompt_tokens is None:
        return REFERENCE_PROMPT_TOKENS, True
    return answers.prompt_tokens, False


def residual_prompt_tokens(answers: WizardAnswers) -> int:
    """The prompt still sent once an adapter or a grammar holds the behaviour.

    Never more than the prompt sent today: an adapter does not lengthen a short prompt.
    """
    return min(answers.adapter_tokens, prompt_tokens(answers)[0])


OptionKind = Literal["prompt", "adapter", "classifier", "constrained", "router"]


class CostOption(BaseModel):
    """One option the recommendation weighs, priced on the team's answers."""

    model_config = ConfigDict(frozen=True)

    kind: OptionKind
    label: str = Field(description="As the cost section names it, e.g. 'RAG + LoRA adapter'.")
    role: Literal["recommended", "alternative", "added"] = Field(
        description="The option recommended, one weighed against it, or a part added to it.")
    note: str = Field(description="What it is and why it is (or is not) the one to build.")
    prompt_tokens: int | None = Field(
        default=None, description="Prompt tokens sent with every request (None: not modelled).")
    retry_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    cost_per_request: float | None = None
    monthly: float | None = Field(default=None, description="Inference + hosting per month.")
    upfront: float = Field(default=0.0, description="Training runs paid before the first request.")
    retraining_per_year: float = 0.0


class Assumption(BaseModel):
    """A figure the costs use that the team did not give, and how to give it."""

    model_config = ConfigDict(frozen=True)

    fields: list[str] = Field(description="The WizardAnswers fields it stands in for.")
    text: str


class CostSection(BaseModel):
    """The costs as the result shows them: only the options weighed, with a verdict that
    agrees with the recommendation and every assumption labelled."""

    title: str
    options: list[CostOption]
    break_even: CostComparison | None = Field(
        description="The tuned option (adapter or classifier) against the prompt; only where "
                    "one is on the table.")
    tuned: Literal["adapter", "classifier"] | None = None
    basis: Literal["cost", "need"] = Field(
        description="'cost': the costs decided between the options; 'need': the answers did, "
                    "and the costs are what that choice takes.")
    verdict: str
    assumptions: list[Assumption]
    given: list[str] = Field(default_factory=list,
                             description="The figures the team gave, as the record quotes them.")
    horizon_months: int

    @property
    def recommended(self) -> CostOption:
        return next(o for o in self.options if o.role == "recommended")

    def option(self, kind: OptionKind) -> CostOption | None:
        return next((o for o in self.options if o.kind == kind), None)


def cost_inputs(answers: WizardAnswers) -> CostInputs:
    """The economics inputs implied by the answers.

    With no prompt size, the seed's reference prompt; with retries but no share given,
    :data:`~ragtune.decision.answers.ASSUMED_RETRY_PCT` (both labelled as assumed downstream).
    """
    a = answers
    return CostInputs(
        requests_per_day=a.requests_per_day,
        prompt_tokens=prompt_tokens(a)[0],
        adapter_prompt_tokens=residual_prompt_tokens(a),
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
        prompt_retry_rate=retry_pct(a)[0] / 100,
        horizon_months=a.horizon,
    )


def answer_costs(answers: WizardAnswers) -> CostComparison:
    """The cost comparison for the wizard's answers (:func:`compare_costs` of their inputs)."""
    return compare_costs(cost_inputs(answers))


def request_cost(
    *, static_tokens: int, context_tokens: int, answer_tokens: int,
    price_in: float, price_out: float, cache_discount: float,
) -> float:
    """Dollars for one request: a cached static prompt, fresh context, and the answer."""
    # The static prefix is the same on every request, so a prompt cache serves it at a discount;
    # the query and retrieved passages change every time and pay full price.
    static = static_tokens * price_in * (1.0 - cache_discount)
    fresh = context_tokens * price_in
    return (static + fresh + answer_tokens * price_out) / PER_MILLION


def _cumulative(inputs: CostInputs, prompt_monthly: float, adapter_monthly: float, month: int
                ) -> tuple[float, float]:
    retrains = math.floor(month * inputs.retrains_per_year / 12 + 1e-9)
    adapter = inputs.training_cost * (1 + retrains) + adapter_monthly * month
    return prompt_monthly * month, adapter


def compare_costs(inputs: CostInputs) -> CostComparison:
    """Monthly cost of the prompt approach vs the adapter approach, and the break-even month.

    The chart horizon grows past ``inputs.horizon_months`` when needed to show the crossing.

    Examples:
        >>> c = compare_costs(CostInputs(requests_per_day=0))
        >>> c.break_even_month is None
        True
    """
    price_in = inputs.price_input_per_m
    price_out = inputs.price_output_per_m
    a_in = (price_in if inputs.adapter_price_input_per_m is None
            else inputs.adapter_price_input_per_m)
    a_out = (price_out if inputs.adapter_price_output_per_m is None
             else inputs.adapter_price_output_per_m)

    prompt_request = request_cost(
        static_tokens=inputs.prompt_tokens, context_tokens=inputs.context_tokens,
        answer_tokens=inputs.answer_tokens, price_in=price_in, price_out=price_out,
        cache_discount=inputs.cache_discount,
    ) * (1.0 + inputs.prompt_retry_rate)
    adapter_request = request_cost(
        static_tokens=inputs.adapter_prompt_tokens, context_tokens=inputs.context_tokens,
        answer_tokens=inputs.answer_tokens, price_in=a_in, price_out=a_out,
        cache_discount=inputs.cache_discount,
    )
    requests_per_month = inputs.requests_per_day * DAYS_PER_MONTH
    prompt_monthly = prompt_request * requests_per_month
    adapter_monthly = adapter_request * requests_per_month + inputs.adapter_hosting_per_month

    break_even, crossing = _break_even(inputs, prompt_monthly, adapter_monthly)

    horizon = inputs.horizon_months
    if break_even is not None and break_even > horizon:
        horizon = min(MAX_BREAK_EVEN_MONTHS, break_even + max(2, break_even // 5))
    months = list(range(horizon + 1))
    series = [_cumulative(inputs, prompt_monthly, adapter_monthly, m) for m in months]

    saved_tokens = max(0, inputs.prompt_tokens - inputs.adapter_prompt_tokens)
    return CostComparison(
        inputs=inputs,
        prompt_cost_per_request=prompt_request,
        adapter_cost_per_request=adapter_request,
        prompt_monthly=prompt_monthly,
        adapter_monthly=adapter_monthly,
        adapter_upfront=inputs.training_cost,
        retraining_per_year=inputs.training_cost * inputs.retrains_per_year,
        monthly_savings=prompt_monthly - adapter_monthly,
        tokens_saved_per_month=saved_tokens * requests_per_month,
        break_even_month=break_even,
        crossing=crossing,
        months=months,
        prompt_cumulative=[p for p, _ in series],
        adapter_cumulative=[a for _, a in series],
    )


def _break_even(inputs: CostInputs, prompt_monthly: float, adapter_monthly: float
                ) -> tuple[int | None, Crossing | None]:
    """The first month from which the adapter's running total stays at or below the prompt's.

    "Stays" matters: a retraining run can push the adapter back above the prompt for a while,
    so the first touch of the two lines is not yet a break-even.
    """
    yearly_gain = ((prompt_monthly - adapter_monthly) * 12
                   - inputs.training_cost * inputs.retrains_per_year)
    if prompt_monthly <= 0 or yearly_gain < 0:
        return None, None
    # Past the window, a positive yearly gain only widens the gap; two windows make sure a
    # retraining step near its end is seen.
    totals = [_cumulative(inputs, prompt_monthly, adapter_monthly, m)
              for m in range(2 * MAX_BREAK_EVEN_MONTHS + 1)]
    last_above = max((m for m, (p, a) in enumerate(totals) if a > p), default=-1)
    month = last_above + 1
    if month > MAX_BREAK_EVEN_MONTHS:
        return None, None
    if month == 0:
        month = 1  # nothing to train: cheaper from the first month
        return month, Crossing(month=0.0, cost=0.0)
    return month, _interpolate(month, totals[month - 1], totals[month])


def _interpolate(month: int, before: tuple[float, float], after: tuple[float, float]) -> Crossing:
    """The crossing of two straight segments between ``month - 1`` and ``month``."""
    gap_before = before[1] - before[0]
    gap_after = after[1] - after[0]
    if gap_before <= 0 or gap_before == gap_after:
        return Crossing(month=float(month), cost=after[0])
    share = gap_before / (gap_before - gap_after)
    # A retraining step inside the month makes the adapter line jump; the straight segment is
    # still the honest picture of "somewhere in this month".
    share = min(1.0, max(0.0, share))
    return Crossing(
        month=month - 1 + share,
        cost=before[0] + share * (after[0] - before[0]),
    )

