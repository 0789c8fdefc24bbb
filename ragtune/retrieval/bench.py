"""Retrieval measurements: hit@k per search mode on the demo eval set, embedding throughput,
and the peak memory of ingesting one large file.

``python -m ragtune search-bench`` prints the first two; the tests hold hit@k above a floor.
``python -m ragtune bench --only retrieval`` includes the memory figures.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ragtune.evaluation.scoring import contains_variant
from ragtune.evaluation.sets import EvalCase, Version
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.retrieval.types import SEARCH_MODES, SearchMode

KS = (1, 3, 5)


class HitRates(BaseModel):
    """Share of questions whose answer is in a top-k chunk of a gold document."""

    model_config = ConfigDict(frozen=True)

    mode: SearchMode
    n_questions: int
    hit_at: dict[int, float]
    mean_ms: float


def question_hit(question: EvalCase, hits_text_docs: Sequence[tuple[str, str]], version: Version) -> int | None:
    """The 1-based rank of the first chunk (text, doc_id) from a gold document that
    contains an accepted answer, or None."""
    for rank, (text, doc_id) in enumerate(hits_text_docs, start=1):
        if doc_id in question.doc_ids and contains_variant(text, question.gold(version)):
            return rank
    return None


def hit_rates(
    kb: KnowledgeBase,
    workspace: str,
    questions: Sequence[EvalCase],
    *,
    modes: Sequence[SearchMode] = SEARCH_MODES,
    version: Version = "v1",
) -> list[HitRates]:
    """hit@1/3/5 for each mode over the questions that have an answer."""
    graded = [q for q in questions if q.kind != "unanswerable"]
    out = []
    for mode in modes:
        counts = dict.fromkeys(KS, 0)
        took = 0.0
        for question in graded:
            result = kb.search(workspace, question.question, mode=mode, k=max(KS))
            took += result.took_ms
            rank = question_hit(question, [(h.chunk.text, h.chunk.doc_id) for h in result.hits], version)
            for k in KS:
                counts[k] += rank is not None and rank <= k
        n = len(graded) or 1
        out.append(HitRates(mode=mode, n_questions=len(graded),
                            hit_at={k: counts[k] / n for k in KS}, mean_ms=took / n))
    return out


def format_hit_table(rates: Sequence[HitRates]) -> str:
    """A Markdown table of hit rates."""
    # No timing column: query vectors are cached after the first mode, so times would mislead.
    lines = ["| mode | hit@1 | hit@3 | hit@5 |", "|---|---|---|---|"]
    for r in rates:
        cells = " | ".join(f"{r.hit_at[k]:.2f}" for k in KS)
        lines.append(f"| {r.mode} | {cells} |")
    return "\n".join(lines)


def _chromadb_default_minilm(model_file: Path, tokenizer_dir: Path):  # type: ignore[no-untyped-def]
    """chromadb's own ONNXMiniLM_L6_V2, pointed (per instance) at the packaged files, for comparison."""
    from chromadb.utils.embedding_functions.onnx_mini_lm_l6_v2 import ONNXMiniLM_L6_V2

    folder = Path(tempfile.mkdtemp(prefix="ragtune-minilm-")) / "onnx"
    folder.mkdir()
    os.symlink(model_file, folder / "model.onnx")
    for name in ("config.json", "special_tokens_map.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt"):
        os.symlink(tokenizer_dir / name, folder / name)
    ef = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    ef.DOWNLOAD_PATH = folder.parent  # an instance attribute: chromadb's class is untouched
    return ef


def embedding_throughput(texts: Sequence[str], *, compare_shipped: bool = True) -> dict[str, float]:
    """Texts per second for ragtune's embedding function and (optionally) chromadb's as shipped."""
    from ragtune.retrieval.embeddings import OfflineMiniLM, default_model_files

    results: dict[str, float] = {}
    candidates = {"ragtune (length-bucketed, dynamic padding)": OfflineMiniLM(cache_size=0)}
    if compare_shipped:
        model, tokenizer = default_model_files()
        candidates["chromadb ONNXMiniLM_L6_V2 (pads to 256)"] = _chromadb_default_minilm(model, tokenizer.parent)
    for name, ef in candidates.items():
        ef(list(texts[:2]))  # load the model outside the timing
        started = time.perf_counter()
        ef(list(texts))
        results[name] = len(texts) / (time.perf_counter() - started)
    return results


# -- memory while ingesting one large file ---------------------------------------------------

_WORDS = ("the battery pack lasts seventy minutes and the warranty covers two years of normal use; "
          "returns are accepted within thirty days when the robot is undamaged").split()


class IngestMemory(BaseModel):
    """Peak memory of a fresh process while it ingests one generated text file."""

    model_config = ConfigDict(frozen=True)

    input_mb: float
    n_chunks: int
    seconds: float
    loaded_rss_mb: float  # the process's peak with everything loaded, before any ingest
    baseline_rss_mb: float
    peak_rss_mb: float

    @property
    def extra_mb(self) -> float:
        """Peak RSS above the process's peak before the ingest (model loaded and warm, file in memory)."""
        return max(0.0, self.peak_rss_mb - self.baseline_rss_mb)


