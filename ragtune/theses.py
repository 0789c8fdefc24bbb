"""The seed's theses as a demo shows them: each thesis's claim, the outcomes it predicts per mode
(:class:`Prediction`: "RAG is correct", "the base model breaks the format", ...) and the set-wide
rates that measure it (:class:`RateSpec`).

Data, not measurement: :mod:`ragtune.showcases` checks these predictions on a stored report run
and ranks the demo questions by them; the Lab, the Tour and the CLI take a thesis's title and
claim from here, so every screen names a thesis the same way.

Examples:
    >>> [t.id for t in THESES]
    ['facts', 'format', 'both', 'freshness', 'constrained']
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ragtune.errors import InputError
from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.sets import CaseKind, Version

Metric = Literal["correct", "format_valid", "json_valid", "stale", "usable", "cites_support", "decides_abstention"]

METRIC_WORDS: dict[Metric, tuple[str, str]] = {
    # metric: (when it holds, when it does not)
    "correct": ("is correct", "is not correct"),
    "format_valid": ("gives valid JSON", "breaks the format"),
    "json_valid": ("gives well-formed JSON", "gives no well-formed JSON"),
    "stale": ("gives the old fact", "does not give the old fact"),
    "usable": ("is correct and valid", "is not both correct and valid"),
    "cites_support": ("cites a supporting document", "cites no supporting document"),
    "decides_abstention": ("abstains exactly when it should", "gets the abstention decision wrong"),
}

RATE_WORDS: dict[Metric, str] = {
    "correct": "correct", "format_valid": "valid JSON", "json_valid": "well-formed JSON",
    "stale": "gives the old fact", "usable": "correct and valid", "cites_support": "cites a supporting document",
    "decides_abstention": "right abstention decisions",
}


def metric_value(result: EvalResult, metric: Metric) -> bool:
    """A yes/no measure of one scored answer (an answer that failed to run counts as no)."""
    if result.error:
        return False
    if metric == "usable":
        return result.usable
    if metric == "cites_support":
        return result.cites_support
    if metric == "decides_abstention":
        return result.abstained == result.should_abstain
    return bool(getattr(result, metric))


class Prediction(BaseModel):
    """One outcome a thesis predicts for a mode on a question: ``mode`` ``metric`` is ``expected``."""

    model_config = ConfigDict(frozen=True)

    mode: str
    metric: Metric
    expected: bool = True
    version: Version | None = Field(default=None, description="The documents judged against; None: the "
                                    "thesis's own version.")

    def words(self, labels: dict[str, str], thesis_version: Version = "v1") -> str:
        """The prediction in words, e.g. 'RAG is correct', with the documents it is judged against
        when they are not version 1 or the prediction names them (``thesis_version``: its thesis's).

        Examples:
            >>> Prediction(mode="rag", metric="correct").words({"rag": "RAG"}, thesis_version="v2")
            'RAG is correct (documents v2)'
        """
        said = METRIC_WORDS[self.metric][0 if self.expected else 1]
        version = self.version or thesis_version
        tail = f" (documents {version})" if self.version or version != "v1" else ""
        return f"{labels.get(self.mode, self.mode)} {said}{tail}"


class RateSpec(BaseModel):
    """A set-wide rate: how often ``mode`` ``metric`` holds on the thesis's questions, beside ``versus``."""

    model_config = ConfigDict(frozen=True)

    mode: str
    metric: Metric
    versus: tuple[str, ...] = ()
    kinds: tuple[CaseKind, ...] = ("answerable", "unanswerable", "changed")
    version: Version = "v1"


class Thesis(BaseModel):
    """A thesis of the seed, as a demo shows it: its claim, its predictions, its rates."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    claim: str
    kinds: tuple[CaseKind, ...] = Field(description="The kinds of question that can show it.")
    version: Version = "v1"
    predictions: tuple[Prediction, ...]
    rates: tuple[RateSpec, ...]
    modes: tuple[str, ...] = Field(description="The Lab modes that show it, in column order.")


THESES: tuple[Thesis, ...] = (
    Thesis(
        id="facts", title="A fresh fact: RAG wins",
        claim="RAG is about what the model knows: facts from your documents reach the answer only by retrieval.",
        kinds=("answerable", "changed"), modes=("base", "rag", "lora", "rag+lora"),
        predictions=(Prediction(mode="rag", metric="correct"), Prediction(mode="base", metric="correct",
                                                                          expected=False)),
        rates=(RateSpec(mode="rag", metric="correct", versus=("base",), kinds=("answerable", "changed")),),
    ),
    Thesis(
        id="format", title="A strict format: LoRA wins",
        claim="Fine-tuning is about how the model behaves: the adapter gives the strict JSON the prompt asks "
        "for, where the model alone breaks it.",
        kinds=("answerable", "unanswerable"), modes=("base", "rag", "lora", "rag+lora"),
        predictions=(Prediction(mode="lora", metric="format_valid"), Prediction(mode="lora", metric="correct"),
                     Prediction(mode="rag+lora", metric="format_valid"),
                     Prediction(mode="rag+lora", metric="correct"),
                     Prediction(mode="base", metric="format_valid", expected=False),
                     Prediction(mode="rag", metric="format_valid", expected=False)),
        rates=(RateSpec(mode="lora", metric="format_valid", versus=("base", "rag")),
               RateSpec(mode="rag+lora", metric="format_valid", versus=("rag+fewshot",))),
    ),
    Thesis(
        id="both", title="Facts and format: RAG + LoRA gets both",
        claim="They combine: retrieval supplies the fact, the adapter the format, the citation and the habit "
        "of abstaining.",
        kinds=("answerable", "changed"), modes=("base", "rag", "lora", "rag+lora"),
        predictions=(Prediction(mode="rag+lora", metric="usable"), Prediction(mode="rag+lora", metric="cites_support"),
                     Prediction(mode="rag", metric="correct"),
                     Prediction(mode="rag", metric="format_valid", expected=False),
                     Prediction(mode="lora", metric="correct", expected=False)),
        rates=(RateSpec(mode="rag+lora", metric="usable", versus=("rag", "lora")),),
    ),
    Thesis(
        id="freshness", title="A fact changed: the knowledge LoRA goes stale",
        claim="Knowledge baked into weights goes stale the day a document changes and cites nothing; retrieval "
        "follows the change.",
        kinds=("changed",), version="v2", modes=("rag", "rag+lora", "knowledge-lora"),
        predictions=(Prediction(mode="knowledge-lora", metric="correct", version="v1"),
                     Prediction(mode="knowledge-lora", metric="stale"), Prediction(mode="rag", metric="correct")),
        rates=(RateSpec(mode="knowledge-lora", metric="stale", versus=("rag",), kinds=("changed",), version="v2"),
               RateSpec(mode="rag", metric="correct", versus=("knowledge-lora",), kinds=("changed",),
                        version="v2")),
    ),
    Thesis(
        id="constrained", title="Constrained decoding: syntax, not behaviour",
        claim="A grammar forces well-formed JSON, but not the decisions inside it: what to answer, what to "
        "cite, when to abstain.",
        kinds=("answerable", "unanswerable"), modes=("rag", "rag+constrained", "rag+lora"),
        predictions=(Prediction(mode="rag+constrained", metric="json_valid"),
                     Prediction(mode="rag", metric="json_valid", expected=False),
                     Prediction(mode="rag+constrained", metric="usable", expected=False),
                     Prediction(mode="rag+lora", metric="usable")),
        rates=(RateSpec(mode="rag+constrained", metric="json_valid", versus=("rag",)),
               RateSpec(mode="rag+constrained", metric="usable", versus=("rag+lora",))),
    ),
)
THESIS_IDS: tuple[str, ...] = tuple(t.id for t in THESES)


def thesis(thesis_id: str) -> Thesis:
    """The thesis with this id.

    Raises:
        InputError: no such thesis (the message lists them).
    """
    for t in THESES:
        if t.id == thesis_id:
            return t
    raise InputError(f"Unknown thesis '{thesis_id}'. Known: {', '.join(THESIS_IDS)}.")
