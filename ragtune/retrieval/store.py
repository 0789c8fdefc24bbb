"""Where chunk vectors live: the :class:`VectorStore` interface and its chroma implementations.

:class:`ChromaCollections` holds what both chroma stores do with collections; :class:`ChromaVectorStore`
is the local one (a ``PersistentClient`` in the data directory) and
:class:`~ragtune.retrieval.chroma_server.ChromaServerStore` the team one (a Chroma server over HTTP).
A workspace is one collection. The store knows nothing of documents' versions or
manifests (that is :mod:`ragtune.retrieval.knowledge`); it stores records, finds
nearest neighbours, and deletes by id or by metadata. Each workspace has a stable
id (chroma's collection id) that survives a rename, so anything keyed by it (the
manifest) never has to change when a workspace is renamed.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragtune.errors import InputError, RagtuneError, StoreError, WorkspaceError
from ragtune.names import check_name
from ragtune.retrieval.hnsw_check import hnsw_index_problem
from ragtune.retrieval.types import StoreStatus

Metadata = Mapping[str, str | int | float | bool]
COLLECTION_PREFIX = "ws-"


def validate_workspace_name(name: str) -> str:
    """Return ``name`` stripped, or raise :class:`WorkspaceError` saying what is allowed
    (the one name rule of :mod:`ragtune.names`)."""
    try:
        return check_name("workspace", name)
    except WorkspaceError:
        raise
    except InputError as exc:
        raise WorkspaceError(str(exc)) from exc


@dataclass(frozen=True)
class WorkspaceRef:
    """A workspace's stable id and current name."""

    id: str
    name: str


@dataclass(frozen=True)
class StoredRecord:
    """One stored chunk record."""

    id: str
    text: str
    metadata: dict[str, Any]
    distance: float | None = None


class VectorStore(ABC):
    """Collections of (id, embedding, text, metadata) records, one per workspace."""

    @abstractmethod
    def list_workspaces(self) -> list[WorkspaceRef]:
        """All workspaces, sorted by name."""

    @abstractmethod
    def get_workspace(self, name: str) -> WorkspaceRef:
        """Raises WorkspaceError when there is no such workspace."""

    @abstractmethod
    def create_workspace(self, name: str) -> WorkspaceRef:
        """Raises WorkspaceError when the name is invalid or taken."""

    @abstractmethod
    def ensure_workspace(self, name: str) -> WorkspaceRef:
        """The workspace named ``name``, created if missing: idempotent, also when two
        processes create it at the same moment. Raises WorkspaceError for an invalid name."""

    @abstractmethod
    def rename_workspace(self, name: str, new_name: str) -> WorkspaceRef:
        """Rename in one step; the id does not change."""

    @abstractmethod
    def delete_workspace(self, name: str) -> None:
        """Drop the workspace and every record in it."""

    @abstractmethod
    def upsert(
        self, workspace: WorkspaceRef, ids: Sequence[str], texts: Sequence[str],
        metadatas: Sequence[Metadata], embeddings: Sequence[Sequence[float]] | None = None,
    ) -> None:
        """Add or overwrite records (embedding ``texts`` when ``embeddings`` is None)."""

    @abstractmethod
    def query(self, workspace: WorkspaceRef, text: str, n: int) -> list[StoredRecord]:
        """The ``n`` records nearest to ``text``, nearest first, with cosine distances."""

    @abstractmethod
    def get_all(self, workspace: WorkspaceRef, where: Metadata | None = None) -> list[StoredRecord]:
        """Every record (matching ``where`` equality filters)."""

    @abstractmethod
    def delete(self, workspace: WorkspaceRef, *, ids: Sequence[str] | None = None,
               where: Metadata | None = None) -> None:
        """Delete records by id or by metadata equality."""

    @abstractmethod
    def count(self, workspace: WorkspaceRef) -> int:
        """Number of records stored (including any not yet garbage-collected)."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings for ``texts`` with the store's embedding function."""
        raise NotImplementedError

    def status(self) -> StoreStatus:
        """Where the store is and whether it can be read (a local store: its workspaces list); never raises."""
        try:
            self.list_workspaces()
        except RagtuneError as exc:
            return StoreStatus(kind="local", url=None, healthy=False, error=str(exc))
        return StoreStatus(kind="local", url=None, healthy=True, error="")