def synthetic_text(mb: float, *, seed: int = 0) -> bytes:
    """Deterministic plain text of about ``mb`` megabytes: paragraphs of 20-120 words."""
    rng = random.Random(seed)
    paragraphs, size = [], 0
    while size < mb * 1e6:
        paragraph = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(20, 120))) + "."
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    return "\n\n".join(paragraphs).encode()


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _ingest_memory_child(mb: float) -> None:
    """In the child: load everything, note the peak, ingest, note the peak again; print JSON."""
    from ragtune.config import load_settings

    kb = KnowledgeBase.from_settings(load_settings())
    kb.create_workspace("memory")
    loaded = _peak_rss_mb()
    # A small file first: the embedding model, its buffers and the store's caches reach their
    # working size, so the peak that follows is the large file's own cost.
    warm = kb.ingest_bytes("memory", [("warm-up.txt", synthetic_text(0.1, seed=1))])  # > one write batch
    if not warm.ok:
        raise SystemExit(f"ingestion failed: {warm.failed[0].error}")
    data = synthetic_text(mb)
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    report = kb.ingest_bytes("memory", [("large.txt", data)])
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"ingestion failed: {report.failed[0].error}")
    print(IngestMemory(input_mb=len(data) / 1e6, n_chunks=report.files[0].n_chunks, seconds=seconds,
                       loaded_rss_mb=loaded, baseline_rss_mb=baseline, peak_rss_mb=_peak_rss_mb()).model_dump_json())


def measure_ingest_memory(mb: float, *, timeout_s: float = 3600) -> IngestMemory:
    """Ingest a generated ``mb`` MB text file in a fresh process with its own scratch data
    directory, and read that process's peak resident memory (``ru_maxrss``) before and after.

    Raises:
        RagtuneError: the child failed or ran past ``timeout_s``.
    """
    import subprocess
    import sys

    import ragtune
    from ragtune.errors import RagtuneError

    root = str(Path(ragtune.__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory(prefix="ragtune-ingest-memory-") as scratch:
        env = {**os.environ, "RAGTUNE_DATA_DIR": scratch, "RAGTUNE_DEMO_WORKSPACE": "",
               "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        code = ("import sys; from ragtune.retrieval.bench import _ingest_memory_child; "
                "_ingest_memory_child(float(sys.argv[1]))")
        try:
            done = subprocess.run([sys.executable, "-c", code, repr(mb)], env=env, capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RagtuneError(f"the ingest memory measurement ran past {timeout_s:.0f} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RagtuneError(f"the ingest memory measurement failed: {last}")
    return IngestMemory.model_validate_json(lines[-1])


def ingest_memory_figures(mb: float, progress: Callable[[str], None], *, slope: bool = True) -> list:
    """The bench's figures for :func:`measure_ingest_memory` (section ``retrieval``).

    With ``slope``, two fresh processes ingest files of ``mb / 4`` and ``mb`` megabytes: the
    difference of their process peaks per MB is what each further megabyte costs; with the
    larger file's peak it projects the peak for a 19 MB file (the issue's case: 2.1 GB before
    batched writes). Without it (quick mode) one file.
    """
    from ragtune.bench import Figure

    progress(f"retrieval: peak memory while ingesting a {mb:g} MB text file")
    large = measure_ingest_memory(mb)
    size = f"{large.input_mb:.2g} MB text file, {large.n_chunks} chunks"
    figures = [
        Figure(section="retrieval", name=f"ingestion: process peak RSS, {size}", value=large.peak_rss_mb,
               unit="MB", note=f"{large.loaded_rss_mb:.0f} MB loaded before any ingest; "
                                f"{large.baseline_rss_mb:.0f} MB after a small warm-up file"),
        Figure(section="retrieval", name=f"ingestion peak RSS above the warm-up's, {size}", value=large.extra_mb,
               unit="MB"),
        Figure(section="retrieval", name=f"ingestion throughput, {size}", value=large.n_chunks / large.seconds,
               unit="chunks/s"),
    ]
    if not slope:
        figures.append(Figure(section="retrieval", name="ingestion peak RSS per MB of input (with fixed costs)",
                              value=large.extra_mb / large.input_mb, unit="MB/MB"))
        return figures
    progress(f"retrieval: peak memory while ingesting a {mb / 4:g} MB text file")
    small = measure_ingest_memory(mb / 4)
    # ru_maxrss is a high-water mark: what a larger file costs is how much higher the whole
    # process's peak goes, compared between two fresh processes that differ only in the file.
    per_mb = max(0.0, (large.peak_rss_mb - small.peak_rss_mb) / max(large.input_mb - small.input_mb, 1e-9))
    figures += [
        Figure(section="retrieval", name="ingestion: process peak RSS growth per further MB of input", value=per_mb,
               unit="MB/MB", note=f"process peak {small.peak_rss_mb:.0f} MB at {small.input_mb:.2g} MB, "
                                  f"{large.peak_rss_mb:.0f} MB at {large.input_mb:.2g} MB; "
                                  f"{large.loaded_rss_mb:.0f} MB loaded, before any ingest"),
        Figure(section="retrieval", name="ingestion: process peak RSS for a 19 MB file (projected)",
               value=large.peak_rss_mb + (19 - large.input_mb) * per_mb, unit="MB",
               target="< 2,100 (2.1 GB before)"),
    ]
    return figures
