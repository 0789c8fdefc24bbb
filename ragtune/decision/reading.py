"""The answers as the evidence reads them, and the seed's two traps found in them.

Steps 1 and 3 of the funnel (:mod:`ragtune.decision.recommend`): contradictory answers are
resolved in favour of the evidence (and said so), and the two mirror mistakes are warned of:
*fine-tuning for knowledge* (a plan to bake documents into weights) and *RAG / prompting for
behaviour* (a prompt over 4,000 tokens, twenty examples to hold a format, retries on format
failures, post-processing that repairs output). No Streamlit, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ragtune.decision.answers import (
    LONG_PROMPT_TOKENS,
    MANY_FEW_SHOT,
    MIN_EXAMPLES_BEHAVIOUR,
    Frequency,
    PromptingStatus,
    TaskKind,
    WizardAnswers,
    retries_given,
)
from ragtune.decision.economics import money
from ragtune.decision.questions import quoted
from ragtune.decision.recommendation import Finding


def trap_symptoms(answers: WizardAnswers) -> list[str]:
    """The answers that match the seed's symptoms of the RAG-for-behaviour trap (field ids)."""
    found = []
    if answers.prompt_tokens is not None and answers.prompt_tokens > LONG_PROMPT_TOKENS:
        found.append("prompt_tokens")
    if answers.few_shot >= MANY_FEW_SHOT:
        found.append("few_shot")
    if retries_given(answers):
        found.append("retries")
    if answers.post_processing:
        found.append("post_processing")
    return found


def quote_symptom(answers: WizardAnswers, symptom: str) -> str:
    """The answer that shows a symptom, quoted (retries: the tick, or the share retried)."""
    if symptom == "retries" and not answers.retries:
        return quoted(answers, "retry_pct")
    return quoted(answers, symptom)


@dataclass(frozen=True)
class Reading:
    """The answers as the evidence reads them, and the contradictions that were resolved."""

    strict_format: bool
    syntax_only: bool
    tone: bool
    rules: bool
    prompting: PromptingStatus
    symptoms: list[str]
    contradictions: list[Finding]

    @property
    def behaviour_fields(self) -> list[str]:
        """The behaviour needs ticked (format, tone, rules), as the evidence reads them."""
        return [f for f, on in (("strict_format", self.strict_format), ("tone", self.tone),
                                ("rules", self.rules)) if on]

    @property
    def syntactic(self) -> bool:
        """The only behaviour need is a purely syntactic format."""
        return self.strict_format and self.syntax_only and not self.tone and not self.rules


def read_answers(a: WizardAnswers) -> Reading:
    """Resolve contradictory answers in favour of the evidence, and say so for each."""
    strict_format, syntax_only, tone = a.strict_format, a.syntax_only, a.tone
    prompting = a.prompting
    symptoms = trap_symptoms(a)
    found: list[tuple[str, list[str]]] = []
    if syntax_only and not strict_format:
        found.append((
            "You said the format is purely syntactic but not that responses must follow a "
            "strict format. Read as: a strict, purely syntactic format.",
            [quoted(a, "syntax_only")]))
        strict_format = True
    if syntax_only and (a.tone or a.rules):
        found.append((
            "A purely syntactic format cannot also carry a tone or decision rules. Read as: "
            "the format is not purely syntactic.",
            [quoted(a, "syntax_only")] + [quoted(a, f) for f in ("tone", "rules")
                                          if getattr(a, f)]))
        syntax_only = False
    failure_evidence = [f for f in ("retries", "post_processing") if f in symptoms]
    if prompting == PromptingStatus.WORKS and failure_evidence:
        found.append((
            "You said prompting enforces the behaviour reliably, yet you retry or repair its "
            "output. The evidence wins: read as prompting fails.",
            [quoted(a, "prompting")] + [quote_symptom(a, f) for f in failure_evidence]))
    if failure_evidence:
        prompting = PromptingStatus.FAILS
    if a.retries and a.retry_pct == 0:
        found.append((
            "You said format failures are frequent enough that you retry, yet that 0% of "
            "requests are retried. The costs use 0%; correct the share in step 4.",
            [quoted(a, "retries"), quoted(a, "retry_pct")]))
    if a.few_shot > 0 and a.prompt_tokens == 0:
        found.append((
            f"{a.few_shot:,} few-shot examples cannot fit in a 0-token prompt. The cost "
            "comparison uses 0 tokens; correct the number in step 4.",
            [quoted(a, "few_shot"), quoted(a, "prompt_tokens")]))
    if a.task == TaskKind.CLASSIFY and a.tone:
        found.append((
            "Labels have no tone: a classification task does not need a brand voice. "
            "The tone answer is set aside.",
            [quoted(a, "task"), quoted(a, "tone")]))
        tone = False
    if (a.prompting == PromptingStatus.FAILS and not (strict_format or tone or a.rules)
            and not symptoms and a.task != TaskKind.CLASSIFY and not a.routing):
        found.append((
            "You said prompting fails to enforce the behaviour, but ticked no format, tone or "
            "rule it should enforce. Tick what fails in step 3.",
            [quoted(a, "prompting")]))
    return Reading(
        strict_format=strict_format, syntax_only=syntax_only, tone=tone, rules=a.rules,
        prompting=prompting, symptoms=symptoms,
        contradictions=[Finding(code="contradiction", title="Contradictory answers",
                                message=message, evidence=evidence)
                        for message, evidence in found])


