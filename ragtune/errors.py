"""One error hierarchy for ragtune.

Every error a user can cause (a bad setting, a wrong file, an invalid input)
is a :class:`RagtuneError` whose message says what was wrong and what to do.
Pages show ``str(err)`` with ``st.error``; the CLI prints it to stderr.

A pydantic ``ValidationError`` is turned into one in one place,
:meth:`RagtuneError.from_validation`: each problem as ``field: rule (got X)``, the input
cut short, so no raw pydantic text (and no huge input) reaches a user.

A file read line by line (an eval set, training data) reports its bad lines in one shape:
:class:`LineProblem` ``(line, message)``, written as ``line N: ...`` by :func:`line_problems_text`
and carried by :class:`LineProblemsError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, NamedTuple, TypeVar

_MAX_SHOWN_INPUT = 60
_MAX_PROBLEMS = 6

E = TypeVar("E", bound="RagtuneError")
JSONProblemKind = Literal["syntax", "depth", "integer"]


def shown_input(value: object) -> str:
    """``repr(value)`` cut to about 60 characters: a huge input is never dumped into a message."""
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not turn an input error into a crash
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 3] + "..."


def validation_problems(
    exc: Any, *, label: Callable[[str], str] | None = None, secret: Callable[[str], bool] | None = None
) -> list[str]:
    """Each problem of a pydantic ``ValidationError`` as ``field: rule (got X)``.

    ``label`` turns the dotted field path into the name the user knows (a setting's
    variable, an option); without it the path itself is shown. ``secret`` names the fields
    whose input is never repeated (a token).
    """
    errors = exc.errors(include_url=False)
    problems = []
    for error in errors[:_MAX_PROBLEMS]:
        field = ".".join(str(part) for part in error.get("loc", ()))
        name = label(field) if label else (field or "value")
        rule = str(error.get("msg", "invalid"))
        for prefix in ("Value error, ", "Assertion failed, "):
            rule = rule.removeprefix(prefix)
        problem = f"{name}: {rule}"
        # A secret's input is never repeated: a field the caller names (a token), or an error its
        # validator marked with ctx hide_input (an API key, a URL with a password).
        hidden = bool((error.get("ctx") or {}).get("hide_input")) or (secret is not None and secret(field))
        if field and "input" in error and error.get("type") != "missing" and not hidden:
            problem += f" (got {shown_input(error['input'])})"
        problems.append(problem)
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"and {len(errors) - _MAX_PROBLEMS} more")
    return problems


class LineProblem(NamedTuple):
    """One bad line of a file read line by line: its 1-based number and what is wrong with it."""

    line: int
    message: str


def line_problems_text(problems: Sequence[LineProblem], *, limit: int = 10) -> str:
    """The first ``limit`` problems as ``line N: ...``, joined by ``; ``, then how many more.

    Examples:
        >>> line_problems_text([LineProblem(2, "not JSON"), LineProblem(5, "no id")], limit=1)
        'line 2: not JSON; and 1 more'
    """
    shown = "; ".join(f"line {p.line}: {p.message}" for p in problems[:limit])
    more = len(problems) - limit
    return shown + (f"; and {more} more" if more > 0 else "")


class RagtuneError(Exception):
    """Base class of every error ragtune raises on purpose."""

    code: str = "ragtune_error"

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def from_validation(
        cls: type[E], exc: Any, *, what: str, label: Callable[[str], str] | None = None,
        secret: Callable[[str], bool] | None = None,
    ) -> E:
        """This error for a pydantic ``ValidationError``: ``what``, then each problem.

        Examples:
            >>> from pydantic import BaseModel, Field, ValidationError
            >>> class Opts(BaseModel):
            ...     k: int = Field(ge=1)
            >>> try:
            ...     Opts(k=0)
            ... except ValidationError as exc:
            ...     print(InputError.from_validation(exc, what="Invalid search options"))
            Invalid search options: k: Input should be greater than or equal to 1 (got 0).
        """
        problems = validation_problems(exc, label=label, secret=secret)
        return cls(f"{what.rstrip(' .:')}: " + "; ".join(problems) + ".")


class ConfigError(RagtuneError):
    """A setting (environment variable or .env entry) is invalid."""

    code = "config_error"


class ModelError(RagtuneError):
    """A model file is missing, corrupt, has the wrong checksum or is unsupported."""

    code = "model_error"


class AdapterError(RagtuneError):
    """A LoRA adapter file is invalid or does not fit the loaded base model."""

    code = "adapter_error"


class AdapterNotServedError(AdapterError):
    """The model server does not serve this adapter file (restarting ``make serve-model`` loads it)."""

    code = "adapter_not_served"


class RuntimeBackendError(RagtuneError):
    """The inference backend failed to load a model or to generate."""

    code = "runtime_error"


class ServerAuthError(RuntimeBackendError):
    """The model server refused this app's API key: it answers, but serves nothing to it."""

    code = "server_auth"


