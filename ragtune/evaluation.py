"""Evaluation: eval sets, scorers, runs across modes, stored in SQLite.

An **eval set** is JSON Lines, one :class:`EvalCase` a line: a question, its gold answer
with accepted variants, the documents that hold it (none when the right response is to
abstain), whether the answer depends on the document version (then the version-2 answer
too), and tags. The demo set ``data/eval/questions.jsonl`` is one. :func:`parse_eval_set`
validates a whole file and reports every bad line by number; nothing runs until it is valid.

A **run** is eval set x modes x model. Each (question, document version) pair is an
:class:`EvalItem`; each item is answered by each mode through the real
:class:`~ragtune.pipeline.Pipeline` and scored by small pure functions:

* :func:`format_valid` / :func:`json_valid` - the output parses into the answer schema / is a
  JSON object at all;
* :func:`is_correct` - normalised match against the accepted variants (:func:`normalise`,
  :func:`contains_variant`); for a question no document answers, correct means abstaining;
* :func:`citation_scores` - precision and recall of the cited documents vs the supporting ones;
* :func:`abstained` - the answer says it does not know;
* :func:`is_stale` - on a version-2 item, the answer gives the version-1 fact;
* :func:`percentile` - latency p50/p95; plus TTFT, tokens and both costs per query.

Runs and their per-question results are stored in ``evaluations.sqlite3`` under the data
directory (WAL mode), so runs can be reloaded and compared. Settings are deterministic by
default (temperature 0, a fixed seed), and recorded with the run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.csvsafe import csv_text
from ragtune.errors import InputError, RagtuneError, validation_problems
from ragtune.jsonio import JSONInputError, loads_bounded
from ragtune.prompts import ABSTENTION
from ragtune.sqlite_file import SQLiteFile

if TYPE_CHECKING:
    from ragtune.modes import Mode
    from ragtune.pipeline import Answer, Pipeline

Version = Literal["v1", "v2"]
CaseKind = Literal["answerable", "unanswerable", "changed"]
RunStatus = Literal["running", "complete", "cancelled", "failed"]
RunKind = Literal["eval", "report"]

MAX_EVAL_LINES = 5000
MAX_REPORTED_PROBLEMS = 50
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


# -- the eval set ------------------------------------------------------------------------------


class EvalCase(BaseModel):
    """One question of an eval set.

    ``answer`` and ``accepted`` are the gold answer and its other accepted forms; ``doc_ids``
    the documents that hold it. A case with no answer and no documents is one the documents
    cannot answer: the right response is to abstain. When ``version_matters``, ``answer``
    holds for version 1 of the documents and ``answer_v2``/``accepted_v2`` for version 2.
    ``kind`` may be given (the demo set does) and must then agree; otherwise it is derived.

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
    doc_ids: list[str] = Field(default_factory=list, max_length=20, description="Supporting documents.")
    version_matters: bool = Field(default=False, description="The answer changed in version 2.")
    answer_v2: str | None = Field(default=None, max_length=400)
    accepted_v2: list[str] = Field(default_factory=list, max_length=20)
    kind: CaseKind | None = None
    tags: list[str] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _consistent(self) -> EvalCase:
        if not self.question.strip():
            raise ValueError("the question is empty")
        if (self.answer is None) != (not self.doc_ids):
            raise ValueError(
                "a question with an answer names the documents that hold it (doc_ids), and a "
                "question to abstain on has neither an answer nor doc_ids"
            )
        if self.answer is not None and not normalise(self.answer):
            raise ValueError("the answer has no letters or digits to match")
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


class LineProblem(BaseModel):
    """One bad line of an uploaded eval set."""

    model_config = ConfigDict(frozen=True)

    line: int
    message: str


class EvalSetError(InputError):
    """An eval set is invalid; ``problems`` lists the bad lines by number."""

    code = "eval_set_error"

    def __init__(self, message: str, problems: Sequence[LineProblem] = ()) -> None:
        self.problems = list(problems)
        if self.problems:
            shown = "; ".join(f"line {p.line}: {p.message}" for p in self.problems[:10])
            more = f" (and {len(self.problems) - 10} more)" if len(self.problems) > 10 else ""
            message = f"{message} {shown}{more}"
        super().__init__(message)


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


