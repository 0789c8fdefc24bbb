"""argparse ``type=`` functions for numeric options: checked at parse time, before anything loads.

The bounds of an option come from the pydantic field it feeds (:func:`field_int`,
:func:`field_float`), so an option and its model cannot disagree. A bad value exits with
argparse's usage line and one error line naming the option and the rule (exit code 2).
NaN and infinity are refused everywhere.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import annotated_types
from pydantic import BaseModel


@dataclass(frozen=True)
class Bounds:
    """A numeric range; ``None`` is unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # greater than, not greater than or equal
    high_open: bool = False

    def admits(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe(self, kind: str) -> str:
        def num(x: float) -> str:
            return f"{x:g}" if kind == "number" else str(int(x))

        noun = "an integer" if kind == "integer" else "a number"
        if self.low is not None and self.high is not None:
            if not self.low_open and not self.high_open:
                return f"must be {noun} from {num(self.low)} to {num(self.high)}"
            lo = f"greater than {num(self.low)}" if self.low_open else f"at least {num(self.low)}"
            hi = f"less than {num(self.high)}" if self.high_open else f"at most {num(self.high)}"
            return f"must be {noun} {lo} and {hi}"
        if self.low is not None:
            return f"must be {noun} {'greater than' if self.low_open else 'of at least'} {num(self.low)}"
        if self.high is not None:
            return f"must be {noun} {'less than' if self.high_open else 'of at most'} {num(self.high)}"
        return f"must be {noun}"


def field_bounds(model: type[BaseModel], field: str) -> Bounds:
    """The ``ge``/``gt``/``le``/``lt`` constraints of ``model.field`` as :class:`Bounds`."""
    info = model.model_fields[field]
    low = high = None
    low_open = high_open = False
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            low, low_open = float(item.ge), False  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            low, low_open = float(item.gt), True  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high, high_open = float(item.le), False  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            high, high_open = float(item.lt), True  # type: ignore[arg-type]
    return Bounds(low, high, low_open, high_open)


def bounded_int(bounds: Bounds) -> Callable[[str], int]:
    """An argparse type: an integer within ``bounds``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{bounds.describe('integer')} (got {text[:40]!r})") from None
        if not bounds.admits(value):
            raise argparse.ArgumentTypeError(f"{bounds.describe('integer')} (got {value})")
        return value

    parse.__name__ = "integer"  # argparse names the type in its fallback message
    return parse


def bounded_float(bounds: Bounds) -> Callable[[str], float]:
    """An argparse type: a finite number within ``bounds`` (no nan, no inf)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{bounds.describe('number')} (got {text[:40]!r})") from None
        if not math.isfinite(value) or not bounds.admits(value):
            raise argparse.ArgumentTypeError(f"{bounds.describe('number')} (got {text[:40]})")
        return value

    parse.__name__ = "number"
    return parse


def field_int(model: type[BaseModel], field: str) -> Callable[[str], int]:
    """An argparse type with the bounds of the integer field ``model.field``."""
    return bounded_int(field_bounds(model, field))


def field_float(model: type[BaseModel], field: str) -> Callable[[str], float]:
    """An argparse type with the bounds of the number field ``model.field``."""
    return bounded_float(field_bounds(model, field))


def int_range(low: int | None, high: int | None) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (for options that feed no model)."""
    return bounded_int(Bounds(low, high))


def writable_file(text: str) -> Path:
    """An argparse type: an output file that can be written (checked now, written later).

    The file need not exist; its folder must exist or be creatable, and nothing there may be
    in the way (a directory at the path, a file where a folder should be, no write permission).
    """
    import tempfile

    if not text.strip():
        raise argparse.ArgumentTypeError("must be a file path (got an empty string)")
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a directory; give a file path")
    if path.exists():
        try:
            with path.open("ab"):  # append mode: opening changes nothing in the file
                pass
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f"{path} is not writable ({exc.strerror or type(exc).__name__})"
            ) from None
        return path
    folder = path.parent
    while not folder.exists():  # the nearest existing ancestor decides whether it can be created
        folder = folder.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"cannot create {path}: {folder} is a file, not a folder")
    try:  # a real probe: permission bits say nothing for root, or on /proc and read-only mounts
        with tempfile.TemporaryFile(dir=folder, prefix=".ragtune-probe-"):
            pass
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"cannot create {path}: {folder} is not writable ({exc.strerror or type(exc).__name__})"
        ) from None
    return path


__all__ = [
    "Bounds",
    "bounded_float",
    "bounded_int",
    "field_bounds",
    "field_float",
    "field_int",
    "int_range",
    "writable_file",
]
