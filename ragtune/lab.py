"""The Lab's use case: one question answered in several modes, as events.

:func:`compare` runs each mode on the shared model and yields what happens for each mode:
:class:`Started`, then :class:`Token` per piece of text, then :class:`Finished` (the answer, its
verdict, its id in the query log) or :class:`Failed` (why the mode could not answer); every event
carries the mode's column (``index``). The Lab page streams the events into columns;
``python -m ragtune lab`` prints them.

On a model in this process (one lock) the modes answer one after another. On a model server
(:attr:`ragtune.runtime.base.Runtime.concurrent`) they are sent at once: every mode starts, each
streams in a thread of its own (:func:`ragtune.interleave.interleave`), their tokens arrive
interleaved, a mode that fails says so while the others go on, and :class:`Waiting` says the
comparison still runs when nothing arrives for a moment. Judging and logging happen in the reader's
thread, as each mode finishes.

The demo questions each stand for one thesis of the seed; the Lab shows what the model actually
does with them (measured, not asserted). They are cases of the demo eval set, so an answer to
one is judged by the evaluation's one scorer (:func:`ragtune.evaluation.scoring.judge_answer`)
against the documents the workspace holds (:func:`ragtune.evaluation.workspaces.judging`), once,
and the verdict is logged with the answer; when a gold document was edited since, it is not
judged, and the log keeps why.

A question whose fact changed in version 2 of the demo documents brings the knowledge-LoRA mode
into the comparison by itself (:func:`plan_comparison`): baked-in facts going stale is its point.

Examples:
    >>> [q.eval_id for q in LAB_QUESTIONS]
    ['a13', 'u03', 'a08', 'c03']
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ragtune.answer import Answer
from ragtune.errors import InputError, RagtuneError
from ragtune.evaluation.scoring import Judgement, judge_answer
from ragtune.evaluation.sets import EvalCase, Version, demo_eval_set, find_case
from ragtune.evaluation.workspaces import Judging, judging
from ragtune.interleave import Quiet, interleave
from ragtune.modes import Mode
from ragtune.theses import thesis

if TYPE_CHECKING:
    from ragtune.pipeline import Pipeline
    from ragtune.showcases import Showcases
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.store import QueryLog, Source


MAX_QUESTION_CHARS = 2000
"""The longest question the Lab, its links and ``python -m ragtune lab`` take."""
FRESHNESS_MODE = "knowledge-lora"
"""The mode a changed-fact question adds to a comparison: the facts baked into an adapter."""


def check_question(question: str) -> str:
    """The question, stripped, if it can be asked.

    Raises:
        InputError: it is empty, or longer than :data:`MAX_QUESTION_CHARS` (the message gives both lengths).
    """
    text = question.strip()
    if not text:
        raise InputError("The question is empty. Type a question (or pick a demo question) first.")
    if len(text) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. "
                         "Shorten it: ask about one thing, and leave the documents to the workspace.")
    return text


class LabQuestion(BaseModel):
    """A demo question, the thesis it shows, the seed's prediction for it, and how typical it is."""

    model_config = ConfigDict(frozen=True)

    eval_id: str
    thesis: str
    prediction: str
    thesis_id: str = ""
    measured: str = Field(default="", description="The thesis's set-wide rates and how many questions show it "
                          "as clearly, from the model's showcases; empty: not measured for this model.")


LAB_QUESTIONS: tuple[LabQuestion, ...] = (
    LabQuestion(
        eval_id="a13", thesis=thesis("facts").title, thesis_id="facts",
        prediction="A price from the company's own documents: only the modes that retrieve can know it.",
    ),
    LabQuestion(
        eval_id="u03", thesis=thesis("format").title, thesis_id="format",
        prediction="No document has the answer. The right reply is the schema's JSON abstention: the "
        "behaviour adapter should produce it; the base model and plain RAG should break the "
        "format or invent an answer.",
    ),
    LabQuestion(
        eval_id="a08", thesis=thesis("both").title, thesis_id="both",
        prediction="RAG finds the fact but breaks the format; the adapter alone keeps the format "
        "but lacks the fact; together they should give a valid, cited, correct answer.",
    ),
    LabQuestion(
        eval_id="c03", thesis=thesis("freshness").title, thesis_id="freshness",
        prediction="The answer changed in version 2 of the documents (after the answers, switch the "
        "demo documents to version 2 and ask again): retrieval follows the change, facts baked into "
        "an adapter do not.",
    ),
)
"""The Lab's four theses (titles from :mod:`ragtune.theses`) with the demo's own picks: the questions used
when no showcase ranking exists for the loaded model (``python -m ragtune showcases`` makes one)."""


