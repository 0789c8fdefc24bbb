"""The seed's six claims, measured: numbers and a verdict for each, from an evaluation run.

:func:`plan_claims` plans the report's run (the demo set on its own demo workspaces, every
built-in mode that can run here); :func:`build_claims` is pure: it takes scored results
(:class:`EvalResult`) and returns :class:`Claim` records. The verdicts follow the numbers
(tested in :mod:`ragtune.evaluation.stats`), with the sample size in mind:

* Two modes are compared on the *same* questions (paired). For a yes/no metric (correct,
  valid, stale, cites a supporting document) the test is McNemar's exact test on the questions
  where the modes disagree, and the difference gets a 95% confidence interval (Agresti-Min,
  which behaves with small counts).
* A claim that mode A beats mode B **holds** when A is ahead and p < 0.05; it **does not hold
  here** when A is significantly behind, or when the interval rules out a gain of
  :data:`MARGIN` (10 percentage points) or more; otherwise it is **inconclusive** (the
  difference is within the noise for this many questions).
* A "no meaningful gain" claim (fine-tuning does not teach facts) holds when the interval
  rules out a gain of :data:`MARGIN`, does not hold when A is significantly ahead.
* For token counts and latency the test is an exact sign test over the questions.
* A guarantee (every citation of a grammar-constrained answer is a retrieved chunk) holds when
  every answer meets it and at least one put it to the test; a single exception refutes it.
* A claim with several checks holds when all hold, does not hold when any does not, and is
  inconclusive otherwise. A mode missing from the run makes its checks inconclusive
  ("not measured").

Claim 7 (the combined pattern's router) is measured apart, on the routing set
(:mod:`ragtune.evaluation.routing`): the ``ticket-router`` adapter against the base model asked
with the same router prompt, paired on the same queries (:func:`routing_claim`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from ragtune.errors import InputError
from ragtune.evaluation.routing import RoutingResult, routing_scores
from ragtune.evaluation.runner import RunPlan, unavailable_modes
from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.sets import demo_eval_set, demo_report_items, limit_per_kind
from ragtune.evaluation.stats import (
    FAILS,
    HOLDS,
    UNSURE,
    Verdict,
    combine,
    paired_proportions,
    percentile,
    sign_test,
    verdict_better,
    verdict_greater,
    verdict_no_gain,
)
from ragtune.evaluation.workspaces import ensure_report_workspaces

if TYPE_CHECKING:
    from ragtune.modes import Mode
    from ragtune.pipeline import Pipeline

#: The modes the report runs (all the built-in ones).
REPORT_MODES: tuple[str, ...] = (
    "base", "rag", "lora", "rag+lora", "rag+fewshot", "knowledge-lora", "constrained", "rag+constrained",
)


def plan_claims(
    pipeline: Pipeline, modes: Sequence[Mode], *, per_kind: int | None = None,
    on_note: Callable[[str], None] | None = None,
) -> RunPlan:
    """The report's run: the first ``per_kind`` demo questions of each kind against demo documents
    v1, the changed ones against v2 too, on the report's own workspaces (built the first time),
    in each of ``modes`` that can run here (the others are in ``skipped``, with why).

    Raises:
        InputError: no knowledge base, or none of ``modes`` can run here.
    """
    if pipeline.kb is None:
        raise InputError("The knowledge base is unavailable: the report needs it.")
    workspaces = ensure_report_workspaces(pipeline.kb, on_note)
    skipped = unavailable_modes(pipeline, modes, workspaces)
    runnable = [m for m in modes if m.id not in skipped]
    if not runnable:
        raise InputError(f"None of the report's modes can run here. {' '.join(skipped.values())}".strip())
    eval_set = demo_eval_set()
    return RunPlan(pipeline=pipeline, eval_set=eval_set, kind="report", skipped=skipped, modes=runnable,
                   items=demo_report_items(limit_per_kind(eval_set.cases, per_kind)), workspaces=workspaces)


# -- claims ----------------------------------------------------------------------------------


class Check(BaseModel):
    """One measured comparison behind a claim; ``verdict`` None for figures shown for context."""

    model_config = ConfigDict(frozen=True)

    name: str
    numbers: str
    verdict: Verdict | None = None
    n: int = 0


class Claim(BaseModel):
    """One of the seed's claims with its checks and verdict."""

    model_config = ConfigDict(frozen=True)

    number: int
    title: str
    seed: str
    verdict: Verdict
    checks: list[Check]

    def summary(self) -> str:
        """The checks' numbers, one sentence each."""
        return " ".join(f"{c.name}: {c.numbers}." for c in self.checks)


