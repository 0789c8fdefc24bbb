"""The query log: every lab answer, in SQLite under the data directory.

One row per answer: the query, mode, workspace, model, adapter, retrieved chunk ids, the
answer and its parse result, the verdict on a demo question (NULL: not judged), the timings
and token counts, both costs and the time, a routing mode's route (NULL: answered
directly), and the signed-in user who asked ('' for an answer logged before sign-in existed, or
with ``RAGTUNE_AUTH=none``; :class:`ragtune.access.ScopedQueryLog` shows each user their own). The database runs in WAL mode, so the History page can read while the Lab writes,
and every call opens its own connection (Streamlit runs each session in its own thread). A log
file written before a column existed gains it on opening.

Examples:
    >>> import tempfile, pathlib
    >>> log = QueryLog(pathlib.Path(tempfile.mkdtemp()) / "q.sqlite3")
    >>> log.count()
    0
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.answer import AnswerTimings, RouteTaken
from ragtune.csvsafe import csv_text
from ragtune.errors import InputError
from ragtune.sqlite_file import SQLiteFile

if TYPE_CHECKING:
    from ragtune.answer import Answer

Source = Literal["lab", "cli", "bench"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    source TEXT NOT NULL,
    run_id TEXT NOT NULL DEFAULT '',
    query TEXT NOT NULL,
    mode_id TEXT NOT NULL,
    mode_label TEXT NOT NULL,
    mode_json TEXT NOT NULL,
    workspace TEXT NOT NULL DEFAULT '',
    model_id TEXT NOT NULL,
    adapter TEXT NOT NULL DEFAULT '',
    adapter_scale REAL,
    retrieved_ids TEXT NOT NULL,
    answer TEXT NOT NULL,
    display_answer TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    parse_status TEXT NOT NULL,
    parse_detail TEXT NOT NULL,
    citations TEXT NOT NULL,
    retrieval_ms REAL NOT NULL,
    queue_wait_ms REAL NOT NULL,
    adapter_switch_ms REAL NOT NULL,
    prompt_eval_ms REAL NOT NULL,
    ttft_ms REAL NOT NULL,
    generation_ms REAL NOT NULL,
    total_ms REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    cached_prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    tokens_per_s REAL NOT NULL,
    local_cost_usd REAL NOT NULL,
    api_model TEXT NOT NULL,
    api_cost_usd REAL NOT NULL,
    amortized_usd REAL NOT NULL,
    costs_json TEXT NOT NULL,
    verdict TEXT,
    verdict_note TEXT,
    routing_ms REAL NOT NULL DEFAULT 0,
    route_json TEXT,
    user TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS queries_created ON queries (created_at);
CREATE INDEX IF NOT EXISTS queries_run ON queries (run_id);
"""
# Columns added after the first release, with their types: an older file gains them (NULL in
# its old rows) when it is opened.
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("verdict", "TEXT"), ("verdict_note", "TEXT"), ("routing_ms", "REAL NOT NULL DEFAULT 0"), ("route_json", "TEXT"),
    ("user", "TEXT NOT NULL DEFAULT ''"),
)
# Indexes on added columns: created after the columns exist (an old file gains them on opening).
_ADDED_INDEXES = "CREATE INDEX IF NOT EXISTS queries_user ON queries (user, created_at);"
LOG_COLUMNS = ("mode_id", "workspace", "model_id", "adapter", "user")
LogColumn = Literal["mode_id", "workspace", "model_id", "adapter", "user"]


class LogEntry(BaseModel):
    """One logged answer, as read back."""

    model_config = ConfigDict(frozen=True)

    id: int
    created_at: datetime
    source: str
    run_id: str
    query: str
    mode_id: str
    mode_label: str
    workspace: str
    model_id: str
    adapter: str
    adapter_scale: float | None
    retrieved_ids: list[str]
    answer: str
    display_answer: str
    finish_reason: str
    parse_status: str
    parse_detail: str
    citations: list[dict[str, object]]
    retrieval_ms: float
    queue_wait_ms: float
    adapter_switch_ms: float
    prompt_eval_ms: float
    ttft_ms: float
    generation_ms: float
    total_ms: float
    prompt_tokens: int
    cached_prompt_tokens: int
    completion_tokens: int
    tokens_per_s: float
    local_cost_usd: float
    api_model: str
    api_cost_usd: float
    amortized_usd: float
    verdict: str | None = Field(default=None, description="On a demo question; None: not judged.")
    verdict_note: str | None = None
    routing_ms: float = 0.0
    route: RouteTaken | None = Field(default=None, description="A routing mode's route; None: answered directly.")
    user: str = Field(default="", description="Who asked; '': logged before sign-in (or RAGTUNE_AUTH=none).")

    @property
    def format_valid(self) -> bool | None:
        return None if self.parse_status == "free_text" else self.parse_status == "ok"

    @property
    def route_text(self) -> str:
        """``label → route (what answered)`` for a routed answer, else empty."""
        return self.route.describe() if self.route is not None else ""

    @property
    def timings(self) -> AnswerTimings:
        """The logged timings as the answer had them."""
        return AnswerTimings.model_validate({name: getattr(self, name) for name in AnswerTimings.model_fields})


