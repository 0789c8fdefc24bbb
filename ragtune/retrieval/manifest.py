"""The knowledge manifest: which version of each document is live (SQLite).

Chunk records in the vector store are tagged with a *generation* (a random id per
write). A document's row here names its live generation; readers ignore chunks of
any other generation. Replacing a document therefore is: write the new chunks
(invisible), flip the row in one SQLite transaction (the commit point), delete the
old chunks. A process killed at any moment leaves the document fully old or fully
new; leftovers are invisible and collected later.

Rows are keyed by the workspace's stable id, so renaming a workspace touches nothing here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    workspace_id TEXT NOT NULL,
    doc_id       TEXT NOT NULL,
    title        TEXT NOT NULL,
    source       TEXT NOT NULL,
    version      INTEGER NOT NULL,
    generation   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    n_chunks     INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    text         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, doc_id)
);
CREATE TABLE IF NOT EXISTS workspace_state (
    workspace_id TEXT PRIMARY KEY,
    revision     INTEGER NOT NULL DEFAULT 0,
    demo_version TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class DocumentRow:
    workspace_id: str
    doc_id: str
    title: str
    source: str
    version: int
    generation: str
    updated_at: datetime
    n_chunks: int
    sha256: str
    text: str


class Manifest:
    """The SQLite manifest file (created on first use)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: committed entirely or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[DocumentRow]:
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [
            DocumentRow(r[0], r[1], r[2], r[3], r[4], r[5], datetime.fromisoformat(r[6]), r[7], r[8], r[9])
            for r in rows
        ]

    _COLUMNS = "workspace_id, doc_id, title, source, version, generation, updated_at, n_chunks, sha256, text"

    def documents(self, workspace_id: str) -> list[DocumentRow]:
        return self._rows(
            f"SELECT {self._COLUMNS} FROM documents WHERE workspace_id=? ORDER BY doc_id", (workspace_id,)
        )

    def document(self, workspace_id: str, doc_id: str) -> DocumentRow | None:
        rows = self._rows(
            f"SELECT {self._COLUMNS} FROM documents WHERE workspace_id=? AND doc_id=?",
            (workspace_id, doc_id),
        )
        return rows[0] if rows else None

    def live_generations(self, workspace_id: str) -> dict[str, str]:
        """doc_id -> live generation, for filtering chunk records."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT doc_id, generation FROM documents WHERE workspace_id=?", (workspace_id,)
            ).fetchall()
        return dict(rows)

    def revision(self, workspace_id: str) -> int:
        """A counter bumped by every change to the workspace's documents (for caches)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT revision FROM workspace_state WHERE workspace_id=?", (workspace_id,)
            ).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def bump(conn: sqlite3.Connection, workspace_id: str) -> None:
        conn.execute(
            "INSERT INTO workspace_state(workspace_id, revision) VALUES (?, 1) "
            "ON CONFLICT(workspace_id) DO UPDATE SET revision = revision + 1",
            (workspace_id,),
        )

    def put_document(self, row: DocumentRow) -> None:
        """Make ``row`` the live version of its document (the commit point of an ingest)."""
        with self.transaction() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO documents({self._COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (row.workspace_id, row.doc_id, row.title, row.source, row.version, row.generation,
                 row.updated_at.astimezone(timezone.utc).isoformat(), row.n_chunks, row.sha256, row.text),
            )
            self.bump(conn, row.workspace_id)

    def remove_documents(self, workspace_id: str, doc_ids: list[str] | None = None) -> None:
        """Remove some (or all, when ``doc_ids`` is None) documents of a workspace."""
        with self.transaction() as conn:
            if doc_ids is None:
                conn.execute("DELETE FROM documents WHERE workspace_id=?", (workspace_id,))
            else:
                conn.executemany(
                    "DELETE FROM documents WHERE workspace_id=? AND doc_id=?",
                    [(workspace_id, d) for d in doc_ids],
                )
            self.bump(conn, workspace_id)

    def forget_workspace(self, workspace_id: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM documents WHERE workspace_id=?", (workspace_id,))
            conn.execute("DELETE FROM workspace_state WHERE workspace_id=?", (workspace_id,))

    def workspace_ids(self) -> set[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT workspace_id FROM documents UNION SELECT workspace_id FROM workspace_state"
            ).fetchall()
        return {r[0] for r in rows}

    def demo_version(self, workspace_id: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT demo_version FROM workspace_state WHERE workspace_id=?", (workspace_id,)
            ).fetchone()
        return row[0] if row else None

    def set_demo_version(self, workspace_id: str, version: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO workspace_state(workspace_id, revision, demo_version) VALUES (?, 0, ?) "
                "ON CONFLICT(workspace_id) DO UPDATE SET demo_version = excluded.demo_version",
                (workspace_id, version),
            )


    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
