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

A *routing* mode (``Mode.router``, the seed's combined pattern) answers through others: a
classifier adapter (``ticket-router``) labels the query first, and the :class:`Router` maps
each label to a :class:`Route`, which runs another mode (by id, or defined inline) or gives a
fixed answer (a hand-off, no model call). Routes are data like the rest of a mode; a route may
not lead to another routing mode (that would recurse). :mod:`ragtune.routing` runs them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
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
    router: Router | None = Field(default=None, description="Classify the query first and answer through "
                                  "the route its label maps to (a routing mode); None: answer directly.")
    owner: str = Field(default="", max_length=320, description="Who saved it (a saved mode, with sign-in); '': "
                       "everyone's (built-in modes, and modes saved before sign-in or with RAGTUNE_AUTH=none).")

    @model_validator(mode="after")
    def _coherent(self) -> Mode:
        if self.constrained and self.prompt == "plain":
            raise ValueError(
                "constrained output needs a prompt that asks for the JSON answer "
                "(grounded or fewshot), not 'plain'"
            )
        if self.router is not None and (self.retrieval or self.adapter or self.constrained):
            raise ValueError(
                "a routing mode answers through its routes: set retrieval, the adapter and constrained "
                "output on the routes' modes, not on the routing mode"
            )
        return self

    @property
    def expects_json(self) -> bool:
        """Whether the answer is asked for as a JSON GroundedAnswer (and parsed as one); a routing
        mode's answer is its route's (see :attr:`ragtune.answer.Answer.expects_json`)."""
        return self.router is None and self.prompt != "plain"

    def summary(self) -> str:
        """One line: what this mode does."""
        if self.router is not None:
            return self.router.summary()
        parts = [f"retrieval k={self.k}" + (f" ({self.search})" if self.search else "")
                 if self.retrieval else "no retrieval"]
        parts.append(f"adapter {self.adapter} × {self.adapter_scale:g}" if self.adapter else "no adapter")
        parts.append(f"{self.prompt} prompt")
        if self.constrained:
            parts.append("grammar-constrained JSON")
        return " · ".join(parts)


_LABEL_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_ROUTER_LABELS = 40


class Route(BaseModel):
    """Where a routing mode sends a query: another mode (``mode_id``, or an inline ``mode``), or a
    fixed ``answer`` given without a model call (a hand-off). Exactly one of the three."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, AfterValidator(name_validator("mode"))] = Field(
        description="Short id of the route (the mode-id rule), shown as 'billing -> billing-handoff'.")
    mode_id: Annotated[str, AfterValidator(name_validator("mode"))] | None = Field(
        default=None, description="Answer with this mode (built-in or saved).")
    mode: Mode | None = Field(default=None, description="Answer with this mode, defined here.")
    answer: str | None = Field(default=None, min_length=1, max_length=1000,
                               description="Give this text as the answer (no model call).")

    @model_validator(mode="after")
    def _one_target(self) -> Route:
        given = [field for field in ("mode_id", "mode", "answer") if getattr(self, field) is not None]
        if len(given) != 1:
            raise ValueError(f"route '{self.name}' needs exactly one of mode_id, mode or answer "
                             f"(got {', '.join(given) or 'none'})")
        if self.mode is not None and self.mode.router is not None:
            raise ValueError(f"route '{self.name}' goes to another routing mode: routing would recurse")
        return self

    def target(self) -> str:
        """What the route runs, in a few words."""
        if self.answer is not None:
            return "a fixed answer"
        return f"mode {self.mode_id}" if self.mode_id else f"mode {self.mode.label}"  # type: ignore[union-attr]


class Router(BaseModel):
    """A routing mode's first step and its routes: the classifier adapter, the label each route
    answers, and the route of an output that is no known label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adapter: Annotated[str, AfterValidator(name_validator("adapter"))] = Field(
        default="ticket-router", description="The classifier adapter (trained on ragtune.prompts.router_messages).")
    labels: dict[str, str] = Field(
        min_length=1, max_length=MAX_ROUTER_LABELS,
        description="Label -> route name, in the order the adapter was trained with (the prompt lists them so).")
    routes: list[Route] = Field(min_length=1, max_length=MAX_ROUTER_LABELS + 1)
    default: str = Field(description="The route of an output that is not exactly one of the labels.")
    max_tokens: int = Field(default=12, ge=1, le=64, description="The label's token budget.")

    @model_validator(mode="after")
    def _routes_exist(self) -> Router:
        names = [route.name for route in self.routes]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"route names must be unique: {', '.join(repeated)} repeated")
        bad = [label for label in self.labels if not re.match(_LABEL_PATTERN, label)]
        if bad:
            raise ValueError(f"labels must be lower-case words (a-z, 0-9, _), not {', '.join(map(repr, bad))}")
        missing = sorted({r for r in [*self.labels.values(), self.default] if r not in names})
        if missing:
            raise ValueError(f"no route named {', '.join(missing)} (routes: {', '.join(names)})")
        return self

    def __hash__(self) -> int:  # the labels are a dict: hash the record as its JSON (a Mode stays hashable)
        return hash(self.model_dump_json())

    def route(self, name: str) -> Route:
        """The route of this name (one exists: the validator checked every reference)."""
        return next(route for route in self.routes if route.name == name)

    def route_for(self, label: str | None) -> Route:
        """The route a label maps to; the default route for None or an unknown label."""
        return self.route(self.labels.get(label or "", self.default))

    def summary(self) -> str:
        """One line: the classifier, then where each route goes."""
        by_route: dict[str, list[str]] = {}
        for label, route in self.labels.items():
            by_route.setdefault(route, []).append(label)
        parts = [f"{', '.join(by_route.get(r.name, [])) or '(no label)'} → {r.name} ({r.target()})"
                 for r in self.routes]
        return f"router {self.adapter} · " + " · ".join(parts) + f" · otherwise {self.default}"


