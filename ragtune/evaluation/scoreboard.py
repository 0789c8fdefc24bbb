"""The scoreboard: one row of metrics per mode over a run's scored results, and its formatting."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.stats import percentile


class ModeScore(BaseModel):
    """One row of the scoreboard: a mode's metrics over a run's items (rates in 0..1)."""

    model_config = ConfigDict(frozen=True)

    mode_id: str
    mode_label: str
    n: int
    correct: float | None
    format_valid: float | None
    json_valid: float | None
    usable: float | None = Field(description="Correct and valid.")
    abstain_recall: float | None = Field(description="Abstained on the cases to abstain on.")
    false_abstain: float | None = Field(description="Abstained although a document had the answer.")
    citation_precision: float | None
    citation_recall: float | None
    stale: float | None = Field(description="Gave the old fact on version-2 items of changed cases.")
    p50_ms: float | None
    p95_ms: float | None
    ttft_p50_ms: float | None
    prompt_tokens: float | None
    completion_tokens: float | None
    local_usd: float | None = Field(description="Mean local compute cost per query.")
    api_usd: float | None = Field(description="Mean API-equivalent cost per query.")
    errors: int


def _mean(values: Iterable[float | None]) -> float | None:
    data = [float(v) for v in values if v is not None]
    return sum(data) / len(data) if data else None


def _rate(flags: Iterable[bool | None]) -> float | None:
    data = [bool(f) for f in flags if f is not None]
    return sum(data) / len(data) if data else None


def mode_score(results: Sequence[EvalResult]) -> ModeScore:
    """Aggregate one mode's results."""
    first = results[0]
    answerable = [r for r in results if not r.should_abstain]
    to_abstain = [r for r in results if r.should_abstain]
    latencies = [r.total_ms for r in results if not r.error]
    return ModeScore(
        mode_id=first.mode_id, mode_label=first.mode_label, n=len(results),
        correct=_rate(r.correct for r in results),
        format_valid=_rate(r.format_valid for r in results),
        json_valid=_rate(r.json_valid for r in results),
        usable=_rate(r.usable for r in results),
        abstain_recall=_rate(r.abstained for r in to_abstain),
        false_abstain=_rate(r.abstained for r in answerable),
        citation_precision=_mean(r.citation_precision for r in results),
        citation_recall=_mean(r.citation_recall for r in results),
        stale=_rate(r.stale for r in results),
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95),
        ttft_p50_ms=percentile([r.ttft_ms for r in results if not r.error], 50),
        prompt_tokens=_mean(r.prompt_tokens for r in results if not r.error),
        completion_tokens=_mean(r.completion_tokens for r in results if not r.error),
        local_usd=_mean(r.local_usd for r in results if not r.error),
        api_usd=_mean(r.api_usd for r in results if not r.error),
        errors=sum(1 for r in results if r.error),
    )


def scoreboard(results: Sequence[EvalResult]) -> list[ModeScore]:
    """One :class:`ModeScore` per mode, in the order the modes first appear."""
    by_mode: dict[str, list[EvalResult]] = {}
    for result in results:
        by_mode.setdefault(result.mode_id, []).append(result)
    return [mode_score(rows) for rows in by_mode.values()]


SCOREBOARD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # field, header, format: pct | ms | num | usd | int
    ("n", "n", "int"),
    ("correct", "correct", "pct"),
    ("format_valid", "valid", "pct"),
    ("usable", "correct+valid", "pct"),
    ("abstain_recall", "abstain", "pct"),
    ("false_abstain", "false abstain", "pct"),
    ("citation_precision", "cite P", "pct"),
    ("citation_recall", "cite R", "pct"),
    ("stale", "stale", "pct"),
    ("p50_ms", "p50 ms", "ms"),
    ("p95_ms", "p95 ms", "ms"),
    ("ttft_p50_ms", "TTFT ms", "ms"),
    ("prompt_tokens", "prompt tok", "num"),
    ("completion_tokens", "answer tok", "num"),
    ("local_usd", "local $/q", "usd"),
    ("api_usd", "API $/q", "usd"),
)


def format_value(value: Any, kind: str) -> str:
    """A scoreboard cell as text ("–" when the metric does not apply)."""
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.0f}%"
    if kind == "ms":
        return f"{value:,.0f}"
    if kind == "num":
        return f"{value:,.1f}"
    if kind == "usd":
        return f"{value:.2e}"
    return str(value)


def scoreboard_markdown(scores: Sequence[ModeScore]) -> str:
    """The scoreboard as a Markdown table (modes as rows)."""
    header = ["mode", *(h for _, h, _ in SCOREBOARD_COLUMNS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for score in scores:
        cells = [score.mode_id, *(format_value(getattr(score, f), k) for f, _, k in SCOREBOARD_COLUMNS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
