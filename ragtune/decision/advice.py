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
from ragtune.decision.costs import payback
from ragtune.decision.economics import CostComparison, CostSection, money
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
        if any(p.part == Part.PROMPT and p.detail == "your current prompt" for p in parts):
            # Weighed on cost: the prompt the team has stays, not a new "clear" one.
            return "Prompting is enough for now: keep your current prompt, cached"
        return "Prompting is enough: a base model with a clear prompt"
    if outcome == Outcome.RAG:
        if any(p.part == Part.CONSTRAINED for p in parts):
            return "RAG with constrained decoding for the schema"
        return "RAG with prompt engineering"
    if outcome == Outcome.CONSTRAINED_DECODING:
        return "Constrained decoding: the schema enforced at generation time, no training"
    return f"{_SHORT_TITLES[outcome]}: " + " + ".join(phrases)


def lab_modes(parts: Sequence[PartChoice], bake: bool, behaviour: Behaviour
              ) -> tuple[list[str], str]:
    """The Lab modes that compare the recommendation with its alternatives, and the one to pick.

    The list runs from the base model through each option on the table (the prompt, an adapter
    built or weighed, a grammar, the router) to the trap a plan to bake documents would fall
    into; the pick is the mode that shows the part the outcome is named after.
    """
    have = {p.part for p in parts}
    rag = Part.RAG in have
    modes = ["base"]
    if rag:
        modes.append("rag")
        if behaviour.need:
            modes.append("rag+fewshot")  # the prompt holding the behaviour: the token tax
    adapter_mode = "rag+lora" if rag else "lora"
    constrained_mode = "rag+constrained" if rag else "constrained"
    if Part.CONSTRAINED in have:
        modes.append(constrained_mode)
    # An adapter built, weighed on cost, or the fallback of a grammar: compared side by side.
    if Part.ADAPTER in have or behaviour.weighed == "adapter" or Part.CONSTRAINED in have:
        modes.append(adapter_mode)
    if have & {Part.ROUTER, Part.CLASSIFIER} or behaviour.weighed == "classifier":
        modes.append("route")
    if bake:
        modes.append("knowledge-lora")  # shows the trap side by side with retrieval
    if have & {Part.ROUTER, Part.CLASSIFIER}:
        recommended = "route"
    elif Part.ADAPTER in have:
        recommended = adapter_mode
    elif Part.CONSTRAINED in have:
        recommended = constrained_mode
    elif rag:
        recommended = "rag+fewshot" if behaviour.need else "rag"
    else:
        recommended = "base"
    return modes, recommended


def try_first(a: WizardAnswers, parts: Sequence[PartChoice], behaviour: Behaviour,
              examples_needed: int | None) -> list[str]:
    """The first concrete steps, one per part to build, in the order to take them."""
    have = {p.part for p in parts}
    words = behaviour.words
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
        drop = (f", drop the {a.few_shot:,} few-shot examples that only held the format"
                if a.few_shot else "")
        steps.append(f"Turn on constrained decoding with your JSON schema{drop}, and measure "
                     "format validity.")
    if Part.PROMPT in have and behaviour.untested:
        steps.append(f"Write a clear prompt for {words} with 3-5 examples, and measure "
                     "how often it fails on 50 real queries; fine-tune if failures persist.")
    elif Part.PROMPT in have and behaviour.no_payback:
        tuned = "a small classifier" if behaviour.weighed == "classifier" else "an adapter"
        steps.append(f"Keep the prompt you have, served from the prompt cache; revisit {tuned} "
                     "when volume grows (the costs show when it would pay back).")
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
                     f"of ideal outputs{source}; train a LoRA on {words} only, never "
                     "on the documents, and compare it with your prompt in the Lab.")
    return steps


