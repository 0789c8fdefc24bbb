"""``train`` and ``adapters``: LoRA training from a JSONL file, and the shipped adapters."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ragtune.adapters import DEFAULT_ADAPTER_MODEL, shipped_adapters_dir
from ragtune.commands._args import field_float, field_int, int_range
from ragtune.commands._scope import add_user_option, command_scope
from ragtune.config import Settings, load_settings
from ragtune.errors import InputError
from ragtune.names import check_name, inside
from ragtune.training.options import ALL_TARGETS, TrainOptions


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="Train a LoRA adapter from a JSONL of chat examples (needs requirements-train.txt).",
        description=(
            'Each JSONL line: {"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}; '
            "the loss covers the assistant turns. The adapter (GGUF, f16) and its card go to the data "
            "directory's adapters folder (or --out)."
        ),
    )
    train.add_argument("--base", dest="base_model_id", help="Registry id of the base model (default: configured).")
    train.add_argument("--data", type=Path, help="The JSONL file of examples.")
    train.add_argument("--name", help="Adapter name (file name without .gguf).")
    train.add_argument("--out", type=Path, help="Output folder (default: <data dir>/adapters).")
    defaults = TrainOptions()
    train.add_argument("--rank", type=field_int(TrainOptions, "rank"), default=defaults.rank)
    train.add_argument("--alpha", type=field_float(TrainOptions, "alpha"), default=defaults.alpha)
    train.add_argument("--dropout", type=field_float(TrainOptions, "dropout"), default=defaults.dropout)
    train.add_argument(
        "--targets", default=",".join(defaults.target_modules),
        help=f"Comma-separated modules among {','.join(ALL_TARGETS)} (default: all).",
    )
    train.add_argument("--steps", type=field_int(TrainOptions, "steps"), help="Optimizer steps (default: 3 epochs).")
    train.add_argument("--epochs", type=field_float(TrainOptions, "epochs"), help="Epochs, when --steps is not given.")
    train.add_argument("--lr", type=field_float(TrainOptions, "learning_rate"), default=defaults.learning_rate,
                       help="Learning rate.")
    train.add_argument("--batch", type=field_int(TrainOptions, "batch_size"), default=defaults.batch_size,
                       help="Examples per step.")
    train.add_argument("--max-length", type=field_int(TrainOptions, "max_length"), default=defaults.max_length,
                       help="Longer examples are skipped.")
    train.add_argument("--seed", type=field_int(TrainOptions, "seed"), default=defaults.seed)
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    train.add_argument("--threads", type=field_int(TrainOptions, "threads"),
                       help="torch CPU threads (default: all cores).")
    train.add_argument("--job-dir", type=Path, help=argparse.SUPPRESS)  # the Adapters page's worker
    # --user: the adapter is shared when an admin trains it, else personal. Not checked by main: the page's
    # worker (--job-dir) acts for the job's owner, recorded in the job.
    train.add_argument("--user", metavar="EMAIL", default=None,
                       help="Act as this user (default: RAGTUNE_USER; needed when RAGTUNE_AUTH is not none): "
                       "an admin's adapter is shared, anyone else's personal.")
    train.set_defaults(handler=cmd_train, check=check_train)

    adapters = subparsers.add_parser("adapters", help="Build the shipped adapters (`make adapters`).")
    inner = adapters.add_subparsers(dest="adapters_command", metavar="ACTION")
    inner.required = True
    build = inner.add_parser("build", help="Generate data, train, evaluate and write the shipped adapters.")
    build.add_argument("--only", action="append", help="Build only this adapter (repeatable).")
    build.add_argument("--out", type=Path, help="Output folder (default: models/adapters, or models/adapters/<model> "
                       "for another model).")
    build.add_argument("--model", dest="model_id", default=DEFAULT_ADAPTER_MODEL,
                       help="Registry id of the base model (default: the default model; "
                       "qwen2.5-coder-0.5b-instruct-q4_k_m after `make model-qwen`).")
    build.add_argument("--steps", type=field_int(TrainOptions, "steps"),
                       help="Training steps instead of the recipe's (a shorter run on a larger model).")
    build.add_argument("--seed", type=field_int(TrainOptions, "seed"), default=42)
    build.add_argument("--no-speed-table", action="store_true", help="Skip the speed measurement (`adapters measure`).")
    build.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                       help="Train on the CPU (default, reproducible) or on a CUDA GPU.")
    build.set_defaults(handler=cmd_adapters_build)
    register_evaluate(inner)
    register_sweep(inner)
    measure = inner.add_parser("measure", help="Re-measure the shipped adapters' speed cost into their cards.")
    measure.add_argument("--rounds", type=int_range(1, 100), default=5)
    measure.add_argument("--out", type=Path, help="Adapters folder (default: the model's shipped folder).")
    measure.add_argument("--model", dest="model_id", default=DEFAULT_ADAPTER_MODEL,
                         help="Registry id of the base model (default: the default model).")
    measure.set_defaults(handler=cmd_adapters_measure)
    data = inner.add_parser("data", help="Only (re)generate the shipped adapters' training and eval data.")
    data.add_argument("--seed", type=field_int(TrainOptions, "seed"), default=42)
    data.set_defaults(handler=cmd_adapters_data)
    for parser in inner.choices.values():  # they write the shipped adapters, their data and a shared workspace
        add_user_option(parser, admin="build or measure the shipped adapters")


def _options(args: argparse.Namespace) -> TrainOptions:
    """The hyperparameters; raises InputError naming the option and the rule."""
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    return TrainOptions.checked(
        {
            "rank": args.rank,
            "alpha": args.alpha,
            "dropout": args.dropout,
            "target_modules": targets,
            "steps": args.steps,
            "epochs": args.epochs,
            "learning_rate": args.lr,
            "batch_size": args.batch,
            "max_length": args.max_length,
            "seed": args.seed,
            "device": args.device,
            "threads": args.threads,
        }
    )


def check_train(args: argparse.Namespace) -> None:
    """What can be refused before anything loads: the name (a file name: never a path) and the options."""
    if args.job_dir:
        return
    scope = command_scope(args)
    if args.out is not None:
        scope.require_admin("write an adapter to a path on the server (--out)")
    if not args.data or not args.name:
        raise InputError("Give --data FILE.jsonl and --name NAME (and optionally --base MODEL_ID).")
    args.name = check_name("adapter", args.name.removesuffix(".gguf"))
    _options(args)


def cmd_train(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.job_dir:
        from ragtune.training.jobs import run_job

        return run_job(args.job_dir, settings)
    check_train(args)
    options = _options(args)

    from ragtune.errors import AdapterError
    from ragtune.models import ModelRegistry
    from ragtune.training.data import load_examples
    from ragtune.training.deps import require_training_packages

    require_training_packages()
    dataset = load_examples(args.data)
    registry = ModelRegistry(settings)
    spec = registry.get(args.base_model_id or registry.default_id())
    base = registry.verify(spec)
    catalog = command_scope(args).catalog(settings)  # an admin's adapter is shared, anyone else's personal
    out_dir = Path(args.out or catalog.user_dir)
    out_path = inside(out_dir, out_dir / f"{args.name}.gguf")
    from ragtune.training.card import peft_folder

    if out_path.exists() or peft_folder(out_path).exists() or (args.out is None and args.name in catalog.taken_names()):
        raise AdapterError(f"An adapter named '{args.name}' exists already; choose another --name.")
    settings.ensure_data_dir()
    if catalog.personal is not None and args.out is None:
        catalog.personal.ensure_folder()
    total = options.total_steps(len(dataset.examples))
    print(f"training '{args.name}' on {spec.id}: {len(dataset.examples)} examples, {total} steps", file=sys.stderr)
    last = [0.0]

    from ragtune.training.trainer import TrainProgress, train_adapter

    def progress(p: TrainProgress) -> None:
        now = time.monotonic()
        if p.phase == "training" and now - last[0] < 5 and p.step != p.total_steps:
            return
        last[0] = now
        if p.phase == "training":
            print(
                f"  step {p.step}/{p.total_steps}  loss {p.loss:.4f}  elapsed {p.elapsed_s:.0f}s  "
                f"left ~{(p.eta_s or 0):.0f}s",
                file=sys.stderr,
            )
        else:
            print(f"  {p.phase} {p.message}", file=sys.stderr)

    outcome = train_adapter(
        base_path=base.path,
        base_model_id=spec.id,
        base_sha256=spec.sha256,
        dataset=dataset,
        options=options,
        out_path=out_path,
        name=args.name,
        description=f"Trained from {args.data.name} with `python -m ragtune train`.",
        progress=progress,
    )
    card = outcome.card
    print(
        json.dumps(
            {
                "adapter": str(outcome.adapter_path),
                "examples": card.n_examples,
                "skipped": card.n_skipped,
                "steps": len(card.loss_curve),
                "final_loss": card.loss_curve[-1].loss if card.loss_curve else None,
                "training_seconds": card.training_seconds,
            }
        )
    )
    return 0


def cmd_adapters_data(args: argparse.Namespace) -> int:
    from ragtune.training.recipes import RECIPES
    from ragtune.training.recipes.base import write_recipe_data
    from ragtune.training.recipes.grounded_json import write_heldout

    for recipe in RECIPES.values():
        train, cases = write_recipe_data(recipe, args.seed)
        print(f"{recipe.name}: {train} and {cases}")
    docs, questions = write_heldout(seed=args.seed)
    print(f"held-out documents: {docs} and {questions}")
    return 0


def cmd_adapters_build(args: argparse.Namespace) -> int:
    import tempfile

    from ragtune.errors import InputError
    from ragtune.runtime import load_runtime
    from ragtune.training.deps import require_training_packages
    from ragtune.training.recipes import RECIPES
    from ragtune.training.shipped import build_shipped, remeasure_shipped

    require_training_packages()
    names = args.only or list(RECIPES)
    unknown = [n for n in names if n not in RECIPES]
    if unknown:
        raise InputError(f"Unknown adapter(s) {unknown}; the shipped ones are {', '.join(RECIPES)}.")
    settings = load_settings()
    out_dir = args.out or shipped_adapters_dir(args.model_id)
    # In process: the adapters it measures are fresh files no model server has loaded. An unknown or
    # missing model stops here.
    runtime = load_runtime(settings, model_id=args.model_id, inprocess=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        update: dict[str, object] = {"device": args.device}
        if args.steps is not None:
            update.update(steps=args.steps, epochs=None)
        options = RECIPES[name].options.model_copy(update=update)
        build_shipped(name, settings=settings, runtime=runtime, out_dir=out_dir, seed=args.seed,
                      log=lambda m: print(m, file=sys.stderr, flush=True), options=options)
    if not args.no_speed_table:
        with tempfile.TemporaryDirectory() as tmp:
            rows = remeasure_shipped(runtime, out_dir, Path(tmp))
        print(json.dumps(rows), file=sys.stderr)
    runtime.close()
    return 0


def cmd_adapters_measure(args: argparse.Namespace) -> int:
    import tempfile

    from ragtune.runtime import load_runtime
    from ragtune.training.shipped import remeasure_shipped

    runtime = load_runtime(load_settings(), model_id=args.model_id, inprocess=True)  # fresh random adapters
    with tempfile.TemporaryDirectory() as tmp:
        rows = remeasure_shipped(runtime, args.out or shipped_adapters_dir(args.model_id), Path(tmp), rounds=args.rounds)
    runtime.close()
    for row in rows:
        print(f"{row['config']:<32} {row['tokens_per_s']:>7} tok/s  cost {row['cost_pct']:>6}%")
    return 0


# -- adapters evaluate: the held-out domains ---------------------------------------------------


def register_evaluate(inner: argparse._SubParsersAction) -> None:
    from ragtune.commands._args import int_range
    from ragtune.training.heldout import DEFAULT_DOCS, DEFAULT_MODES, DEFAULT_SET, DEFAULT_WORKSPACE

    ev = inner.add_parser(
        "evaluate",
        help="Evaluate the modes on documents of domains the adapters never saw, and check the targets.",
        description="Ingests --docs into --workspace (unchanged files are skipped), runs --set in each mode "
        "at temperature 0 (stored like `eval`), prints one row per mode with n and the targets with pass/miss.",
    )
    ev.add_argument("--docs", type=Path, default=DEFAULT_DOCS, help="Folder of documents (default: data/heldout/docs).")
    ev.add_argument("--set", dest="eval_set", type=Path, default=DEFAULT_SET,
                    help="Eval set, JSON Lines of EvalCase (default: data/heldout/questions.jsonl).")
    ev.add_argument("--workspace", "-w", default=DEFAULT_WORKSPACE, help="Workspace to ingest into (default: heldout).")
    ev.add_argument("--modes", default=DEFAULT_MODES, help=f"Comma-separated mode ids (default: {DEFAULT_MODES}).")
    ev.add_argument("--limit", type=int_range(1, 1_000_000), default=None, help="Only the first N questions.")
    ev.add_argument("--model", dest="model_id", default=None, help="Registry id (default: the configured model).")
    ev.add_argument("--json", action="store_true", help="Print rows and targets as JSON.")
    ev.add_argument("--markdown", action="store_true", help="Print only the Markdown tables (for the README).")
    ev.set_defaults(handler=cmd_adapters_evaluate, check=check_adapters_evaluate)


def check_adapters_evaluate(args: argparse.Namespace) -> None:
    """Refuse a missing folder, set file or unknown mode before the model loads."""
    from ragtune.commands.evaluation import _modes
    from ragtune.evaluation.runner import deterministic_settings
    from ragtune.training.heldout import check_inputs

    args.checked_set = check_inputs(args.docs, args.eval_set, args.limit)
    args.checked_modes = _modes(deterministic_settings(load_settings()), args.modes, command_scope(args))


def cmd_adapters_evaluate(args: argparse.Namespace) -> int:
    from ragtune.adapters import AdapterCatalog
    from ragtune.commands.evaluation import _pipeline, _progress_printer, _write_results
    from ragtune.evaluation.runner import deterministic_settings
    from ragtune.evaluation.store import EvalStore
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.training.heldout import (
        adapter_speed_cost, check_targets, evaluate_heldout, heldout_rows, ingest_docs, rows_markdown,
        targets_markdown,
    )

    settings = deterministic_settings(load_settings())
    eval_set, modes = args.checked_set, args.checked_modes
    kb = KnowledgeBase.from_settings(settings)
    # Check the inputs (nothing written when refused), then ingest, before the model loads; the second
    # ingest below is a no-op.
    report = ingest_docs(kb, args.workspace, args.docs, eval_set)
    changed = [f for f in report.files if f.status != "unchanged"]
    print(f"  documents: {len(report.files)} in '{args.workspace}' ({len(changed)} added or replaced)",
          file=sys.stderr)
    pipeline = _pipeline(settings, kb, args.model_id, command_scope(args))
    try:
        run, _ = evaluate_heldout(pipeline, EvalStore.from_settings(settings), eval_set, modes, docs=args.docs,
                                  workspace=args.workspace, on_progress=_progress_printer())
    finally:
        pipeline.runtime.close()
    out = _write_results(run, None, settings)
    rows = heldout_rows(run.results)
    # The speed target is the applied adapter's (rag+lora's, grounded-json by default), from its card.
    adapter = next((m.adapter for m in modes if m.id == "rag+lora" and m.adapter), "grounded-json")
    catalog = AdapterCatalog(settings).for_model(pipeline.runtime.model_id)
    targets = check_targets(rows, speed_cost=adapter_speed_cost(catalog, adapter))
    if args.json:
        print(json.dumps({"run": run.info.model_dump(mode="json"), "results_file": str(out),
                          "rows": [r.model_dump(mode="json") for r in rows],
                          "targets": [{**t.model_dump(mode="json"), "verdict": t.verdict} for t in targets]},
                         indent=2))
    else:
        if not args.markdown:
            print(f"run {run.info.id}: {eval_set.name}, {len(eval_set.cases)} questions on documents "
                  f"'{args.workspace}', model {run.info.model_id}, temperature 0, {run.info.status}\n")
        print(rows_markdown(rows))
        print()
        print(targets_markdown(targets))
        if not args.markdown:
            print(f"\nper-question results: {out}")
    return 0 if run.info.status == "complete" else 1


# -- adapters sweep: training throughput by shape ----------------------------------------------


def register_sweep(inner: argparse._SubParsersAction) -> None:
    from ragtune.commands._args import int_range

    sw = inner.add_parser(
        "sweep", help="Time training steps for several LoRA shapes (sequence length, rank, modules, layers)."
    )
    sw.add_argument("--steps", type=int_range(1, 100), default=3, help="Timed steps per shape (after one warm-up).")
    sw.add_argument("--model", dest="model_id", default=None, help="Registry id (default: the configured model).")
    sw.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    sw.add_argument("--threads", type=field_int(TrainOptions, "threads"), help="torch CPU threads (default: all).")
    sw.add_argument("--batch", type=field_int(TrainOptions, "batch_size"), default=4, help="Examples per step.")
    sw.add_argument("--json", action="store_true", help="Print the rows as JSON.")
    sw.add_argument("--quality", action="store_true",
                    help="Instead: train grounded-json in full once per candidate shape and score each on the "
                    "held-out cases (quality per minute; slow: a full training run per candidate).")
    sw.set_defaults(handler=cmd_adapters_sweep)


def cmd_adapters_sweep(args: argparse.Namespace) -> int:
    from ragtune.models import ModelRegistry
    from ragtune.training.deps import require_training_packages
    from ragtune.training.sweep import DEFAULT_SHAPES, run_sweep, sweep_markdown

    require_training_packages()
    settings = load_settings()
    if args.quality:
        return _quality_sweep(args, settings)
    registry = ModelRegistry(settings)
    spec = registry.get(args.model_id or registry.default_id())
    base = registry.verify(spec)
    result = run_sweep(base.path, DEFAULT_SHAPES, steps=args.steps, batch_size=args.batch, device=args.device,
                       threads=args.threads, log=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        print(sweep_markdown(result, model_id=spec.id))
    return 0


def _quality_sweep(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from ragtune.runtime import load_runtime
    from ragtune.training.sweep import QUALITY_CANDIDATES, quality_markdown, quality_sweep

    if args.model_id:
        raise InputError("--quality trains the shipped recipe on the default model: leave out --model.")
    candidates = [c.model_copy(update={"device": args.device, "threads": args.threads or c.threads})
                  for c in QUALITY_CANDIDATES]
    # in process: the candidates' adapters are fresh files no model server has loaded
    runtime = load_runtime(settings, progress=lambda m: print(f"  {m}", file=sys.stderr), inprocess=True)
    try:
        with tempfile.TemporaryDirectory(prefix="ragtune-quality-sweep-") as workdir:
            rows = quality_sweep(settings, runtime, "grounded-json", candidates, Path(workdir),
                                 log=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
    finally:
        runtime.close()
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
    else:
        print(quality_markdown(rows))
    return 0
