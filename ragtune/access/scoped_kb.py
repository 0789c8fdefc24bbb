"""The knowledge base as one user may use it: :class:`ScopedKnowledgeBase`.

It has the public methods of :class:`~ragtune.retrieval.knowledge.KnowledgeBase`, with the same
signatures, and checks each call against the user's role on the workspace it touches before
anything is read or changed: reading (documents, chunks, search) needs the viewer role, changing
documents the editor role, renaming or deleting the workspace the owner role; admins may do
everything. Whoever creates a workspace owns it. Renames and deletions keep the access store in
step, so a role follows its workspace and a deleted workspace's roles are gone.

Two kinds of internal workspace hold only the shipped demo documents and are never listed to users:

* the Tour's freshness *scratch copies* (:data:`ragtune.tour.SCRATCH_PREFIX`): whoever may read the
  demo workspace may make one, and owns it (nobody else may see or drop it);
* the claims report's *copies* (:data:`ragtune.evaluation.workspaces.REPORT_WORKSPACES`): shared by
  everyone who may read the demo; anyone who may run the report may rebuild them from the shipped
  files, but only an admin may put anything else in them.

The module functions that take a knowledge base (the demo's, the Tour's, the evaluation's) work on
a scoped one too: its :attr:`ScopedKnowledgeBase.manifest` answers the few manifest calls they make,
each checked like the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ragtune.access.principal import Action, Role
from ragtune.errors import PermissionDenied, WorkspaceError

if TYPE_CHECKING:
    from ragtune.access.scoped import Scope
    from ragtune.retrieval.ingest import ProgressCallback
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.retrieval.manifest import DocumentRow
    from ragtune.retrieval.store import WorkspaceRef
    from ragtune.retrieval.types import (Chunk, DocumentInfo, FileResult, IngestReport, SearchMode, SearchResult,
                                         StoreStatus, WorkspaceInfo)

WorkspaceKind = Literal["user", "scratch", "report", "internal"]


def workspace_kind(name: str) -> WorkspaceKind:
    """Which permission rules a workspace follows: a user's, a Tour scratch copy, one of the claims
    report's copies, or another internal workspace (admins only)."""
    from ragtune.evaluation.workspaces import REPORT_WORKSPACES
    from ragtune.retrieval.knowledge import is_internal_workspace
    from ragtune.tour import SCRATCH_PREFIX

    name = name.strip()
    if name.startswith(SCRATCH_PREFIX):
        return "scratch"
    if name in REPORT_WORKSPACES.values():
        return "report"
    return "internal" if is_internal_workspace(name) else "user"


