"""The ``grounded-json`` recipe: a behaviour adapter for the combined (RAG + LoRA) pattern.

It learns to answer from numbered chunks in the strict :class:`~ragtune.prompts.GroundedAnswer`
JSON, cite, and abstain when the context lacks the answer. Its corpus is invented organisations
(:mod:`ragtune.training.domains`), never the demo knowledge base: the adapter must learn the
behaviour, not the facts. Training uses :data:`~ragtune.training.domains.TRAIN_DOMAINS`; the
held-out cases (``eval.jsonl``) and the full-pipeline set (``data/heldout/``, :func:`write_heldout`)
use :data:`~ragtune.training.domains.HELDOUT_DOMAINS`, kinds and name syllables training never saw.

A prompt is what the pipeline would send: each organisation's documents are cut by the real
chunker at the configured chunk size and overlap, ranked against the question by the real BM25,
and the default mode's k best are shown (the gold chunk forced in, at a random place, when BM25
misses it), rendered by :func:`~ragtune.prompts.grounded_messages`. Chunk size, overlap and k are
read from their models' defaults, so the data follows a change to them. The behaviours come in
:data:`BEHAVIOUR_SHARES`: answers citing the chunk that holds the fact (values copied as the
document writes them), abstentions (an attribute no document states, or a same-kind entity the
organisation lacks), answers spread over two chunks, and answers next to a distractor chunk (the
same attribute of another entity).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ragtune.prompts import (
    ABSTENTION,
    ContextChunk,
    GroundedAnswer,
    grounded_json_schema,
    grounded_messages,
    parse_grounded,
)
from ragtune.config import PROJECT_ROOT, Settings
from ragtune.evaluation.sets import EvalCase
from ragtune.modes import Mode
from ragtune.retrieval.chunking import chunk_spans
from ragtune.retrieval.context import without_overlaps
from ragtune.retrieval.keyword import BM25
from ragtune.runtime.base import AdapterUse, ChatMessage, GenerationOptions, Runtime
from ragtune.training.data import ChatExample
from ragtune.training.domains import (
    HELDOUT_DOMAINS,
    HELDOUT_SYLLABLES,
    KINDS,
    TRAIN_DOMAINS,
    TRAIN_SYLLABLES,
    Fact,
    Organisation,
    make_organisation,
)
from ragtune.training.recipes.base import HeldOutCase, Recipe, Scores, answer_all, shipped_options

#: The behaviours a training example teaches, and their shares of the examples. "empty" is a
#: question with no context at all (the LoRA mode, or RAG over an empty workspace): abstain.
BEHAVIOUR_SHARES: dict[str, float] = {"answer": 0.40, "abstain": 0.32, "two-chunk": 0.12, "distractor": 0.08,
                                      "empty": 0.08}
#: The held-out cases' shares (about a third unanswerable).
HELDOUT_SHARES: dict[str, float] = {"answer": 0.40, "abstain": 0.33, "two-chunk": 0.15, "distractor": 0.12}
N_TRAIN = 320
N_HELDOUT_CASES = 48
EXAMPLES_PER_ORG = 4
MAX_ANSWER_CHARS_TRAINED = 200


def context_k() -> int:
    """Chunks in a grounded prompt: the default mode's k (followed, never copied)."""
    return int(Mode.model_fields["k"].default)


def chunking_defaults() -> tuple[int, int]:
    """The configured default chunk size and overlap (what ingestion uses)."""
    return int(Settings.model_fields["chunk_size"].default), int(Settings.model_fields["chunk_overlap"].default)


@dataclass(frozen=True)
class _Shown:
    """A generated chunk with its span, as :func:`without_overlaps` reads it."""

    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    version: int = 1


def _citing(context: Sequence[ContextChunk], facts: Sequence[Fact]) -> list[str] | None:
    """The shown chunks holding each fact's line (the first one for each fact), or None when a
    fact's line is not whole in any shown chunk (cut by the overlap removal)."""
    cited: list[str] = []
    for fact in facts:
        holders = [c.chunk_id for c in context if fact.line in c.text]
        if not holders:
            return None
        if holders[0] not in cited:
            cited.append(holders[0])
    return cited