def _problem_text(exc: ValidationError) -> str:
    return "; ".join(validation_problems(exc))  # the one translation of pydantic's errors


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
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalSetError(f"{name} is not UTF-8 text (byte {exc.start}).") from exc
    lines = decoded.splitlines()
    if len(lines) > MAX_EVAL_LINES:
        raise EvalSetError(f"{name} has {len(lines)} lines; at most {MAX_EVAL_LINES} are allowed.")
    problems: list[LineProblem] = []
    cases: list[EvalCase] = []
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
            case = EvalCase.model_validate(data)
        except ValidationError as exc:
            problems.append(LineProblem(line=number, message=_problem_text(exc)))
            continue
        if case.id in first_line:
            problems.append(LineProblem(line=number, message=f"duplicate id '{case.id}' (first on line "
                                        f"{first_line[case.id]})"))
            continue
        first_line[case.id] = number
        cases.append(case)
    if problems:
        raise EvalSetError(f"{name} is invalid; nothing was run.", problems[:MAX_REPORTED_PROBLEMS])
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
    """The shipped demo set (40 answerable, 10 unanswerable, 10 changed in version 2)."""
    from ragtune.retrieval.demo import QUESTIONS_FILE

    return load_eval_set(QUESTIONS_FILE)


# -- scorers (pure) ----------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                         "\u2014": "-", "\u2212": "-"})
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TRAILING_ZEROS = re.compile(r"(?<=\d)\.0+(?!\d)")
_SYMBOLS = re.compile(r"([$€£%])")
_KEEP_DOT = re.compile(r"(?<=\d)\.(?=\d)")
_OTHER = re.compile(r"[^\w$€£%\u0001]+")