class ScopedKnowledgeBase:
    """A :class:`~ragtune.retrieval.knowledge.KnowledgeBase` bound to one user: every call is checked.

    Made by :meth:`ragtune.access.Scope.knowledge_base`. ``kb`` is the knowledge base itself, ``scope``
    the user's scope. Nothing unchecked is reachable through it: there is no passthrough of attributes.
    """

    def __init__(self, kb: KnowledgeBase, scope: Scope) -> None:
        self.kb = kb
        self.scope = scope

    # -- settings the pages show ----------------------------------------------------------
    @property
    def chunk_size(self) -> int:
        return self.kb.chunk_size

    @property
    def chunk_overlap(self) -> int:
        return self.kb.chunk_overlap

    @property
    def max_upload_bytes(self) -> int:
        return self.kb.max_upload_bytes

    @property
    def default_mode(self) -> SearchMode:
        return self.kb.default_mode

    @property
    def top_k(self) -> int:
        return self.kb.top_k

    @property
    def manifest(self) -> ScopedManifest:
        """The few manifest calls the demo, Tour and evaluation helpers make, each checked."""
        return ScopedManifest(self)

    def backend_status(self) -> StoreStatus:
        return self.kb.backend_status()

    # -- the rules ------------------------------------------------------------------------
    @property
    def _who(self) -> str:
        return self.scope.principal.email

    def _demo_readable(self) -> bool:
        """Whether the user may read the demo workspace (true when there is none: its copies are made
        from the shipped files, which are no secret)."""
        demo = self.scope.demo_workspace
        if self.scope.principal.is_admin or not demo or not self.kb.has_workspace(demo):
            return True
        return self.scope.access.can(self.scope.principal, "read", demo)

    def can(self, action: Action, workspace: str) -> bool:
        """Whether the user may do ``action`` on ``workspace`` (for the pages to hide what they may not)."""
        if self.scope.principal.is_admin:
            return True
        kind = workspace_kind(workspace)
        if kind == "user" or kind == "scratch":
            return self.scope.access.can(self.scope.principal, action, workspace.strip())
        # The report's copies are shared: a demo reader may rebuild one, never delete it under another's report.
        return kind == "report" and action != "manage" and self._demo_readable()

    def _require_not_shared_name(self, name: str) -> None:
        """Only an admin may create a workspace under a shared demo's name (the demo everyone reads, the
        tenants' workspaces): its creator would own what every user, or a tenant's users, then read."""
        if not self.scope.principal.is_admin and name.strip() in self.scope.shared_names():
            raise PermissionDenied(f"{self._who} may not create {name.strip()!r}: it is the name of a shared demo "
                                   "workspace, which only an admin may create or restore.")

    def role(self, workspace: str) -> Role | None:
        """The user's role on ``workspace`` (admins: owner everywhere; None: none)."""
        if workspace_kind(workspace) == "report":
            return "owner" if self.scope.principal.is_admin else ("viewer" if self._demo_readable() else None)
        return self.scope.access.role(self.scope.principal, workspace.strip())

    def _require(self, action: Action, workspace: str) -> None:
        if self.can(action, workspace):
            return
        kind, name = workspace_kind(workspace), workspace.strip()
        if kind == "user" and not self.kb.has_workspace(name):  # a typo is not a missing role
            yours = ", ".join(w.name for w in self.list_workspaces()) or "none yet"
            raise WorkspaceError(f"No workspace {name!r} among yours ({yours}).")
        if kind in ("user", "scratch"):
            self.scope.access.require(self.scope.principal, action, name)
        raise PermissionDenied(f"{self._who} may not use the internal workspace {workspace.strip()!r}: "
                               + ("it copies the demo workspace, which you may not read."
                                  if kind == "report" else "only an admin may."))

    def _require_own_content(self, workspace: str, what: str) -> None:
        """The claims report's copies hold the shipped demo documents only: only an admin may ``what``."""
        if workspace_kind(workspace) == "report" and not self.scope.principal.is_admin:
            raise PermissionDenied(f"{self._who} may not {what} {workspace.strip()!r}: it is the claims report's "
                                   "copy of the shipped demo documents; only an admin may change it.")

    def _adopt(self, name: str) -> None:
        """After this user created ``name``: no roles left from an older workspace of that name; the
        creator owns it (not the report's shared copies); the demo workspace is readable by everyone."""
        from ragtune.access.principal import EVERYONE

        store, principal = self.scope.access.store, self.scope.principal
        store.drop_workspace(name)
        if workspace_kind(name) == "scratch":
            # The app drops stale scratch copies without a user (its sweeper): forget their owners now.
            existing = {ref.name for ref in self.kb.store.list_workspaces()}
            for gone in {m.workspace for m in store.members()} - existing:
                if workspace_kind(gone) == "scratch":
                    store.drop_workspace(gone)
        if not principal.is_local and workspace_kind(name) in ("user", "scratch"):
            store.grant(principal.email, name, "owner", by=principal.email)
        if name == self.scope.demo_workspace:
            store.grant(EVERYONE, name, "viewer", by=principal.email)

    # -- workspaces -----------------------------------------------------------------------
    def workspace(self, name: str) -> WorkspaceRef:
        self._require("read", name)
        return self.kb.workspace(name)

    def has_workspace(self, name: str) -> bool:
        """Whether ``name`` exists and the user may read it."""
        return self.kb.has_workspace(name) and self.can("read", name)

    def list_workspaces(self, *, include_internal: bool = False) -> list[WorkspaceInfo]:
        """The workspaces the user may read (internal ones only with ``include_internal``)."""
        return [w for w in self.kb.list_workspaces(include_internal=include_internal) if self.can("read", w.name)]

    def create_workspace(self, name: str, *, internal: bool = False) -> WorkspaceInfo:
        """Create an empty workspace, owned by the user. An internal one: a Tour scratch copy or the claims
        report's copy, by whoever may read the demo (any other: admins only).

        Raises:
            PermissionDenied: an internal workspace the user may not make.
            WorkspaceError: the name is invalid or taken.
        """
        if internal and not self.scope.principal.is_admin and (
                workspace_kind(name) not in ("scratch", "report") or not self._demo_readable()):
            raise PermissionDenied(f"{self._who} may not create the internal workspace {name.strip()!r}.")
        self._require_not_shared_name(name)
        info = self.kb.create_workspace(name, internal=internal)
        self._adopt(info.name)
        return info

    def ensure_workspace(self, name: str) -> bool:
        """Create the workspace (owned by the user) unless it exists; whether this call created it. Whether
        the user may write into an existing one is checked when they do."""
        if not self.kb.has_workspace(name):
            self._require_not_shared_name(name)
        created = self.kb.ensure_workspace(name)
        if created:
            self._adopt(name.strip())
        return created

    def rename_workspace(self, name: str, new_name: str) -> WorkspaceInfo:
        """Rename (the owner role); the roles move to the new name."""
        self._require("manage", name)
        if workspace_kind(name) != "user" and not self.scope.principal.is_admin:
            raise PermissionDenied(f"{self._who} may not rename the internal workspace {name.strip()!r}.")
        info = self.kb.rename_workspace(name, new_name)
        self.scope.access.store.rename_workspace(name.strip(), info.name)
        return info

    def empty_workspace(self, name: str) -> None:
        self._require("write", name)
        self._require_own_content(name, "empty")
        self.kb.empty_workspace(name)

    def delete_workspace(self, name: str) -> None:
        """Delete the workspace and its documents (the owner role); its roles go with it."""
        self._require("manage", name)
        self.kb.delete_workspace(name)
        self.scope.access.store.drop_workspace(name.strip())

    # -- documents ------------------------------------------------------------------------
    def list_documents(self, workspace: str) -> list[DocumentInfo]:
        self._require("read", workspace)
        return self.kb.list_documents(workspace)

    def document_text(self, workspace: str, doc_id: str) -> str:
        self._require("read", workspace)
        return self.kb.document_text(workspace, doc_id)

    def chunks(self, workspace: str, doc_id: str) -> list[Chunk]:
        self._require("read", workspace)
        return self.kb.chunks(workspace, doc_id)

    def stale_documents(self, workspace: str) -> list[str]:
        self._require("read", workspace)
        return self.kb.stale_documents(workspace)

    def rechunk(self, workspace: str, on_progress: ProgressCallback | None = None) -> list[str]:
        self._require("write", workspace)
        return self.kb.rechunk(workspace, on_progress)

    def delete_document(self, workspace: str, doc_id: str) -> None:
        self._require("write", workspace)
        self._require_own_content(workspace, "delete documents of")
        self.kb.delete_document(workspace, doc_id)

    def update_document_text(self, workspace: str, doc_id: str, text: str) -> FileResult:
        self._require("write", workspace)
        self._require_own_content(workspace, "edit documents of")
        return self.kb.update_document_text(workspace, doc_id, text)

    def ingest_bytes(self, workspace: str, files: Iterable[tuple[str, bytes]], *,
                     on_progress: ProgressCallback | None = None) -> IngestReport:
        self._require("write", workspace)
        self._require_own_content(workspace, "add documents to")
        return self.kb.ingest_bytes(workspace, files, on_progress=on_progress)

    def ingest_paths(self, workspace: str, paths: Sequence[Path], *,
                     on_progress: ProgressCallback | None = None) -> IngestReport:
        """Ingest files and folders (the editor role); into the claims report's copies only the shipped
        demo documents (which is how they are rebuilt)."""
        self._require("write", workspace)
        if workspace_kind(workspace) == "report" and not self.scope.principal.is_admin:
            from ragtune.retrieval.demo import demo_files

            shipped = {p.resolve() for version in ("v1", "v2") for p in demo_files(version)}  # type: ignore[arg-type]
            if any(Path(p).resolve() not in shipped for p in paths):
                self._require_own_content(workspace, "add other documents to")
        return self.kb.ingest_paths(workspace, paths, on_progress=on_progress)

    def collect_garbage(self, *, min_age_s: float | None = None) -> int:
        """Storage upkeep for every workspace (admins only); ``min_age_s`` None: the knowledge base's default."""
        self.scope.require_admin("collect the knowledge base's garbage")
        return self.kb.collect_garbage() if min_age_s is None else self.kb.collect_garbage(min_age_s=min_age_s)

    # -- search ---------------------------------------------------------------------------
    def search(self, workspace: str, query: str, *, mode: SearchMode | None = None,
               k: int | None = None) -> SearchResult:
        """The ``k`` chunks that best match ``query`` in a workspace the user may read."""
        self._require("read", workspace)
        return self.kb.search(workspace, query, mode=mode, k=k)


