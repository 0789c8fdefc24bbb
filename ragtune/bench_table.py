"""The benchmark's tables: one report's figures against their targets, and two reports side by side.

A figure's ``target`` is text written for a reader ("≤ 3.0 s", "≤ 1,000 (seed: < 1,500)",
"seed: overhead < 2% (≥ 0.98)"); :func:`verdict` reads the first bound in it whose unit fits the
figure's (a time against a time, a size against a size, a bare number in the figure's own unit) and
says whether the figure meets it, so every table marks its figures the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragtune.bench import BenchReport, Figure

MET = "✓ met"
MISSED = "✗ missed"
NOT_MEASURED = "not measured"

_SCALE: dict[str, tuple[str, float]] = {
    "ms": ("time", 1e-3), "s": ("time", 1.0),
    "B": ("size", 1.0), "kB": ("size", 1e3), "MB": ("size", 1e6), "GB": ("size", 1e9),
    "KiB": ("size", 2**10), "MiB": ("size", 2**20), "GiB": ("size", 2**30),
    "%": ("percent", 1.0),
}
_BOUND = re.compile(r"(≤|≥|<=|>=|<|>|=)\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*(ms|s|B|kB|MB|GB|KiB|MiB|GiB|%)?(?![\w/])")
_BARE = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*$")


def fmt(value: float | None) -> str:
    """A figure's value as the tables print it (3 significant-ish digits, thousands separated; n/a for NaN)."""
    if value is None or value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _in_unit(number: float, unit: str | None, figure_unit: str) -> float | None:
    """``number`` (in ``unit``; None: the figure's own) in the figure's unit, or None when the two do not fit."""
    if unit is None or unit == figure_unit:
        return number
    have, want = _SCALE.get(unit), _SCALE.get(figure_unit)
    if have is None or want is None or have[0] != want[0]:
        return None
    return number * have[1] / want[1]


def bound(target: str, unit: str) -> tuple[str, float] | None:
    """The comparison a target sets for a figure in ``unit``: (operator, limit in ``unit``), or None.

    Examples:
        >>> bound("≤ 3.0 s", "ms")
        ('≤', 3000.0)
        >>> bound("seed: overhead < 2% (≥ 0.98)", "ratio")
        ('≥', 0.98)
        >>> bound("0", "requests")
        ('≤', 0.0)
    """
    bare = _BARE.match(target)
    if bare:  # a count that should not be exceeded ("0" errors)
        return "≤", float(bare.group(1).replace(",", ""))
    for match in _BOUND.finditer(target):
        limit = _in_unit(float(match.group(2).replace(",", "")), match.group(3), unit)
        if limit is not None:
            operator = {"<=": "≤", ">=": "≥"}.get(match.group(1), match.group(1))
            return operator, limit
    return None


def verdict(value: float | None, target: str, unit: str) -> str:
    """:data:`MET` or :data:`MISSED` against the figure's target; :data:`NOT_MEASURED` when a target has no
    value; "" when there is no target (or none this table can read)."""
    if not target.strip():
        return ""
    if value is None or not math.isfinite(value):
        return NOT_MEASURED
    rule = bound(target, unit)
    if rule is None:
        return ""
    operator, limit = rule
    ok = {"≤": value <= limit, "≥": value >= limit, "<": value < limit, ">": value > limit,
          "=": value == limit}[operator]
    return MET if ok else MISSED


def notes(figures: Sequence[Figure]) -> str:
    """The figures' notes as a Markdown list under "Notes:" (empty when none has one)."""
    lines = [f"- {f.section} / {f.name}: {f.note}" for f in figures if f.note]
    return "\nNotes:\n" + "\n".join(lines) + "\n" if lines else ""


def to_markdown(report: BenchReport) -> str:
    """The report as the Markdown table the README carries: each figure, its target and whether it is met,
    then the figures' notes."""
    m = report.machine
    lines = [
        f"Model `{report.model_id}`, {report.config.repeats} runs after {report.config.warmup} warm-up "
        f"(medians){' — quick mode' if report.config.quick else ''}; {report.started}.",
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, Python {m.get('python')}, "
        f"llama-cpp-python {m.get('llama_cpp_python', '?')} ({m.get('llama_cpp_features', '')}).",
        "",
        "| section | measure | value | unit | target | verdict |",
        "|---|---|---:|---|---|---|",
    ]
    for f in report.figures:
        lines.append(f"| {f.section} | {f.name} | {fmt(f.value)} | {f.unit} | {f.target} | "
                     f"{verdict(f.value, f.target, f.unit)} |")
    return "\n".join(lines) + "\n" + notes(report.figures)


def ratio(current: float | None, baseline: float | None) -> float:
    """current / baseline; NaN when either is missing or the baseline is zero."""
    if current is None or baseline is None or not (math.isfinite(current) and math.isfinite(baseline)) \
            or baseline == 0:
        return float("nan")
    return current / baseline


def side_by_side(baseline: Sequence[Figure], current: Sequence[Figure]) -> str:
    """Two runs' figures as one Markdown table: baseline, current, current / baseline, the target and the
    current figure's verdict. A figure only one side has shows "—" on the other (the current side's
    order first, then what only the baseline has)."""
    old = {(f.section, f.name): f for f in baseline}
    new = {(f.section, f.name): f for f in current}
    keys = list(new) + [key for key in old if key not in new]
    lines = [
        "| section | measure | unit | baseline | current | current / baseline | target | verdict |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for key in keys:
        b, c = old.get(key), new.get(key)
        shown = c or b
        assert shown is not None
        b_value = b.value if b is not None else None
        c_value = c.value if c is not None else None
        if b is not None and c is not None and b.unit != c.unit:  # not comparable: no ratio
            change = "units differ"
        else:
            change = fmt(ratio(c_value, b_value)) if b is not None and c is not None else "—"
        target = (c.target if c is not None else "") or (b.target if b is not None else "")
        lines.append(
            f"| {key[0]} | {key[1]} | {shown.unit} | {fmt(b_value) if b is not None else '—'} | "
            f"{fmt(c_value) if c is not None else '—'} | {change} | {target} | "
            f"{verdict(c_value, target, shown.unit) if c is not None else ''} |")
    return "\n".join(lines) + "\n"
