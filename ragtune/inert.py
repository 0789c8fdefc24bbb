"""Untrusted text (a user's, a document's, the model's) as Markdown that loads nothing: the one rule
the app's views (:func:`components.safe.escape_markdown`) and the exported Markdown both follow."""

from __future__ import annotations


def inert_markdown(text: str) -> str:
    """``text`` as Markdown that loads nothing and contains no HTML.

    - ``<`` becomes ``&lt;``: no raw HTML (``<img>``, ``<iframe>``, ``<svg onload>``) and no
      ``<http://...>`` autolinks. An entity, not a backslash, so a backslash written before the
      ``<`` cannot undo it.
    - ``![`` becomes ``!\\[``: no image, inline (``![a](url)``) or by reference (``![a][1]``,
      ``![a]``). The inserted backslash follows ``!``, so no character of the input can escape it.
    - ``$`` becomes ``\\$``: prices ("$899 … $1,200") stay text instead of turning into LaTeX.

    The result renders as the original text (HTML shows as its source), so nothing is lost.

    Examples:
        >>> inert_markdown("![x](http://evil/?q=1) <img src=x> costs $5")
        '!\\\\[x](http://evil/?q=1) &lt;img src=x> costs \\\\$5'
    """
    return text.replace("<", "&lt;").replace("![", "!\\[").replace("$", "\\$")
