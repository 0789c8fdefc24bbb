"""How many tokens an answer may take: one cap per answer shape, derived from the shape and
measured with the loaded model's own tokenizer.

* A **grounded JSON answer** is bounded by its schema (:mod:`ragtune.prompts`): an ``answer`` of
  at most :data:`~ragtune.prompts.MAX_ANSWER_CHARS` characters, at most
  :data:`~ragtune.prompts.MAX_CITATIONS` citations, a confidence. Its cap is what the longest
  such answer costs: the answer field filled with the densest prose of the demo documents (the
  most tokens per character: prices, codes and dates, as the answers quote them), the citations
  filled with the longest demo chunk id, "medium" confidence, pretty-printed (a model may indent
  its JSON), plus :data:`MARGIN`.
* A **plain answer** is asked to be brief (:data:`~ragtune.prompts.PLAIN_SYSTEM`): it may be as
  long as a grounded answer's text, :data:`~ragtune.prompts.MAX_ANSWER_CHARS` characters of the
  same prose, plus :data:`MARGIN`.

``RAGTUNE_MAX_TOKENS`` is the ceiling over both: no answer takes more, whatever its shape. A
mode's own ``max_tokens`` overrides all of it (:func:`answer_cap`). A runtime that cannot count
tokens locally gets a bound that never cuts a valid answer: its UTF-8 bytes (a byte-level
tokenizer never needs more tokens than bytes).

The caps end an answer that rambles; the stop conditions (:mod:`ragtune.runtime.stops`) end one
that is complete (its JSON object closed) or stuck in a loop, usually well before its cap.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from ragtune.prompts import MAX_ANSWER_CHARS, MAX_CITATIONS, GroundedAnswer

if TYPE_CHECKING:
    from ragtune.config import Settings
    from ragtune.modes import Mode
    from ragtune.runtime.base import Runtime

MARGIN = 0.10
"""Added to each measured cost: tokenization of text the model writes differs a little from the
same text tokenized whole (a word can come out split differently)."""
_WINDOW_STEP = 40  # characters between the demo-document windows measured


class AnswerCaps(BaseModel):
    """The answer caps of one model, in its tokens (before the ``RAGTUNE_MAX_TOKENS`` ceiling)."""

    model_config = ConfigDict(frozen=True)

    json_answer: int = Field(ge=1, description="A grounded JSON answer (the longest valid one + margin).")
    plain_answer: int = Field(ge=1, description="A brief free-text answer (MAX_ANSWER_CHARS of prose + margin).")
    basis: str = Field(description="How the costs were measured.")


def densest_prose(texts: list[str], count: Callable[[str], int], width: int = MAX_ANSWER_CHARS) -> str:
    """The ``width`` characters of ``texts`` (whitespace collapsed) that cost the most tokens."""
    best, best_tokens = "", -1
    for text in texts:
        flat = " ".join(text.split())
        for start in range(0, max(len(flat) - width, 0) + 1, _WINDOW_STEP):
            window = flat[start:start + width]
            tokens = count(window)
            if tokens > best_tokens:
                best, best_tokens = window, tokens
    return best


def longest_grounded_json(prose: str, chunk_id: str) -> str:
    """The longest valid grounded answer built from ``prose`` and ``chunk_id``, pretty-printed."""
    answer = GroundedAnswer(answer=prose[:MAX_ANSWER_CHARS] or "x", citations=[chunk_id] * MAX_CITATIONS,
                            confidence="medium")
    return json.dumps(answer.model_dump(), ensure_ascii=False, indent=2)


def measure_caps(count: Callable[[str], int]) -> AnswerCaps:
    """The caps for a tokenizer (``count``: text -> tokens), measured on the demo documents."""
    from ragtune.retrieval.demo import demo_files

    files = sorted({*demo_files("v1"), *demo_files("v2")})
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in files]
    prose = densest_prose(texts, count)
    chunk_id = max((f"{path.stem}#99" for path in files), key=len, default="document#99")
    with_margin = lambda tokens: math.ceil(tokens * (1 + MARGIN))  # noqa: E731 - a one-line rule
    return AnswerCaps(
        json_answer=with_margin(count(longest_grounded_json(prose, chunk_id))),
        plain_answer=with_margin(count(prose)),
        basis=f"the densest {MAX_ANSWER_CHARS} characters of {len(files)} demo documents, "
        f"{MAX_CITATIONS} citations like {chunk_id}, +{MARGIN:.0%}",
    )


def _byte_bound() -> AnswerCaps:
    longest = longest_grounded_json("x" * MAX_ANSWER_CHARS, "d" * 76 + "#999")
    more_per_char = 3 * MAX_ANSWER_CHARS  # a character takes up to 4 bytes in UTF-8, "x" one
    return AnswerCaps(json_answer=len(longest.encode()) + more_per_char, plain_answer=4 * MAX_ANSWER_CHARS,
                      basis="an upper bound in UTF-8 bytes (this runtime cannot count tokens)")


_CACHE: dict[str, AnswerCaps] = {}
_CACHE_LOCK = threading.Lock()


def answer_caps(runtime: Runtime) -> AnswerCaps:
    """The answer caps of the loaded model (measured once per model and process)."""
    with _CACHE_LOCK:
        if runtime.model_id in _CACHE:
            return _CACHE[runtime.model_id]
    try:
        caps = measure_caps(runtime.count_tokens)
    except NotImplementedError:
        caps = _byte_bound()
    with _CACHE_LOCK:
        return _CACHE.setdefault(runtime.model_id, caps)


def answer_cap(mode: Mode, caps: AnswerCaps, settings: Settings) -> int:
    """The token cap of an answer in ``mode``: the mode's own ``max_tokens``, else its shape's cap
    within the ``RAGTUNE_MAX_TOKENS`` ceiling."""
    if mode.max_tokens:
        return mode.max_tokens
    shape = caps.json_answer if mode.expects_json else caps.plain_answer
    return min(shape, settings.max_tokens)


def chat_cap(runtime: Runtime, settings: Settings) -> int:
    """The default cap of a free chat with the model (the Playground, ``ask``): a brief answer's."""
    return min(answer_caps(runtime).plain_answer, settings.max_tokens)
