"""Stored runs: their header and results in ``evaluations.sqlite3`` (WAL), combined runs, and the CSV export.

A run records who started it (``owner``; '' for a run stored before sign-in existed, or with
``RAGTUNE_AUTH=none``): :class:`ragtune.access.ScopedEvalStore` shows each user their own runs.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.csvsafe import csv_text
from ragtune.errors import InputError
from ragtune.evaluation.scoreboard import ModeScore, scoreboard
from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.sets import EvalCase
from ragtune.sqlite_file import SQLiteFile

RunStatus = Literal["running", "complete", "cancelled", "failed"]
RunKind = Literal["eval", "report"]


class RunSettings(BaseModel):
    """The generation settings a run used (recorded so a run can be reproduced)."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.0
    seed: int = 42
    max_tokens: int = 256
    search_mode: str = ""
    top_k: int = 0


class EvalRunInfo(BaseModel):
    """A stored run's header."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime
    finished_at: datetime | None = None
    status: RunStatus
    kind: RunKind = "eval"
    set_name: str
    set_sha256: str = ""
    model_id: str
    mode_ids: list[str]
    workspaces: dict[str, str | None] = Field(description="Document version -> workspace.")
    settings: RunSettings
    n_items: int
    n_results: int = 0
    error: str = ""
    owner: str = Field(default="", description="Who started the run; '': before sign-in (or RAGTUNE_AUTH=none).")

    @property
    def planned(self) -> int:
        return self.n_items * len(self.mode_ids)

    def title(self) -> str:
        """One line naming the run."""
        when = self.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        return (f"{when} · {self.set_name} · {', '.join(self.mode_ids)} · {self.model_id} · "
                f"{self.status} ({self.n_results}/{self.planned})")


class EvalRun(BaseModel):
    """A run with its cases and results (what :meth:`EvalStore.load` returns)."""

    info: EvalRunInfo
    cases: list[EvalCase]
    results: list[EvalResult]

    def scoreboard(self) -> list[ModeScore]:
        return scoreboard(self.results)

    def to_json(self) -> str:
        """The run, its scoreboard and every result as JSON (the export format)."""
        return json.dumps({
            "run": self.info.model_dump(mode="json"),
            "scoreboard": [s.model_dump(mode="json") for s in self.scoreboard()],
            "results": [r.model_dump(mode="json") for r in self.results],
        }, indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        """One row per (question, version, mode), header first."""
        return results_csv(self.results)


def combine_runs(runs: Sequence[EvalRun]) -> EvalRun:
    """Several stored runs of one model and settings as one (for a report over runs made in parts).

    A later run's answer replaces an earlier one's for the same (mode, question, version), so
    modes compared with each other should come from the same run (latency depends on the load).

    Raises:
        InputError: no runs, or runs of different models or generation settings.
    """
    if not runs:
        raise InputError("No runs to combine.")
    first = runs[0].info
    for run in runs[1:]:
        if (run.info.model_id, run.info.settings) != (first.model_id, first.settings):
            raise InputError(f"Run {run.info.id} used another model or other settings than {first.id}; "
                             "only runs of the same model and settings can be combined.")
    if len(runs) == 1:
        return runs[0]
    merged: dict[tuple[str, str, str], EvalResult] = {}
    for run in runs:
        for result in run.results:
            merged[(result.mode_id, result.case_id, result.version)] = result
    mode_ids = list(dict.fromkeys(m for run in runs for m in run.info.mode_ids))
    cases = list({c.id: c for run in runs for c in run.cases}.values())
    statuses = {run.info.status for run in runs}
    info = first.model_copy(update={
        "id": "+".join(run.info.id for run in runs), "mode_ids": mode_ids, "n_results": len(merged),
        "status": "complete" if statuses == {"complete"} else sorted(statuses - {"complete"})[0],
        "n_items": max(run.info.n_items for run in runs),
    })
    ordered = sorted(merged.values(), key=lambda r: (mode_ids.index(r.mode_id), r.version, r.case_id))
    return EvalRun(info=info, cases=cases, results=ordered)


CSV_FIELDS: tuple[str, ...] = (
    "case_id", "version", "mode_id", "kind", "question", "gold", "answer_text", "verdict", "correct",
    "format_valid", "json_valid", "parse_status", "abstained", "should_abstain", "stale", "cited", "supporting_docs",
    "citation_precision", "citation_recall", "total_ms", "ttft_ms", "prompt_tokens", "cached_prompt_tokens",
    "completion_tokens", "local_usd", "api_usd", "error", "text",
)


def results_csv(results: Sequence[EvalResult]) -> str:
    """Per-question results as CSV (lists joined with ``|``; formula-like cells neutralised)."""
    rows = []
    for result in results:
        data = result.model_dump()
        rows.append(["|".join(data[f]) if isinstance(data[f], list) else data[f] for f in CSV_FIELDS])
    return csv_text(CSV_FIELDS, rows)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS eval_runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    set_name TEXT NOT NULL,
    set_sha256 TEXT NOT NULL,
    model_id TEXT NOT NULL,
    mode_ids TEXT NOT NULL,
    workspaces TEXT NOT NULL,
    settings TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    cases TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS eval_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
    case_id TEXT NOT NULL,
    version TEXT NOT NULL,
    mode_id TEXT NOT NULL,
    correct INTEGER NOT NULL,
    format_valid INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS eval_results_run ON eval_results (run_id, id);
"""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class EvalStore(SQLiteFile):
    """Runs and per-question results in ``evaluations.sqlite3`` (WAL; a connection per call)."""

    schema = _SCHEMA
    what = "evaluation store"
    # Runs from before runs had owners: owner '' (shown to admins).
    added_columns = (("eval_runs", "owner", "TEXT NOT NULL DEFAULT ''"),)

    @classmethod
    def from_settings(cls, settings: Any) -> EvalStore:
        return cls(settings.ensure_data_dir() / "evaluations.sqlite3")

    def create_run(self, info: EvalRunInfo, cases: Sequence[EvalCase]) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO eval_runs (id, created_at, finished_at, status, kind, set_name, set_sha256, "
                "model_id, mode_ids, workspaces, settings, n_items, cases, error, owner) "
                "VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (info.id, info.created_at.isoformat(), info.status, info.kind, info.set_name, info.set_sha256,
                 info.model_id, json.dumps(info.mode_ids), json.dumps(info.workspaces),
                 info.settings.model_dump_json(), info.n_items,
                 json.dumps([c.model_dump(mode="json") for c in cases]), info.error, info.owner),
            )

    def add_result(self, run_id: str, result: EvalResult) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO eval_results (run_id, case_id, version, mode_id, correct, format_valid, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, result.case_id, result.version, result.mode_id, int(result.correct),
                 None if result.format_valid is None else int(result.format_valid), result.model_dump_json()),
            )

    def finish_run(self, run_id: str, status: RunStatus, error: str = "") -> None:
        with self._connect() as db:
            db.execute("UPDATE eval_runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                       (status, _now().isoformat(), error, run_id))

    @staticmethod
    def _info(row: sqlite3.Row, n_results: int) -> EvalRunInfo:
        return EvalRunInfo(
            id=row["id"], created_at=datetime.fromisoformat(row["created_at"]),
            finished_at=datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None,
            status=row["status"], kind=row["kind"], set_name=row["set_name"], set_sha256=row["set_sha256"],
            model_id=row["model_id"], mode_ids=json.loads(row["mode_ids"]),
            workspaces=json.loads(row["workspaces"]), settings=RunSettings.model_validate_json(row["settings"]),
            n_items=row["n_items"], n_results=n_results, error=row["error"], owner=row["owner"],
        )

    def runs(self, *, kind: RunKind | None = None, limit: int = 200, owner: str | None = None) -> list[EvalRunInfo]:
        """Stored runs, newest first (only ``owner``'s, when given)."""
        clauses, params = [], []
        for column, value in (("kind", kind or None), ("owner", owner)):
            if value is not None:
                clauses.append(f"r.{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._connect() as db:
            rows = db.execute(
                "SELECT r.*, (SELECT COUNT(*) FROM eval_results e WHERE e.run_id = r.id) AS n_results "
                f"FROM eval_runs r {where} ORDER BY r.created_at DESC LIMIT ?", [*params, limit]
            ).fetchall()
        return [self._info(row, row["n_results"]) for row in rows]

    def owner_of(self, run_id: str) -> str | None:
        """Who started the run ('' before sign-in); None: no such run."""
        with self._connect() as db:
            row = db.execute("SELECT owner FROM eval_runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else str(row["owner"])

    def load(self, run_id: str) -> EvalRun:
        """A run with its cases and results.

        Raises:
            InputError: no such run.
        """
        with self._connect() as db:
            row = db.execute("SELECT * FROM eval_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise InputError(f"No stored evaluation run '{run_id}'.")
            data = db.execute("SELECT data FROM eval_results WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        results = [EvalResult.model_validate_json(d["data"]) for d in data]
        cases = [EvalCase.model_validate(c) for c in json.loads(row["cases"])]
        return EvalRun(info=self._info(row, len(results)), cases=cases, results=results)
