"""Asking as the tenants' personas: one question, two users, two facts, one shared behaviour.

:func:`ask_as_tenants` asks one question as each tenant's persona (:data:`ragtune.tenants.TENANTS`), in
the persona's own workspace, in ONE shared mode (:data:`SHARED_MODE`, the built-in ``rag+lora``:
retrieval plus the shipped ``grounded-json`` adapter). Each persona's permissions are checked as anyone's:
:meth:`Access.require <ragtune.access.Access.require>` for reading their own workspace, and the other
tenants' workspaces must be refused (:class:`~ragtune.errors.PermissionDenied`) — a persona who could read
another tenant's workspace fails the demo's check instead of passing silently. Each answer is scored by the
evaluation's one scorer against its tenant's gold answer (``data/eval/tenants.jsonl``), and its citations
are checked against the persona's own workspace. The Tour's step and the Lab's "Two tenants" preset both
consume its events (:class:`PersonaStarted`, :class:`PersonaToken`, :class:`PersonaAnswered`, then
:class:`TenantsDone`), one column per persona.

Who may ask as a persona: the personas are demo accounts whose workspaces hold the shipped tenant
documents, so anyone may ask as them there. Where a tenant's workspace holds anything else (a document an
admin added or edited, or a user's own workspace of that name), only an admin may: asking as a persona must
not read for the presenter what the presenter may not read.

:func:`measured_rates` reads the latest complete ``eval`` of the tenant set per tenant workspace.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.answer import Answer
from ragtune.errors import PermissionDenied, RagtuneError
from ragtune.evaluation.scoring import EvalResult, Judgement, doc_of, format_outcome, judge_answer, score_answer
from ragtune.evaluation.sets import EvalCase, EvalItem, EvalSet, find_case, tenant_eval_set
from ragtune.evaluation.store import EvalRunInfo
from ragtune.modes import BUILTIN_MODES, Mode
from ragtune.tenants import TENANTS, TENANTS_DIR, Tenant, changed_documents, seeded_here

if TYPE_CHECKING:
    from ragtune.access import Access, Principal
    from ragtune.evaluation.store import EvalStore
    from ragtune.pipeline import Pipeline
    from ragtune.retrieval.knowledge import KnowledgeBase

SHARED_MODE = "rag+lora"
"""The one mode every persona asks in: each tenant's retrieval, the same behaviour adapter."""


def shared_mode() -> Mode:
    """The built-in :data:`SHARED_MODE` (a user's saved modes never change the demo)."""
    return next(m for m in BUILTIN_MODES if m.id == SHARED_MODE)


def tenant_questions(eval_set: EvalSet | None = None) -> list[str]:
    """The tenant set's questions, each once, in the set's order (every tenant has an answer to each)."""
    return list(dict.fromkeys(c.question for c in (eval_set or tenant_eval_set()).cases))


def tenant_case(eval_set: EvalSet, question: str, t: Tenant) -> EvalCase | None:
    """The case asking ``question`` whose gold answer is ``t``'s (None: not one of the tenant questions)."""
    case = find_case(eval_set, question, t.workspace)
    return case if case is not None and case.workspace == t.workspace else None


# -- the answers and the checks ----------------------------------------------------------------


class TenantCheck(BaseModel):
    """One line of the live check: what should hold, whether it did (None: not judged), and the evidence."""

    model_config = ConfigDict(frozen=True)

    text: str
    held: bool | None
    detail: str = ""


