"""The grounded prompt chosen by measurement: prompt tokens against retrieval and RAG correctness.

Prompt tokens are the main cost of an answer's latency (the engine evaluates a few hundred
prompt tokens a second on 2 cores), and the grounded prompt is shared by training and
inference, so it is settled by measurement before an adapter is trained on it.

For each :class:`PromptConfig` (chunk size, overlap, k, de-duplication of overlapping
chunks, the grounded instructions) :func:`measure_prompts` ingests the documents into a
scratch knowledge base chunked that way, retrieves each question's context as the pipeline
does, renders the prompt with :mod:`ragtune.prompts`, and records:

* the prompt's tokens (the model's own tokenizer and chat template);
* whether the context holds an accepted answer in a gold document (hit);
* whether the base model's answer to that prompt is correct (the evaluation's judge),
  when ``answer=True``.

``python -m ragtune prompt-bench`` prints the rows as a table; the README records the choice.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import mean, median

from pydantic import BaseModel, ConfigDict, Field

from ragtune.config import Settings
from ragtune.errors import InputError
from ragtune.evaluation.scoring import answer_field, doc_of, judge
from ragtune.evaluation.sets import EvalCase, Version, require_ingested
from ragtune.modes import BUILTIN_MODES, Mode
from ragtune.pipeline import Pipeline
from ragtune.prompts import (
    ABSTENTION,
    GROUNDED_SYSTEM,
    ContextChunk,
    grounded_messages,
    parse_grounded,
)
from ragtune.retrieval.bench import question_hit
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.retrieval.types import IngestReport
from ragtune.runtime.base import GenerationOptions, Runtime

#: The grounded instructions measured. ``current`` is what the app sends
#: (:data:`ragtune.prompts.GROUNDED_SYSTEM`); ``before`` is the text it replaced (kept for the record).
INSTRUCTIONS: dict[str, str] = {
    "current": GROUNDED_SYSTEM,
    "before": (
        "Answer from the numbered context only. Reply with JSON: "
        '{"answer": "...", "citations": ["<chunk id>"], "confidence": "high" | "medium" | "low"}. '
        f'If the context lacks the answer: {{"answer": "{ABSTENTION}", "citations": [], "confidence": "low"}}'
    ),
    "minimal": (
        'Reply with JSON {"answer", "citations", "confidence"} using only the context. '
        f'If it lacks the answer, answer "{ABSTENTION}"'
    ),
}

ANSWER_TOKENS = 96


class PromptConfig(BaseModel):
    """One way of building the grounded prompt."""

    model_config = ConfigDict(frozen=True)

    chunk_size: int = Field(ge=100, le=8000)
    chunk_overlap: int = Field(ge=0, le=2000)
    k: int = Field(ge=1, le=20)
    dedupe: bool = True
    instructions: str = "current"

    @property
    def label(self) -> str:
        return (f"chunk {self.chunk_size}/{self.chunk_overlap}, k={self.k}"
                f"{', dedup' if self.dedupe else ''}, {self.instructions} instructions")


class PromptRow(BaseModel):
    """The measurements of one configuration."""

    config: PromptConfig
    n_questions: int
    tokens_median: float
    tokens_mean: float
    tokens_max: int
    hit_rate: float = Field(description="Share of answerable questions whose context holds an accepted answer.")
    correct: float | None = Field(default=None, description="Share of answerable questions answered correctly.")
    n_answered: int = 0


def default_grid(settings: Settings) -> list[PromptConfig]:
    """The configurations ``prompt-bench`` measures by default: the configured one first, then
    smaller chunks and fewer of them, with and without de-duplication, and shorter instructions."""
    rag_k = Mode.model_fields["k"].default
    configured = PromptConfig(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap, k=rag_k)
    grid = [
        configured,
        # what the app sent before issue 12: 800/120 chunks, k=4, no de-duplication, longer instructions
        PromptConfig(chunk_size=800, chunk_overlap=120, k=4, dedupe=False, instructions="before"),
        PromptConfig(chunk_size=800, chunk_overlap=120, k=3),
        PromptConfig(chunk_size=800, chunk_overlap=120, k=2),
        PromptConfig(chunk_size=500, chunk_overlap=80, k=2),
        PromptConfig(chunk_size=400, chunk_overlap=60, k=3),
        PromptConfig(chunk_size=300, chunk_overlap=40, k=4),
        PromptConfig(chunk_size=300, chunk_overlap=40, k=3),
        PromptConfig(chunk_size=300, chunk_overlap=40, k=2),
        PromptConfig(chunk_size=300, chunk_overlap=40, k=3, instructions="minimal"),
    ]
    seen: set[PromptConfig] = set()
    return [c for c in grid if not (c in seen or seen.add(c))]


def context_for(pipeline: Pipeline, workspace: str, question: str, config: PromptConfig) -> list[ContextChunk]:
    """The context chunks the prompt shows for ``question`` under ``config``: the pipeline's own
    retrieval (:meth:`Pipeline.retrieve`) with the configured k, overlaps shown once or not."""
    rag = next(m for m in BUILTIN_MODES if m.id == "rag").model_copy(update={"k": config.k})
    chunks, _ = pipeline.retrieve(question, rag, workspace)
    return [ContextChunk(chunk_id=c.chunk_id, text=c.shown if config.dedupe else c.text, title=c.title)
            for c in chunks]


def _check_inputs(kb: KnowledgeBase, report: IngestReport, cases: Sequence[EvalCase]) -> None:
    """Refuse inputs that would make every figure meaningless (zeros with exit 0)."""
    if not cases:
        raise InputError("The eval set has no answerable question: prompt-bench measures answers in the context.")
    require_ingested(report, [d.doc_id for d in kb.list_documents("bench")], cases, "the documents given")


def measure_prompts(
    settings: Settings,
    runtime: Runtime,
    documents: Sequence[Path],
    cases: Sequence[EvalCase],
    configs: Sequence[PromptConfig],
    *,
    version: Version = "v1",
    answer: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[PromptRow]:
    """Measure each configuration on the answerable ``cases`` (see the module docstring)."""
    graded = [c for c in cases if c.kind != "unanswerable"]
    rows: list[PromptRow] = []
    by_chunking: dict[tuple[int, int], list[PromptConfig]] = {}
    for config in configs:
        by_chunking.setdefault((config.chunk_size, config.chunk_overlap), []).append(config)
    results: dict[PromptConfig, PromptRow] = {}
    for (size, overlap), group in by_chunking.items():
        with tempfile.TemporaryDirectory(prefix="ragtune-prompt-bench-") as scratch:
            scratch_settings = Settings(**{**settings.model_dump(), "data_dir": Path(scratch), "chroma_url": None,
                                           "chunk_size": size, "chunk_overlap": overlap, "demo_workspace": ""})
            kb = KnowledgeBase.from_settings(scratch_settings)
            try:
                kb.create_workspace("bench")
                _check_inputs(kb, kb.ingest_paths("bench", list(documents)), graded)
                pipeline = Pipeline(runtime, kb, None, scratch_settings)  # type: ignore[arg-type] - retrieval only
                for config in group:
                    if progress:
                        progress(f"{config.label}: {len(graded)} questions")
                    results[config] = _measure_one(pipeline, runtime, graded, config, version, answer)
            finally:
                kb.manifest.close()
    for config in configs:
        rows.append(results[config])
    return rows


def _measure_one(
    pipeline: Pipeline, runtime: Runtime, cases: Sequence[EvalCase], config: PromptConfig,
    version: Version, answer: bool,
) -> PromptRow:
    system = INSTRUCTIONS[config.instructions]
    tokens: list[int] = []
    hits = correct = 0
    options = GenerationOptions(max_tokens=ANSWER_TOKENS, temperature=0.0, seed=42)
    for case in cases:
        context = context_for(pipeline, "bench", case.question, config)
        messages = grounded_messages(case.question, context, system=system)
        tokens.append(runtime.count_prompt_tokens(messages))
        hits += question_hit(case, [(c.text, doc_of(c.chunk_id)) for c in context], version) is not None
        if answer:
            result = runtime.chat(messages, options=options)
            parsed = parse_grounded(result.text, finish_reason=result.finish_reason)
            text = answer_field(result.text, parsed.answer.answer if parsed.answer is not None else None)
            correct += judge(case, version, text).verdict == "correct"
    n = len(cases) or 1
    return PromptRow(
        config=config, n_questions=len(cases),
        tokens_median=float(median(tokens)) if tokens else 0.0,
        tokens_mean=round(mean(tokens), 1) if tokens else 0.0,
        tokens_max=max(tokens, default=0),
        hit_rate=hits / n,
        correct=correct / n if answer else None,
        n_answered=len(cases) if answer else 0,
    )


def prompt_table(rows: Sequence[PromptRow]) -> str:
    """A Markdown table of the measurements, one row per configuration."""
    lines = [
        "| chunk size / overlap | k | dedup | instructions | prompt tokens median (max) | context holds the answer | RAG correct (base model) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r.config
        right = "-" if r.correct is None else f"{100 * r.correct:.0f}% (n={r.n_answered})"
        lines.append(
            f"| {c.chunk_size} / {c.chunk_overlap} | {c.k} | {'yes' if c.dedupe else 'no'} | {c.instructions} | "
            f"{r.tokens_median:.0f} ({r.tokens_max}) | {100 * r.hit_rate:.0f}% (n={r.n_questions}) | {right} |"
        )
    return "\n".join(lines)