class PermissionDenied(RagtuneError):
    """The acting user may not do this: the message names the user, the action, and the role it needs."""

    code = "permission_denied"


class InputError(RagtuneError):
    """A user input (query, upload, JSONL line, option) is invalid."""

    code = "input_error"


class IngestError(InputError):
    """A document cannot be ingested (empty, binary, undecodable, too large, unreadable PDF ...)."""

    code = "ingest_error"


class WorkspaceError(InputError):
    """A knowledge workspace name is invalid, already taken, or does not exist."""

    code = "workspace_error"


class StoreError(RagtuneError):
    """A store on disk (the knowledge manifest, chroma's database or an index) is damaged or unreadable."""

    code = "store_error"


class JSONInputError(InputError):
    """JSON text that is malformed or beyond a limit (too deep, an integer too long).

    Attributes:
        kind: ``syntax``, ``depth`` or ``integer``.
        reason: the problem without the input's name (``not JSON (Expecting value at column 5)``).
        detail: for ``syntax``: the parser's message and where (``Expecting value at column 5``).
        lineno, colno: where in the text (1-based).
    """

    code = "json_input_error"

    def __init__(self, what: str, *, kind: JSONProblemKind, reason: str, detail: str, lineno: int, colno: int):
        super().__init__(f"{what}: {reason}." if what else f"{reason[:1].upper()}{reason[1:]}.")
        self.kind: JSONProblemKind = kind
        self.reason = reason
        self.detail = detail
        self.lineno = lineno
        self.colno = colno


class LineProblemsError(InputError):
    """A file read line by line is invalid; ``problems`` lists its bad lines by number.

    The message is ``message``, the problems (:func:`line_problems_text`), then ``hint``.
    """

    code = "line_problems_error"

    def __init__(self, message: str, problems: Sequence[LineProblem] = (), *, hint: str = "") -> None:
        self.problems = [LineProblem(*p) for p in problems]
        if self.problems:
            message = f"{message.rstrip()} {line_problems_text(self.problems)}."
        super().__init__(f"{message} {hint}".strip())


class EvalSetError(LineProblemsError):
    """An eval set is invalid; ``problems`` lists the bad lines by number."""

    code = "eval_set_error"


class TrainingDataError(LineProblemsError):
    """A training JSONL file is empty or has invalid lines (each reported by number)."""

    code = "training_data_error"


class ModeError(InputError):
    """A mode is invalid, unknown, or cannot be saved or deleted."""

    code = "mode_error"


class ModeUnavailableError(RagtuneError):
    """A mode cannot run here (its adapter is missing or does not fit, or it needs a workspace)."""

    code = "mode_unavailable"


class TrainingCancelled(RagtuneError):
    """The user cancelled a training run; nothing was written."""

    code = "training_cancelled"


class TrainingUnavailable(RagtuneError):
    """Training needs optional packages that are not installed."""

    code = "training_unavailable"