def demo_questions(showcases: Showcases | None = None) -> list[tuple[LabQuestion, EvalCase]]:
    """The Lab's demo questions with their cases of the demo eval set: per thesis, the question that shows it
    most clearly on the model (its showcases' best), with the thesis's set-wide rates beside it and how
    typical the question is (:meth:`~ragtune.showcases.ThesisShowcase.typicality`); without a ranking, the
    demo's own picks, said to be unmeasured."""
    from ragtune.modes import BUILTIN_MODES

    labels = {m.id: m.label for m in BUILTIN_MODES}
    by_id = {case.id: case for case in demo_eval_set().cases}
    picked = []
    for fallback in LAB_QUESTIONS:
        item = showcases.get(fallback.thesis_id) if showcases is not None else None
        if item is None or item.best is None or item.best.case_id not in by_id:
            if fallback.eval_id in by_id:
                picked.append((fallback, by_id[fallback.eval_id]))
            continue
        t, best = thesis(fallback.thesis_id), item.best
        rates = "; ".join(rate.text(labels) for rate in item.rates)
        predicted = "; ".join(o.prediction.words(labels, t.version) for o in best.outcomes)
        picked.append((LabQuestion(
            eval_id=best.case_id, thesis=t.title, thesis_id=t.id,
            prediction=f"{t.claim} Predicted: {predicted}.",
            measured=f"Measured over the whole demo set: {rates}. Chosen by measurement "
            f"({showcases.source()}). {item.typicality()}",
        ), by_id[best.case_id]))
    return picked


def new_run_id() -> str:
    """An id grouping the answers of one comparison in the query log (12 hex digits)."""
    return uuid.uuid4().hex[:12]


class ComparisonPlan(BaseModel):
    """The modes a comparison runs: those chosen, plus what the question brings (``added``, said in ``note``)."""

    model_config = ConfigDict(frozen=True)

    mode_ids: list[str]
    added: list[str] = Field(default_factory=list, description="The modes the question added to those chosen.")
    note: str = ""


def plan_comparison(question: str, chosen: Sequence[str], known: Sequence[str]) -> ComparisonPlan:
    """The modes to run for ``question``: a changed-fact demo question (a case of kind ``changed``)
    adds the knowledge-LoRA mode when it is not chosen, so the stale baked-in fact sits beside RAG's.
    The Lab page and ``python -m ragtune lab`` both apply it.

    Examples:
        >>> plan = plan_comparison("How many days do I have to return a product bought directly from Tidewell?",
        ...                        ["rag"], ["rag", "knowledge-lora"])
        >>> plan.mode_ids, plan.added
        (['rag', 'knowledge-lora'], ['knowledge-lora'])
    """
    case = find_case(demo_eval_set(), question)
    if case is None or case.kind != "changed" or FRESHNESS_MODE in chosen or FRESHNESS_MODE not in known:
        return ComparisonPlan(mode_ids=list(chosen))
    return ComparisonPlan(
        mode_ids=[*chosen, FRESHNESS_MODE], added=[FRESHNESS_MODE],
        note="This fact changed in version 2 of the demo documents, so the Knowledge LoRA column is added: "
        "its facts were baked in from version 1. Switch the documents to version 2 after the answers to see "
        "which modes follow the change.",
    )


class FreshnessOffer(BaseModel):
    """After a changed-fact question's answers: switch the demo workspace to the other version of
    the documents and ask again (``label`` says which; ``caution``: it changes it for everyone)."""

    model_config = ConfigDict(frozen=True)

    workspace: str
    current: Version
    target: Version
    label: str
    caution: str


