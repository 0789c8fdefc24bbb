"""The ``grounded-json`` recipe: a behaviour adapter for the combined (RAG + LoRA) pattern.

It learns to answer from numbered chunks in the strict :class:`~ragtune.prompts.GroundedAnswer`
JSON, cite, and abstain when the context lacks the answer. Its corpus is an invented catalogue
of made-up products and companies, never the demo knowledge base: the adapter must learn the
behaviour, not the facts. The held-out evaluation uses names built from syllables the
training set never saw. Examples are rendered with :mod:`ragtune.prompts`, the functions the
lab uses at inference, so training and use see the same prompt.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ragtune.prompts import (
    ABSTENTION,
    ContextChunk,
    GroundedAnswer,
    grounded_json_schema,
    grounded_messages,
    parse_grounded,
)
from ragtune.runtime.base import AdapterUse, ChatMessage, GenerationOptions, Runtime
from ragtune.training.data import ChatExample
from ragtune.training.recipes.base import HeldOutCase, Recipe, Scores, answer_all, shipped_options

_TRAIN_SYLLABLES = ["bri", "mor", "quil", "lon", "zeph", "var", "tan", "sel", "orv", "kel", "dra", "mip",
                    "ros", "tev", "nal", "cor", "fen", "jas", "lum", "pra", "sav", "wen", "hol", "bex"]
_EVAL_SYLLABLES = ["gor", "tuv", "pel", "yas", "dun", "kir", "abo", "mek", "syl", "ruz", "fip", "oda"]
_KINDS = ["kettle", "e-bike", "drone", "tent", "headset", "blender", "camera", "scooter", "lamp",
          "backpack", "router", "heater", "vacuum", "smartwatch", "grill", "keyboard"]
_COMPANY_SUFFIX = ["Appliances", "Outdoor", "Labs", "Works", "Audio", "Mobility", "Systems", "Goods"]
_CITIES = ["Harwick", "Lindmoor", "Port Elsby", "Carrowfield", "Osterby", "Newbright", "Quarry Bay",
           "Vellmont", "Ashgrove", "Tillburn", "Redmere", "Stonhaven"]
_FIRST = ["Ada", "Bram", "Cleo", "Dorian", "Esme", "Felix", "Greta", "Hugo", "Iris", "Jonas", "Kaia", "Leon"]
_LAST = ["Marsh", "Okafor", "Petrov", "Quist", "Rahman", "Sato", "Thorne", "Ueda", "Vance", "Wilde"]
_COLOURS = ["slate grey", "forest green", "sand beige", "coral red", "midnight blue", "pearl white"]


def _name(rng: random.Random, syllables: Sequence[str], parts: int = 2) -> str:
    return "".join(rng.choice(syllables) for _ in range(parts)).capitalize()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass
class _Fact:
    subject: str
    attribute: str
    sentence: str  # as the document states it
    question: str
    answer: str  # the answer sentence
    value: str  # what a right answer must contain
    hedged: bool = False


def _product_facts(rng: random.Random, syllables: Sequence[str]) -> tuple[str, str, list[_Fact]]:
    company = f"{_name(rng, syllables)} {rng.choice(_COMPANY_SUFFIX)}"
    product = f"{_name(rng, syllables)} {rng.choice('ABCDKMPRSTVX')}{rng.randint(1, 9)} {rng.choice(_KINDS)}"
    price = f"${rng.randint(2, 120) * 10 - 1}"
    years = rng.randint(1, 5)
    weight = f"{rng.randint(2, 95) / 10:g} kg"
    hours = rng.randint(2, 40)
    year = rng.randint(1995, 2023)
    city = rng.choice(_CITIES)
    founder = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    colour = rng.choice(_COLOURS)
    days = rng.choice([14, 21, 30, 45, 60, 90])
    hedge = rng.random() < 0.25
    facts = [
        _Fact(product, "price", f"The {product} costs {price}.", f"How much does the {product} cost?",
              f"The {product} costs {price}.", price),
        _Fact(product, "warranty", f"The {product} comes with a {years}-year warranty.",
              f"How long is the warranty on the {product}?", f"The warranty on the {product} is {years} years.",
              f"{years} year"),
        _Fact(product, "weight", f"The {product} weighs {weight}.", f"How much does the {product} weigh?",
              f"The {product} weighs {weight}.", weight),
        _Fact(product, "battery",
              (f"The {product} runs for roughly {hours} hours on a charge, depending on use." if hedge
               else f"The {product} runs for {hours} hours on one charge."),
              f"How long does the {product} run on a charge?",
              (f"About {hours} hours, depending on use." if hedge else f"{hours} hours on one charge."),
              f"{hours} hours", hedged=hedge),
        _Fact(product, "colour", f"The {product} is sold in {colour}.", f"What colour is the {product} sold in?",
              f"It is sold in {colour}.", colour),
        _Fact(company, "city", f"{company} is headquartered in {city}.", f"Where is {company} headquartered?",
              f"{company} is headquartered in {city}.", city),
        _Fact(company, "founder", f"{company} was founded in {year} by {founder}.", f"Who founded {company}?",
              f"{company} was founded by {founder}.", founder),
        _Fact(company, "returns", f"{company} accepts returns within {days} days of delivery.",
              f"How many days do I have to return something to {company}?",
              f"Returns are accepted within {days} days of delivery.", f"{days} days"),
    ]
    return company, product, facts


def _grounded_example(rng: random.Random, syllables: Sequence[str], answerable: bool) -> tuple[list[ChatMessage], GroundedAnswer, HeldOutCase]:
    company, product, facts = _product_facts(rng, syllables)
    _, _, other_facts = _product_facts(rng, syllables)
    target = rng.choice(facts)
    # Near misses: facts about the same subject (other attributes) and about another product.
    pool = [f for f in facts if f is not target] + other_facts
    rng.shuffle(pool)
    n_chunks = rng.randint(2, 3)
    doc = _slug(target.subject)[:40]
    chunks_facts: list[list[_Fact]] = [pool[i * 2: i * 2 + rng.randint(1, 2)] for i in range(n_chunks)]
    answer_slot = rng.randrange(n_chunks)
    if answerable:
        chunks_facts[answer_slot].insert(rng.randrange(len(chunks_facts[answer_slot]) + 1), target)
    chunks = []
    used_ids: set[str] = set()
    for i, group in enumerate(chunks_facts):
        subject = group[0].subject if group else target.subject
        base = _slug(subject)[:40] if not (answerable and i == answer_slot) else doc
        n = rng.randint(0, 12)
        cid = f"{base}#{n}"
        while cid in used_ids:
            n += 1
            cid = f"{base}#{n}"
        used_ids.add(cid)
        chunks.append(ContextChunk(chunk_id=cid, text=" ".join(f.sentence for f in group)))
    if answerable:
        cited = [chunks[answer_slot].chunk_id]
        reply = GroundedAnswer(answer=target.answer, citations=cited, confidence="medium" if target.hedged else "high")
        case = HeldOutCase(messages=[], kind="answerable", expected=[target.value], cited=cited)
    else:
        reply = GroundedAnswer.abstain()
        case = HeldOutCase(messages=[], kind="unanswerable")
    messages = grounded_messages(target.question, chunks)
    case.messages = messages
    case.allowed_ids = [c.chunk_id for c in chunks]
    return messages, reply, case


def build_grounded(seed: int, n_train: int = 240, n_eval: int = 40) -> tuple[list[ChatExample], list[HeldOutCase]]:
    rng = random.Random(seed)
    train = []
    for i in range(n_train):
        messages, reply, _ = _grounded_example(rng, _TRAIN_SYLLABLES, answerable=i % 10 >= 3)
        train.append(ChatExample.from_messages([*messages, ChatMessage(role="assistant", content=reply.to_json())]))
    erng = random.Random(seed + 1000)
    cases = [_grounded_example(erng, _EVAL_SYLLABLES, answerable=i % 4 != 0)[2] for i in range(n_eval)]
    return train, cases


def evaluate_grounded(
    runtime: Runtime, cases: list[HeldOutCase], adapter: AdapterUse | None, *, constrained: bool = False
) -> Scores:
    """Validity, correctness, citation and abstention rates on held-out grounded prompts."""
    options = GenerationOptions(max_tokens=160, json_schema=grounded_json_schema() if constrained else None)
    counts = {"valid": 0, "truncated": 0, "correct": 0, "cited_right": 0, "abstained_right": 0, "false_abstain": 0}
    answerable = sum(c.kind == "answerable" for c in cases)
    results, speeds = answer_all(runtime, cases, adapter, options)
    for case, result in zip(cases, results):
        parsed = parse_grounded(result.text, finish_reason=result.finish_reason, allowed_ids=case.allowed_ids)
        counts["truncated"] += parsed.status == "truncated"
        if not parsed.ok or parsed.answer is None:
            continue
        counts["valid"] += 1
        got = parsed.answer
        if case.kind == "answerable":
            if got.is_abstention:
                counts["false_abstain"] += 1
            elif any(e.lower() in got.answer.lower() for e in case.expected):
                counts["correct"] += 1
                counts["cited_right"] += set(case.cited) <= set(got.citations)
        elif got.is_abstention:
            counts["abstained_right"] += 1
    n = len(cases)
    return {
        "valid_pct": 100.0 * counts["valid"] / n,
        "truncated_pct": 100.0 * counts["truncated"] / n,
        "correct_pct": 100.0 * counts["correct"] / max(1, answerable),
        "cited_right_pct": 100.0 * counts["cited_right"] / max(1, answerable),
        "abstained_right_pct": 100.0 * counts["abstained_right"] / max(1, n - answerable),
        "false_abstain_pct": 100.0 * counts["false_abstain"] / max(1, answerable),
    }, speeds


RECIPE = Recipe(
    name="grounded-json",
    description=(
        "Behaviour adapter of the combined pattern: given numbered context chunks and a question, "
        "answer in ragtune's strict JSON schema (answer, cited chunk ids, confidence), using only the "
        f"context, and abstain with \"{ABSTENTION}\" when the context lacks the answer. Trained on an "
        "invented product catalogue, never on the demo knowledge base."
    ),
    prompt_builder="ragtune.prompts.grounded_messages",
    options=shipped_options(rank=16, alpha=32, target_modules=["q", "k", "v", "o", "gate", "up", "down"],
                            last_layers=16, steps=48, learning_rate=1e-3, max_length=512),
    build=build_grounded,
    evaluate=evaluate_grounded,
    metric_labels={
        "valid_pct": ("valid answer: JSON, schema, known citations", "%"),
        "truncated_pct": ("cut off by the token limit", "%"),
        "correct_pct": ("correct answer (answerable prompts)", "%"),
        "cited_right_pct": ("correct answer citing the right chunk", "%"),
        "abstained_right_pct": ("abstained when the context lacked the answer", "%"),
        "false_abstain_pct": ("abstained although the answer was there", "%"),
    },
)
