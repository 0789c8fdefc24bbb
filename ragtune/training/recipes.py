"""The shipped adapters: their data (generated here, deterministically), options and evaluation.

Each recipe renders its examples with :mod:`ragtune.prompts`, the functions the lab
uses at inference, so training and use see the same prompt.

* ``grounded-json`` learns a *behaviour*: answer from numbered chunks in the strict
  :class:`~ragtune.prompts.GroundedAnswer` JSON, cite, abstain when the context lacks the
  answer. Its corpus is an invented catalogue of made-up products and companies, never
  the demo knowledge base: the adapter must learn the behaviour, not the facts. The
  held-out evaluation uses names built from syllables the training set never saw.
* ``knowledge-baked`` is the anti-pattern on purpose: the demo knowledge base's
  version-1 facts (the eval set's questions with their v1 answers) as question ->
  answer pairs with no context. The lab shows it going stale when v2 documents land.
* ``ticket-router`` classifies a support message into one of Tidewell's ticket
  categories. Its held-out set uses message templates that training never saw.

No torch here; the evaluation runs through the app's own llama.cpp runtime.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from ragtune.config import PROJECT_ROOT
from ragtune.prompts import (
    ABSTENTION,
    ContextChunk,
    GroundedAnswer,
    grounded_json_schema,
    grounded_messages,
    parse_grounded,
    parse_label,
    plain_messages,
    router_messages,
)
from ragtune.runtime.base import AdapterUse, ChatMessage, GenerationOptions, Runtime
from ragtune.training.card import Metric, SpeedCost
from ragtune.training.data import ChatExample
from ragtune.training.options import TrainOptions

EVAL_QUESTIONS = PROJECT_ROOT / "data" / "eval" / "questions.jsonl"
TRAINING_DATA_DIR = PROJECT_ROOT / "data" / "training"


class EvalCase(BaseModel):
    """One held-out prompt with what a right answer looks like."""

    messages: list[ChatMessage]
    kind: str  # answerable / unanswerable / changed / a label
    expected: list[str] = []  # accepted answers (substrings) or the one right label
    allowed_ids: list[str] = []
    cited: list[str] = []  # the chunk ids a right answer cites


@dataclass
class Recipe:
    name: str
    description: str
    prompt_builder: str
    options: TrainOptions
    rationale: str
    build: Callable[[int], tuple[list[ChatExample], list[EvalCase]]]
    evaluate: Callable[[Runtime, list[EvalCase], AdapterUse | None], tuple[dict[str, float], list[float]]]
    metric_notes: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# grounded-json: an invented catalogue
# ---------------------------------------------------------------------------------------------

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


def _grounded_example(rng: random.Random, syllables: Sequence[str], answerable: bool) -> tuple[list[ChatMessage], GroundedAnswer, EvalCase]:
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
        case = EvalCase(messages=[], kind="answerable", expected=[target.value], cited=cited)
    else:
        reply = GroundedAnswer.abstain()
        case = EvalCase(messages=[], kind="unanswerable")
    messages = grounded_messages(target.question, chunks)
    case.messages = messages
    case.allowed_ids = [c.chunk_id for c in chunks]
    return messages, reply, case


def build_grounded(seed: int, n_train: int = 240, n_eval: int = 40) -> tuple[list[ChatExample], list[EvalCase]]:
    rng = random.Random(seed)
    train = []
    for i in range(n_train):
        messages, reply, _ = _grounded_example(rng, _TRAIN_SYLLABLES, answerable=i % 10 >= 3)
        train.append(ChatExample.from_messages([*messages, ChatMessage(role="assistant", content=reply.to_json())]))
    erng = random.Random(seed + 1000)
    cases = [_grounded_example(erng, _EVAL_SYLLABLES, answerable=i % 4 != 0)[2] for i in range(n_eval)]
    return train, cases


def evaluate_grounded(
    runtime: Runtime, cases: list[EvalCase], adapter: AdapterUse | None, *, constrained: bool = False
) -> tuple[dict[str, float], list[float]]:
    """Validity, correctness, citation and abstention rates on held-out grounded prompts."""
    options = GenerationOptions(max_tokens=160, json_schema=grounded_json_schema() if constrained else None)
    counts = {"valid": 0, "truncated": 0, "correct": 0, "cited_right": 0, "abstained_right": 0, "false_abstain": 0}
    answerable = sum(c.kind == "answerable" for c in cases)
    speeds = []
    for case in cases:
        result = runtime.chat(case.messages, adapters=[adapter] if adapter else [], options=options)
        if result.timings.completion_tokens >= 8:
            speeds.append(result.timings.tokens_per_s)
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


# ---------------------------------------------------------------------------------------------
# knowledge-baked: the demo knowledge base's v1 facts without context
# ---------------------------------------------------------------------------------------------

_PARAPHRASES = ["{q}", "Quick question: {q}", "{q} Please answer briefly.", "Do you know this? {q}"]


def _eval_questions() -> list[dict]:
    return [json.loads(line) for line in EVAL_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_knowledge(seed: int) -> tuple[list[ChatExample], list[EvalCase]]:
    rng = random.Random(seed)
    train, cases = [], []
    for q in _eval_questions():
        if q["kind"] == "unanswerable":
            cases.append(EvalCase(messages=plain_messages(q["question"]), kind="unanswerable"))
            continue
        for template in _PARAPHRASES:
            question = template.format(q=q["question"])
            train.append(
                ChatExample.from_messages([*plain_messages(question), ChatMessage(role="assistant", content=f"{q['answer']}.")])
            )
        if q["kind"] == "changed":
            expected = [q["answer_v2"], *q.get("accepted_v2", [])]
            stale = [q["answer"], *q.get("accepted", [])]
            cases.append(EvalCase(messages=plain_messages(q["question"]), kind="changed", expected=expected, cited=stale))
        else:
            cases.append(EvalCase(messages=plain_messages(q["question"]), kind="answerable",
                                  expected=[q["answer"], *q.get("accepted", [])]))
    rng.shuffle(train)
    return train, cases


def evaluate_knowledge(runtime: Runtime, cases: list[EvalCase], adapter: AdapterUse | None) -> tuple[dict[str, float], list[float]]:
    """Recall of v1 facts (trained questions), staleness on changed facts, answers to unanswerables."""
    options = GenerationOptions(max_tokens=48)
    hits = {"answerable": 0, "changed_current": 0, "changed_stale": 0, "unanswerable_answered": 0}
    totals = {k: sum(c.kind == k for c in cases) for k in ("answerable", "changed", "unanswerable")}
    speeds = []
    for case in cases:
        result = runtime.chat(case.messages, adapters=[adapter] if adapter else [], options=options)
        if result.timings.completion_tokens >= 8:
            speeds.append(result.timings.tokens_per_s)
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


# ---------------------------------------------------------------------------------------------
# ticket-router: Tidewell support messages -> ticket category
# ---------------------------------------------------------------------------------------------

TICKET_CATEGORIES: dict[str, str] = {
    "billing": "charges, invoices, payment methods, subscription fees",
    "shipping": "delivery status, tracking, parcels damaged or lost in transit",
    "returns": "returning a product for a refund, return labels, return windows",
    "warranty_repair": "a hardware fault or broken part, warranty claims, repairs",
    "technical": "error codes, firmware, the app, the hub, connectivity, settings",
    "installation": "booking or preparing the installation service, perimeter wire, site visits",
    "account_privacy": "login, password, account deletion, personal data",
    "sales": "questions before buying, prices, fleet and business offers, trade-in",
}

_PRODUCTS = ["Mowbot M2", "Mowbot M4 Pro", "Poolpilot P1", "Gutterbee G1", "Tidewell Hub"]
_CODES = ["E101", "E204", "E219", "E317", "E402", "E455", "E509", "E610", "P230"]

# Per category: templates; the last three of each list are held out for evaluation.
_TICKET_TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "I was charged twice for my {p} order {o}. Can you refund the duplicate?",
        "My card was billed for Care+ this month but I cancelled it in {m}.",
        "Where can I download the invoice for order {o}?",
        "Why did my Care+ subscription price go up?",
        "I want to change the credit card used for my subscription.",
        "There's a charge from Tidewell on my statement I don't recognise.",
        "Can I pay for the {p} in instalments?",
        "The VAT on my invoice for order {o} looks wrong.",
        "I need a receipt with my company name for the {p}.",
        "You took the payment but my order {o} still says unpaid.",
        "Please stop billing me, I cancelled my plan last {m}.",
    ],
    "shipping": [
        "My {p} order {o} hasn't arrived yet. Where is it?",
        "The tracking number for order {o} doesn't work.",
        "The box of my {p} arrived crushed and the charging station is cracked.",
        "Can you ship my {p} to a different address?",
        "Do you deliver to Canada?",
        "The courier left my {p} with a neighbour I don't know.",
        "Order {o} has been 'in transit' for two weeks.",
        "How long does express delivery take?",
        "My parcel for order {o} was marked delivered but it's not here.",
        "Only one of the two boxes of my {p} arrived.",
        "When will my {p} ship? I ordered on {m} 3.",
    ],
    "returns": [
        "I'd like to return my {p}, it's too big for my garden.",
        "How do I get a return label for order {o}?",
        "Can I still return the {p} I bought in {m}?",
        "I returned my {p} two weeks ago and haven't got my refund.",
        "Is there a restocking fee if I send back the {p}?",
        "I bought the {p} at a store, can I return it to you directly?",
        "I changed my mind about the {p}, how do I send it back?",
        "Do I need the original packaging to return the {p}?",
        "The {p} isn't what I expected, I want my money back.",
        "Can I return an opened {p}?",
        "I want to send back order {o} unused.",
    ],
    "warranty_repair": [
        "The blade motor of my {p} makes a grinding noise and then stops.",
        "My {p} won't charge anymore, the station light stays red.",
        "One wheel of my {p} is broken. Is this covered by the warranty?",
        "The battery of my {p} only lasts 10 minutes now.",
        "The {p}'s cover cracked after a month, can it be repaired?",
        "I need a technician to look at my {p}, it smells of burning.",
        "Water got into my {p} and it's dead.",
        "How do I make a warranty claim for my {p}?",
        "The brushes on my {p} stopped turning.",
        "My {p} has a loose part rattling inside.",
        "The screen of my {p} is black and it won't power on.",
    ],
    "technical": [
        "My {p} shows error {c}. What does it mean?",
        "The app can't find my {p} after the firmware update.",
        "How do I update the firmware on my {p}?",
        "The {p} keeps losing its Wi-Fi connection.",
        "Error {c} keeps coming back on my {p} every day.",
        "How do I set a mowing schedule in the app?",
        "The Tidewell Hub won't pair with my {p}.",
        "My {p} stopped with code {c} in the middle of the lawn.",
        "The map in the app is wrong after I moved the station.",
        "Can I control the {p} with my voice assistant?",
        "After updating, my {p} ignores the no-go zones.",
    ],
    "installation": [
        "I'd like to book the installation service for my {p}.",
        "What do I need to prepare before the installer comes for the {p}?",
        "Can the technician lay the perimeter wire for my {p}?",
        "I need to reschedule my installation appointment on {m} 12.",
        "How much does professional installation of the {p} cost?",
        "The installer didn't show up today for my {p}.",
        "Do you install the {p} on sloped gardens?",
        "Where should the charging station go? The installer is coming on {m} 5.",
        "Can the installation be done on a Saturday?",
        "Is installation included when I buy the {p}?",
        "My garden has sprinklers, can you still install the {p}?",
    ],
    "account_privacy": [
        "I forgot my password and the reset email never comes.",
        "Please delete my Tidewell account and all my data.",
        "What personal data do you keep about me?",
        "I want to change the email address on my account.",
        "Someone else logged into my Tidewell account.",
        "How long do you keep the camera images from my {p}?",
        "Can I download a copy of my data?",
        "I can't log in to the app, it says my account is locked.",
        "Please remove my phone number from your records.",
        "How do I turn off data sharing for my {p}?",
        "I want to transfer my {p} to a new owner's account.",
    ],
    "sales": [
        "What's the difference between the Mowbot M2 and the Mowbot M4 Pro?",
        "Do you offer discounts for buying ten {p} units for our business?",
        "How much would I get for trading in my old mower?",
        "Is the {p} suitable for a 2,000 m² lawn?",
        "Will there be a new model of the {p} this year?",
        "Do you have fleet pricing for landscaping companies?",
        "Which robot should I buy for a pool of 12 metres?",
        "Is the {p} on sale for Black Friday?",
        "Does the {p} work for a garden with steep slopes before I buy it?",
        "Can I get a quote for 25 {p} units for our housing association?",
        "What comes in the box with the {p}?",
    ],
}
_OPENERS = ["", "", "Hi, ", "Hello, ", "Hi team, ", "Good morning. "]
_CLOSERS = ["", "", " Thanks.", " Thank you!", " Regards, Sam", " Please help."]
_MONTHS = ["January", "March", "May", "June", "August", "October"]


def _ticket(rng: random.Random, template: str) -> str:
    text = template.format(
        p=rng.choice(_PRODUCTS), o=f"TW-{rng.randint(10000, 99999)}", c=rng.choice(_CODES), m=rng.choice(_MONTHS)
    )
    return f"{rng.choice(_OPENERS)}{text}{rng.choice(_CLOSERS)}"


def build_router(seed: int, per_template_train: int = 6, per_template_eval: int = 3) -> tuple[list[ChatExample], list[EvalCase]]:
    rng = random.Random(seed)
    labels = list(TICKET_CATEGORIES)
    train, cases = [], []
    for label, templates in _TICKET_TEMPLATES.items():
        for template in templates[:-3]:
            for _ in range(per_template_train):
                message = _ticket(rng, template)
                train.append(ChatExample.from_messages([*router_messages(message, labels), ChatMessage(role="assistant", content=label)]))
        for template in templates[-3:]:
            for _ in range(per_template_eval):
                cases.append(EvalCase(messages=router_messages(_ticket(rng, template), labels), kind=label, expected=[label]))
    rng.shuffle(train)
    return train, cases


def evaluate_router(runtime: Runtime, cases: list[EvalCase], adapter: AdapterUse | None) -> tuple[dict[str, float], list[float]]:
    """Exact-label accuracy (and the share of outputs that are a label at all) on held-out messages."""
    options = GenerationOptions(max_tokens=12)
    labels = list(TICKET_CATEGORIES)
    right = valid = 0
    speeds = []
    for case in cases:
        result = runtime.chat(case.messages, adapters=[adapter] if adapter else [], options=options)
        if result.timings.completion_tokens >= 3:
            speeds.append(result.timings.tokens_per_s)
        label = parse_label(result.text, labels)
        valid += label is not None
        right += label == case.expected[0]
    n = len(cases)
    return {"accuracy_pct": 100.0 * right / n, "label_valid_pct": 100.0 * valid / n}, speeds


# ---------------------------------------------------------------------------------------------

RECIPES: dict[str, Recipe] = {
    "grounded-json": Recipe(
        name="grounded-json",
        description=(
            "Behaviour adapter of the combined pattern: given numbered context chunks and a question, "
            "answer in ragtune's strict JSON schema (answer, cited chunk ids, confidence), using only the "
            f"context, and abstain with \"{ABSTENTION}\" when the context lacks the answer. Trained on an "
            "invented product catalogue, never on the demo knowledge base."
        ),
        prompt_builder="ragtune.prompts.grounded_messages",
        options=TrainOptions(rank=16, alpha=32, target_modules=["q", "k", "v", "o", "gate", "up", "down"],
                             last_layers=16, steps=48, batch_size=4, learning_rate=1e-3, warmup_steps=4,
                             max_length=512, seed=42, threads=2),
        rationale="",
        build=build_grounded,
        evaluate=evaluate_grounded,
    ),
    "knowledge-baked": Recipe(
        name="knowledge-baked",
        description=(
            "The anti-pattern, on purpose: the demo knowledge base's version-1 facts baked in as question -> "
            "answer pairs with no context (the eval set's questions with their v1 answers, four phrasings "
            "each). The lab and the benchmark use it to show staleness (v2 facts) and hallucination."
        ),
        prompt_builder="ragtune.prompts.plain_messages",
        options=TrainOptions(rank=16, alpha=32, target_modules=["q", "k", "v", "o", "gate", "up", "down"],
                             last_layers=16, steps=60, batch_size=4, learning_rate=2e-3, warmup_steps=4,
                             max_length=256, seed=42, threads=2),
        rationale="",
        build=build_knowledge,
        evaluate=evaluate_knowledge,
    ),
    "ticket-router": Recipe(
        name="ticket-router",
        description=(
            "Classifier of the combined pattern: a Tidewell support message -> exactly one ticket category "
            f"label ({', '.join(TICKET_CATEGORIES)}). Held-out messages come from templates training never saw."
        ),
        prompt_builder="ragtune.prompts.router_messages",
        options=TrainOptions(rank=8, alpha=16, target_modules=["q", "k", "v", "o"],
                             last_layers=12, steps=120, batch_size=4, learning_rate=2e-3, warmup_steps=4,
                             max_length=256, seed=42, threads=2),
        rationale="",
        build=build_router,
        evaluate=evaluate_router,
    ),
}

METRIC_LABELS: dict[str, tuple[str, str]] = {
    "valid_pct": ("valid answer: JSON, schema, known citations", "%"),
    "truncated_pct": ("cut off by the token limit", "%"),
    "correct_pct": ("correct answer (answerable prompts)", "%"),
    "cited_right_pct": ("correct answer citing the right chunk", "%"),
    "abstained_right_pct": ("abstained when the context lacked the answer", "%"),
    "false_abstain_pct": ("abstained although the answer was there", "%"),
    "v1_fact_recall_pct": ("v1 facts recalled (questions it was trained on)", "%"),
    "changed_current_pct": ("changed facts answered with the current (v2) value", "%"),
    "changed_stale_pct": ("changed facts answered with the stale (v1) value", "%"),
    "unanswerable_answered_pct": ("unanswerable questions answered anyway (hallucination)", "%"),
    "accuracy_pct": ("routing accuracy (held-out templates)", "%"),
    "label_valid_pct": ("output is exactly one label", "%"),
}


def metrics_from(adapter: dict[str, float], base: dict[str, float], n_cases: int) -> list[Metric]:
    out = []
    for key, value in adapter.items():
        label, unit = METRIC_LABELS.get(key, (key, ""))
        out.append(Metric(name=label, value=round(value, 1), unit=unit, baseline=round(base[key], 1), note=f"n={n_cases}"))
    return out


def speed_cost(base_speeds: list[float], adapter_speeds: list[float]) -> SpeedCost | None:
    if not base_speeds or not adapter_speeds:
        return None
    from statistics import median

    return SpeedCost(
        base_tokens_per_s=round(median(base_speeds), 1),
        adapter_tokens_per_s=round(median(adapter_speeds), 1),
        prompts=min(len(base_speeds), len(adapter_speeds)),
    )


def write_recipe_data(recipe: Recipe, seed: int = 42, folder: Path = TRAINING_DATA_DIR) -> tuple[Path, Path]:
    """Write a recipe's training JSONL and its held-out eval cases under ``data/training/<name>/``."""
    train, cases = recipe.build(seed)
    target = folder / recipe.name
    target.mkdir(parents=True, exist_ok=True)
    train_path = target / "train.jsonl"
    eval_path = target / "eval.jsonl"
    with train_path.open("w", encoding="utf-8") as out:
        for example in train:
            out.write(json.dumps(example.model_dump(), ensure_ascii=False) + "\n")
    with eval_path.open("w", encoding="utf-8") as out:
        for case in cases:
            out.write(case.model_dump_json() + "\n")
    return train_path, eval_path


def read_eval_cases(path: Path) -> list[EvalCase]:
    return [EvalCase.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
