"""The long few-shot prompt: the grounded prompt preceded by worked examples.

This is the seed's "RAG for behaviour" baseline: instead of an adapter, every request carries
examples of the wanted behaviour (answer from the context, cite chunk ids, abstain when the
context lacks the answer). The lab measures what that costs in prompt tokens and time.

The examples use their own fictional corpus (a bakery, a ferry line, a library ...), never
the demo knowledge base, so they teach the format and not the facts. They are rendered with
the very functions the grounded prompt uses (:func:`ragtune.prompts.grounded_user_message`,
:meth:`ragtune.prompts.GroundedAnswer.to_json`), as earlier user/assistant turns.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragtune.prompts import (
    GROUNDED_SYSTEM,
    ContextChunk,
    GroundedAnswer,
    grounded_user_message,
)
from ragtune.runtime.base import ChatMessage


def _c(chunk_id: str, text: str) -> ContextChunk:
    return ContextChunk(chunk_id=chunk_id, text=text)


def _a(answer: str, *citations: str, confidence: str = "high") -> GroundedAnswer:
    return GroundedAnswer(answer=answer, citations=list(citations), confidence=confidence)  # type: ignore[arg-type]


# (question, context chunks, the expected answer): two abstentions among them, because the
# habit of abstaining is part of the behaviour.
EXAMPLES: tuple[tuple[str, tuple[ContextChunk, ...], GroundedAnswer], ...] = (
    (
        "What time does the Larkspur Bakery open on Saturdays?",
        (
            _c("larkspur-hours#0", "Larkspur Bakery is open Monday to Friday from 6:30 to 18:00. "
               "On Saturdays we open at 7:00 and close at 14:00. We are closed on Sundays."),
            _c("larkspur-menu#2", "Sourdough loaves are baked twice daily; the rye is available "
               "only on Thursdays."),
        ),
        _a("It opens at 7:00 on Saturdays.", "larkspur-hours#0"),
    ),
    (
        "How long does the ferry from Quillan to Noress take?",
        (
            _c("quillan-ferry#1", "The Quillan-Noress crossing takes 55 minutes. Ferries leave "
               "Quillan every two hours from 08:00."),
            _c("quillan-ferry#3", "Bicycles travel free; cars pay a supplement of 18 euros."),
        ),
        _a("The crossing takes 55 minutes.", "quillan-ferry#1"),
    ),
    (
        "Who founded the Harrow Street Library?",
        (
            _c("harrow-library#0", "The Harrow Street Library lends books, tools and board games. "
               "Members may borrow up to eight items at a time."),
            _c("harrow-library#4", "Late returns are charged 20 cents per item per day."),
        ),
        GroundedAnswer.abstain(),
    ),
    (
        "What is the late fee for a board game at the Harrow Street Library?",
        (
            _c("harrow-library#4", "Late returns are charged 20 cents per item per day, board "
               "games included."),
            _c("harrow-library#0", "Members may borrow up to eight items at a time."),
        ),
        _a("20 cents per item per day.", "harrow-library#4"),
    ),
    (
        "Which battery does the Vireo bike light use, and how long does it last?",
        (
            _c("vireo-light#0", "The Vireo front light runs on a built-in 2,000 mAh lithium "
               "battery."),
            _c("vireo-light#1", "On the steady setting a full charge lasts 6 hours; on flash "
               "mode it lasts 14 hours."),
        ),
        _a("A built-in 2,000 mAh lithium battery; 6 hours steady or 14 hours flashing.",
           "vireo-light#0", "vireo-light#1"),
    ),
    (
        "How much does a season pass for the Ostby swimming pool cost?",
        (
            _c("ostby-pool#2", "The Ostby outdoor pool is open from June to August, daily from "
               "10:00 to 20:00."),
            _c("ostby-pool#5", "Children under six swim free when accompanied by an adult."),
        ),
        GroundedAnswer.abstain(),
    ),
    (
        "Can I bring my dog on the Pellworth hiking trail?",
        (
            _c("pellworth-trail#3", "Dogs are welcome on the Pellworth trail if kept on a lead "
               "shorter than two metres."),
            _c("pellworth-trail#0", "The trail is 14 km long and takes about four hours."),
        ),
        _a("Yes, if the dog is on a lead shorter than two metres.", "pellworth-trail#3"),
    ),
    (
        "What voltage does the Maren kettle need?",
        (
            _c("maren-kettle#1", "The Maren kettle is rated for 220-240 V and draws 2,200 W; "
               "the EU plug is fitted as standard."),
        ),
        _a("220-240 V.", "maren-kettle#1", confidence="medium"),
    ),
)


def fewshot_messages(question: str, chunks: Sequence[ContextChunk]) -> list[ChatMessage]:
    """The grounded request for ``question`` and ``chunks``, after every worked example."""
    messages = [ChatMessage(role="system", content=GROUNDED_SYSTEM)]
    for example_question, example_chunks, answer in EXAMPLES:
        messages.append(ChatMessage(role="user", content=grounded_user_message(example_question, example_chunks)))
        messages.append(ChatMessage(role="assistant", content=answer.to_json()))
    messages.append(ChatMessage(role="user", content=grounded_user_message(question, chunks)))
    return messages
