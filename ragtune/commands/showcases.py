"""``showcases``: rank the demo questions by how clearly each shows each thesis on a model, from a
stored claims-report run, with each thesis's set-wide rates (what the Lab and the Tour show)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.commands._args import int_range, writable_file
from ragtune.commands._scope import add_user_option, command_scope
from ragtune.config import load_settings

if TYPE_CHECKING:
    from ragtune.evaluation.store import EvalRun


def register(subparsers: argparse._SubParsersAction) -> None:
    sc = subparsers.add_parser(
        "showcases", help="Rank the demo questions by how clearly each shows each thesis on the model "
        "(from the latest claims report) and store them for the Lab and the Tour.",
    )
    sc.add_argument("--model", dest="model_id", default=None, help="Registry id (default: the configured model).")
    sc.add_argument("--run", dest="run_id", default=None, metavar="RUN_ID",
                    help="Rank this stored report run (default: the model's latest complete one); a run that "
                    "is no complete report over the whole demo set needs --out.")
    sc.add_argument("--measure", action="store_true",
                    help="Run the claims report first (every mode on every demo question: minutes); not with "
                    "--run.")
    sc.add_argument("--top", type=int_range(1, 100), default=3, help="Questions shown per thesis (default 3).")
    sc.add_argument("--out", type=writable_file, default=None,
                    help="Write the showcases here instead of the data directory (the project ships "
                    "data/showcases/<model>.json made this way).")
    sc.add_argument("--json", action="store_true", help="Print the showcases as JSON.")
    sc.set_defaults(handler=cmd_showcases)
    add_user_option(sc, admin="re-rank the shared showcases")


def cmd_showcases(args: argparse.Namespace) -> int:
    from ragtune.errors import InputError
    from ragtune.models import ModelRegistry
    from ragtune.showcases import (
        ShowcaseStore,
        latest_report,
        showcase_text,
        showcases_of_run,
        this_machine,
    )

    if args.measure and args.run_id:
        raise InputError("--measure runs a new claims report and ranks it; --run ranks a stored one: "
                         "give one of them.")
    settings = load_settings()
    scope = command_scope(args)
    store = scope.eval_store(settings)  # the user's runs (an admin: anyone's)
    if args.run_id:
        run = store.load(args.run_id)  # raises, naming the run, when there is none
        if args.model_id and args.model_id != run.info.model_id:
            raise InputError(f"Run {run.info.id} answered with {run.info.model_id}, not {args.model_id}: "
                             "drop --model, or pick a run of that model.")
        _check_partial(run, out=args.out)
    else:
        model_id = args.model_id or ModelRegistry(settings).default_id()
        if args.measure:
            from ragtune.commands.evaluation import measure_report

            run_id = measure_report(settings, model_id, scope)
        else:
            run_id = latest_report(store, model_id)  # type: ignore[arg-type]
        if run_id is None:
            raise InputError(
                f"No complete claims report of {model_id} over the whole demo set is stored in "
                f"{settings.data_dir}. Run `python -m ragtune showcases --measure` (or `python -m ragtune "
                "report`) first, or pass --run RUN_ID.")
        run = store.load(run_id)
    from ragtune.evaluation.routing import RoutingRunStore

    # Claim 7's measurement: the built-in routing mode on the whole routing set, baseline included.
    routing = RoutingRunStore.from_settings(settings).latest_measurement(run.info.model_id)
    shows = showcases_of_run(run, machine=this_machine(), routing=routing.results if routing else None)
    path = ShowcaseStore(settings.data_dir).save(shows, Path(args.out) if args.out else None)
    if args.json:
        print(json.dumps(shows.model_dump(mode="json"), indent=1))
    else:
        labels = {m.id: m.label for m in scope.modes(settings.modes_file).all()}
        showcase_text(shows, labels, top=args.top)
        print(f"\nwritten: {path}")
    return 0


def _check_partial(run: EvalRun, *, out: Path | None) -> None:
    """A run that is no complete claims report over the whole demo set may be ranked into a file of
    its own (``--out``), never over the data directory's showcases: the Lab and the Tour would then
    show rates over a sample (or over other questions) as the demo set's.

    Raises:
        InputError: such a run without ``--out``.
    """
    from ragtune.errors import InputError
    from ragtune.showcases import covers_demo_set

    if run.info.kind == "report" and run.info.status == "complete" and covers_demo_set(run.info.n_items):
        return
    what = (f"a {run.info.kind} run" if run.info.kind != "report" else
            f"a {run.info.status} report" if run.info.status != "complete" else "a report over a sample")
    if out is None:
        raise InputError(
            f"Run {run.info.id} is {what} ({run.info.n_items} questions), not a complete claims report over the "
            "whole demo set: its rates would replace the showcases the Lab and the Tour show. Pass --out FILE to "
            "rank it into a file of its own, or run `python -m ragtune report` for a full one.")
    print(f"note: run {run.info.id} is {what}: the rates in {out} cover its {run.info.n_items} questions only.",
          file=sys.stderr)
