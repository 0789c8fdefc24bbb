"""The cost section of a recommendation: the options it weighs, priced, with a verdict that
agrees with it.

Only the options on the table for the outcome are priced: the prompt the team sends today
(with retrieval where RAG is part of the answer), and whichever of an adapter, a small
classifier or constrained decoding holds the behaviour instead. The adapter (or classifier)
break-even is computed only where one is built, or was weighed on cost and set aside. A figure
the team did not give is labelled as assumed, in the page and the record alike.

The verdict says what decided: *cost* (an adapter chosen, or kept out, because of when it
pays back) or *need* (retrieval for facts, a tuned part because prompting fails, a grammar
because a prompt cannot guarantee a parse); with *need*, the costs are what that choice takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ragtune.decision.answers import Frequency, WizardAnswers, retry_pct
from ragtune.decision.economics import (
    DAYS_PER_MONTH,
    MAX_BREAK_EVEN_MONTHS,
    Assumption,
    CostComparison,
    CostOption,
    CostSection,
    OptionKind,
    money,
    prompt_tokens,
    request_cost,
)
from ragtune.decision.recommendation import Part, PartChoice

if TYPE_CHECKING:
    from ragtune.decision.recommend import Behaviour

TUNED_NAMES = {"adapter": "the adapter", "classifier": "a small classifier"}


def prompt_assumption(tokens: int) -> str:
    """The label of an assumed prompt size, the same words in the page, record and rationale."""
    return (f"Assumed: a {tokens:,}-token prompt, the seed's reference point — set yours in "
            "step 4.")


def prompt_assumption_inline(tokens: int) -> str:
    """The same label, short, for a sentence that quotes a figure built on it."""
    return f"with the assumed {tokens:,}-token prompt: set yours in step 4"


def retry_assumption(pct: int) -> str:
    """The label of an assumed retry rate (the team said it retries but gave no share)."""
    return (f"Assumed: {pct}% of requests retried on format failures — you said you retry; "
            "set the share in step 4.")


def payback(costs: CostComparison) -> str:
    """When the tuned option pays back, in words, against the horizon."""
    horizon = costs.inputs.horizon_months
    month = costs.break_even_month
    if month is None:
        return f"does not pay back within {MAX_BREAK_EVEN_MONTHS // 12} years"
    if month <= horizon:
        return (f"pays back in month {month} and then saves {money(costs.monthly_savings)} "
                "a month")
    return f"pays back only in month {month}, beyond your {horizon}-month horizon"


def pays_back(costs: CostComparison) -> bool:
    """The tuned option pays back within the team's horizon."""
    month = costs.break_even_month
    return month is not None and month <= costs.inputs.horizon_months


def cost_section(a: WizardAnswers, parts: Sequence[PartChoice], acts: Behaviour,
                 costs: CostComparison) -> CostSection:
    """Price the options the recommendation weighs and say what decided between them."""
    have = {p.part for p in parts}
    rag = Part.RAG in have
    holder: OptionKind = ("classifier" if Part.CLASSIFIER in have else
                          "adapter" if Part.ADAPTER in have else
                          "constrained" if Part.CONSTRAINED in have else "prompt")
    tuned = holder if holder in ("adapter", "classifier") else acts.weighed
    options = [_prompt_option(a, costs, rag, acts, holder)]
    if tuned is not None:
        options.append(_tuned_option(a, costs, rag, acts, tuned, holder == tuned))
    if holder == "constrained":
        options.append(_constrained_option(a, costs, rag))
    if Part.ROUTER in have:
        options.append(_router_option(a))
    basis = "cost" if acts.by_cost or acts.no_payback else "need"
    kinds = {o.kind for o in options}
    given, kept = _figures(a, kinds, horizon=tuned is not None)
    assumptions = []
    tokens, assumed = prompt_tokens(a)
    if assumed:
        assumptions.append(Assumption(fields=["prompt_tokens"], text=prompt_assumption(tokens)))
    pct, assumed = retry_pct(a)
    if assumed:
        assumptions.append(Assumption(fields=["retry_pct"], text=retry_assumption(pct)))
    if kept:
        assumptions.append(Assumption(
            fields=[f for fields, _ in kept for f in fields],
            text="Assumed: the wizard's reference figures, which you kept — "
                 + "; ".join(p for _, p in kept) + " (set yours in step 5)."))
    labels = [o.label if o.label[:3] in ("RAG", "LoR") else o.label[0].lower() + o.label[1:]
              for o in options if o.role != "added"]
    return CostSection(
        title="Costs: " + (labels[0] if len(labels) == 1 else
                           ", ".join(labels[:-1]) + " or " + labels[-1]),
        options=options, break_even=costs if tuned is not None else None, tuned=tuned,
        basis=basis, verdict=_verdict(a, options, costs, acts, holder, tuned, rag),
        assumptions=assumptions, given=[p for _, p in given],
        horizon_months=a.horizon)


