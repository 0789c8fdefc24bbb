"""Invented organisations and their documents: the corpus the ``grounded-json`` adapter learns behaviour on.

Each *domain kind* (products, policies, people, ...) builds a small invented organisation from a
seeded :class:`random.Random`: a name made of syllables, 3-6 markdown documents (a ``# Title`` and
2-5 ``## Section``s of prose, bullet lists and small tables) and the facts those documents state,
each fact with the exact line of the document that states it. Kinds are split: the adapter trains
on :data:`TRAIN_DOMAINS` and is scored on :data:`HELDOUT_DOMAINS`, whose names are built from
syllables (:data:`HELDOUT_SYLLABLES`) and nouns the training kinds never use. Money is in euros and
pounds, never dollars, so no demo price (``data/kb``) can be written by chance.

A document's text is what ingestion stores for it (:func:`ragtune.retrieval.loaders.parse_document`
of its markdown) and its id is the file-name slug ingestion gives it, so the chunks cut from it
here are the chunks a workspace holding these files would retrieve.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ragtune.retrieval.loaders import doc_id_for, parse_document

TRAIN_SYLLABLES = ("bri", "mor", "quil", "lon", "zeph", "var", "tan", "sel", "orv", "kel", "dra", "mip",
                   "ros", "tev", "nal", "cor", "fen", "jas", "lum", "pra", "sav", "wen", "hol", "bex")
HELDOUT_SYLLABLES = ("gor", "tuv", "pel", "yas", "dun", "kir", "abo", "mek", "syl", "ruz", "fip", "oda")

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Namer:
    """Names from one syllable table (training and held-out kinds use disjoint tables)."""

    def __init__(self, rng: random.Random, syllables: Sequence[str]) -> None:
        self.rng, self.syllables = rng, syllables

    def word(self, parts: int = 2) -> str:
        return "".join(self.rng.choice(self.syllables) for _ in range(parts)).capitalize()

    def person(self) -> str:
        return f"{self.word(2)} {self.word(self.rng.choice((2, 3)))}"


# -- value makers -----------------------------------------------------------------------------------


def _money(rng: random.Random, low: int, high: int, cents: bool = False) -> str:
    symbol = rng.choice("€£")
    amount = rng.randint(low, high)
    return f"{symbol}{amount}.{rng.choice((25, 50, 75, 95))}" if cents else f"{symbol}{amount}"


def _clock(rng: random.Random, low: int, high: int) -> str:
    return f"{rng.randint(low, high):02d}:{rng.choice((0, 15, 30, 45)):02d}"


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(_MONTHS)}"


Value = Callable[[random.Random, Namer], str]


@dataclass(frozen=True)
class Attr:
    """One attribute of a domain's entities: how a value is drawn, stated and asked for."""

    key: str
    label: str  # "price": in table headers, bullets and two-chunk questions
    value: Value
    sentence: str  # "{e}" the entity, "{v}" the value: the document's statement and the answer
    question: str  # "{e}" the entity


@dataclass(frozen=True)
class DomainKind:
    name: str
    entity: Callable[[Namer], str]
    attrs: tuple[Attr, ...]
    org_suffixes: tuple[str, ...]
    topics: tuple[str, ...]  # document title endings
    filler: tuple[str, ...]  # "{org}" prose that states no fact
    hedge: str = "This can vary."
    article: str = "the "  # before an entity in a two-chunk question


@dataclass
class Fact:
    entity: str
    attr: Attr
    value: str
    line: str  # the exact text of the document that states it
    doc_id: str
    hedged: bool = False
    start: int = -1  # offset of ``line`` in the document's text

    @property
    def question(self) -> str:
        return self.attr.question.format(e=self.entity)

    @property
    def answer(self) -> str:
        return self.attr.sentence.format(e=self.entity, v=self.value)


@dataclass
class Document:
    doc_id: str
    file_name: str
    markdown: str  # the file as written
    text: str  # the text ingestion stores


@dataclass
class Organisation:
    name: str
    kind: str
    documents: list[Document]
    facts: list[Fact]
    entities: list[str]
    missing: list[Attr]  # attributes of the kind none of its documents states
    ghosts: list[str] = field(default_factory=list)  # same-kind entities it does not have


