"""The demo knowledge base (``data/kb``, ``data/kb_v2``) and its eval questions.

The demo is a fictional company, Tidewell Robotics, that no model can know. Version 2
(``data/kb_v2``) replaces a few documents with changed facts (a price, a date, a
policy limit); switching the demo workspace between the versions is how the app
shows retrieval picking up a change while a fine-tuned model would not.

:class:`EvalQuestion` is the record an evaluation uses: answerable questions with a
gold answer and the documents holding it, unanswerable ones, and questions whose
answer changed in version 2 (with both answers).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.config import PROJECT_ROOT
from ragtune.errors import InputError, WorkspaceError
from ragtune.retrieval.knowledge import KnowledgeBase, ProgressCallback, is_internal_workspace
from ragtune.retrieval.types import IngestReport

DATA_DIR = PROJECT_ROOT / "data"
KB_V1_DIR = DATA_DIR / "kb"
KB_V2_DIR = DATA_DIR / "kb_v2"
QUESTIONS_FILE = DATA_DIR / "eval" / "questions.jsonl"
DemoVersion = Literal["v1", "v2"]
_SEEDED_KEY = "demo_seeded:{name}"


def _norm(text: str) -> str:
    text = text.lower().replace("–", "-").replace("—", "-").replace("\u00a0", " ")
    return re.sub(r"\s+", " ", text).strip()


class EvalQuestion(BaseModel):
    """One question of the demo eval set.

    ``kind``: ``answerable`` (``answer`` is in ``doc_ids``), ``unanswerable`` (in no
    document: the right response is to say so), or ``changed`` (``answer`` holds in
    version 1, ``answer_v2`` in version 2).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    kind: Literal["answerable", "unanswerable", "changed"]
    question: str = Field(min_length=1)
    answer: str | None = Field(default=None, description="Gold answer (version 1).")
    accepted: list[str] = Field(default_factory=list, description="Other accepted forms of `answer`.")
    answer_v2: str | None = Field(default=None, description="Gold answer in version 2 (changed only).")
    accepted_v2: list[str] = Field(default_factory=list)
    doc_ids: list[str] = Field(default_factory=list, description="Documents that hold the answer.")

    @model_validator(mode="after")
    def _consistent(self) -> EvalQuestion:
        if self.kind == "unanswerable":
            if self.answer or self.answer_v2 or self.doc_ids:
                raise ValueError("an unanswerable question has no answer and no doc_ids")
        else:
            if not self.answer or not self.doc_ids:
                raise ValueError(f"a {self.kind} question needs an answer and doc_ids")
            if (self.kind == "changed") != bool(self.answer_v2):
                raise ValueError("answer_v2 is required for, and only for, changed questions")
        return self

    def gold(self, version: DemoVersion = "v1") -> list[str]:
        """The accepted answers in ``version`` (the gold answer first); empty if unanswerable."""
        if self.kind == "changed" and version == "v2":
            return [self.answer_v2 or "", *self.accepted_v2]
        return [self.answer, *self.accepted] if self.answer else []

    def is_answered_by(self, text: str, version: DemoVersion = "v1") -> bool:
        """Whether ``text`` contains one of the accepted answers (case and spacing ignored)."""
        haystack = _norm(text)
        return any(_norm(g) in haystack for g in self.gold(version) if g)


def load_questions(path: Path = QUESTIONS_FILE) -> list[EvalQuestion]:
    """Read an eval set (JSON Lines, one :class:`EvalQuestion` per line).

    Raises:
        InputError: the file is missing, or a line is not valid JSON or not a valid question.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read eval questions {path}: {exc.strerror}.") from exc
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            questions.append(EvalQuestion.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InputError(f"{path.name} line {number}: invalid question ({exc}).") from exc
    ids = [q.id for q in questions]
    if len(ids) != len(set(ids)):
        raise InputError(f"{path.name}: duplicate question ids.")
    return questions


def demo_files(version: DemoVersion) -> list[Path]:
    """The Markdown files that make up the demo in ``version`` (v2 = v1 with some replaced)."""
    files = {p.name: p for p in sorted(KB_V1_DIR.glob("*.md"))}
    if version == "v2":
        files.update({p.name: p for p in sorted(KB_V2_DIR.glob("*.md"))})
    return list(files.values())


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
    report = reset_demo_workspace(kb, name, on_progress=on_progress)
    kb.manifest.set_meta(key, "1")
    return report


def reset_demo_workspace(
    kb: KnowledgeBase, name: str = "demo", *, on_progress: ProgressCallback | None = None
) -> IngestReport:
    """(Re)create the demo workspace with version 1 of the demo documents (the claims
    report's own copies too: their names are internal)."""
    if kb.has_workspace(name):
        kb.delete_workspace(name)
    kb.create_workspace(name, internal=is_internal_workspace(name))
    report = kb.ingest_paths(name, demo_files("v1"), on_progress=on_progress)
    kb.manifest.set_demo_version(kb.workspace(name).id, "v1")
    return report


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
