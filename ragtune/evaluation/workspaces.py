"""The demo documents an evaluation is judged against: which version a workspace holds, and the
claims report's own two workspaces (demo documents v1 and v2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ragtune.evaluation.sets import Version

if TYPE_CHECKING:  # the knowledge base loads chromadb: imported where it is used
    from ragtune.retrieval.knowledge import KnowledgeBase

REPORT_WORKSPACES: dict[str, str | None] = {"v1": "demo-eval-v1", "v2": "demo-eval-v2"}
"""The report's own copies of the demo documents, one per version."""


def judged_version(kb: KnowledgeBase | None, workspace: str | None) -> Version:
    """The document version answers from ``workspace`` are judged against.

    A workspace filled with the demo documents records which version it holds (switched on the
    Knowledge page); its answers are judged against that version.
    Any other workspace, none, or no knowledge base: version 1. The Lab, the Benchmark and
    ``python -m ragtune eval`` all ask this function.
    """
    from ragtune.retrieval.demo import demo_version

    if kb is None or not workspace or not kb.has_workspace(workspace):
        return "v1"
    return demo_version(kb, workspace)


def ensure_report_workspaces(
    kb: KnowledgeBase, on_note: Callable[[str], None] | None = None
) -> dict[str, str | None]:
    """The report's two workspaces (demo documents v1 and v2), built once, then reused.

    The report does not use the demo workspace itself: a user may have switched or edited it.
    """
    from ragtune.retrieval.demo import demo_version, reset_demo_workspace, set_demo_version

    for version, name in REPORT_WORKSPACES.items():
        assert name is not None
        if not kb.has_workspace(name) or not kb.list_documents(name) or kb.stale_documents(name):
            # built once and reused, unless the chunk settings changed since: then its figures would
            # measure the old prompt
            if on_note is not None:
                on_note(f"building workspace {name} (demo documents {version})")
            reset_demo_workspace(kb, name)
        if demo_version(kb, name) != version:
            set_demo_version(kb, version, name)  # type: ignore[arg-type]
    return dict(REPORT_WORKSPACES)
