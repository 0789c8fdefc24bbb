"""The Lab's use case: one question answered in several modes, one after another, as events.

:func:`compare` runs each mode on the shared model and yields what happens, in order, for each
mode: :class:`Started`, then :class:`Token` per piece of text, then :class:`Finished` (the
answer, its verdict, its id in the query log) or :class:`Failed` (why the mode could not
answer). The Lab page streams the events into columns; ``python -m ragtune lab`` prints them.

The demo questions each stand for one thesis of the seed; the Lab shows what the model actually
does with them (measured, not asserted). They are cases of the demo eval set, so an answer to
one is judged by the evaluation's one scorer (:func:`ragtune.evaluation.scoring.judge_answer`)
against the documents the workspace holds (:func:`ragtune.evaluation.workspaces.judged_version`),
once, and the verdict is logged with the answer.

Examples:
    >>> [q.eval_id for q in LAB_QUESTIONS]
    ['a13', 'u03', 'a08', 'c03']
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ragtune.answer import Answer
from ragtune.errors import RagtuneError
from ragtune.evaluation.scoring import Judgement, judge_answer
from ragtune.evaluation.sets import EvalCase, Version, demo_eval_set, find_case
from ragtune.evaluation.workspaces import judged_version
from ragtune.modes import Mode

if TYPE_CHECKING:
    from ragtune.pipeline import Pipeline
    from ragtune.store import QueryLog, Source


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


def demo_questions() -> list[tuple[LabQuestion, EvalCase]]:
    """The lab's demo questions with their cases of the demo eval set."""
    by_id = {case.id: case for case in demo_eval_set().cases}
    return [(lab, by_id[lab.eval_id]) for lab in LAB_QUESTIONS if lab.eval_id in by_id]


def new_run_id() -> str:
    """An id grouping the answers of one comparison in the query log."""
    return uuid.uuid4().hex[:12]


class Started(BaseModel):
    """A mode starts answering (the ``index``-th of ``total``); ``model_busy``: it queues first."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    index: int
    total: int
    model_busy: bool = False


class Token(BaseModel):
    """A piece of the mode's answer text, as generated."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    text: str


class Finished(BaseModel):
    """The mode's finished answer; ``verdict`` on a demo question (judged against documents
    ``version``), ``log_id`` when it was logged."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    answer: Answer
    verdict: Judgement | None = None
    version: Version | None = None
    log_id: int | None = None


class Failed(BaseModel):
    """The mode could not answer: the reason, with what to do."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    error: str


LabEvent = Started | Token | Finished | Failed


def compare(
    pipeline: Pipeline,
    question: str,
    modes: Sequence[Mode],
    workspace: str | None,
    *,
    log: QueryLog | None,
    source: Source,
) -> Generator[LabEvent, None, None]:
    """Answer ``question`` in each mode in turn, yielding each mode's events.

    Every answer is logged (when ``log`` is given) under one run id, with its verdict when the
    question is a demo question. Closing the generator mid-answer frees the model at once.

    Args:
        pipeline: the model, knowledge base and adapters the modes run on.
        question: the question, as typed.
        modes: the modes, in the order they answer.
        workspace: the knowledge workspace of the modes that retrieve.
        log: the query log (None: nothing is logged).
        source: who asks (``lab`` for the page, ``cli`` for the command line).

    Examples:
        >>> kinds = [type(e).__name__ for e in compare(pipeline, "Price?", modes, "team",
        ...                                             log=None, source="cli")]  # doctest: +SKIP
        >>> kinds  # doctest: +SKIP
        ['Started', 'Token', 'Token', 'Finished', 'Started', 'Failed']
    """
    case, version = find_case(demo_eval_set(), question), None
    if case is not None:
        try:
            version = judged_version(pipeline.kb, workspace)
        except RagtuneError:
            case = None  # the knowledge base cannot say which documents it holds: not judged
    run_id = new_run_id()
    for index, mode in enumerate(modes):
        yield Started(mode=mode, index=index, total=len(modes), model_busy=pipeline.runtime.is_busy())
        try:
            stream = pipeline.stream(question, mode, workspace)
            try:
                for text in stream:
                    yield Token(mode=mode, text=text)
            finally:
                stream.close()  # a stopped comparison (page rerun, Ctrl-C) frees the model at once
            answer = stream.answer()
        except RagtuneError as exc:
            yield Failed(mode=mode, error=str(exc))
            continue
        verdict = judge_answer(case, version, answer) if case is not None and version is not None else None
        log_id = None
        if log is not None:
            log_id = log.add(answer, source=source, run_id=run_id, verdict=verdict.verdict if verdict else None,
                             verdict_note=verdict.note if verdict else None)
        yield Finished(mode=mode, answer=answer, verdict=verdict, version=version, log_id=log_id)
