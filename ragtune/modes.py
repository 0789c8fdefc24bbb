"""A mode is one way of answering a question: data, not code.

A :class:`Mode` says whether to retrieve (and how many chunks, with which search), which
adapter to apply (by catalog name, with a scale) or none, which prompt to send, and whether
llama.cpp's grammar constrains the output to the answer's JSON schema. The lab ships the
modes of the seed's argument (:data:`BUILTIN_MODES`); users save their own in
``modes.json`` under the data directory (:class:`ModeStore`).

The four main modes form a 2 x 2: retrieval on/off x behaviour adapter on/off, with the
same grounded instructions everywhere, so each column differs from its neighbour by one
thing. With retrieval off the grounded prompt says that no context chunks were found,
which is also what the ``grounded-json`` adapter saw in training for its abstentions.

Prompt styles:

* ``plain``: a short system message and the question (:func:`ragtune.prompts.plain_messages`);
  free text, not parsed. The ``knowledge-baked`` adapter was trained on it.
* ``grounded``: numbered context chunks + the question, answered as a JSON
  :class:`~ragtune.prompts.GroundedAnswer` (:func:`ragtune.prompts.grounded_messages`).
* ``fewshot``: the grounded prompt preceded by worked examples (:mod:`ragtune.fewshot`):
  behaviour forced through the prompt, paid for in prompt tokens on every request.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from ragtune.errors import ModeError
from ragtune.names import name_validator
from ragtune.retrieval.types import SearchMode

PromptStyle = Literal["plain", "grounded", "fewshot"]
PROMPT_STYLES: tuple[PromptStyle, ...] = ("plain", "grounded", "fewshot")
MAX_USER_MODES = 50


class Mode(BaseModel):
    """One way of answering: retrieval, adapter, prompt style, constrained output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, AfterValidator(name_validator("mode"))] = Field(
        description="Short id used in URLs and the CLI (the name rule of ragtune.names)."
    )
    label: str = Field(min_length=1, max_length=60)
    description: str = Field(default="", max_length=400)
    retrieval: bool = Field(default=False, description="Search the workspace and show the chunks.")
    k: int = Field(default=2, ge=1, le=20, description="Chunks retrieved (when retrieval is on; 2: chosen by prompt-bench).")
    search: SearchMode | None = Field(default=None, description="Search mode; None: the configured one.")
    adapter: Annotated[str, AfterValidator(name_validator("adapter"))] | None = Field(
        default=None, description="Adapter catalog name, or none."
    )
    adapter_scale: float = Field(default=1.0, ge=0.0, le=2.0)
    prompt: PromptStyle = "grounded"
    constrained: bool = Field(default=False, description="Grammar-constrain output to the JSON schema.")
    max_tokens: int | None = Field(default=None, ge=16, le=2048, description="None: the cap of the answer's "
                                   "shape (ragtune.answer_caps), within RAGTUNE_MAX_TOKENS.")

    @model_validator(mode="after")
    def _coherent(self) -> Mode:
        if self.constrained and self.prompt == "plain":
            raise ValueError(
                "constrained output needs a prompt that asks for the JSON answer "
                "(grounded or fewshot), not 'plain'"
            )
        return self

    @property
    def expects_json(self) -> bool:
        """Whether the answer is asked for as a JSON GroundedAnswer (and parsed as one)."""
        return self.prompt != "plain"

    def summary(self) -> str:
        """One line: what this mode does."""
        parts = [f"retrieval k={self.k}" + (f" ({self.search})" if self.search else "")
                 if self.retrieval else "no retrieval"]
        parts.append(f"adapter {self.adapter} × {self.adapter_scale:g}" if self.adapter else "no adapter")
        parts.append(f"{self.prompt} prompt")
        if self.constrained:
            parts.append("grammar-constrained JSON")
        return " · ".join(parts)


BUILTIN_MODES: tuple[Mode, ...] = (
    Mode(id="base", label="Base", prompt="grounded",
         description="The model alone: the grounded instructions, but no context and no adapter."),
    Mode(id="rag", label="RAG", retrieval=True, prompt="grounded",
         description="Retrieved chunks, numbered for citation, in the grounded prompt."),
    Mode(id="lora", label="LoRA", adapter="grounded-json", prompt="grounded",
         description="The behaviour adapter alone (format, citing, abstaining); no retrieval."),
    Mode(id="rag+lora", label="RAG + LoRA", retrieval=True, adapter="grounded-json", prompt="grounded",
         description="Retrieval supplies the facts, the adapter the format and the habit of "
         "citing and abstaining."),
    Mode(id="rag+fewshot", label="RAG + few-shot", retrieval=True, prompt="fewshot",
         description="Behaviour forced through the prompt: worked examples sent with every "
         "request (the token tax)."),
    Mode(id="knowledge-lora", label="Knowledge LoRA", adapter="knowledge-baked", prompt="plain",
         description="Facts baked into an adapter (version 1 of the documents), no retrieval: "
         "it goes stale when a document changes."),
    Mode(id="constrained", label="Constrained", prompt="grounded", constrained=True,
         description="The model alone, its output forced by llama.cpp's grammar into the answer's JSON "
         "schema; with no chunks retrieved it can cite nothing. Fixes syntax, not decisions."),
    Mode(id="rag+constrained", label="RAG + constrained", retrieval=True, prompt="grounded",
         constrained=True,
         description="Format enforced by llama.cpp's grammar from the JSON schema built for the query: "
         "citations only of the retrieved chunks. Fixes syntax, not tone or decision rules."),
)
BUILTIN_IDS: frozenset[str] = frozenset(m.id for m in BUILTIN_MODES)
DEFAULT_LAB_MODES: tuple[str, ...] = ("base", "rag", "lora", "rag+lora")
"""The four main modes the lab compares unless told otherwise."""