@dataclass
class OrgChunks:
    """An organisation's documents cut into chunks exactly as ingestion cuts them."""

    org: Organisation
    chunks: list[ContextChunk]
    spans: list[tuple[str, int, int]]  # (doc id, start, end) of each chunk
    index: BM25

    @classmethod
    def of(cls, org: Organisation) -> OrgChunks:
        size, overlap = chunking_defaults()
        chunks, spans = [], []
        for doc in org.documents:
            for n, span in enumerate(chunk_spans(doc.text, size=size, overlap=overlap)):
                chunks.append(ContextChunk(chunk_id=f"{doc.doc_id}#{n}", text=doc.text[span.start:span.end]))
                spans.append((doc.doc_id, span.start, span.end))
        return cls(org, chunks, spans, BM25([c.text for c in chunks]))

    def holding(self, fact: Fact) -> list[int]:
        """The chunks that hold the fact's whole line."""
        return [i for i, (doc, s, e) in enumerate(self.spans)
                if doc == fact.doc_id and s <= fact.start and fact.start + len(fact.line) <= e]

    def context(self, picked: Sequence[int]) -> list[ContextChunk]:
        """The picked chunks as the pipeline's prompt shows them: what an earlier chunk of the
        same document already shows (the overlap of neighbours) removed
        (:func:`ragtune.retrieval.context.without_overlaps`)."""
        shown = without_overlaps([_Shown(self.chunks[i].chunk_id, *self.spans[i], self.chunks[i].text)
                                  for i in picked])
        return [ContextChunk(chunk_id=c.chunk_id, text=text) for c, text in shown]

    def ranked(self, question: str) -> list[int]:
        found = [i for i, _ in self.index.search(question, len(self.chunks))]
        return found + [i for i in range(len(self.chunks)) if i not in found]


@dataclass
class Item:
    """One generated question over one organisation: its prompt, reply and the held-out view of it."""

    behaviour: str
    question: str
    chunks: list[ContextChunk]
    reply: GroundedAnswer
    expected: list[str]  # the values a right answer states (all of them)
    gold_docs: list[str]
    domain: str
    org: Organisation | None = None  # where the chunks come from (not written anywhere)
    attr_key: str = ""  # the attribute asked about

    @property
    def messages(self) -> list[ChatMessage]:
        return grounded_messages(self.question, self.chunks)


def _context(rng: random.Random, oc: OrgChunks, question: str, gold: list[int], extra: list[int]) -> list[int]:
    """Top-k by BM25, the gold (and forced) chunks put in at random places when BM25 missed them."""
    k = context_k()
    picked = oc.ranked(question)[:k]
    for i in [*gold, *extra]:
        if i in picked:
            continue
        free = [j for j, c in enumerate(picked) if c not in gold and c not in extra]
        if not free:
            break
        del picked[rng.choice(free)]
        picked.insert(rng.randrange(len(picked) + 1), i)
    return picked


