"""``eval`` and ``report``: evaluation across modes (or routing accuracy, ``eval --routing``), and the
seed's claims measured."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.commands._args import int_range, writable_file
from ragtune.commands._scope import add_user_option, command_scope, open_knowledge_base
from ragtune.config import Settings, load_settings

if TYPE_CHECKING:
    from ragtune.access import Scope, ScopedKnowledgeBase
    from ragtune.evaluation.routing import RoutingResult, RoutingRun, RoutingSet
    from ragtune.evaluation.runner import Progress, RunPlan
    from ragtune.evaluation.store import EvalRun
    from ragtune.modes import Mode
    from ragtune.pipeline import Pipeline
    from ragtune.retrieval.knowledge import KnowledgeBase

MAX_LIMIT = 1_000_000
DEFAULT_EVAL_MODES = "base,rag,lora,rag+lora"


def register(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser(
        "eval", help="Run an eval set (JSONL) across modes; print the scoreboard, write per-question results."
    )
    ev.add_argument("--set", dest="eval_set", type=Path, default=None,
                    help="Eval set, JSON Lines (default: the demo set data/eval/questions.jsonl; with --routing "
                    "the routing set data/eval/routing.jsonl).")
    ev.add_argument("--workspace", "-w", default=None, help="Workspace to retrieve from (default: the demo one).")
    ev.add_argument("--modes", default=None,
                    help=f"Comma-separated mode ids (default: {DEFAULT_EVAL_MODES}; with --routing one routing "
                    "mode, default: route).")
    ev.add_argument("--routing", action="store_true",
                    help="Score routing accuracy instead: the routing mode's classifier vs the base model with the "
                    "same prompt, on a routing set (query -> expected route); answers are not generated.")
    ev.add_argument("--no-baseline", action="store_true",
                    help="With --routing: skip the base model's baseline (half the time; no claim 7 comparison).")
    ev.add_argument("--version", choices=("v1", "v2"), default=None,
                    help="Document version the answers are judged against (default: the workspace's demo "
                    "version, else v1).")
    ev.add_argument("--limit", type=int_range(1, MAX_LIMIT), default=None,
                    help="Only the first N questions (with --routing: of each expected route).")
    ev.add_argument("--model", dest="model_id", default=None, help="Registry id (default: the configured model).")
    ev.add_argument("--out", type=writable_file, default=None,
                    help="Per-question results file, .csv or .json (default: <data dir>/evaluations/<run>.csv; "
                    "with --routing the run is stored in <data dir>/evaluations/routing/<run>.json and --out "
                    "writes a copy, one row per router and query).")
    ev.add_argument("--json", action="store_true", help="Print the run summary and scoreboard as JSON.")
    ev.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), default=None,
                    help="Run nothing: compare two stored runs of the same eval set question by question, per "
                    "mode both ran (correct, correct and valid, cites support, same chunks retrieved), with "
                    "the report's paired test: is B lower than A, or within noise? (e.g. two models' runs)")
    ev.set_defaults(handler=cmd_eval)
    add_user_option(ev)

    rep = subparsers.add_parser(
        "report", help="Run the demo evaluation across all modes and state each of the seed's claims with a verdict."
    )
    rep.add_argument("--limit", type=int_range(1, MAX_LIMIT), default=None,
                     help="Only the first N questions of each kind (answerable, unanswerable, changed).")
    rep.add_argument("--modes", default=None, help="Comma-separated mode ids (default: all built-in modes).")
    rep.add_argument("--model", dest="model_id", default=None, help="Registry id (default: the configured model).")
    rep.add_argument("--run", dest="run_ids", action="append", default=None, metavar="RUN_ID",
                     help="Report on stored run(s) instead of running one; repeat to combine runs of the same "
                     "model and settings (a later run's answers replace an earlier one's for the same mode); claim 7 "
                     "reads the newest stored routing run of the same model that measured the built-in 'route' "
                     "mode on the whole routing set with its baseline (`eval --routing`, no --limit, --set or "
                     "--no-baseline).")
    rep.add_argument("--markdown", action="store_true", help="Print the claims as a Markdown table.")
    rep.add_argument("--json", action="store_true", help="Print the claims as JSON.")
    rep.set_defaults(handler=cmd_report)
    add_user_option(rep)


# -- helpers -------------------------------------------------------------------------------


def _progress_printer() -> Callable[[Progress], None]:
    tty = sys.stderr.isatty()
    last = {"shown": -1}

    def show(p: Progress) -> None:
        step = max(p.total // 20, 1)
        if tty:
            print(f"\r  {p.text()} ({p.mode_id})   ", end="", file=sys.stderr, flush=True)
            if p.done == p.total:
                print(file=sys.stderr)
        elif p.done == p.total or p.done // step != last["shown"]:
            last["shown"] = p.done // step
            print(f"  {p.text()} ({p.mode_id})", file=sys.stderr, flush=True)

    return show


def _modes(settings: Settings, spec: str, scope: Scope) -> list[Mode]:
    """The modes named in ``--modes`` (among those the user may use); an unknown id is an error before
    anything loads."""
    from ragtune.errors import InputError
    from ragtune.modes import parse_mode_ids

    store = scope.modes(settings.modes_file)
    mode_ids, unknown = parse_mode_ids(spec, store.ids())
    if unknown or not mode_ids:
        raise InputError(f"Unknown mode(s): {', '.join(unknown) or '(none given)'}. "
                         f"Known modes: {', '.join(store.ids())}.")
    return store.resolve(mode_ids)


def _pipeline(settings: Settings, kb: KnowledgeBase | ScopedKnowledgeBase | None, model_id: str | None,
              scope: Scope) -> Pipeline:
    from ragtune.economics import EconomicsStore
    from ragtune.runtime import load_runtime

    runtime = load_runtime(settings, model_id=model_id,
                           progress=lambda message: print(f"  {message}", file=sys.stderr))
    economics = EconomicsStore(settings.economics_file).load()
    return scope.pipeline(runtime, kb, settings, economics)  # the user's workspaces and adapters only


def _run(plan: RunPlan, settings: Settings, scope: Scope) -> EvalRun:
    """Run the plan with progress on stderr; the run is stored as the user's."""
    from ragtune.evaluation.runner import run_plan

    return run_plan(plan, store=scope.eval_store(settings), on_progress=_progress_printer())  # type: ignore[arg-type]


