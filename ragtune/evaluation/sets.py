"""Eval sets: the one question model (:class:`EvalCase`) and the one reader of eval-set files.

An **eval set** is JSON Lines, one :class:`EvalCase` a line: a question, its gold answer
with accepted variants, the documents that hold it (none when the right response is to
abstain), whether the answer depends on the document version (then the version-2 answer
too), and tags. The demo set :data:`DEMO_SET_FILE` (``data/eval/questions.jsonl``) is one;
the Lab's demo questions, the Benchmark, the claims report and the retrieval benchmark all
read it through :func:`demo_eval_set`. :func:`parse_eval_set` validates a whole file and
reports every bad line by number; nothing runs until it is valid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.config import PROJECT_ROOT
from ragtune.errors import EvalSetError, JSONInputError, LineProblem, validation_problems
from ragtune.file_cache import per_file_version
from ragtune.jsonio import loads_bounded
from ragtune.names import RULES

if TYPE_CHECKING:
    from ragtune.retrieval.types import IngestReport

Version = Literal["v1", "v2"]
CaseKind = Literal["answerable", "unanswerable", "changed"]

DEMO_SET_FILE = PROJECT_ROOT / "data" / "eval" / "questions.jsonl"
TENANT_SET_FILE = PROJECT_ROOT / "data" / "eval" / "tenants.jsonl"
MAX_EVAL_LINES = 5000
MAX_REPORTED_PROBLEMS = 50
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
WORKSPACE_PATTERN = f"^{RULES['workspace'].pattern().pattern}$"


class EvalCase(BaseModel):
    """One question of an eval set.

    ``answer`` and ``accepted`` are the gold answer and its other accepted forms; ``doc_ids``
    the documents that hold it. A case with no answer and no documents is one the documents
    cannot answer: the right response is to abstain. When ``version_matters``, ``answer``
    holds for version 1 of the documents and ``answer_v2``/``accepted_v2`` for version 2.
    ``workspace`` ties the gold answer to one workspace (the multi-tenant demo's set asks each
    question once per tenant, :data:`TENANT_SET_FILE`). ``kind`` may be given (the demo set does) and must then agree; otherwise it is derived.

    Examples:
        >>> EvalCase(id="q1", question="Price?", answer="$899", doc_ids=["m2"]).kind
        'answerable'
        >>> EvalCase(id="q2", question="CFO?").should_abstain
        True
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=CASE_ID_PATTERN, description="Unique within the set.")
    question: str = Field(min_length=1, max_length=2000)
    answer: str | None = Field(default=None, max_length=400, description="Gold answer; none: abstain.")
    accepted: list[str] = Field(default_factory=list, max_length=20, description="Other accepted forms.")
    also: list[str] = Field(
        default_factory=list, max_length=20,
        description="Further values a right answer must state as well (an answer spread over several chunks).",
    )
    doc_ids: list[str] = Field(default_factory=list, max_length=20, description="Supporting documents.")
    version_matters: bool = Field(default=False, description="The answer changed in version 2.")
    answer_v2: str | None = Field(default=None, max_length=400)
    accepted_v2: list[str] = Field(default_factory=list, max_length=20)
    kind: CaseKind | None = None
    tags: list[str] = Field(default_factory=list, max_length=20)
    workspace: str | None = Field(
        default=None, pattern=WORKSPACE_PATTERN,
        description="The one workspace whose documents give this gold answer (a tenant's: the same question "
        "has another answer elsewhere); a run over another workspace leaves the case out. None: any.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> EvalCase:
        if not self.question.strip():
            raise ValueError("the question is empty")
        if (self.answer is None) != (not self.doc_ids):
            raise ValueError(
                "a question with an answer names the documents that hold it (doc_ids), and a "
                "question to abstain on has neither an answer nor doc_ids"
            )
        from ragtune.evaluation.scoring import normalise  # the judge's own form (it imports this module)

        if self.answer is not None and not normalise(self.answer):
            raise ValueError("the answer has no letters or digits to match")
        if self.also and self.answer is None:
            raise ValueError("'also' lists further values of an answer: a question to abstain on has none")
        if any(not normalise(value) for value in self.also):
            raise ValueError("a value in 'also' has no letters or digits to match")
        if self.answer_v2 is not None and not self.version_matters:
            object.__setattr__(self, "version_matters", True)
        if self.version_matters and (self.answer is None or not self.answer_v2):
            raise ValueError("a version-dependent question needs both 'answer' and 'answer_v2'")
        derived: CaseKind = (
            "unanswerable" if self.answer is None else "changed" if self.version_matters else "answerable"
        )
        if self.kind is None:
            object.__setattr__(self, "kind", derived)
        elif self.kind != derived:
            raise ValueError(f"kind is '{self.kind}' but the fields describe a '{derived}' question")
        return self

    @property
    def should_abstain(self) -> bool:
        """No document holds the answer: the right response is to say so."""
        return self.answer is None

    def gold(self, version: Version = "v1") -> list[str]:
        """The accepted answers in ``version``, gold first; empty when the case is to abstain."""
        if self.answer is None:
            return []
        if self.version_matters and version == "v2":
            return [self.answer_v2 or "", *self.accepted_v2]
        return [self.answer, *self.accepted]


class EvalSet(BaseModel):
    """A validated eval set."""

    model_config = ConfigDict(frozen=True)

    name: str
    cases: list[EvalCase]
    sha256: str = ""

    def limited(self, limit: int | None) -> EvalSet:
        """The first ``limit`` cases (all when None)."""
        if limit is None:
            return self
        return self.model_copy(update={"cases": self.cases[: max(limit, 0)]})

    def counts(self) -> dict[str, int]:
        """How many cases of each kind."""
        out = {"answerable": 0, "unanswerable": 0, "changed": 0}
        for case in self.cases:
            out[str(case.kind)] += 1
        return out


_Record = TypeVar("_Record", bound=BaseModel)


def parse_jsonl_records(raw: bytes, name: str, model: type[_Record]) -> list[_Record]:
    """The records of a JSON Lines file (eval sets, routing sets): one ``model`` per non-blank line, each
    with a unique ``id``; every bad line is reported with its number, and nothing is returned unless all
    are good.

    Raises:
        EvalSetError: not UTF-8, too many lines, or bad lines (at most MAX_REPORTED_PROBLEMS listed).
    """
    try:
        lines = raw.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise EvalSetError(f"{name} is not UTF-8 text (byte {exc.start}).") from exc
    if len(lines) > MAX_EVAL_LINES:
        raise EvalSetError(f"{name} has {len(lines)} lines; at most {MAX_EVAL_LINES} are allowed.")
    problems: list[LineProblem] = []
    records: list[_Record] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = loads_bounded(line, what=f"line {number}")
        except JSONInputError as exc:  # malformed, nested too deep, or an over-long integer
            problems.append(LineProblem(line=number, message=exc.reason))
            continue
        if not isinstance(data, dict):
            problems.append(LineProblem(line=number, message="not a JSON object"))
            continue
        try:
            record = model.model_validate(data)
        except ValidationError as exc:
            problems.append(LineProblem(line=number, message="; ".join(validation_problems(exc))))
            continue
        record_id = str(getattr(record, "id"))
        if record_id in first_line:
            problems.append(LineProblem(line=number, message=f"duplicate id '{record_id}' (first on line "
                                        f"{first_line[record_id]})"))
            continue
        first_line[record_id] = number
        records.append(record)
    if problems:
        raise EvalSetError(f"{name} is invalid; nothing was run.", problems[:MAX_REPORTED_PROBLEMS])
    return records


def parse_eval_set(text: str | bytes, name: str = "eval set") -> EvalSet:
    """Validate an eval set (JSON Lines); every bad line is reported with its number.

    Blank lines are skipped. Ids must be unique.

    Raises:
        EvalSetError: the file is empty, too long, not UTF-8, or has bad lines.

    Examples:
        >>> parse_eval_set('{"id": "q1", "question": "CFO?"}').cases[0].kind
        'unanswerable'
    """
    raw = text if isinstance(text, bytes) else text.encode("utf-8")
    cases = parse_jsonl_records(raw, name, EvalCase)
    if not cases:
        raise EvalSetError(f"{name} has no questions: write one JSON object per line.")
    return EvalSet(name=name, cases=cases, sha256=hashlib.sha256(raw).hexdigest())


def load_eval_set(path: Path) -> EvalSet:
    """Read and validate an eval set file.

    Raises:
        EvalSetError: unreadable or invalid.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise EvalSetError(f"Cannot read the eval set {path}: {exc.strerror}.") from exc
    return parse_eval_set(raw, name=Path(path).name)


def demo_eval_set() -> EvalSet:
    """The shipped demo set (40 answerable, 10 unanswerable, 10 changed in version 2).

    Read once per version of the file (its path, modification time, size and inode): the Lab asks for it five
    times a comparison (its demo questions, the plan, the verdicts, the freshness offer)."""
    try:
        return _demo_eval_set(DEMO_SET_FILE)
    except OSError:
        return load_eval_set(DEMO_SET_FILE)  # raises, saying why it cannot be read


@per_file_version(maxsize=2)
def _demo_eval_set(path: Path) -> EvalSet:
    return load_eval_set(path)  # frozen records: the callers share one copy


def find_case(eval_set: EvalSet, question: str, workspace: str | None = None) -> EvalCase | None:
    """The case asking exactly ``question`` (case, spacing and punctuation ignored), if any; with
    ``workspace``, the case whose gold answer holds there (one tied to it, or to none)."""
    from ragtune.evaluation.scoring import normalise

    wanted = normalise(question)
    return next((c for c in eval_set.cases if normalise(c.question) == wanted
                 and (workspace is None or c.workspace in (None, workspace))), None)


def tenant_eval_set() -> EvalSet:
    """The multi-tenant demo's questions: each asked once per tenant workspace, with that tenant's answer."""
    return load_eval_set(TENANT_SET_FILE)


class EvalItem(BaseModel):
    """One case asked against one version of the documents."""

    model_config = ConfigDict(frozen=True)

    case: EvalCase
    version: Version = "v1"


def plan_items(cases: Sequence[EvalCase], version: Version = "v1") -> list[EvalItem]:
    """Every case asked against one document version."""
    return [EvalItem(case=c, version=version) for c in cases]


def demo_report_items(cases: Sequence[EvalCase]) -> list[EvalItem]:
    """Every case against version 1, plus the version-dependent cases against version 2."""
    return [*plan_items(cases, "v1"), *(EvalItem(case=c, version="v2") for c in cases if c.version_matters)]


def limit_per_kind(cases: Sequence[EvalCase], limit: int | None) -> list[EvalCase]:
    """The first ``limit`` cases of each kind, in the set's order (all when None)."""
    if limit is None:
        return list(cases)
    seen: dict[str, int] = {}
    kept = []
    for case in cases:
        seen[str(case.kind)] = seen.get(str(case.kind), 0) + 1
        if seen[str(case.kind)] <= limit:
            kept.append(case)
    return kept


def require_ingested(report: IngestReport, held: Sequence[str], cases: Sequence[EvalCase], where: str) -> None:
    """Refuse a run whose figures would be meaningless: a document that failed to ingest, or a
    case citing a document that ``where`` (its ids: ``held``) does not hold.

    Raises:
        InputError: naming the failed files, or the absent document ids and those held.
    """
    from ragtune.errors import InputError

    if report.failed:
        problems = "; ".join(f"{f.path or f.name}: {f.error}" for f in report.failed[:5])
        more = f" and {len(report.failed) - 5} more" if len(report.failed) > 5 else ""
        raise InputError(f"Some documents could not be ingested ({problems}{more}); fix or remove them.")
    absent = sorted({d for case in cases for d in case.doc_ids} - set(held))
    if absent:
        raise InputError(
            f"The eval set cites document(s) {', '.join(absent[:10])} that {where} does not hold (it holds "
            f"{', '.join(sorted(held)[:10]) or 'none'}); doc_ids are the files' slugged stems."
        )

