"""The one judge of an answer: the normaliser, the verdict, and every per-answer score.

Everything here is pure. An answer is judged on the text a person reads (:func:`answer_field`:
the JSON's ``answer`` field when there is one, else the whole output) in one normalised form
(:func:`normalise`), by one rule (:func:`judge`), wherever it is shown: the Lab's badge, the
Benchmark's scoreboard and the claims report all read the same :class:`Judgement`.

* :func:`judge` - the verdict: ``correct``, ``stale``, ``wrong``, ``abstained`` or ``invented``;
* :func:`format_valid` / :func:`json_valid` - the output parses into the answer schema / is a
  JSON object at all; :func:`format_outcome` - the same, said as what was asked and what came back;
* :func:`citation_scores` - precision and recall of the cited documents vs the supporting ones;
* :func:`is_stale` - on a version-2 item, the answer gives the version-1 fact;
* :func:`score_output` / :func:`score_answer` - all of it as one :class:`EvalResult`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.evaluation.sets import CaseKind, EvalCase, EvalItem, Version
from ragtune.prompts import ABSTENTION

if TYPE_CHECKING:
    from ragtune.answer import Answer
    from ragtune.modes import Mode

AnswerVerdict = Literal["correct", "stale", "wrong", "abstained", "invented"]

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
    except (ValueError, RecursionError):  # not JSON, or hostile JSON (too deep, huge integer)
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


class Judgement(BaseModel):
    """An answer checked against a case's gold answers in one document version."""

    model_config = ConfigDict(frozen=True)

    verdict: AnswerVerdict
    note: str = Field(description="Why, in a few words (what the documents say).")
    abstained: bool = Field(description="The answer says it does not know (see abstained()).")

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"


def judge(case: EvalCase, version: Version, answer_text: str) -> Judgement:
    """The verdict on ``answer_text`` as an answer to ``case`` against documents ``version``.

    The rule (the one rule of the app; the schema's abstention is all-or-nothing, so is this):

    * An answer that says it does not know (:func:`abstained`) **abstains**, whatever else it
      says. A hedge such as "I don't know, maybe 30 days" commits to nothing, so it is not a
      correct answer, even when the guess is right.
    * A case no document answers: abstaining is ``correct``; anything else is ``invented``.
    * Otherwise: abstaining is ``abstained``; an accepted answer of ``version`` as whole
      normalised tokens (:func:`contains_variant`: "300 days" does not contain "30") is
      ``correct``; on a version-2 item, the version-1 fact without the version-2 one is
      ``stale``; anything else is ``wrong``.

    Examples:
        >>> returns = EvalCase(id="c", question="Return window?", answer="30 days", accepted=["30"],
        ...                    answer_v2="45 days", doc_ids=["returns"])
        >>> [judge(returns, "v1", t).verdict for t in ("30 days", "300 days", "I don't know, maybe 30 days")]
        ['correct', 'wrong', 'abstained']
        >>> judge(returns, "v2", "30 days").verdict
        'stale'
    """
    did_abstain = abstained(answer_text)
    if case.should_abstain:
        if did_abstain:
            return Judgement(verdict="correct", note="abstained: no document has the answer", abstained=True)
        return Judgement(verdict="invented", note="answered although no document has the answer", abstained=False)
    gold = case.gold(version)
    if did_abstain:
        return Judgement(verdict="abstained", note=f"said it does not know; the documents say {gold[0]}",
                         abstained=True)
    if contains_variant(answer_text, gold):
        missing = [value for value in case.also if not contains_variant(answer_text, [value])]
        if missing:
            return Judgement(verdict="wrong", note=f"states {gold[0]} but not {', '.join(missing)}",
                             abstained=False)
        told = ", ".join([gold[0], *case.also])
        return Judgement(verdict="correct", note=f"matches the documents: {told}", abstained=False)
    if is_stale(case, version, answer_text):
        return Judgement(verdict="stale", note=f"gives the old answer {case.gold('v1')[0]}; version 2 says "
                         f"{gold[0]}", abstained=False)
    return Judgement(verdict="wrong", note=f"the documents say {gold[0]}", abstained=False)


def judged_text(answer: Answer) -> str:
    """The text of a pipeline answer that is judged (see :func:`answer_field`)."""
    parsed = answer.parse.parsed
    return answer_field(answer.text, parsed.answer if parsed is not None else None)


