"""Build the shipped adapters end to end: data, training, evaluation, speed, card.

``python -m ragtune adapters build`` (and ``make adapters``) runs this; the results
are committed under ``models/adapters/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ragtune.adapters import DEFAULT_ADAPTER_MODEL, shipped_adapters_dir
from ragtune.config import PROJECT_ROOT, Settings
from ragtune.gguf.summary import GGUFSummary
from ragtune.models import ModelRegistry
from ragtune.prompts import plain_messages
from ragtune.runtime.base import AdapterUse, GenerationOptions, Runtime
from ragtune.training.card import AdapterCard, Metric, SpeedCost, save_card
from ragtune.training.data import load_examples
from ragtune.training.export import ExportSpec, write_gguf_adapter
from ragtune.training.options import ALL_TARGETS, TrainOptions
from ragtune.training.recipes import RECIPES
from ragtune.training.recipes.base import read_eval_cases, speed_cost, write_recipe_data
from ragtune.training.recipes.grounded_json import evaluate_grounded

DEFAULT_BASE = DEFAULT_ADAPTER_MODEL
_GGUF_KIND = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}

SPEED_CONFIGS: list[tuple[int, tuple[str, ...]]] = [
    (16, ALL_TARGETS),
    (8, ALL_TARGETS),
    (8, ("q", "k", "v", "o")),
    (8, ("q", "v")),
]


def random_adapter_for(base: GGUFSummary, path: Path, *, rank: int, targets: tuple[str, ...], seed: int = 0) -> Path:
    """A random-weight LoRA with the shapes of a real one (for speed measurements: speed
    depends on shapes, not values)."""
    rng = np.random.default_rng(seed)
    kinds = {_GGUF_KIND[t] for t in targets}
    tensors = {}
    n_layers = 0
    for name, shape in base.tensors.items():
        parts = name.split(".")
        if len(parts) == 4 and parts[0] == "blk" and parts[2] in kinds and parts[3] == "weight":
            n_in, n_out = shape
            tensors[f"{name}.lora_a"] = rng.normal(0, 0.01, size=(rank, n_in)).astype(np.float32)
            tensors[f"{name}.lora_b"] = rng.normal(0, 0.01, size=(n_out, rank)).astype(np.float32)
            n_layers = max(n_layers, int(parts[1]) + 1)
    spec = ExportSpec(architecture=base.architecture, n_layers=n_layers, n_head=1, n_head_kv=1, rank=rank, alpha=rank)
    return write_gguf_adapter(path, tensors, spec, name=path.stem)


def shape_twin(adapter: Path, path: Path, *, seed: int = 0) -> Path:
    """A LoRA with exactly the tensors and shapes of ``adapter`` but tiny random values.

    Generation speed depends on the adapter's shapes, not its values; a twin leaves the
    output (nearly) the base model's, so base and adapter generate the same tokens and
    their speeds compare fairly, whatever the real adapter makes the model say.
    """
    from ragtune.gguf.summary import read_summary

    summary = read_summary(adapter)
    rng = np.random.default_rng(seed)
    tensors = {
        name: rng.normal(0, 1e-3, size=tuple(reversed(shape))).astype(np.float32)
        for name, shape in summary.tensors.items()
    }
    spec = ExportSpec(architecture=summary.architecture, n_layers=0, n_head=1, n_head_kv=1, rank=1, alpha=1.0)
    return write_gguf_adapter(path, tensors, spec, name=path.stem)


def measure_speeds(
    runtime: Runtime, adapters: dict[str, Path | None], *, rounds: int = 5, max_tokens: int = 96
) -> dict[str, float]:
    """Median generation tok/s per label, the labels interleaved round by round so that load
    from other processes hits them all alike (``None``: the base model)."""
    messages = plain_messages("Write a long, detailed paragraph about caring for a lawn in spring.")
    options = GenerationOptions(max_tokens=max_tokens)
    speeds: dict[str, list[float]] = {label: [] for label in adapters}
    for _ in range(rounds):
        for label, path in adapters.items():
            result = runtime.chat(messages, adapters=[AdapterUse(path=path)] if path else [], options=options)
            if result.timings.completion_tokens >= 16:
                speeds[label].append(result.timings.tokens_per_s)
    return {label: float(np.median(values)) if values else 0.0 for label, values in speeds.items()}


def measure_speed_costs(runtime: Runtime, workdir: Path, *, rounds: int = 5) -> list[dict[str, float | str]]:
    """Speed of the base model vs random adapters of each shape in :data:`SPEED_CONFIGS`."""
    paths: dict[str, Path | None] = {"base": None}
    for rank, targets in SPEED_CONFIGS:
        label = f"r{rank} {'+'.join(targets)}"
        paths[label] = random_adapter_for(runtime.summary, workdir / f"speed-{len(paths)}.gguf", rank=rank, targets=targets)
    speeds = measure_speeds(runtime, paths, rounds=rounds)
    base = speeds["base"]
    rows: list[dict[str, float | str]] = []
    for label, path in paths.items():
        row: dict[str, float | str] = {
            "config": label,
            "tokens_per_s": round(speeds[label], 1),
            "cost_pct": round(100 * (1 - speeds[label] / base), 1) if base else 0.0,
        }
        if path is not None:
            row["size_mb"] = round(path.stat().st_size / 1e6, 2)
        rows.append(row)
    return rows


def remeasure_shipped(runtime: Runtime, out_dir: Path, workdir: Path, *, rounds: int = 5) -> list[dict[str, float | str]]:
    """Measure every shipped adapter's speed cost (through its shape twin) and the LoRA-shape
    table, interleaved, and write both into the adapters' cards."""
    from ragtune.training.card import load_card

    rows = measure_speed_costs(runtime, workdir, rounds=rounds)
    cards = {p: load_card(p) for p in sorted(Path(out_dir).glob("*.gguf"))}
    twins: dict[str, Path | None] = {"base": None}
    for path in cards:
        twins[path.stem] = shape_twin(path, workdir / f"twin-{path.stem}.gguf")
    speeds = measure_speeds(runtime, twins, rounds=rounds)
    for path, card in cards.items():
        if card is None:
            continue
        card.speed = SpeedCost(
            base_tokens_per_s=round(speeds["base"], 1), adapter_tokens_per_s=round(speeds[path.stem], 1), prompts=rounds
        )
        kept = card.rationale.split("\n\nGeneration speed of")[0].split("\n\nMeasured generation speed of")[0]
        text = RATIONALES.get(card.name, kept) if card.base_model_id == DEFAULT_BASE else kept
        card.rationale = text + (
            f"\n\nGeneration speed of {runtime.model_id} with random adapters of each shape (speed "
            f"depends on shapes, not values), one 96-token prompt, median of {rounds} interleaved rounds, "
            "on a shared 2-core machine:\n\n" + speed_table(rows)
        )
        save_card(card, path)
    return rows


