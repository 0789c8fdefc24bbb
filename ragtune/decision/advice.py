"""The recommendation written out: headline, Lab modes, first steps, alternatives, consequences.

The funnel (:mod:`ragtune.decision.recommend`) decides which parts to build; these functions
put that decision into the words and the Lab modes a team acts on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ragtune.decision.answers import (
    MIN_EXAMPLES_BEHAVIOUR,
    MIN_EXAMPLES_RULES,
    Frequency,
    PromptingStatus,
    WizardAnswers,
)
from ragtune.decision.economics import CostComparison, money
from ragtune.decision.recommendation import Alternative, Outcome, Part, PartChoice

if TYPE_CHECKING:
    from ragtune.decision.recommend import Behaviour

_SHORT_TITLES = {
    Outcome.RAG: "RAG", Outcome.FINE_TUNE: "Fine-tune", Outcome.HYBRID: "Hybrid",
    Outcome.CLASSIFIER: "Classifier", Outcome.CONSTRAINED_DECODING: "Constrained decoding",
    Outcome.PROMPTING: "Prompting",
}

_PART_PHRASES = {
    Part.RAG: "RAG for knowledge",
    Part.ROUTER: "a fine-tuned intent classifier for routing",
    Part.CLASSIFIER: "a small fine-tuned classifier for the labels",
    Part.CONSTRAINED: "constrained decoding for the schema",
}


def headline(outcome: Outcome, parts: Sequence[PartChoice], behaviour_words: str) -> str:
    """The recommendation in one line: the outcome and the parts it is built from."""
    phrases = []
    for p in parts:
        if p.part == Part.ADAPTER:
            phrases.append(f"a LoRA adapter for {behaviour_words}")
        elif p.part in _PART_PHRASES:
            phrases.append(_PART_PHRASES[p.part])
    if outcome == Outcome.PROMPTING:
        return "Prompting is enough: a base model with a clear prompt"
    if outcome == Outcome.RAG:
        if any(p.part == Part.CONSTRAINED for p in parts):
            return "RAG with constrained decoding for the schema"
        return "RAG with prompt engineering"
    if outcome == Outcome.CONSTRAINED_DECODING:
        return "Constrained decoding: the schema enforced at generation time, no training"
    return f"{_SHORT_TITLES[outcome]}: " + " + ".join(phrases)


def lab_modes(parts: Sequence[PartChoice], bake: bool, behaviour_need: bool
              ) -> tuple[list[str], str]:
    """The Lab modes that compare the recommendation with its alternatives, and the one to pick."""
    have = {p.part for p in parts}
    modes = ["base"]
    if Part.RAG in have:
        modes.append("rag")
        recommended = "rag"
        if Part.ADAPTER in have:
            modes += ["rag+fewshot", "rag+lora"]
            recommended = "rag+lora"
        elif Part.CONSTRAINED in have:
            modes.append("rag+constrained")
            recommended = "rag+constrained"
        elif behaviour_need:
            modes.append("rag+fewshot")
            recommended = "rag+fewshot"
    elif have & {Part.ADAPTER, Part.CLASSIFIER, Part.ROUTER, Part.CONSTRAINED}:
        # The Lab has no constrained-only mode: compare the base model with the LoRA alternative.
        modes.append("lora")
        recommended = "base" if Part.CONSTRAINED in have else "lora"
    else:
        recommended = "base"
    if bake:
        modes.append("knowledge-lora")  # shows the trap side by side with retrieval
    return modes, recommended


def try_first(a: WizardAnswers, parts: Sequence[PartChoice], untested: bool,
              examples_needed: int | None, behaviour_words: str) -> list[str]:
    """The first concrete steps, one per part to build, in the order to take them."""
    have = {p.part for p in parts}
    steps: list[str] = []
    if Part.RAG in have:
        step = ("Index your documents and answer with retrieval and a grounded prompt"
                + (" that numbers the passages for citation" if a.cite else "") + ".")
        if a.per_user:
            step += " Filter retrieval by user or tenant at query time."
        if a.change != Frequency.NEVER:
            step += f" Re-index on every change ({a.change.value}): no retraining."
        steps.append(step)
    if Part.CONSTRAINED in have:
        steps.append("Turn on constrained decoding with your JSON schema, drop the few-shot "
                     "examples that only held the format, and measure format validity.")
    if Part.PROMPT in have and untested:
        steps.append(f"Write a clear prompt for {behaviour_words} with 3-5 examples, and measure "
                     "how often it fails on 50 real queries; fine-tune if failures persist.")
    elif Part.PROMPT in have and Part.CONSTRAINED not in have:
        steps.append("Keep the prompt short and cached; track format failures so you notice "
                     "when prompting stops being enough.")
    if Part.ROUTER in have:
        steps.append("Label a few hundred real queries with their route and train a small "
                     "intent classifier; a prompted router is the baseline to beat.")
    if Part.CLASSIFIER in have:
        steps.append("Measure a prompted model on a labelled test set, then train a small "
                     f"classifier on at least {examples_needed or MIN_EXAMPLES_RULES:,} "
                     "labelled examples and compare.")
    if Part.ADAPTER in have:
        source = (" (the outputs your post-processing repairs are a ready source)"
                  if a.post_processing else "")
        steps.append(f"Collect at least {examples_needed or MIN_EXAMPLES_BEHAVIOUR:,} examples "
                     f"of ideal outputs{source}; train a LoRA on {behaviour_words} only, never "
                     "on the documents, and compare it with the long prompt in the Lab.")
    return steps


def alternatives(outcome: Outcome, a: WizardAnswers, q1: bool, behaviour: Behaviour
                 ) -> list[Alternative]:
    """The options weighed and set aside (or kept for later), each with its reason."""
    adapter, constrained, syntactic = behaviour.adapter, behaviour.constrained, behaviour.syntactic
    classify, behaviour_need, prompting = behaviour.classify, behaviour.need, behaviour.prompting
    behaviour_words = behaviour.words
    out: list[Alternative] = []
    if q1:
        out.append(Alternative(
            option="Fine-tune the model on the documents", verdict="rejected",
            reason="Knowledge becomes opaque (no citations), stale (retrain on every change) "
                   "and hallucinable. Retrieve for knowledge; fine-tune only behaviour."))
    if outcome != Outcome.PROMPTING:
        if q1:
            why = "the model does not have your facts"
        elif adapter:
            why = f"prompting alone does not reliably enforce {behaviour_words}"
        elif classify:
            why = "a small classifier labels more cheaply and consistently at volume"
        elif constrained:
            why = "a prompt cannot guarantee that every output parses"
        else:
            why = "your answers call for more than a prompt"
        out.append(Alternative(option="Prompting alone", verdict="rejected", reason=why[0].upper()
                               + why[1:] + "."))
    if q1 and adapter:
        out.append(Alternative(
            option="RAG with prompt engineering only", verdict="fallback",
            reason=f"Retrieval supplies facts, not behaviour: you said prompting does not hold "
                   f"{behaviour_words}. It is the baseline the adapter must beat in the Lab."))
    if adapter and a.strict_format and not syntactic:
        out.append(Alternative(
            option="Constrained decoding instead of an adapter", verdict="rejected",
            reason=f"It guarantees syntax only, not {behaviour_words}. Worth adding for the "
                   "schema if the adapter still produces invalid output."))
    if constrained:
        out.append(Alternative(
            option="A LoRA adapter for the format", verdict="fallback",
            reason="It learns the format too, but costs training and a dataset; constrained "
                   "decoding guarantees a syntactic format for free."))
    if not adapter and not constrained and behaviour_need and not classify:
        verdict: Literal["later", "not needed"] = (
            "later" if prompting != PromptingStatus.WORKS else "not needed")
        out.append(Alternative(
            option="A LoRA adapter for behaviour", verdict=verdict,
            reason="Fine-tune when prompting fails to hold the behaviour reliably, or when the "
                   "prompt's token cost outgrows one training run."))
    if not behaviour_need and not classify and outcome in (Outcome.RAG, Outcome.PROMPTING):
        out.append(Alternative(
            option="Fine-tuning for behaviour", verdict="not needed",
            reason="You ticked no format, tone or decision rule that prompting fails to enforce."))
    if not q1:
        out.append(Alternative(
            option="RAG", verdict="not needed",
            reason="No answer depends on facts the model lacks, that change, differ per user or "
                   "must be cited."))
    if not classify and not a.routing:
        out.append(Alternative(
            option="A small classifier", verdict="not needed",
            reason="No classification, routing or tagging step in this workload."))
    return out


def consequences(a: WizardAnswers, parts: Sequence[PartChoice], costs: CostComparison,
                  behaviour_words: str) -> list[str]:
    """What the team gains and what it takes on, part by part."""
    have = {p.part for p in parts}
    out: list[str] = []
    if Part.RAG in have:
        out.append("Good: updating knowledge is re-indexing, not retraining"
                   + (f" ({a.change.value} changes)" if a.change != Frequency.NEVER else "") + ".")
        out.append("Good: every answer can show the sources it came from.")
        out.append("Cost: you run and maintain a retrieval index (chunking, embeddings, and "
                   "evaluating retrieval quality).")
    if Part.ADAPTER in have:
        out.append(f"Good: the adapter learns {behaviour_words} once; the prompt shrinks from "
                   f"{costs.inputs.prompt_tokens:,} to {costs.inputs.adapter_prompt_tokens:,} "
                   "tokens per request.")
        out.append(f"Cost: a retraining run at every change of {behaviour_words} "
                   f"({a.spec_change.value}): {money(costs.retraining_per_year)} a year, plus "
                   "curating the examples.")
    if Part.CONSTRAINED in have:
        out.append("Good: every output parses against the schema.")
        out.append("Cost: the runtime must support grammar or JSON-schema constrained "
                   "decoding (llama.cpp does).")
    if have & {Part.CLASSIFIER, Part.ROUTER}:
        out.append("Good: a small model labels faster and far cheaper than a prompted large one.")
        out.append("Cost: the labelled set must be kept up to date when categories or routes "
                   "change.")
    if Part.PROMPT in have:
        out.append(f"Good: nothing to train. Cost: the prompt is paid on every request "
                   f"({money(costs.prompt_monthly)} a month at your volume).")
    return out