def _one_item(rng: random.Random, oc: OrgChunks, behaviour: str) -> Item | None:
    org = oc.org
    facts = [f for f in org.facts if oc.holding(f)]
    if behaviour == "empty":
        fact = rng.choice(facts)
        return Item(behaviour, fact.question, [], GroundedAnswer.abstain(), [], [], org.kind, org, fact.attr.key)
    if behaviour == "abstain":
        if rng.random() < 0.5:
            attr = rng.choice(org.missing)
            question = attr.question.format(e=rng.choice(org.entities))
        else:
            attr = rng.choice(facts).attr
            question = attr.question.format(e=rng.choice(org.ghosts))
        chunks = oc.context(oc.ranked(question)[: context_k()])
        return Item(behaviour, question, chunks, GroundedAnswer.abstain(), [], [], org.kind, org, attr.key)
    fact = rng.choice(facts)
    same_attr = [f for f in facts if f.attr.key == fact.attr.key and f.entity != fact.entity]
    if behaviour == "two-chunk":
        others = [f for f in same_attr if not set(oc.holding(f)) & set(oc.holding(fact))]
        if not others:
            return None
        second = rng.choice(others)
        the = KINDS[org.kind].article
        question = f"What is the {fact.attr.label} of {the}{fact.entity} and of {the}{second.entity}?"
        gold = [oc.holding(fact)[0], oc.holding(second)[0]]
        picked = _context(rng, oc, question, gold, [])
        shown = oc.context(picked)
        cited = _citing(shown, [fact, second])
        if cited is None:
            return None
        tail = second.answer if second.answer.startswith(second.entity) else second.answer[0].lower() + second.answer[1:]
        answer = f"{fact.answer[:-1]}, and {tail}"
        if len(answer) > MAX_ANSWER_CHARS_TRAINED:
            answer = f"{fact.value} for {fact.entity}; {second.value} for {second.entity}."
        reply = GroundedAnswer(answer=answer, citations=cited,
                               confidence="medium" if fact.hedged or second.hedged else "high")
        return Item(behaviour, question, shown, reply, [fact.value, second.value],
                    sorted({fact.doc_id, second.doc_id}), org.kind, org, fact.attr.key)
    gold = [oc.holding(fact)[0]]
    extra: list[int] = []
    if behaviour == "distractor":
        near = [i for f in same_attr for i in oc.holding(f) if i not in gold]
        if not near:
            return None
        extra = [rng.choice(near)]
    question = fact.question
    picked = _context(rng, oc, question, gold, extra)
    shown = oc.context(picked)
    cited = _citing(shown, [fact])
    if cited is None:
        return None
    reply = GroundedAnswer(answer=fact.answer, citations=cited, confidence="medium" if fact.hedged else "high")
    return Item(behaviour, question, shown, reply, [fact.value], [fact.doc_id], org.kind, org, fact.attr.key)


def _schedule(rng: random.Random, n: int, shares: dict[str, float]) -> list[str]:
    counts = {b: round(n * share) for b, share in shares.items()}
    counts["answer"] += n - sum(counts.values())
    plan = [b for b, c in counts.items() for _ in range(c)]
    rng.shuffle(plan)
    return plan


def generate_items(seed: int, n: int, domains: Sequence[str], syllables: Sequence[str],
                   shares: dict[str, float], per_org: int = EXAMPLES_PER_ORG) -> list[Item]:
    """``n`` items over fresh organisations of ``domains`` (in turn), behaviours in ``shares``."""
    rng = random.Random(seed)
    items: list[Item] = []
    oc: OrgChunks | None = None
    for i, behaviour in enumerate(_schedule(rng, n, shares)):
        for attempt in range(20):
            if oc is None or (i % per_org == 0 and attempt == 0) or attempt > 0:
                oc = OrgChunks.of(make_organisation(rng, domains[(i + attempt) % len(domains)], syllables))
            item = _one_item(rng, oc, behaviour)
            if item is not None:
                items.append(item)
                break
    return items


def _held_out_case(item: Item) -> HeldOutCase:
    kind = {"abstain": "unanswerable", "empty": "unanswerable", "two-chunk": "two-chunk"}.get(item.behaviour, "answerable")
    return HeldOutCase(messages=item.messages, kind=kind, expected=item.expected,
                       allowed_ids=[c.chunk_id for c in item.chunks], cited=list(item.reply.citations))


def build_grounded(seed: int, n_train: int = N_TRAIN, n_eval: int = N_HELDOUT_CASES) -> tuple[list[ChatExample], list[HeldOutCase]]:
    """Training examples from :data:`TRAIN_DOMAINS`, held-out cases from :data:`HELDOUT_DOMAINS`."""
    train = [
        ChatExample.from_messages([*item.messages, ChatMessage(role="assistant", content=item.reply.to_json())])
        for item in generate_items(seed, n_train, TRAIN_DOMAINS, TRAIN_SYLLABLES, BEHAVIOUR_SHARES)
    ]
    cases = [_held_out_case(item) for item in
             generate_items(seed + 1000, n_eval, HELDOUT_DOMAINS, HELDOUT_SYLLABLES, HELDOUT_SHARES)]
    return train, cases


def _states(text: str, expected: Sequence[str], kind: str) -> bool:
    """Whether an answer states the expected value (every value, for a two-chunk case)."""
    found = [e.lower() in text.lower() for e in expected]
    return bool(found) and (all(found) if kind == "two-chunk" else any(found))


