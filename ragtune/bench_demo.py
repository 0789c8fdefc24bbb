"""``bench --only demo``: the Lab's four-mode comparison on the demo questions, against the issue's targets.

The measurement itself is :mod:`ragtune.bench_probe`, run in a fresh process on a source tree (this
checkout, or an older ref's worktree for ``--baseline``), so both sides of a comparison are measured by
the same code the same way, and the peak memory is the demo's alone. This module turns the probe's raw
samples into figures, and adds the browser's (:mod:`ragtune.bench_browser`: click → last answer in the
Lab, the app's resident memory).

Figures (section ``demo``): the four-mode comparison (sum of the modes' totals, median over every
comparison; target ≤ 3.0 s) and its wall time; RAG end to end and time to first token, p50 (≤ 1.0 s,
≤ 0.6 s); each mode's total, and its prompt tokens evaluated and taken from the cache per answer; the
process's peak resident memory (≤ 1.5 GB). A mode that failed is counted in the notes, never dropped
silently.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path

from ragtune.bench import BenchConfig, Figure, median
from ragtune.bench_probe import ProbeResult
from ragtune.config import PROJECT_ROOT
from ragtune.errors import RagtuneError

Progress = Callable[[str], None]
PROBE = Path(__file__).with_name("bench_probe.py")
"""The probe script, always this checkout's: it measures the tree on its PYTHONPATH."""

FOUR_MODES = "four-mode comparison: sum of mode totals, median"
RAG_TOTAL = "RAG end to end p50"
RAG_TTFT = "RAG time to first token p50"
MEMORY = "resident memory, model + demo knowledge base + four modes (peak)"
BROWSER_LAST = "browser: click → last answer of four modes, p50"
BROWSER_MEMORY = "app resident memory (peak)"


