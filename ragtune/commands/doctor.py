"""``doctor``: check settings, data directory, stores, models and adapters; print each finding and its fix."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    doctor = subparsers.add_parser(
        "doctor", help="Check settings, the data directory, the stores, models, adapters and the model server; "
        "say how to fix.",
        description="One line per check: OK, WARN or FAIL with what is wrong and the fix. "
        "Exit 0 when nothing failed, 2 when something did. Nothing is created or changed.",
    )
    doctor.add_argument("--json", action="store_true", help="Print the checks as a JSON list.")
    # doctor reports bad settings as a FAIL line itself, instead of cli.main refusing to start
    doctor.set_defaults(handler=cmd_doctor, needs_settings=False)


def cmd_doctor(args: argparse.Namespace) -> int:
    from ragtune.doctor import run_doctor

    report = run_doctor()
    if args.json:
        print(json.dumps([c.model_dump() for c in report.checks], indent=2))
    else:
        for check in report.checks:
            print(check.line())
        failed = sum(c.status == "FAIL" for c in report.checks)
        warned = sum(c.status == "WARN" for c in report.checks)
        print(f"{len(report.checks)} checks: {failed} failed, {warned} warnings.")
    return 0 if report.ok else 2
