"""One error hierarchy for ragtune.

Every error a user can cause (a bad setting, a wrong file, an invalid input)
is a :class:`RagtuneError` whose message says what was wrong and what to do.
Pages show ``str(err)`` with ``st.error``; the CLI prints it to stderr.

A pydantic ``ValidationError`` is turned into one in one place,
:meth:`RagtuneError.from_validation`: each problem as ``field: rule (got X)``, the input
cut short, so no raw pydantic text (and no huge input) reaches a user.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_MAX_SHOWN_INPUT = 60
_MAX_PROBLEMS = 6

E = TypeVar("E", bound="RagtuneError")


def shown_input(value: object) -> str:
    """``repr(value)`` cut to about 60 characters: a huge input is never dumped into a message."""
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 8:
        return f"<{type(value).__name__} of {len(value)} items>"
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__ must not turn an input error into a crash
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN_INPUT else text[: _MAX_SHOWN_INPUT - 3] + "..."


def validation_problems(exc: Any, *, label: Callable[[str], str] | None = None) -> list[str]:
    """Each problem of a pydantic ``ValidationError`` as ``field: rule (got X)``.

    ``label`` turns the dotted field path into the name the user knows (a setting's
    variable, an option); without it the path itself is shown.
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
        if field and "input" in error and error.get("type") != "missing":
            problem += f" (got {shown_input(error['input'])})"
        problems.append(problem)
    if len(errors) > _MAX_PROBLEMS:
        problems.append(f"and {len(errors) - _MAX_PROBLEMS} more")
    return problems


class RagtuneError(Exception):
    """Base class of every error ragtune raises on purpose."""

    code: str = "ragtune_error"

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def from_validation(
        cls: type[E], exc: Any, *, what: str, label: Callable[[str], str] | None = None
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
        return cls(f"{what.rstrip(' .:')}: " + "; ".join(validation_problems(exc, label=label)) + ".")


class ConfigError(RagtuneError):
    """A setting (environment variable or .env entry) is invalid."""

    code = "config_error"


class ModelError(RagtuneError):
    """A model file is missing, corrupt, has the wrong checksum or is unsupported."""

    code = "model_error"


class AdapterError(RagtuneError):
    """A LoRA adapter file is invalid or does not fit the loaded base model."""

    code = "adapter_error"


class RuntimeBackendError(RagtuneError):
    """The inference backend failed to load a model or to generate."""

    code = "runtime_error"


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