class TenantAnswer(BaseModel):
    """One persona's answer in their own workspace, with the permission checks made on the way."""

    model_config = ConfigDict(frozen=True)

    tenant: Tenant
    role: str | None = Field(default=None, description="The persona's role on their own workspace.")
    denied: str = Field(default="", description="Why the persona may not read their own workspace (PermissionDenied).")
    withheld: str = Field(default="", description="Why the presenter may not ask as this persona (check_presenter).")
    refused: dict[str, str] = Field(default_factory=dict, description="Other tenant workspace -> its refusal.")
    readable: list[str] = Field(default_factory=list,
                                description="Other tenants' workspaces the persona could read: not separated.")
    answer: Answer | None = None
    error: str = ""
    case: EvalCase | None = None
    result: EvalResult | None = None
    judgement: Judgement | None = Field(default=None, description="The verdict with its note (the badge).")
    not_judged: str | None = None
    own_docs: list[str] = Field(default_factory=list, description="The documents of the persona's workspace.")

    @property
    def cited_docs(self) -> list[str]:
        """The documents the answer cites, each once."""
        return list(dict.fromkeys(doc_of(c.chunk_id) for c in self.answer.citations)) if self.answer else []

    @property
    def foreign(self) -> list[str]:
        """Cited documents that are not in the persona's own workspace."""
        return [d for d in self.cited_docs if d not in self.own_docs]

    def checks(self, tenants: Sequence[Tenant] = TENANTS) -> list[TenantCheck]:
        """This persona's lines of the live check."""
        t, who = self.tenant, self.tenant.persona.email
        out = [TenantCheck(text=f"the presenter may ask as {who}", held=False, detail=self.withheld)
               if self.withheld else
               TenantCheck(text=f"{who} may read {t.workspace}", held=not self.denied and self.role is not None,
                           detail=self.denied or f"as a {self.role}")]
        out += [TenantCheck(text=f"{who} is refused {ws}", held=True, detail=why) for ws, why in self.refused.items()]
        out += [TenantCheck(text=f"{who} is refused {ws}", held=False, detail="they may read it: the tenants are "
                            "not separated (an admin granted a role there?)") for ws in self.readable]
        if self.answer is None:
            return out
        if self.case is not None:
            verdict = self.result.verdict if self.result is not None else None
            out.append(TenantCheck(text=f"{t.persona.name} gets {t.short}'s answer ({self.case.gold()[0]})",
                                   held=None if self.result is None else self.result.correct,
                                   detail=self.not_judged or verdict or ""))
        owner = {d: o.workspace for o in tenants if o != t for d in o.doc_ids()}
        cited, foreign = self.cited_docs, self.foreign
        detail = ("cites nothing" if not cited else "cites " + ", ".join(
            f"{d} ({owner[d]}'s)" if d in owner else d for d in cited))
        out.append(TenantCheck(text=f"{t.persona.name}'s answer cites only {t.workspace}'s documents",
                               held=bool(cited) and not foreign, detail=detail))
        return out


class TenantComparison(BaseModel):
    """The same question asked as each persona: the answers, and the checks that show the split."""

    model_config = ConfigDict(frozen=True)

    question: str
    mode: Mode
    answers: list[TenantAnswer]

    def shared_format(self) -> TenantCheck:
        """The behaviour is shared: one adapter gave every persona's answer the same JSON format."""
        said = "; ".join(f"{a.tenant.persona.name}: "
                         f"{format_outcome(a.answer.parse.status, a.answer.text).label if a.answer else 'no answer'}"
                         for a in self.answers)
        held = all(a.answer is not None and a.answer.parse.status == "ok" for a in self.answers)
        return TenantCheck(text=f"One adapter shaped every answer: {self.mode.adapter} in {self.mode.label}",
                           held=held, detail=said)

    def checks(self) -> list[TenantCheck]:
        """Every line of the live check: each persona's, then the shared format."""
        return [c for a in self.answers for c in a.checks()] + [self.shared_format()]


class PersonaStarted(BaseModel):
    """A persona starts (the ``index``-th column of ``total``)."""

    model_config = ConfigDict(frozen=True)

    tenant: Tenant
    index: int
    total: int


class PersonaToken(BaseModel):
    """A piece of the answer of the persona in column ``index``."""

    model_config = ConfigDict(frozen=True)

    index: int
    text: str