Metric = Callable[[EvalResult], bool]
Filter = Callable[[EvalResult], bool]


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _pp(x: float) -> str:
    return f"{100 * x:+.0f}"


def _p(p: float) -> str:
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


class _Results:
    """Results indexed by mode and (case, version), for pairing."""

    def __init__(self, results: Sequence[EvalResult]) -> None:
        self.by_mode: dict[str, dict[tuple[str, str], EvalResult]] = {}
        for r in results:
            self.by_mode.setdefault(r.mode_id, {})[(r.case_id, r.version)] = r

    def missing(self, *modes: str) -> list[str]:
        return [m for m in modes if m not in self.by_mode]

    def pairs(self, a: str, b: str, keep: Filter) -> list[tuple[EvalResult, EvalResult]]:
        ra, rb = self.by_mode.get(a, {}), self.by_mode.get(b, {})
        return [(ra[k], rb[k]) for k in ra if k in rb and keep(ra[k]) and keep(rb[k])]

    def rows(self, mode: str, keep: Filter) -> list[EvalResult]:
        return [r for r in self.by_mode.get(mode, {}).values() if keep(r)]


def _not_measured(name: str, missing: list[str]) -> Check:
    return Check(name=name, numbers=f"not measured (mode {', '.join(missing)} not in this run)",
                 verdict=UNSURE)


def compare_rates(
    res: _Results, name: str, a: str, b: str, metric: Metric, keep: Filter, what: str,
    *, expect: Literal["better", "no gain"] = "better",
) -> Check:
    """A check comparing a yes/no metric of modes ``a`` and ``b`` on the same items."""
    missing = res.missing(a, b)
    if missing:
        return _not_measured(name, missing)
    pairs = res.pairs(a, b, keep)
    p = paired_proportions([metric(x) for x, _ in pairs], [metric(y) for _, y in pairs])
    verdict = verdict_better(p) if expect == "better" else verdict_no_gain(p)
    if p.n == 0:
        return Check(name=name, numbers="no questions to compare", verdict=UNSURE)
    numbers = (f"{a} {_pct(p.a_rate)} vs {b} {_pct(p.b_rate)} {what} (n={p.n}; {_pp(p.diff)} pp, "
               f"95% CI {_pp(p.ci_low)}…{_pp(p.ci_high)}; {_p(p.p_value)})")
    return Check(name=name, numbers=numbers, verdict=verdict, n=p.n)


def compare_values(
    res: _Results, name: str, a: str, b: str, value: Callable[[EvalResult], float], keep: Filter,
    unit: str,
) -> Check:
    """A check that mode ``a``'s numbers are higher than ``b``'s on the same items."""
    missing = res.missing(a, b)
    if missing:
        return _not_measured(name, missing)
    pairs = res.pairs(a, b, lambda r: keep(r) and not r.error)
    v = sign_test([value(x) for x, _ in pairs], [value(y) for _, y in pairs])
    if v.n == 0:
        return Check(name=name, numbers="no questions to compare", verdict=UNSURE)
    ratio = f"{v.ratio:.2f}×" if v.ratio is not None else "n/a"
    numbers = (f"{a} median {v.a_median:,.0f} vs {b} {v.b_median:,.0f} {unit} (mean ratio {ratio}; "
               f"{a} higher on {v.a_higher}/{v.n}; sign test {_p(v.p_value)})")
    return Check(name=name, numbers=numbers, verdict=verdict_greater(v), n=v.n)


def _v1(r: EvalResult) -> bool:
    return r.version == "v1"