def evaluate_grounded(
    runtime: Runtime, cases: list[HeldOutCase], adapter: AdapterUse | None, *, constrained: bool = False
) -> Scores:
    """Validity, correctness, citation and abstention rates on held-out grounded prompts.

    Each rate's denominator is in the scores too (``n_*`` keys, see :data:`DENOMINATORS`):
    all cases, the answerable ones (single and two-chunk), the unanswerable ones, and the
    correct valid answers (for "cites a right chunk among correct answers").
    """
    options = GenerationOptions(max_tokens=160, json_schema=grounded_json_schema() if constrained else None)
    counts = {"valid": 0, "truncated": 0, "correct": 0, "correct_valid": 0, "cited_right": 0,
              "cites_a_right": 0, "abstained_right": 0, "false_abstain": 0}
    answerable = sum(c.kind != "unanswerable" for c in cases)
    results, speeds = answer_all(runtime, cases, adapter, options)
    for case, result in zip(cases, results):
        parsed = parse_grounded(result.text, finish_reason=result.finish_reason, allowed_ids=case.allowed_ids)
        counts["truncated"] += parsed.status == "truncated"
        got = parsed.answer if parsed.ok else None
        counts["valid"] += got is not None
        if case.kind != "unanswerable":
            text = got.answer if got is not None else result.text
            if (got is not None and got.is_abstention) or (got is None and ABSTENTION.lower() in text.lower()):
                counts["false_abstain"] += 1
            elif _states(text, case.expected, case.kind):
                counts["correct"] += 1
                if got is not None:
                    counts["correct_valid"] += 1
                    counts["cited_right"] += set(case.cited) <= set(got.citations)  # every gold chunk
                    counts["cites_a_right"] += bool(set(case.cited) & set(got.citations))  # at least one
        elif got is not None and got.is_abstention:
            counts["abstained_right"] += 1
    n = len(cases)
    unanswerable = n - answerable

    def pct(count: int, of: int) -> float:
        return 100.0 * count / of if of else 0.0

    return {
        "valid_pct": pct(counts["valid"], n),
        "truncated_pct": pct(counts["truncated"], n),
        "correct_pct": pct(counts["correct"], answerable),
        "correct_valid_pct": pct(counts["correct_valid"], answerable),
        "cited_right_pct": pct(counts["cited_right"], answerable),
        "cited_right_of_correct_pct": pct(counts["cites_a_right"], counts["correct_valid"]),
        "abstained_right_pct": pct(counts["abstained_right"], unanswerable),
        "false_abstain_pct": pct(counts["false_abstain"], answerable),
        "n_cases": float(n),
        "n_answerable": float(answerable),
        "n_unanswerable": float(unanswerable),
        "n_correct_valid": float(counts["correct_valid"]),
    }, speeds


#: The denominator (an ``n_*`` key of the scores) of each rate.
DENOMINATORS = {
    "valid_pct": "n_cases", "truncated_pct": "n_cases", "correct_pct": "n_answerable",
    "correct_valid_pct": "n_answerable", "cited_right_pct": "n_answerable",
    "cited_right_of_correct_pct": "n_correct_valid", "abstained_right_pct": "n_unanswerable",
    "false_abstain_pct": "n_answerable",
}