def alternatives(outcome: Outcome, a: WizardAnswers, q1: bool, behaviour: Behaviour,
                 costs: CostComparison) -> list[Alternative]:
    """The options weighed and set aside (or kept for later), each with its reason."""
    adapter, constrained, syntactic = behaviour.adapter, behaviour.constrained, behaviour.syntactic
    classify, classifier = behaviour.classify, behaviour.classifier
    behaviour_need, prompting = behaviour.need, behaviour.prompting
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
        elif adapter and behaviour.by_cost:
            why = f"an adapter holds {behaviour_words} for less: it {payback(costs)}"
        elif adapter:
            why = f"prompting alone does not reliably enforce {behaviour_words}"
        elif classifier and behaviour.by_cost:
            why = f"a small classifier labels as reliably for less: it {payback(costs)}"
        elif classifier:
            why = "labels are the job of a small classifier, which labels consistently"
        elif constrained:
            why = "a prompt cannot guarantee that every output parses"
        else:
            why = "your answers call for more than a prompt"
        out.append(Alternative(option="Prompting alone", verdict="rejected", reason=why[0].upper()
                               + why[1:] + "."))
    if q1 and adapter:
        out.append(Alternative(
            option="RAG with prompt engineering only", verdict="fallback",
            reason="Retrieval supplies facts, not behaviour: "
                   + (f"your prompt holds {behaviour_words} only at a price that the adapter "
                      "undercuts" if behaviour.by_cost else
                      f"you said prompting does not hold {behaviour_words}")
                   + ". It is the baseline the adapter must beat in the Lab."))
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
        if behaviour.weighed == "adapter":
            out.append(Alternative(
                option="A LoRA adapter for behaviour", verdict="later",
                reason=f"It would remove the prompt's token cost, but {payback(costs)}. "
                       "Revisit when volume grows or prompting starts failing."))
        else:
            verdict: Literal["later", "not needed"] = (
                "later" if prompting != PromptingStatus.WORKS else "not needed")
            out.append(Alternative(
                option="A LoRA adapter for behaviour", verdict=verdict,
                reason="Fine-tune when prompting fails to hold the behaviour reliably, or when "
                       "the prompt's token cost outgrows one training run."))
    if behaviour.weighed == "classifier":
        out.append(Alternative(
            option="A small fine-tuned classifier", verdict="later",
            reason=f"A prompted model labels reliably today, and a classifier {payback(costs)}."
                   " Revisit when volume grows or the labels start to drift."))
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


def consequences(a: WizardAnswers, parts: Sequence[PartChoice], costs: CostSection,
                 behaviour_words: str) -> list[str]:
    """What the team gains and what it takes on, part by part (the figures as in the costs)."""
    have = {p.part for p in parts}
    out: list[str] = []
    if Part.RAG in have:
        out.append("Good: updating knowledge is re-indexing, not retraining"
                   + (f" ({a.change.value} changes)" if a.change != Frequency.NEVER else "") + ".")
        out.append("Good: every answer can show the sources it came from.")
        out.append("Cost: you run and maintain a retrieval index (chunking, embeddings, and "
                   "evaluating retrieval quality).")
    prompt = costs.option("prompt")
    tuned = costs.option("adapter") or costs.option("classifier")
    if Part.ADAPTER in have and prompt is not None and tuned is not None:
        assumed = " (assumed)" if a.prompt_tokens is None else ""
        out.append(f"Good: the adapter learns {behaviour_words} once; the prompt shrinks from "
                   f"{prompt.prompt_tokens:,}{assumed} to {tuned.prompt_tokens:,} tokens per "
                   "request.")
        out.append(f"Cost: a retraining run at every change of {behaviour_words} "
                   f"({a.spec_change.value}): {money(tuned.retraining_per_year)} a year, plus "
                   "curating the examples.")
    if Part.CONSTRAINED in have:
        out.append("Good: every output parses against the schema.")
        out.append("Cost: the runtime must support grammar or JSON-schema constrained "
                   "decoding (llama.cpp does).")
    if have & {Part.CLASSIFIER, Part.ROUTER}:
        out.append("Good: a small model labels consistently and fast.")
        out.append("Cost: the labelled set must be kept up to date, and the model retrained, "
                   "when categories or routes change.")
    if Part.PROMPT in have and not tuned_built(costs):
        # The recommended option's figure: with a grammar, the short prompt, not today's.
        out.append("Good: nothing to train. Cost: the prompt is paid on every request "
                   f"({money(costs.recommended.monthly or 0.0)} a month; see the costs and "
                   "their assumptions).")
    return out


def tuned_built(costs: CostSection) -> bool:
    """An adapter or a classifier is the option recommended (something is trained)."""
    return costs.recommended.kind in ("adapter", "classifier")