def _v1_answerable(r: EvalResult) -> bool:
    return r.version == "v1" and not r.should_abstain


def _v2_changed(r: EvalResult) -> bool:
    return r.version == "v2" and r.stale is not None


def _decides_abstention(r: EvalResult) -> bool:
    """Abstained exactly when it should: the decision rule the adapter is trained on."""
    return r.abstained == r.should_abstain


def routing_claim(results: Sequence[RoutingResult]) -> Claim:
    """Claim 7: a small fine-tuned classifier routes queries (adapter vs the base model with the same
    prompt, paired on the routing set's queries; an output that is no label takes the default route)."""
    name = "right route, router adapter vs base model"
    adapter = {r.case_id: r for r in results if r.router == "adapter"}
    base = {r.case_id: r for r in results if r.router == "base"}
    pairs = [(adapter[k], base[k]) for k in adapter if k in base]
    if not pairs:
        check = Check(name=name, verdict=UNSURE, numbers="not measured (run `python -m ragtune eval --routing`)"
                      if not adapter else "not measured (the run has no base-model baseline)")
        checks = [check]
    else:
        p = paired_proportions([a.correct for a, _ in pairs], [b.correct for _, b in pairs])
        numbers = (f"adapter {_pct(p.a_rate)} vs base {_pct(p.b_rate)} of queries routed right (n={p.n}; "
                   f"{_pp(p.diff)} pp, 95% CI {_pp(p.ci_low)}…{_pp(p.ci_high)}; {_p(p.p_value)})")
        checks = [Check(name=name, numbers=numbers, verdict=verdict_better(p), n=p.n)]
        paired = [a for a, _ in pairs] + [b for _, b in pairs]
        ours, theirs = routing_scores(paired, "adapter"), routing_scores(paired, "base")
        checks.append(Check(name="per route, adapter", n=ours.n, numbers=" · ".join(
            f"{s.route} {_pct(s.accuracy)} (n={s.n})" for s in ours.per_route)))
        checks.append(Check(name="a known label", n=ours.n, numbers=(
            f"adapter {_pct(ours.label_rate)} vs base {_pct(theirs.label_rate)} of outputs; any other output "
            "takes the default route")))
    return Claim(number=7, title="A small fine-tuned classifier routes queries",
                 seed="User → intent classifier (fine-tuned) → route → response: the combined pattern.",
                 verdict=combine([c.verdict for c in checks]), checks=checks)


