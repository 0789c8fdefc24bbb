"""The runner: a planned run (:class:`RunPlan`) answered by every mode through the real pipeline,
each answer scored and stored as it comes, with progress and a way to cancel.

A **run** is eval set x modes x model. Each (question, document version) pair is an
:class:`~ragtune.evaluation.sets.EvalItem`; each item is answered by each mode through the real
:class:`~ragtune.pipeline.Pipeline` and scored by :mod:`ragtune.evaluation.scoring`. Settings are
deterministic by default (temperature 0, a fixed seed), and recorded with the run.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from ragtune.errors import InputError, RagtuneError
from ragtune.evaluation.scoring import EvalResult, error_result, score_answer
from ragtune.evaluation.sets import EvalItem, EvalSet, Version, plan_items
from ragtune.evaluation.store import EvalRun, EvalRunInfo, EvalStore, RunKind, RunSettings, RunStatus
from ragtune.evaluation.workspaces import judging

if TYPE_CHECKING:
    from ragtune.modes import Mode
    from ragtune.pipeline import Pipeline


class Progress(BaseModel):
    """Where a run is: done of total, elapsed and estimated time left."""

    model_config = ConfigDict(frozen=True)

    done: int
    total: int
    elapsed_s: float
    eta_s: float | None
    mode_id: str = ""
    case_id: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def text(self) -> str:
        """``12/40 · 1:05 elapsed · about 3:10 left``."""
        left = "estimating time left" if self.eta_s is None else f"about {_clock(self.eta_s)} left"
        return f"{self.done}/{self.total} · {_clock(self.elapsed_s)} elapsed · {left}"


def _clock(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def estimate_eta(done: int, total: int, elapsed_s: float) -> float | None:
    """Time left at the mean pace so far; None before the first item."""
    if done <= 0:
        return None
    return elapsed_s / done * max(total - done, 0)


def unavailable_modes(
    pipeline: Pipeline, modes: Sequence[Mode], workspaces: dict[str, str | None]
) -> dict[str, str]:
    """Mode id -> why it cannot run here (a missing adapter, no workspace to retrieve from)."""
    problems: dict[str, str] = {}
    for mode in modes:
        try:
            pipeline.adapter_for(mode)
        except RagtuneError as exc:
            problems[mode.id] = str(exc)
            continue
        if mode.retrieval and (pipeline.kb is None or not all(workspaces.values())):
            problems[mode.id] = f"Mode '{mode.label}' retrieves, but no workspace was given."
    return problems


def run_settings(pipeline: Pipeline) -> RunSettings:
    s = pipeline.settings
    return RunSettings(temperature=s.temperature, seed=s.seed, max_tokens=s.max_tokens,
                       search_mode=s.search_mode, top_k=s.top_k)


def run_evaluation(
    pipeline: Pipeline,
    items: Sequence[EvalItem],
    modes: Sequence[Mode],
    *,
    workspaces: dict[str, str | None],
    store: EvalStore,
    set_name: str,
    set_sha256: str = "",
    kind: RunKind = "eval",
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_result: Callable[[EvalResult], None] | None = None,
) -> EvalRun:
    """Answer every item with every mode, score each answer, and store it as it comes.

    Modes run one after the other (all items of a mode, then the next), so the adapter
    switches once per mode. Each result is stored at once: a cancelled or interrupted run
    keeps what it has, with status ``cancelled``.

    Args:
        workspaces: the workspace each document version is asked against (``{"v1": "demo"}``).
        should_cancel: checked before each answer; True stops the run.
        on_progress: called after each answer with the progress and the time left.

    Raises:
        InputError: no items or no modes.
        ModeUnavailableError: a mode cannot run here (checked before anything runs).
    """
    from ragtune.errors import ModeUnavailableError

    if not items or not modes:
        raise InputError("Choose at least one question and one mode.")
    missing = [v for v in {i.version for i in items} if v not in workspaces]
    if missing:
        raise InputError(f"No workspace given for document version(s) {', '.join(sorted(missing))}.")
    problems = unavailable_modes(pipeline, modes, workspaces)
    if problems:
        raise ModeUnavailableError(" ".join(problems.values()))
    cases = list({i.case.id: i.case for i in items}.values())
    info = EvalRunInfo(
        id=uuid.uuid4().hex[:12], created_at=datetime.now(timezone.utc), status="running", kind=kind, set_name=set_name,
        set_sha256=set_sha256, model_id=pipeline.runtime.model_id, mode_ids=[m.id for m in modes],
        workspaces=dict(workspaces), settings=run_settings(pipeline), n_items=len(items),
    )
    store.create_run(info, cases)
    total = len(items) * len(modes)
    started = time.perf_counter()
    done = 0
    status: RunStatus = "complete"
    try:
        for mode in modes:
            for item in items:
                if should_cancel is not None and should_cancel():
                    status = "cancelled"
                    break
                workspace = workspaces[item.version]
                try:
                    result = score_answer(item, pipeline.run(item.case.question, mode, workspace))
                except RagtuneError as exc:
                    result = error_result(item, mode, str(exc), workspace)
                store.add_result(info.id, result)
                done += 1
                if on_result is not None:
                    on_result(result)
                if on_progress is not None:
                    elapsed = time.perf_counter() - started
                    on_progress(Progress(done=done, total=total, elapsed_s=elapsed,
                                         eta_s=estimate_eta(done, total, elapsed),
                                         mode_id=mode.id, case_id=item.case.id))
            if status == "cancelled":
                break
    except Exception as exc:
        store.finish_run(info.id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:
        # Streamlit stops a script run by raising inside it (a rerun, a Cancel click), and
        # Ctrl-C is KeyboardInterrupt: the run was cancelled, not broken.
        store.finish_run(info.id, "cancelled")
        raise
    store.finish_run(info.id, status)
    return store.load(info.id)


def deterministic_settings(settings: Any, **overrides: Any) -> Any:
    """A copy of the settings with greedy decoding (temperature 0), for reproducible runs."""
    return settings.model_copy(update={"temperature": 0.0, **overrides})



@dataclass(frozen=True)
class RunPlan:
    """What a run will do, decided before anything runs (the Benchmark page and the CLI build one).

    ``workspaces`` maps each document version of the items to the workspace it is asked
    against; ``skipped`` names the modes left out because they cannot run here, and why;
    ``not_judged`` the questions left out because a gold document of theirs was edited (case id:
    why), so no answer is scored against a gold answer its documents no longer give; ``elsewhere`` the
    questions left out because their gold answer is another workspace's (case id: that workspace).
    """

    pipeline: Pipeline
    eval_set: EvalSet
    items: list[EvalItem]
    modes: list[Mode]
    workspaces: dict[str, str | None]
    kind: RunKind = "eval"
    skipped: dict[str, str] = field(default_factory=dict)
    not_judged: dict[str, str] = field(default_factory=dict)
    elsewhere: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """``12 questions × 4 modes``."""
        return f"{len(self.items)} questions × {len(self.modes)} modes"


def plan_eval(
    pipeline: Pipeline, eval_set: EvalSet, modes: Sequence[Mode], workspace: str | None,
    *, version: Version | None = None, limit: int | None = None,
) -> RunPlan:
    """Every case of ``eval_set`` in every mode, retrieving from ``workspace`` and judged against
    ``version`` (default: the demo version the workspace holds), except the cases a gold document
    of which the workspace holds edited (:func:`~ragtune.evaluation.workspaces.judging`, the rule
    the Lab follows), and the cases whose gold answer belongs to another workspace (``EvalCase.workspace``:
    a tenant's): those are left out, in ``not_judged`` and ``elsewhere``. ``limit``: only the first that many
    of the cases left (a tenant's first questions, not the set's).

    Raises:
        InputError: every case is left out.
    """
    basis = judging(pipeline.kb, workspace, version)
    elsewhere = {c.id: str(c.workspace) for c in eval_set.cases if c.workspace not in (None, workspace)}
    not_judged = {c.id: reason for c in eval_set.cases if c.id not in elsewhere and (reason := basis.not_judged(c))}
    cases = [c for c in eval_set.cases if c.id not in not_judged and c.id not in elsewhere]
    if not cases and len(elsewhere) == len(eval_set.cases):
        raise InputError(f"No question of {eval_set.name} is asked of workspace '{workspace}': their answers are "
                         f"for {', '.join(sorted(set(elsewhere.values())))}. Evaluate one of those (--workspace).")
    if not cases:
        raise InputError(f"No question can be judged on workspace '{workspace}': the documents of every one "
                         f"were edited ({', '.join(basis.edited)}). Restore them, or evaluate another workspace.")
    cases = cases if limit is None else cases[: max(limit, 0)]
    return RunPlan(pipeline=pipeline, eval_set=eval_set, items=plan_items(cases, basis.version),
                   modes=list(modes), workspaces={basis.version: workspace}, not_judged=not_judged,
                   elsewhere=elsewhere)


def run_plan(
    plan: RunPlan, *, store: EvalStore, on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> EvalRun:
    """Run ``plan`` (see :func:`run_evaluation`)."""
    return run_evaluation(
        plan.pipeline, plan.items, plan.modes, workspaces=plan.workspaces, store=store,
        set_name=plan.eval_set.name, set_sha256=plan.eval_set.sha256, kind=plan.kind,
        on_progress=on_progress, should_cancel=should_cancel,
    )
