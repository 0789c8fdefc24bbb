"""``history``: the query log from the command line, as the History page shows it: one's own answers
(an admin: everyone's, ``--of`` one user's); ``--csv`` writes the page's export, ``clear`` empties it."""

from __future__ import annotations

import argparse
import sys

from ragtune.commands._args import int_range, writable_file
from ragtune.commands._scope import add_user_option, command_scope


def register(subparsers: argparse._SubParsersAction) -> None:
    history = subparsers.add_parser("history", help="List or export the logged answers (your own; an admin's: "
                                    "everyone's), or clear them.")
    history.add_argument("--mode", dest="modes", action="append", default=[], metavar="MODE_ID",
                         help="Only this mode's answers (repeatable).")
    history.add_argument("--workspace", "-w", dest="workspaces", action="append", default=[], metavar="NAME",
                         help="Only answers from this workspace (repeatable).")
    history.add_argument("--of", dest="of_user", default=None, metavar="EMAIL",
                         help="Admins: only this user's answers ('' for those logged before sign-in).")
    history.add_argument("--limit", type=int_range(1, 1_000_000), default=50,
                         help="The newest N answers (default 50).")
    history.add_argument("--csv", type=writable_file, default=None, metavar="FILE",
                         help="Write the matching answers as CSV (the History page's export).")
    history.add_argument("--json", action="store_true", help="Print the answers as JSON Lines.")
    history.set_defaults(handler=cmd_history)
    add_user_option(history)
    actions = history.add_subparsers(dest="history_action", metavar="ACTION")
    clear = actions.add_parser("clear", help="Delete your logged answers (an admin: every answer).")
    clear.add_argument("--yes", action="store_true", help="Do it (required: this cannot be undone).")
    clear.set_defaults(handler=cmd_history_clear)
    add_user_option(clear)


def _log(args: argparse.Namespace):  # noqa: ANN202 - the user's ScopedQueryLog
    from ragtune.config import load_settings

    return command_scope(args).query_log(load_settings().query_log_file)


def cmd_history(args: argparse.Namespace) -> int:
    from ragtune.store import LogFilter

    log = _log(args)
    user = None if args.of_user is None else ("" if not args.of_user.strip() else args.of_user.strip().lower())
    flt = LogFilter(modes=args.modes, workspaces=args.workspaces, user=user, limit=args.limit)
    entries = log.entries(flt)  # another user's answers: PermissionDenied unless an admin
    if args.csv is not None:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        args.csv.write_text(log.export_csv(flt), encoding="utf-8")
        print(f"wrote {len(entries)} answers to {args.csv}", file=sys.stderr)
        return 0
    if args.json:
        for entry in entries:
            print(entry.model_dump_json())
        return 0
    if not entries:
        print("No logged answers match. Ask something with `python -m ragtune lab QUESTION`.")
        return 0
    scope = command_scope(args)
    show_user = scope.is_admin and scope.access.auth_enabled  # an admin reads everyone's: say whose
    for entry in entries:
        who = f" · {entry.user or 'before sign-in'}" if show_user else ""
        print(f"#{entry.id} {entry.created_at:%Y-%m-%d %H:%M} · {entry.mode_id} · {entry.workspace or '-'}{who} · "
              f"{entry.total_ms:.0f} ms · {' '.join(entry.query.split())[:80]}")
        print(f"    {' '.join(entry.display_answer.split())[:160]}")
    print(f"{len(entries)} of {log.count()} logged answers shown.")
    return 0


def cmd_history_clear(args: argparse.Namespace) -> int:
    if not args.yes:
        print("refusing to clear the query log without --yes (this cannot be undone)", file=sys.stderr)
        return 2
    deleted = _log(args).clear()
    print(f"deleted {deleted} logged answers")
    return 0


__all__ = ["register"]