def normalise(text: str) -> str:
    """The form answers are compared in.

    NFKC, case-folded; curly quotes and dashes made plain; thousands
    separators dropped (``2,149`` -> ``2149``) and whole-number decimals shortened
    (``899.00`` -> ``899``); ``$ € £ %`` stand as tokens of their own; a decimal point between
    digits is kept; every other non-alphanumeric character (apostrophes too) is a space; spaces collapsed.

    Examples:
        >>> normalise("It costs $2,149.00 — “list price”!")
        'it costs $ 2149 list price'
        >>> normalise("Tidewell's 15% fee; v3.2")
        'tidewell s 15 % fee v3.2'
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_QUOTES)
    text = _THOUSANDS.sub("", text)
    text = _TRAILING_ZEROS.sub("", text)
    text = _SYMBOLS.sub(r" \1 ", text)
    text = _KEEP_DOT.sub("\u0001", text)  # protect decimal points from the next step
    text = _OTHER.sub(" ", text).replace("_", " ")
    return " ".join(text.replace("\u0001", ".").split())


def contains_variant(text: str, variants: Iterable[str]) -> bool:
    """Whether one of ``variants`` occurs in ``text`` as whole tokens, after :func:`normalise`.

    Whole tokens: ``15`` does not match ``150`` or ``2015``; ``one`` does not match ``someone``.

    Examples:
        >>> contains_variant("The price is $2,149.", ["2149"])
        True
        >>> contains_variant("Fee: 150 dollars", ["15"])
        False
    """
    haystack = f" {normalise(text)} "
    for variant in variants:
        needle = normalise(variant)
        if needle and f" {needle} " in haystack:
            return True
    return False


ABSTAIN_MARKERS: tuple[str, ...] = tuple(normalise(m) for m in (
    ABSTENTION, "I don't know", "I dont know", "I do not know", "not in the context", "not in the provided context",
    "context does not", "does not contain", "doesn't contain", "no information", "not mentioned",
    "cannot answer", "can't answer", "unable to answer", "not provided",
))


def answer_field(text: str, parsed_answer: str | None = None) -> str:
    """The text an answer is judged on: the JSON's ``answer`` field when there is one, else all of it.

    ``parsed_answer`` (the schema-validated field) wins; JSON that broke the schema but still
    has a string ``answer`` gives that; anything else is judged as the raw output.
    """
    if parsed_answer is not None:
        return parsed_answer
    try:
        data = json.loads(text.strip())
    except (json.JSONDecodeError, ValueError):
        return text
    if isinstance(data, dict) and isinstance(data.get("answer"), str):
        return str(data["answer"])
    return text


def abstained(answer_text: str) -> bool:
    """Whether the answer says it does not know (the schema's abstention, or a phrase like it).

    Examples:
        >>> abstained("I don't know based on the provided context.")
        True
        >>> abstained("The warranty is 2 years.")
        False
    """
    text = f" {normalise(answer_text)} "
    return any(f" {marker} " in text for marker in ABSTAIN_MARKERS)


def is_correct(case: EvalCase, version: Version, answer_text: str) -> bool:
    """Correct: abstains when the case is to abstain; otherwise contains an accepted answer
    of ``version`` and does not abstain (a hedge like "I don't know, maybe $899" is wrong)."""
    did_abstain = abstained(answer_text)
    if case.should_abstain:
        return did_abstain
    return not did_abstain and contains_variant(answer_text, case.gold(version))


def is_stale(case: EvalCase, version: Version, answer_text: str) -> bool | None:
    """On a version-dependent case asked against version 2: gives the version-1 fact and not
    the version-2 one. None when staleness does not apply (other cases, or version 1)."""
    if not case.version_matters or version != "v2":
        return None
    return contains_variant(answer_text, case.gold("v1")) and not contains_variant(answer_text, case.gold("v2"))


def doc_of(chunk_id: str) -> str:
    """The document id of a chunk id (``warranty-policy#2`` -> ``warranty-policy``)."""
    doc, sep, _ = chunk_id.rpartition("#")
    return doc if sep else chunk_id


def citation_scores(
    cited_chunk_ids: Sequence[str], supporting_docs: Sequence[str]
) -> tuple[float | None, float | None]:
    """(precision, recall) of the cited documents against the supporting ones.

    Chunk ids are reduced to their documents; repeats count once. Precision is the share of
    cited documents that support the answer (None when nothing is cited); recall the share of
    supporting documents cited (None when no document supports it, i.e. the case is to abstain).
    Citing anything on such a case gives precision 0.

    Examples:
        >>> citation_scores(["warranty#0", "warranty#1", "shipping#0"], ["warranty"])
        (0.5, 1.0)
        >>> citation_scores([], ["warranty"])
        (None, 0.0)
    """
    cited = set(doc_of(c) for c in cited_chunk_ids)
    support = set(supporting_docs)
    precision = len(cited & support) / len(cited) if cited else None
    recall = len(cited & support) / len(support) if support else None
    return precision, recall


def json_valid(parse_status: str) -> bool | None:
    """The output is one JSON object (whatever its fields); None for free-text modes."""
    if parse_status == "free_text":
        return None
    return parse_status not in ("invalid_json", "truncated", "error")


def format_valid(parse_status: str) -> bool | None:
    """The output parses into the answer schema; None for free-text modes."""
    if parse_status == "free_text":
        return None
    return parse_status == "ok"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear between closest ranks; None when empty.

    Examples:
        >>> percentile([1, 2, 3, 4], 50)
        2.5
        >>> percentile([10.0], 95)
        10.0
    """
    data = sorted(float(v) for v in values)
    if not data:
        return None
    rank = (len(data) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def _mean(values: Iterable[float | None]) -> float | None:
    data = [float(v) for v in values if v is not None]
    return sum(data) / len(data) if data else None


# -- one scored answer -------------------------------------------------------------------------


class EvalItem(BaseModel):
    """One case asked against one version of the documents."""

    model_config = ConfigDict(frozen=True)

    case: EvalCase
    version: Version = "v1"


class EvalResult(BaseModel):
    """One mode's answer to one item, scored."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    version: Version
    mode_id: str
    mode_label: str
    question: str
    kind: CaseKind
    gold: list[str]
    supporting_docs: list[str]
    workspace: str | None = None
    text: str = Field(description="The raw model output.")
    answer_text: str = Field(description="What correctness was judged on (see answer_field).")
    finish_reason: str = ""
    parse_status: str
    parse_detail: str = ""
    json_valid: bool | None
    format_valid: bool | None
    correct: bool
    abstained: bool
    should_abstain: bool
    stale: bool | None
    cited: list[str] = Field(default_factory=list, description="Cited chunk ids.")
    retrieved: list[str] = Field(default_factory=list, description="Chunk ids in the prompt.")
    citation_precision: float | None
    citation_recall: float | None
    total_ms: float = 0.0
    ttft_ms: float = 0.0
    retrieval_ms: float = 0.0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    local_usd: float = 0.0
    api_usd: float = 0.0
    error: str = ""

    @property
    def usable(self) -> bool:
        """Correct and in the requested format (free-text modes: correct)."""
        return self.correct and self.format_valid is not False

    @property
    def cites_support(self) -> bool:
        """At least one cited document supports the answer."""
        return bool(self.citation_recall)


def score_output(
    item: EvalItem,
    mode: Mode,
    *,
    text: str,
    parse_status: str,
    parsed_answer: str | None = None,
    cited: Sequence[str] = (),
    **measures: Any,
) -> EvalResult:
    """Score one output (the pure part of :func:`score_answer`).

    Args:
        item: the case and the document version it was asked against.
        mode: the mode that answered.
        text: the raw model output.
        parse_status: the pipeline's parse status (``ok``, ``truncated``, ``free_text`` ...).
        parsed_answer: the schema-validated ``answer`` field, when the output parsed.
        cited: the cited chunk ids.
        measures: timings, token counts, costs, ``retrieved``, ``finish_reason``, ``error``...
    """
    case, version = item.case, item.version
    judged = answer_field(text, parsed_answer)
    precision, recall = citation_scores(cited, case.doc_ids)
    return EvalResult(
        case_id=case.id, version=version, mode_id=mode.id, mode_label=mode.label, question=case.question,
        kind=case.kind or "answerable", gold=case.gold(version), supporting_docs=list(case.doc_ids),
        text=text, answer_text=judged, parse_status=parse_status,
        json_valid=json_valid(parse_status), format_valid=format_valid(parse_status),
        correct=is_correct(case, version, judged), abstained=abstained(judged),
        should_abstain=case.should_abstain, stale=is_stale(case, version, judged), cited=list(cited),
        citation_precision=precision, citation_recall=recall, **measures,
    )


def score_answer(item: EvalItem, answer: Answer) -> EvalResult:
    """Score a pipeline :class:`~ragtune.pipeline.Answer` for ``item``."""
    t, cost = answer.timings, answer.cost
    parsed = answer.parse.parsed
    return score_output(
        item, answer.mode, text=answer.text, parse_status=answer.parse.status,
        parsed_answer=parsed.answer if parsed is not None else None,
        cited=[c.chunk_id for c in answer.citations], workspace=answer.workspace,
        finish_reason=answer.finish_reason, parse_detail=answer.parse.detail, retrieved=answer.retrieved_ids,
        total_ms=t.total_ms, ttft_ms=t.ttft_ms, retrieval_ms=t.retrieval_ms, prompt_tokens=t.prompt_tokens,
        cached_prompt_tokens=t.cached_prompt_tokens, completion_tokens=t.completion_tokens,
        local_usd=cost.local_compute_usd, api_usd=cost.api_reference_usd,
    )


def error_result(item: EvalItem, mode: Mode, error: str, workspace: str | None = None) -> EvalResult:
    """A result for an item the mode could not answer (counted as wrong and invalid)."""
    return score_output(item, mode, text="", parse_status="free_text" if not mode.expects_json else "error",
                        error=error, workspace=workspace)


# -- the scoreboard ----------------------------------------------------------------------------


class ModeScore(BaseModel):
    """One row of the scoreboard: a mode's metrics over a run's items (rates in 0..1)."""

    model_config = ConfigDict(frozen=True)

    mode_id: str
    mode_label: str
    n: int
    correct: float | None
    format_valid: float | None
    json_valid: float | None
    usable: float | None = Field(description="Correct and valid.")
    abstain_recall: float | None = Field(description="Abstained on the cases to abstain on.")
    false_abstain: float | None = Field(description="Abstained although a document had the answer.")
    citation_precision: float | None
    citation_recall: float | None
    stale: float | None = Field(description="Gave the old fact on version-2 items of changed cases.")
    p50_ms: float | None
    p95_ms: float | None
    ttft_p50_ms: float | None
    prompt_tokens: float | None
    completion_tokens: float | None
    local_usd: float | None = Field(description="Mean local compute cost per query.")
    api_usd: float | None = Field(description="Mean API-equivalent cost per query.")
    errors: int


def _rate(flags: Iterable[bool | None]) -> float | None:
    data = [bool(f) for f in flags if f is not None]
    return sum(data) / len(data) if data else None


def mode_score(results: Sequence[EvalResult]) -> ModeScore:
    """Aggregate one mode's results."""
    first = results[0]
    answerable = [r for r in results if not r.should_abstain]
    to_abstain = [r for r in results if r.should_abstain]
    latencies = [r.total_ms for r in results if not r.error]
    return ModeScore(
        mode_id=first.mode_id, mode_label=first.mode_label, n=len(results),
        correct=_rate(r.correct for r in results),
        format_valid=_rate(r.format_valid for r in results),
        json_valid=_rate(r.json_valid for r in results),
        usable=_rate(r.usable for r in results),
        abstain_recall=_rate(r.abstained for r in to_abstain),
        false_abstain=_rate(r.abstained for r in answerable),
        citation_precision=_mean(r.citation_precision for r in results),
        citation_recall=_mean(r.citation_recall for r in results),
        stale=_rate(r.stale for r in results),
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95),
        ttft_p50_ms=percentile([r.ttft_ms for r in results if not r.error], 50),
        prompt_tokens=_mean(r.prompt_tokens for r in results if not r.error),
        completion_tokens=_mean(r.completion_tokens for r in results if not r.error),
        local_usd=_mean(r.local_usd for r in results if not r.error),
        api_usd=_mean(r.api_usd for r in results if not r.error),
        errors=sum(1 for r in results if r.error),
    )


def scoreboard(results: Sequence[EvalResult]) -> list[ModeScore]:
    """One :class:`ModeScore` per mode, in the order the modes first appear."""
    by_mode: dict[str, list[EvalResult]] = {}
    for result in results:
        by_mode.setdefault(result.mode_id, []).append(result)
    return [mode_score(rows) for rows in by_mode.values()]


SCOREBOARD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # field, header, format: pct | ms | num | usd | int
    ("n", "n", "int"),
    ("correct", "correct", "pct"),
    ("format_valid", "valid", "pct"),
    ("usable", "correct+valid", "pct"),
    ("abstain_recall", "abstain", "pct"),
    ("false_abstain", "false abstain", "pct"),
    ("citation_precision", "cite P", "pct"),
    ("citation_recall", "cite R", "pct"),
    ("stale", "stale", "pct"),
    ("p50_ms", "p50 ms", "ms"),
    ("p95_ms", "p95 ms", "ms"),
    ("ttft_p50_ms", "TTFT ms", "ms"),
    ("prompt_tokens", "prompt tok", "num"),
    ("completion_tokens", "answer tok", "num"),
    ("local_usd", "local $/q", "usd"),
    ("api_usd", "API $/q", "usd"),
)