class PersonaAnswered(BaseModel):
    """A persona's answer (or why there is none), checked and scored."""

    model_config = ConfigDict(frozen=True)

    index: int
    answer: TenantAnswer


class TenantsDone(BaseModel):
    """Every persona has answered."""

    model_config = ConfigDict(frozen=True)

    comparison: TenantComparison


TenantEvent = PersonaStarted | PersonaToken | PersonaAnswered | TenantsDone


# -- asking ----------------------------------------------------------------------------------------


def check_presenter(kb: KnowledgeBase, presenter: Principal, t: Tenant) -> None:
    """Raise PermissionDenied unless ``presenter`` may ask as ``t``'s persona: anyone over the shipped tenant
    documents; an admin only where the workspace holds anything else (or is not the seeded one)."""
    if presenter.is_admin or not kb.has_workspace(t.workspace):
        return  # a missing workspace: asking says so
    why = ("is not the tenant demo's workspace" if not seeded_here(kb, t) else
           f"holds documents other than the demo's ({', '.join(changed[:5])})"
           if (changed := changed_documents(kb, t)) else "")
    if why:
        raise PermissionDenied(f"{presenter.email} may not ask as {t.persona.email}: {t.workspace} {why}, and "
                               "only an admin may ask as a demo persona there.")


def ask_as_tenants(
    question: str, *, pipeline_for: Callable[[Principal], Pipeline], kb: KnowledgeBase, access: Access,
    presenter: Principal, tenants: Sequence[Tenant] = TENANTS, eval_set: EvalSet | None = None,
) -> Generator[TenantEvent, None, None]:
    """Ask ``question`` as each tenant's persona in their own workspace, in :func:`shared_mode`, one after
    another (one model): each persona's events, then :class:`TenantsDone` with every answer. Nothing is
    logged: the personas' answers are a demonstration, not anyone's history.

    Args:
        question: the question, as typed (checked: :func:`ragtune.lab.check_question`).
        pipeline_for: the pipeline a persona asks through (the same model and adapters for every persona).
        kb: the knowledge base, to list what each workspace holds (the citation check).
        access: the permission rules each persona is checked by.
        presenter: who asks as the personas (see :func:`check_presenter`).
        tenants: the tenants, in column order.
        eval_set: the gold answers (default: the tenant set).

    Raises:
        InputError: the question is empty or too long, before anything runs.
    """
    from ragtune.lab import check_question

    question = check_question(question)
    cases, mode = eval_set or tenant_eval_set(), shared_mode()
    answers = []
    for index, t in enumerate(tenants):
        yield PersonaStarted(tenant=t, index=index, total=len(tenants))
        answered = yield from _ask(question, t, [o for o in tenants if o != t], index, mode, cases,
                                   pipeline_for=pipeline_for, kb=kb, access=access, presenter=presenter)
        answers.append(answered)
        yield PersonaAnswered(index=index, answer=answered)
    yield TenantsDone(comparison=TenantComparison(question=question, mode=mode, answers=answers))


