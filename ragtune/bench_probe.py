"""The demo measurement of ``bench --only demo``, runnable against any source tree of ragtune.

``bench --baseline GIT_REF`` runs the same measurement on an older tree, which has no ``demo``
section of its own. So this file is a script as well as a module: run as
``python -P ragtune/bench_probe.py --out F.json`` with ``PYTHONPATH`` set to a tree, it measures
*that* tree's ragtune, importing only what has existed since the release before the speed work
(``load_settings``, ``load_runtime``, ``ragtune.bench._demo_pipeline``, ``ragtune.lab.compare`` and
``LAB_QUESTIONS``, ``ragtune.modes.BUILTIN_MODES``/``DEFAULT_LAB_MODES``, ``demo_eval_set``) and
nothing of the tree this file comes from. It writes raw samples (:class:`ProbeResult`, plain JSON);
:mod:`ragtune.bench_demo` turns them into figures, for either side alike.

What it measures, in one fresh process (so the peak memory is the model's, the demo knowledge
base's and the four modes', nothing else's): one warm-up comparison on a demo question that is not
measured, then ``repeats`` rounds over the Lab's demo questions (each round asks every question once,
so no question follows itself and a cache cannot answer a question with its own previous prompt),
each a four-mode comparison exactly as the Lab runs it, in process.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field


class ModeSample(BaseModel):
    """One mode's answer in one comparison: its timings, or why it failed (``error``)."""

    mode: str
    error: str = ""
    total_ms: float = 0.0
    ttft_ms: float = 0.0
    retrieval_ms: float = 0.0
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""


class ComparisonSample(BaseModel):
    """One four-mode comparison: its wall time, the time to its first streamed token, each mode's answer."""

    question_id: str
    wall_ms: float
    first_token_ms: float | None = Field(default=None, description="None: no mode streamed a token.")
    modes: list[ModeSample]


class ProbeResult(BaseModel):
    """Everything one probe run measured, as raw samples."""

    model_id: str
    mode_ids: list[str]
    question_ids: list[str]
    warmup_question_id: str | None
    repeats: int
    comparisons: list[ComparisonSample]
    peak_rss_bytes: int = Field(description="The process's peak resident memory (VmHWM) after the comparisons.")
    load_ms: float = Field(description="Loading the model and building the demo knowledge base.")


def peak_rss_bytes() -> int:
    """This process's peak resident set size: VmHWM from /proc, else ``ru_maxrss`` (KiB on Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, KiB elsewhere


def timed_comparison(pipeline: object, question_id: str, question: str, modes: list, workspace: str
                     ) -> ComparisonSample:
    """One Lab comparison (:func:`ragtune.lab.compare`, nothing logged), timed from the call to each event."""
    from ragtune.lab import Failed, Finished, Token, compare

    samples: list[ModeSample] = []
    first_token_ms = None
    start = time.perf_counter()
    for event in compare(pipeline, question, modes, workspace, log=None, source="cli"):  # type: ignore[arg-type]
        if isinstance(event, Token) and first_token_ms is None:
            first_token_ms = (time.perf_counter() - start) * 1000
        elif isinstance(event, Finished):
            t = event.answer.timings
            samples.append(ModeSample(
                mode=event.mode.id, total_ms=t.total_ms, ttft_ms=t.ttft_ms, retrieval_ms=t.retrieval_ms,
                prompt_tokens=t.prompt_tokens, cached_prompt_tokens=t.cached_prompt_tokens,
                completion_tokens=t.completion_tokens, finish_reason=str(event.answer.finish_reason)))
        elif isinstance(event, Failed):
            samples.append(ModeSample(mode=event.mode.id, error=event.error))
    return ComparisonSample(question_id=question_id, wall_ms=(time.perf_counter() - start) * 1000,
                            first_token_ms=first_token_ms, modes=samples)


def probe(*, questions: int, repeats: int, warmup: int, model_id: str | None = None,
          progress: Callable[[str], None] = lambda message: None) -> ProbeResult:
    """Load the configured model in process and time the Lab's four-mode comparison on the demo questions.

    Args:
        questions: how many of the Lab's demo questions (1 to 4, in the Lab's order).
        repeats: rounds over those questions.
        warmup: warm-up comparisons first, on a demo question that is not measured.
        model_id: a registry id (None: the configured model).
        progress: called with a line per step.
    """
    from ragtune.bench import _demo_pipeline
    from ragtune.config import load_settings
    from ragtune.evaluation.sets import demo_eval_set
    from ragtune.lab import LAB_QUESTIONS
    from ragtune.modes import BUILTIN_MODES, DEFAULT_LAB_MODES
    from ragtune.runtime import load_runtime

    by_id = {m.id: m for m in BUILTIN_MODES}
    modes = [by_id[m] for m in DEFAULT_LAB_MODES]
    cases = demo_eval_set().cases
    texts = {c.id: c.question for c in cases}
    chosen = [q.eval_id for q in LAB_QUESTIONS if q.eval_id in texts][:questions]
    # The warm-up asks a question that is not measured: a prefix cache must not start warm on a measured one.
    spare = next((c.id for c in cases if c.kind == "answerable" and c.id not in chosen), None)
    settings = load_settings(runtime="inprocess")  # the figure is the in-process engine's, whatever is configured
    start = time.perf_counter()
    progress("demo: loading the model")
    runtime = load_runtime(settings, model_id=model_id)
    try:
        with tempfile.TemporaryDirectory(prefix="ragtune-bench-demo-") as scratch:
            progress("demo: building a scratch copy of the demo knowledge base")
            pipeline, workspace = _demo_pipeline(settings, runtime, Path(scratch))
            load_ms = (time.perf_counter() - start) * 1000
            for i in range(warmup if spare is not None else 0):
                progress(f"demo: warm-up comparison {i + 1}/{warmup}")
                timed_comparison(pipeline, spare or "", texts[spare or ""], modes, workspace)
            comparisons = []
            for round_ in range(repeats):
                for n, question_id in enumerate(chosen):
                    progress(f"demo: round {round_ + 1}/{repeats}, question {n + 1}/{len(chosen)} ({question_id})")
                    comparisons.append(timed_comparison(pipeline, question_id, texts[question_id], modes, workspace))
            model = runtime.model_id
            peak = peak_rss_bytes()
    finally:
        runtime.close()
    return ProbeResult(model_id=model, mode_ids=[m.id for m in modes], question_ids=chosen,
                       warmup_question_id=spare if warmup else None, repeats=repeats, comparisons=comparisons,
                       peak_rss_bytes=peak, load_ms=load_ms)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time the Lab's four-mode comparison on the demo questions.")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write (ProbeResult).")
    parser.add_argument("--questions", type=int, choices=range(1, 5), default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--model", dest="model_id", default=None)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be at least 1 and --warmup at least 0")
    from ragtune.errors import RagtuneError

    try:
        result = probe(questions=args.questions, repeats=args.repeats, warmup=args.warmup, model_id=args.model_id,
                       progress=lambda message: print(f"  {message}", file=sys.stderr, flush=True))
    except RagtuneError as exc:  # the model or the demo documents: said in one line, as the CLI does
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.write_text(result.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
