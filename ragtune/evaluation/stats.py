"""The statistics behind the claims report: paired yes/no outcomes and paired numbers, tested exactly.

* Two modes answer the *same* questions (paired). For a yes/no metric the test is McNemar's
  exact test on the questions where they disagree (:func:`paired_proportions`), and the
  difference gets a 95% confidence interval (Agresti-Min, which behaves with small counts).
* For numbers (tokens, milliseconds) the test is an exact sign test (:func:`sign_test`).
* :func:`verdict_better`, :func:`verdict_no_gain`, :func:`verdict_greater` and :func:`combine`
  turn them into a :data:`Verdict`; :func:`percentile` is the latency percentile everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

Verdict = Literal["holds", "does not hold here", "inconclusive"]
HOLDS: Verdict = "holds"
FAILS: Verdict = "does not hold here"
UNSURE: Verdict = "inconclusive"

ALPHA = 0.05
MARGIN = 0.10
Z95 = 1.959964


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linear between closest ranks; None when empty.

    Examples:
        >>> percentile([1, 2, 3, 4], 50)
        2.5
        >>> percentile([10.0], 95)
        10.0
    """
    data = sorted(float(v) for v in values)
    if not data:
        return None
    rank = (len(data) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)



def exact_two_sided_p(k: int, m: int) -> float:
    """Two-sided exact binomial p-value for ``k`` of ``m`` against p = 1/2 (McNemar / sign test).

    Examples:
        >>> exact_two_sided_p(0, 6)
        0.03125
        >>> exact_two_sided_p(0, 0)
        1.0
    """
    if m <= 0:
        return 1.0
    low = min(k, m - k)
    tail = sum(math.comb(m, i) for i in range(low + 1)) / 2**m
    return min(1.0, 2 * tail)


class Paired(BaseModel):
    """Two modes' yes/no outcomes on the same questions."""

    model_config = ConfigDict(frozen=True)

    n: int
    a_rate: float
    b_rate: float
    a_only: int
    b_only: int
    p_value: float
    ci_low: float
    ci_high: float

    @property
    def diff(self) -> float:
        return self.a_rate - self.b_rate


def paired_proportions(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    """Compare paired yes/no outcomes: rates, discordant counts, McNemar p, 95% CI of a - b.

    Examples:
        >>> p = paired_proportions([True] * 8 + [False] * 2, [False] * 10)
        >>> p.a_only, p.b_only, round(p.p_value, 4)
        (8, 0, 0.0078)
    """
    if len(a) != len(b):
        raise ValueError("paired outcomes need the same number of questions")
    n = len(a)
    if n == 0:
        return Paired(n=0, a_rate=0.0, b_rate=0.0, a_only=0, b_only=0, p_value=1.0, ci_low=-1.0, ci_high=1.0)
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    # Agresti-Min: add 1/2 to each of the four cells of the paired table.
    at, bt, nt = a_only + 0.5, b_only + 0.5, n + 2
    diff = (at - bt) / nt
    se = math.sqrt(max((at + bt) - (at - bt) ** 2 / nt, 0.0)) / nt
    return Paired(
        n=n, a_rate=sum(map(bool, a)) / n, b_rate=sum(map(bool, b)) / n, a_only=a_only, b_only=b_only,
        p_value=exact_two_sided_p(a_only, a_only + b_only),
        ci_low=max(-1.0, diff - Z95 * se), ci_high=min(1.0, diff + Z95 * se),
    )


def verdict_better(p: Paired, *, margin: float = MARGIN, alpha: float = ALPHA) -> Verdict:
    """Verdict on "A beats B" from a paired comparison (see the module docstring)."""
    if p.n == 0:
        return UNSURE
    if p.diff > 0 and p.p_value < alpha:
        return HOLDS
    if p.diff < 0 and p.p_value < alpha:
        return FAILS
    if p.ci_high < margin:
        return FAILS
    return UNSURE


def verdict_no_gain(p: Paired, *, margin: float = MARGIN, alpha: float = ALPHA) -> Verdict:
    """Verdict on "A is not meaningfully better than B"."""
    if p.n == 0:
        return UNSURE
    if p.diff > 0 and p.p_value < alpha:
        return FAILS
    if p.ci_high < margin:
        return HOLDS
    return UNSURE


class PairedValues(BaseModel):
    """Two modes' numbers (tokens, milliseconds) on the same questions, with a sign test."""

    model_config = ConfigDict(frozen=True)

    n: int
    a_median: float | None
    b_median: float | None
    a_mean: float | None
    b_mean: float | None
    a_higher: int
    b_higher: int
    p_value: float

    @property
    def ratio(self) -> float | None:
        """Mean of A over mean of B."""
        if self.a_mean is None or not self.b_mean:
            return None
        return self.a_mean / self.b_mean


def sign_test(a: Sequence[float], b: Sequence[float]) -> PairedValues:
    """Paired numbers: medians, means, how often each is higher, exact sign-test p (ties dropped)."""
    if len(a) != len(b):
        raise ValueError("paired values need the same number of questions")
    a_higher = sum(1 for x, y in zip(a, b, strict=True) if x > y)
    b_higher = sum(1 for x, y in zip(a, b, strict=True) if y > x)
    return PairedValues(
        n=len(a), a_median=percentile(a, 50), b_median=percentile(b, 50),
        a_mean=sum(a) / len(a) if a else None, b_mean=sum(b) / len(b) if b else None,
        a_higher=a_higher, b_higher=b_higher, p_value=exact_two_sided_p(a_higher, a_higher + b_higher),
    )


def verdict_greater(v: PairedValues, *, alpha: float = ALPHA) -> Verdict:
    """Verdict on "A's numbers are higher than B's"."""
    if v.n == 0:
        return UNSURE
    if v.a_higher > v.b_higher and v.p_value < alpha:
        return HOLDS
    if v.b_higher > v.a_higher and v.p_value < alpha:
        return FAILS
    return UNSURE


def combine(verdicts: Sequence[Verdict | None]) -> Verdict:
    """All hold -> holds; any does not hold -> does not hold here; else inconclusive."""
    counted = [v for v in verdicts if v is not None]
    if not counted:
        return UNSURE
    if any(v == FAILS for v in counted):
        return FAILS
    if all(v == HOLDS for v in counted):
        return HOLDS
    return UNSURE