def build_claims(results: Sequence[EvalResult], routing: Sequence[RoutingResult] | None = None) -> list[Claim]:
    """The six claims, each with its measured checks and verdict; with ``routing`` (a routing run's
    results, possibly none), claim 7 too."""
    res = _Results(results)
    claims: list[tuple[int, str, str, list[Check]]] = []

    claims.append((1, "RAG supplies facts the model does not know",
                   "New facts the model doesn't know → RAG.", [
        compare_rates(res, "correctness, RAG vs base", "rag", "base", lambda r: r.correct,
                      _v1_answerable, "correct on answerable questions"),
    ]))

    facts = [
        compare_rates(res, "format, LoRA vs base", "lora", "base", lambda r: bool(r.format_valid), _v1,
                      "valid JSON answers"),
        compare_rates(res, "facts, LoRA vs base (no gain expected)", "lora", "base", lambda r: r.correct,
                      _v1_answerable, "correct on answerable questions", expect="no gain"),
        compare_rates(res, "facts, knowledge LoRA vs base (no gain expected)", "knowledge-lora", "base",
                      lambda r: r.correct, _v1_answerable, "correct on answerable questions",
                      expect="no gain"),
    ]
    claims.append((2, "Fine-tuning teaches format, not facts",
                   "The model learns patterns, not facts.", facts))

    claims.append((3, "Combined beats either alone",
                   "Fine-tune for behaviour; retrieve for knowledge. They combine well.", [
        compare_rates(res, "correct and valid, RAG+LoRA vs RAG", "rag+lora", "rag", lambda r: r.usable, _v1,
                      "correct and valid"),
        compare_rates(res, "correct and valid, RAG+LoRA vs LoRA", "rag+lora", "lora", lambda r: r.usable, _v1,
                      "correct and valid"),
    ]))

    stale_checks = [
        compare_rates(res, "stale on version 2, knowledge LoRA vs RAG", "knowledge-lora", "rag",
                      lambda r: bool(r.stale), _v2_changed, "give the version-1 fact"),
        compare_rates(res, "cites a supporting document, RAG+LoRA vs knowledge LoRA", "rag+lora",
                      "knowledge-lora", lambda r: r.cites_support, _v1_answerable, "cite a supporting document"),
    ]
    if not res.missing("knowledge-lora", "rag"):
        baked = res.rows("knowledge-lora", lambda r: r.version == "v1" and r.kind == "changed")
        now = res.rows("rag", _v2_changed)
        if baked and now:
            stale_checks.append(Check(
                name="context", n=len(baked),
                numbers=(f"knowledge LoRA knew {sum(r.correct for r in baked)}/{len(baked)} of the changed "
                         f"facts in version 1; RAG gave {sum(r.correct for r in now)}/{len(now)} of the "
                         "version-2 facts"),
            ))
    claims.append((4, "Knowledge baked into an adapter goes stale and is unaccountable",
                   "Knowledge becomes stale immediately … A fine-tuned model doesn't cite its sources.",
                   stale_checks))

    tax = [
        compare_values(res, "prompt tokens, few-shot vs LoRA", "rag+fewshot", "rag+lora",
                       lambda r: float(r.prompt_tokens), _v1, "prompt tokens"),
        compare_values(res, "latency, few-shot vs LoRA", "rag+fewshot", "rag+lora", lambda r: r.total_ms, _v1,
                       "ms"),
        compare_rates(res, "format, LoRA vs few-shot", "rag+lora", "rag+fewshot", lambda r: bool(r.format_valid),
                      _v1, "valid JSON answers"),
    ]
    if not res.missing("rag+fewshot"):
        rows = res.rows("rag+fewshot", _v1)
        cached = sum(r.cached_prompt_tokens for r in rows)
        total = sum(r.prompt_tokens for r in rows) or 1
        tax.append(Check(name="prefix cache", n=len(rows),
                         numbers=f"{_pct(cached / total)} of few-shot prompt tokens came from llama.cpp's "
                         "prefix cache"))
    claims.append((5, "Prompting for behaviour costs a token tax and fails more often on format",
                   "Paying for thousands of tokens of few-shot examples on every request is paying "
                   "interest forever.", tax))

    claims.append((6, "Constrained decoding fixes syntax, not behaviour",
                   "Format can be forced by a grammar; decision rules (abstain, cite) cannot.",
                   constrained_checks(res)))

    built = [Claim(number=n, title=t, seed=s, checks=c, verdict=combine([x.verdict for x in c]))
             for n, t, s, c in claims]
    return built if routing is None else [*built, routing_claim(routing)]


def _cites_only_retrieved(r: EvalResult) -> bool:
    return all(cid in r.retrieved for cid in r.cited)


def every_row(res: _Results, name: str, mode: str, metric: Metric, keep: Filter, what: str,
              *, cites: bool = False) -> Check:
    """A check that ``metric`` holds on every answer of ``mode``: a guarantee, so one exception
    refutes it. ``cites``: the guarantee is about citations, so it is inconclusive when no answer
    cited anything (nothing was put to the test)."""
    missing = res.missing(mode)
    if missing:
        return _not_measured(name, missing)
    rows = [r for r in res.rows(mode, keep) if not r.error]
    good = sum(map(metric, rows))
    citing = sum(bool(r.cited) for r in rows)
    numbers = f"{mode}: {good}/{len(rows)} answers {what}" + (f" ({citing} cite at least one)" if cites else "")
    if good < len(rows):
        return Check(name=name, numbers=numbers, verdict=FAILS, n=len(rows))
    tested = bool(rows) and (citing > 0 or not cites)
    return Check(name=name, numbers=numbers, verdict=HOLDS if tested else UNSURE, n=len(rows))


