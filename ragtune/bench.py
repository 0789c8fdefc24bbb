"""``python -m ragtune bench``: how fast ragtune is, measured against the engine it runs on.

Every figure is a median over repeated runs after a warm-up, and every comparison is a
ratio of two figures measured in the same run, on the same loaded model, so the
machine's load affects both sides alike. The result is a Markdown table (for the
README) and a JSON file under the data directory.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ragtune.bench_table import to_markdown  # noqa: F401 - the report's table, where callers look for it
from ragtune.config import Settings
from ragtune.errors import RagtuneError
from ragtune.runtime import AdapterUse, ChatMessage, GenerationOptions, Runtime

Progress = Callable[[str], None]


class BenchConfig(BaseModel):
    """What to measure and how often."""

    quick: bool = Field(default=False, description="Few repeats and small corpora (for CI).")
    repeats: int = Field(default=7, ge=1, le=100)
    warmup: int = Field(default=1, ge=0, le=10)
    max_tokens: int = Field(default=64, ge=4, le=1024)
    adapter: Path | None = Field(default=None, description="Adapter for the overhead figures.")
    corpus_sizes: list[int] = Field(default_factory=lambda: [1000, 10000])
    search_queries: int = Field(default=50, ge=1, le=1000)
    sections: list[Literal["runtime", "adapter", "switch", "rag", "tax", "engine", "demo", "retrieval"]] = Field(
        default_factory=lambda: ["runtime", "adapter", "switch", "rag", "tax", "engine", "demo", "retrieval"],
        description="Which sections to run ('rag' and 'tax' run together).",
    )
    demo_questions: int = Field(default=4, ge=1, le=4, description="The Lab's demo questions the demo section asks.")
    browser: bool = Field(default=True, description="The demo section's browser figure (starts the app).")

    @classmethod
    def quick_config(cls, **overrides: Any) -> BenchConfig:
        values: dict[str, Any] = dict(
            quick=True, repeats=3, warmup=1, max_tokens=16, corpus_sizes=[50, 150], search_queries=10,
            demo_questions=1, browser=False,
        )
        values.update(overrides)
        return cls(**values)


class Figure(BaseModel):
    """One measured number (a median), or a ratio of two measured in the same run."""

    section: str
    name: str
    value: float
    unit: str
    samples: int = 1
    target: str = ""
    note: str = ""


class BenchReport(BaseModel):
    machine: dict[str, Any]
    model_id: str
    config: BenchConfig
    figures: list[Figure]
    started: str
    seconds: float

    def figure(self, section: str, name: str) -> Figure:
        for figure in self.figures:
            if figure.section == section and figure.name == name:
                return figure
        raise KeyError(f"{section}/{name}")


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))])


def machine_info() -> dict[str, Any]:
    """The machine a report came from: CPU, cores, memory, Python, llama.cpp build."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }
    try:
        import llama_cpp

        info["llama_cpp_python"] = llama_cpp.__version__
        features = llama_cpp.llama_print_system_info().decode(errors="replace")
        info["llama_cpp_features"] = " ".join(
            part.strip() for part in features.split("|") if part.strip().endswith("= 1")
        )
    except Exception:  # the figures still stand without the build description
        pass
    return info


# A question with a prompt long enough for a stable prompt-eval figure.
_CONTEXT = (
    "Tidewell Robotics sells warehouse robots. The Gull-3 carries 40 kg and runs 9 hours per charge. "
    "Returns are accepted within 30 days with the receipt. Support answers within one business day. "
)
_PROMPT = [
    ChatMessage(role="system", content="You are a helpful assistant. Answer briefly."),
    ChatMessage(role="user", content=_CONTEXT * 6 + "\nHow long does the Gull-3 run per charge?"),
]


def _timed(runtime: Runtime, *, adapters: list[AdapterUse], options: GenerationOptions) -> Any:
    runtime.reset_cache()  # every sample evaluates the whole prompt: no prefix reuse
    return runtime.chat(_PROMPT, adapters=adapters, options=options)


