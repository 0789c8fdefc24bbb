"""One rule for every name a user gives: adapters, training jobs, modes, workspaces, model ids.

A name is stripped, 1 to N characters long (N per kind), starts with a letter or digit and
holds only letters, digits and the few punctuation marks its kind allows. So a name can
never be a path: no ``/`` or ``\\``, no ``..``, no leading ``.``, no control characters.
Names become file names (adapters, jobs), collection names (workspaces) and URL parts
(modes); the limits per kind are the ones each of those already used, so every name
stored before stays valid.

Examples:
    >>> check_name("adapter", " grounded-json ")
    'grounded-json'
    >>> check_name("adapter", "../../x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ragtune.errors.InputError: Invalid adapter name '../../x': use 1-64 letters, digits or ...
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ragtune.errors import InputError, shown_input

NameKind = Literal["adapter", "training job", "mode", "workspace", "model id"]


@dataclass(frozen=True)
class NameRule:
    """What a kind of name may hold."""

    max_length: int
    extra: str  # punctuation allowed besides letters and digits ("-", "_", "." always)
    lower_case: bool = False
    alnum_end: bool = False

    def pattern(self) -> re.Pattern[str]:
        letters = "a-z0-9" if self.lower_case else "A-Za-z0-9"
        middle = f"[{letters}{re.escape(self.extra)}]"
        if self.alnum_end:
            body = f"[{letters}](?:{middle}{{0,{self.max_length - 2}}}[{letters}])?"
        else:
            body = f"[{letters}]{middle}{{0,{self.max_length - 1}}}"
        return re.compile(body)

    def describe(self) -> str:
        letters = "lower-case letters" if self.lower_case else "letters"
        marks = ", ".join(f"'{c}'" for c in self.extra)
        ends = "starting and ending with a letter or digit" if self.alnum_end else "starting with a letter or digit"
        return f"use 1-{self.max_length} {letters}, digits or {marks}, {ends}, no '..'"


RULES: dict[str, NameRule] = {
    # File names: <data dir>/adapters/<name>.gguf (the catalog's and the training page's limit).
    "adapter": NameRule(max_length=64, extra="-_."),
    # Job folders: <data dir>/training-jobs/<UTC stamp>-<adapter name>.
    "training job": NameRule(max_length=96, extra="-_."),
    # URL and CLI ids: "rag+lora" (the pattern modes.py used).
    "mode": NameRule(max_length=40, extra="-_.+", lower_case=True),
    # Chroma collection names behind a prefix (retrieval.store's rule).
    "workspace": NameRule(max_length=60, extra="-_.", alnum_end=True),
    # Registry ids: "local:my-model" (models._ID).
    "model id": NameRule(max_length=80, extra="-_.:+", lower_case=True),
}
_PATTERNS = {kind: rule.pattern() for kind, rule in RULES.items()}


def check_name(kind: NameKind, value: object) -> str:
    """``value`` stripped, if it is a valid name of this kind.

    Raises:
        InputError: not a string, empty, too long, or a character the kind does not allow;
            the message names the kind, the value (cut short) and the rule.
    """
    rule = RULES[kind]
    if not isinstance(value, str):
        raise InputError(f"Invalid {kind} name {shown_input(value)}: a name is text; {rule.describe()}.")
    name = value.strip()
    if not _PATTERNS[kind].fullmatch(name) or ".." in name:
        what = "(empty)" if not name else shown_input(name)
        raise InputError(f"Invalid {kind} name {what}: {rule.describe()}.")
    return name


def name_validator(kind: NameKind) -> Callable[[str], str]:
    """:func:`check_name` for a pydantic ``AfterValidator`` (which reports a ``ValueError``)."""

    def validate(value: str) -> str:
        try:
            return check_name(kind, value)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    return validate


_EMAIL = re.compile(r"[^@\s<>\"',;:/\\]{1,64}@[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")


def check_email(value: object) -> str:
    """``value`` stripped and lower-cased, if it is a user's e-mail address (``local@domain``).

    Users are known by their address: the identity provider's ``email`` claim, a proxy's header, ``--user``.
    Lower-cased so ``Ana@X.org`` and ``ana@x.org`` are one user.

    Raises:
        InputError: not text, or not one address (empty, no ``@``, spaces, a list, a display name).
    """
    if not isinstance(value, str):
        raise InputError(f"Invalid e-mail address {shown_input(value)}: an address is text, e.g. ana@example.org.")
    email = value.strip().lower()
    if not _EMAIL.fullmatch(email) or ".." in email.split("@")[-1]:
        what = "(empty)" if not email else shown_input(email)
        raise InputError(f"Invalid e-mail address {what}: write one address, e.g. ana@example.org.")
    return email


def inside(directory: Path, path: Path) -> Path:
    """``path`` resolved, if it lies inside ``directory`` (defence in depth behind the name rule).

    Raises:
        InputError: the resolved path escapes the directory.
    """
    root = Path(directory).resolve()
    target = Path(path).resolve()
    if target != root and root not in target.parents:
        raise InputError(f"{target} is outside {root}: a name must not lead out of its folder.")
    return target


__all__ = ["RULES", "NameKind", "NameRule", "check_email", "check_name", "inside", "name_validator"]