def _nothing_to_fix(check: Check, res: _Results, constrained: str, free: str) -> Check:
    """A syntax check where the mode without the grammar was already always well-formed: no gain to find."""
    if res.missing(constrained, free):
        return check
    pairs = res.pairs(constrained, free, _v1)
    if pairs and all(bool(y.json_valid) for _, y in pairs):
        return check.model_copy(update={"verdict": UNSURE, "numbers": check.numbers + f" — {free} was already "
                                        "always well-formed: nothing for the grammar to fix"})
    return check


def constrained_checks(res: _Results) -> list[Check]:
    """Claim 6, in two halves.

    Syntax (what the grammar enforces): each constrained mode against the same mode without the
    grammar on well-formed JSON, and every citation of a constrained answer is one of the chunks
    retrieved for its question (with no retrieval: no citation at all).

    Behaviour (what it leaves to the model): the behaviour adapter decides to abstain where it
    should more often than the grammar-constrained model, with context (RAG + LoRA vs RAG +
    constrained: abstains exactly when no document has the answer) and without (LoRA vs
    constrained: abstains when it was given no context, as the grounded prompt asks).
    """
    checks = [
        _nothing_to_fix(compare_rates(res, "well-formed JSON, constrained vs base (the same mode without "
                                      "the grammar)", "constrained", "base", lambda r: bool(r.json_valid), _v1,
                                      "well-formed JSON"), res, "constrained", "base"),
        _nothing_to_fix(compare_rates(res, "well-formed JSON, RAG + constrained vs RAG", "rag+constrained", "rag",
                                      lambda r: bool(r.json_valid), _v1, "well-formed JSON"),
                        res, "rag+constrained", "rag"),
        every_row(res, "citations are retrieved chunks, RAG + constrained", "rag+constrained",
                  _cites_only_retrieved, _v1, "cite only chunks retrieved for the question", cites=True),
        every_row(res, "no citations without retrieval, constrained", "constrained", _cites_only_retrieved, _v1,
                  "cite nothing (no chunk was retrieved)"),
        compare_rates(res, "abstains exactly when it should, RAG+LoRA vs RAG + constrained", "rag+lora",
                      "rag+constrained", _decides_abstention, _v1, "right abstention decisions"),
        compare_rates(res, "abstains with no context, LoRA vs constrained", "lora", "constrained",
                      lambda r: r.abstained, _v1, "abstain when given no context"),
    ]
    if not res.missing("rag+constrained", "rag+lora"):
        rows_c = [r.total_ms for r in res.rows("rag+constrained", _v1) if not r.error]
        rows_l = [r.total_ms for r in res.rows("rag+lora", _v1) if not r.error]
        valid_c = [r.format_valid for r in res.rows("rag+constrained", _v1)]
        if rows_c and rows_l:
            checks.append(Check(name="cost and full validity", n=len(rows_c), numbers=(
                f"p50 {percentile(rows_c, 50):,.0f} ms constrained vs {percentile(rows_l, 50):,.0f} ms "
                f"RAG+LoRA; schema-valid (abstention and citation rules included) "
                f"{_pct(sum(map(bool, valid_c)) / len(valid_c))} constrained")))
    return checks


def claims_markdown(claims: Sequence[Claim]) -> str:
    """The claims as a Markdown table: claim, measured numbers, verdict."""
    lines = ["| # | claim | measured | verdict |", "|---|---|---|---|"]
    for claim in claims:
        numbers = "<br>".join(
            f"{c.name}: {c.numbers}" + (f" → *{c.verdict}*" if c.verdict and len(claim.checks) > 1 else "")
            for c in claim.checks
        )
        lines.append(f"| {claim.number} | {claim.title} | {numbers} | **{claim.verdict}** |")
    return "\n".join(lines)


def claims_text(claims: Sequence[Claim]) -> str:
    """The claims as plain text for a terminal."""
    out = []
    for claim in claims:
        out.append(f"{claim.number}. {claim.title}: {claim.verdict.upper()}")
        for check in claim.checks:
            tag = f" [{check.verdict}]" if check.verdict else ""
            out.append(f"   - {check.name}: {check.numbers}{tag}")
    return "\n".join(out)
