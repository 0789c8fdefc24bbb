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
    added_columns: tuple[tuple[str, str, str], ...] = ()
    """(table, column, type) added after a table first shipped: a file written before gains them on opening,
    every row kept (with the column's default)."""
    added_schema: str = ""
    """DDL run after the added columns exist (indexes on them)."""

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
        if self.added_columns or self.added_schema:
            try:
                self._add_missing_columns()
            except sqlite3.Error as exc:
                raise ConfigError(f"The {self.what} {self.path} cannot be upgraded ({exc}). Check that "
                                  "RAGTUNE_DATA_DIR is writable.") from exc

    def _add_missing_columns(self) -> None:
        with self._connect() as db:
            for table, name, kind in self.added_columns:
                present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                if name in present:
                    continue
                try:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):  # another process added it meanwhile
                        raise
            db.executescript(self.added_schema)

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