@dataclass(frozen=True)
class Traps:
    """The seed's two traps found in the answers, and what the rationale says about them."""

    findings: list[Finding]
    rationale: list[str]


def traps(a: WizardAnswers, reading: Reading, *, prompt_kept: bool) -> Traps:
    """The seed's two mirror mistakes: fine-tuning for knowledge, prompting for behaviour.

    ``prompt_kept``: the recommendation keeps the prompt because an adapter would not pay
    back; the behaviour trap then says so instead of telling the team to fine-tune.
    """
    found = [f for f in (knowledge_trap(a), behaviour_trap(a, reading, prompt_kept=prompt_kept))
             if f is not None]
    rationale = (["You plan to bake the documents into the weights; this recommendation "
                  "keeps them in retrieval instead (see the warning)."] if a.bake else [])
    return Traps(found, rationale)


def knowledge_trap(a: WizardAnswers) -> Finding | None:
    """Fine-tuning for knowledge: opaque (no citations), stale, and still hallucinating."""
    if not a.bake:
        return None
    evidence = [quoted(a, "bake")]
    detail = ["A fine-tuned model does not cite its sources: you cannot audit which "
              "document drove which answer."]
    if a.cite:
        evidence.append(quoted(a, "cite"))
        detail[0] = "You need citations, and a fine-tuned model cannot give them."
    if a.change != Frequency.NEVER:
        evidence.append(quoted(a, "change"))
        yearly = a.training_cost * a.change.per_year
        detail.append(f"Baked-in knowledge goes stale: it changes {a.change.value}, so "
                      f"keeping it current means about {a.change.per_year:g} retraining runs "
                      f"a year ({money(yearly)}/year at your training cost).")
    else:
        detail.append("Baked-in knowledge goes stale the day a document changes.")
    detail.append("A model fine-tuned on facts still hallucinates, with more confidence "
                  "and no retrievable source to ground it.")
    return Finding(
        code="fine_tune_for_knowledge", title="Trap: fine-tuning for knowledge",
        message=" ".join(detail) + " Keep the documents in retrieval; fine-tune only "
                "behaviour (citation format, response structure, tone).",
        evidence=evidence)


def behaviour_trap(a: WizardAnswers, reading: Reading, *, prompt_kept: bool = False
                   ) -> Finding | None:
    """Prompting (or RAG) for behaviour: the seed's symptoms, paid on every request."""
    if not reading.symptoms:
        return None
    if reading.syntactic:
        fix = ("Constrained decoding (your format is purely syntactic) or a LoRA adapter "
               "removes that tax.")
    elif prompt_kept:
        fix = ("A LoRA adapter would remove that tax, but at your volume it does not pay for "
               "itself yet (see the costs): keep the prompt cached and watch the volume.")
    else:
        fix = (f"A LoRA adapter on {MIN_EXAMPLES_BEHAVIOUR}-2,000 examples learns it once and "
               "removes that tax.")
    return Finding(
        code="rag_for_behaviour", title="Trap: prompting (or RAG) for behaviour",
        message="You pay, on every request, for the prompt tokens, retries or repairs that "
                "hold a behaviour: interest forever. " + fix,
        evidence=[quote_symptom(a, f) for f in reading.symptoms])