# -- the kinds --------------------------------------------------------------------------------------


def _a(key: str, label: str, value: Value, sentence: str, question: str) -> Attr:
    return Attr(key, label, value, sentence, question)


_PRODUCT_NOUNS = ("kettle", "drone", "tent", "headset", "blender", "lamp", "backpack", "toaster")
_EQUIPMENT_NOUNS = ("pump", "drill", "generator", "compressor", "sander", "pressure washer")
_POLICIES = ("refund", "exchange", "parental leave", "sick leave", "annual leave", "remote work", "expense claim",
             "study leave")
_ROLES = ("office manager", "payroll lead", "safety officer", "head of sales", "IT coordinator", "buyer",
          "quality lead", "receptionist")
_PROCEDURES = ("resetting a badge", "ordering supplies", "reporting a fault", "booking a meeting room",
               "registering a visitor", "returning a laptop", "requesting a refund")
_TOOLS = ("the staff portal", "a hex key", "the blue request form", "the front-desk tablet", "a service card")
_EVENTS = ("Spring Fair", "Harvest Market", "Open Day", "Summer Concert", "Film Night", "Craft Weekend")
_PLANS = ("Basic", "Plus", "Pro", "Family", "Team", "Studio")
_COLOURS = ("slate grey", "forest green", "sand beige", "coral red", "midnight blue", "pearl white")

# Held-out kinds only: nouns no training kind uses.
_ROUTES = ("ferry", "tram line", "night bus", "shuttle", "river boat", "cable car")
_SERVICES = ("late return", "card replacement", "parking permit", "locker rental", "key deposit", "room cleaning")
_VENUE_NOUNS = ("Hall", "Pavilion", "Atrium", "Gallery", "Boathouse", "Courtyard")
_PAYMENTS = ("by card at the kiosk", "by bank transfer", "in cash at reception", "through the ticket app")
_ACCESS = ("a step-free entrance", "a hearing loop", "a lift to every floor", "accessible toilets")

KINDS: dict[str, DomainKind] = {}


def _kind(kind: DomainKind) -> None:
    KINDS[kind.name] = kind


