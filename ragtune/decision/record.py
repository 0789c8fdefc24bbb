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
from ragtune.decision.economics import DAYS_PER_MONTH, CostOption, CostSection, money
from ragtune.decision.params import answers_to_params
from ragtune.decision.questions import QUESTIONS, RESULT_STEP, STEPS, quote
from ragtune.decision.recommendation import Recommendation

RECORD_FORMAT = "ragtune.decision-record/2"
"""/2: the costs are the options weighed (``CostSection``), no longer always prompt vs adapter."""


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


def _cell(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return "not modelled"
    return money(value) if digits is None else _money(value, digits)


def _costs_lines(costs: CostSection, answers: WizardAnswers) -> list[str]:
    """The cost section as the page shows it: verdict, options, break-even, figures."""
    options = costs.options
    prompt_assumed = " (assumed)" if answers.prompt_tokens is None else ""
    retry_assumed = " (assumed)" if answers.retry_pct is None and answers.retries else ""

    def tokens(o: CostOption) -> str:
        if o.prompt_tokens is None:
            return "not modelled"
        return f"{o.prompt_tokens:,}" + (prompt_assumed if o.kind == "prompt" else "")

    def retried(o: CostOption) -> str:
        if o.cost_per_request is None:
            return "not modelled"
        return f"{o.retry_rate:.0%}" + (retry_assumed if o.kind == "prompt" else "")

    rows = [
        ("Role", lambda o: f"**{o.role}**" if o.role == "recommended" else o.role),
        ("Prompt tokens per request", tokens),
        ("Requests retried", retried),
        ("Cost per request", lambda o: _cell(o.cost_per_request, 4)),
        ("Inference per month", lambda o: _cell(o.monthly)),
        ("One-time training", lambda o: money(o.upfront)),
        ("Retraining per year", lambda o: money(o.retraining_per_year)),
    ]
    lines = [costs.verdict, "",
             "| | " + " | ".join(o.label for o in options) + " |",
             "|---|" + "---:|" * len(options)]
    lines += [f"| {name} | " + " | ".join(cell(o) for o in options) + " |"
              for name, cell in rows]
    lines.append("")
    lines += [f"- **{o.label}** ({o.role}): {o.note}" for o in options]
    c = costs.break_even
    if c is not None:
        if c.break_even_month is None:
            when = "does not pay back within 10 years"
        else:
            when = f"month {c.break_even_month}"
            if c.crossing is not None:
                when += f" (lines cross at month {c.crossing.month:.1f})"
        tuned = "the adapter" if costs.tuned == "adapter" else "the classifier"
        lines.append(f"- Break-even: {when}, {tuned} against your prompt "
                     f"({DAYS_PER_MONTH}-day months, retraining included).")
    if costs.given:
        lines.append("- Your figures: " + "; ".join(costs.given) + ".")
    lines += [f"- {assumption.text}" for assumption in costs.assumptions]
    return lines


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
    lines += ["", "## Costs", ""] + _costs_lines(rec.costs, answers)
    lines += ["", "## Reproduce", "",
              f"Modes to compare in the ragtune Lab: {', '.join(rec.lab_modes)} "
              f"(recommended: {rec.recommended_mode}).", "",
              f"Wizard link: {base_url + share_query(answers)}", ""]
    return "\n".join(lines)
