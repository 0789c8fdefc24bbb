"""The knowledge manifest in SQLite (``knowledge.sqlite3`` in the data directory): the local store's.

It implements :class:`~ragtune.retrieval.manifest.Manifest` (read that docstring first: the
generations and the commit point). Here the commit point is one SQLite transaction, and
:meth:`SQLiteManifest.put_document` is a true compare-and-swap inside it: two writers (threads or
processes) can never overwrite each other's document under one id, nor store one source twice.

Schema versions (``meta.schema_version``): 1 (no key) is the manifest before sources were
identities; its rows hold the file's name only. Opening such a manifest migrates it in one
transaction: the rows and their chunk ids stay exactly as they were (so citations, eval
sets and the vector store need no rewrite, and a kill at any moment leaves version 1 or 2
whole); the rows are marked ``legacy``, so a re-ingest of the same file from a subfolder
(a path the old code did not keep) replaces its document instead of adding a second copy.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ragtune.errors import StoreError
from ragtune.retrieval.manifest import DocumentRow, Manifest, ManifestConflict

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
    legacy       INTEGER NOT NULL DEFAULT 0,
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
SCHEMA_VERSION = 2


def store_error(path: Path, exc: BaseException) -> StoreError:
    """A damaged manifest, named, with the ways back."""
    return StoreError(
        f"The knowledge manifest {path} cannot be read ({exc.__class__.__name__}: {exc}). "
        f"Stop ragtune, move the file aside (`mv {path} {path}.broken`) and restore it from a backup; "
        "without a backup, re-ingest your documents (`python -m ragtune ingest -w WORKSPACE PATH`): "
        "the vector store alone does not know which version of each document is live."
    )


class SQLiteManifest(Manifest):
    """The SQLite manifest file (created on first use, migrated on first open).

    Raises:
        StoreError: the file is not a readable SQLite database (named, with how to recover).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.location = str(path)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(SCHEMA)
            self._migrate()
            self._conn.execute("SELECT count(*), max(length(doc_id)) FROM documents").fetchone()
        except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed" ...
            raise store_error(path, exc) from exc

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                raise store_error(self.path, exc) from exc

    def _migrate(self) -> None:
        with self.transaction() as conn:  # two processes opening at once: the second sees version 2
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is not None and int(row[0]) >= SCHEMA_VERSION:
                return
            columns = {r[1] for r in conn.execute("PRAGMA table_info(documents)")}
            if "legacy" not in columns:
                conn.execute("ALTER TABLE documents ADD COLUMN legacy INTEGER NOT NULL DEFAULT 0")
            conn.execute("UPDATE documents SET legacy=1")
            conn.execute("CREATE INDEX IF NOT EXISTS documents_source ON documents(workspace_id, source)")
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def schema_version(self) -> int:
        value = self.get_meta("schema_version")
        return int(value) if value else 1

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: committed entirely or not at all."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise store_error(self.path, exc) from exc
            try:
                yield self._conn
            except BaseException as exc:
                self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise store_error(self.path, exc) from exc
                raise
            self._conn.execute("COMMIT")

    def _rows(self, sql: str, params: tuple[object, ...]) -> list[DocumentRow]:
        with self._reading() as conn:
            rows = conn.execute(sql, params).fetchall()
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

    def document_by_source(self, workspace_id: str, source: str) -> DocumentRow | None:
        """The document whose identity is ``source`` (its relative path), if any."""
        rows = self._rows(
            f"SELECT {self._COLUMNS} FROM documents WHERE workspace_id=? AND source=?", (workspace_id, source)
        )
        return rows[0] if rows else None

    def is_legacy(self, workspace_id: str, doc_id: str) -> bool:
        """Whether the row was written before sources were identities (its source is a bare name)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT legacy FROM documents WHERE workspace_id=? AND doc_id=?", (workspace_id, doc_id)
            ).fetchone()
        return bool(row and row[0])

    def live_generations(self, workspace_id: str) -> dict[str, str]:
        """doc_id -> live generation, for filtering chunk records."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT doc_id, generation FROM documents WHERE workspace_id=?", (workspace_id,)
            ).fetchall()
        return dict(rows)

    def revision(self, workspace_id: str) -> int:
        """A counter bumped by every change to the workspace's documents (for caches)."""
        with self._reading() as conn:
            row = conn.execute(
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

    def put_document(self, row: DocumentRow, *, replaces: str | None = None, keep_legacy: bool = False) -> None:
        """Make ``row`` the live version of its document (the commit point of an ingest).

        ``keep_legacy``: the row keeps the ``legacy`` mark of the row it replaces (a re-chunk: the
        same document, so the identity rules of its migration still apply); otherwise it is cleared.

        A compare-and-swap: ``replaces`` is the generation the writer read for ``row.doc_id``
        (None: it read no row). If the row changed meanwhile, or another document already holds
        ``row.source``, nothing is written.

        Raises:
            ManifestConflict: another writer got there first; re-read and try again.
        """
        with self.transaction() as conn:
            current = conn.execute(
                "SELECT generation, legacy FROM documents WHERE workspace_id=? AND doc_id=?",
                (row.workspace_id, row.doc_id),
            ).fetchone()
            if (current[0] if current else None) != replaces:
                raise ManifestConflict(f"document {row.doc_id!r} changed while it was being written")
            other = conn.execute(
                "SELECT doc_id FROM documents WHERE workspace_id=? AND source=? AND doc_id<>?",
                (row.workspace_id, row.source, row.doc_id),
            ).fetchone()
            if other is not None:
                raise ManifestConflict(f"{row.source!r} is already stored as document {other[0]!r}")
            conn.execute(
                f"INSERT OR REPLACE INTO documents({self._COLUMNS}, legacy) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (row.workspace_id, row.doc_id, row.title, row.source, row.version, row.generation,
                 row.updated_at.astimezone(timezone.utc).isoformat(), row.n_chunks, row.sha256, row.text,
                 int(current[1]) if keep_legacy and current else 0),
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
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT workspace_id FROM documents UNION SELECT workspace_id FROM workspace_state"
            ).fetchall()
        return {r[0] for r in rows}

    def demo_version(self, workspace_id: str) -> str | None:
        with self._reading() as conn:
            row = conn.execute(
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
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