class ScopedManifest:
    """The manifest calls the module functions make (:mod:`ragtune.retrieval.demo`, :mod:`ragtune.tour`,
    :mod:`ragtune.evaluation.workspaces`), each checked on the workspace it concerns."""

    def __init__(self, scoped: ScopedKnowledgeBase) -> None:
        self._scoped = scoped
        self._manifest = scoped.kb.manifest

    def _name(self, workspace_id: str, action: Action) -> str:
        for ref in self._scoped.kb.store.list_workspaces():
            if ref.id == workspace_id:
                self._scoped._require(action, ref.name)
                return ref.name
        raise WorkspaceError(f"No workspace with the id {workspace_id!r}.")

    def documents(self, workspace_id: str) -> list[DocumentRow]:
        self._name(workspace_id, "read")
        return self._manifest.documents(workspace_id)

    def document(self, workspace_id: str, doc_id: str) -> DocumentRow | None:
        self._name(workspace_id, "read")
        return self._manifest.document(workspace_id, doc_id)

    def document_by_source(self, workspace_id: str, source: str) -> DocumentRow | None:
        self._name(workspace_id, "read")
        return self._manifest.document_by_source(workspace_id, source)

    def revision(self, workspace_id: str) -> int:
        self._name(workspace_id, "read")
        return self._manifest.revision(workspace_id)

    def demo_version(self, workspace_id: str) -> str | None:
        self._name(workspace_id, "read")
        return self._manifest.demo_version(workspace_id)

    def set_demo_version(self, workspace_id: str, version: str) -> None:
        self._name(workspace_id, "write")
        self._manifest.set_demo_version(workspace_id, version)

    def get_meta(self, key: str) -> str | None:
        return self._manifest.get_meta(key)

    def set_meta(self, key: str, value: str) -> None:
        """The per-workspace marks the helpers keep (the demo was seeded; a scratch copy's age) need the
        owner role on that workspace; any other key is an admin's."""
        from ragtune.retrieval.demo import _SEEDED_KEY
        from ragtune.tour import _SCRATCH_META

        name = next((key[len(prefix):] for prefix in (_SEEDED_KEY.format(name=""), _SCRATCH_META.format(name=""))
                     if key.startswith(prefix) and key != prefix), None)
        if name is not None and self._scoped.kb.has_workspace(name):
            self._scoped._require("manage", name)
        elif name is None or value:  # clearing the mark of a workspace that is gone (a dropped scratch) is no change
            self._scoped.scope.require_admin("change the knowledge base's bookkeeping")
        self._manifest.set_meta(key, value)

    def close(self) -> None:
        self._manifest.close()


__all__ = ["ScopedKnowledgeBase", "ScopedManifest", "WorkspaceKind", "workspace_kind"]
