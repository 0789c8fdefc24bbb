"""One SQLite file under the data directory: created with its schema, WAL, a connection per call."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragtune.errors import ConfigError


class SQLiteFile:
    """Base of ragtune's SQLite stores (the query log, the evaluation runs).

    Subclasses set ``schema`` (idempotent DDL) and ``what`` (a name for error messages).
    """

    schema: str = ""
    what: str = "store"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(self.schema)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"The {self.what} {self.path} cannot be opened ({exc}). Check that "
                "RAGTUNE_DATA_DIR is writable."
            ) from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10.0)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        try:
            with db:  # commits, or rolls back on error
                yield db
        finally:
            db.close()

    def journal_mode(self) -> str:
        with self._connect() as db:
            return str(db.execute("PRAGMA journal_mode").fetchone()[0])