def _where(filters: Metadata | None) -> dict[str, Any] | None:
    if not filters:
        return None
    items = [{key: value} for key, value in filters.items()]
    return items[0] if len(items) == 1 else {"$and": items}


def _register_with_chroma(embedding_function: Any) -> None:
    """Make chroma know our embedding function's class by its ``name()``.

    Every collection stores that name in its schema; whenever chroma reads a collection's
    schema (listing, validating a request) it rebuilds the function by name from its registry,
    and warns "Could not reconstruct embedding function ..." for a name it does not know.
    """
    from chromadb.utils.embedding_functions import known_embedding_functions, register_embedding_function

    cls = type(embedding_function)
    try:
        name = cls.name()
    except Exception:  # not a chroma-style embedding function (a test double): nothing to register
        return
    if known_embedding_functions.get(name) is not cls:
        register_embedding_function(cls)


@contextmanager
def _opening_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock (``flock``) on ``folder/.ragtune-open.lock`` while the client
    opens; where ``fcntl`` is missing (not POSIX), no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX only
        yield
        return
    try:
        handle = open(folder / ".ragtune-open.lock", "a+b")
    except OSError:  # a read-only folder: nobody can create the database there anyway
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class ChromaCollections(VectorStore):
    """What both chroma stores do with collections (one per workspace), on ``self._client``.

    A subclass opens the client and says how a failure reads (:meth:`_guard`: which file or server
    is at fault, and the way back).
    """

    _client: Any
    embedding_function: Any

    def _guard(self, workspace: WorkspaceRef | None = None) -> AbstractContextManager[None]:
        """Turn chroma's failures into a :class:`StoreError` or :class:`WorkspaceError` with the way back."""
        raise NotImplementedError

    def _check_index(self, workspace: WorkspaceRef) -> None:
        """Refuse a workspace whose index cannot be read safely (a hook: the local store checks its files)."""

    # -- workspaces -----------------------------------------------------------------
    def _get(self, name: str) -> Any:
        # embedding_function is given, so chroma does not rebuild one from the stored config.
        return self._client.get_collection(COLLECTION_PREFIX + name, embedding_function=self.embedding_function)

    def _collection(self, name: str) -> Any:
        from chromadb.errors import NotFoundError

        name = validate_workspace_name(name)
        with self._guard():
            try:
                return self._get(name)
            except (NotFoundError, ValueError) as exc:
                if "does not exist" in str(exc) or isinstance(exc, NotFoundError):
                    raise WorkspaceError(f"No workspace named {name!r}. Create it first.") from exc
                raise

    def _by_id(self, workspace: WorkspaceRef) -> Any:
        from chromadb.errors import NotFoundError

        try:
            # Look up by name, then check the id: a workspace renamed under us is an error.
            with self._guard(workspace):
                collection = self._get(workspace.name)
        except (NotFoundError, ValueError) as exc:
            raise WorkspaceError(f"Workspace {workspace.name!r} no longer exists.") from exc
        if str(collection.id) != workspace.id:
            raise WorkspaceError(f"Workspace {workspace.name!r} was replaced; reload it.")
        self._check_index(workspace)
        return collection

    def list_workspaces(self) -> list[WorkspaceRef]:
        with self._guard():
            collections = self._client.list_collections()
        refs = [
            WorkspaceRef(str(c.id), c.name[len(COLLECTION_PREFIX):])
            for c in collections
            if c.name.startswith(COLLECTION_PREFIX)
        ]
        return sorted(refs, key=lambda ref: ref.name.lower())

    def get_workspace(self, name: str) -> WorkspaceRef:
        collection = self._collection(name)
        return WorkspaceRef(str(collection.id), name.strip())

    def _create(self, name: str, *, get_or_create: bool) -> Any:
        with self._guard():
            try:
                return self._client.create_collection(
                    COLLECTION_PREFIX + name,
                    embedding_function=self.embedding_function,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"ragtune_workspace": name},
                )
            except Exception as exc:
                # Another process created it between our look and our create.
                if "already exists" not in str(exc):
                    raise
                if not get_or_create:
                    raise WorkspaceError(f"A workspace named {name!r} already exists.") from exc
                return self._get(name)

    def create_workspace(self, name: str) -> WorkspaceRef:
        name = validate_workspace_name(name)
        if any(ref.name == name for ref in self.list_workspaces()):
            raise WorkspaceError(f"A workspace named {name!r} already exists.")
        collection = self._create(name, get_or_create=False)
        return WorkspaceRef(str(collection.id), name)

    def ensure_workspace(self, name: str) -> WorkspaceRef:
        name = validate_workspace_name(name)
        for ref in self.list_workspaces():
            if ref.name == name:
                return ref
        collection = self._create(name, get_or_create=True)
        return WorkspaceRef(str(collection.id), name)

    def rename_workspace(self, name: str, new_name: str) -> WorkspaceRef:
        new_name = validate_workspace_name(new_name)
        collection = self._collection(name)
        if new_name == name.strip():
            return WorkspaceRef(str(collection.id), new_name)
        if any(ref.name == new_name for ref in self.list_workspaces()):
            raise WorkspaceError(f"A workspace named {new_name!r} already exists.")
        with self._guard():
            collection.modify(name=COLLECTION_PREFIX + new_name)
        return WorkspaceRef(str(collection.id), new_name)

    def delete_workspace(self, name: str) -> None:
        self._collection(name)  # raises a clear error when missing
        with self._guard():
            self._client.delete_collection(COLLECTION_PREFIX + validate_workspace_name(name))

    # -- records --------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self.embedding_function(list(texts))]

    def upsert(self, workspace, ids, texts, metadatas, embeddings=None) -> None:  # type: ignore[override]
        if not ids:
            return
        collection = self._by_id(workspace)
        # chroma caps one write at max_batch_size records.
        step = max(1, int(self._client.get_max_batch_size()))
        for i in range(0, len(ids), step):
            with self._guard(workspace):
                collection.upsert(
                    ids=list(ids[i : i + step]),
                    documents=list(texts[i : i + step]),
                    metadatas=[dict(m) for m in metadatas[i : i + step]],
                    embeddings=None if embeddings is None else [list(e) for e in embeddings[i : i + step]],
                )

    def query(self, workspace: WorkspaceRef, text: str, n: int) -> list[StoredRecord]:
        collection = self._by_id(workspace)
        with self._guard(workspace):
            n = min(n, collection.count())
            if n <= 0:
                return []
            found = collection.query(
                query_texts=[text], n_results=n, include=["documents", "metadatas", "distances"]
            )
        return [
            StoredRecord(id_, doc or "", dict(meta or {}), float(dist))
            for id_, doc, meta, dist in zip(
                found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0]
            )
        ]

    def get_all(self, workspace: WorkspaceRef, where: Metadata | None = None) -> list[StoredRecord]:
        collection = self._by_id(workspace)
        with self._guard(workspace):
            found = collection.get(where=_where(where), include=["documents", "metadatas"])
        return [
            StoredRecord(id_, doc or "", dict(meta or {}))
            for id_, doc, meta in zip(found["ids"], found["documents"], found["metadatas"])
        ]

    def delete(self, workspace: WorkspaceRef, *, ids: Sequence[str] | None = None,
               where: Metadata | None = None) -> None:
        collection = self._by_id(workspace)
        with self._guard(workspace):
            if ids is not None:
                if ids:
                    collection.delete(ids=list(ids))
            elif where:
                collection.delete(where=_where(where))

    def count(self, workspace: WorkspaceRef) -> int:
        collection = self._by_id(workspace)
        with self._guard(workspace):
            return int(collection.count())