class LogFilter(BaseModel):
    """Which log entries to read; empty lists mean "any"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modes: list[str] = Field(default_factory=list)
    workspaces: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    adapters: list[str] = Field(default_factory=list, description="'' stands for no adapter.")
    since: datetime | None = None
    until: datetime | None = None
    user: str | None = Field(default=None, description="Only this user's answers ('': those logged before "
                             "sign-in); None: anyone's.")
    limit: int = Field(default=10_000, ge=1, le=1_000_000)


CSV_COLUMNS: tuple[str, ...] = (
    "id", "created_at", "source", "query", "mode_id", "route", "workspace", "model_id", "adapter",
    "adapter_scale", "retrieved_ids", "display_answer", "answer", "finish_reason", "parse_status",
    "parse_detail", "retrieval_ms", "routing_ms", "queue_wait_ms", "adapter_switch_ms", "prompt_eval_ms",
    "ttft_ms", "generation_ms", "total_ms", "prompt_tokens", "cached_prompt_tokens", "completion_tokens",
    "tokens_per_s", "local_cost_usd", "api_model", "api_cost_usd", "amortized_usd", "verdict",
    "user",  # last: scripts that read the columns of the export from before sign-in by position keep working
)


def _utc(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


class QueryLog(SQLiteFile):
    """The SQLite query log (``queries.sqlite3`` in the data directory)."""

    schema = _SCHEMA
    what = "query log"
    added_columns = tuple(("queries", name, kind) for name, kind in _ADDED_COLUMNS)
    added_schema = _ADDED_INDEXES

    def add(self, answer: Answer, *, source: Source = "lab", run_id: str = "", verdict: str | None = None,
            verdict_note: str | None = None, user: str = "") -> int:
        """Log one answer, with its verdict if it was judged, and who asked (``user``); returns its id."""
        t = answer.timings
        c = answer.cost
        row = {
            "created_at": _utc(answer.created_at),
            "source": source,
            "run_id": run_id,
            "query": answer.query,
            "mode_id": answer.mode.id,
            "mode_label": answer.mode.label,
            "mode_json": answer.mode.model_dump_json(),
            "workspace": answer.workspace or "",
            "model_id": answer.model_id,
            "adapter": answer.adapter or "",
            "adapter_scale": answer.mode.adapter_scale if answer.adapter else None,
            "retrieved_ids": json.dumps(answer.retrieved_ids),
            "answer": answer.text,
            "display_answer": answer.display_text,
            "finish_reason": answer.finish_reason,
            "parse_status": answer.parse.status,
            "parse_detail": answer.parse.detail,
            "citations": json.dumps([ci.model_dump(include={"chunk_id", "status", "number"})
                                     for ci in answer.citations]),
            "retrieval_ms": t.retrieval_ms,
            "queue_wait_ms": t.queue_wait_ms,
            "adapter_switch_ms": t.adapter_switch_ms,
            "prompt_eval_ms": t.prompt_eval_ms,
            "ttft_ms": t.ttft_ms,
            "generation_ms": t.generation_ms,
            "total_ms": t.total_ms,
            "prompt_tokens": t.prompt_tokens,
            "cached_prompt_tokens": t.cached_prompt_tokens,
            "completion_tokens": t.completion_tokens,
            "tokens_per_s": t.tokens_per_s,
            "local_cost_usd": c.local_compute_usd,
            "api_model": c.reference_model,
            "api_cost_usd": c.api_reference_usd,
            "amortized_usd": c.amortized_usd,
            "costs_json": c.model_dump_json(),
            "verdict": verdict,
            "verdict_note": verdict_note,
            "routing_ms": t.routing_ms,
            "route_json": answer.route.model_dump_json() if answer.route is not None else None,
            "user": user,
        }
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._connect() as db:
            cursor = db.execute(f"INSERT INTO queries ({columns}) VALUES ({marks})", row)
            return int(cursor.lastrowid or 0)

    @staticmethod
    def _where(flt: LogFilter) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        for column, values in (("mode_id", flt.modes), ("workspace", flt.workspaces),
                               ("model_id", flt.models), ("adapter", flt.adapters)):
            if values:
                clauses.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        if flt.since is not None:
            clauses.append("created_at >= ?")
            params.append(_utc(flt.since))
        if flt.until is not None:
            clauses.append("created_at <= ?")
            params.append(_utc(flt.until))
        if flt.user is not None:
            clauses.append("user = ?")
            params.append(flt.user)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def entries(self, flt: LogFilter | None = None) -> list[LogEntry]:
        """Logged answers matching ``flt``, oldest first (the newest ``limit`` of them)."""
        flt = flt or LogFilter()
        where, params = self._where(flt)
        sql = f"SELECT * FROM (SELECT * FROM queries{where} ORDER BY created_at DESC, id DESC LIMIT ?) " \
              "ORDER BY created_at, id"
        with self._connect() as db:
            rows = db.execute(sql, [*params, flt.limit]).fetchall()
        return [self._entry(row) for row in rows]

    def run_entries(self, run_id: str, *, user: str | None = None) -> list[LogEntry]:
        """The answers logged under one run id (one Lab comparison), in the order they were given (only
        ``user``'s, when given); empty when there are none (the log was cleared, or no such run)."""
        if not run_id:
            return []
        sql, params = "SELECT * FROM queries WHERE run_id = ?", [run_id]
        if user is not None:
            sql, params = sql + " AND user = ?", [*params, user]
        with self._connect() as db:
            rows = db.execute(sql + " ORDER BY id", params).fetchall()
        return [self._entry(row) for row in rows]

    def get(self, entry_id: int) -> LogEntry:
        """One entry by id.

        Raises:
            InputError: no such entry.
        """
        with self._connect() as db:
            row = db.execute("SELECT * FROM queries WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise InputError(f"No logged query #{entry_id}.")
        return self._entry(row)

    @staticmethod
    def _entry(row: sqlite3.Row) -> LogEntry:
        data = dict(row)
        data["retrieved_ids"] = json.loads(data["retrieved_ids"])
        data["citations"] = json.loads(data["citations"])
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        route = data.pop("route_json", None)
        data["route"] = RouteTaken.model_validate_json(route) if route else None
        for unused in ("mode_json", "costs_json"):
            data.pop(unused)
        return LogEntry.model_validate(data)

    def count(self, flt: LogFilter | None = None) -> int:
        where, params = self._where(flt or LogFilter())
        with self._connect() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM queries{where}", params).fetchone()[0])

    def distinct(self, column: LogColumn, *, user: str | None = None) -> list[str]:
        """The values a filter can choose from (among ``user``'s answers, when given)."""
        if column not in LOG_COLUMNS:
            raise InputError(f"Cannot list values of '{column}'.")
        where, params = ("", []) if user is None else (" WHERE user = ?", [user])
        with self._connect() as db:
            rows = db.execute(f"SELECT DISTINCT {column} FROM queries{where} ORDER BY {column}", params).fetchall()
        return [str(r[0]) for r in rows]

    def export_csv(self, flt: LogFilter | None = None) -> str:
        """The matching entries as CSV text (one row per answer, header first)."""
        rows = []
        for entry in self.entries(flt):
            data = entry.model_dump()
            data["retrieved_ids"] = " ".join(entry.retrieved_ids)
            data["route"] = entry.route_text
            data["created_at"] = entry.created_at.isoformat()
            rows.append([data[column] for column in CSV_COLUMNS])
        return csv_text(CSV_COLUMNS, rows)  # formula-like cells neutralised: queries are user text

    def clear(self, *, user: str | None = None) -> int:
        """Delete every entry (only ``user``'s, when given); returns how many were deleted."""
        where, params = ("", []) if user is None else (" WHERE user = ?", [user])
        with self._connect() as db:
            deleted = db.execute(f"DELETE FROM queries{where}", params).rowcount
        return int(deleted)
