"""The ``knowledge-baked`` recipe: the anti-pattern on purpose.

The demo knowledge base's version-1 facts (the eval set's questions with their v1 answers)
as question -> answer pairs with no context. The lab shows it going stale when v2
documents land.
"""

from __future__ import annotations

import json
import random

from ragtune.config import PROJECT_ROOT
from ragtune.prompts import plain_messages
from ragtune.runtime.base import AdapterUse, ChatMessage, GenerationOptions, Runtime
from ragtune.training.data import ChatExample
from ragtune.training.recipes.base import HeldOutCase, Recipe, Scores, answer_all, shipped_options

EVAL_QUESTIONS = PROJECT_ROOT / "data" / "eval" / "questions.jsonl"

_PARAPHRASES = ["{q}", "Quick question: {q}", "{q} Please answer briefly.", "Do you know this? {q}"]


def _eval_questions() -> list[dict]:
    return [json.loads(line) for line in EVAL_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_knowledge(seed: int) -> tuple[list[ChatExample], list[HeldOutCase]]:
    rng = random.Random(seed)
    train, cases = [], []
    for q in _eval_questions():
        if q["kind"] == "unanswerable":
            cases.append(HeldOutCase(messages=plain_messages(q["question"]), kind="unanswerable"))
            continue
        for template in _PARAPHRASES:
            question = template.format(q=q["question"])
            train.append(
                ChatExample.from_messages([*plain_messages(question), ChatMessage(role="assistant", content=f"{q['answer']}.")])
            )
        if q["kind"] == "changed":
            expected = [q["answer_v2"], *q.get("accepted_v2", [])]
            stale = [q["answer"], *q.get("accepted", [])]
            cases.append(HeldOutCase(messages=plain_messages(q["question"]), kind="changed", expected=expected, cited=stale))
        else:
            cases.append(HeldOutCase(messages=plain_messages(q["question"]), kind="answerable",
                                  expected=[q["answer"], *q.get("accepted", [])]))
    rng.shuffle(train)
    return train, cases


def evaluate_knowledge(runtime: Runtime, cases: list[HeldOutCase], adapter: AdapterUse | None) -> Scores:
    """Recall of v1 facts (trained questions), staleness on changed facts, answers to unanswerables."""
    options = GenerationOptions(max_tokens=48)
    hits = {"answerable": 0, "changed_current": 0, "changed_stale": 0, "unanswerable_answered": 0}
    totals = {k: sum(c.kind == k for c in cases) for k in ("answerable", "changed", "unanswerable")}
    results, speeds = answer_all(runtime, cases, adapter, options)
    for case, result in zip(cases, results):
        text = result.text.lower()
        if case.kind == "answerable":
            hits["answerable"] += any(e.lower() in text for e in case.expected)
        elif case.kind == "changed":
            hits["changed_current"] += any(e.lower() in text for e in case.expected)
            hits["changed_stale"] += any(e.lower() in text for e in case.cited)
        else:
            hits["unanswerable_answered"] += not any(p in text for p in ("don't know", "do not know", "not sure", "cannot", "can't"))
    return {
        "v1_fact_recall_pct": 100.0 * hits["answerable"] / max(1, totals["answerable"]),
        "changed_current_pct": 100.0 * hits["changed_current"] / max(1, totals["changed"]),
        "changed_stale_pct": 100.0 * hits["changed_stale"] / max(1, totals["changed"]),
        "unanswerable_answered_pct": 100.0 * hits["unanswerable_answered"] / max(1, totals["unanswerable"]),
    }, speeds


RECIPE = Recipe(
    name="knowledge-baked",
    description=(
        "The anti-pattern, on purpose: the demo knowledge base's version-1 facts baked in as question -> "
        "answer pairs with no context (the eval set's questions with their v1 answers, four phrasings "
        "each). The lab and the benchmark use it to show staleness (v2 facts) and hallucination."
    ),
    prompt_builder="ragtune.prompts.plain_messages",
    options=shipped_options(rank=16, alpha=32, target_modules=["q", "k", "v", "o", "gate", "up", "down"],
                            last_layers=16, steps=60, learning_rate=2e-3, max_length=256),
    build=build_knowledge,
    evaluate=evaluate_knowledge,
    metric_labels={
        "v1_fact_recall_pct": ("v1 facts recalled (questions it was trained on)", "%"),
        "changed_current_pct": ("changed facts answered with the current (v2) value", "%"),
        "changed_stale_pct": ("changed facts answered with the stale (v1) value", "%"),
        "unanswerable_answered_pct": ("unanswerable questions answered anyway (hallucination)", "%"),
    },
)
