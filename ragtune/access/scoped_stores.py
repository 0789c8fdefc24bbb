"""The per-user records as one user may use them: the query log, evaluation runs, training jobs, saved modes.

Each view wraps the store itself and has its public methods. A record carries who made it (the query
log's ``user``, a run's, job's or mode's ``owner``); a user sees and changes their own, an admin every
user's. A record made before sign-in existed, or with ``RAGTUNE_AUTH=none``, carries '' and is an
admin's to see (a saved mode with no owner is everyone's, like the built-in ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragtune.errors import ModeError, PermissionDenied
from ragtune.evaluation.store import EvalRun, EvalRunInfo, EvalStore, RunKind, RunStatus
from ragtune.modes import BUILTIN_IDS, BUILTIN_MODES, Mode, ModeStore, check_routes
from ragtune.store import LogColumn, LogEntry, LogFilter, QueryLog, Source
from ragtune.training.jobs import JobState, TrainingJobs

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from ragtune.access.scoped import Scope
    from ragtune.answer import Answer
    from ragtune.evaluation.scoring import EvalResult
    from ragtune.evaluation.sets import EvalCase
    from ragtune.training.options import TrainOptions


def _whose(owner: str) -> str:
    return f"{owner}'s" if owner else "from before sign-in"


class ScopedQueryLog:
    """The query log as one user sees it: their own answers (an admin: everyone's, and
    :attr:`LogFilter.user <ragtune.store.LogFilter.user>` picks one user's)."""

    def __init__(self, log: QueryLog, scope: Scope) -> None:
        self.log = log
        self.scope = scope

    @property
    def path(self) -> Path:
        return self.log.path

    @property
    def _own(self) -> str | None:
        """The user whose rows this view shows; None: everyone's (an admin)."""
        return None if self.scope.principal.is_admin else self.scope.owner

    def _filter(self, flt: LogFilter | None) -> LogFilter:
        flt = flt or LogFilter()
        own = self._own
        if own is None:
            return flt
        if flt.user is not None and flt.user != own:
            raise PermissionDenied(f"{own} may not read the queries of {flt.user or 'anyone before sign-in'}: "
                                   "only an admin may read other users' queries.")
        return flt.model_copy(update={"user": own})

    def add(self, answer: Answer, *, source: Source = "lab", run_id: str = "", verdict: str | None = None,
            verdict_note: str | None = None) -> int:
        """Log one answer as the user's; returns its id."""
        return self.log.add(answer, source=source, run_id=run_id, verdict=verdict, verdict_note=verdict_note,
                            user=self.scope.owner)

    def entries(self, flt: LogFilter | None = None) -> list[LogEntry]:
        """The user's answers matching ``flt``, oldest first.

        Raises:
            PermissionDenied: ``flt.user`` names another user and the user is no admin.
        """
        return self.log.entries(self._filter(flt))

    def count(self, flt: LogFilter | None = None) -> int:
        return self.log.count(self._filter(flt))

    def export_csv(self, flt: LogFilter | None = None) -> str:
        return self.log.export_csv(self._filter(flt))

    def run_entries(self, run_id: str) -> list[LogEntry]:
        """The user's answers of one Lab comparison (a link to another user's comparison finds none)."""
        return self.log.run_entries(run_id, user=self._own)

    def get(self, entry_id: int) -> LogEntry:
        """One of the user's answers by id.

        Raises:
            InputError: no such entry.
            PermissionDenied: another user's entry.
        """
        entry = self.log.get(entry_id)
        own = self._own
        if own is not None and entry.user != own:
            raise PermissionDenied(f"{own} may not read logged query #{entry_id}: it is {_whose(entry.user)}; "
                                   "only an admin may read other users' queries.")
        return entry

    def distinct(self, column: LogColumn) -> list[str]:
        """The values a filter can choose from, among the user's answers."""
        return self.log.distinct(column, user=self._own)

    def clear(self) -> int:
        """Delete the user's answers (an admin's: every answer); returns how many were deleted."""
        return self.log.clear(user=self._own)

    def journal_mode(self) -> str:
        return self.log.journal_mode()


class ScopedEvalStore:
    """Evaluation runs as one user sees them: their own (an admin: everyone's). A run they start is theirs."""

    def __init__(self, store: EvalStore, scope: Scope) -> None:
        self.store = store
        self.scope = scope

    @property
    def path(self) -> Path:
        return self.store.path

    def _require_own(self, run_id: str, what: str) -> None:
        owner = self.store.owner_of(run_id)
        if owner is None or self.scope.principal.is_admin or owner == self.scope.owner:
            return  # no such run: the store says so in its own words
        raise PermissionDenied(f"{self.scope.principal.email} may not {what} evaluation run '{run_id}': it is "
                               f"{_whose(owner)}; only its owner or an admin may.")

    def create_run(self, info: EvalRunInfo, cases: Sequence[EvalCase]) -> None:
        """Store a new run as the user's."""
        self.store.create_run(info.model_copy(update={"owner": self.scope.owner}), cases)

    def add_result(self, run_id: str, result: EvalResult) -> None:
        self._require_own(run_id, "add results to")
        self.store.add_result(run_id, result)

    def finish_run(self, run_id: str, status: RunStatus, error: str = "") -> None:
        self._require_own(run_id, "finish")
        self.store.finish_run(run_id, status, error)

    def owner_of(self, run_id: str) -> str | None:
        self._require_own(run_id, "look at")
        return self.store.owner_of(run_id)

    def runs(self, *, kind: RunKind | None = None, limit: int = 200) -> list[EvalRunInfo]:
        """The user's stored runs, newest first (an admin: everyone's)."""
        own = None if self.scope.principal.is_admin else self.scope.owner
        return self.store.runs(kind=kind, limit=limit, owner=own)

    def load(self, run_id: str) -> EvalRun:
        """One of the user's runs with its cases and results.

        Raises:
            InputError: no such run.
            PermissionDenied: another user's run.
        """
        self._require_own(run_id, "read")
        return self.store.load(run_id)


class ScopedTrainingJobs:
    """Training jobs as one user sees them: their own (an admin: everyone's). A job a non-admin starts
    trains a personal adapter; an admin's, a shared one."""

    def __init__(self, jobs: TrainingJobs, scope: Scope) -> None:
        self.jobs = jobs
        self.scope = scope

    @property
    def root(self) -> Path:
        return self.jobs.root

    def _mine(self, state: JobState) -> bool:
        return self.scope.principal.is_admin or state.owner == self.scope.owner

    def _own_job(self, job_id: str, what: str) -> JobState:
        state = self.jobs.get(job_id)
        if not self._mine(state):
            raise PermissionDenied(f"{self.scope.principal.email} may not {what} training job '{job_id}': it is "
                                   f"{_whose(state.owner)}; only its owner or an admin may.")
        return state

    def start(self, *, name: str, base_model_id: str, data: bytes, data_name: str, options: TrainOptions) -> JobState:
        """Start a job as the user's (see :meth:`TrainingJobs.start`); its adapter is personal unless the
        user is an admin.

        Raises:
            AdapterError: the name is invalid or taken in the user's catalog.
        """
        from ragtune.errors import AdapterError

        personal = not self.scope.principal.is_admin
        stem = name.removesuffix(".gguf").strip()
        if stem in self.scope.catalog(self.jobs.settings).taken_names():
            raise AdapterError(f"An adapter named '{stem}' exists already; choose another name.")
        return self.jobs.start(name=name, base_model_id=base_model_id, data=data, data_name=data_name,
                               options=options, owner=self.scope.owner, personal=personal)

    def list(self) -> list[JobState]:
        """The user's jobs, newest first (an admin: everyone's)."""
        return [state for state in self.jobs.list() if self._mine(state)]

    def get(self, job_id: str) -> JobState:
        return self._own_job(job_id, "look at")

    def cancel(self, job_id: str) -> None:
        self._own_job(job_id, "cancel")
        self.jobs.cancel(job_id)

    def forget(self, job_id: str) -> None:
        self._own_job(job_id, "remove")
        self.jobs.forget(job_id)

    def log_tail(self, job_id: str, lines: int = 20) -> str:
        self._own_job(job_id, "read the log of")
        return self.jobs.log_tail(job_id, lines)


class ScopedModeStore:
    """The modes one user may use: the built-in ones, the saved ones with no owner (everyone's), and
    their own; an admin sees every saved mode. A mode the user saves is theirs."""

    def __init__(self, store: ModeStore, scope: Scope) -> None:
        self.store = store
        self.scope = scope

    @property
    def path(self) -> Path:
        return self.store.path

    def _visible(self, mode: Mode) -> bool:
        return self.scope.principal.is_admin or mode.owner in ("", self.scope.owner)

    def user_modes(self) -> list[Mode]:
        """The saved modes the user may use."""
        return [m for m in self.store.user_modes() if self._visible(m)]

    def all(self) -> list[Mode]:
        """Built-in modes first, then the saved ones the user may use."""
        return [*BUILTIN_MODES, *self.user_modes()]

    def ids(self) -> list[str]:
        return [m.id for m in self.all()]

    def get(self, mode_id: str) -> Mode:
        """A mode the user may use (another user's is unknown here).

        Raises:
            ModeError: no such mode.
        """
        for mode in self.all():
            if mode.id == mode_id:
                return mode
        raise ModeError(f"Unknown mode '{mode_id}'. Known modes: {', '.join(self.ids())}.")

    def resolve(self, mode_ids: list[str]) -> list[Mode]:
        return [self.get(mode_id) for mode_id in mode_ids]

    def save(self, mode: Mode) -> Mode:
        """Save (or replace) one of the user's modes, as theirs.

        Raises:
            ModeError: the id is a built-in's or another user's, a route leads to a mode the user cannot
                use, or the user has too many modes.
            PermissionDenied: replacing a mode everyone shares (an admin may).
        """
        if mode.id in BUILTIN_IDS:
            raise ModeError(f"'{mode.id}' is a built-in mode; choose another id.")
        existing = next((m for m in self.store.user_modes() if m.id == mode.id), None)
        owner = self.scope.owner
        if existing is not None and not self.scope.principal.is_admin and existing.owner != owner:
            if existing.owner:
                raise ModeError(f"The mode id '{mode.id}' is taken; choose another id.")
            raise PermissionDenied(f"{owner} may not replace the mode '{mode.id}': it is everyone's; only an "
                                   "admin may change it. Save yours under another id.")
        if existing is not None and self.scope.principal.is_admin:
            owner = existing.owner  # an admin's edit keeps the mode where it was
        stamped = mode.model_copy(update={"owner": owner})
        check_routes(stamped, {m.id: m for m in [*self.all(), stamped]})  # only to modes the user can use
        return self.store.save(stamped)

    def delete(self, mode_id: str) -> None:
        """Delete one of the user's saved modes (an admin: any).

        Raises:
            ModeError: a built-in mode, or no such mode the user can see.
            PermissionDenied: a mode everyone shares (an admin may).
        """
        if mode_id in BUILTIN_IDS:
            raise ModeError(f"'{mode_id}' is a built-in mode and cannot be deleted.")
        mode = next((m for m in self.user_modes() if m.id == mode_id), None)
        if mode is None:
            raise ModeError(f"No saved mode '{mode_id}'.")
        if mode.owner != self.scope.owner and not self.scope.principal.is_admin:
            raise PermissionDenied(f"{self.scope.principal.email} may not delete the mode '{mode_id}': it is "
                                   "everyone's; only an admin may.")
        self.store.delete(mode_id)


__all__ = ["ScopedEvalStore", "ScopedModeStore", "ScopedQueryLog", "ScopedTrainingJobs"]
