"""Where an answer ends: stop strings, the end of a JSON object, and loops, read off the streamed text.

Every runtime feeds the text it has generated so far to a :class:`StopScanner` after each
token and ends the request when the scanner says so. The scanner decides on **text**, not on
token ids, on purpose: an OpenAI-compatible server (llama-server) streams text deltas and gives
a client no access to llama.cpp's stopping criteria, so a check a client can run on the stream
is one every runtime can run. The runtime that stops keeps its own timings true: the tokens it
counted and the time to its last token (for a server client: the deltas received, and the
client closing the stream ends the generation).

Three conditions, the earliest wins:

* a **stop string** (the chat template's end-of-turn marker, :attr:`GenerationOptions.stop`):
  finish reason ``stop``, the text cut *before* it;
* the **end of the JSON object** (:attr:`GenerationOptions.stop_at_json_end`): when the output
  starts with ``{``, the answer ends at the brace that closes it; finish reason ``stop``, the text
  cut *after* it (what follows is not part of the answer, and a model asked for one object that
  goes on writing is only spending tokens);
* a **loop** (:class:`RepetitionDetector`, :attr:`GenerationOptions.repetition`): finish reason
  ``repetition``, the text kept as produced up to that point (it is the evidence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FinishReason = Literal["stop", "length", "repetition"]
"""Why generation ended: the model ended its turn or a stop condition hit (``stop``), the answer
cap (``length``), or the output started repeating itself (``repetition``)."""

#: How an answer that did not end by itself is labelled wherever it is shown (answer cards,
#: History, the Playground, ``ask`` and ``lab``).
STOPPED_LABELS: dict[str, str] = {"length": "stopped at the answer cap", "repetition": "stopped: repetition"}

# The units a loop is looked for in. Words and numbers are units; a run of punctuation is one unit,
# so a Markdown rule ("-----") or a table's separator row ("|---|---|") is one unit, not a
# repetition of its characters. A line break is a unit, so a model printing empty lines forever
# loops visibly. CJK characters are a unit each: those scripts put no spaces between words, and a
# loop in them must be visible too.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_UNIT = re.compile(rf"\n|[{_CJK}]|[^\W{_CJK}]+|[^\w\s]+")
_WORD = re.compile(rf"[^\W{_CJK}]+")


def _periodic_suffix(word: str, min_chars: int) -> bool:
    """Whether ``word`` ends in ``min_chars`` or more characters of one piece repeated 4+ times."""
    for q in range(1, len(word) // 4 + 1):
        length = q
        while length < len(word) and word[-length - 1] == word[-length - 1 + q]:
            length += 1
        if length >= min_chars and length >= 4 * q:
            return True
    return False


class RepetitionRule(BaseModel):
    """When repeated text counts as a loop. The output ends with a block of units repeated back to
    back, in at least two whole copies, and either

    * the repetition covers at least ``min_units`` units (a sentence or a paragraph said again), or
    * it is at least ``many_copies`` copies covering at least ``many_copies_units`` units (a word or
      a phrase over and over: "la Femme la Femme la Femme …").

    The defaults were chosen by measurement (``python -m ragtune stop-bench``; the README,
    "Answers that end"). In the project's own documents, README and code, the longest
    back-to-back repetition covers 48 units (two identical lines of a test) and no block of 12
    units or more repeats more than 3 times (identical cells of a README table); the defaults sit
    above both, and stop the default model's loops on the demo questions before the answer cap.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_units: int = Field(default=64, ge=4, le=1000, description="Units a repetition of two or more "
                           "copies must cover (words, numbers, punctuation runs, line breaks).")
    many_copies: int = Field(default=5, ge=2, le=100, description="Copies that make a loop of a shorter "
                             "repetition...")
    many_copies_units: int = Field(default=16, ge=2, le=1000, description="...covering at least this "
                                   "many units.")
    json_min_copies: int = Field(default=4, ge=2, le=20, description="Whole copies always needed in an "
                                 "output that is a JSON object: the grounded answer may cite one chunk up "
                                 "to MAX_CITATIONS (4) times, which never makes 4 whole copies (the last "
                                 "lacks its separator).")
    max_period: int = Field(default=128, ge=1, le=500, description="Longest block looked for, in units "
                            "(a longer one cannot repeat twice within an answer cap).")
    word_loop_chars: int = Field(default=32, ge=8, le=1000, description="A word (letters and digits, no "
                                 "break) ending in at least this many characters of one piece repeated 4 or "
                                 "more times is a loop too ('ConsumerConsumerConsumer…'): it never becomes "
                                 "a unit of its own to compare.")


