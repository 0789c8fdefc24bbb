"""Routing accuracy: does a routing mode send each query where it belongs?

A **routing set** is JSON Lines, one :class:`RoutingCase` a line: a query and the route it should
take in the routing mode (``documents``, ``billing-handoff``, ``account-handoff``, ``small-talk``
for the built-in ``route`` mode). The shipped set :data:`ROUTING_SET_FILE`
(``data/eval/routing.jsonl``) holds the 60 demo eval questions (each labelled ``documents``: the
documents answer them), billing and account tickets, other support questions and small talk, all
written apart from the router's training templates.

:func:`run_routing_eval` asks the router (the mode's classifier adapter) and, as the baseline, the
base model with the very same router prompt, for every query; it scores the route each output
leads to (an output that is no known label takes the default route, as in the Lab), not the
answers. :func:`routing_scores` gives accuracy overall and per route with n; the claims report
compares the two routers paired (:func:`ragtune.evaluation.report.routing_claim`). Runs are kept
as JSON under ``<data dir>/evaluations/routing/`` (:class:`RoutingRunStore`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragtune.config import PROJECT_ROOT
from ragtune.csvsafe import csv_text
from ragtune.errors import EvalSetError, InputError
from ragtune.evaluation.sets import CASE_ID_PATTERN, parse_jsonl_records

if TYPE_CHECKING:
    from ragtune.evaluation.runner import Progress
    from ragtune.modes import Mode
    from ragtune.pipeline import Pipeline

ROUTING_SET_FILE = PROJECT_ROOT / "data" / "eval" / "routing.jsonl"
ROUTING_CSV_FIELDS = ("case_id", "router", "query", "expected", "raw_output", "label", "route", "correct", "ms",
                      "prompt_tokens", "completion_tokens")
RouterKind = Literal["adapter", "base"]


class RoutingCase(BaseModel):
    """A query and the route it should take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=CASE_ID_PATTERN)
    query: str = Field(min_length=1, max_length=2000)
    route: str = Field(min_length=1, max_length=40, description="The expected route's name.")
    note: str = Field(default="", max_length=200)


class RoutingSet(BaseModel):
    """A validated routing set."""

    name: str
    sha256: str
    cases: list[RoutingCase]

    def routes(self) -> list[str]:
        """The expected routes, in order of first appearance."""
        return list(dict.fromkeys(c.route for c in self.cases))

    def limited(self, per_route: int | None) -> RoutingSet:
        """The first ``per_route`` cases of each expected route (None: all)."""
        if per_route is None:
            return self
        seen: dict[str, int] = {}
        kept = []
        for case in self.cases:
            seen[case.route] = seen.get(case.route, 0) + 1
            if seen[case.route] <= per_route:
                kept.append(case)
        return self.model_copy(update={"cases": kept})


def parse_routing_set(text: str | bytes, name: str = "routing set") -> RoutingSet:
    """Validate a routing set (JSON Lines); every bad line is reported with its number.

    Raises:
        EvalSetError: empty, too long, not UTF-8, bad lines or repeated ids.

    Examples:
        >>> parse_routing_set('{"id": "r1", "query": "Hi!", "route": "small-talk"}').routes()
        ['small-talk']
    """
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    cases = parse_jsonl_records(raw, name, RoutingCase)
    if not cases:
        raise EvalSetError(f"{name} has no queries: write one JSON object per line "
                           '({"id": ..., "query": ..., "route": ...}).')
    return RoutingSet(name=name, cases=cases, sha256=hashlib.sha256(raw).hexdigest())


def load_routing_set(path: Path = ROUTING_SET_FILE) -> RoutingSet:
    """Read and validate a routing set file (default: the shipped one).

    Raises:
        EvalSetError: unreadable or invalid.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise EvalSetError(f"Cannot read the routing set {path}: {exc.strerror}.") from exc
    return parse_routing_set(raw, name=Path(path).name)


def check_set_fits(routing_set: RoutingSet, mode: Mode) -> None:
    """Check that the set can score ``mode``: a routing mode whose routes include every expected one.

    Raises:
        InputError: not a routing mode, or an expected route the mode does not have.
    """
    if mode.router is None:
        raise InputError(f"Mode '{mode.id}' is not a routing mode: routing accuracy needs one (e.g. 'route').")
    names = [r.name for r in mode.router.routes]
    unknown = [r for r in routing_set.routes() if r not in names]
    if unknown:
        raise InputError(f"{routing_set.name} expects route(s) {', '.join(unknown)}, which mode '{mode.id}' does "
                         f"not have (its routes: {', '.join(names)}).")


class RoutingResult(BaseModel):
    """One query routed by one router: what it said, the route that leads to, and whether right."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    query: str
    expected: str
    router: RouterKind = Field(description="'adapter': the mode's classifier; 'base': the base model, same prompt.")
    raw_output: str
    label: str | None = Field(description="The known label the output is; None: the default route was taken.")
    route: str
    ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def correct(self) -> bool:
        return self.route == self.expected


