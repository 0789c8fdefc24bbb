"""``python -m ragtune bench --runtime server``: the model server against the model in this process.

Three sections, each measured on both runtimes in the same run (same model, same prompts), so the
machine's load affects both alike:

- **overhead**: one request alone, the prompt evaluated whole on both sides (``reset_cache``: the
  server gets ``cache_prompt: false``): the server's wall time over the in-process one (target
  ≤ 1.10);
- **sessions**: 1, 4 and 8 sessions asking at once, each sending its requests back to back (short
  RAG-like prompts, each with its own context as retrievals give, 40-token answers): throughput (answers per second over the whole run) and the
  p50 / p95 latency of one request, in process (the sessions queue on the model's lock) vs the
  server (its ``--parallel`` slots); at 8 sessions the server's throughput should be at least twice
  the lock's, with no errors;
- **lab**: the four-mode Lab comparison (:data:`ragtune.modes.DEFAULT_LAB_MODES`) on the demo
  questions, on a scratch copy of the demo documents: in process (one mode after another), and on the
  server with the modes one after another and at once (:func:`ragtune.lab.compare`).

The server is the one at ``--server-url``, or one this command starts with ``make serve-model`` on a
free loopback port (:func:`model_server`) and stops at the end. The arithmetic of every figure is in
small functions (:func:`session_figures`, :func:`ratio`) the tests check on given numbers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from ragtune.bench import BenchReport, Figure, machine_info, median, p95
from ragtune.config import PROJECT_ROOT, Settings
from ragtune.errors import RagtuneError, RuntimeBackendError
from ragtune.runtime import ChatMessage, GenerationOptions, Runtime

Progress = Callable[[str], None]
ServerSection = Literal["overhead", "sessions", "lab"]
SERVER_SECTIONS: dict[str, str] = {
    "overhead": "One request: the model server vs the model in this process (cache off)",
    "sessions": "Concurrent sessions: in process (one lock) vs the model server (its slots)",
    "lab": "The four-mode Lab comparison: one mode after another vs at once",
}


class ServerBenchConfig(BaseModel):
    """What the server benchmark measures and how often."""

    quick: bool = Field(default=False, description="Few repeats and requests (for CI).")
    repeats: int = Field(default=7, ge=1, le=100, description="Samples of the one-request overhead.")
    warmup: int = Field(default=1, ge=0, le=10)
    max_tokens: int = Field(default=40, ge=4, le=1024, description="Answer length of the overhead and sessions "
                            "requests (greedy, to the limit or the end of the answer).")
    sessions: list[Annotated[int, Field(ge=1, le=64)]] = Field(default_factory=lambda: [1, 4, 8], min_length=1,
                                                               max_length=8)
    requests_per_session: int = Field(default=4, ge=1, le=100)
    lab_questions: int = Field(default=4, ge=1, le=4, description="Demo questions the Lab comparison asks.")
    sections: list[ServerSection] = Field(default_factory=lambda: ["overhead", "sessions", "lab"], min_length=1)
    server_url: str | None = Field(default=None, description="The server measured (None: one started here).")
    parallel: int | None = Field(default=None, description="The server's slots, as it reports them.")

    @classmethod
    def quick_config(cls, **overrides: object) -> ServerBenchConfig:
        values: dict[str, object] = dict(quick=True, repeats=2, warmup=1, max_tokens=16, requests_per_session=1,
                                         lab_questions=1)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


class ServerBenchReport(BenchReport):
    """A server benchmark's figures (its configuration holds the server measured and its slots)."""

    config: ServerBenchConfig  # type: ignore[assignment]


def server_markdown(report: ServerBenchReport) -> str:
    """The report as the README's table (with its notes), after a line naming the server and its slots."""
    from ragtune.bench import to_markdown

    c = report.config
    slots = f"{c.parallel} slots" if c.parallel else "slots not reported"
    requests = f"{c.requests_per_session} request{'s' if c.requests_per_session > 1 else ''}"
    return (f"Model server {c.server_url or '?'} ({slots}) vs the model in this process; each session sends "
            f"{requests} back to back, answers up to {c.max_tokens} tokens.\n" + to_markdown(report))


# -- the arithmetic ----------------------------------------------------------------------------


