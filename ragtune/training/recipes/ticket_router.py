"""The ``ticket-router`` recipe: a Tidewell support message -> one category label.

The classifier of the routing mode (:mod:`ragtune.routing`): eight ticket categories, plus
``product_info`` (a question the documentation answers: products, prices, specifications, the
company, policies) and ``small_talk`` (greetings, thanks, chit-chat, questions about the
assistant). ``product_info`` was added after measuring the eight-category router on the demo's
eval questions: it sent 17 of the 60 to ``billing`` or ``account_privacy`` (a price question
read as a billing ticket), whose routes hand the query to a person. Its templates ask other
things than the eval questions, which stay out of the data (a test checks it).

Training and held-out messages come from the same per-category templates (data, below);
the last three templates of each category are held out, so the evaluation uses wording
training never saw.
"""

from __future__ import annotations

import random

from ragtune.prompts import parse_label, router_messages
from ragtune.runtime.base import AdapterUse, ChatMessage, GenerationOptions, Runtime
from ragtune.training.data import ChatExample
from ragtune.training.recipes.base import HeldOutCase, Recipe, Scores, answer_all, shipped_options

TICKET_CATEGORIES: dict[str, str] = {
    "billing": "charges, invoices, payment methods, subscription fees",
    "shipping": "delivery status, tracking, parcels damaged or lost in transit",
    "returns": "returning a product for a refund, return labels, return windows",
    "warranty_repair": "a hardware fault or broken part, warranty claims, repairs",
    "technical": "error codes, firmware, the app, the hub, connectivity, settings",
    "installation": "booking or preparing the installation service, perimeter wire, site visits",
    "account_privacy": "login, password, account deletion, personal data",
    "sales": "questions before buying, prices, fleet and business offers, trade-in",
    "product_info": "questions the documentation answers: products, specifications, prices, the company, policies",
    "small_talk": "greetings, thanks, chit-chat, questions about the assistant itself",
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
    "product_info": [
        "What's the list price of the {p}?",
        "How heavy is the {p}, and how big is it?",
        "Which colours does the {p} come in?",
        "How long does the {p} take to charge fully?",
        "Does the {p} work in the rain?",
        "Who founded Tidewell Robotics?",
        "How many people work at Tidewell?",
        "What does the Care+ plan include?",
        "What's new in the latest firmware for the {p}?",
        "What do spare wheels for the {p} cost?",
        "How long does Tidewell keep the camera images from the {p}?",
        "What's the price of a yearly service check for the {p}?",
        "Who is the CEO of Tidewell?",
        "What is the noise level of the {p} in decibels?",
        "Which countries does Tidewell sell the {p} in?",
        "What does Tidewell's privacy policy say about sharing data with partners?",
    ],
    "small_talk": [
        "Hello!",
        "Hi there, how are you today?",
        "Thanks a lot, that was really helpful.",
        "Good morning! Nice to meet you.",
        "Are you a real person or a bot?",
        "What's your name?",
        "Can you tell me a joke?",
        "Who built you?",
        "Good evening, anyone there?",
        "You've been very helpful, thank you so much.",
        "Is this a chatbot?",
        "Bye for now.",
        "Have a great weekend!",
        "What can you help me with?",
        "Do you like gardening?",
    ],
}
_OPENERS = ["", "", "Hi, ", "Hello, ", "Hi team, ", "Good morning. "]
_CLOSERS = ["", "", " Thanks.", " Thank you!", " Regards, Sam", " Please help."]
# Small talk is not a ticket: no "Please help." or signature around it.
_CHAT_OPENERS = ["", "", "", "Hey, ", "Oh, ", "Well, "]
_CHAT_CLOSERS = ["", "", "", " :)", " Cheers.", "!"]
_MONTHS = ["January", "March", "May", "June", "August", "October"]


def _ticket(rng: random.Random, template: str, label: str) -> str:
    text = template.format(
        p=rng.choice(_PRODUCTS), o=f"TW-{rng.randint(10000, 99999)}", c=rng.choice(_CODES), m=rng.choice(_MONTHS)
    )
    chat = label == "small_talk"
    return f"{rng.choice(_CHAT_OPENERS if chat else _OPENERS)}{text}{rng.choice(_CHAT_CLOSERS if chat else _CLOSERS)}"


def build_router(seed: int, per_template_train: int = 6, per_template_eval: int = 3) -> tuple[list[ChatExample], list[HeldOutCase]]:
    rng = random.Random(seed)
    labels = list(TICKET_CATEGORIES)
    train, cases = [], []
    for label, templates in _TICKET_TEMPLATES.items():
        for template in templates[:-3]:
            for _ in range(per_template_train):
                message = _ticket(rng, template, label)
                train.append(ChatExample.from_messages([*router_messages(message, labels), ChatMessage(role="assistant", content=label)]))
        for template in templates[-3:]:
            for _ in range(per_template_eval):
                cases.append(HeldOutCase(messages=router_messages(_ticket(rng, template, label), labels), kind=label, expected=[label]))
    rng.shuffle(train)
    return train, cases


def evaluate_router(runtime: Runtime, cases: list[HeldOutCase], adapter: AdapterUse | None) -> Scores:
    """Exact-label accuracy (and the share of outputs that are a label at all) on held-out messages."""
    options = GenerationOptions(max_tokens=12)
    labels = list(TICKET_CATEGORIES)
    right = valid = 0
    results, speeds = answer_all(runtime, cases, adapter, options, timed_from=3)
    for case, result in zip(cases, results):
        label = parse_label(result.text, labels)
        valid += label is not None
        right += label == case.expected[0]
    n = len(cases)
    return {"accuracy_pct": 100.0 * right / n, "label_valid_pct": 100.0 * valid / n}, speeds


RECIPE = Recipe(
    name="ticket-router",
    description=(
        "Classifier of the combined pattern: a Tidewell support message -> exactly one ticket category "
        f"label ({', '.join(TICKET_CATEGORIES)}). Held-out messages come from templates training never saw."
    ),
    prompt_builder="ragtune.prompts.router_messages",
    options=shipped_options(rank=8, alpha=16, target_modules=["q", "k", "v", "o"],
                            last_layers=12, steps=160, learning_rate=2e-3, max_length=256),
    build=build_router,
    evaluate=evaluate_router,
    metric_labels={
        "accuracy_pct": ("category accuracy (held-out templates)", "%"),
        "label_valid_pct": ("output is exactly one label", "%"),
    },
)
