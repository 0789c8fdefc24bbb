"""Training data: a JSONL file of chat examples, validated line by line.

One line, one example::

    {"messages": [{"role": "system", "content": "..."},
                  {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "..."}]}

Every problem is reported with its line number, all at once (up to a limit), so a
user fixes the file in one pass. Nothing here needs torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.errors import JSONInputError, LineProblem, TrainingDataError, validation_problems
from ragtune.jsonio import loads_bounded
from ragtune.runtime.base import ChatMessage

MAX_CHARS_PER_EXAMPLE = 16_000


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class ChatExample(BaseModel):
    """One training conversation; the loss is computed on its assistant turns only."""

    model_config = ConfigDict(extra="forbid")

    messages: list[_Message] = Field(min_length=2)

    @model_validator(mode="after")
    def _shape(self) -> ChatExample:
        roles = [m.role for m in self.messages]
        if "assistant" not in roles:
            raise ValueError("no assistant turn: there is nothing to learn from this example")
        if roles[-1] != "assistant":
            raise ValueError("the last message must be the assistant's (the answer to learn)")
        if "system" in roles[1:]:
            raise ValueError("a system message may only come first")
        if "user" not in roles:
            raise ValueError("no user turn")
        return self

    @classmethod
    def from_messages(cls, messages: list[ChatMessage]) -> ChatExample:
        return cls.model_validate({"messages": [m.model_dump() for m in messages]})


class Dataset(BaseModel):
    """The validated examples of one file, with what the model card records about it."""

    examples: list[ChatExample]
    sha256: str
    source: str


def parse_examples(data: bytes, *, source: str = "data.jsonl", max_chars: int = MAX_CHARS_PER_EXAMPLE) -> Dataset:
    """Validate JSONL bytes into chat examples.

    Raises:
        TrainingDataError: not UTF-8, no examples, or any invalid line; the message lists
            the first problems as ``line N: ...``.
    """
    digest = hashlib.sha256(data).hexdigest()
    problems: list[LineProblem] = []
    examples: list[ChatExample] = []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(LineProblem(number, f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"))
            continue
        try:
            obj = loads_bounded(text, what=f"line {number}")
        except JSONInputError as exc:  # malformed, nested too deep, or an over-long integer
            problems.append(LineProblem(number, exc.reason))
            continue
        try:
            example = ChatExample.model_validate(obj)
        except ValidationError as exc:
            problems.append(LineProblem(number, validation_problems(exc)[0]))  # pydantic, translated once
            continue
        size = sum(len(m.content) for m in example.messages)
        if size > max_chars:
            problems.append(LineProblem(number, f"too long ({size} characters; the limit is {max_chars})"))
            continue
        examples.append(example)
    if problems:
        raise TrainingDataError(
            f"{source}: {len(problems)} invalid line(s).", problems,
            hint='Each line must be {"messages": [{"role": "user", "content": ...}, '
            '{"role": "assistant", "content": ...}]}.',
        )
    if not examples:
        raise TrainingDataError(
            f"{source} has no examples. Each line must be one JSON object with a 'messages' list."
        )
    return Dataset(examples=examples, sha256=digest, source=source)


def load_examples(path: Path, *, max_chars: int = MAX_CHARS_PER_EXAMPLE) -> Dataset:
    """Read and validate a JSONL file (see :func:`parse_examples`).

    Raises:
        TrainingDataError: unreadable file or invalid content.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrainingDataError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    return parse_examples(data, source=path.name, max_chars=max_chars)
