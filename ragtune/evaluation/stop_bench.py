"""The repetition stop chosen by measurement: loops caught, legitimate text left alone.

:func:`record_answers` answers the demo questions with the loaded model the way it answered
before answers had stops of their own: greedy, up to :data:`RECORD_TOKENS` tokens, ending only at
the chat template's end of turn. It does so in the Playground's way (the question alone, no
system message) and in each pipeline mode asked. :func:`replay` then runs a
:class:`~ragtune.runtime.stops.RepetitionRule` over the recorded text:

* an answer that ran to the cap is a loop or a ramble: how many the rule stops, and after how
  many tokens (the model's own tokenizer);
* an answer that ended by itself is one the rule must not cut (when it does, it is listed: read it);
* for a JSON-asking mode, how many tokens were written after the JSON object closed (what the
  stop at the end of the object saves).

:func:`legit_repetition` measures the other side on text that is certainly legitimate, the
project's own documents, README and code (lists, tables, JSON, repeated lines): the longest
back-to-back repetition in it, and the most copies of a block. The rule's thresholds must sit
above both. ``python -m ragtune stop-bench`` prints all of it with the model's answer caps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from ragtune.config import PROJECT_ROOT
from ragtune.errors import InputError
from ragtune.evaluation.sets import EvalCase
from ragtune.modes import Mode
from ragtune.runtime.base import ChatMessage, GenerationOptions
from ragtune.runtime.stops import JsonObjectEnd, RepetitionDetector, RepetitionRule

if TYPE_CHECKING:
    from ragtune.pipeline import Pipeline

RECORD_TOKENS = 256
"""The cap the answers are recorded with: the single cap every answer had before (RAGTUNE_MAX_TOKENS)."""
PLAYGROUND = "playground"
"""The pseudo-mode of the Playground: the question alone, sent to the model with nothing around it."""


class Recorded(BaseModel):
    """One recorded answer."""

    model_config = ConfigDict(frozen=True)

    mode: str
    case_id: str
    text: str
    finish_reason: str
    completion_tokens: int
    json_asked: bool = False


class ModeReplay(BaseModel):
    """A rule replayed over one mode's recorded answers."""

    mode: str
    answers: int
    ran_to_cap: int
    stopped: int
    tokens_at_stop: list[int]
    ended_alone: int
    cut: list[str]
    after_json_tokens: int | None


class LegitRepetition(BaseModel):
    """Repetition in text that is certainly legitimate."""

    files: int
    longest_units: int
    longest_in: str
    most_copies: int
    most_copies_in: str
    stopped: list[str]


def check_recordable(mode: Mode) -> None:
    """Refuse a mode whose answers the bench cannot record: a routing mode answers through a route
    chosen by its classifier (recording its own prompt with the router adapter would measure nothing
    a user ever gets); record the modes it routes to instead.

    Raises:
        InputError: a routing mode.
    """
    if mode.router is not None:
        targets = ", ".join(r.mode_id for r in mode.router.routes if r.mode_id) or "the modes it routes to"
        raise InputError(f"Mode '{mode.id}' routes each question to another mode; stop-bench records what a "
                         f"mode answers itself. Record {targets} instead.")


def record_answers(pipeline: Pipeline, cases: Sequence[EvalCase], modes: Sequence[Mode | str],
                   workspace: str | None, *, on_progress: Callable[[str], None] | None = None) -> list[Recorded]:
    """Each question in each mode (or :data:`PLAYGROUND`), with no stop but the end of turn.

    Raises:
        InputError: a routing mode (:func:`check_recordable`).
        RagtuneError: a mode cannot run here (missing adapter or workspace).
    """
    for mode in modes:
        if not isinstance(mode, str):
            check_recordable(mode)
    runtime, settings = pipeline.runtime, pipeline.settings
    plain = GenerationOptions(max_tokens=RECORD_TOKENS, temperature=0.0, seed=settings.seed)
    rows: list[Recorded] = []
    for mode in modes:
        mode_id = mode if isinstance(mode, str) else mode.id
        for i, case in enumerate(cases, start=1):
            if on_progress:
                on_progress(f"{mode_id}: {i}/{len(cases)}")
            if isinstance(mode, str):
                result = runtime.chat([ChatMessage(role="user", content=case.question)], options=plain)
                json_asked = False
            else:
                prepared = pipeline.prepare(case.question, mode, workspace)
                options = prepared.options.model_copy(update={
                    "max_tokens": RECORD_TOKENS, "repetition": None, "stop_at_json_end": False})
                result = runtime.chat(prepared.messages, adapters=prepared.adapters, options=options)
                json_asked = mode.expects_json
            rows.append(Recorded(mode=mode_id, case_id=case.id, text=result.text, finish_reason=result.finish_reason,
                                 completion_tokens=result.timings.completion_tokens, json_asked=json_asked))
    return rows