def bench_runtime_vs_raw(runtime: Runtime, config: BenchConfig, progress: Progress) -> list[Figure]:
    """ragtune's runtime vs llama-cpp-python's own chat completion on the same Llama object."""
    llm = getattr(runtime, "_llm", None)
    if llm is None:
        return []
    options = GenerationOptions(max_tokens=config.max_tokens, temperature=0.0)
    messages = [m.model_dump() for m in _PROMPT]
    ours: list[float] = []
    raw: list[float] = []
    lock = getattr(runtime, "_lock")

    def run_ours() -> float:
        start = time.perf_counter()
        _timed(runtime, adapters=[], options=options)
        return time.perf_counter() - start

    def run_raw() -> float:
        runtime.reset_cache()
        lock.acquire()  # the raw call must not race another user of the same context
        try:
            start = time.perf_counter()
            llm.create_chat_completion(messages, temperature=0.0, max_tokens=config.max_tokens, seed=options.seed)
            return time.perf_counter() - start
        finally:
            lock.release()

    for i in range(config.warmup + config.repeats):
        progress(f"runtime vs raw llama-cpp-python: sample {i + 1}/{config.warmup + config.repeats}")
        # Alternate the order, so a slow start or a neighbour's load hits both sides alike.
        if i % 2:
            raw_s, ours_s = run_raw(), run_ours()
        else:
            ours_s, raw_s = run_ours(), run_raw()
        if i >= config.warmup:
            ours.append(ours_s * 1000)
            raw.append(raw_s * 1000)
    return [
        Figure(section="runtime", name="ragtune runtime, wall time", value=median(ours), unit="ms", samples=len(ours)),
        Figure(section="runtime", name="raw llama-cpp-python, wall time", value=median(raw), unit="ms", samples=len(raw)),
        Figure(section="runtime", name="ragtune / raw", value=median(ours) / median(raw), unit="ratio",
               samples=len(ours), target="≤ 1.05"),
    ]


def bench_adapter_overhead(runtime: Runtime, config: BenchConfig, progress: Progress) -> list[Figure]:
    """Generation and prompt-eval speed with the adapter applied vs none."""
    if config.adapter is None:
        return []
    options = GenerationOptions(max_tokens=config.max_tokens, temperature=0.0)
    speeds: dict[str, dict[str, list[float]]] = {"none": {"gen": [], "pp": []}, "adapter": {"gen": [], "pp": []}}
    use = [AdapterUse(path=config.adapter)]
    for i in range(config.warmup + config.repeats):
        progress(f"adapter overhead: sample {i + 1}/{config.warmup + config.repeats}")
        for kind, adapters in (("none", []), ("adapter", use)):
            t = _timed(runtime, adapters=adapters, options=options).timings
            if i >= config.warmup:
                speeds[kind]["gen"].append(t.tokens_per_s)
                evaluated = t.prompt_tokens - t.cached_prompt_tokens
                speeds[kind]["pp"].append(evaluated / (t.prompt_eval_ms / 1000) if t.prompt_eval_ms else 0.0)
    name = config.adapter.stem
    figures = []
    for key, label in (("gen", "generation"), ("pp", "prompt eval")):
        base, with_adapter = median(speeds["none"][key]), median(speeds["adapter"][key])
        figures += [
            Figure(section="adapter", name=f"{label}, no adapter", value=base, unit="tok/s", samples=config.repeats),
            Figure(section="adapter", name=f"{label}, with {name}", value=with_adapter, unit="tok/s",
                   samples=config.repeats),
            Figure(section="adapter", name=f"{label} speed with / without", value=with_adapter / base if base else 0.0,
                   unit="ratio", samples=config.repeats, target="seed: overhead < 2% (≥ 0.98)"),
        ]
    return figures


