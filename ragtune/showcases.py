"""Showcases chosen by measurement: which demo question shows each thesis most clearly on a model,
and how often the thesis holds over the whole demo set.

A presenter needs one question per thesis that shows it live, and the honest base rate beside
it, so a clear example is never passed off as typical. Both come from one stored claims-report
run (:mod:`ragtune.evaluation.report`): every built-in mode answered every demo question, so for
each thesis this module

* checks, per question, the thesis's **predictions** (:class:`~ragtune.theses.Prediction`: "RAG
  is correct", "the base model breaks the format", ...) against that question's scored answers,
  and ranks the questions by how many predictions hold (ties: the quicker question first, then
  its id);
* measures the thesis's **rates** (:class:`~ragtune.theses.RateSpec`) over every question it
  applies to, with n.

The theses themselves are data, in :mod:`ragtune.theses` (re-exported here).

:func:`rank_showcases` is pure (results in, :class:`Showcases` out). :class:`ShowcaseStore` keeps
one JSON file per model: the data directory's (written by ``python -m ragtune showcases`` and
after every ``report``) wins over the one shipped in ``data/showcases/`` (measured by the
project on the machine its ``machine`` field names).

Examples:
    >>> [t.id for t in THESES]
    ['facts', 'format', 'both', 'freshness', 'constrained']
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.evaluation.report import Claim, build_claims
from ragtune.evaluation.routing import (
    RoutingResult,
    RoutingScores,
    load_routing_set,
    routing_scores,
    showcase_cases,
)
from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.sets import CaseKind
from ragtune.file_cache import per_file_version
from ragtune.names import check_name
from ragtune.theses import (  # re-exported: callers name them as ragtune.showcases'
    METRIC_WORDS as METRIC_WORDS,
    RATE_WORDS as RATE_WORDS,
    THESES as THESES,
    THESIS_IDS as THESIS_IDS,
    Metric as Metric,
    Prediction as Prediction,
    RateSpec as RateSpec,
    Thesis as Thesis,
    metric_value as metric_value,
    thesis as thesis,
)

if TYPE_CHECKING:
    from ragtune.evaluation.store import EvalRun, EvalStore

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "data" / "showcases"
"""The showcases the project measured for its models (committed; re-made by ``showcases --out``)."""


# -- ranking -----------------------------------------------------------------------------------


class Outcome(BaseModel):
    """One prediction checked on one question."""

    model_config = ConfigDict(frozen=True)

    prediction: Prediction
    held: bool | None = Field(description="None: the mode did not answer this question in the run.")


class RankedCase(BaseModel):
    """A question with how many of a thesis's predictions held on it."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    question: str
    held: int
    checked: int
    total: int
    outcomes: list[Outcome]
    seconds: float = Field(description="The thesis's modes' total time on it (a live demo prefers quick ones).")

    @property
    def clear(self) -> bool:
        """Every prediction held (and every one could be checked)."""
        return self.held == self.total


class Rate(BaseModel):
    """A measured rate with its n, and the same measure for the modes it is compared with."""

    model_config = ConfigDict(frozen=True)

    spec: RateSpec
    hits: int
    n: int
    versus: dict[str, tuple[int, int]] = Field(default_factory=dict)

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None

    def text(self, labels: dict[str, str] | None = None) -> str:
        """e.g. 'RAG correct on 22/50 answerable questions (44%); Base 1/50 (2%)'."""
        labels = labels or {}
        kinds = set(self.spec.kinds)
        # a changed fact has its answer in either version: with the answerable ones, they are the answerable
        scope = ("all" if len(kinds) == 3 else "answerable" if kinds == {"answerable", "changed"}
                 else "/".join(self.spec.kinds))

        def pct(hits: int, n: int) -> str:
            return f"{hits}/{n} ({100 * hits / n:.0f}%)" if n else "not measured"

        head = (f"{labels.get(self.spec.mode, self.spec.mode)} {RATE_WORDS[self.spec.metric]} on "
                f"{pct(self.hits, self.n)} of {scope} questions (documents {self.spec.version})")
        rest = [f"{labels.get(m, m)} {pct(h, n)}" for m, (h, n) in self.versus.items()]
        return head + ("; " + ", ".join(rest) if rest else "")


