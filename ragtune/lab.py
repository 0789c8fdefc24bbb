"""The lab's demo questions, and how an answer is checked against the documents.

Each demo question stands for one thesis of the seed; the lab shows what the model actually
does with it (measured, not asserted). The questions come from the demo eval set
(``data/eval/questions.jsonl``), so each has a gold answer to check against: a mode's answer
is marked correct when it contains an accepted answer for the workspace's demo version, or,
for a question the documents cannot answer, when it abstains.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from ragtune.prompts import ABSTENTION
from ragtune.retrieval.demo import DemoVersion, EvalQuestion, _norm, load_questions

if TYPE_CHECKING:
    from ragtune.pipeline import Answer


class LabQuestion(BaseModel):
    """A demo question and the seed's prediction for it."""

    model_config = ConfigDict(frozen=True)

    eval_id: str
    thesis: str
    prediction: str


LAB_QUESTIONS: tuple[LabQuestion, ...] = (
    LabQuestion(
        eval_id="a13", thesis="A fresh fact: RAG wins",
        prediction="A price from the company's own documents: only the modes that retrieve can know it.",
    ),
    LabQuestion(
        eval_id="u03", thesis="A strict format: LoRA wins",
        prediction="No document has the answer. The right reply is the schema's JSON abstention: the "
        "behaviour adapter should produce it; the base model and plain RAG should break the "
        "format or invent an answer.",
    ),
    LabQuestion(
        eval_id="a08", thesis="Facts and format: only RAG + LoRA gets both",
        prediction="RAG finds the fact but breaks the format; the adapter alone keeps the format "
        "but lacks the fact; together they should give a valid, cited, correct answer.",
    ),
    LabQuestion(
        eval_id="c03", thesis="Changed in version 2: the knowledge LoRA is stale",
        prediction="The answer changed in version 2 of the documents (switch the demo workspace "
        "to v2 on the Knowledge page): retrieval follows the change, facts baked into an adapter "
        "do not.",
    ),
)

ABSTAIN_MARKERS: tuple[str, ...] = (
    _norm(ABSTENTION), "i don't know", "i do not know", "not in the context",
    "does not contain", "no information", "not mentioned",
)

Verdict = Literal["correct", "stale", "wrong", "abstained", "invented"]


class Judgement(BaseModel):
    """An answer checked against the demo documents' gold answer."""

    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    note: str

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


def demo_questions() -> list[tuple[LabQuestion, EvalQuestion]]:
    """The lab's demo questions with their eval records."""
    by_id = {q.id: q for q in load_questions()}
    return [(lab, by_id[lab.eval_id]) for lab in LAB_QUESTIONS if lab.eval_id in by_id]


def find_eval_question(text: str) -> EvalQuestion | None:
    """The demo eval question with exactly this text (spacing and case ignored), if any."""
    wanted = _norm(text)
    return next((q for q in load_questions() if _norm(q.question) == wanted), None)


def _abstains(answer: Answer) -> bool:
    if answer.parse.parsed is not None:
        return answer.parse.parsed.is_abstention
    text = _norm(answer.display_text)
    return any(marker in text for marker in ABSTAIN_MARKERS)


def judge(answer: Answer, question: EvalQuestion, version: DemoVersion = "v1") -> Judgement:
    """Check an answer to a demo question against the documents of ``version``.

    Examples of verdicts: ``correct`` (contains an accepted answer, or abstains when the
    documents have none), ``stale`` (gives the version-1 answer of a changed fact while the
    workspace holds version 2), ``abstained`` (says it does not know although the documents
    do), ``invented`` (answers a question no document answers), ``wrong``.
    """
    abstained = _abstains(answer)
    if question.kind == "unanswerable":
        if abstained:
            return Judgement(verdict="correct", note="abstained: no document has the answer")
        return Judgement(verdict="invented", note="answered although no document has the answer")
    gold = question.gold(version)
    if question.is_answered_by(answer.display_text, version):
        return Judgement(verdict="correct", note=f"matches the documents: {gold[0]}")
    if question.kind == "changed" and version == "v2" and question.is_answered_by(answer.display_text, "v1"):
        return Judgement(verdict="stale", note=f"gives the old answer {question.gold('v1')[0]}; "
                         f"version 2 says {gold[0]}")
    if abstained:
        return Judgement(verdict="abstained", note=f"said it does not know; the documents say {gold[0]}")
    return Judgement(verdict="wrong", note=f"the documents say {gold[0]}")


def new_run_id() -> str:
    """An id grouping the answers of one comparison in the query log."""
    return uuid.uuid4().hex[:12]
