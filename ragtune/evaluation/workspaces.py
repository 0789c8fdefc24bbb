"""The demo documents an evaluation is judged against: which version a workspace holds, whether a
gold document was edited since (then the answer is not judged), and the claims report's own two
workspaces (demo documents v1 and v2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ragtune.evaluation.sets import EvalCase, Version

if TYPE_CHECKING:  # the knowledge base loads chromadb: imported where it is used
    from ragtune.retrieval.knowledge import KnowledgeBase

NOT_JUDGED = "not judged: the document changed after the gold answer was written"

REPORT_WORKSPACES: dict[str, str | None] = {"v1": "demo-eval-v1", "v2": "demo-eval-v2"}
"""The report's own copies of the demo documents, one per version."""


def judged_version(kb: KnowledgeBase | None, workspace: str | None) -> Version:
    """The document version answers from ``workspace`` are judged against.

    A workspace filled with the demo documents records which version it holds (switched on the
    Knowledge page); its answers are judged against that version.
    Any other workspace, none, or no knowledge base: version 1. The Lab, the Benchmark and
    ``python -m ragtune eval`` all ask it, through :func:`judging`.
    """
    from ragtune.retrieval.demo import demo_version

    if kb is None or not workspace or not kb.has_workspace(workspace):
        return "v1"
    return demo_version(kb, workspace)


class Judging(BaseModel):
    """How answers from one workspace are judged: against demo documents ``version``, except the
    cases whose gold documents the workspace no longer holds as shipped (``edited``)."""

    model_config = ConfigDict(frozen=True)

    version: Version = "v1"
    edited: list[str] = Field(default_factory=list, description="Demo document ids whose text in the "
                              "workspace is not the shipped text of ``version``.")

    def not_judged(self, case: EvalCase) -> str | None:
        """Why an answer to ``case`` is not judged here (a gold document was edited), or None.

        Examples:
            >>> case = EvalCase(id="c", question="Return window?", answer="30 days", doc_ids=["returns"])
            >>> Judging(edited=["returns"]).not_judged(case)
            'not judged: the document changed after the gold answer was written (returns)'
            >>> Judging(edited=["warranty"]).not_judged(case) is None
            True
        """
        changed = [doc for doc in case.doc_ids if doc in self.edited]
        return f"{NOT_JUDGED} ({', '.join(changed)})" if changed else None


def judging(kb: KnowledgeBase | None, workspace: str | None, version: Version | None = None) -> Judging:
    """How answers from ``workspace`` are judged (:func:`judged_version`, or ``version`` when given),
    and which demo documents it holds with other text than shipped. The one place that decides
    whether a demo question's answer is judged: the Lab, the Benchmark and ``eval`` all ask it.

    A gold document the workspace lacks is not "edited": the gold answer is still the documents'
    truth, the workspace just cannot retrieve it.
    """
    from ragtune.retrieval.demo import edited_demo_documents

    version = version or judged_version(kb, workspace)
    if kb is None or not workspace or not kb.has_workspace(workspace):
        return Judging(version=version)
    return Judging(version=version, edited=edited_demo_documents(kb, workspace, version))


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