# --- the options --------------------------------------------------------------------------------


def _label(rag: bool, name: str) -> str:
    return f"RAG + {name}" if rag else name[0].upper() + name[1:]


def _prompt_option(a: WizardAnswers, costs: CostComparison, rag: bool, acts: Behaviour,
                   holder: OptionKind) -> CostOption:
    if holder == "prompt":
        role, note = "recommended", (
            "The recommendation: your prompt"
            + (", the retrieved passages" if rag else "") + " and the answer on every request.")
    elif holder == "constrained":
        role, note = "alternative", (
            "Your prompt as it is, with the examples that hold the format and the retries: "
            "a prompt cannot guarantee that every output parses.")
    elif acts.by_cost:
        role, note = "alternative", (
            f"Holds {acts.words if holder == 'adapter' else 'your labels'} today, at the price "
            "of the prompt on every request.")
    elif holder == "classifier":
        role, note = "alternative", ("A prompted general model labelling: the baseline the "
                                     "classifier must beat.")
    else:
        role, note = "alternative", f"Set aside: prompting alone does not hold {acts.words}."
    i = costs.inputs
    return CostOption(kind="prompt", label=_label(rag, "your prompt"), role=role, note=note,
                      prompt_tokens=i.prompt_tokens, retry_rate=i.prompt_retry_rate,
                      cost_per_request=costs.prompt_cost_per_request,
                      monthly=costs.prompt_monthly)


def _tuned_option(a: WizardAnswers, costs: CostComparison, rag: bool, acts: Behaviour,
                  kind: OptionKind, built: bool) -> CostOption:
    name = "LoRA adapter" if kind == "adapter" else "small fine-tuned classifier"
    what = acts.words if kind == "adapter" else "your labels"
    retrain = ("never retrained" if a.spec_change == Frequency.NEVER
               else f"retrained {a.spec_change.value}")
    if built:
        note = f"The recommendation: trained once on {what}, {retrain}, with a short prompt."
    else:
        note = (f"Weighed on cost and set aside: it would remove the prompt's token cost, but "
                f"{payback(costs)}.")
    return CostOption(kind=kind, label=_label(rag, name), role="recommended" if built
                      else "alternative", note=note,
                      prompt_tokens=costs.inputs.adapter_prompt_tokens, retry_rate=0.0,
                      cost_per_request=costs.adapter_cost_per_request,
                      monthly=costs.adapter_monthly, upfront=costs.adapter_upfront,
                      retraining_per_year=costs.retraining_per_year)


def _constrained_option(a: WizardAnswers, costs: CostComparison, rag: bool) -> CostOption:
    i = costs.inputs
    per_request = request_cost(
        static_tokens=i.adapter_prompt_tokens, context_tokens=i.context_tokens,
        answer_tokens=i.answer_tokens, price_in=i.price_input_per_m,
        price_out=i.price_output_per_m, cache_discount=i.cache_discount)
    return CostOption(
        kind="constrained", label=_label(rag, "constrained decoding"), role="recommended",
        note="The recommendation: a JSON-schema grammar holds the format, so the prompt needs "
             "no format examples and no request is retried for a parse error; no training.",
        prompt_tokens=i.adapter_prompt_tokens, retry_rate=0.0, cost_per_request=per_request,
        monthly=per_request * i.requests_per_day * DAYS_PER_MONTH)


def _router_option(a: WizardAnswers) -> CostOption:
    return CostOption(
        kind="router", label="Intent router", role="added",
        note="Added in front: a small fine-tuned classifier picks each query's route. Its "
             "per-request cost (a few tokens on a small model) is not modelled here.",
        upfront=a.training_cost, retraining_per_year=a.training_cost * a.spec_change.per_year)


# --- the verdict --------------------------------------------------------------------------------


