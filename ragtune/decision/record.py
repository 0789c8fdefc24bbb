"""The wizard's result as a file to share: a decision record in Markdown, and the same as JSON.

The Markdown follows the usual architecture-decision-record shape (context, decision,
alternatives, consequences) plus the costs and the link that reproduces the wizard.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from ragtune import __version__
from ragtune.decision.answers import WizardAnswers
from ragtune.decision.economics import DAYS_PER_MONTH, CostComparison
from ragtune.decision.params import answers_to_params
from ragtune.decision.questions import QUESTIONS, RESULT_STEP, STEPS, quote
from ragtune.decision.recommendation import Recommendation

RECORD_FORMAT = "ragtune.decision-record/1"


class DecisionRecord(BaseModel):
    """Everything the JSON download holds: the answers, the result, how to reproduce it."""

    format: str = RECORD_FORMAT
    generator: str = Field(default=f"ragtune {__version__} decision wizard")
    title: str
    link: str
    answers: WizardAnswers
    recommendation: Recommendation


def record_title(answers: WizardAnswers) -> str:
    return f"Decision record: {answers.name or 'our LLM workload'}"


def record_file_stem(answers: WizardAnswers) -> str:
    """The downloads' file name without its suffix, ``decision-<workload>``, safe anywhere."""
    slug = "".join(c if c.isalnum() else "-" for c in (answers.name or "workload").lower())
    return f"decision-{slug}"


def share_query(answers: WizardAnswers) -> str:
    """The query string (with ``?``) that opens the wizard on this result."""
    return "?" + urlencode(answers_to_params(answers, RESULT_STEP))


def build_record(answers: WizardAnswers, rec: Recommendation, *,
                 base_url: str = "") -> DecisionRecord:
    """The record of one decision; ``base_url`` is the page's address without a query string."""
    return DecisionRecord(title=record_title(answers), link=base_url + share_query(answers),
                          answers=answers, recommendation=rec)


def record_json(answers: WizardAnswers, rec: Recommendation, *, base_url: str = "") -> str:
    """The decision record as indented JSON."""
    record = build_record(answers, rec, base_url=base_url)
    return json.dumps(record.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def _money(value: float, digits: int = 0) -> str:
    return f"${value:,.{digits}f}"


def _context_lines(answers: WizardAnswers) -> list[str]:
    """The answers of steps 1-4 that say something (ticked, or changed from the default)."""
    defaults = WizardAnswers()
    economics_step = STEPS[-1].number
    lines = []
    for q in QUESTIONS:
        if q.step >= economics_step or q.id == "name":
            continue
        value = getattr(answers, q.id)
        if q.kind == "bool" and not value:
            continue
        if q.kind != "bool" and q.id != "task" and value == getattr(defaults, q.id):
            continue
        lines.append(f"- {quote(answers, q.id)}")
    if len(lines) == 1:  # only the task: nothing else was ticked or changed
        lines.append("- None of the wizard's other statements was ticked.")
    return lines


def _costs_lines(costs: CostComparison) -> list[str]:
    c, i = costs, costs.inputs
    if c.break_even_month is None:
        break_even = "does not pay back within 10 years"
    else:
        break_even = f"month {c.break_even_month}"
        if c.crossing is not None:
            break_even += f" (lines cross at month {c.crossing.month:.1f})"
    a_in = i.price_input_per_m if i.adapter_price_input_per_m is None \
        else i.adapter_price_input_per_m
    a_out = i.price_output_per_m if i.adapter_price_output_per_m is None \
        else i.adapter_price_output_per_m
    adapter_prices = ("the same prices" if (a_in, a_out) == (i.price_input_per_m,
                                                             i.price_output_per_m)
                      else f"${a_in:g} / ${a_out:g}")
    return [
        "| | Prompt approach | Adapter approach |",
        "|---|---:|---:|",
        f"| Prompt tokens per request | {i.prompt_tokens:,} | {i.adapter_prompt_tokens:,} |",
        f"| Cost per request | {_money(c.prompt_cost_per_request, 4)} "
        f"| {_money(c.adapter_cost_per_request, 4)} |",
        f"| Inference per month | {_money(c.prompt_monthly)} | {_money(c.adapter_monthly)} |",
        f"| One-time training | $0 | {_money(c.adapter_upfront)} |",
        f"| Retraining per year | $0 | {_money(c.retraining_per_year)} |",
        "",
        f"- Inference difference per month: {_money(abs(c.monthly_savings))} in favour of "
        f"{'the adapter' if c.monthly_savings >= 0 else 'the prompt'}.",
        f"- Break-even: {break_even}.",
        f"- Assumptions: {i.requests_per_day:,} requests/day, {DAYS_PER_MONTH}-day months; "
        f"{i.context_tokens:,} query and passage tokens and {i.answer_tokens:,} answer tokens per "
        f"request either way; ${i.price_input_per_m:g} / ${i.price_output_per_m:g} per 1M "
        f"input/output tokens ({adapter_prices} for the adapter model); a {i.cache_discount:.0%} "
        f"prompt-cache discount on the repeated prompt; {i.retrains_per_year:g} retraining runs "
        f"a year; {i.prompt_retry_rate:.0%} retried requests on the prompt approach; "
        f"{_money(i.adapter_hosting_per_month)} adapter hosting per month.",
    ]


def record_markdown(answers: WizardAnswers, rec: Recommendation, *, base_url: str = "") -> str:
    """The decision record in Markdown: context, decision, alternatives, consequences, costs."""
    lines = [f"# {record_title(answers)}", "",
             f"Status: proposed. Written with the ragtune decision wizard ({__version__}).", "",
             "## Context", ""]
    lines += _context_lines(answers)
    lines += ["", "## Decision", "", f"**{rec.headline}**", "",
              f"Confidence: {rec.confidence_level} ({rec.confidence:.0%}).", ""]
    for part in rec.parts:
        lines.append(f"- **{part.part.value}** ({part.role}): {part.does}")
    lines += ["", "### Rationale", ""] + [f"- {r}" for r in rec.rationale]
    if rec.warnings:
        lines += ["", "### Warnings", ""]
        for w in rec.warnings:
            lines.append(f"- **{w.title}.** {w.message}")
            lines += [f"  - {e}" for e in w.evidence]
    lines += ["", "### What to try first", ""]
    lines += [f"{n}. {s}" for n, s in enumerate(rec.try_first, 1)] or ["1. Start with a base "
                                                                        "model and a clear prompt."]
    lines += ["", "## Alternatives considered", ""]
    lines += [f"- **{alt.option}** ({alt.verdict}): {alt.reason}" for alt in rec.alternatives]
    lines += ["", "## Consequences", ""] + [f"- {c}" for c in rec.consequences]
    lines += ["", "## Costs", ""] + _costs_lines(rec.costs)
    lines += ["", "## Reproduce", "",
              f"Modes to compare in the ragtune Lab: {', '.join(rec.lab_modes)} "
              f"(recommended: {rec.recommended_mode}).", "",
              f"Wizard link: {base_url + share_query(answers)}", ""]
    return "\n".join(lines)