class RouteScore(BaseModel):
    """Accuracy on the queries expected on one route."""

    model_config = ConfigDict(frozen=True)

    route: str
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


class RoutingScores(BaseModel):
    """One router's accuracy overall and per expected route, and how often it said a known label."""

    model_config = ConfigDict(frozen=True)

    router: RouterKind
    n: int
    correct: int
    labelled: int = Field(description="Outputs that were exactly one known label.")
    per_route: list[RouteScore]

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def label_rate(self) -> float:
        return self.labelled / self.n if self.n else 0.0

    def text(self) -> str:
        """``adapter: 91% (104/114) · documents 95% (n=75) · ... · a known label 100%``."""
        parts = [f"{s.route} {100 * s.accuracy:.0f}% (n={s.n})" for s in self.per_route]
        return (f"{self.router}: {100 * self.accuracy:.0f}% ({self.correct}/{self.n}) · " + " · ".join(parts)
                + f" · a known label {100 * self.label_rate:.0f}%")


def routing_scores(results: Sequence[RoutingResult], router: RouterKind = "adapter") -> RoutingScores:
    """Accuracy of one router's results, overall and per expected route (with n)."""
    rows = [r for r in results if r.router == router]
    per: dict[str, list[RoutingResult]] = {}
    for r in rows:
        per.setdefault(r.expected, []).append(r)
    return RoutingScores(
        router=router, n=len(rows), correct=sum(r.correct for r in rows),
        labelled=sum(r.label is not None for r in rows),
        per_route=[RouteScore(route=k, n=len(v), correct=sum(r.correct for r in v)) for k, v in per.items()],
    )


class RoutingRun(BaseModel):
    """A stored routing evaluation: which model, mode, set, and every result."""

    id: str
    created_at: datetime
    model_id: str
    mode_id: str
    router_adapter: str
    set_name: str
    set_sha256: str
    results: list[RoutingResult]

    def scores(self) -> list[RoutingScores]:
        """The adapter's scores, then the base model's (when it was measured)."""
        kinds = [k for k in ("adapter", "base") if any(r.router == k for r in self.results)]
        return [routing_scores(self.results, k) for k in kinds]  # type: ignore[arg-type]

    def to_csv(self) -> str:
        """One row per (router, query), header first (formula-like cells neutralised)."""
        rows = [[r.case_id, r.router, r.query, r.expected, r.raw_output, r.label or "", r.route, r.correct,
                 r.ms, r.prompt_tokens, r.completion_tokens] for r in self.results]
        return csv_text(ROUTING_CSV_FIELDS, rows)

    def claim_problem(self, routing_set: RoutingSet) -> str | None:
        """Why this run cannot stand for claim 7 on ``routing_set`` (None: it can).

        Claim 7, the Benchmark page and the showcases read the stored run as *the* measurement:
        only the built-in ``route`` mode with its own router, on the whole of that set (the same
        file, every query), with the base model's baseline qualifies. A ``--limit``, a custom
        set, ``--no-baseline`` or a user's routing mode answers another question.
        """
        from ragtune.modes import BUILTIN_MODES

        builtin = next(m for m in BUILTIN_MODES if m.id == "route")
        assert builtin.router is not None  # the built-in routing mode
        if self.mode_id != builtin.id or self.router_adapter != builtin.router.adapter:
            return f"it scores mode '{self.mode_id}', not the built-in 'route'"
        if self.set_sha256 != routing_set.sha256:
            return f"it ran on {self.set_name}, not on {routing_set.name}"
        wanted = {c.id for c in routing_set.cases}
        for kind in ("adapter", "base"):
            done = {r.case_id for r in self.results if r.router == kind}
            if kind == "base" and not done:
                return "it has no base-model baseline (--no-baseline)"
            if done != wanted:
                return f"its {kind} router saw {len(done)} of the {len(wanted)} queries (--limit)"
        return None