def bench_adapter_switch(runtime: Runtime, config: BenchConfig, progress: Progress) -> list[Figure]:
    """Hot-swapping an adapter vs loading the model again with ``lora_path``."""
    if config.adapter is None or not hasattr(runtime, "summary"):
        return []
    from llama_cpp import Llama

    options = GenerationOptions(max_tokens=1, temperature=0.0)
    use = [AdapterUse(path=config.adapter)]
    swaps: list[float] = []
    reloads: list[float] = []
    for i in range(config.warmup + config.repeats):
        progress(f"adapter switch: sample {i + 1}/{config.warmup + config.repeats}")
        on = runtime.chat(_PROMPT[-1:], adapters=use, options=options).timings.adapter_switch_ms
        off = runtime.chat(_PROMPT[-1:], adapters=[], options=options).timings.adapter_switch_ms
        start = time.perf_counter()
        reloaded = Llama(
            model_path=str(runtime.summary.path), lora_path=str(config.adapter), n_ctx=512,
            n_threads=os.cpu_count() or 1, verbose=False,
        )
        reload_ms = (time.perf_counter() - start) * 1000
        reloaded.close()
        if i >= config.warmup:
            swaps.append((on + off) / 2)
            reloads.append(reload_ms)
    return [
        Figure(section="switch", name="hot swap (attach/detach + cache reset)", value=median(swaps), unit="ms",
               samples=len(swaps)),
        Figure(section="switch", name="reload the model with lora_path", value=median(reloads), unit="ms",
               samples=len(reloads)),
        Figure(section="switch", name="reload / hot swap", value=median(reloads) / max(median(swaps), 1e-6),
               unit="ratio", samples=len(swaps)),
    ]


_WORDS = (
    "robot battery charge warranty return policy price gripper sensor firmware update dock route "
    "pallet shelf carrier motor torque speed payload safety stop support ticket invoice refund "
    "shipping release version storage cloud fleet map lidar camera wheel arm controller license"
).split()


