"""``showcases``: rank the demo questions by how clearly each shows each thesis on a model, from a
stored claims-report run, with each thesis's set-wide rates (what the Lab and the Tour show)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ragtune.commands._args import int_range, writable_file
from ragtune.config import load_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    sc = subparsers.add_parser(
        "showcases", help="Rank the demo questions by how clearly each shows each thesis on the model "
        "(from the latest claims report) and store them for the Lab and the Tour.",
    )
    sc.add_argument("--model", dest="model_id", default=None, help="Registry id (default: the configured model).")
    sc.add_argument("--run", dest="run_id", default=None, metavar="RUN_ID",
                    help="Rank this stored report run (default: the model's latest complete one).")
    sc.add_argument("--measure", action="store_true",
                    help="Run the claims report first (every mode on every demo question: minutes).")
    sc.add_argument("--top", type=int_range(1, 100), default=3, help="Questions shown per thesis (default 3).")
    sc.add_argument("--out", type=writable_file, default=None,
                    help="Write the showcases here instead of the data directory (the project ships "
                    "data/showcases/<model>.json made this way).")
    sc.add_argument("--json", action="store_true", help="Print the showcases as JSON.")
    sc.set_defaults(handler=cmd_showcases)


def cmd_showcases(args: argparse.Namespace) -> int:
    from ragtune.errors import InputError
    from ragtune.evaluation.store import EvalStore
    from ragtune.models import ModelRegistry
    from ragtune.modes import ModeStore
    from ragtune.showcases import (
        ShowcaseStore,
        covers_demo_set,
        latest_report,
        showcase_text,
        showcases_of_run,
        this_machine,
    )

    settings = load_settings()
    model_id = args.model_id or ModelRegistry(settings).default_id()
    store = EvalStore.from_settings(settings)
    if args.measure:
        from ragtune.commands.evaluation import measure_report

        run_id = measure_report(settings, model_id)
    else:
        run_id = args.run_id or latest_report(store, model_id)
    if run_id is None:
        raise InputError(
            f"No complete claims report of {model_id} over the whole demo set is stored in {settings.data_dir}. "
            "Run `python -m ragtune showcases --measure` (or `python -m ragtune report`) first, or pass --run RUN_ID."
        )
    run = store.load(run_id)
    if run.info.kind != "report" or not covers_demo_set(run.info.n_items):
        print(f"note: run {run_id} is not a claims report over the whole demo set: rates cover its "
              f"{run.info.n_items} questions only.", file=sys.stderr)
    from ragtune.evaluation.routing import RoutingRunStore

    routing = RoutingRunStore.from_settings(settings).latest(run.info.model_id)  # claim 7's measurement
    shows = showcases_of_run(run, machine=this_machine(), routing=routing.results if routing else None)
    path = ShowcaseStore(settings.data_dir).save(shows, Path(args.out) if args.out else None)
    if args.json:
        print(json.dumps(shows.model_dump(mode="json"), indent=1))
    else:
        labels = {m.id: m.label for m in ModeStore(settings.modes_file).all()}
        showcase_text(shows, labels, top=args.top)
        print(f"\nwritten: {path}")
    return 0