_kind(DomainKind(
    "products",
    lambda n: f"{n.word()} {n.rng.choice('ABCDKMPRSTVX')}{n.rng.randint(1, 9)} {n.rng.choice(_PRODUCT_NOUNS)}",
    (
        _a("price", "price", lambda r, n: _money(r, 19, 640), "The {e} costs {v}.", "How much does the {e} cost?"),
        _a("warranty", "warranty", lambda r, n: f"{r.randint(2, 6)} years",
           "The {e} has a warranty of {v}.", "How long is the warranty on the {e}?"),
        _a("weight", "weight", lambda r, n: f"{r.randint(11, 980) / 100:.2f} kg",
           "The {e} weighs {v}.", "How much does the {e} weigh?"),
        _a("runtime", "run time", lambda r, n: f"{r.randint(3, 41)} hours",
           "The {e} runs for {v} on one charge.", "How long does the {e} run on a charge?"),
        _a("colour", "colour", lambda r, n: r.choice(_COLOURS), "The {e} is sold in {v}.",
           "What colour is the {e} sold in?"),
    ),
    ("Goods", "Works", "Labs", "Supply"),
    ("catalogue", "product sheets", "new arrivals", "buyer guide", "range overview", "spec notes"),
    ("{org} designs every item in its own workshop.", "Orders ship from the {org} warehouse.",
     "{org} publishes these sheets for shop staff and buyers.", "Ask the {org} team if a detail is unclear."),
    "Figures depend on use.",
))
_kind(DomainKind(
    "policies",
    lambda n: f"{n.rng.choice(_POLICIES)} policy",
    (
        _a("window", "time limit", lambda r, n: f"{r.choice((7, 10, 14, 21, 28, 45, 60))} days",
           "The {e} applies within {v}.", "What is the time limit of the {e}?"),
        _a("notice", "notice period", lambda r, n: f"{r.randint(2, 9)} weeks",
           "The {e} requires {v} of notice.", "How much notice does the {e} require?"),
        _a("approver", "approver", lambda r, n: f"the {r.choice(_ROLES)}",
           "Requests under the {e} are approved by {v}.", "Who approves requests under the {e}?"),
        _a("form", "form", lambda r, n: f"form {r.choice('BCFHKLNRTW')}-{r.randint(10, 99)}",
           "Requests under the {e} use {v}.", "Which form is used for the {e}?"),
    ),
    ("Cooperative", "Trust", "Group", "Society"),
    ("staff handbook", "policy summary", "member rules", "handbook annex", "policy update"),
    ("{org} reviews its policies every year.", "These rules apply to everyone working with {org}.",
     "Questions about a policy go to the {org} office.", "Earlier versions of this text no longer apply."),
    "Exceptions are decided case by case.",
))
_kind(DomainKind(
    "people",
    lambda n: n.person(),
    (
        _a("role", "role", lambda r, n: r.choice(_ROLES), "{e} works as {v}.", "What is {e}'s role?"),
        _a("room", "office", lambda r, n: f"room {r.choice('ABCDE')}{r.randint(101, 499)}",
           "{e} sits in {v}.", "Which office is {e} in?"),
        _a("extension", "phone extension", lambda r, n: f"extension {r.randint(2000, 8999)}",
           "{e} can be reached on {v}.", "What is {e}'s phone extension?"),
        _a("since", "start year", lambda r, n: str(r.randint(2003, 2024)),
           "{e} joined in {v}.", "When did {e} join?"),
    ),
    ("Partners", "Studio", "Collective", "Agency"),
    ("staff directory", "team page", "who to ask", "contacts list", "department roster"),
    ("{org} keeps this directory up to date.", "New starters at {org} are listed once their first week ends.",
     "Please use internal numbers for calls inside {org}.", "Visitors sign in at the {org} desk first."),
    "Hours can change during holidays.",
    "",
))
_kind(DomainKind(
    "procedures",
    lambda n: f"{n.rng.choice(_PROCEDURES)}",
    (
        _a("duration", "time needed", lambda r, n: f"{r.randint(4, 55)} minutes",
           "The procedure for {e} takes {v}.", "How long does {e} take?"),
        _a("steps", "number of steps", lambda r, n: f"{r.randint(3, 9)} steps",
           "The procedure for {e} has {v}.", "How many steps does {e} have?"),
        _a("tool", "what you need", lambda r, n: r.choice(_TOOLS),
           "For {e} you need {v}.", "What do you need for {e}?"),
        _a("contact", "who to tell", lambda r, n: n.person(),
           "When {e} is done, tell {v}.", "Who do you tell when {e} is done?"),
    ),
    ("Works", "Office", "Services", "Centre"),
    ("how-to guide", "procedures", "checklists", "step-by-step notes", "operations manual"),
    ("Follow the steps in order; {org} audits them each quarter.", "{org} updated these steps after feedback.",
     "1. Read the whole procedure first.\n2. Gather what you need.\n3. Work through each step.",
     "Write down anything unusual for the {org} log."),
    "Times depend on the queue.",
    "",
))
_kind(DomainKind(
    "events",
    lambda n: f"{n.word()} {n.rng.choice(_EVENTS)}",
    (
        _a("date", "date", lambda r, n: _date(r), "The {e} takes place on {v}.", "When is the {e}?"),
        _a("start", "start time", lambda r, n: _clock(r, 9, 20), "The {e} starts at {v}.",
           "What time does the {e} start?"),
        _a("ticket", "ticket price", lambda r, n: _money(r, 3, 85), "A ticket to the {e} costs {v}.",
           "How much is a ticket to the {e}?"),
        _a("seats", "capacity", lambda r, n: f"{r.randint(40, 900)} seats", "The {e} has {v}.",
           "How many seats does the {e} have?"),
        _a("host", "host", lambda r, n: n.person(), "The {e} is hosted by {v}.", "Who hosts the {e}?"),
    ),
    ("Arts Club", "Society", "Festival Board", "Guild"),
    ("events calendar", "season programme", "event notes", "what's on", "programme update"),
    ("{org} runs events for members and guests.", "Volunteers help {org} on every event day.",
     "Programme details are confirmed a month ahead by {org}.", "Bring your membership card to {org} events."),
    "Times may shift on the day.",
))
_kind(DomainKind(
    "subscriptions",
    lambda n: f"{n.word()} {n.rng.choice(_PLANS)} plan",
    (
        _a("fee", "monthly fee", lambda r, n: f"{_money(r, 2, 60, cents=True)} per month",
           "The {e} costs {v}.", "How much does the {e} cost?"),
        _a("storage", "storage", lambda r, n: f"{r.choice((5, 20, 50, 100, 250, 500))} GB",
           "The {e} includes {v} of storage.", "How much storage does the {e} include?"),
        _a("users", "users", lambda r, n: f"up to {r.randint(2, 40)} users", "The {e} allows {v}.",
           "How many users does the {e} allow?"),
        _a("trial", "free trial", lambda r, n: f"{r.choice((7, 10, 14, 21, 31))}-day free trial",
           "The {e} starts with a {v}.", "How long is the free trial of the {e}?"),
    ),
    ("Cloud", "Media", "Software", "Online"),
    ("plans and pricing", "plan comparison", "membership tiers", "plan details", "billing guide"),
    ("{org} bills each plan in advance.", "You can switch plans from the {org} account page.",
     "{org} sends a reminder before a trial ends.", "Prices include tax where {org} is required to add it."),
    "Limits may change with notice.",
))
_kind(DomainKind(
    "equipment",
    lambda n: f"{n.word()} {n.rng.randint(20, 99)}{n.rng.choice('XLS')} {n.rng.choice(_EQUIPMENT_NOUNS)}",
    (
        _a("power", "power", lambda r, n: f"{r.randint(11, 74) / 10:.1f} kW", "The {e} is rated at {v}.",
           "What power is the {e} rated at?"),
        _a("tank", "tank size", lambda r, n: f"{r.randint(3, 90)} litres", "The {e} has a {v} tank.",
           "How big is the tank of the {e}?"),
        _a("service", "service interval", lambda r, n: f"every {r.choice((25, 40, 75, 125, 250))} operating hours",
           "The {e} needs a service {v}.", "How often does the {e} need a service?"),
        _a("mass", "weight", lambda r, n: f"{r.randint(110, 9800) / 100:.2f} kg", "The {e} weighs {v}.",
           "How heavy is the {e}?"),
    ),
    ("Machines", "Tools", "Engineering", "Hire"),
    ("equipment specs", "machine data", "hire fleet", "technical sheets", "fleet notes"),
    ("{org} checks every machine before it leaves the yard.", "Read the manual before using {org} machines.",
     "{org} hires out machines by the day or week.", "Spare parts come from the {org} depot."),
    "Figures are typical, not guaranteed.",
))
# -- held-out kinds ----------------------------------------------------------------------------------
_kind(DomainKind(
    "schedules",
    lambda n: f"{n.word()} {n.rng.choice(_ROUTES)}",
    (
        _a("first", "first departure", lambda r, n: _clock(r, 5, 8), "The first {e} leaves at {v}.",
           "When does the first {e} leave?"),
        _a("last", "last departure", lambda r, n: _clock(r, 21, 23), "The last {e} leaves at {v}.",
           "When does the last {e} leave?"),
        _a("every", "frequency", lambda r, n: f"every {r.choice((6, 8, 12, 15, 20, 35))} minutes",
           "The {e} runs {v}.", "How often does the {e} run?"),
        _a("journey", "journey time", lambda r, n: f"{r.randint(9, 95)} minutes end to end",
           "A trip on the {e} takes {v}.", "How long is a trip on the {e}?"),
        _a("closed", "day without service", lambda r, n: r.choice(_WEEKDAYS),
           "The {e} does not run on {v}.", "On which day does the {e} not run?"),
    ),
    ("Transit", "Ferries", "Lines", "Port Authority"),
    ("timetable", "service times", "winter timetable", "route notes", "travel guide"),
    ("{org} publishes its timetable each season.", "Tickets for {org} services are sold on board.",
     "{org} posts delays at every stop.", "Bicycles travel free on {org} routes outside peak times."),
    "Times may differ on public holidays.",
))
_kind(DomainKind(
    "fees",
    lambda n: f"{n.rng.choice(_SERVICES)} fee",
    (
        _a("amount", "amount", lambda r, n: _money(r, 2, 95, cents=True), "The {e} is {v}.",
           "How much is the {e}?"),
        _a("after", "charged after", lambda r, n: f"{r.randint(2, 30)} days", "The {e} is charged after {v}.",
           "When is the {e} charged?"),
        _a("pay", "payment", lambda r, n: r.choice(_PAYMENTS), "The {e} is paid {v}.",
           "How is the {e} paid?"),
        _a("reduced", "reduction", lambda r, n: f"{r.choice((10, 15, 25, 40, 50))} percent off for pensioners",
           "The {e} has {v}.", "Is there a reduction on the {e}?"),
    ),
    ("Library", "Council", "Municipal Office", "Archive"),
    ("fees and charges", "price list", "penalties", "charges guide", "tariff sheet"),
    ("{org} reviews its charges every April.", "Receipts are issued for every payment to {org}.",
     "{org} may waive a charge in cases of hardship.", "Charges listed here replace the old {org} tariff."),
    "The amount may be rounded at the counter.",
))
_kind(DomainKind(
    "venues",
    lambda n: f"{n.word()} {n.rng.choice(_VENUE_NOUNS)}",
    (
        _a("capacity", "capacity", lambda r, n: f"{r.randint(30, 600)} guests", "The {e} holds {v}.",
           "How many guests does the {e} hold?"),
        _a("floor", "floor", lambda r, n: f"floor {r.randint(1, 9)}", "The {e} is on {v}.",
           "Which floor is the {e} on?"),
        _a("rate", "hire rate", lambda r, n: f"{_money(r, 40, 480)} per hour", "Hiring the {e} costs {v}.",
           "How much does it cost to hire the {e}?"),
        _a("access", "access", lambda r, n: r.choice(_ACCESS), "The {e} has {v}.",
           "What access does the {e} offer?"),
        _a("entrance", "entrance", lambda r, n: f"{n.word()} Lane", "The {e} is entered from {v}.",
           "Where is the entrance to the {e}?"),
    ),
    ("Venues", "Conference Centre", "Estates", "Halls"),
    ("venue guide", "rooms for hire", "floor plan notes", "booking guide", "spaces overview"),
    ("{org} cleans every room between bookings.", "Catering can be arranged through {org}.",
     "{org} holds a key list at the main desk.", "Bookings with {org} are confirmed by email."),
    "Figures are for standard layouts.",
))