def _ask(question: str, t: Tenant, others: list[Tenant], index: int, mode: Mode, cases: EvalSet, *,
         pipeline_for: Callable[[Principal], Pipeline], kb: KnowledgeBase, access: Access,
         presenter: Principal) -> Generator[PersonaToken, None, TenantAnswer]:
    persona = t.persona
    refused, readable = {}, []
    for other in others:  # the separation, proved: the core refuses each other tenant's workspace
        try:
            access.require(persona, "read", other.workspace)
        except PermissionDenied as exc:
            refused[other.workspace] = str(exc)
        else:
            readable.append(other.workspace)
    case = tenant_case(cases, question, t)
    known = TenantAnswer(tenant=t, role=access.role(persona, t.workspace), refused=refused, readable=readable,
                         case=case)
    try:
        check_presenter(kb, presenter, t)
    except PermissionDenied as exc:
        return known.model_copy(update={"withheld": str(exc)})
    try:
        access.require(persona, "read", t.workspace)
    except PermissionDenied as exc:
        return known.model_copy(update={"denied": str(exc)})
    try:
        stream = pipeline_for(persona).stream(question, mode, t.workspace)
        try:
            for text in stream:
                yield PersonaToken(index=index, text=text)
        finally:
            stream.close()  # a stopped run (a rerun, the page left) frees the model
        answer = stream.answer()
        own_docs = [d.doc_id for d in kb.list_documents(t.workspace)]
    except RagtuneError as exc:
        return known.model_copy(update={"error": str(exc)})
    result = judgement = not_judged = None
    if case is not None:
        from ragtune.evaluation.workspaces import judging

        not_judged = judging(kb, t.workspace).not_judged(case)
        if not not_judged:  # the one scorer: the result for the rates, the judgement for the badge
            result, judgement = score_answer(EvalItem(case=case), answer), judge_answer(case, "v1", answer)
    return known.model_copy(update={"answer": answer, "result": result, "judgement": judgement,
                                    "not_judged": not_judged, "own_docs": own_docs})


# -- measured over the whole tenant set --------------------------------------------------------------

MEASURED_DIR = TENANTS_DIR / "measured"
"""Shipped measurements: ``<model id>/<workspace>.json``, each the ``--out`` file of :func:`measure_command`
(the data directory's own stored runs win over them)."""
MEASURED_MODES = (SHARED_MODE, "rag")
"""The modes whose rates the demo shows: the shared adapter's, and retrieval alone for comparison."""


class TenantRate(BaseModel):
    """One mode's scores over one tenant's questions, from a complete ``eval`` of the tenant set."""

    model_config = ConfigDict(frozen=True)

    workspace: str
    mode_id: str
    run_id: str
    created_at: datetime
    source: Literal["stored", "shipped"]
    n: int
    correct: int
    valid: int
    abstained: int
    cites_support: int = Field(description="Answers citing one of the tenant's supporting documents.")
    correct_cases: list[str] = Field(default_factory=list, description="The ids of the cases answered right.")

    def text(self, label: str) -> str:
        """``RAG + LoRA on tenant-north: correct 2 of 14 (14%), valid JSON 14 of 14 (100%), …``."""
        def part(count: int) -> str:
            return f"{count} of {self.n}" + (f" ({100 * count / self.n:.0f}%)" if self.n else "")

        return (f"{label} on {self.workspace}: correct {part(self.correct)}, valid JSON {part(self.valid)}, "
                f"says it does not know {part(self.abstained)}, cites the supporting document "
                f"{part(self.cites_support)}")

    def provenance(self) -> str:
        when = self.created_at.astimezone().strftime("%Y-%m-%d")
        where = "stored on this installation" if self.source == "stored" else "shipped with ragtune"
        return f"eval run {self.run_id} of {when}, {where}"


def _rates(info: EvalRunInfo, results: Sequence[EvalResult], source: Literal["stored", "shipped"]) -> list[TenantRate]:
    out = []
    for mode_id in MEASURED_MODES:
        mine = [r for r in results if r.mode_id == mode_id]
        if not mine:
            continue
        out.append(TenantRate(
            workspace=str(info.workspaces.get("v1")), mode_id=mode_id, run_id=info.id, created_at=info.created_at,
            source=source, n=len(mine), correct=sum(r.correct for r in mine),
            valid=sum(r.format_valid is True for r in mine), abstained=sum(r.abstained for r in mine),
            cites_support=sum(r.cites_support for r in mine), correct_cases=[r.case_id for r in mine if r.correct]))
    return out


def _whole(info: EvalRunInfo, model_id: str, eval_set: EvalSet, wanted: dict[str, int]) -> bool:
    """A complete run of ``model_id`` over the whole tenant set as shipped, on one tenant's workspace."""
    workspace = info.workspaces.get("v1")
    return (info.status == "complete" and info.model_id == model_id and info.set_sha256 == eval_set.sha256
            and SHARED_MODE in info.mode_ids and workspace in wanted and info.n_items == wanted[workspace])


