"""One bounded JSON reader for every JSON a user hands ragtune (documents, eval sets, training sets).

``json.loads`` is not safe on hostile text by itself: nesting a few thousand deep raises
``RecursionError`` and an integer of more than 4,300 digits raises a plain ``ValueError``
(Python's integer-string limit), neither of which the callers' ``JSONDecodeError`` handlers
catch. :func:`loads_bounded` checks both limits first with a linear scan (brackets inside
strings do not count) and turns every failure into a :class:`JSONInputError` that says
where and which rule was broken.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from typing import Any

from ragtune.errors import JSONInputError

MAX_JSON_DEPTH = 200
"""Deepest nesting of arrays and objects accepted (far above any real eval set, training set
or document; far below where the parser would run out of stack)."""

_OPENERS_AND_STRINGS = re.compile(r'[\[\]{}"]')
# The rest of a string after its opening quote, up to and including the closing quote.
# Possessive quantifiers: no backtracking, so an unterminated string costs one pass.
_STRING_REST = re.compile(r'[^"\\]*+(?:\\.[^"\\]*+)*+"', re.DOTALL)


@cache
def _long_integer(digits: int) -> re.Pattern[str]:
    """A run of at least ``digits`` digits that starts an integer (not a fraction or exponent).

    The lookbehind makes a match start only at the first digit of a run, so a long run
    that is too short is scanned once, not once per position.
    """
    return re.compile(r"(?<![0-9.eE+\-])-?[0-9]{%d,}+" % digits)


def _where(text: str, pos: int) -> tuple[int, int, str]:
    lineno = text.count("\n", 0, pos) + 1
    colno = pos - text.rfind("\n", 0, pos)
    return lineno, colno, (f"line {lineno}, column {colno}" if "\n" in text else f"column {colno}")


def _scan(text: str, what: str, max_depth: int, max_digits: int) -> None:
    """Raise JSONInputError if ``text`` nests deeper than ``max_depth`` or holds an integer
    longer than ``max_digits`` (0: no limit). Linear; stops quietly at malformed text
    (the parser reports that)."""
    long_integer = _long_integer(max_digits + 1) if max_digits else None
    depth, deepest, first_too_deep = 0, 0, -1
    pos = 0
    while True:
        match = _OPENERS_AND_STRINGS.search(text, pos)
        end = match.start() if match else len(text)
        if long_integer is not None:
            number = long_integer.search(text, pos, end)
            if number is not None:
                lineno, colno, where = _where(text, number.start())
                digits = len(number.group().lstrip("-"))
                raise JSONInputError(
                    what, kind="integer", detail="", lineno=lineno, colno=colno,
                    reason=f"a JSON integer with {digits} digits at {where}; the limit is {max_digits}",
                )
        if match is None:
            break
        char = match.group()
        pos = match.end()
        if char == '"':
            rest = _STRING_REST.match(text, pos)
            if rest is None:
                break  # an unterminated string: malformed, json.loads says where
            pos = rest.end()
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth == max_depth + 1:
                    first_too_deep = match.start()
        else:
            depth -= 1
    if first_too_deep >= 0:
        lineno, colno, where = _where(text, first_too_deep)
        raise JSONInputError(
            what, kind="depth", detail="", lineno=lineno, colno=colno,
            reason=f"JSON nested {deepest} deep (at {where}); the limit is {max_depth}",
        )


def loads_bounded(text: str, *, what: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON ``text`` like ``json.loads``, within limits, with errors a user can act on.

    Args:
        text: the JSON text (one document, or one line of a JSON Lines file).
        what: names the input in messages: a file name, or ``line 3``.
        max_depth: the deepest nesting of arrays/objects accepted.

    Raises:
        JSONInputError: malformed JSON (``kind="syntax"``), nesting deeper than ``max_depth``
            (``depth``), or an integer longer than Python's integer-string limit (``integer``).

    Examples:
        >>> loads_bounded('{"a": [1, 2]}', what="x.json")
        {'a': [1, 2]}
    """
    max_digits = sys.get_int_max_str_digits()
    # The scan is linear but runs in Python; skip it when the text cannot break either limit.
    could_nest = text.count("[") + text.count("{") > max_depth
    if could_nest or (max_digits and _long_integer(max_digits + 1).search(text)):
        _scan(text, what, max_depth, max_digits)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        lineno, colno, where = _where(exc.doc, exc.pos)
        detail = f"{exc.msg} at {where}"
        raise JSONInputError(what, kind="syntax", reason=f"not JSON ({detail})", detail=detail,
                             lineno=lineno, colno=colno) from exc
    except RecursionError as exc:  # the scan bounds depth; a nearly full stack can still hit this
        raise JSONInputError(what, kind="depth", detail="", lineno=1, colno=1,
                             reason=f"JSON nested too deep to read; the limit is {max_depth}") from exc
    except ValueError as exc:  # the integer-string limit, should the scan have missed a case
        raise JSONInputError(what, kind="integer", detail="", lineno=1, colno=1,
                             reason=f"a JSON number that cannot be read ({exc})") from exc