MIN_DOC_CHARS = 600
_NOTE_HEADINGS = ("Notes", "Good to know", "Before you start", "Contact", "Changes")

HELDOUT_DOMAINS: tuple[str, ...] = ("schedules", "fees", "venues")
TRAIN_DOMAINS: tuple[str, ...] = tuple(k for k in KINDS if k not in HELDOUT_DOMAINS)


# -- organisations and documents --------------------------------------------------------------------


def _render_section(rng: random.Random, kind: DomainKind, org: str, entity: str,
                    facts: list[Fact], style: str) -> tuple[str, list[tuple[Fact, str]]]:
    """A section's markdown and, for each fact, the exact line stating it."""
    intro = rng.choice(kind.filler).format(org=org)
    lines: list[tuple[Fact, str]] = []
    # A hedged fact carries its hedge on its own line, so the chunk that holds it holds the hedge.
    if style == "bullets":
        for f in facts:
            line = (f"- {f.attr.label.capitalize()} of the {entity}: {f.value}" if not entity[0].isupper()
                    else f"- {f.attr.label.capitalize()} for {entity}: {f.value}")
            lines.append((f, f"{line} ({kind.hedge[0].lower()}{kind.hedge[1:-1]})" if f.hedged else line))
        body = "\n".join(line for _, line in lines)
    else:
        for f in facts:
            lines.append((f, f"{f.answer} {kind.hedge}" if f.hedged else f.answer))
        body = " ".join(line for _, line in lines)
    return f"## {entity[0].upper()}{entity[1:]}\n\n{intro}\n\n{body}\n", lines