def _write_results(run: EvalRun, out: Path | None, settings: Settings) -> Path:
    if out is None:
        out = settings.ensure_data_dir() / "evaluations" / f"{run.info.id}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(run.to_json() if out.suffix.lower() == ".json" else run.to_csv(), encoding="utf-8")
    return out


# -- eval ------------------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    if args.compare:
        return cmd_eval_compare(args)
    if args.routing:
        return cmd_eval_routing(args)
    if args.no_baseline:
        from ragtune.errors import InputError

        raise InputError("--no-baseline applies to --routing only.")
    from ragtune.evaluation.runner import deterministic_settings, plan_eval
    from ragtune.evaluation.scoreboard import scoreboard_markdown
    from ragtune.evaluation.sets import demo_eval_set, load_eval_set
    from ragtune.tenants import is_tenant_workspace

    settings = deterministic_settings(load_settings())
    scope = command_scope(args)
    # The set is validated first: an invalid file exits before any model loads.
    eval_set = load_eval_set(args.eval_set) if args.eval_set else demo_eval_set()
    modes = _modes(settings, args.modes or DEFAULT_EVAL_MODES, scope)
    workspace = args.workspace or settings.demo_workspace or None
    kb = open_knowledge_base(args, seed_demo=bool(workspace) and workspace == settings.demo_workspace,
                             seed_tenants=bool(workspace) and is_tenant_workspace(workspace), settings=settings)
    if workspace:
        kb.workspace(workspace)  # raises WorkspaceError (or PermissionDenied) naming the problem
    pipeline = _pipeline(settings, kb, args.model_id, scope)
    try:
        plan = plan_eval(pipeline, eval_set, modes, workspace, version=args.version, limit=args.limit)
        for case_id, why in plan.not_judged.items():
            print(f"note: question {case_id} is left out, {why}", file=sys.stderr)
        if plan.elsewhere:  # a multi-tenant set: each tenant's questions are scored on its own workspace
            print(f"note: {len(plan.elsewhere)} questions are left out: their answers are for "
                  f"{', '.join(sorted(set(plan.elsewhere.values())))}", file=sys.stderr)
        run = _run(plan, settings, scope)
    finally:
        pipeline.runtime.close()
    out = _write_results(run, args.out, settings)
    board = run.scoreboard()
    if args.json:
        print(json.dumps({"run": run.info.model_dump(mode="json"), "results_file": str(out),
                          "scoreboard": [s.model_dump(mode="json") for s in board]}, indent=2))
    else:
        print(f"run {run.info.id}: {eval_set.name}, {len(plan.items)} questions (documents "
              f"{', '.join(plan.workspaces)}), model {run.info.model_id}, {run.info.status}")
        print(scoreboard_markdown(board))
        print(f"per-question results: {out}")
    return 0 if run.info.status == "complete" else 1