RECIPE = Recipe(
    name="grounded-json",
    description=(
        "Behaviour adapter of the combined pattern: given numbered context chunks and a question, "
        "answer in ragtune's strict JSON schema (answer, cited chunk ids, confidence), using only the "
        f"context, and abstain with \"{ABSTENTION}\" when the context lacks the answer. Trained on an "
        f"invented organisations' documents of {len(TRAIN_DOMAINS)} domain kinds ({', '.join(TRAIN_DOMAINS)}), "
        f"scored on {len(HELDOUT_DOMAINS)} kinds it never saw ({', '.join(HELDOUT_DOMAINS)}); never on the demo "
        "knowledge base."
    ),
    prompt_builder="ragtune.prompts.grounded_messages",
    # The shape `adapters sweep --quality` favoured (README, "Adapters"): attention + MLP, one epoch.
    options=shipped_options(rank=16, alpha=32, target_modules=["q", "k", "v", "o", "gate", "up", "down"],
                            last_layers=16, steps=80, learning_rate=1e-3, max_length=512),
    build=build_grounded,
    evaluate=evaluate_grounded,
    denominators=DENOMINATORS,
    metric_labels={
        "valid_pct": ("valid answer: JSON, schema, known citations", "%"),
        "truncated_pct": ("cut off by the token limit", "%"),
        "correct_pct": ("correct answer (answerable prompts)", "%"),
        "correct_valid_pct": ("correct and valid answer (answerable prompts)", "%"),
        "cited_right_pct": ("correct answer citing the right chunk", "%"),
        "cited_right_of_correct_pct": ("cites a right chunk among correct valid answers", "%"),
        "abstained_right_pct": ("abstained when the context lacked the answer", "%"),
        "false_abstain_pct": ("abstained although the answer was there", "%"),
    },
)


HELDOUT_DIR = PROJECT_ROOT / "data" / "heldout"
HELDOUT_ORGS = 3
HELDOUT_DOCS_PER_ORG = 4
HELDOUT_QUESTIONS = 30
HELDOUT_UNANSWERABLE = 9
HELDOUT_TWO_CHUNK = 5


def heldout_corpus(seed: int = 42) -> tuple[list[Organisation], list[EvalCase]]:
    """The full-pipeline held-out set: organisations of :data:`HELDOUT_DOMAINS` (one each,
    :data:`HELDOUT_DOCS_PER_ORG` documents) and questions about them as :class:`EvalCase`s."""
    rng = random.Random(seed + 2000)
    orgs: list[Organisation] = []
    for i in range(HELDOUT_ORGS):
        kind = HELDOUT_DOMAINS[i % len(HELDOUT_DOMAINS)]
        for _ in range(50):
            org = make_organisation(rng, kind, HELDOUT_SYLLABLES)
            if len(org.documents) >= HELDOUT_DOCS_PER_ORG and org.name not in {o.name for o in orgs}:
                break
        org.documents = org.documents[:HELDOUT_DOCS_PER_ORG]
        kept = {d.doc_id for d in org.documents}
        org.facts = [f for f in org.facts if f.doc_id in kept]
        org.entities = [e for e in org.entities if any(f.entity == e for f in org.facts)]
        orgs.append(org)
    plan = (["abstain"] * HELDOUT_UNANSWERABLE + ["two-chunk"] * HELDOUT_TWO_CHUNK
            + ["answer"] * (HELDOUT_QUESTIONS - HELDOUT_UNANSWERABLE - HELDOUT_TWO_CHUNK))
    rng.shuffle(plan)
    cases: list[EvalCase] = []
    seen: set[str] = set()
    chunked = [OrgChunks.of(org) for org in orgs]
    for i, behaviour in enumerate(plan):
        for attempt in range(50):
            oc = chunked[(i + attempt) % len(chunked)]
            item = _one_item(rng, oc, behaviour)
            if item is not None and item.question not in seen:
                break
        seen.add(item.question)
        tags = [f"domain:{item.domain}", f"behaviour:{item.behaviour}"]
        if item.behaviour == "abstain":
            cases.append(EvalCase(id=f"h{i + 1:02d}", question=item.question, tags=tags))
        else:
            cases.append(EvalCase(id=f"h{i + 1:02d}", question=item.question, answer=item.expected[0],
                                  also=item.expected[1:], doc_ids=item.gold_docs, tags=tags))
    return orgs, cases


def write_heldout(folder: Path = HELDOUT_DIR, seed: int = 42) -> tuple[Path, Path]:
    """Write ``docs/*.md`` and ``questions.jsonl`` of the held-out set under ``folder``."""
    orgs, cases = heldout_corpus(seed)
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for org in orgs:
        for doc in org.documents:
            (docs / doc.file_name).write_text(doc.markdown, encoding="utf-8")
    questions = folder / "questions.jsonl"
    questions.write_text("".join(c.model_dump_json(exclude_defaults=True) + "\n" for c in cases), encoding="utf-8")
    return docs, questions