def replay(rows: Sequence[Recorded], rule: RepetitionRule, count_tokens: Callable[[str], int]) -> list[ModeReplay]:
    """The rule over the recorded answers, mode by mode."""
    out = []
    for mode in dict.fromkeys(r.mode for r in rows):
        mine = [r for r in rows if r.mode == mode]
        tokens_at_stop, cut, after_json = [], [], 0
        for r in mine:
            end = RepetitionDetector(rule).feed(r.text, final=True)
            if end is not None and r.finish_reason == "length":
                tokens_at_stop.append(count_tokens(r.text[:end]))
            elif end is not None:
                cut.append(r.case_id)
            closed = JsonObjectEnd().feed(r.text) if r.json_asked else None
            if closed is not None and r.text[closed:].strip():
                after_json += count_tokens(r.text[closed:])
        out.append(ModeReplay(
            mode=mode, answers=len(mine), ran_to_cap=sum(r.finish_reason == "length" for r in mine),
            stopped=len(tokens_at_stop), tokens_at_stop=sorted(tokens_at_stop),
            ended_alone=sum(r.finish_reason != "length" for r in mine), cut=cut,
            after_json_tokens=after_json if any(r.json_asked for r in mine) else None,
        ))
    return out


def legit_files(root: Path = PROJECT_ROOT) -> list[Path]:
    """Text that is certainly not a loop: the demo and held-out documents, the README, the code."""
    patterns = ("data/kb/*.md", "data/kb_v2/*.md", "data/heldout/docs/*", "README.md", "ragtune/**/*.py",
                "components/*.py", "app_pages/*.py", "tests/*.py")
    return sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()})


def _largest(fires: Callable[[int], bool], low: int, high: int) -> int:
    """The largest threshold in [low, high] at which ``fires`` (monotone: true, then false) is true; low - 1 if none."""
    if not fires(low):
        return low - 1
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fires(mid) else (low, mid - 1)
    return low


def legit_repetition(rule: RepetitionRule, files: Sequence[Path] | None = None) -> LegitRepetition:
    """How much legitimate text repeats itself, and whether ``rule`` would stop any of it."""
    files = list(files if files is not None else legit_files())
    texts = {str(p.relative_to(PROJECT_ROOT) if p.is_relative_to(PROJECT_ROOT) else p):
             p.read_text(encoding="utf-8", errors="replace") for p in files}
    only_long = rule.model_copy(update={"many_copies": 100, "word_loop_chars": 1000})
    longest, longest_in, most, most_in = 0, "", 0, ""
    for name, text in texts.items():
        units = _largest(lambda n: RepetitionDetector(only_long.model_copy(update={"min_units": n}))  # noqa: B023
                         .feed(text, final=True) is not None, 4, 1000)
        copies = _largest(lambda n: RepetitionDetector(only_long.model_copy(update={  # noqa: B023
            "min_units": 1000, "many_copies": n, "many_copies_units": 12})).feed(text, final=True) is not None, 2, 100)
        if units > longest:
            longest, longest_in = units, name
        if copies > most:
            most, most_in = copies, name
    stopped = [name for name, text in texts.items() if RepetitionDetector(rule).feed(text, final=True) is not None]
    return LegitRepetition(files=len(texts), longest_units=longest, longest_in=longest_in, most_copies=most,
                           most_copies_in=most_in, stopped=stopped)


def replay_table(replays: Sequence[ModeReplay]) -> str:
    """The replay as a Markdown table."""
    lines = ["| mode | answers | ran to the cap | stopped by the rule (tokens at the stop: median, max) | "
             "ended by themselves | of those, cut by the rule | tokens written after the JSON object |",
             "|---|---|---|---|---|---|---|"]
    for r in replays:
        at = f" ({median(r.tokens_at_stop):.0f}, {max(r.tokens_at_stop)})" if r.tokens_at_stop else ""
        after = "–" if r.after_json_tokens is None else f"{r.after_json_tokens:,}"
        lines.append(f"| {r.mode} | {r.answers} | {r.ran_to_cap} | {r.stopped}{at} | {r.ended_alone} | "
                     f"{len(r.cut)}{' (' + ', '.join(r.cut) + ')' if r.cut else ''} | {after} |")
    return "\n".join(lines)


def save_rows(rows: Sequence[Recorded], path: Path) -> None:
    """The recorded answers as JSON Lines (replay them later with other rules: ``--load``)."""
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8")


def load_rows(path: Path) -> list[Recorded]:
    """Recorded answers saved by :func:`save_rows`.

    Raises:
        InputError: the file is not such a recording.
    """
    try:
        return [Recorded.model_validate(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a stop-bench recording (JSON Lines written with --save): {exc}") from exc