def cmd_eval_compare(args: argparse.Namespace) -> int:
    """``eval --compare RUN_A RUN_B``: two stored runs, paired per mode and measure."""
    from ragtune.errors import InputError
    from ragtune.evaluation.compare import compare_runs, comparison_markdown

    given = [flag for flag, value in (("--set", args.eval_set), ("--workspace", args.workspace),
                                      ("--modes", args.modes), ("--routing", args.routing),
                                      ("--version", args.version), ("--limit", args.limit),
                                      ("--model", args.model_id), ("--out", args.out)) if value]
    if given:
        raise InputError(f"--compare runs nothing: {', '.join(given)} does not apply.")
    store = command_scope(args).eval_store(load_settings())
    run_a, run_b = (store.load(run_id) for run_id in args.compare)  # InputError naming a missing run
    rows = compare_runs(run_a, run_b)
    if args.json:
        print(json.dumps({"a": run_a.info.model_dump(mode="json"), "b": run_b.info.model_dump(mode="json"),
                          "rows": [row.model_dump() for row in rows]}, indent=2))
    else:
        print(comparison_markdown(run_a, run_b, rows), end="")
    return 0


# -- eval --routing --------------------------------------------------------------------------


def cmd_eval_routing(args: argparse.Namespace) -> int:
    from ragtune.errors import InputError
    from ragtune.evaluation.routing import RoutingRunStore, check_set_fits, load_routing_set
    from ragtune.evaluation.runner import deterministic_settings

    misplaced = [flag for flag, given in (("--workspace", args.workspace), ("--version", args.version)) if given]
    if misplaced:
        raise InputError(f"--routing scores which route each query takes, from no documents: {', '.join(misplaced)} "
                         "does not apply.")
    settings = deterministic_settings(load_settings())
    scope = command_scope(args)
    # The set and the mode are checked first: a wrong one exits before any model loads.
    routing_set = load_routing_set(args.eval_set) if args.eval_set else load_routing_set()
    routing_set = routing_set.limited(args.limit)
    modes = _modes(settings, args.modes or "route", scope)
    if len(modes) != 1:
        raise InputError(f"--routing scores one routing mode at a time (got {', '.join(m.id for m in modes)}).")
    mode = modes[0]
    check_set_fits(routing_set, mode)
    pipeline = _pipeline(settings, None, args.model_id, scope)
    try:
        run = _route_all(pipeline, mode, routing_set, baseline=not args.no_baseline)
    finally:
        pipeline.runtime.close()
    # The stored routing runs are shared (claim 7 reads the latest for everyone): an admin's run is kept.
    path = RoutingRunStore.from_settings(settings).save(run) if scope.is_admin else None
    if path is None:
        print("note: the run is not stored: stored routing runs feed claim 7 for everyone, so only an admin's "
              "are kept (write it with --out)", file=sys.stderr)
    if args.out is not None:  # the stored run stays where claim 7 looks for it; --out is a copy
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(run.model_dump_json(indent=1) if args.out.suffix.lower() == ".json" else run.to_csv(),
                            encoding="utf-8")
        path = args.out
    scores = run.scores()
    if args.json:
        print(json.dumps({"run": run.model_dump(mode="json", exclude={"results"}), "results_file": path and str(path),
                          "scores": [dict(s.model_dump(mode="json"), accuracy=s.accuracy, label_rate=s.label_rate)
                                     for s in scores]}, indent=2))
    else:
        print(f"routing run {run.id}: {routing_set.name}, {len(routing_set.cases)} queries, mode {mode.id}, "
              f"model {run.model_id}")
        for score in scores:
            print(f"  {score.text()}")
        print(f"results: {path or 'not stored'}")
    return 0


def _route_all(pipeline: Pipeline, mode: Mode, routing_set: RoutingSet, *, baseline: bool) -> RoutingRun:
    """The routing run with progress on stderr."""
    from ragtune.evaluation.routing import run_routing_eval

    return run_routing_eval(pipeline, mode, routing_set, baseline=baseline, on_progress=_progress_printer())