def _verdict(a: WizardAnswers, options: list[CostOption], costs: CostComparison,
             acts: Behaviour, holder: OptionKind, tuned: str | None, rag: bool) -> str:
    prompt = options[0]
    if tuned is not None and acts.by_cost:
        what = acts.words if tuned == "adapter" else "your labels"
        text = (f"Decided on cost: {TUNED_NAMES[tuned]} {payback(costs)}; over "
                f"{a.horizon} months it is the cheaper way to hold {what}.")
    elif tuned is not None and acts.no_payback:
        kept = "the prompt" if tuned == "adapter" else "the prompted model"
        text = (f"Decided on cost: {TUNED_NAMES[tuned]} would remove the prompt's token cost "
                f"but {payback(costs)}, so keeping {kept} is cheaper for now.")
    elif tuned is not None:
        why = (f"prompting alone does not hold {acts.words}, so the adapter is needed"
               if tuned == "adapter" else
               "labels are the job of a small classifier, not of a prompted general model")
        text = f"Decided by need, not cost: {why}."
        if pays_back(costs):
            text += f" It also {payback(costs)}."
        else:
            text += (f" On tokens alone it {payback(costs)}: budget "
                     f"{money(costs.adapter_upfront)} a training run and "
                     f"{money(costs.retraining_per_year)} a year of retraining for it.")
    elif holder == "constrained":
        saving = (prompt.monthly or 0.0) - (options[-1].monthly or 0.0)
        text = ("Decided by need: a prompt cannot guarantee that every output parses; "
                "constrained decoding does, with no training")
        text += (f", and it costs {money(saving)} a month less than your prompt (no format "
                 "examples, no retries)." if saving >= 0.005 else ".")
    else:
        text = ("Decided by need: retrieval is what gives the model your facts. It costs "
                f"your prompt, the passages and the answer on every request: "
                f"{money(prompt.monthly or 0.0)} a month." if rag else
                f"A prompt is all this workload needs: {money(prompt.monthly or 0.0)} a month.")
        if acts.untested:
            text += (f" An adapter is weighed only if prompting, once tried, fails to hold "
                     f"{acts.words}.")
    router = next((o for o in options if o.kind == "router"), None)
    if router is not None:
        text += (f" The router adds {money(router.upfront)} a training run and "
                 f"{money(router.retraining_per_year)} a year of retraining.")
    return text


# --- the figures used ---------------------------------------------------------------------------


def _figures(a: WizardAnswers, kinds: set[str], *, horizon: bool
             ) -> tuple[list[tuple[tuple[str, ...], str]], list[tuple[tuple[str, ...], str]]]:
    """The figures the priced options use, as (fields, phrase): given by the team, and kept at
    the wizard's default."""
    tuned = bool(kinds & {"adapter", "classifier"})
    trained = tuned or "router" in kinds
    phrases: list[tuple[tuple[str, ...], str]] = [
        (("requests_per_day",), f"{a.requests_per_day:,} requests a day"),
        (("context_tokens",), f"{a.context_tokens:,} query and passage tokens per request"),
        (("answer_tokens",), f"{a.answer_tokens:,} answer tokens per request"),
        (("price_in",), f"${a.price_in:g} per 1M input tokens"),
        (("price_out",), f"${a.price_out:g} per 1M output tokens"),
        (("cache_pct",), f"a {a.cache_pct}% prompt-cache discount"),
    ]
    if a.prompt_tokens is not None:
        phrases.append((("prompt_tokens",), f"a {a.prompt_tokens:,}-token prompt"))
    if a.retry_pct is not None:
        phrases.append((("retry_pct",), f"{a.retry_pct}% of requests retried"))
    if tuned or "constrained" in kinds:
        phrases.append((("adapter_tokens",), f"{a.adapter_tokens:,} prompt tokens left once an "
                                             "adapter or a grammar holds the behaviour"))
    if trained:
        phrases.append((("training_cost",), f"{money(a.training_cost)} a training run"))
        phrases.append((("spec_change",), "no retraining" if a.spec_change == Frequency.NEVER
                        else f"a retrain {a.spec_change.value}"))
    if tuned:
        phrases.append((("hosting",), f"{money(a.hosting)} a month to host the tuned model"))
        if a.adapter_price_in is None and a.adapter_price_out is None:
            phrases.append((("adapter_price_in", "adapter_price_out"),
                            "the tuned model at the same prices"))
        else:
            for field, what in (("adapter_price_in", "input"), ("adapter_price_out", "output")):
                value = getattr(a, field)
                phrases.append(((field,), f"the tuned model at the same {what} price"
                                if value is None
                                else f"${value:g} per 1M {what} tokens for the tuned model"))
    if horizon:
        phrases.append((("horizon",), f"a {a.horizon}-month horizon"))
    defaults = WizardAnswers()

    def kept(fields: tuple[str, ...]) -> bool:
        return all(getattr(a, f) == getattr(defaults, f) for f in fields)

    return ([(f, p) for f, p in phrases if not kept(f)],
            [(f, p) for f, p in phrases if kept(f)])
