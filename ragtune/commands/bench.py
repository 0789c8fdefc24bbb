"""``bench``: the performance benchmark (Markdown table on stdout, JSON file)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ragtune.adapters import AdapterCatalog
from ragtune.bench import BenchConfig
from ragtune.commands._args import field_int, writable_file
from ragtune.commands._scope import add_user_option, command_scope, open_knowledge_base
from ragtune.config import Settings, load_settings
from ragtune.errors import AdapterError, InputError

DEFAULT_ADAPTER = "grounded-json"
DEFAULT_STOP_MODES = "playground,base,rag,lora,rag+lora,knowledge-lora"


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
        "--only", help="Comma list of sections: runtime, adapter, switch, rag, tax, engine, demo, retrieval "
        "(default: all); with --runtime server: overhead, sessions, lab. 'demo': the Lab's four-mode comparison on "
        "the demo questions against the demo targets, and the same in the browser. 'engine': each engine lever "
        "(the model file's quantization, flash attention, batch, KV type, mlock, threads, an adapter) against the "
        "release's settings."
    )
    bench.add_argument("--no-browser", action="store_true",
                       help="Leave out the demo section's browser figure (it starts the app and Chromium; "
                       "--quick leaves it out too).")
    bench.add_argument("--baseline", metavar="GIT_REF", default=None,
                       help="Run the same sections on GIT_REF too (a temporary git worktree, the same "
                       "virtualenv, temporary data directories) and print each figure side by side with its "
                       "ratio (current / baseline). In-process runtime only.")
    bench.add_argument("--out", type=writable_file, help="JSON file to write (default: <data dir>/bench/).")
    bench.add_argument("--runtime", choices=["inprocess", "server"], default="inprocess",
                       help="'server': measure a model server against the model in this process (one request's "
                       "overhead, throughput and latency at 1, 4 and 8 concurrent sessions, the four-mode Lab "
                       "comparison one mode after another vs at once).")
    bench.add_argument("--server-url", default=None, metavar="URL",
                       help="With --runtime server: the model server to measure, e.g. http://127.0.0.1:8080 (it "
                       "must serve the same model; RAGTUNE_SERVER_API_KEY is its key). Default: start one with "
                       "`make serve-model` on a free loopback port, and stop it at the end.")
    bench.add_argument("--sessions", type=session_counts, default=None, metavar="N,N,...",
                       help="With --runtime server: numbers of concurrent sessions (default 1,4,8; each 1 to 64).")
    bench.set_defaults(handler=cmd_bench, check=check_bench)
    register_prompt_bench(subparsers)
    register_stop_bench(subparsers)


def session_counts(text: str) -> list[int]:
    """``--sessions``: a comma list of 1 to 8 session counts, each from 1 to 64."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or len(parts) > 8 or not all(part.isdigit() and 1 <= int(part) <= 64 for part in parts):
        raise argparse.ArgumentTypeError(f"must be 1 to 8 comma-separated integers from 1 to 64 (got {text[:40]!r})")
    return [int(part) for part in parts]


def check_bench(args: argparse.Namespace) -> None:
    """Options of one runtime given to the other, refused before anything loads."""
    if args.runtime == "inprocess":
        given = [flag for flag, value in (("--server-url", args.server_url), ("--sessions", args.sessions)) if value]
        if given:
            raise InputError(f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only with "
                             "--runtime server.")
        if args.baseline is not None:
            from ragtune.bench_baseline import resolve_baseline

            only = [part.strip() for part in (args.only or "demo").split(",")]
            if "engine" in only:
                raise InputError("--baseline does not apply to the engine section: it measures each lever against "
                                 "the release's settings in one run already. Leave 'engine' out of --only.")
            resolve_baseline(args.baseline, demo="demo" in only)  # an unknown ref: refused before anything runs
    elif args.adapter:
        raise InputError("--adapter applies only to the in-process benchmark: the model server serves the "
                         "adapters `make serve-model` loaded.")
    else:
        given = [flag for flag, value in (("--baseline", args.baseline is not None),
                                          ("--no-browser", args.no_browser)) if value]
        if given:
            raise InputError(f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only to the "
                             "in-process benchmark (the default --runtime inprocess).")


