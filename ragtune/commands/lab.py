"""``lab``: the Lab page's comparison (:func:`ragtune.lab.compare`) from the command line; every
answer is logged like the page's, and ``--html`` / ``--markdown`` write the page's exports."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ragtune.commands._args import writable_file
from ragtune.commands._scope import add_user_option, command_scope, open_knowledge_base
from ragtune.config import load_settings
from ragtune.errors import InputError
from ragtune.evaluation.scoring import format_outcome
from ragtune.lab import MAX_QUESTION_CHARS, Failed, Finished, check_question, plan_comparison
from ragtune.modes import DEFAULT_LAB_MODES, parse_mode_ids
from ragtune.runtime.stops import STOPPED_LABELS

if TYPE_CHECKING:
    from ragtune.lab_share import LabComparison
    from ragtune.answer import RouteTaken


def register(subparsers: argparse._SubParsersAction) -> None:
    lab = subparsers.add_parser(
        "lab", help="Answer one question in several modes (base, rag, lora, rag+lora, ...) and compare.",
    )
    lab.add_argument("question", help=f"The question (at most {MAX_QUESTION_CHARS:,} characters).")
    lab.add_argument("--workspace", default=None,
                     help="Knowledge workspace for the modes that retrieve (default: the demo workspace).")
    lab.add_argument("--modes", default=",".join(DEFAULT_LAB_MODES),
                     help=f"Comma list of mode ids (default: {','.join(DEFAULT_LAB_MODES)}). As on the Lab "
                     "page, a demo question whose fact changed in version 2 adds the knowledge-lora mode "
                     "(said on stderr).")
    lab.add_argument("--model", dest="model_id", help="Registry id of the model (default: configured).")
    lab.add_argument("--concurrent", action=argparse.BooleanOptionalAction, default=None,
                     help="Send the modes' requests at once, each printed when it ends (default: when the model "
                     "serves requests at once, i.e. RAGTUNE_RUNTIME=server; in process they queue on its lock).")
    lab.add_argument("--json", action="store_true", help="Print one JSON object per mode (JSON Lines; in the order "
                     "the modes end).")
    lab.add_argument("--no-log", action="store_true", help="Do not write the answers to the query log.")
    lab.add_argument("--html", type=writable_file, metavar="FILE",
                     help="Also write the comparison as a self-contained HTML one-pager (charts included; "
                     "opens offline).")
    lab.add_argument("--markdown", type=writable_file, metavar="FILE", help="Also write it as Markdown.")
    lab.set_defaults(handler=cmd_lab, check=check_lab)
    add_user_option(lab)


def _record(event: Finished | Failed) -> dict[str, object]:
    """One mode's outcome as the JSON Lines record (the text output is printed from it too)."""
    if isinstance(event, Failed):
        return {"mode": event.mode.id, "error": event.error}
    answer = event.answer
    t, c = answer.timings, answer.cost
    return {
        "mode": event.mode.id,
        "verdict": event.verdict.verdict if event.verdict else None,
        "verdict_note": event.verdict.note if event.verdict else event.not_judged,
        "query": answer.query,
        "workspace": answer.workspace,
        "model": answer.model_id,
        "adapter": answer.adapter,
        "answer": answer.display_text,
        "raw": answer.text,
        "finish_reason": answer.finish_reason,
        "parse": {"status": answer.parse.status, "detail": answer.parse.detail,
                  "format_valid": answer.parse.format_valid,
                  "format": format_outcome(answer.parse.status, answer.text).label},
        "retrieved": answer.retrieved_ids,
        "citations": [ci.model_dump(include={"chunk_id", "status", "number"}) for ci in answer.citations],
        "timings": t.model_dump(),
        "cost": {"local_compute_usd": c.local_compute_usd, "compute_seconds": c.compute_seconds,
                 "dollars_per_hour": c.dollars_per_hour, "api_model": c.reference_model,
                 "api_usd": c.api_reference_usd, "amortized_training_usd": c.amortized_usd,
                 "api_all": {a.model: a.total_usd for a in c.api}},
        "route": _route_record(answer.route) if answer.route is not None else None,
    }


def _route_record(route: RouteTaken) -> dict[str, object]:
    """A routing mode's route: what the router said, the route, what answered, the step's cost."""
    return {"text": route.describe(), "label": route.label, "route": route.route, "raw_output": route.raw_output,
            "answered_by": route.answered_by.id if route.answered_by is not None else None,
            "routing_ms": route.cost.compute_seconds * 1000, "prompt_tokens": route.timings.prompt_tokens,
            "completion_tokens": route.timings.completion_tokens, "local_usd": route.cost.local_compute_usd}


