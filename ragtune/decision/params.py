"""The wizard's state in URL query parameters, so a stakeholder link reproduces a decision.

:func:`answers_to_params` writes the answers that differ from the defaults (short links);
:func:`answers_from_params` reads them back and never raises on what a link holds: a bad
value falls back to its default and is reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from ragtune.decision.answers import WizardAnswers
from ragtune.decision.questions import QUESTIONS_BY_ID, RESULT_STEP, Question
from ragtune.decision.recommendation import Recommendation
from ragtune.errors import InputError, validation_problems


class ParsedParams(BaseModel):
    """The wizard state read from a URL: answers, the step, and what was ignored and why."""

    answers: WizardAnswers
    step: int
    problems: list[str]


STEP_PARAM = "step"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
MAX_PARAM_CHARS = 200


def _last(value: str | Sequence[str]) -> str:
    if isinstance(value, str):
        return value
    return str(value[-1]) if len(value) else ""


def _decode(question: Question, raw: str) -> Any:
    raw = raw.strip()
    if question.kind == "bool":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("expected 1 or 0")
    if question.kind in ("int", "float") and raw == "" and question.optional:
        return None
    if question.kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if question.kind == "float":
        try:
            number = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(number):
            raise ValueError("expected a finite number")
        return number
    if question.kind == "choice" and raw not in question.options:
        raise ValueError("expected one of " + ", ".join(question.options))
    return raw


def encode_value(value: Any) -> str:
    """One answer as it appears in the URL."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}" if value == float(f"{value:g}") else repr(value)
    return str(value)


def answers_from_params(params: Mapping[str, str | Sequence[str]]) -> ParsedParams:
    """Read the wizard state from query parameters; bad values are ignored and reported.

    Never raises on user input: an unknown key, a malformed or out-of-range value falls back
    to the default and adds a line to ``problems``.

    Examples:
        >>> parsed = answers_from_params({"cite": "1", "requests_per_day": "lots"})
        >>> parsed.answers.cite, parsed.answers.requests_per_day, len(parsed.problems)
        (True, 1000, 1)
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    step = 1
    for key, raw_value in params.items():
        raw = _last(raw_value)
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        if len(raw) > MAX_PARAM_CHARS:
            problems.append(f"Ignored link parameter {key!r}: value too long.")
            continue
        if key == STEP_PARAM:
            try:
                step = int(raw)
                if not 1 <= step <= RESULT_STEP:
                    raise ValueError
            except ValueError:
                step = 1
                problems.append(f"Ignored link parameter '{STEP_PARAM}={shown}': expected 1 to "
                                f"{RESULT_STEP}.")
            continue
        question = QUESTIONS_BY_ID.get(key)
        if question is None:
            problems.append(f"Ignored unknown link parameter {key!r}.")
            continue
        ignored = f"Ignored link parameter '{key}={shown}'"
        try:
            value = _decode(question, raw)
        except ValueError as exc:
            problems.append(f"{ignored}: {exc}.")
            continue
        try:
            # Validate the one field on its own so one bad value never discards the rest.
            WizardAnswers.model_validate({key: value})
        except ValidationError as exc:
            problems.append("; ".join(validation_problems(exc, label=lambda _: ignored)) + ".")
            continue
        values[key] = value
    return ParsedParams(answers=WizardAnswers.model_validate(values), step=step,
                        problems=problems)


def answers_to_params(answers: WizardAnswers, step: int | None = None) -> dict[str, str]:
    """The query parameters that reproduce ``answers`` (defaults left out to keep links short)."""
    defaults = WizardAnswers()
    out: dict[str, str] = {}
    if step is not None:
        out[STEP_PARAM] = str(step)
    for field in WizardAnswers.model_fields:
        value = getattr(answers, field)
        if value != getattr(defaults, field):
            out[field] = encode_value(value)
    return out


def lab_query(rec: Recommendation) -> dict[str, str]:
    """Query parameters that open the Lab with the recommendation's modes preselected."""
    return {"modes": ",".join(rec.lab_modes)}


def param_update(field: str, value: Any) -> str | None:
    """One changed answer as its URL value, or None when it is the default (leave it out).

    Raises:
        InputError: the field is unknown or the value is out of range; the message says which.
    """
    if field not in QUESTIONS_BY_ID:
        raise InputError(f"Unknown wizard answer {field!r}.")
    try:
        answers = WizardAnswers.model_validate({field: value})
    except ValidationError as exc:
        raise InputError.from_validation(
            exc, what="Answer not changed (the previous value is kept)",
            label=lambda name: QUESTIONS_BY_ID[name].label) from exc
    checked = getattr(answers, field)
    if checked == getattr(WizardAnswers(), field):
        return None
    return encode_value(checked)