def format_value(value: Any, kind: str) -> str:
    """A scoreboard cell as text ("–" when the metric does not apply)."""
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.0f}%"
    if kind == "ms":
        return f"{value:,.0f}"
    if kind == "num":
        return f"{value:,.1f}"
    if kind == "usd":
        return f"{value:.2e}"
    return str(value)


def scoreboard_markdown(scores: Sequence[ModeScore]) -> str:
    """The scoreboard as a Markdown table (modes as rows)."""
    header = ["mode", *(h for _, h, _ in SCOREBOARD_COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for score in scores:
        cells = [score.mode_id, *(format_value(getattr(score, f), k) for f, _, k in SCOREBOARD_COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- stored runs -------------------------------------------------------------------------------


class RunSettings(BaseModel):
    """The generation settings a run used (recorded so a run can be reproduced)."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.0
    seed: int = 42
    max_tokens: int = 256
    search_mode: str = ""
    top_k: int = 0


class EvalRunInfo(BaseModel):
    """A stored run's header."""

    model_config = ConfigDict(frozen=True)

    id: str
    created_at: datetime
    finished_at: datetime | None = None
    status: RunStatus
    kind: RunKind = "eval"
    set_name: str
    set_sha256: str = ""
    model_id: str
    mode_ids: list[str]
    workspaces: dict[str, str | None] = Field(description="Document version -> workspace.")
    settings: RunSettings
    n_items: int
    n_results: int = 0
    error: str = ""

    @property
    def planned(self) -> int:
        return self.n_items * len(self.mode_ids)

    def title(self) -> str:
        """One line naming the run."""
        when = self.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
        return (f"{when} · {self.set_name} · {', '.join(self.mode_ids)} · {self.model_id} · "
                f"{self.status} ({self.n_results}/{self.planned})")


class EvalRun(BaseModel):
    """A run with its cases and results (what :meth:`EvalStore.load` returns)."""

    info: EvalRunInfo
    cases: list[EvalCase]
    results: list[EvalResult]

    def scoreboard(self) -> list[ModeScore]:
        return scoreboard(self.results)

    def to_json(self) -> str:
        """The run, its scoreboard and every result as JSON (the export format)."""
        return json.dumps({
            "run": self.info.model_dump(mode="json"),
            "scoreboard": [s.model_dump(mode="json") for s in self.scoreboard()],
            "results": [r.model_dump(mode="json") for r in self.results],
        }, indent=2, ensure_ascii=False)

    def to_csv(self) -> str:
        """One row per (question, version, mode), header first."""
        return results_csv(self.results)


def combine_runs(runs: Sequence[EvalRun]) -> EvalRun:
    """Several stored runs of one model and settings as one (for a report over runs made in parts).

    A later run's answer replaces an earlier one's for the same (mode, question, version), so
    modes compared with each other should come from the same run (latency depends on the load).

    Raises:
        InputError: no runs, or runs of different models or generation settings.
    """
    if not runs:
        raise InputError("No runs to combine.")
    first = runs[0].info
    for run in runs[1:]:
        if (run.info.model_id, run.info.settings) != (first.model_id, first.settings):
            raise InputError(f"Run {run.info.id} used another model or other settings than {first.id}; "
                             "only runs of the same model and settings can be combined.")
    if len(runs) == 1:
        return runs[0]
    merged: dict[tuple[str, str, str], EvalResult] = {}
    for run in runs:
        for result in run.results:
            merged[(result.mode_id, result.case_id, result.version)] = result
    mode_ids = list(dict.fromkeys(m for run in runs for m in run.info.mode_ids))
    cases = list({c.id: c for run in runs for c in run.cases}.values())
    statuses = {run.info.status for run in runs}
    info = first.model_copy(update={
        "id": "+".join(run.info.id for run in runs), "mode_ids": mode_ids, "n_results": len(merged),
        "status": "complete" if statuses == {"complete"} else sorted(statuses - {"complete"})[0],
        "n_items": max(run.info.n_items for run in runs),
    })
    ordered = sorted(merged.values(), key=lambda r: (mode_ids.index(r.mode_id), r.version, r.case_id))
    return EvalRun(info=info, cases=cases, results=ordered)


CSV_FIELDS: tuple[str, ...] = (
    "case_id", "version", "mode_id", "kind", "question", "gold", "answer_text", "correct", "format_valid",
    "json_valid", "parse_status", "abstained", "should_abstain", "stale", "cited", "supporting_docs",
    "citation_precision", "citation_recall", "total_ms", "ttft_ms", "prompt_tokens", "cached_prompt_tokens",
    "completion_tokens", "local_usd", "api_usd", "error", "text",
)


def results_csv(results: Sequence[EvalResult]) -> str:
    """Per-question results as CSV (lists joined with ``|``; formula-like cells neutralised)."""
    rows = []
    for result in results:
        data = result.model_dump()
        rows.append(["|".join(data[f]) if isinstance(data[f], list) else data[f] for f in CSV_FIELDS])
    return csv_text(CSV_FIELDS, rows)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS eval_runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    set_name TEXT NOT NULL,
    set_sha256 TEXT NOT NULL,
    model_id TEXT NOT NULL,
    mode_ids TEXT NOT NULL,
    workspaces TEXT NOT NULL,
    settings TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    cases TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS eval_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES eval_runs(id) ON DELETE CASCADE,
    case_id TEXT NOT NULL,
    version TEXT NOT NULL,
    mode_id TEXT NOT NULL,
    correct INTEGER NOT NULL,
    format_valid INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS eval_results_run ON eval_results (run_id, id);
"""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class EvalStore(SQLiteFile):
    """Runs and per-question results in ``evaluations.sqlite3`` (WAL; a connection per call)."""

    schema = _SCHEMA
    what = "evaluation store"

    @classmethod
    def from_settings(cls, settings: Any) -> EvalStore:
        return cls(settings.ensure_data_dir() / "evaluations.sqlite3")


    def create_run(self, info: EvalRunInfo, cases: Sequence[EvalCase]) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO eval_runs (id, created_at, finished_at, status, kind, set_name, set_sha256, "
                "model_id, mode_ids, workspaces, settings, n_items, cases, error) "
                "VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (info.id, info.created_at.isoformat(), info.status, info.kind, info.set_name, info.set_sha256,
                 info.model_id, json.dumps(info.mode_ids), json.dumps(info.workspaces),
                 info.settings.model_dump_json(), info.n_items,
                 json.dumps([c.model_dump(mode="json") for c in cases]), info.error),
            )

    def add_result(self, run_id: str, result: EvalResult) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT INTO eval_results (run_id, case_id, version, mode_id, correct, format_valid, data) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, result.case_id, result.version, result.mode_id, int(result.correct),
                 None if result.format_valid is None else int(result.format_valid), result.model_dump_json()),
            )

    def finish_run(self, run_id: str, status: RunStatus, error: str = "") -> None:
        with self._connect() as db:
            db.execute("UPDATE eval_runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                       (status, _now().isoformat(), error, run_id))

    @staticmethod
    def _info(row: sqlite3.Row, n_results: int) -> EvalRunInfo:
        return EvalRunInfo(
            id=row["id"], created_at=datetime.fromisoformat(row["created_at"]),
            finished_at=datetime.fromisoformat(row["finished_at"]) if row["finished_at"] else None,
            status=row["status"], kind=row["kind"], set_name=row["set_name"], set_sha256=row["set_sha256"],
            model_id=row["model_id"], mode_ids=json.loads(row["mode_ids"]),
            workspaces=json.loads(row["workspaces"]), settings=RunSettings.model_validate_json(row["settings"]),
            n_items=row["n_items"], n_results=n_results, error=row["error"],
        )

    def runs(self, *, kind: RunKind | None = None, limit: int = 200) -> list[EvalRunInfo]:
        """Stored runs, newest first."""
        where, params = ("WHERE r.kind = ?", [kind]) if kind else ("", [])
        with self._connect() as db:
            rows = db.execute(
                "SELECT r.*, (SELECT COUNT(*) FROM eval_results e WHERE e.run_id = r.id) AS n_results "
                f"FROM eval_runs r {where} ORDER BY r.created_at DESC LIMIT ?", [*params, limit]
            ).fetchall()
        return [self._info(row, row["n_results"]) for row in rows]

    def load(self, run_id: str) -> EvalRun:
        """A run with its cases and results.

        Raises:
            InputError: no such run.
        """
        with self._connect() as db:
            row = db.execute("SELECT * FROM eval_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                raise InputError(f"No stored evaluation run '{run_id}'.")
            data = db.execute("SELECT data FROM eval_results WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        results = [EvalResult.model_validate_json(d["data"]) for d in data]
        cases = [EvalCase.model_validate(c) for c in json.loads(row["cases"])]
        return EvalRun(info=self._info(row, len(results)), cases=cases, results=results)

    def delete(self, run_id: str) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM eval_runs WHERE id = ?", (run_id,))


# -- the runner --------------------------------------------------------------------------------


class Progress(BaseModel):
    """Where a run is: done of total, elapsed and estimated time left."""

    model_config = ConfigDict(frozen=True)

    done: int
    total: int
    elapsed_s: float
    eta_s: float | None
    mode_id: str = ""
    case_id: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def text(self) -> str:
        """``12/40 · 1:05 elapsed · about 3:10 left``."""
        left = "estimating time left" if self.eta_s is None else f"about {_clock(self.eta_s)} left"
        return f"{self.done}/{self.total} · {_clock(self.elapsed_s)} elapsed · {left}"


def _clock(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def estimate_eta(done: int, total: int, elapsed_s: float) -> float | None:
    """Time left at the mean pace so far; None before the first item."""
    if done <= 0:
        return None
    return elapsed_s / done * max(total - done, 0)


def plan_items(cases: Sequence[EvalCase], version: Version = "v1") -> list[EvalItem]:
    """Every case asked against one document version."""
    return [EvalItem(case=c, version=version) for c in cases]


def demo_report_items(cases: Sequence[EvalCase]) -> list[EvalItem]:
    """Every case against version 1, plus the version-dependent cases against version 2."""
    return [*plan_items(cases, "v1"), *(EvalItem(case=c, version="v2") for c in cases if c.version_matters)]


REPORT_WORKSPACES: dict[str, str | None] = {"v1": "demo-eval-v1", "v2": "demo-eval-v2"}
"""The report's own copies of the demo documents, one per version."""


def ensure_report_workspaces(kb: Any, on_note: Callable[[str], None] | None = None) -> dict[str, str | None]:
    """The report's two workspaces (demo documents v1 and v2), built once, then reused.

    The report does not use the demo workspace itself: a user may have switched or edited it.
    """
    from ragtune.retrieval.demo import demo_version, reset_demo_workspace, set_demo_version

    for version, name in REPORT_WORKSPACES.items():
        assert name is not None
        if not kb.has_workspace(name) or not kb.list_documents(name):
            if on_note is not None:
                on_note(f"building workspace {name} (demo documents {version})")
            reset_demo_workspace(kb, name)
        if demo_version(kb, name) != version:
            set_demo_version(kb, version, name)  # type: ignore[arg-type]
    return dict(REPORT_WORKSPACES)


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


def unavailable_modes(
    pipeline: Pipeline, modes: Sequence[Mode], workspaces: dict[str, str | None]
) -> dict[str, str]:
    """Mode id -> why it cannot run here (a missing adapter, no workspace to retrieve from)."""
    problems: dict[str, str] = {}
    for mode in modes:
        try:
            pipeline.adapter_for(mode)
        except RagtuneError as exc:
            problems[mode.id] = str(exc)
            continue
        if mode.retrieval and (pipeline.kb is None or not all(workspaces.values())):
            problems[mode.id] = f"Mode '{mode.label}' retrieves, but no workspace was given."
    return problems


def run_settings(pipeline: Pipeline) -> RunSettings:
    s = pipeline.settings
    return RunSettings(temperature=s.temperature, seed=s.seed, max_tokens=s.max_tokens,
                       search_mode=s.search_mode, top_k=s.top_k)


def run_evaluation(
    pipeline: Pipeline,
    items: Sequence[EvalItem],
    modes: Sequence[Mode],
    *,
    workspaces: dict[str, str | None],
    store: EvalStore,
    set_name: str,
    set_sha256: str = "",
    kind: RunKind = "eval",
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_result: Callable[[EvalResult], None] | None = None,
) -> EvalRun:
    """Answer every item with every mode, score each answer, and store it as it comes.

    Modes run one after the other (all items of a mode, then the next), so the adapter
    switches once per mode. Each result is stored at once: a cancelled or interrupted run
    keeps what it has, with status ``cancelled``.

    Args:
        workspaces: the workspace each document version is asked against (``{"v1": "demo"}``).
        should_cancel: checked before each answer; True stops the run.
        on_progress: called after each answer with the progress and the time left.

    Raises:
        InputError: no items or no modes.
        ModeUnavailableError: a mode cannot run here (checked before anything runs).
    """
    from ragtune.pipeline import ModeUnavailableError

    if not items or not modes:
        raise InputError("Choose at least one question and one mode.")
    missing = [v for v in {i.version for i in items} if v not in workspaces]
    if missing:
        raise InputError(f"No workspace given for document version(s) {', '.join(sorted(missing))}.")
    problems = unavailable_modes(pipeline, modes, workspaces)
    if problems:
        raise ModeUnavailableError(" ".join(problems.values()))
    cases = list({i.case.id: i.case for i in items}.values())
    info = EvalRunInfo(
        id=uuid.uuid4().hex[:12], created_at=_now(), status="running", kind=kind, set_name=set_name,
        set_sha256=set_sha256, model_id=pipeline.runtime.model_id, mode_ids=[m.id for m in modes],
        workspaces=dict(workspaces), settings=run_settings(pipeline), n_items=len(items),
    )
    store.create_run(info, cases)
    total = len(items) * len(modes)
    started = time.perf_counter()
    done = 0
    status: RunStatus = "complete"
    try:
        for mode in modes:
            for item in items:
                if should_cancel is not None and should_cancel():
                    status = "cancelled"
                    break
                workspace = workspaces[item.version]
                try:
                    result = score_answer(item, pipeline.run(item.case.question, mode, workspace))
                except RagtuneError as exc:
                    result = error_result(item, mode, str(exc), workspace)
                store.add_result(info.id, result)
                done += 1
                if on_result is not None:
                    on_result(result)
                if on_progress is not None:
                    elapsed = time.perf_counter() - started
                    on_progress(Progress(done=done, total=total, elapsed_s=elapsed,
                                         eta_s=estimate_eta(done, total, elapsed),
                                         mode_id=mode.id, case_id=item.case.id))
            if status == "cancelled":
                break
    except Exception as exc:
        store.finish_run(info.id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:
        # Streamlit stops a script run by raising inside it (a rerun, a Cancel click), and
        # Ctrl-C is KeyboardInterrupt: the run was cancelled, not broken.
        store.finish_run(info.id, "cancelled")
        raise
    store.finish_run(info.id, status)
    return store.load(info.id)


def deterministic_settings(settings: Any, **overrides: Any) -> Any:
    """A copy of the settings with greedy decoding (temperature 0), for reproducible runs."""
    return settings.model_copy(update={"temperature": 0.0, **overrides})


__all__ = [
    "EvalCase", "EvalItem", "EvalResult", "EvalRun", "EvalRunInfo", "EvalSet", "EvalSetError", "EvalStore",
    "LineProblem", "ModeScore", "Progress", "abstained", "citation_scores", "combine_runs", "contains_variant",
    "demo_eval_set", "demo_report_items", "ensure_report_workspaces", "limit_per_kind", "format_valid",
    "is_correct", "is_stale", "json_valid",
    "load_eval_set", "normalise", "parse_eval_set", "percentile", "plan_items", "run_evaluation",
    "scoreboard", "scoreboard_markdown", "score_answer", "score_output",
]