def _out_path(args: argparse.Namespace, settings: Settings, prefix: str) -> Path:
    if args.out is not None:
        return args.out
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return settings.ensure_data_dir() / "bench" / f"{prefix}-{stamp}.json"


def _config(cls: Any, args: argparse.Namespace, overrides: dict[str, object]) -> Any:
    """A bench config (``cls``: in process or server) from the shared options: --repeats, --only, --quick.

    Raises:
        InputError: an option out of range, named.
    """
    if args.repeats is not None:
        overrides["repeats"] = args.repeats
    if args.only:
        overrides["sections"] = [part.strip() for part in args.only.split(",") if part.strip()]
    try:
        return cls.quick_config(**overrides) if args.quick else cls(**overrides)
    except ValidationError as exc:
        raise InputError.from_validation(exc, what="Invalid bench options (see --help)") from exc


def _write_report(args: argparse.Namespace, settings: Settings, prefix: str, report: Any, table: str) -> None:
    """Store ``report`` as JSON (--out, or a stamped file under the data directory) and print its table."""
    out = _out_path(args, settings, prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.model_dump_json(indent=2))
    print(table)
    print(f"JSON: {out}", file=sys.stderr)


def cmd_bench(args: argparse.Namespace) -> int:
    from ragtune.bench import run_bench, to_markdown
    from ragtune.runtime import load_runtime

    if args.runtime == "server":
        return cmd_server_bench(args)
    if args.baseline is not None:
        return cmd_baseline_bench(args)

    settings = load_settings()
    catalog = AdapterCatalog(settings, model_id=args.model_id)  # the adapters shipped for that model
    adapter = None
    if args.adapter:
        adapter = catalog.resolve(args.adapter)
    elif any(entry.name == DEFAULT_ADAPTER for entry in catalog.list()):
        adapter = catalog.resolve(DEFAULT_ADAPTER)
    else:
        print(f"note: no '{DEFAULT_ADAPTER}' adapter: the adapter figures are skipped", file=sys.stderr)
    config = _config(BenchConfig, args, {"adapter": adapter, **({"browser": False} if args.no_browser else {})})
    runtime = load_runtime(settings, model_id=args.model_id)
    if adapter is not None and not args.adapter:
        try:  # an adapter fits one model: skip it when none ships for this one
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
    _write_report(args, settings, "bench", report, to_markdown(report))
    return 0


def cmd_baseline_bench(args: argparse.Namespace) -> int:
    """``bench --baseline GIT_REF``: every chosen section on the ref and on this checkout, side by side.
    Exit 1 when a side failed a step (the table still shows what both sides measured)."""
    from ragtune.bench_baseline import baseline_markdown, run_baseline

    settings = load_settings()
    config = _config(BenchConfig, args, {"browser": False} if args.no_browser else {})
    report = run_baseline(args.baseline, config, lambda message: print(f"  {message}", file=sys.stderr),
                          model_id=args.model_id, adapter=args.adapter)
    _write_report(args, settings, "bench-baseline", report, baseline_markdown(report))
    failed = [f"{name}: {error}" for name, side in (("baseline", report.baseline), ("current", report.current))
              for error in side.errors]
    for line in failed:
        print(f"error: {line}", file=sys.stderr)
    return 1 if failed else 0


def cmd_server_bench(args: argparse.Namespace) -> int:
    """``bench --runtime server``: the model server (``--server-url``, or one started here) vs in process."""
    from contextlib import nullcontext

    from ragtune.bench_server import ServerBenchConfig, model_server, run_server_bench, server_markdown
    from ragtune.errors import ConfigError, RuntimeBackendError
    from ragtune.runtime import load_runtime

    settings = load_settings()
    config = _config(ServerBenchConfig, args, {} if args.sessions is None else {"sessions": args.sessions})
    if args.server_url is not None:
        try:  # the server runtime's own check of the URL, named by the option
            load_settings(runtime="server", server_url=args.server_url)
        except ConfigError as exc:
            raise InputError(f"--server-url: {str(exc).split(': ', 1)[-1]}") from exc
    note = lambda message: print(f"  {message}", file=sys.stderr)  # noqa: E731
    inprocess = load_runtime(settings, model_id=args.model_id, progress=note)
    try:
        started = model_server(settings, model_id=args.model_id, progress=note) if args.server_url is None \
            else nullcontext(args.server_url)
        with started as url:
            server = load_runtime(load_settings(runtime="server", server_url=url), model_id=args.model_id)
            if not server.concurrent:
                raise RuntimeBackendError("This ragtune has no server runtime (RAGTUNE_RUNTIME=server), so there "
                                          "is no model server to measure.")
            try:
                report = run_server_bench(settings, inprocess, server, config, progress=note)
            finally:
                server.close()
    finally:
        inprocess.close()
    _write_report(args, settings, "bench-server", report, server_markdown(report))
    return 0


