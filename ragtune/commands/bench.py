"""``bench``: the performance benchmark (Markdown table on stdout, JSON file)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from pydantic import ValidationError

from ragtune.adapters import AdapterCatalog
from ragtune.bench import BenchConfig
from ragtune.commands._args import field_int, writable_file
from ragtune.config import load_settings
from ragtune.errors import AdapterError, InputError

DEFAULT_ADAPTER = "grounded-json"


def register(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser(
        "bench", help="Measure the runtime, adapters, RAG and retrieval; print a Markdown table."
    )
    bench.add_argument("--quick", action="store_true", help="Few repeats, small corpora (for CI).")
    bench.add_argument("--repeats", type=field_int(BenchConfig, "repeats"), default=None,
                       help="Measured runs per figure (default 7).")
    bench.add_argument("--model", dest="model_id", help="Registry id (default: the configured model).")
    bench.add_argument(
        "--adapter", help=f"Adapter for the overhead figures (default: {DEFAULT_ADAPTER} when present)."
    )
    bench.add_argument(
        "--only", help="Comma list of sections: runtime, adapter, switch, rag, tax, retrieval (default: all)."
    )
    bench.add_argument("--out", type=writable_file, help="JSON file to write (default: <data dir>/bench/).")
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from ragtune.bench import run_bench, to_markdown
    from ragtune.runtime import load_runtime

    settings = load_settings()
    catalog = AdapterCatalog(settings)
    adapter = None
    if args.adapter:
        adapter = catalog.resolve(args.adapter)
    elif any(entry.name == DEFAULT_ADAPTER for entry in catalog.list()):
        adapter = catalog.resolve(DEFAULT_ADAPTER)
    else:
        print(f"note: no '{DEFAULT_ADAPTER}' adapter: the adapter figures are skipped", file=sys.stderr)
    overrides: dict[str, object] = {"adapter": adapter}
    if args.repeats is not None:
        overrides["repeats"] = args.repeats
    if args.only:
        overrides["sections"] = [part.strip() for part in args.only.split(",") if part.strip()]
    try:
        config = BenchConfig.quick_config(**overrides) if args.quick else BenchConfig(**overrides)
    except ValidationError as exc:
        raise InputError.from_validation(exc, what="Invalid bench options (see --help)") from exc
    runtime = load_runtime(settings, model_id=args.model_id)
    if adapter is not None and not args.adapter:
        try:  # the shipped adapter fits the default model only: skip it for another model
            runtime.load_adapter(adapter)
        except AdapterError as exc:
            print(f"note: {exc} The adapter figures are skipped.", file=sys.stderr)
            config = config.model_copy(update={"adapter": None})
    try:
        report = run_bench(
            settings, runtime, config, progress=lambda message: print(f"  {message}", file=sys.stderr)
        )
    finally:
        runtime.close()
    out = args.out
    if out is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        out = settings.ensure_data_dir() / "bench" / f"bench-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.model_dump_json(indent=2))
    print(to_markdown(report))
    print(f"JSON: {out}", file=sys.stderr)
    return 0