class SessionRun(BaseModel):
    """``sessions`` sessions asking at once: each answered request's latency, the errors, the run's wall time."""

    sessions: int
    latencies_ms: list[float]
    errors: list[str] = Field(default_factory=list)
    wall_s: float

    @property
    def throughput(self) -> float:
        """Answered requests per second over the whole run (failed ones do not count)."""
        return len(self.latencies_ms) / self.wall_s if self.wall_s > 0 else float("nan")


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN (shown ``n/a``) when the denominator is 0 or either is NaN.

    Examples:
        >>> ratio(3.0, 2.0), ratio(1.0, 0.0) != ratio(1.0, 0.0)
        (1.5, True)
    """
    if denominator == 0 or numerator != numerator or denominator != denominator:
        return float("nan")
    return numerator / denominator


def session_figures(run: SessionRun, backend: str) -> list[Figure]:
    """Throughput, p50 and p95 latency, and errors of one run (``backend``: e.g. ``server``)."""
    n, label = len(run.latencies_ms), f"{backend}, {run.sessions} session{'s' if run.sessions > 1 else ''}"
    note = f"first error: {run.errors[0]}" if run.errors else ""
    return [
        Figure(section="sessions", name=f"{label}: throughput", value=run.throughput, unit="answers/s", samples=n),
        Figure(section="sessions", name=f"{label}: latency p50", value=median(run.latencies_ms), unit="ms", samples=n),
        Figure(section="sessions", name=f"{label}: latency p95", value=p95(run.latencies_ms), unit="ms", samples=n),
        Figure(section="sessions", name=f"{label}: errors", value=float(len(run.errors)), unit="requests",
               samples=n + len(run.errors), target="0", note=note),
    ]


def throughput_ratio(server: SessionRun, inprocess: SessionRun) -> Figure:
    """The server's throughput over the in-process lock's at the same number of sessions (target ≥ 2 at 8)."""
    sessions = f"{server.sessions} session{'s' if server.sessions > 1 else ''}"
    return Figure(section="sessions", name=f"server / in process throughput, {sessions}",
                  value=ratio(server.throughput, inprocess.throughput), unit="ratio",
                  samples=len(server.latencies_ms), target="≥ 2" if server.sessions >= 8 else "")


# -- measuring ---------------------------------------------------------------------------------

_FACTS = (
    "The Gull-3 warehouse robot carries 40 kg and runs 9 hours per charge.",
    "Returns are accepted within 30 days with the receipt; refunds take 5 business days.",
    "The Poolpilot P1 pool robot costs $1,249 and cleans pools up to 12 m long.",
    "Support answers within one business day; urgent tickets within 4 hours.",
    "The Mowbot M4 Pro mows 1,200 square metres per charge and climbs slopes of 35%.",
    "Shipping is free above $500; express delivery costs $25 and takes two days.",
    "Every Tidewell robot has a two-year warranty on parts and labour.",
    "Firmware updates install overnight when the robot is docked and charged.",
)
_QUESTIONS = (
    "How long does the Gull-3 run per charge?", "How many days do I have to return a product?",
    "How much is the Poolpilot P1?", "How fast does support answer an urgent ticket?",
    "How much can the Mowbot M4 Pro mow per charge?", "How much does express delivery cost?",
    "How long is the warranty?", "When do firmware updates install?",
)


def session_prompts() -> list[list[ChatMessage]]:
    """Short RAG-like prompts, one per question: the system message, three numbered facts (the one that
    answers first, as retrieval ranks it; a different set per question, so prompts share only the system
    message, as real retrievals do), the question."""
    system = ChatMessage(role="system", content="Answer from the numbered context only, briefly, citing [n].")
    prompts = []
    for i, question in enumerate(_QUESTIONS):
        facts = [_FACTS[(i + step) % len(_FACTS)] for step in (0, 3, 5)]
        context = "\n".join(f"[{n}] {fact}" for n, fact in enumerate(facts, start=1))
        prompts.append([system, ChatMessage(role="user", content=f"Context:\n{context}\n\nQuestion: {question}")])
    return prompts


def run_sessions(runtime: Runtime, prompts: Sequence[list[ChatMessage]], *, sessions: int, requests: int,
                 options: GenerationOptions) -> SessionRun:
    """``sessions`` threads, released together, each sending ``requests`` requests back to back (session
    ``s`` starts at prompt ``s``, so they do not all ask the same thing at once)."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_line = threading.Barrier(sessions + 1)

    def session(index: int) -> None:
        start_line.wait()
        for r in range(requests):
            messages = prompts[(index + r) % len(prompts)]
            start = time.perf_counter()
            try:
                runtime.chat(messages, options=options)
            except RagtuneError as exc:
                with lock:
                    errors.append(str(exc))
                continue
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=session, args=(i,), name=f"bench-session-{i}", daemon=True)
               for i in range(sessions)]
    for thread in threads:
        thread.start()
    start_line.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return SessionRun(sessions=sessions, latencies_ms=latencies, errors=errors, wall_s=time.perf_counter() - start)