Mode.model_rebuild()


def check_routes(mode: Mode, known: Mapping[str, Mode]) -> None:
    """Check that a routing mode's routes by id lead to modes that exist and do not route again.

    Raises:
        ModeError: a route names an unknown mode, or a routing mode (recursion).
    """
    if mode.router is None:
        return
    for route in mode.router.routes:
        if route.mode_id is None:
            continue
        target = known.get(route.mode_id)
        if target is None:
            raise ModeError(f"Mode '{mode.id}': route '{route.name}' goes to the unknown mode '{route.mode_id}'. "
                            f"Known modes: {', '.join(known)}.")
        if target.router is not None:
            raise ModeError(f"Mode '{mode.id}': route '{route.name}' goes to the routing mode '{route.mode_id}': "
                            "routing would recurse. Route to a mode that answers.")


_HANDOFF = ("I've passed your message to our {team} team, who can see your {what}. They will reply to you "
            "by email; there is nothing more you need to do here.")

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
    Mode(id="route", label="Routed",
         description="The seed's combined pattern: the fine-tuned ticket-router labels the query, then a "
         "product or policy question goes to RAG + LoRA, a billing or account ticket to a fixed hand-off "
         "answer, small talk to the base model with the plain prompt.",
         router=Router(
             adapter="ticket-router",
             labels={"billing": "billing-handoff", "shipping": "documents", "returns": "documents",
                     "warranty_repair": "documents", "technical": "documents", "installation": "documents",
                     "account_privacy": "account-handoff", "sales": "documents", "product_info": "documents",
                     "small_talk": "small-talk"},
             routes=[
                 Route(name="documents", mode_id="rag+lora"),
                 Route(name="billing-handoff", answer=_HANDOFF.format(team="billing", what="charges and invoices")),
                 Route(name="account-handoff", answer=_HANDOFF.format(team="account", what="account and its data")),
                 Route(name="small-talk", mode=Mode(id="small-talk", label="Base, plain prompt", prompt="plain",
                                                    max_tokens=96, description="The model alone, briefly.")),
             ],
             default="documents",
         )),
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
            ModeError: the file exists but is not a valid list of modes (a routing mode's route
                included: an unknown mode, or another routing mode).
        """
        if not self.path.exists():
            return []
        try:
            modes = _USER_MODES.validate_json(self.path.read_bytes())
        except OSError as exc:
            raise ModeError(
                f"The saved modes in {self.path} are unreadable ({exc.strerror}). Fix the file or delete it."
            ) from exc
        except ValidationError as exc:
            raise ModeError.from_validation(
                exc, what=f"The saved modes in {self.path} are unreadable (fix the file or delete it)"
            ) from exc
        known = {m.id: m for m in [*BUILTIN_MODES, *modes]}
        for mode in modes:
            try:
                check_routes(mode, known)
            except ModeError as exc:
                raise ModeError(f"The saved modes in {self.path} are unreadable (fix the file or delete it): "
                                f"{exc}") from exc
        return modes

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
            ModeError: the id is a built-in mode's, or its owner has too many modes.
        """
        if mode.id in BUILTIN_IDS:
            raise ModeError(f"'{mode.id}' is a built-in mode; choose another id.")
        modes = [m for m in self.user_modes() if m.id != mode.id]
        if sum(m.owner == mode.owner for m in modes) >= MAX_USER_MODES:  # a limit per user: none fills another's
            raise ModeError(f"At most {MAX_USER_MODES} saved modes; delete one first.")
        modes.append(mode)
        known = {m.id: m for m in [*BUILTIN_MODES, *modes]}
        for saved in modes:  # the new mode's routes, and the routes of those that lead to it
            check_routes(saved, known)
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
        users = [m.id for m in modes if m.router and any(r.mode_id == mode_id for r in m.router.routes)]
        if users:
            raise ModeError(f"The routing mode(s) {', '.join(users)} route to '{mode_id}': change or delete "
                            "them first.")
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
    "Route",
    "Router",
    "check_routes",
    "mode_from_form",
    "parse_mode_ids",
]