def _render_table(kind: DomainKind, entities: list[str], facts_by_entity: dict[str, list[Fact]],
                  attrs: list[Attr]) -> tuple[str, list[tuple[Fact, str]]]:
    header = "| " + " | ".join(["Name", *(a.label.capitalize() for a in attrs)]) + " |"
    rule = "|" + "---|" * (len(attrs) + 1)
    rows, lines = [], []
    for e in entities:
        by_key = {f.attr.key: f for f in facts_by_entity[e]}
        row = "| " + " | ".join([e, *(by_key[a.key].value for a in attrs)]) + " |"
        rows.append(row)
        lines.extend((by_key[a.key], row) for a in attrs)
    return "\n".join([header, rule, *rows]), lines


def make_organisation(rng: random.Random, kind_name: str, syllables: Sequence[str]) -> Organisation:
    """One invented organisation of ``kind_name`` with 3-6 documents and the facts they state."""
    kind = KINDS[kind_name]
    namer = Namer(rng, syllables)
    org = f"{namer.word()} {rng.choice(kind.org_suffixes)}"
    n_docs = rng.randint(3, 6)
    n_drop = rng.randint(1, 2)
    attrs = list(kind.attrs)
    missing = rng.sample(attrs, n_drop)
    stated = [a for a in attrs if a not in missing]
    entities: list[str] = []
    for _ in range(400):  # the two spare names are same-kind entities the org lacks
        if len(entities) >= n_docs * 2 + 2:
            break
        name = kind.entity(namer)
        if name not in entities:
            entities.append(name)
    ghosts, entities = entities[-2:], entities[:-2]
    n_docs = min(n_docs, len(entities))
    taken: dict[str, set[str]] = {a.key: set() for a in stated}
    facts_by_entity: dict[str, list[Fact]] = {}
    for e in entities:
        facts_by_entity[e] = []
        for a in stated:
            value = a.value(rng, namer)
            for _ in range(6):  # distinct values per attribute, so a distractor really differs
                if value not in taken[a.key]:
                    break
                value = a.value(rng, namer)
            taken[a.key].add(value)
            facts_by_entity[e].append(Fact(e, a, value, "", "", hedged=rng.random() < 0.15))
    documents, facts = [], []
    topics = rng.sample(kind.topics, min(n_docs, len(kind.topics)))
    while len(topics) < n_docs:
        topics.append(f"{rng.choice(kind.topics)} part {len(topics) + 1}")
    per_doc = [entities[i::n_docs] for i in range(n_docs)]  # one or two entities a document
    for topic, ents in zip(topics, per_doc):
        title = f"{org} {topic}"
        file_name = f"{doc_id_for(title)}.md"
        doc_id = doc_id_for(file_name)
        parts = [f"# {title}\n", " ".join(rng.sample([f.format(org=org) for f in kind.filler], 2)) + "\n"]
        placed: list[tuple[Fact, str]] = []
        if rng.random() < 0.3 and len(ents) > 1:
            table, lines = _render_table(kind, ents, facts_by_entity, stated)
            for fact, _ in lines:
                fact.hedged = False
            parts.append(f"## Overview\n\n{rng.choice(kind.filler).format(org=org)}\n\n{table}\n")
            placed.extend(lines)
        else:
            for e in ents:
                section, lines = _render_section(rng, kind, org, e, facts_by_entity[e],
                                                 rng.choice(("prose", "prose", "bullets")))
                parts.append(section)
                placed.extend(lines)
        notes = [f.format(org=org) for f in rng.sample(kind.filler, len(kind.filler))]
        while notes and (rng.random() < 0.4 or sum(map(len, parts)) < MIN_DOC_CHARS):
            parts.append(f"## {rng.choice(_NOTE_HEADINGS)}\n\n{notes.pop()} {notes.pop() if notes else ''}".rstrip() + "\n")
        markdown = "\n".join(parts)
        text = parse_document(file_name, markdown.encode("utf-8"), max_bytes=1 << 20).text
        cursor = 0
        for fact, line in placed:
            at = text.find(line, cursor if line != placed[0][1] else 0)
            if at == -1:
                at = text.find(line)
            fact.line, fact.doc_id, fact.start = line, doc_id, at
            cursor = max(cursor, at)
            facts.append(fact)
        documents.append(Document(doc_id=doc_id, file_name=file_name, markdown=markdown, text=text))
    return Organisation(name=org, kind=kind_name, documents=documents, facts=facts, entities=entities,
                        missing=missing, ghosts=ghosts)