def freshness_offer(kb: KnowledgeBase | None, workspace: str | None, demo_workspace: str,
                    question: str) -> FreshnessOffer | None:
    """The offer to switch versions, when ``question`` is a changed-fact demo question asked of the
    demo workspace (the one workspace whose documents have a version 2); None otherwise, and when the
    user of a checked knowledge base (:class:`ragtune.access.ScopedKnowledgeBase`) may not change its
    documents (switching them changes them for everyone)."""
    from ragtune.retrieval.demo import demo_version

    case = find_case(demo_eval_set(), question)
    if (case is None or case.kind != "changed" or kb is None or not workspace or workspace != demo_workspace
            or not kb.has_workspace(workspace)):
        return None
    if not getattr(kb, "can", lambda action, name: True)("write", workspace):
        return None
    current = demo_version(kb, workspace)
    target: Version = "v1" if current == "v2" else "v2"
    label = ("Switch the documents to version 2 and ask again" if target == "v2"
             else "Switch the documents back to version 1 and ask again")
    return FreshnessOffer(
        workspace=workspace, current=current, target=target, label=label,
        caution=f"This switches the workspace '{workspace}' to version {target[1]} of the demo documents for "
        "everyone using this server (the Knowledge page shows the version and switches it too).",
    )


def switch_documents(kb: KnowledgeBase, offer: FreshnessOffer) -> None:
    """Carry out ``offer``: re-ingest the demo documents that differ in its target version."""
    from ragtune.retrieval.demo import set_demo_version

    set_demo_version(kb, offer.target, offer.workspace)


def progress_text(event: Started) -> str:
    """``Mode 2 of 4: RAG`` (what the Lab shows while a mode answers); ``4 modes answer at once`` when they
    are sent together."""
    if event.concurrent:
        return f"{event.total} modes answer at once"
    return f"Mode {event.index + 1} of {event.total}: {event.mode.label}"


def finished_text(finished: int, total: int, *, elapsed_s: float | None = None) -> str:
    """``1 of 4 finished`` (with the seconds so far, ``· 12 s``), while modes answer at once."""
    return f"{finished} of {total} finished" + (f" · {elapsed_s:.0f} s" if elapsed_s is not None else "")


class Started(BaseModel):
    """A mode starts answering (the ``index``-th of ``total``); ``model_busy``: it queues first;
    ``concurrent``: every mode of the comparison was sent at once."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    index: int
    total: int
    model_busy: bool = False
    concurrent: bool = False


class Token(BaseModel):
    """A piece of the answer text of the mode in column ``index``, as generated."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    text: str
    index: int = 0