def _report_routing(pipeline: Pipeline, settings: Settings, per_route: int | None,
                    store: bool = True) -> list[RoutingResult]:
    """Claim 7's measurement: the built-in routing mode on the routing set, stored like ``eval --routing``
    when ``store`` (an admin's run; none when its adapter cannot run here: the claim then says it was not
    measured)."""
    from ragtune.errors import RagtuneError
    from ragtune.evaluation.routing import RoutingRunStore, load_routing_set
    from ragtune.modes import BUILTIN_MODES

    mode = next(m for m in BUILTIN_MODES if m.id == "route")
    try:
        run = _route_all(pipeline, mode, load_routing_set().limited(per_route), baseline=True)
    except RagtuneError as exc:
        print(f"note: routing accuracy (claim 7) is not measured: {exc}", file=sys.stderr)
        return []
    if store:
        print(f"  routing run {run.id} stored in {RoutingRunStore.from_settings(settings).save(run)}", file=sys.stderr)
    return run.results


# -- report ----------------------------------------------------------------------------------


def _report_run(settings: Settings, model_id: str | None, modes_spec: str, limit: int | None,
                scope: Scope) -> tuple[EvalRun, list[RoutingResult]]:
    """Run the claims report and claim 7's routing evaluation with progress on stderr; store both, write the
    results file, and re-rank the model's showcases when the report covered the whole demo set."""
    from ragtune.evaluation.report import plan_claims
    from ragtune.retrieval.knowledge import KnowledgeBase
    from ragtune.showcases import refresh_after_report

    modes = _modes(settings, modes_spec, scope)
    kb = KnowledgeBase.from_settings(settings)
    pipeline = _pipeline(settings, kb, model_id, scope)  # the report's own copies of the demo: see scoped_kb
    try:
        plan = plan_claims(pipeline, modes, per_kind=limit,
                           on_note=lambda note: print(f"  {note}", file=sys.stderr))
        for mode_id, why in plan.skipped.items():
            print(f"note: mode {mode_id} is skipped: {why}", file=sys.stderr)
        print(f"  {plan.describe()} on {pipeline.runtime.model_id}", file=sys.stderr)
        run = _run(plan, settings, scope)
        routing = _report_routing(pipeline, settings, limit, store=scope.is_admin)
    finally:
        pipeline.runtime.close()
    _write_results(run, settings.data_dir / "evaluations" / f"report-{run.info.id}.json", settings)
    if not scope.is_admin:  # the showcases (and the routing runs) are everyone's: an admin's report re-ranks them
        print("  note: the showcases are shared, so only an admin's report re-ranks them", file=sys.stderr)
    elif (shown := refresh_after_report(run, settings.data_dir, routing)) is not None:
        print(f"  showcases re-ranked from this run: {shown}", file=sys.stderr)
    return run, routing


def measure_report(settings: Settings, model_id: str | None, scope: Scope | None = None) -> str:
    """Run the full claims report (every built-in report mode) as ``scope``'s user (default: the local
    user); its run id."""
    from ragtune.access import Scope
    from ragtune.evaluation.report import REPORT_MODES
    from ragtune.evaluation.runner import deterministic_settings

    scope = scope or Scope.local(settings)
    return _report_run(deterministic_settings(settings), model_id, ",".join(REPORT_MODES), None, scope)[0].info.id


def cmd_report(args: argparse.Namespace) -> int:
    from ragtune.evaluation.report import REPORT_MODES, build_claims, claims_markdown, claims_text
    from ragtune.evaluation.runner import deterministic_settings
    from ragtune.evaluation.scoreboard import scoreboard_markdown
    from ragtune.evaluation.store import combine_runs

    settings = deterministic_settings(load_settings())
    scope = command_scope(args)
    if args.run_ids:
        from ragtune.evaluation.routing import RoutingRunStore

        store = scope.eval_store(settings)  # the user's own runs (an admin: anyone's)
        run = combine_runs([store.load(run_id) for run_id in args.run_ids])
        latest = RoutingRunStore.from_settings(settings).latest_measurement(run.info.model_id)
        routing = latest.results if latest is not None else []
    else:
        run, routing = _report_run(settings, args.model_id, args.modes or ",".join(REPORT_MODES), args.limit,
                                   scope)
    claims = build_claims(run.results, routing=routing)
    if args.json:
        print(json.dumps({"run": run.info.model_dump(mode="json"),
                          "claims": [c.model_dump(mode="json") for c in claims]}, indent=2))
        return 0
    print(f"run {run.info.id} ({run.info.status}): {run.info.n_items} questions x "
          f"{', '.join(run.info.mode_ids)} on {run.info.model_id}\n")
    print(scoreboard_markdown(run.scoreboard()))
    print()
    print(claims_markdown(claims) if args.markdown else claims_text(claims))
    return 0 if run.info.status == "complete" else 1