# -- prompt-bench ----------------------------------------------------------------------------


def register_prompt_bench(subparsers: argparse._SubParsersAction) -> None:
    from ragtune.commands._args import int_range

    pb = subparsers.add_parser(
        "prompt-bench",
        help="Measure the grounded prompt's tokens against retrieval hits and RAG correctness, per chunking, "
        "k, de-duplication and instructions.",
    )
    pb.add_argument("--docs", type=Path, action="append", default=None, metavar="PATH",
                    help="Documents to retrieve from (files or folders; repeatable; default: the demo documents).")
    pb.add_argument("--set", dest="eval_set", type=Path, default=None,
                    help="Eval set whose answerable questions are asked (default: the demo set).")
    pb.add_argument("--limit", type=int_range(1, 100_000), default=None, help="Only the first N questions.")
    pb.add_argument("--no-answers", action="store_true",
                    help="Only prompt tokens and hits (no generation: seconds instead of minutes).")
    pb.add_argument("--model", dest="model_id", help="Registry id (default: the configured model).")
    pb.add_argument("--json", action="store_true", help="Print the rows as JSON.")
    pb.set_defaults(handler=cmd_prompt_bench)


def cmd_prompt_bench(args: argparse.Namespace) -> int:
    import json

    from ragtune.evaluation.prompt_bench import default_grid, measure_prompts, prompt_table
    from ragtune.evaluation.sets import demo_eval_set, load_eval_set
    from ragtune.retrieval.demo import demo_files
    from ragtune.runtime import load_runtime

    settings = load_settings()
    if args.docs:
        missing = [str(p) for p in args.docs if not p.exists()]
        if missing:
            raise InputError(f"No such file or folder: {', '.join(missing)}.")
    if (args.docs is None) != (args.eval_set is None):
        raise InputError("Give both --docs and --set (questions about those documents), or neither (the demo).")
    eval_set = (load_eval_set(args.eval_set) if args.eval_set else demo_eval_set()).limited(args.limit)
    documents = args.docs or demo_files("v1")
    runtime = load_runtime(settings, model_id=args.model_id,
                           progress=lambda message: print(f"  {message}", file=sys.stderr))
    try:
        rows = measure_prompts(settings, runtime, documents, eval_set.cases, default_grid(settings),
                               answer=not args.no_answers,
                               progress=lambda message: print(f"  {message}", file=sys.stderr))
    finally:
        runtime.close()
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
    else:
        print(f"{eval_set.name}: {len(eval_set.cases)} questions on {runtime.model_id}\n")
        print(prompt_table(rows))
    return 0


# -- stop-bench ------------------------------------------------------------------------------


def register_stop_bench(subparsers: argparse._SubParsersAction) -> None:
    from ragtune.commands._args import int_range

    sb = subparsers.add_parser(
        "stop-bench",
        help="Measure the repetition stop: loops it ends, legitimate answers and text it leaves alone; and the "
        "model's answer caps.",
    )
    sb.add_argument("--modes", default=None,
                    help="Comma list: 'playground' (the question alone) and mode ids, routing modes excepted "
                    f"(default: {DEFAULT_STOP_MODES}).")
    sb.add_argument("--limit", type=int_range(1, 100_000), default=None, help="Only the first N demo questions.")
    sb.add_argument("--workspace", default=None, help="Workspace of the modes that retrieve (default: the demo).")
    sb.add_argument("--model", dest="model_id", help="Registry id (default: the configured model).")
    sb.add_argument("--save", type=writable_file, default=None, help="Write the recorded answers here (JSON Lines).")
    sb.add_argument("--load", type=Path, default=None,
                    help="Replay answers recorded with --save instead of generating (seconds, not minutes); "
                    "the recording holds its own modes and questions, so --modes, --limit, --workspace and "
                    "--save do not apply.")
    sb.set_defaults(handler=cmd_stop_bench, check=check_stop_bench)
    add_user_option(sb)