def bench_overhead(inprocess: Runtime, server: Runtime, config: ServerBenchConfig, progress: Progress) -> list[Figure]:
    """One request alone on each runtime, the prompt evaluated whole (the order alternates per sample)."""
    prompt = session_prompts()[0]
    options = GenerationOptions(max_tokens=config.max_tokens, temperature=0.0)
    times: dict[str, list[float]] = {"inprocess": [], "server": []}
    cached: list[int] = []
    for i in range(config.warmup + config.repeats):
        progress(f"overhead: sample {i + 1}/{config.warmup + config.repeats}")
        order = [("inprocess", inprocess), ("server", server)]
        for name, runtime in order if i % 2 == 0 else order[::-1]:
            runtime.reset_cache()  # the whole prompt evaluated: no prefix reuse on either side
            start = time.perf_counter()
            result = runtime.chat(prompt, options=options)
            if i >= config.warmup:
                times[name].append((time.perf_counter() - start) * 1000)
                if name == "server":
                    cached.append(result.timings.cached_prompt_tokens)
    note = f"the server reused {max(cached)} cached prompt tokens" if cached and max(cached) else ""
    ours, theirs = median(times["inprocess"]), median(times["server"])
    n = config.repeats
    return [
        Figure(section="overhead", name="in process, one request (cache off)", value=ours, unit="ms", samples=n),
        Figure(section="overhead", name="server, one request (cache off)", value=theirs, unit="ms", samples=n,
               note=note),
        Figure(section="overhead", name="server / in process", value=ratio(theirs, ours), unit="ratio", samples=n,
               target="≤ 1.10"),
    ]


def bench_sessions(inprocess: Runtime, server: Runtime, config: ServerBenchConfig, progress: Progress) -> list[Figure]:
    """Throughput and latency at each number of sessions, in process (lock) then on the server."""
    prompts = session_prompts()
    options = GenerationOptions(max_tokens=config.max_tokens, temperature=0.0)
    figures: list[Figure] = []
    for sessions in config.sessions:
        runs = {}
        for name, runtime in (("in process (lock)", inprocess), ("server", server)):
            progress(f"sessions: {sessions} at once, {name}")
            runtime.reset_cache()  # no run starts with the previous run's last prompt cached
            runs[name] = run_sessions(runtime, prompts, sessions=sessions, requests=config.requests_per_session,
                                      options=options)
            figures += session_figures(runs[name], name)
        figures.append(throughput_ratio(runs["server"], runs["in process (lock)"]))
    return figures


def timed_comparison(pipeline: object, question: str, modes: Sequence[object], workspace: str,
                     *, concurrent: bool) -> tuple[float, int]:
    """One Lab comparison to the end: (wall seconds, modes that failed)."""
    from ragtune.lab import Failed, compare

    start = time.perf_counter()
    failed = sum(isinstance(e, Failed) for e in compare(pipeline, question, modes, workspace,  # type: ignore[arg-type]
                                                           log=None, source="cli", concurrent=concurrent))
    return time.perf_counter() - start, failed


def bench_lab(settings: Settings, inprocess: Runtime, server: Runtime, config: ServerBenchConfig,
              progress: Progress) -> list[Figure]:
    """The four-mode comparison on the demo questions: in process in turn, on the server in turn and at once."""
    import tempfile

    from ragtune.bench import _demo_pipeline
    from ragtune.evaluation.sets import demo_eval_set
    from ragtune.lab import LAB_QUESTIONS
    from ragtune.modes import BUILTIN_MODES, DEFAULT_LAB_MODES
    from ragtune.pipeline import Pipeline

    by_id = {m.id: m for m in BUILTIN_MODES}
    modes = [by_id[m] for m in DEFAULT_LAB_MODES]
    cases = {c.id: c.question for c in demo_eval_set().cases}
    questions = [cases[q.eval_id] for q in LAB_QUESTIONS][: config.lab_questions]
    runs: dict[str, list[float]] = {"inprocess": [], "sequential": [], "concurrent": []}
    failed: dict[str, int] = {name: 0 for name in runs}
    with tempfile.TemporaryDirectory(prefix="ragtune-bench-") as scratch:
        progress("lab: building a scratch copy of the demo knowledge base")
        local, workspace = _demo_pipeline(settings, inprocess, Path(scratch))
        remote = Pipeline(server, local.kb, local.catalog, local.settings, local.economics)
        plans = {"inprocess": (local, False), "sequential": (remote, False), "concurrent": (remote, True)}
        for name, (pipeline, concurrent) in plans.items() if config.warmup else ():
            progress(f"lab: warm-up, {name}")  # the first retrieval and the first prompts are slower
            timed_comparison(pipeline, questions[0], modes, workspace, concurrent=concurrent)
        for i, question in enumerate(questions):
            order = list(plans) if i % 2 == 0 else list(plans)[::-1]  # neither side always goes first
            for name in order:
                progress(f"lab: question {i + 1}/{len(questions)}, {name}")
                pipeline, concurrent = plans[name]
                pipeline.runtime.reset_cache()  # no side reuses the prompts another just evaluated
                seconds, errors = timed_comparison(pipeline, question, modes, workspace, concurrent=concurrent)
                runs[name].append(seconds)
                failed[name] += errors
    n = len(questions)
    note = {name: f"{failed[name]} of {n * len(modes)} mode answers failed" if failed[name] else "" for name in runs}
    return [
        Figure(section="lab", name="four modes in process, one after another", value=median(runs["inprocess"]),
               unit="s", samples=n, note=note["inprocess"]),
        Figure(section="lab", name="four modes on the server, one after another", value=median(runs["sequential"]),
               unit="s", samples=n, note=note["sequential"]),
        Figure(section="lab", name="four modes on the server, at once", value=median(runs["concurrent"]), unit="s",
               samples=n, note=note["concurrent"]),
        Figure(section="lab", name="server: at once / one after another",
               value=ratio(median(runs["concurrent"]), median(runs["sequential"])), unit="ratio", samples=n),
    ]


