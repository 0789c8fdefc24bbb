"""Two stored eval runs compared question by question: did a change (another model file, engine
settings, a new release) make the answers worse? (``python -m ragtune eval --compare RUN_A RUN_B``)

Both runs must have asked the same questions (the same eval set: its cases' ids and questions) in
the same modes; each mode is compared on the questions both runs answered, paired, with the
report's test (McNemar's exact test and the 95% interval of the difference, from
:mod:`ragtune.evaluation.stats`). A difference is "within noise" unless the test says otherwise,
so a speed-up that costs answers shows as "B lower", never as a quiet drop in a rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict

from ragtune.errors import InputError
from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.stats import ALPHA, paired_proportions
from ragtune.evaluation.store import EvalRun

#: The yes/no measures compared, by name: what a user cares about in a grounded answer.
METRICS: dict[str, Callable[[EvalResult], bool]] = {
    "correct": lambda r: r.correct,
    "correct and valid": lambda r: r.usable,
    "cites a supporting document": lambda r: r.cites_support,
}
#: Besides :data:`METRICS`, for modes that retrieve: whether B put the same chunks in the prompt as A.
SAME_RETRIEVAL = "same chunks retrieved"


class MetricComparison(BaseModel):
    """One measure of one mode, run A vs run B on the same questions."""

    model_config = ConfigDict(frozen=True)

    mode_id: str
    metric: str
    n: int
    a: int
    b: int
    a_only: int
    b_only: int
    p_value: float
    verdict: str  # "within noise", "B lower", "B higher"

    def text(self) -> str:
        return (f"{self.mode_id:<10} {self.metric:<28} A {self.a}/{self.n}  B {self.b}/{self.n}  "
                f"(only A {self.a_only}, only B {self.b_only}; p = {self.p_value:.3f}) {self.verdict}")


def _verdict(a_only: int, b_only: int, p_value: float) -> str:
    if p_value < ALPHA:
        return "B lower" if a_only > b_only else "B higher"
    return "within noise"


def compare_runs(a: EvalRun, b: EvalRun) -> list[MetricComparison]:
    """Each mode both runs answered, each measure of :data:`METRICS`, paired on the questions (and
    document versions) both answered without an error.

    Raises:
        InputError: the runs share no mode, or asked different questions under the same ids.
    """
    questions_a = {case.id: case.question for case in a.cases}
    clash = [case.id for case in b.cases if case.id in questions_a and questions_a[case.id] != case.question]
    if clash:
        raise InputError(f"Runs {a.info.id} and {b.info.id} asked different questions under the same ids "
                         f"({', '.join(clash[:5])}): compare runs of the same eval set.")
    modes = [m for m in a.info.mode_ids if m in b.info.mode_ids]
    if not modes:
        raise InputError(f"Runs {a.info.id} ({', '.join(a.info.mode_ids)}) and {b.info.id} "
                         f"({', '.join(b.info.mode_ids)}) share no mode.")
    out: list[MetricComparison] = []
    for mode_id in modes:
        pairs = _pairs(a.results, b.results, mode_id)
        measures = [(metric, [measure(x) for x, _ in pairs], [measure(y) for _, y in pairs])
                    for metric, measure in METRICS.items()]
        if any(x.retrieved or y.retrieved for x, y in pairs):  # A's retrieval is the reference
            measures.append((SAME_RETRIEVAL, [True] * len(pairs), [x.retrieved == y.retrieved for x, y in pairs]))
        for metric, flags_a, flags_b in measures:
            p = paired_proportions(flags_a, flags_b)
            out.append(MetricComparison(mode_id=mode_id, metric=metric, n=p.n, a=sum(flags_a), b=sum(flags_b),
                                        a_only=p.a_only, b_only=p.b_only, p_value=p.p_value,
                                        verdict=_verdict(p.a_only, p.b_only, p.p_value)))
    return out


def _pairs(a: Sequence[EvalResult], b: Sequence[EvalResult], mode_id: str) -> list[tuple[EvalResult, EvalResult]]:
    key = lambda r: (r.case_id, r.version)  # noqa: E731
    theirs = {key(r): r for r in b if r.mode_id == mode_id and not r.error}
    return [(r, theirs[key(r)]) for r in a if r.mode_id == mode_id and not r.error and key(r) in theirs]


def comparison_markdown(a: EvalRun, b: EvalRun, rows: Sequence[MetricComparison]) -> str:
    """The comparison as a Markdown table, headed by what A and B are."""
    lines = [
        f"A: run {a.info.id} ({a.info.model_id}, {a.info.created_at:%Y-%m-%d %H:%M}); "
        f"B: run {b.info.id} ({b.info.model_id}, {b.info.created_at:%Y-%m-%d %H:%M}). Paired on the same "
        f"questions; McNemar's exact test, a difference counts at p < {ALPHA}.",
        "",
        "| mode | measure | A | B | only A | only B | p | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.mode_id} | {r.metric} | {r.a}/{r.n} | {r.b}/{r.n} | {r.a_only} | {r.b_only} | "
                     f"{r.p_value:.3f} | {r.verdict} |")
    return "\n".join(lines) + "\n"