def _print_text(record: dict[str, object]) -> None:
    print(f"== {record['mode']}")
    if "error" in record:
        print(f"   unavailable: {record['error']}")
        return
    parse = record["parse"]
    t = record["timings"]
    cost = record["cost"]
    assert isinstance(parse, dict) and isinstance(t, dict) and isinstance(cost, dict)
    print(f"   {record['answer']}")
    route = record.get("route")
    if isinstance(route, dict):
        print(f"   routed: {route['text']} · router {route['routing_ms']:.0f} ms, {route['prompt_tokens']} + "
              f"{route['completion_tokens']} tokens, local ${route['local_usd']:.3g}")
    if record["verdict"]:
        print(f"   verdict: {record['verdict']} ({record['verdict_note']})")
    elif record["verdict_note"]:
        print(f"   verdict: {record['verdict_note']}")
    if record["finish_reason"] in STOPPED_LABELS:
        print(f"   {STOPPED_LABELS[str(record['finish_reason'])]}")
    print(f"   format: {parse['format']}" + (f" ({parse['detail']})" if parse["detail"] else ""))
    cites = record["citations"]
    assert isinstance(cites, list)
    print("   citations: " + (", ".join(f"{c['chunk_id']} ({c['status']})" for c in cites) or "none"))
    print(f"   retrieved: {', '.join(record['retrieved']) or 'nothing'}")  # type: ignore[arg-type]
    routing = f" + routing {t['routing_ms']:.0f}" if t.get("routing_ms") else ""
    print(f"   time: total {t['total_ms']:.0f} ms = queue {t['queue_wait_ms']:.0f}{routing} + retrieval "
          f"{t['retrieval_ms']:.0f} + prompt eval {t['prompt_eval_ms']:.0f} + generation "
          f"{t['generation_ms']:.0f}; {t['prompt_tokens']} prompt tokens ({t['cached_prompt_tokens']} "
          f"cached), {t['completion_tokens']} answer tokens")
    print(f"   cost: local ${cost['local_compute_usd']:.3g}, {cost['api_model']} ${cost['api_usd']:.3g}"
          + (f", training ${cost['amortized_training_usd']:.3g} amortised" if cost["amortized_training_usd"] else ""))


def check_lab(args: argparse.Namespace) -> None:
    """What can be refused before anything loads: an empty or over-long question, no known mode."""
    check_question(args.question)
    store = command_scope(args).modes(load_settings().modes_file)  # the modes the user may use
    chosen, unknown = parse_mode_ids(args.modes, store.ids())
    if not chosen:
        raise InputError(f"No known mode chosen (--modes {args.modes!r}). Known modes: {', '.join(store.ids())}.")


def cmd_lab(args: argparse.Namespace) -> int:
    """Answer in each mode. A mode that fails is reported (stderr, and in its record); all failing: exit 2."""
    from ragtune.economics import EconomicsStore
    from ragtune.lab import compare, new_run_id
    from ragtune.lab_share import LabComparison
    from ragtune.runtime import load_runtime

    settings = load_settings()
    settings.ensure_data_dir()
    scope = command_scope(args)
    store = scope.modes(settings.modes_file)
    chosen, unknown = parse_mode_ids(args.modes, store.ids())
    if unknown:
        print(f"warning: ignoring unknown modes: {', '.join(unknown)} (known: {', '.join(store.ids())})",
              file=sys.stderr)
    if not chosen:
        raise InputError(f"No known mode chosen (--modes). Known modes: {', '.join(store.ids())}.")
    plan = plan_comparison(args.question, chosen, store.ids())  # the page's plan: same columns here
    if plan.note:
        print(f"note: {plan.note}", file=sys.stderr)
    modes = store.resolve(plan.mode_ids)
    workspace = args.workspace or settings.demo_workspace or None
    kb = None
    if any(m.retrieval for m in modes):
        kb = open_knowledge_base(args, seed_demo=bool(workspace) and workspace == settings.demo_workspace)
        if workspace:
            kb.workspace(workspace)  # unknown, or not the user's to read: an error before the model loads
    runtime = load_runtime(settings, model_id=args.model_id)
    log = None if args.no_log else scope.query_log(settings.query_log_file)  # the answers are the user's
    pipeline = scope.pipeline(runtime, kb, settings, EconomicsStore(settings.economics_file).load())
    failures = 0
    run_id = new_run_id()
    events = compare(pipeline, args.question, modes, workspace, log=log, source="cli", run_id=run_id,
                     concurrent=args.concurrent)
    results: list[Finished | Failed] = []
    try:
        for event in events:
            if not isinstance(event, (Finished, Failed)):
                continue  # a mode is printed whole once it is done
            results.append(event)
            if isinstance(event, Failed):
                failures += 1
                print(f"error: mode {event.mode.id}: {event.error}", file=sys.stderr)
            record = _record(event)
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                _print_text(record)
    finally:
        events.close()
        runtime.close()
    results.sort(key=lambda event: event.index)  # sent at once, modes end in any order: the exports keep columns
    _write_exports(args, LabComparison(question=args.question.strip(), workspace=workspace,
                                       mode_ids=[m.id for m in modes], run_id=run_id, results=results,
                                       note=plan.note))
    return 2 if failures == len(modes) else 0


def _write_exports(args: argparse.Namespace, comparison: LabComparison) -> None:
    """``--html`` and ``--markdown``: the Lab page's downloads, written where asked (checked at parse time)."""
    from ragtune.lab_export import comparison_html, comparison_markdown

    for path, build in ((args.html, comparison_html), (args.markdown, comparison_markdown)):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(build(comparison), encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