class ThesisShowcase(BaseModel):
    """A thesis's questions, best first, and its set-wide rates."""

    model_config = ConfigDict(frozen=True)

    thesis_id: str
    ranked: list[RankedCase]
    rates: list[Rate]

    @property
    def best(self) -> RankedCase | None:
        return self.ranked[0] if self.ranked else None

    @property
    def clear_count(self) -> int:
        return sum(1 for r in self.ranked if r.clear)

    def typicality(self) -> str:
        """How typical the best question is, in one sentence (the Lab and the Tour both say it), so a
        clear example is never passed off as a typical one, nor a partial one as clear.

        Examples:
            >>> ThesisShowcase(thesis_id="facts", ranked=[], rates=[]).typicality()
            'No question of the demo set can show this thesis.'
        """
        best, n = self.best, len(self.ranked)
        if best is None:
            return "No question of the demo set can show this thesis."
        if not best.clear:
            return (f"No question shows every prediction: this one shows {best.held} of {best.total}, the most "
                    f"of the {n} questions it can be asked on.")
        if self.clear_count == n:
            return f"Every prediction holds on this question, as on all {n} questions it can be asked on."
        return (f"Every prediction holds on this question, as on {self.clear_count} of the {n} questions it can "
                "be asked on: a clear example, not a typical one.")