def run_server_bench(settings: Settings, inprocess: Runtime, server: Runtime, config: ServerBenchConfig, *,
                     progress: Progress | None = None) -> ServerBenchReport:
    """Run the chosen sections on both runtimes (the same model) and collect the figures."""
    say = progress or (lambda message: None)
    started, start = datetime.now(UTC), time.perf_counter()
    status = server.backend_status()
    if not status.healthy:
        raise RuntimeBackendError(f"The model server {status.url} does not answer: {status.error}")
    if status.model_matches is False:
        raise RuntimeBackendError(f"The model server {status.url} serves {status.model}, not {inprocess.model_id}: "
                                  "the figures compare one model on both sides. Start it with the same model "
                                  "(RAGTUNE_MODEL), or choose that model with --model.")
    config = config.model_copy(update={"parallel": status.slots_total, "server_url": status.url})
    figures: list[Figure] = []
    if "overhead" in config.sections:
        figures += bench_overhead(inprocess, server, config, say)
    if "sessions" in config.sections:
        figures += bench_sessions(inprocess, server, config, say)
    if "lab" in config.sections:
        figures += bench_lab(settings, inprocess, server, config, say)
    return ServerBenchReport(machine=machine_info(), model_id=inprocess.model_id, config=config, figures=figures,
                             started=started.isoformat(timespec="seconds"),
                             seconds=round(time.perf_counter() - start, 1))


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes] | None, *, limit_s: float, log: Path | None,
                 progress: Progress) -> None:
    """Wait until ``url/health`` answers 200 (llama-server: the model is loaded).

    Raises:
        RuntimeBackendError: the process ended, or ``limit_s`` passed (the message ends with the log's tail).
    """
    import httpx

    start = time.monotonic()
    said = start
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeBackendError(f"The model server stopped before it was ready (exit {process.returncode})."
                                      + _tail(log))
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        now = time.monotonic()
        if now - start > limit_s:
            raise RuntimeBackendError(f"The model server at {url} was not ready after {limit_s:.0f} s." + _tail(log))
        if now - said >= 30:
            said = now
            progress(f"waiting for the model server ({now - start:.0f} s; the first start builds llama-server, "
                     f"several minutes{f'; log: {log}' if log else ''})")
        time.sleep(0.5)


def _tail(log: Path | None, chars: int = 2000) -> str:
    if log is None or not log.is_file():
        return ""
    return f" The end of its log ({log}):\n" + log.read_text(errors="replace")[-chars:]


@contextmanager
def model_server(settings: Settings, *, model_id: str | None, progress: Progress,
                 start_limit_s: float = 3600.0) -> Iterator[str]:
    """Start ``make serve-model`` on a free loopback port (the configured model and adapters, the API key
    if set, ``RAGTUNE_SERVER_PARALLEL`` slots), wait until it is ready, yield its URL, stop it at the end.

    Raises:
        RuntimeBackendError: it could not start (the message ends with its log).
    """
    port = free_port()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log = settings.ensure_data_dir() / "bench" / f"llama-server-{stamp}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **({"RAGTUNE_MODEL": model_id} if model_id else {})}
    command = ["make", "--no-print-directory", "serve-model", "SERVER_HOST=127.0.0.1", f"SERVER_PORT={port}"]
    progress(f"starting the model server: {' '.join(command)} (log: {log})")
    with log.open("ab") as out:
        try:  # its own process group: make, and the llama-server it starts, stop together
            process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        except OSError as exc:
            raise RuntimeBackendError(f"Could not run `make serve-model` ({exc}). Start a model server yourself "
                                      "and pass --server-url.") from exc
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, limit_s=start_limit_s, log=log, progress=progress)
        yield url
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and every process of its group: SIGTERM, then SIGKILL after 20 s; reaped either way."""
    for sig, wait_s in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
    process.poll()