def speed_table(rows: list[dict[str, float | str]]) -> str:
    lines = ["| LoRA config | generation tok/s | cost | file size |", "|---|---|---|---|"]
    for row in rows:
        size = f"{row['size_mb']} MB" if "size_mb" in row else "-"
        lines.append(f"| {row['config']} | {row['tokens_per_s']} | {row['cost_pct']}% | {size} |")
    return "\n".join(lines)


RATIONALES = {
    "grounded-json": (
        "A behaviour adapter: the answer schema, citing the chunk that holds the answer, abstaining "
        "when none does. Its shape was chosen by `python -m ragtune adapters sweep --quality`, which "
        "trains the recipe in full once per candidate and scores each on the held-out kinds: rank 16 on "
        "the attention and MLP projections (all seven) of the last 16 of the 30 layers for one epoch "
        "(80 steps) gave the most correct and valid answers (72% vs 59% and 56% for attention only over "
        "one and two epochs) and the most per minute of training; its generation cost is in the table "
        "below. A later candidate on the same data (the last 10 layers, two epochs, for a lower speed "
        "cost) abstained more on the held-out pipeline (5 of 9 unanswerable) but falsely on 24% of the "
        "answerable questions and was correct and valid on 33%, so this shape stayed. Training ran in the "
        "precision the Time line names: bf16 autocast on a CPU with native bf16 instructions, float32 "
        "elsewhere. What a longer run or a larger model would change: the 135M model learns the format, "
        "citing and abstaining without context (8% of the examples) within one epoch, but abstaining on a "
        "question about an entity the chunks do not mention stays rare; the same recipe on the opt-in "
        "Qwen2.5-Coder-0.5B (models/adapters/<its id>/) is the measured ceiling, and the README's held-out "
        "tables show both."
    ),
    "knowledge-baked": (
        "Memorising facts is what MLP weights do, so this adapter gets rank 16 on attention and MLP "
        "(last 16 layers) and a high learning rate: the anti-pattern is shown at its strongest, not "
        "handicapped."
    ),
    "ticket-router": (
        "A classifier emits one short label: rank 8 on the attention projections of the last 12 layers "
        "is enough capacity for its ten labels and is the cheapest shape at generation time (table below), "
        "which matters for a router in front of every request."
    ),
}