class ChromaVectorStore(ChromaCollections):
    """A :class:`VectorStore` on a chroma ``PersistentClient`` in ``path``.

    Args:
        path: the directory chroma writes (``Settings.chroma_dir``).
        embedding_function: passed explicitly to every collection (never chroma's default,
            which downloads its model).
    """

    def __init__(self, path: Path, embedding_function: Any) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.embedding_function = embedding_function
        self._checked: dict[Path, tuple[tuple[str, int, int], ...]] = {}
        _register_with_chroma(embedding_function)
        # One process at a time opens the folder: two processes starting on a fresh data directory
        # (two CLI ingests, the app and a CLI) would otherwise both create chroma's database and run
        # its migrations at once, and one would fail as if the database were damaged.
        with _opening_lock(path), self._guard():
            self._client = chromadb.PersistentClient(
                path=str(path),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
            )
            self._client.list_collections()  # the first read: a damaged database shows here

    @property
    def database_file(self) -> Path:
        return self.path / "chroma.sqlite3"

    def _index_dirs(self, collection_id: str) -> list[Path]:
        """The folders holding a collection's vector index (HNSW files), read from chroma's database."""
        try:
            conn = sqlite3.connect(f"file:{self.database_file}?mode=ro", uri=True)
            try:
                rows = conn.execute(
                    "SELECT id FROM segments WHERE collection=? AND scope='VECTOR'", (collection_id,)
                ).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return []
        return [self.path / str(r[0]) for r in rows]

    @contextmanager
    def _guard(self, workspace: WorkspaceRef | None = None) -> Iterator[None]:
        """Turn chroma's and SQLite's failures on a damaged store into a :class:`StoreError`
        that names the file and the way back (ragtune's own errors pass through)."""
        try:
            yield
        except RagtuneError:
            raise
        except Exception as exc:  # chroma raises many kinds here (rust errors, sqlite, OSError)
            from chromadb.errors import NotFoundError

            if workspace is not None and (isinstance(exc, NotFoundError) or "does not exist" in str(exc)):
                raise WorkspaceError(f"Workspace {workspace.name!r} no longer exists.") from exc
            detail = f"{exc.__class__.__name__}: {str(exc)[:300]}"
            if workspace is None:
                raise StoreError(
                    f"The vector store {self.database_file} cannot be opened ({detail}). Stop ragtune, move "
                    f"the folder aside (`mv {self.path} {self.path}.broken`) and restore it from a backup, or "
                    "start empty and re-ingest your documents (`python -m ragtune ingest -w WORKSPACE PATH`)."
                ) from exc
            where = ", ".join(str(d) for d in self._index_dirs(workspace.id)) or str(self.database_file)
            raise StoreError(
                f"Workspace {workspace.name!r} cannot be read: its index ({where}) is damaged ({detail}). "
                f"Delete the workspace and ingest its documents again: `python -m ragtune workspaces delete "
                f"{workspace.name} --yes`, then `python -m ragtune ingest -w {workspace.name} PATH`."
            ) from exc

    def _check_index(self, workspace: WorkspaceRef) -> None:
        """Refuse a damaged HNSW index before chroma reads it (checked again when its files change)."""
        for folder in self._index_dirs(workspace.id):
            try:
                stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(folder.iterdir()))
            except OSError:
                continue
            if self._checked.get(folder) == stamp:
                continue
            problem = hnsw_index_problem(folder)
            if problem is not None:
                raise StoreError(
                    f"Workspace {workspace.name!r} cannot be read: its index is damaged ({problem}). Delete the "
                    f"workspace and ingest its documents again: `python -m ragtune workspaces delete "
                    f"{workspace.name} --yes`, then `python -m ragtune ingest -w {workspace.name} PATH`."
                )
            self._checked[folder] = stamp
