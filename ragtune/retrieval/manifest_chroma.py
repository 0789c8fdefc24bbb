"""The knowledge manifest on the Chroma server: the live versions kept where the chunks live.

Every app instance pointed at one Chroma server reads and writes the same bookkeeping, in one
reserved collection, ``ragtune-knowledge`` (its name lacks the ``ws-`` prefix, so it is never
listed as a workspace). Chroma has no transactions and no compare-and-swap, but it has one
operation that decides between writers: **``add`` of an id that already exists changes nothing**
(the first record stays; measured on chromadb 1.5.9's server, 8 concurrent writers x 30 rounds, and
pinned by ``tests/test_chroma_server.py``). The design rests on that and on one record being
written whole:

* A document's history is a chain of records ``doc/<workspace>/<epoch>/<doc_id>/<n>``; the live
  version is the record with the highest ``n``. A write is one ``add`` of record ``n + 1``: the commit
  point (one record, so a process killed at any moment leaves the old version or the new one live).
  Two writers that read the same ``n`` both add ``n + 1``; the server keeps the first, and each reads
  the record back: the one whose generation is not there lost (:class:`ManifestConflict`, its
  chunks are dropped). The superseded record is deleted afterwards (or by garbage collection).
* Deleting a document adds a *tombstone* record ``n + 1`` the same way (tombstones stay, so a chain
  never starts over under a writer that read it).
* Emptying a workspace adds record ``epoch/<workspace>/<e + 1>`` (add-if-absent again): documents
  of older epochs are invisible at once, in one write. A writer whose document landed in the old
  epoch notices (it reads the epoch again after its add) and reports a conflict, so nothing it
  reported as stored is lost.
* The demo version (``state/<workspace>``) and meta keys (``meta/<key>``) are single records written
  with ``upsert``: the last writer wins, as they are plain settings.

What is guaranteed with concurrent writers (app instances, CLI runs) on one server:
* per document, old or new, never a mix, also across a kill -9 at any moment;
* a writer never overwrites a version it did not read: of two writers of one document, exactly one
  commits and the other is told (the ingest then retries on top of the winner's version);
* every instance sees a committed change on its next read (the server applies writes in order).
What is not:
* a change to several documents (a batch ingest, a demo switch) is several commits: a reader may
  see some documents of the batch new and others still old while it runs;
* "one live document per source" is checked before the add, not in the same step: two writers that
  add the same new file under *different* ids at the same moment could both commit (ragtune gives
  one path one id, so this takes two different ragtune versions or a hand-made id);
* the workspace list is chroma's own (creating, renaming, deleting a collection), last writer wins.

Records carry a dimension-1 embedding (chroma requires one); they are never searched by vector.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ragtune.errors import StoreError
from ragtune.retrieval.chroma_server import ChromaServer
from ragtune.retrieval.manifest import DocumentRow, Manifest, ManifestConflict

COLLECTION = "ragtune-knowledge"
LAYOUT_VERSION = 1
_LAYOUT_KEY = "ragtune_layout_version"
_ONE = [1.0]  # the records' embedding: chroma wants one, nothing searches it
_ATTEMPTS = 5


@dataclass(frozen=True)
class _Record:
    id: str
    meta: dict[str, Any]

    @property
    def n(self) -> int:
        return int(self.meta["n"])

    @property
    def deleted(self) -> bool:
        return bool(self.meta.get("deleted"))


@dataclass(frozen=True)
class _Snapshot:
    """One read of a workspace's bookkeeping: its epoch and each document's newest record in it."""

    epoch: int
    latest: dict[str, _Record]

    def live(self) -> dict[str, _Record]:
        return {doc_id: r for doc_id, r in self.latest.items() if not r.deleted}

    def revision(self) -> int:
        state = repr((self.epoch, sorted((d, r.n) for d, r in self.latest.items())))
        return int(hashlib.sha256(state.encode()).hexdigest()[:15], 16)


def _doc_record(workspace_id: str, epoch: int, doc_id: str, n: int) -> str:
    return f"doc/{workspace_id}/{epoch}/{doc_id}/{n}"


class ChromaManifest(Manifest):
    """The manifest in the Chroma server's ``ragtune-knowledge`` collection (see the module docstring
    for the record layout and what it guarantees with concurrent writers).

    Raises:
        StoreError: (from any method) the server cannot be reached or fails; the message names it.
    """

    def __init__(self, server: ChromaServer, *, read_only: bool = False) -> None:
        self.server = server
        self.read_only = read_only
        self.location = f"{server.url} (collection {COLLECTION})"
        self._collection: Any = None
        self._client: Any = None

    # -- the collection -----------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether the server holds the bookkeeping collection yet (it is made on first use)."""
        with self.server.guard():
            return COLLECTION in {c.name for c in self.server.client().list_collections()}

    def _coll(self) -> Any:
        client = self.server.client()
        if self._collection is None or self._client is not client:
            with self.server.guard():
                if self.read_only:  # the doctor: nothing is created or changed
                    collection = client.get_collection(COLLECTION, embedding_function=None)
                else:
                    collection = client.get_or_create_collection(
                        COLLECTION, embedding_function=None, metadata={"ragtune": "knowledge manifest"}
                    )
                    collection.add(ids=[f"meta/{_LAYOUT_KEY}"], embeddings=[_ONE], metadatas=[
                        {"kind": "meta", "key": _LAYOUT_KEY, "value": str(LAYOUT_VERSION)}])
                found = collection.get(ids=[f"meta/{_LAYOUT_KEY}"], include=["metadatas"])["metadatas"]
            stored = int(found[0]["value"]) if found else LAYOUT_VERSION
            if stored > LAYOUT_VERSION:
                raise StoreError(
                    f"The knowledge bookkeeping on {self.server.url} (collection {COLLECTION}) was written by a "
                    f"newer ragtune (layout {stored}, this one reads {LAYOUT_VERSION}). Upgrade this ragtune."
                )
            self._collection, self._client = collection, client
        return self._collection

    def _call(self, method: str, **kwargs: Any) -> Any:
        collection = self._coll()
        with self.server.guard():
            return getattr(collection, method)(**kwargs)

    def _snapshot(self, workspace_id: str, doc_id: str | None = None) -> _Snapshot:
        where: dict[str, Any] = {"ws": workspace_id}
        if doc_id is not None:
            where = {"$and": [where, {"$or": [{"kind": "epoch"}, {"doc_id": doc_id}]}]}
        got = self._call("get", where=where, include=["metadatas"])
        records = [_Record(i, dict(m or {})) for i, m in zip(got["ids"], got["metadatas"])]
        epoch = max((int(r.meta["epoch"]) for r in records if r.meta.get("kind") == "epoch"), default=0)
        latest: dict[str, _Record] = {}
        for record in records:
            if record.meta.get("kind") != "doc" or int(record.meta["epoch"]) != epoch:
                continue
            current = latest.get(str(record.meta["doc_id"]))
            if current is None or record.n > current.n:
                latest[str(record.meta["doc_id"])] = record
        return _Snapshot(epoch, latest)

    def _rows(self, workspace_id: str, pick: Any) -> list[DocumentRow]:
        """The live rows ``pick(snapshot)`` chooses, with their text. A record superseded between the
        two reads (by a writer that then deleted it) makes the read start over."""
        for _ in range(_ATTEMPTS):
            chosen: list[_Record] = pick(self._snapshot(workspace_id))
            if not chosen:
                return []
            got = self._call("get", ids=[r.id for r in chosen], include=["documents", "metadatas"])
            if len(got["ids"]) == len(chosen):
                rows = [self._row(workspace_id, dict(m), text or "")
                        for m, text in zip(got["metadatas"], got["documents"])]
                return sorted(rows, key=lambda row: row.doc_id)
        raise StoreError(f"The knowledge bookkeeping on {self.server.url} kept changing while it was read; "
                         "try again.")

    @staticmethod
    def _row(workspace_id: str, meta: dict[str, Any], text: str) -> DocumentRow:
        return DocumentRow(
            workspace_id=workspace_id, doc_id=str(meta["doc_id"]), title=str(meta["title"]),
            source=str(meta["source"]), version=int(meta["version"]), generation=str(meta["generation"]),
            updated_at=datetime.fromisoformat(str(meta["updated_at"])), n_chunks=int(meta["n_chunks"]),
            sha256=str(meta["sha256"]), text=text,
        )

    # -- reading ------------------------------------------------------------------------------
    def documents(self, workspace_id: str) -> list[DocumentRow]:
        return self._rows(workspace_id, lambda snap: list(snap.live().values()))

    def document(self, workspace_id: str, doc_id: str) -> DocumentRow | None:
        rows = self._rows(workspace_id, lambda snap: [r for d, r in snap.live().items() if d == doc_id])
        return rows[0] if rows else None

    def document_by_source(self, workspace_id: str, source: str) -> DocumentRow | None:
        rows = self._rows(workspace_id, lambda snap: [r for r in snap.live().values() if r.meta["source"] == source])
        return rows[0] if rows else None

    def is_legacy(self, workspace_id: str, doc_id: str) -> bool:
        record = self._snapshot(workspace_id, doc_id).live().get(doc_id)
        return bool(record and record.meta.get("legacy"))

    def live_generations(self, workspace_id: str) -> dict[str, str]:
        return {d: str(r.meta["generation"]) for d, r in self._snapshot(workspace_id).live().items()}

    def revision(self, workspace_id: str) -> int:
        """A fingerprint of the workspace's epoch and each document's newest record (not a counter:
        equal when nothing changed, different after any change)."""
        return self._snapshot(workspace_id).revision()

    # -- writing ------------------------------------------------------------------------------
    def _add_and_check(self, record_id: str, meta: dict[str, Any], text: str | None, token_key: str) -> bool:
        """Add one record unless its id exists; True when ours is the one stored (compared by ``token_key``)."""
        kwargs: dict[str, Any] = {"ids": [record_id], "embeddings": [_ONE], "metadatas": [meta]}
        if text is not None:
            kwargs["documents"] = [text]
        self._call("add", **kwargs)
        got = self._call("get", ids=[record_id], include=["metadatas"])
        return bool(got["ids"]) and got["metadatas"][0].get(token_key) == meta[token_key]

    def put_document(self, row: DocumentRow, *, replaces: str | None = None, keep_legacy: bool = False) -> None:
        """Make ``row`` live with one ``add`` of the document's next record: a compare-and-swap on the
        generation read, decided by the server keeping the first add of an id.

        Raises:
            ManifestConflict: the live row is not ``replaces``; another live document holds the
                source; another writer added the same next record first; or the workspace was
                emptied meanwhile.
        """
        ws = row.workspace_id
        snap = self._snapshot(ws)
        current = snap.latest.get(row.doc_id)
        live = current if current is not None and not current.deleted else None
        if (live.meta["generation"] if live else None) != replaces:
            raise ManifestConflict(f"document {row.doc_id!r} changed while it was being written")
        for doc_id, record in snap.live().items():
            if doc_id != row.doc_id and record.meta["source"] == row.source:
                raise ManifestConflict(f"{row.source!r} is already stored as document {doc_id!r}")
        n = current.n + 1 if current is not None else 0
        meta = {
            "kind": "doc", "ws": ws, "epoch": snap.epoch, "doc_id": row.doc_id, "n": n, "deleted": False,
            "title": row.title, "source": row.source, "version": row.version, "generation": row.generation,
            "updated_at": row.updated_at.astimezone(timezone.utc).isoformat(), "n_chunks": row.n_chunks,
            "sha256": row.sha256, "legacy": bool(keep_legacy and live is not None and live.meta.get("legacy")),
            "written_at": time.time(),
        }
        if not self._add_and_check(_doc_record(ws, snap.epoch, row.doc_id, n), meta, row.text, "generation"):
            raise ManifestConflict(f"document {row.doc_id!r} was committed by another writer first")
        if self._epoch(ws) != snap.epoch:
            raise ManifestConflict(f"the workspace was emptied while {row.doc_id!r} was being written")
        if current is not None:
            self._call("delete", ids=[current.id])  # superseded (collected later if this fails)

    def _epoch(self, workspace_id: str) -> int:
        got = self._call("get", where={"$and": [{"ws": workspace_id}, {"kind": "epoch"}]}, include=["metadatas"])
        return max((int(m["epoch"]) for m in got["metadatas"]), default=0)

    def remove_documents(self, workspace_id: str, doc_ids: list[str] | None = None) -> None:
        """Remove documents: each one with a tombstone record (one commit per document); all of them
        (``doc_ids`` None) with one new epoch record."""
        if doc_ids is None:
            epoch = self._epoch(workspace_id) + 1
            self._call("add", ids=[f"epoch/{workspace_id}/{epoch}"], embeddings=[_ONE],
                       metadatas=[{"kind": "epoch", "ws": workspace_id, "epoch": epoch, "written_at": time.time()}])
            # Whoever added this epoch first, the documents are gone; their old records can go now.
            self._call("delete", where={"$and": [{"ws": workspace_id}, {"epoch": {"$lt": epoch}}]})
            return
        for doc_id in doc_ids:
            self._tombstone(workspace_id, doc_id)

    def _tombstone(self, workspace_id: str, doc_id: str) -> None:
        for _ in range(_ATTEMPTS):
            snap = self._snapshot(workspace_id, doc_id)
            current = snap.latest.get(doc_id)
            if current is None or current.deleted:
                return
            meta = {"kind": "doc", "ws": workspace_id, "epoch": snap.epoch, "doc_id": doc_id, "n": current.n + 1,
                    "deleted": True, "source": str(current.meta["source"]),
                    "generation": f"deleted-{uuid.uuid4().hex[:12]}", "written_at": time.time()}
            if self._add_and_check(_doc_record(workspace_id, snap.epoch, doc_id, current.n + 1), meta, None,
                                   "generation"):
                self._call("delete", ids=[current.id])
                return
        raise StoreError(f"Document {doc_id!r} kept changing on {self.server.url} while it was being deleted; "
                         "try again.")

    def forget_workspace(self, workspace_id: str) -> None:
        self._call("delete", where={"ws": workspace_id})

    def workspace_ids(self) -> set[str]:
        ids = self._call("get", include=[])["ids"]
        return {i.split("/")[1] for i in ids if i.split("/")[0] in ("doc", "epoch", "state")}

    def demo_version(self, workspace_id: str) -> str | None:
        got = self._call("get", ids=[f"state/{workspace_id}"], include=["metadatas"])
        return str(got["metadatas"][0]["demo_version"]) if got["ids"] else None

    def set_demo_version(self, workspace_id: str, version: str) -> None:
        self._call("upsert", ids=[f"state/{workspace_id}"], embeddings=[_ONE],
                   metadatas=[{"kind": "state", "ws": workspace_id, "demo_version": version}])

    def get_meta(self, key: str) -> str | None:
        got = self._call("get", ids=[f"meta/{key}"], include=["metadatas"])
        return str(got["metadatas"][0]["value"]) if got["ids"] else None

    def set_meta(self, key: str, value: str) -> None:
        self._call("upsert", ids=[f"meta/{key}"], embeddings=[_ONE],
                   metadatas=[{"kind": "meta", "key": key, "value": value}])

    def schema_version(self) -> int:
        value = self.get_meta(_LAYOUT_KEY)
        return int(value) if value else LAYOUT_VERSION

    def compact(self, min_age_s: float) -> int:
        """Delete records older than ``min_age_s`` that no reader uses: documents' superseded records
        (a writer killed before it deleted them) and every record of an older epoch."""
        got = self._call("get", where={"kind": {"$in": ["doc", "epoch"]}}, include=["metadatas"])
        records = [_Record(i, dict(m or {})) for i, m in zip(got["ids"], got["metadatas"])]
        epochs: dict[str, int] = {}
        newest: dict[tuple[str, str], int] = {}
        for r in records:
            ws = str(r.meta["ws"])
            epochs[ws] = max(epochs.get(ws, 0), int(r.meta["epoch"]))
        for r in records:
            ws = str(r.meta["ws"])
            if r.meta["kind"] == "doc" and int(r.meta["epoch"]) == epochs[ws]:
                key = (ws, str(r.meta["doc_id"]))
                newest[key] = max(newest.get(key, -1), r.n)
        cutoff = time.time() - min_age_s
        stale = [r.id for r in records
                 if float(r.meta.get("written_at", 0)) <= cutoff and _superseded(r, epochs, newest)]
        for first in range(0, len(stale), 1000):
            self._call("delete", ids=stale[first : first + 1000])
        return len(stale)

    def record_count(self) -> int:
        """How many bookkeeping records the collection holds (the doctor's figure)."""
        return int(self._call("count"))


def _superseded(record: _Record, epochs: dict[str, int], newest: dict[tuple[str, str], int]) -> bool:
    ws = str(record.meta["ws"])
    if int(record.meta["epoch"]) < epochs[ws]:
        return True
    return record.meta["kind"] == "doc" and record.n < newest[(ws, str(record.meta["doc_id"]))]