def judge_answer(case: EvalCase, version: Version, answer: Answer) -> Judgement:
    """:func:`judge` on a pipeline :class:`~ragtune.answer.Answer` (what the Lab badges)."""
    return judge(case, version, judged_text(answer))

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
    return parse_status not in ("invalid_json", "truncated", "repetition", "error")


def format_valid(parse_status: str) -> bool | None:
    """The output parses into the answer schema; None for free-text modes."""
    if parse_status == "free_text":
        return None
    return parse_status == "ok"


# -- what was asked and what came back -------------------------------------------------------

FormatTone = Literal["met", "missed", "none"]
"""``met``: the asked format came back; ``missed``: it did not; ``none``: no format was asked."""

# What a JSON answer "got", by parse status (the statuses of ragtune.answer.FormatStatus).
_GOT: dict[str, str] = {
    "ok": "got JSON",
    "truncated": "cut off",
    "repetition": "stopped: repetition",
    "schema_violation": "breaks the schema",
    "unknown_citation": "cites chunks it was not given",
}


class FormatOutcome(BaseModel):
    """An answer's format, said as what the prompt asked for and what came back.

    Kept apart from the verdict: a correct answer in the wrong format is still correct, so a
    missed format is a warning (``missed``), never drawn as a failure of the answer itself.
    """

    model_config = ConfigDict(frozen=True)

    status: str = Field(description="The parse status it was read from.")
    asked: Literal["json", "nothing"]
    got: str = Field(description="What came back, in words: 'got JSON', 'got free text', 'cut off' ...")
    tone: FormatTone

    @property
    def label(self) -> str:
        """``asked for JSON · got free text``, ``no format asked · free text``."""
        return f"asked for JSON · {self.got}" if self.asked == "json" else f"no format asked · {self.got}"


def format_outcome(parse_status: str, text: str = "") -> FormatOutcome:
    """What was asked and what came back, from an answer's parse status and its raw text.

    ``invalid_json`` says ``got broken JSON`` when the output starts like JSON and ``got free
    text`` otherwise; a status this function does not know is named as it is.

    Examples:
        >>> format_outcome("invalid_json", "The P1 costs $1,249.").label
        'asked for JSON · got free text'
        >>> format_outcome("free_text", "The P1 costs $1,249.").label
        'no format asked · free text'
    """
    if parse_status == "free_text":
        return FormatOutcome(status=parse_status, asked="nothing", got="free text", tone="none")
    if parse_status == "ok":
        return FormatOutcome(status=parse_status, asked="json", got="got JSON", tone="met")
    if parse_status == "invalid_json":
        got = "got broken JSON" if text.lstrip().startswith(("{", "[")) else "got free text"
    else:
        got = _GOT.get(parse_status, parse_status.replace("_", " "))
    return FormatOutcome(status=parse_status, asked="json", got=got, tone="missed")




# -- one scored answer -------------------------------------------------------------------------


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
    verdict: AnswerVerdict | None = Field(default=None, description="The judge's verdict (None in runs "
                                          "stored before it was kept).")
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
    judgement = judge(case, version, judged)
    precision, recall = citation_scores(cited, case.doc_ids)
    return EvalResult(
        case_id=case.id, version=version, mode_id=mode.id, mode_label=mode.label, question=case.question,
        kind=case.kind or "answerable", gold=case.gold(version), supporting_docs=list(case.doc_ids),
        text=text, answer_text=judged, parse_status=parse_status,
        json_valid=json_valid(parse_status), format_valid=format_valid(parse_status),
        verdict=judgement.verdict, correct=judgement.correct, abstained=judgement.abstained,
        should_abstain=case.should_abstain, stale=is_stale(case, version, judged), cited=list(cited),
        citation_precision=precision, citation_recall=recall, **measures,
    )


def score_answer(item: EvalItem, answer: Answer) -> EvalResult:
    """Score a pipeline :class:`~ragtune.answer.Answer` for ``item``."""
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
    """A result for an item the mode could not answer (counted as wrong and invalid; no verdict: no answer)."""
    result = score_output(item, mode, text="", parse_status="free_text" if not mode.expects_json else "error",
                          error=error, workspace=workspace)
    return result.model_copy(update={"verdict": None})