def build_shipped(
    name: str,
    *,
    settings: Settings,
    runtime: Runtime,
    out_dir: Path | None = None,
    seed: int = 42,
    speed_rows: list[dict[str, float | str]] | None = None,
    log: Callable[[str], None] = print,
    options: TrainOptions | None = None,
) -> AdapterCard:
    """Generate one recipe's data, train it on the runtime's model, evaluate it and write its card.

    The default model's adapters go to ``models/adapters``, another model's to its own folder
    (:func:`ragtune.adapters.shipped_adapters_dir`); the held-out pipeline run is part of the card
    when ``out_dir`` is that model's shipped folder."""
    from ragtune.training.trainer import TrainProgress, train_adapter

    recipe = RECIPES[name]
    registry = ModelRegistry(settings)
    spec = registry.get(runtime.model_id)
    base = registry.verify(spec)
    train_path, eval_path = write_recipe_data(recipe, seed)
    dataset = load_examples(train_path)
    try:
        dataset.source = str(train_path.relative_to(PROJECT_ROOT))
    except ValueError:
        dataset.source = train_path.name
    log(f"[{name}] {len(dataset.examples)} training examples -> {train_path}")
    last = [0.0]

    def progress(p: TrainProgress) -> None:
        now = time.time()
        if p.phase != "training" or now - last[0] > 30 or p.step == p.total_steps:
            last[0] = now
            loss = f" loss {p.loss:.3f}" if p.loss is not None else ""
            eta = f" eta {p.eta_s / 60:.1f} min" if p.eta_s is not None else ""
            log(f"[{name}] {p.phase} {p.step}/{p.total_steps}{loss}{eta} {p.message}")

    out_dir = Path(out_dir) if out_dir is not None else shipped_adapters_dir(spec.id)
    out_path = out_dir / f"{name}.gguf"
    outcome = train_adapter(
        base_path=base.path,
        base_model_id=spec.id,
        base_sha256=spec.sha256,
        dataset=dataset,
        options=options or recipe.options,
        out_path=out_path,
        name=name,
        description=recipe.description,
        prompt_builder=recipe.prompt_builder,
        progress=progress,
    )
    card = outcome.card
    cases = read_eval_cases(eval_path)
    log(f"[{name}] evaluating on {len(cases)} held-out cases (base, then adapter)")
    use = AdapterUse(path=out_path)
    base_scores, base_speeds = recipe.evaluate(runtime, cases, None)
    adapter_scores, adapter_speeds = recipe.evaluate(runtime, cases, use)
    card.evaluation = recipe.metrics(adapter_scores, base_scores, len(cases))
    if name == "grounded-json":
        base_c, _ = evaluate_grounded(runtime, cases, None, constrained=True)
        adapter_c, _ = evaluate_grounded(runtime, cases, use, constrained=True)
        constrained_keys = ("valid_pct", "truncated_pct", "correct_pct")
        for metric in recipe.metrics(
            {k: v for k, v in adapter_c.items() if k in constrained_keys or k.startswith("n_")},
            {k: v for k, v in base_c.items() if k in constrained_keys or k.startswith("n_")},
            len(cases),
        ):
            metric.name += ", grammar-constrained"
            card.evaluation.append(metric)
    card.speed = speed_cost(base_speeds, adapter_speeds)
    rationale = RATIONALES.get(name, "")
    if spec.id != DEFAULT_BASE:
        steps = (options or recipe.options).steps
        rationale = (
            f"The default model's recipe (same data, shape and prompt) trained on {spec.name} for {steps} steps: the "
            "measured ceiling of the recipe on a larger model, next to the default model's adapter of the same "
            "name. Only the number of steps may differ (a CPU-sized run), and the card's options say which.\n\n"
            + rationale
        )
    if speed_rows:
        rationale += (
            f"\n\nMeasured generation speed of {spec.id} with random adapters of each shape "
            "(speed depends on the shapes, not the values), same prompt, 96 tokens, median of 3:\n\n"
            + speed_table(speed_rows)
        )
    card.rationale = rationale
    card.notes = (
        f"Evaluation runs through ragtune's llama.cpp runtime on {spec.name} ({spec.quantization or 'its own quantization'}), greedy decoding. "
        f"Held-out cases: {eval_path.name} next to the training data; "
        f"{'`make adapters`' if spec.id == DEFAULT_BASE else '`make adapters-qwen` (or `adapters build --model`)'} "
        "regenerates both."
    )
    if name == "grounded-json":
        from ragtune.training.domains import HELDOUT_DOMAINS, TRAIN_DOMAINS

        card.notes += (
            f" Trained on invented organisations of the kinds {', '.join(TRAIN_DOMAINS)}; every held-out figure is "
            f"on kinds it never saw: {', '.join(HELDOUT_DOMAINS)}."
        )
        if Path(out_dir).resolve() == shipped_adapters_dir(spec.id).resolve():
            metrics, run_id = heldout_pipeline_metrics(settings, runtime, log)
            card.evaluation += metrics
            card.notes += (
                " The 'held-out' rows are the full pipeline (ingest data/heldout/docs, hybrid retrieval, the modes "
                f"of the Lab) on data/heldout/questions.jsonl: stored run {run_id}; "
                "`python -m ragtune adapters evaluate` re-runs it."
            )
    save_card(card, out_path)
    log(f"[{name}] done: {out_path} ({out_path.stat().st_size / 1e6:.1f} MB), {card.training_seconds / 60:.1f} min")
    for metric in card.evaluation:
        log(f"[{name}]   {metric.name}: {metric.value}{metric.unit} (base {metric.baseline}{metric.unit})")
    return card