def run_routing_eval(
    pipeline: Pipeline, mode: Mode, routing_set: RoutingSet, *, baseline: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
) -> RoutingRun:
    """Route every query of the set with the mode's classifier (and, with ``baseline``, with the
    base model and the same prompt); no route is run, only chosen.

    Raises:
        InputError: the mode is not a routing mode, or lacks an expected route.
        ModeUnavailableError: the classifier adapter is missing or does not fit the model.
    """
    from ragtune.evaluation.runner import Progress, estimate_eta
    from ragtune.routing import classify

    check_set_fits(routing_set, mode)
    assert mode.router is not None  # check_set_fits
    kinds: list[RouterKind] = ["adapter", "base"] if baseline else ["adapter"]
    total, started, results = len(kinds) * len(routing_set.cases), time.perf_counter(), []
    for kind in kinds:
        for case in routing_set.cases:
            result, label, _ = classify(pipeline, case.query, mode, with_adapter=kind == "adapter")
            t = result.timings
            results.append(RoutingResult(
                case_id=case.id, query=case.query, expected=case.route, router=kind, raw_output=result.text,
                label=label, route=mode.router.route_for(label).name, ms=round(t.total_ms - t.queue_wait_ms, 3),
                prompt_tokens=t.prompt_tokens, completion_tokens=t.completion_tokens,
            ))
            if on_progress is not None:
                elapsed = time.perf_counter() - started
                on_progress(Progress(done=len(results), total=total, elapsed_s=elapsed,
                                     eta_s=estimate_eta(len(results), total, elapsed), mode_id=f"{mode.id} ({kind})",
                                     case_id=case.id))
    return RoutingRun(
        id=uuid.uuid4().hex[:12], created_at=datetime.now(timezone.utc), model_id=pipeline.runtime.model_id,
        mode_id=mode.id, router_adapter=mode.router.adapter, set_name=routing_set.name,
        set_sha256=routing_set.sha256, results=results,
    )


class RoutingRunStore:
    """Routing runs as JSON files, one per run, in ``<data dir>/evaluations/routing/``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def from_settings(cls, settings: object) -> RoutingRunStore:
        return cls(settings.data_dir / "evaluations" / "routing")  # type: ignore[attr-defined]

    def save(self, run: RoutingRun) -> Path:
        """Write the run (atomically: a half-written file is never read); returns its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{run.id}.json"
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(run.model_dump_json(indent=1), encoding="utf-8")
        os.replace(tmp, path)
        return path

    def load(self, run_id: str) -> RoutingRun:
        """A stored run.

        Raises:
            InputError: no such run, or the file is damaged.
        """
        path = self.folder / f"{run_id}.json"
        if not all(c.isalnum() for c in run_id) or not path.is_file():
            raise InputError(f"No stored routing run '{run_id}'.")
        try:
            return RoutingRun.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise InputError(f"The routing run {path} is unreadable: delete it and run it again.") from exc

    def latest(self, model_id: str | None = None) -> RoutingRun | None:
        """The newest readable run (of ``model_id`` when given); None when there is none."""
        return max(self._runs(model_id), key=lambda r: r.created_at, default=None)

    def latest_measurement(self, model_id: str, routing_set: RoutingSet | None = None
                           ) -> RoutingRun | None:
        """The newest run of ``model_id`` that measures claim 7 (:meth:`RoutingRun.claim_problem`):
        the built-in ``route`` mode on the whole shipped routing set (or ``routing_set``), with
        the base model's baseline; None when there is none.

        Raises:
            EvalSetError: the shipped routing set is unreadable.
        """
        wanted = routing_set if routing_set is not None else load_routing_set()
        runs = [r for r in self._runs(model_id) if r.claim_problem(wanted) is None]
        return max(runs, key=lambda r: r.created_at, default=None)

    def _runs(self, model_id: str | None) -> list[RoutingRun]:
        runs = []
        for path in self.folder.glob("*.json") if self.folder.is_dir() else []:
            try:
                runs.append(RoutingRun.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError, json.JSONDecodeError):
                continue  # a damaged file is skipped here; load() names it
        return [r for r in runs if model_id is None or r.model_id == model_id]


def showcase_cases(routing_set: RoutingSet, run: RoutingRun | Sequence[RoutingResult] | None = None
                   ) -> dict[str, RoutingCase]:
    """One example query per expected route, for a demo: the first one the run's router routed right
    (chosen by measurement), else the route's first case. Show it with the run's rate for that route
    (:func:`routing_scores`), so an example is never passed off as typical."""
    results = run.results if isinstance(run, RoutingRun) else run or ()
    right = {r.case_id for r in results if r.router == "adapter" and r.correct}
    chosen: dict[str, RoutingCase] = {}
    for case in routing_set.cases:
        if case.route not in chosen or (case.id in right and chosen[case.route].id not in right):
            chosen[case.route] = case
    return chosen