def check_stop_bench(args: argparse.Namespace) -> None:
    """Unknown and routing modes, a missing recording, and options a replay would ignore are refused
    before the model loads."""
    from ragtune.evaluation.stop_bench import PLAYGROUND, check_recordable
    from ragtune.modes import parse_mode_ids

    if args.load is not None:
        ignored = [flag for flag, given in (("--modes", args.modes is not None), ("--limit", args.limit is not None),
                                            ("--workspace", args.workspace is not None),
                                            ("--save", args.save is not None)) if given]
        if ignored:
            raise InputError(f"--load replays a recording as it was made: {', '.join(ignored)} does not apply "
                             "(record again with --save to change what is recorded).")
        if not args.load.is_file():
            raise InputError(f"No recording at {args.load}: write one with --save first.")
        return
    store = command_scope(args).modes(load_settings().modes_file)  # the modes the user may use
    known = [PLAYGROUND, *store.ids()]
    spec = args.modes if args.modes is not None else DEFAULT_STOP_MODES
    chosen, unknown = parse_mode_ids(spec, known)
    if unknown or not chosen:
        raise InputError(f"Unknown or no modes in --modes {spec!r}. Known: {', '.join(known)}.")
    for mode_id in chosen:
        if mode_id != PLAYGROUND:
            check_recordable(store.get(mode_id))


def cmd_stop_bench(args: argparse.Namespace) -> int:
    from ragtune.answer_caps import answer_caps
    from ragtune.evaluation.sets import demo_eval_set
    from ragtune.evaluation.stop_bench import (
        PLAYGROUND, legit_repetition, load_rows, record_answers, replay, replay_table, save_rows,
    )
    from ragtune.modes import parse_mode_ids
    from ragtune.runtime import load_runtime
    from ragtune.runtime.stops import RepetitionRule

    settings = load_settings()
    scope = command_scope(args)
    store = scope.modes(settings.modes_file)
    chosen, _ = parse_mode_ids(args.modes if args.modes is not None else DEFAULT_STOP_MODES,
                               [PLAYGROUND, *store.ids()])
    modes = [m if m == PLAYGROUND else store.get(m) for m in chosen]
    kb = None
    workspace = args.workspace or settings.demo_workspace or None
    if args.load is None and any(m != PLAYGROUND and m.retrieval for m in modes):
        kb = open_knowledge_base(args, seed_demo=bool(workspace) and workspace == settings.demo_workspace)
    note = lambda message: print(f"  {message}", file=sys.stderr)  # noqa: E731
    runtime = load_runtime(settings, model_id=args.model_id, progress=note)
    try:
        if args.load is not None:
            rows = load_rows(args.load)
        else:
            pipeline = scope.pipeline(runtime, kb, settings)  # the user's workspaces and adapters only
            rows = record_answers(pipeline, demo_eval_set().limited(args.limit).cases, modes, workspace,
                                  on_progress=note)
            if args.save is not None:
                save_rows(rows, args.save)
        rule = RepetitionRule()
        print(f"{runtime.model_id}: {len(rows)} answers, greedy, up to 256 tokens, no stop but the end of turn\n")
        print(replay_table(replay(rows, rule, runtime.count_tokens)))
        legit = legit_repetition(rule)
        print(f"\nLegitimate text ({legit.files} files: documents, README, code): longest back-to-back repetition "
              f"{legit.longest_units} units ({legit.longest_in}); most copies of a 12-unit block "
              f"{legit.most_copies} ({legit.most_copies_in}); stopped by the rule: "
              f"{', '.join(legit.stopped) or 'none'}.")
        print(f"Rule: {rule.model_dump()}")
        caps = answer_caps(runtime)
        print(f"Answer caps: grounded JSON {caps.json_answer} tokens, plain {caps.plain_answer} tokens "
              f"({caps.basis}); RAGTUNE_MAX_TOKENS {settings.max_tokens} is the ceiling.")
    finally:
        runtime.close()
    return 0