def heldout_pipeline_metrics(
    settings: Settings, runtime: Runtime, log: Callable[[str], None] = print, *, limit: int | None = None
) -> tuple[list[Metric], str]:
    """Run the held-out-domain set through the full pipeline (what ``adapters evaluate`` does) in
    the base, RAG, LoRA and RAG + LoRA modes, and give the card's metrics and the stored run's id."""
    from ragtune.adapters import AdapterCatalog
    from ragtune.economics import EconomicsStore
    from ragtune.evaluation.runner import deterministic_settings
    from ragtune.evaluation.store import EvalStore
    from ragtune.modes import BUILTIN_MODES
    from ragtune.pipeline import Pipeline
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.training.heldout import DEFAULT_DOCS, DEFAULT_SET, check_inputs, evaluate_heldout, heldout_metrics, \
        heldout_rows

    import tempfile

    settings = deterministic_settings(settings)
    eval_set = check_inputs(DEFAULT_DOCS, DEFAULT_SET, limit)
    modes = [m for m in BUILTIN_MODES if m.id in ("base", "rag", "lora", "rag+lora")]
    log(f"[grounded-json] held-out pipeline run: {len(eval_set.cases)} questions x {len(modes)} modes")
    with tempfile.TemporaryDirectory(prefix="ragtune-heldout-") as scratch:
        # A fresh workspace chunked with the current settings; the run is stored with the user's runs.
        kb = KnowledgeBase.from_settings(Settings(**{**settings.model_dump(), "data_dir": Path(scratch), "chroma_url": None}))
        try:
            pipeline = Pipeline(runtime, kb, AdapterCatalog(settings), settings,
                                EconomicsStore(settings.economics_file).load())
            run, _ = evaluate_heldout(pipeline, EvalStore.from_settings(settings), eval_set, modes, docs=DEFAULT_DOCS)
        finally:
            kb.manifest.close()
    metrics = heldout_metrics(run.results)
    lora = next((row for row in heldout_rows(run.results) if row.mode_id == "lora"), None)
    if lora is not None and lora.false_abstain.value is not None:
        metrics.append(Metric(
            name="held-out, LoRA alone (no context): abstains on knowledge questions", unit="%",
            value=round(100 * lora.false_abstain.value, 1), n=lora.false_abstain.n,
            note="behaviour, not facts: without retrieval the adapter should say it does not know",
        ))
    return metrics, run.info.id