class Finished(BaseModel):
    """The mode's finished answer; ``verdict`` on a demo question (judged against documents
    ``version``), or ``not_judged``: why a demo question's answer was not judged; ``log_id``
    when it was logged, under ``run_id``; ``index``: its column in a live comparison."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    answer: Answer
    verdict: Judgement | None = None
    version: Version | None = None
    not_judged: str | None = None
    log_id: int | None = None
    run_id: str = ""
    index: int = 0


class Failed(BaseModel):
    """The mode could not answer: the reason, with what to do (``index``: its column in a live comparison)."""

    model_config = ConfigDict(frozen=True)

    mode: Mode
    error: str
    index: int = 0


class Waiting(BaseModel):
    """Modes sent at once are still answering, and nothing arrived for a moment (``elapsed_s`` so far)."""

    model_config = ConfigDict(frozen=True)

    elapsed_s: float


LabEvent = Started | Token | Finished | Failed | Waiting


def compare(
    pipeline: Pipeline,
    question: str,
    modes: Sequence[Mode],
    workspace: str | None,
    *,
    log: QueryLog | None,
    source: Source,
    run_id: str | None = None,
    concurrent: bool | None = None,
) -> Generator[LabEvent, None, None]:
    """Answer ``question`` in each mode, yielding each mode's events.

    In turn, each mode's events come together: ``Started``, ``Token``..., then ``Finished`` or
    ``Failed``. Sent at once (``concurrent``), every mode's ``Started`` comes first, then the modes'
    ``Token`` events interleaved as they arrive, each mode ending with ``Finished`` or ``Failed`` in the
    order they end, and ``Waiting`` while nothing arrives. Every answer is logged (when ``log`` is
    given) under one run id, with its verdict when the question is a demo question. Closing the
    generator mid-answer stops every mode: the model is freed (in process) or the server's streams
    are closed.

    Args:
        pipeline: the model, knowledge base and adapters the modes run on.
        question: the question, as typed.
        modes: the modes, in column order.
        workspace: the knowledge workspace of the modes that retrieve.
        log: the query log (None: nothing is logged).
        source: who asks (``lab`` for the page, ``cli`` for the command line).
        run_id: the id the answers are logged under (default: a new one, :func:`new_run_id`).
        concurrent: send the modes at once; None: when the runtime serves requests at once (a model
            server). True on the in-process runtime is correct but gains nothing: the requests queue on
            its lock.

    Raises:
        InputError: the question is empty or too long (:func:`check_question`), before anything runs.

    Examples:
        >>> kinds = [type(e).__name__ for e in compare(pipeline, "Price?", modes, "team",
        ...                                             log=None, source="cli")]  # doctest: +SKIP
        >>> kinds  # doctest: +SKIP
        ['Started', 'Token', 'Token', 'Finished', 'Started', 'Failed']
    """
    question = check_question(question)
    case, basis = find_case(demo_eval_set(), question), None
    if case is not None:
        try:
            basis = judging(pipeline.kb, workspace)
        except RagtuneError:
            case = None  # the knowledge base cannot say which documents it holds: not judged
    run_id = run_id or new_run_id()

    def settle(event: Token | Failed | _Answered) -> Token | Failed | Finished:
        """A mode's answer judged and logged (here, in the reader's thread: the log is one SQLite file)."""
        if not isinstance(event, _Answered):
            return event
        verdict, not_judged = _judge(case, basis, event.answer)
        log_id = None
        if log is not None:
            log_id = log.add(event.answer, source=source, run_id=run_id,
                             verdict=verdict.verdict if verdict else None,
                             verdict_note=verdict.note if verdict else not_judged)
        return Finished(mode=event.mode, answer=event.answer, verdict=verdict,
                        version=basis.version if basis else None, not_judged=not_judged, log_id=log_id,
                        run_id=run_id, index=event.index)

    total = len(modes)
    if concurrent is None:
        concurrent = pipeline.runtime.concurrent
    if not concurrent or total < 2:
        for index, mode in enumerate(modes):
            yield Started(mode=mode, index=index, total=total, model_busy=pipeline.runtime.is_busy())
            # closing(): a stopped comparison (page rerun, Ctrl-C) frees the model at once
            with closing(_mode_events(pipeline, question, mode, index, workspace)) as events:
                for event in events:
                    yield settle(event)
        return
    busy = pipeline.runtime.is_busy()
    for index, mode in enumerate(modes):
        yield Started(mode=mode, index=index, total=total, model_busy=busy, concurrent=True)
    streams = [partial(_mode_events, pipeline, question, mode, index, workspace) for index, mode in enumerate(modes)]
    with closing(interleave(streams, name="lab-mode")) as arrivals:
        for item in arrivals:
            yield Waiting(elapsed_s=item.elapsed_s) if isinstance(item, Quiet) else settle(item.value)


@dataclass(frozen=True)
class _Answered:
    """A mode's finished answer, before it is judged and logged."""

    mode: Mode
    index: int
    answer: Answer


def _mode_events(pipeline: Pipeline, question: str, mode: Mode, index: int,
                 workspace: str | None) -> Iterator[Token | Failed | _Answered]:
    """One mode's answer as it streams: its tokens, then the answer, or why it failed."""
    try:
        stream = pipeline.stream(question, mode, workspace)
        try:
            for text in stream:
                yield Token(mode=mode, text=text, index=index)
        finally:
            stream.close()  # a stopped stream frees the model (in process) or closes the server's stream
        answer = stream.answer()
    except RagtuneError as exc:
        yield Failed(mode=mode, error=str(exc), index=index)
        return
    yield _Answered(mode=mode, index=index, answer=answer)


def _judge(case: EvalCase | None, basis: Judging | None, answer: Answer) -> tuple[Judgement | None, str | None]:
    """(the verdict, or why there is none) for an answer to a demo question; (None, None) otherwise."""
    if case is None or basis is None:
        return None, None
    reason = basis.not_judged(case)
    return (None, reason) if reason else (judge_answer(case, basis.version, answer), None)