_USER_MODES = TypeAdapter(list[Mode])


def parse_mode_ids(text: str | None, known: list[str]) -> tuple[list[str], list[str]]:
    """A comma list of mode ids -> (known ids in order without repeats, unknown ids).

    Examples:
        >>> parse_mode_ids("rag, lora,nope,rag", ["base", "rag", "lora"])
        (['rag', 'lora'], ['nope'])
    """
    chosen: list[str] = []
    unknown: list[str] = []
    for part in (text or "").split(","):
        mode_id = part.strip().lower()
        if not mode_id:
            continue
        target = chosen if mode_id in known else unknown
        if mode_id not in target:
            target.append(mode_id)
    return chosen, unknown


class ModeStore:
    """The built-in modes plus the user's own, saved as JSON in the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def user_modes(self) -> list[Mode]:
        """The user's saved modes.

        Raises:
            ModeError: the file exists but is not a valid list of modes.
        """
        if not self.path.exists():
            return []
        try:
            return _USER_MODES.validate_json(self.path.read_bytes())
        except OSError as exc:
            raise ModeError(
                f"The saved modes in {self.path} are unreadable ({exc.strerror}). Fix the file or delete it."
            ) from exc
        except ValidationError as exc:
            raise ModeError.from_validation(
                exc, what=f"The saved modes in {self.path} are unreadable (fix the file or delete it)"
            ) from exc

    def all(self) -> list[Mode]:
        """Built-in modes first, then the user's."""
        return [*BUILTIN_MODES, *self.user_modes()]

    def ids(self) -> list[str]:
        return [m.id for m in self.all()]

    def get(self, mode_id: str) -> Mode:
        """The mode with this id.

        Raises:
            ModeError: no such mode (the message lists the known ones).
        """
        for mode in self.all():
            if mode.id == mode_id:
                return mode
        raise ModeError(f"Unknown mode '{mode_id}'. Known modes: {', '.join(self.ids())}.")

    def resolve(self, mode_ids: list[str]) -> list[Mode]:
        """Modes for ids, in order.

        Raises:
            ModeError: an id is unknown.
        """
        return [self.get(mode_id) for mode_id in mode_ids]

    def save(self, mode: Mode) -> Mode:
        """Add or replace a user mode.

        Raises:
            ModeError: the id is a built-in mode's, or there are too many modes.
        """
        if mode.id in BUILTIN_IDS:
            raise ModeError(f"'{mode.id}' is a built-in mode; choose another id.")
        modes = [m for m in self.user_modes() if m.id != mode.id]
        if len(modes) >= MAX_USER_MODES:
            raise ModeError(f"At most {MAX_USER_MODES} saved modes; delete one first.")
        modes.append(mode)
        self._write(modes)
        return mode

    def delete(self, mode_id: str) -> None:
        """Delete a user mode.

        Raises:
            ModeError: a built-in mode, or no such user mode.
        """
        if mode_id in BUILTIN_IDS:
            raise ModeError(f"'{mode_id}' is a built-in mode and cannot be deleted.")
        modes = self.user_modes()
        if not any(m.id == mode_id for m in modes):
            raise ModeError(f"No saved mode '{mode_id}'.")
        self._write([m for m in modes if m.id != mode_id])

    def _write(self, modes: list[Mode]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps([m.model_dump(mode="json") for m in modes], indent=2), encoding="utf-8")
        os.replace(tmp, self.path)


def mode_from_form(data: dict[str, object]) -> Mode:
    """A mode from form values (empty adapter means none).

    Raises:
        ModeError: a value is invalid; the message names the field.
    """
    values = dict(data)
    if not values.get("adapter"):
        values["adapter"] = None
    if not values.get("search"):
        values["search"] = None
    try:
        return Mode.model_validate(values)
    except ValidationError as exc:
        raise ModeError.from_validation(exc, what="Invalid mode") from exc


__all__ = [
    "BUILTIN_IDS",
    "BUILTIN_MODES",
    "DEFAULT_LAB_MODES",
    "Mode",
    "ModeError",
    "ModeStore",
    "PromptStyle",
    "mode_from_form",
    "parse_mode_ids",
]
