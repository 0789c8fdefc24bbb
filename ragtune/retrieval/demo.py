"""The demo knowledge base (``data/kb``, ``data/kb_v2``).

The demo is a fictional company, Tidewell Robotics, that no model can know. Version 2
(``data/kb_v2``) replaces a few documents with changed facts (a price, a date, a
policy limit); switching the demo workspace between the versions is how the app
shows retrieval picking up a change while a fine-tuned model would not.

Its questions (``data/eval/questions.jsonl``) are an eval set like any other: read them with
:func:`ragtune.evaluation.sets.demo_eval_set`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from ragtune.config import PROJECT_ROOT
from ragtune.errors import InputError, WorkspaceError
from ragtune.retrieval.ingest import ProgressCallback, document_sha256
from ragtune.retrieval.knowledge import KnowledgeBase, is_internal_workspace
from ragtune.retrieval.loaders import parse_document
from ragtune.retrieval.types import IngestReport

DATA_DIR = PROJECT_ROOT / "data"
KB_V1_DIR = DATA_DIR / "kb"
KB_V2_DIR = DATA_DIR / "kb_v2"
DemoVersion = Literal["v1", "v2"]
_SEEDED_KEY = "demo_seeded:{name}"


def demo_files(version: DemoVersion) -> list[Path]:
    """The Markdown files that make up the demo in ``version`` (v2 = v1 with some replaced)."""
    files = {p.name: p for p in sorted(KB_V1_DIR.glob("*.md"))}
    if version == "v2":
        files.update({p.name: p for p in sorted(KB_V2_DIR.glob("*.md"))})
    return list(files.values())


def file_hashes(paths: list[Path]) -> dict[str, str]:
    """Document id -> content hash of shipped files (what the manifest holds for a document ingested
    from one of them and never edited)."""
    hashes = {}
    for path in paths:
        data = path.read_bytes()
        doc = parse_document(path.name, data, max_bytes=len(data) + 1)
        hashes[doc.doc_id] = document_sha256(doc)
    return hashes


@lru_cache(maxsize=2)
def shipped_hashes(version: DemoVersion) -> dict[str, str]:
    """Document id -> content hash of the demo documents as shipped in ``version``."""
    return file_hashes(demo_files(version))


def edited_demo_documents(kb: KnowledgeBase, name: str, version: DemoVersion) -> list[str]:
    """The ids of ``name``'s documents that share an id with a demo document (or a tenant's, whose ids are
    their own: :mod:`ragtune.tenants`) but not its shipped text in ``version``: edited inline, or replaced
    by another file of the same name."""
    from ragtune.tenants import tenant_hashes

    shipped = {**tenant_hashes(), **shipped_hashes(version)}
    return sorted(d.doc_id for d in kb.list_documents(name)
                  if d.doc_id in shipped and d.sha256 != shipped[d.doc_id])


def ensure_demo_workspace(
    kb: KnowledgeBase, name: str = "demo", *, on_progress: ProgressCallback | None = None
) -> IngestReport | None:
    """Create and fill the demo workspace the first time; later calls do nothing.

    A user who deletes the demo workspace does not get it back on the next start
    (the manifest remembers it was seeded); :func:`restore_demo_workspace` (the Knowledge
    page's "Restore the demo workspace", ``python -m ragtune workspaces restore-demo``) brings
    it back.
    """
    if not name:  # RAGTUNE_DEMO_WORKSPACE="" turns the demo off
        return None
    key = _SEEDED_KEY.format(name=name)
    if kb.manifest.get_meta(key) or kb.has_workspace(name):
        return None
    try:
        kb.create_workspace(name, internal=is_internal_workspace(name))
    except WorkspaceError:
        if kb.has_workspace(name):
            return None  # another app instance on the same Chroma server created it a moment ago and fills it
        raise
    report = _fill(kb, name, on_progress)
    kb.manifest.set_meta(key, "1")
    return report


def _fill(kb: KnowledgeBase, name: str, on_progress: ProgressCallback | None) -> IngestReport:
    """Ingest version 1 of the demo documents into the (new) workspace ``name``."""
    report = kb.ingest_paths(name, demo_files("v1"), on_progress=on_progress)
    kb.manifest.set_demo_version(kb.workspace(name).id, "v1")
    return report


def reset_demo_workspace(
    kb: KnowledgeBase, name: str = "demo", *, on_progress: ProgressCallback | None = None
) -> IngestReport:
    """(Re)create the demo workspace with version 1 of the demo documents (the claims
    report's own copies too: their names are internal)."""
    if kb.has_workspace(name):
        kb.delete_workspace(name)
    kb.create_workspace(name, internal=is_internal_workspace(name))
    return _fill(kb, name, on_progress)


def restore_demo_workspace(
    kb: KnowledgeBase, name: str = "demo", *, on_progress: ProgressCallback | None = None
) -> IngestReport:
    """Bring a deleted demo workspace back with its documents (version 1).

    Raises:
        WorkspaceError: the demo is turned off (``RAGTUNE_DEMO_WORKSPACE=""``), or a workspace of
            that name exists (delete it first: restoring never replaces what is there).
    """
    if not name:
        raise WorkspaceError("The demo is turned off (RAGTUNE_DEMO_WORKSPACE is empty); set it to a name first.")
    if kb.has_workspace(name):
        raise WorkspaceError(
            f"A workspace named {name!r} exists, so there is nothing to restore. To start it over, delete it "
            f"first (`python -m ragtune workspaces delete {name} --yes`)."
        )
    report = reset_demo_workspace(kb, name, on_progress=on_progress)
    kb.manifest.set_meta(_SEEDED_KEY.format(name=name), "1")
    return report


def demo_version(kb: KnowledgeBase, name: str = "demo") -> DemoVersion:
    """Which demo version the workspace holds (v1 unless switched)."""
    version = kb.manifest.demo_version(kb.workspace(name).id)
    return "v2" if version == "v2" else "v1"


def set_demo_version(
    kb: KnowledgeBase, version: DemoVersion, name: str = "demo", *,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Switch the demo workspace to ``version``: re-ingest the documents that differ.

    Each changed document is replaced atomically; the others are left alone.
    """
    if version not in ("v1", "v2"):
        raise InputError(f"Unknown demo version {version!r}; choose v1 or v2.")
    changed = {p.name for p in KB_V2_DIR.glob("*.md")}
    files = [p for p in demo_files(version) if p.name in changed]
    report = kb.ingest_paths(name, files, on_progress=on_progress)
    kb.manifest.set_demo_version(kb.workspace(name).id, version)
    return report