def measured_rates(store: EvalStore | None, model_id: str, *, eval_set: EvalSet | None = None,
                   tenants: Sequence[Tenant] = TENANTS, shipped_dir: Path = MEASURED_DIR) -> list[TenantRate]:
    """Per tenant workspace, :data:`MEASURED_MODES`' scores in the newest complete ``eval`` of the tenant set
    (as shipped: the same file hash) over all of that tenant's questions on ``model_id``: a run stored in
    ``store`` (the data directory's), else the shipped measurement; tenants never measured are left out."""
    eval_set = eval_set or tenant_eval_set()
    wanted = {t.workspace: sum(c.workspace == t.workspace for c in eval_set.cases) for t in tenants}
    found: dict[str, list[TenantRate]] = {}
    for info in store.runs(kind="eval") if store is not None else []:
        workspace = str(info.workspaces.get("v1"))
        if workspace not in found and _whole(info, model_id, eval_set, wanted):
            found[workspace] = _rates(info, store.load(info.id).results, "stored")
    for t in tenants:
        path = shipped_dir / model_id.replace(":", "_") / f"{t.workspace}.json"
        if t.workspace in found or not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            info = EvalRunInfo.model_validate(data["run"])
            results = [EvalResult.model_validate(r) for r in data["results"]]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged shipped file: as if not measured
        if _whole(info, model_id, eval_set, wanted):
            found[t.workspace] = _rates(info, results, "shipped")
    return [rate for t in tenants for rate in found.get(t.workspace, [])]


def showcase_question(rates: Sequence[TenantRate], eval_set: EvalSet | None = None,
                      tenants: Sequence[Tenant] = TENANTS) -> tuple[str, int]:
    """The question the demo asks first: the first one every tenant's persona answered right in the shared
    mode in the measured runs, and on how many questions that happened (0, and the set's first question,
    when none was, or nothing is measured: the demo then says so)."""
    eval_set = eval_set or tenant_eval_set()
    right = {r.workspace: set(r.correct_cases) for r in rates if r.mode_id == SHARED_MODE}
    clear = [q for q in tenant_questions(eval_set)
             if len(right) == len(tenants) and all(
                 (case := tenant_case(eval_set, q, t)) is not None and case.id in right[t.workspace]
                 for t in tenants)]
    return (clear[0] if clear else tenant_questions(eval_set)[0]), len(clear)


@dataclass(frozen=True)
class TenantDemo:
    """What a page needs to show the two-tenant run: how to ask (bound to the model, the permission rules and
    the presenting user), the tenant questions, the tenant workspaces missing here and how to set them up (None:
    the presenting user may not), and the measured rates."""

    ask: Callable[[str], Generator[TenantEvent, None, None]]
    questions: list[str]
    missing: list[str]
    setup: Callable[[], object] | None
    rates: list[TenantRate]
    tenants: tuple[Tenant, ...] = TENANTS

    @property
    def showcase(self) -> tuple[str, int]:
        """The question asked first, and on how many questions every persona was right (:func:`showcase_question`)."""
        return showcase_question(self.rates, tenants=self.tenants)


def measure_command(workspace: str) -> str:
    """The command that measures one tenant (what the demo suggests when no run is stored)."""
    return (f"python -m ragtune eval --set data/eval/tenants.jsonl --workspace {workspace} "
            f"--modes {','.join(MEASURED_MODES)}")


__all__ = ["MEASURED_DIR", "MEASURED_MODES", "SHARED_MODE", "PersonaAnswered", "PersonaStarted", "PersonaToken",
           "TenantAnswer", "TenantCheck", "TenantComparison", "TenantDemo", "TenantEvent", "TenantRate", "TenantsDone",
           "ask_as_tenants", "check_presenter", "measure_command", "measured_rates", "shared_mode",
           "showcase_question", "tenant_case", "tenant_questions"]