class Showcases(BaseModel):
    """Every thesis's showcase on one model, from one stored report run."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    run_id: str
    run_created_at: datetime
    n_questions: int
    modes: list[str]
    machine: str = ""
    ranked_at: datetime
    theses: list[ThesisShowcase]
    claims: list[Claim] = Field(default_factory=list, description="The seed's claims measured on the same run.")
    prompt_tokens: dict[str, int] = Field(default_factory=dict, description="Median prompt tokens per mode "
                                          "(documents v1): the token tax the economics step prices.")
    routes: dict[str, str] = Field(default_factory=dict, description="Route -> an example query the router sent "
                                   "there right in the routing run measured with the report (claim 7).")
    routing: list[RoutingScores] = Field(default_factory=list, description="That routing run's accuracy, the "
                                         "router adapter's then the base model's, overall and per route with n.")
    origin: Literal["", "data", "shipped"] = Field(
        default="", exclude=True, description="Where :meth:`ShowcaseStore.load` found it: the data directory "
        "(measured by this installation) or the copy shipped with ragtune; never stored.")

    def get(self, thesis_id: str) -> ThesisShowcase | None:
        return next((t for t in self.theses if t.thesis_id == thesis_id), None)

    def claim(self, number: int) -> Claim | None:
        return next((c for c in self.claims if c.number == number), None)

    def source(self) -> str:
        """Where the figures come from, in one line."""
        when = self.run_created_at.strftime("%Y-%m-%d")
        where = f" on {self.machine}" if self.machine else ""
        return f"claims report run {self.run_id} ({when}, {self.model_id}{where}, {self.n_questions} questions)"

    def provenance(self) -> str:
        """:meth:`source`, and whether this installation measured it or the project did (shipped)."""
        if self.origin == "shipped":
            return f"{self.source()}, shipped with ragtune (measured by the project, not on this installation)"
        if self.origin == "data":
            return f"{self.source()}, measured on this installation"
        return self.source()


_Index = dict[tuple[str, str, str], EvalResult]  # (mode, case, version) -> result


def _check(index: _Index, t: Thesis, case_id: str, p: Prediction) -> bool | None:
    result = index.get((p.mode, case_id, p.version or t.version))
    return None if result is None else metric_value(result, p.metric) == p.expected


def _rank(t: Thesis, index: _Index, questions: dict[str, tuple[str, CaseKind]]) -> list[RankedCase]:
    ranked = []
    for case_id, (question, kind) in questions.items():
        if kind not in t.kinds or not any((m, case_id, t.version) in index for m in t.modes):
            continue
        outcomes = [Outcome(prediction=p, held=_check(index, t, case_id, p)) for p in t.predictions]
        seconds = sum(index[(m, case_id, t.version)].total_ms for m in t.modes
                      if (m, case_id, t.version) in index) / 1000.0
        ranked.append(RankedCase(
            case_id=case_id, question=question, held=sum(o.held is True for o in outcomes),
            checked=sum(o.held is not None for o in outcomes), total=len(outcomes), outcomes=outcomes,
            seconds=round(seconds, 3),
        ))
    return sorted(ranked, key=lambda r: (-r.held, r.seconds, r.case_id))


def _rate(spec: RateSpec, index: _Index, questions: dict[str, tuple[str, CaseKind]]) -> Rate:
    def count(mode: str) -> tuple[int, int]:
        rows = [index[(mode, cid, spec.version)] for cid, (_, kind) in questions.items()
                if kind in spec.kinds and (mode, cid, spec.version) in index]
        return sum(metric_value(r, spec.metric) for r in rows), len(rows)

    hits, n = count(spec.mode)
    return Rate(spec=spec, hits=hits, n=n, versus={m: count(m) for m in spec.versus})


def rank_showcases(
    results: Sequence[EvalResult], *, model_id: str, run_id: str, run_created_at: datetime,
    machine: str = "", theses: Sequence[Thesis] = THESES, routing: Sequence[RoutingResult] | None = None,
) -> Showcases:
    """Rank every question of a report run for each thesis, and measure each thesis's rates.

    Examples:
        >>> shows = rank_showcases(run.results, model_id="m", run_id=run.info.id,
        ...                        run_created_at=run.info.created_at)  # doctest: +SKIP
        >>> shows.get("facts").best.case_id  # doctest: +SKIP
        'a13'
    """
    index: _Index = {(r.mode_id, r.case_id, r.version): r for r in results}
    questions: dict[str, tuple[str, CaseKind]] = {}
    for r in results:
        questions.setdefault(r.case_id, (r.question, r.kind))
    return Showcases(
        model_id=model_id, run_id=run_id, run_created_at=run_created_at, n_questions=len(questions),
        modes=sorted({r.mode_id for r in results}), machine=machine, ranked_at=datetime.now(timezone.utc),
        theses=[ThesisShowcase(thesis_id=t.id, ranked=_rank(t, index, questions),
                               rates=[_rate(s, index, questions) for s in t.rates]) for t in theses],
        claims=build_claims(results, routing=routing),
        prompt_tokens=_median_prompt_tokens(results),
        routes={route: case.query for route, case in showcase_cases(load_routing_set(), routing).items()}
        if routing else {},
        routing=[routing_scores(routing, kind) for kind in ("adapter", "base")  # type: ignore[arg-type]
                 if any(r.router == kind for r in routing or ())],
    )


def _median_prompt_tokens(results: Sequence[EvalResult]) -> dict[str, int]:
    by_mode: dict[str, list[int]] = {}
    for r in results:
        if r.version == "v1" and not r.error:
            by_mode.setdefault(r.mode_id, []).append(r.prompt_tokens)
    return {mode: int(statistics.median(values)) for mode, values in sorted(by_mode.items())}


# -- storage -----------------------------------------------------------------------------------


def _file_stem(model_id: str) -> str:
    """A model id as a file name (ids follow the name rule: never a path; ':' of local ids becomes '_')."""
    return check_name("model id", model_id).replace(":", "_")


@per_file_version(maxsize=16)
def _read_showcases(path: Path) -> Showcases:
    """A showcases file, read once per version of it: the Lab draws its demo questions from it on every rerun.

    Raises:
        OSError, ValidationError, ValueError: unreadable or invalid.
    """
    return Showcases.model_validate_json(path.read_bytes())


class ShowcaseStore:
    """One showcases file per model: the data directory's wins over the shipped one."""

    def __init__(self, data_dir: Path, shipped_dir: Path = SHIPPED_DIR) -> None:
        self.dir = Path(data_dir) / "showcases"
        self.shipped_dir = Path(shipped_dir)

    def path(self, model_id: str) -> Path:
        return self.dir / f"{_file_stem(model_id)}.json"

    def load(self, model_id: str) -> Showcases | None:
        """The model's showcases (the data directory's, else the shipped ones, with ``origin`` saying
        which), or None when neither exists or is readable (a damaged file is skipped, not fatal: the
        Lab falls back to its defaults)."""
        name = _file_stem(model_id)
        for origin, path in (("data", self.dir / f"{name}.json"), ("shipped", self.shipped_dir / f"{name}.json")):
            try:
                shows = _read_showcases(path)
            except (OSError, ValidationError, ValueError):
                continue
            return shows.model_copy(update={"origin": origin})
        return None

    def save(self, showcases: Showcases, path: Path | None = None) -> Path:
        """Write atomically (to ``path``, default the data directory's file for its model)."""
        path = Path(path) if path is not None else self.path(showcases.model_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(showcases.model_dump(mode="json"), indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
        return path


def showcase_text(show: Showcases, labels: dict[str, str] | None = None,
                  top: int = 3, on_line: Callable[[str], None] = print) -> None:
    """The showcases as plain text for a terminal: per thesis its top questions and its rates."""
    on_line(f"Showcases for {show.model_id}, from {show.source()}")
    for t in THESES:
        item = show.get(t.id)
        if item is None:
            continue
        on_line(f"\n{t.title} ({item.clear_count} of {len(item.ranked)} questions show it fully)")
        for rate in item.rates:
            on_line(f"  rate: {rate.text(labels)}")
        for r in item.ranked[:top]:
            on_line(f"  {r.held}/{r.total}  {r.case_id}  {r.question}")


def latest_report(store: EvalStore, model_id: str) -> str | None:
    """The id of the newest complete claims-report run of ``model_id`` that covers the whole demo set."""
    for info in store.runs(kind="report"):
        if info.model_id == model_id and info.status == "complete" and covers_demo_set(info.n_items):
            return info.id
    return None


def covers_demo_set(n_items: int) -> bool:
    """Whether a report run of ``n_items`` asked every demo question (rates over a sample would mislead)."""
    from ragtune.evaluation.sets import demo_eval_set, demo_report_items

    return n_items >= len(demo_report_items(demo_eval_set().cases))


def showcases_of_run(run: EvalRun, machine: str = "", routing: Sequence[RoutingResult] | None = None) -> Showcases:
    """:func:`rank_showcases` over a stored run (and the routing run measured with it, for claim 7)."""
    return rank_showcases(run.results, model_id=run.info.model_id, run_id=run.info.id,
                          run_created_at=run.info.created_at, machine=machine, routing=routing)


def this_machine() -> str:
    """The machine measured on, in a few words ("AMD EPYC, 2 cores")."""
    from ragtune.bench import machine_info

    info = machine_info()
    return f"{info['cpu']}, {info['cores']} cores"


def refresh_after_report(run: EvalRun, data_dir: Path, routing: Sequence[RoutingResult] | None = None
                         ) -> Path | None:
    """After a complete report run over the whole demo set, re-rank the model's showcases from it
    (so the Lab and the Tour show the latest measured rates); returns the file written, or None."""
    if run.info.kind != "report" or run.info.status != "complete" or not covers_demo_set(run.info.n_items):
        return None
    return ShowcaseStore(data_dir).save(showcases_of_run(run, this_machine(), routing))