class RepetitionDetector:
    """Notices a loop in text that grows: the output ends with the same block of units repeated.

    Only exact back-to-back repetition counts. That is what a model stuck in a loop produces
    (greedy decoding falls into a cycle and stays there), while legitimate text that repeats a
    pattern varies inside it: list items share a prefix but not their ends, table rows share
    their bars but not their cells, JSON objects share their keys but not their values. A
    counting loop ("40, 42, 44, …") is not exact and runs to the answer cap.

    Examples:
        >>> d = RepetitionDetector(RepetitionRule(min_units=12))
        >>> d.feed("Paris is in France. " * 2) is None  # two copies of a 5-unit block: 10 units
        True
        >>> d.feed("Paris is in France. " * 3)  # noticed at the 12th repeated unit, "is"
        48
        >>> RepetitionDetector(RepetitionRule()).feed("la Femme " * 9)  # noticed at the 8th "Femme": 16 units
        71
    """

    def __init__(self, rule: RepetitionRule) -> None:
        self.rule = rule
        self._copies = 2  # whole copies needed at least (more in a JSON object)
        self._units: list[str] = []
        self._runs = [0] * (rule.max_period + 1)  # _runs[p]: how many units in a row equal the unit p back
        self._pos = 0  # the text before this offset has been split into units

    def feed(self, text: str, *, final: bool = False) -> int | None:
        """Read ``text`` (all the output so far); the length of text at which a loop was noticed, or None.

        The last unit may still grow with the next token, so it is read only once something
        follows it, or when ``final`` says the text is complete.
        """
        for match in _UNIT.finditer(text, self._pos):
            unit = match.group()
            chars = self.rule.word_loop_chars
            if len(unit) >= chars and _WORD.fullmatch(unit) and _periodic_suffix(unit, chars):
                # A word looping on itself, finished or still growing: seen where it first qualified.
                return match.start() + next(n for n in range(chars, len(unit) + 1)
                                            if _periodic_suffix(unit[:n], chars))
            if match.end() == len(text) and not final:
                break
            self._pos = match.end()
            if not self._units and unit.startswith("{"):
                self._copies = self.rule.json_min_copies
            if self._add(unit):
                return match.end()
        return None

    def _add(self, unit: str) -> bool:
        units, runs, rule = self._units, self._runs, self.rule
        units.append(unit)
        i = len(units) - 1
        for p in range(1, min(rule.max_period, i) + 1):
            runs[p] = runs[p] + 1 if units[i - p] == unit else 0
            span = runs[p] + p  # the tail is p-periodic over this many units
            if span < self._copies * p:
                continue
            if span >= rule.min_units or (span >= rule.many_copies * p and span >= rule.many_copies_units):
                return True
        return False


class JsonObjectEnd:
    """Finds where the top-level JSON object of an output closes (strings and escapes respected).

    Only an output that starts with ``{`` (after whitespace) is followed: anything else is not
    the one JSON object asked for, and its end is not guessed.

    Examples:
        >>> JsonObjectEnd().feed('{"a": "}", "b": [1, {"c": 2}]} trailing')
        30
        >>> JsonObjectEnd().feed('Sure! {"a": 1}') is None
        True
    """

    def __init__(self) -> None:
        self._pos = 0
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self.is_object: bool | None = None
        """Whether the output is a JSON object (starts with ``{``); None before its first character."""
        self.closed = False

    def feed(self, text: str) -> int | None:
        """Read ``text`` (all the output so far); the offset just after the closing brace, or None."""
        if self.is_object is False or self.closed:
            return None
        for i in range(self._pos, len(text)):
            char = text[i]
            self._pos = i + 1
            if self.is_object is None:
                if char.isspace():
                    continue
                self.is_object = char == "{"
                if not self.is_object:
                    return None
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self.closed = True  # nothing after this is read
                    return i + 1
        return None


@dataclass(frozen=True)
class Stop:
    """Where the answer ends: its text is ``text[:end]``, for ``reason``."""

    end: int
    reason: FinishReason


class StopScanner:
    """The stop conditions of one request, checked on the text after each generated token.

    Args:
        stops: stop strings (the answer ends before the first one).
        json_end: end the answer where its top-level JSON object closes.
        repetition: end the answer when it loops (None: never).
    """

    def __init__(self, stops: list[str], *, json_end: bool = False,
                 repetition: RepetitionRule | None = None) -> None:
        self.stops = [s for s in stops if s]
        self._json = JsonObjectEnd() if json_end else None
        self._loop = RepetitionDetector(repetition) if repetition is not None else None

    @property
    def json_object(self) -> bool | None:
        """With ``json_end``: whether the output is a JSON object (None: not known yet, or not asked)."""
        return self._json.is_object if self._json is not None else None

    @property
    def hold(self) -> int:
        """How many trailing characters to hold back from a stream: they may be the start of a stop string."""
        return max((len(s) for s in self.stops), default=1) - 1

    def scan(self, text: str, *, final: bool = False) -> Stop | None:
        """The stop the output so far has reached, or None to go on. ``final``: the output is complete.

        A stop string or the JSON end means the answer ended as asked (``stop``), even where the
        text before it repeats itself; a loop is reported only for an answer that has not ended.
        """
        ends = []
        cut = min((text.find(s) for s in self.stops if s in text), default=-1)
        if cut >= 0:
            ends.append(cut)
            text = text[:cut]  # nothing at or after a stop string is part of the answer
        if self._json is not None and (end := self._json.feed(text)) is not None:
            ends.append(end)
        if ends:
            return Stop(min(ends), "stop")
        if self._loop is not None and self._loop.feed(text, final=final) is not None:
            return Stop(len(text), "repetition")  # all of it: what the model produced is the evidence
        return None