def synthetic_documents(n_chunks: int, *, seed: int = 0, words_per_chunk: int = 40) -> list[tuple[str, bytes]]:
    """Deterministic Markdown documents of ``words_per_chunk``-word paragraphs, ten chunks a document."""
    rng = random.Random(seed)
    docs = []
    per_doc = 10
    for d in range(-(-n_chunks // per_doc)):
        paragraphs = []
        for c in range(min(per_doc, n_chunks - d * per_doc)):
            words = [rng.choice(_WORDS) for _ in range(words_per_chunk)]
            paragraphs.append(f"## Section {c}\n\nItem {d}-{c}: " + " ".join(words) + ".")
        docs.append((f"synthetic-{d:05d}.md", ("# Synthetic document %d\n\n" % d + "\n\n".join(paragraphs)).encode()))
    return docs


def bench_retrieval(settings: Settings, config: BenchConfig, progress: Progress) -> list[Figure]:
    """Ingestion throughput and search latency (vector, keyword, hybrid) on synthetic corpora."""
    import tempfile

    from ragtune.retrieval.knowledge import KnowledgeBase

    figures = []
    with tempfile.TemporaryDirectory(prefix="ragtune-bench-") as scratch:
        # A scratch store (the user's workspaces stay untouched, also on a team's Chroma server: it is
        # local) with one chunk per section.
        scratch_settings = Settings(
            **{**settings.model_dump(), "data_dir": Path(scratch), "chroma_url": None, "chunk_size": 300,
               "chunk_overlap": 0, "demo_workspace": ""}
        )
        kb = KnowledgeBase.from_settings(scratch_settings)
        figures += _bench_corpora(kb, config, progress)
    from ragtune.retrieval.bench import ingest_memory_figures  # peak RSS per MB of a large file

    figures += ingest_memory_figures(0.1 if config.quick else 2.0, progress, slope=not config.quick)
    return figures


def _bench_corpora(kb: Any, config: BenchConfig, progress: Progress) -> list[Figure]:
    figures = []
    rng = random.Random(1)
    for size in config.corpus_sizes:
        name = f"bench-{size}"
        if kb.has_workspace(name):
            kb.delete_workspace(name)
        kb.create_workspace(name)
        docs = synthetic_documents(size)
        progress(f"retrieval: ingesting {size} chunks")
        start = time.perf_counter()
        report = kb.ingest_bytes(name, docs)
        ingest_s = time.perf_counter() - start
        if not report.ok:
            raise RagtuneError(f"bench ingestion failed: {report.failed[0].error}")
        n_chunks = sum(f.n_chunks for f in report.files)
        figures.append(Figure(section="retrieval", name=f"ingestion, {n_chunks} chunks", value=n_chunks / ingest_s,
                              unit="chunks/s"))
        queries = [" ".join(rng.choice(_WORDS) for _ in range(6)) for _ in range(config.search_queries)]
        for mode in ("vector", "keyword", "hybrid"):
            kb.search(name, queries[0], mode=mode, k=5)  # warm-up (index build, embedding session)
            times = []
            for query in queries:
                start = time.perf_counter()
                kb.search(name, query, mode=mode, k=5)
                times.append((time.perf_counter() - start) * 1000)
            figures += [
                Figure(section="retrieval", name=f"{mode} search p50, {n_chunks} chunks", value=median(times),
                       unit="ms", samples=len(times)),
                Figure(section="retrieval", name=f"{mode} search p95, {n_chunks} chunks", value=p95(times),
                       unit="ms", samples=len(times)),
            ]
    return figures


def _demo_pipeline(settings: Settings, runtime: Runtime, scratch: Path) -> tuple[Any, str]:
    """A pipeline over a scratch copy of the demo knowledge base (version 1)."""
    from ragtune.adapters import AdapterCatalog
    from ragtune.pipeline import Pipeline
    from ragtune.retrieval.demo import ensure_demo_workspace
    from ragtune.retrieval.knowledge import KnowledgeBase

    scratch_settings = Settings(**{**settings.model_dump(), "data_dir": scratch, "chroma_url": None,
                                   "demo_workspace": "demo"})
    kb = KnowledgeBase.from_settings(scratch_settings)
    ensure_demo_workspace(kb, "demo")
    return Pipeline(runtime, kb, AdapterCatalog(settings), scratch_settings), "demo"


def bench_rag_and_tax(settings: Settings, runtime: Runtime, config: BenchConfig, progress: Progress) -> list[Figure]:
    """RAG end to end for a 64-token answer; the token tax of few-shot prompting vs the adapter."""
    import tempfile

    from ragtune.errors import RagtuneError as _Error
    from ragtune.modes import BUILTIN_MODES
    from ragtune.evaluation.sets import demo_eval_set

    modes = {m.id: m for m in BUILTIN_MODES}
    n_questions = 3 if config.quick else 10
    questions = [q.question for q in demo_eval_set().cases if q.kind == "answerable"][:n_questions]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="ragtune-bench-") as scratch:
        progress("RAG: building a scratch copy of the demo knowledge base")
        pipeline, workspace = _demo_pipeline(settings, runtime, Path(scratch))

        rag = modes["rag"].model_copy(update={"max_tokens": 64})
        totals, ttfts, retrievals, prompt_evals = [], [], [], []
        for i, question in enumerate([questions[0]] * config.warmup + questions * max(1, config.repeats // 3)):
            progress(f"RAG end to end: query {i + 1}")
            answer = pipeline.run(question, rag, workspace)
            if i >= config.warmup:
                t = answer.timings
                totals.append(t.total_ms)
                ttfts.append(t.ttft_ms)
                retrievals.append(t.retrieval_ms)
                prompt_evals.append(t.prompt_eval_ms)
        n = len(totals)
        figures += [
            Figure(section="rag", name="end to end p50 (retrieval + prompt eval + ≤64 answer tokens)",
                   value=median(totals), unit="ms", samples=n, target="≤ 1,000 (seed: < 1,500)"),
            Figure(section="rag", name="end to end p95", value=p95(totals), unit="ms", samples=n),
            Figure(section="rag", name="time to first token p50", value=median(ttfts), unit="ms", samples=n),
            Figure(section="rag", name="retrieval p50", value=median(retrievals), unit="ms", samples=n),
            Figure(section="rag", name="prompt eval p50", value=median(prompt_evals), unit="ms", samples=n),
        ]

        lora_id = "rag+lora"
        try:
            pipeline.adapter_for(modes[lora_id])
            note = ""
        except _Error:
            lora_id = "rag"  # the prompt the adapter would get, without the adapter
            note = "grounded-json adapter missing: grounded prompt without it"
        for cache in ("cold", "warm"):
            for mode_id in ("rag+fewshot", lora_id):
                mode = modes[mode_id].model_copy(update={"max_tokens": 64})
                prompt_tokens, evaluated, latency = [], [], []
                for i, question in enumerate([questions[0]] * config.warmup + questions):
                    progress(f"token tax ({cache} cache, {mode_id}): query {i + 1}")
                    if cache == "cold":
                        runtime.reset_cache()
                    else:
                        pipeline.run(questions[-1], mode, workspace)  # the previous request, same mode
                    t = pipeline.run(question, mode, workspace).timings
                    if i >= config.warmup:
                        prompt_tokens.append(t.prompt_tokens)
                        evaluated.append(t.prompt_tokens - t.cached_prompt_tokens)
                        latency.append(t.ttft_ms)
                label = "few-shot" if mode_id == "rag+fewshot" else "LoRA" if mode_id == "rag+lora" else "grounded"
                n = len(latency)
                figures += [
                    Figure(section="tax", name=f"{label} ({mode_id}): prompt tokens", value=median(prompt_tokens),
                           unit="tokens", samples=n, note=note if label == "grounded" else ""),
                    Figure(section="tax", name=f"{label}: tokens evaluated, {cache} prefix cache",
                           value=median(evaluated), unit="tokens", samples=n),
                    Figure(section="tax", name=f"{label}: time to first token, {cache} prefix cache",
                           value=median(latency), unit="ms", samples=n),
                ]
        for cache in ("cold", "warm"):
            other = "LoRA" if lora_id == "rag+lora" else "grounded"
            few = next(f for f in figures if f.name == f"few-shot: time to first token, {cache} prefix cache")
            alt = next(f for f in figures if f.name == f"{other}: time to first token, {cache} prefix cache")
            figures.append(Figure(section="tax", name=f"few-shot / {other} time to first token, {cache} cache",
                                  value=few.value / alt.value if alt.value else 0.0, unit="ratio", samples=few.samples))
    return figures


SECTIONS: dict[str, str] = {
    "runtime": "The app's runtime vs raw llama-cpp-python (same prompt, settings and Llama object)",
    "adapter": "Speed with the adapter applied vs none",
    "switch": "Adapter switch: hot swap vs model reload",
    "rag": "RAG end to end",
    "tax": "The token tax: long few-shot prompt vs LoRA",
    "engine": "The engine levers (model quantization, flash attention, batch, KV type, mlock, threads, adapter) vs "
    "the release's settings",
    "demo": "The Lab's four-mode comparison on the demo questions, against the demo targets",
    "retrieval": "Retrieval and ingestion",
}


def run_bench(
    settings: Settings,
    runtime: Runtime,
    config: BenchConfig,
    *,
    progress: Progress | None = None,
    extra_sections: list[Callable[[Settings, Runtime, BenchConfig, Progress], list[Figure]]] | None = None,
) -> BenchReport:
    """Run every section and collect its figures."""
    say = progress or (lambda message: None)
    started = datetime.now(UTC)
    start = time.perf_counter()
    figures: list[Figure] = []
    wanted = set(config.sections)
    if "runtime" in wanted:
        figures += bench_runtime_vs_raw(runtime, config, say)
    if "adapter" in wanted:
        figures += bench_adapter_overhead(runtime, config, say)
    if "switch" in wanted:
        figures += bench_adapter_switch(runtime, config, say)
    if wanted & {"rag", "tax"}:
        figures += bench_rag_and_tax(settings, runtime, config, say)
    if "engine" in wanted:
        from ragtune.bench_engine import bench_engine

        figures += bench_engine(settings, runtime, config, say)
    if "demo" in wanted:  # in a process of its own: its peak memory is the demo's alone
        from ragtune.bench_demo import bench_demo

        figures += bench_demo(config, say, model_id=runtime.model_id)
    for section in extra_sections or []:
        figures += section(settings, runtime, config, say)
    if "retrieval" in wanted:
        figures += bench_retrieval(settings, config, say)
    return BenchReport(
        machine=machine_info(),
        model_id=runtime.model_id,
        config=config,
        figures=figures,
        started=started.isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - start, 1),
    )
