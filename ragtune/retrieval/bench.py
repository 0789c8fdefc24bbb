"""Retrieval measurements: hit@k per search mode on the demo eval set, and embedding throughput.

``python -m ragtune search-bench`` prints both; the tests hold hit@k above a floor.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ragtune.retrieval.demo import DemoVersion, EvalQuestion
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


def question_hit(question: EvalQuestion, hits_text_docs: Sequence[tuple[str, str]], version: DemoVersion) -> int | None:
    """The 1-based rank of the first chunk (text, doc_id) from a gold document that
    contains an accepted answer, or None."""
    for rank, (text, doc_id) in enumerate(hits_text_docs, start=1):
        if doc_id in question.doc_ids and question.is_answered_by(text, version):
            return rank
    return None


def hit_rates(
    kb: KnowledgeBase,
    workspace: str,
    questions: Sequence[EvalQuestion],
    *,
    modes: Sequence[SearchMode] = SEARCH_MODES,
    version: DemoVersion = "v1",
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
