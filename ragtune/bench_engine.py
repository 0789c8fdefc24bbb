"""``bench --only engine``: the engine levers, each measured against the release's settings.

Every variant loads the model fresh in llama-cpp-python with one setting changed (the model file's
quantization, flash attention, the micro-batch, the KV cache type, mlock, threads, an adapter
applied) and measures prompt evaluation (a RAG-sized prompt, a cold cache each time) and generation
speed. The first variant is the release before this work (the shipped Q4_1 file, flash attention
off); each figure's ratio is to it, measured in the same run, so the machine's load affects both.
What the app now uses is the variant marked "(default)"; the README lists every lever with these
figures, kept or dropped.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ragtune.bench import BenchConfig, Figure, Progress
from ragtune.config import Settings
from ragtune.errors import RagtuneError

#: A prompt shaped like the grounded RAG prompt (numbered context, a question): its length is what
#: matters, ~250 tokens as the demo questions' RAG prompts.
_PROMPT = (
    "Answer from the numbered context only, briefly, citing [n].\n"
    + "".join(f"[{i}] The Mowbot M{i} is a robotic lawn mower with a cutting width of {20 + i} cm, a battery "
              f"that lasts {40 + i} minutes and a price of {600 + 50 * i} euros; returns within 30 days.\n"
              for i in range(1, 7))
    + "Question: How much does the Mowbot M6 cost?"
)
_GENERATE = 64


class Variant(BaseModel):
    """One engine configuration: the model file (a registry id) and the Llama options changed."""

    label: str
    model_id: str
    options: dict[str, Any] = Field(default_factory=dict)
    adapter: bool = False
    default: bool = False


def variants(default_model: str) -> list[Variant]:
    """The release's configuration first, then one lever changed at a time around the file the app ships
    by default (SmolLM2 re-quantized to Q8_0), each lever alone; "(default)" marks what the app uses."""
    q41, q80, q40 = "smollm2-135m-instruct-q4_1", "smollm2-135m-instruct-q8_0", "smollm2-135m-instruct-q4_0"
    fa = {"flash_attn": True}
    return [
        Variant(label="release: Q4_1, flash attention off", model_id=q41),
        Variant(label="Q4_1, flash attention on", model_id=q41, options=fa),
        Variant(label="Q4_0 (re-quantized), flash attention on", model_id=q40, options=fa,
                default=default_model == q40),
        Variant(label="Q8_0 (re-quantized), flash attention off", model_id=q80),
        Variant(label="Q8_0, flash attention on", model_id=q80, options=fa, default=default_model == q80),
        Variant(label="Q8_0, flash attention on, n_ubatch 128", model_id=q80, options={**fa, "n_ubatch": 128}),
        Variant(label="Q8_0, flash attention on, KV cache q8_0", model_id=q80,
                options={**fa, "type_k": 8, "type_v": 8}),
        Variant(label="Q8_0, flash attention on, mlock", model_id=q80, options={**fa, "use_mlock": True}),
        Variant(label="Q8_0, flash attention on, 1 thread", model_id=q80,
                options={**fa, "n_threads": 1, "n_threads_batch": 1}),
        Variant(label="Q8_0, flash attention on, grounded-json adapter applied", model_id=q80, options=fa,
                adapter=True),
        Variant(label="release, grounded-json adapter applied", model_id=q41, adapter=True),
    ]


def _measure(path: Path, variant: Variant, adapter: Path | None, settings: Settings, repeats: int,
             generate: int) -> tuple[float, float]:
    """(prompt tokens/s, generation tokens/s), medians, for one variant loaded fresh."""
    import ctypes

    import llama_cpp
    from llama_cpp import Llama

    options = {"n_threads": settings.n_threads, "n_threads_batch": settings.n_threads, **variant.options}
    llm = Llama(model_path=str(path), n_ctx=2048, n_batch=settings.n_batch, verbose=False, seed=settings.seed,
                **options)
    try:
        if variant.adapter and adapter is not None:
            handle = llama_cpp.llama_adapter_lora_init(llm._model.model, str(adapter).encode())
            array = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
            llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, array, 1, (ctypes.c_float * 1)(1.0))
        tokens = llm.tokenize(_PROMPT.encode(), add_bos=False)
        prompt_rates, gen_rates = [], []
        for i in range(repeats + 1):  # the first is a warm-up
            llm.reset()
            start = time.perf_counter()
            llm.eval(tokens)
            if i:
                prompt_rates.append(len(tokens) / (time.perf_counter() - start))
        for i in range(max(2, repeats // 2) + 1):
            llm.reset()
            n, first = 0, 0.0
            for _ in llm.generate(tokens, temp=0.0, reset=True):
                n += 1
                if n == 1:
                    first = time.perf_counter()  # after the prompt: generation only
                if n > generate:
                    break
            if i:
                gen_rates.append(generate / (time.perf_counter() - first))
        return statistics.median(prompt_rates), statistics.median(gen_rates)
    finally:
        llm.close()  # and with the model, its adapter


def bench_engine(settings: Settings, runtime: Any, config: BenchConfig, progress: Progress) -> list[Figure]:
    """Prompt and generation speed per variant, each with its ratio to the release's."""
    from ragtune.adapters import AdapterCatalog
    from ragtune.models import ModelRegistry

    registry = ModelRegistry(settings)
    try:
        adapter = AdapterCatalog(settings, model_id="smollm2-135m-instruct-q4_1").resolve("grounded-json")
    except RagtuneError:  # the adapter variants then say they were skipped
        adapter = None
    repeats = 2 if config.quick else max(3, config.repeats)
    figures: list[Figure] = []
    reference: tuple[float, float] | None = None
    for variant in variants(settings.model):
        if variant.adapter and adapter is None:
            figures.append(Figure(section="engine", name=variant.label, value=float("nan"), unit="tok/s",
                                  note="skipped: the grounded-json adapter is missing"))
            continue
        progress(f"engine: {variant.label}")
        path = registry.verify(registry.get(variant.model_id), progress=progress).path
        prompt, gen = _measure(path, variant, adapter, settings, repeats, 16 if config.quick else _GENERATE)
        reference = reference or (prompt, gen)
        mark = " (default)" if variant.default else ""
        figures += [
            Figure(section="engine", name=f"{variant.label}{mark}: prompt eval", value=prompt, unit="tok/s",
                   samples=repeats, note=f"{prompt / reference[0]:.2f}× the release"),
            Figure(section="engine", name=f"{variant.label}{mark}: generation", value=gen, unit="tok/s",
                   samples=max(2, repeats // 2), note=f"{gen / reference[1]:.2f}× the release"),
        ]
    return figures