def side_env(tree: Path, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a side's process runs in: this one's, the side's tree first on the path, ``overrides``."""
    env = {**os.environ, **(overrides or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.pop("PYTHONSAFEPATH", None)
    return env


def run_side(command: list[str], tree: Path, *, env: dict[str, str] | None, progress: Progress,
             what: str) -> None:
    """Run ``command`` (a Python process of the side in ``tree``), passing its progress lines on.

    Raises:
        RagtuneError: it failed; the message names ``what`` and ends with its last lines of output.
    """
    tail: deque[str] = deque(maxlen=8)
    with subprocess.Popen(command, cwd=tree, env=side_env(tree, env), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                progress(line.strip())
        code = process.wait()
    if code != 0:
        raise RagtuneError(f"{what} failed (exit {code}): " + " / ".join(tail))


def run_probe(tree: Path, config: BenchConfig, progress: Progress, *, model_id: str | None = None,
              env: dict[str, str] | None = None, repeats: int | None = None) -> ProbeResult:
    """Measure the tree's Lab comparison in a fresh process (:mod:`ragtune.bench_probe`).

    Raises:
        RagtuneError: the probe failed (the model did not load, the demo documents could not be read...).
    """
    with tempfile.TemporaryDirectory(prefix="ragtune-probe-") as scratch:
        out = Path(scratch) / "probe.json"
        command = [sys.executable, "-P", str(PROBE), "--out", str(out), "--questions", str(config.demo_questions),
                   "--repeats", str(repeats or config.repeats), "--warmup", str(config.warmup)]
        if model_id:
            command += ["--model", model_id]
        run_side(command, tree, env=env, progress=progress, what="The demo measurement")
        return ProbeResult.model_validate_json(out.read_text())


def pooled(results: list[ProbeResult]) -> ProbeResult:
    """Several probe runs of one side as one: their comparisons together, the highest peak memory."""
    first = results[0]
    return first.model_copy(update={
        "comparisons": [c for r in results for c in r.comparisons],
        "repeats": sum(r.repeats for r in results),
        "peak_rss_bytes": max(r.peak_rss_bytes for r in results),
        "load_ms": statistics.median(r.load_ms for r in results),
    })


def demo_figures(result: ProbeResult, *, quick: bool = False) -> list[Figure]:
    """The demo section's figures from a probe's samples (the browser's are added by :func:`bench_demo`)."""
    comparisons = result.comparisons
    answers = [m for c in comparisons for m in c.modes]
    failed = [m for m in answers if m.error]
    n = len(comparisons)
    plural = "s" if result.repeats != 1 else ""
    scope = (f"quick: {len(result.question_ids)} of the 4 demo questions" if quick
             else f"{len(result.question_ids)} demo questions") + f" × {result.repeats} repeat{plural}"
    failures = ""
    if failed:
        reasons = sorted({f"{m.mode}: {m.error.split('. ')[0].rstrip('.')}" for m in failed})  # first sentences
        failures = (f"; {len(failed)} of {len(answers)} mode answers failed (sums cover the modes that answered): "
                    + "; ".join(reasons[:4]))
    sums = [sum(m.total_ms for m in c.modes if not m.error) / 1000 for c in comparisons]
    by_mode = {mode: [m for c in comparisons for m in c.modes if m.mode == mode and not m.error]
               for mode in result.mode_ids}
    rag = by_mode.get("rag", [])
    first_tokens = [c.first_token_ms / 1000 for c in comparisons if c.first_token_ms is not None]
    figures = [
        Figure(section="demo", name=FOUR_MODES, value=median(sums), unit="s", samples=n, target="≤ 3.0 s",
               note=scope + failures),
        Figure(section="demo", name="four-mode comparison: wall time, median", value=median(
            [c.wall_ms / 1000 for c in comparisons]), unit="s", samples=n),
        Figure(section="demo", name="four-mode comparison: first token of the first column, median",
               value=median(first_tokens), unit="s", samples=len(first_tokens)),
        Figure(section="demo", name=RAG_TOTAL, value=median([m.total_ms / 1000 for m in rag]), unit="s",
               samples=len(rag), target="≤ 1.0 s"),
        Figure(section="demo", name=RAG_TTFT, value=median([m.ttft_ms / 1000 for m in rag]), unit="s",
               samples=len(rag), target="≤ 0.6 s"),
    ]
    for mode, samples in by_mode.items():
        k = len(samples)
        figures += [
            Figure(section="demo", name=f"{mode}: total p50", value=median([m.total_ms / 1000 for m in samples]),
                   unit="s", samples=k),
            Figure(section="demo", name=f"{mode}: prompt tokens evaluated per answer, median",
                   value=median([float(m.prompt_tokens - m.cached_prompt_tokens) for m in samples]),
                   unit="tokens", samples=k),
            Figure(section="demo", name=f"{mode}: prompt tokens from the cache per answer, median",
                   value=median([float(m.cached_prompt_tokens) for m in samples]), unit="tokens", samples=k),
        ]
    figures.append(Figure(
        section="demo", name=MEMORY, value=result.peak_rss_bytes / 1e9, unit="GB", samples=1, target="≤ 1.5 GB",
        note=f"model {result.model_id} in process, without the app (the browser figure measures the app)"))
    return figures


def browser_figures(tree: Path, repeats: int, progress: Progress, *, env: dict[str, str] | None = None
                    ) -> list[Figure]:
    """The app's figures in a real browser (:func:`ragtune.bench_browser.measure_browser`); a figure with a
    note, valued NaN, when that measurement is not part of this checkout."""
    try:
        from ragtune.bench_browser import measure_browser  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        return [Figure(section="demo", name=BROWSER_LAST, value=float("nan"), unit="s", target="≤ 4 s",
                       note=f"not available: the browser measurement is not in this checkout ({exc})")]
    return measure_browser(tree, repeats=repeats, progress=progress, env=env)


def bench_demo(config: BenchConfig, progress: Progress, *, tree: Path = PROJECT_ROOT, model_id: str | None = None,
               env: dict[str, str] | None = None) -> list[Figure]:
    """The demo section on ``tree``: the probe's figures, then the browser's (unless ``config.browser`` is off).

    Raises:
        RagtuneError: the probe failed.
    """
    figures = demo_figures(run_probe(tree, config, progress, model_id=model_id, env=env), quick=config.quick)
    if config.browser:
        figures += browser_figures(tree, config.repeats, progress, env=env)
    else:
        progress("demo: the browser figure is skipped (" + ("quick mode" if config.quick else "--no-browser") + ")")
    return figures
