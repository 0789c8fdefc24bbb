"""``python -m ragtune``: scripting and CI access to the same core the app uses.

Each feature module contributes its subcommands through ``register(subparsers)``;
a handler takes the parsed namespace and returns the exit code.

Everything a user can get wrong is refused before anything loads (no model, no store):
numeric options by their argparse ``type=`` (:mod:`ragtune.commands._args`), the settings
and the data directory here in :func:`main`, and a command's other checks by the
``check=`` function it sets with ``set_defaults``. Then:

* a :class:`~ragtune.errors.RagtuneError` prints ``error: ...`` to stderr, exit 2;
* a pydantic ``ValidationError`` that escaped a handler is translated the same way;
* an ``OSError`` on a path (missing, a directory, permission denied) names the path, exit 2;
* anything else is a bug: one line, exit 1, and the traceback only with ``RAGTUNE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from ragtune.errors import InputError, RagtuneError

# Modules that add subcommands. Each defines ``register(subparsers) -> None`` and sets
# ``handler=`` on its parsers with ``parser.set_defaults(handler=...)``; optionally
# ``check=`` (a function of the namespace that raises RagtuneError, run before the handler),
# ``needs_settings=False`` (for a command that reports bad settings itself: doctor), and
# ``acts_for_user=True`` (set by ``commands._scope.add_user_option``: the command's user is checked,
# and with sign-in on required, before anything else).
COMMAND_MODULES: tuple[str, ...] = (
    "ragtune.commands.models",
    "ragtune.commands.bench",
    "ragtune.commands.knowledge",
    "ragtune.commands.training",
    "ragtune.commands.evaluation",
    "ragtune.commands.showcases",
    "ragtune.commands.lab",
    "ragtune.commands.doctor",
    "ragtune.commands.serve",
    "ragtune.commands.chroma_server",
    "ragtune.commands.access",
    "ragtune.commands.history",
)
DEBUG_VARIABLE = "RAGTUNE_DEBUG"
_PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ragtune",
        description="ragtune: RAG vs fine-tuning, measured on your own documents.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def check_settings() -> None:
    """Load and validate the settings and the data directory: every command's first step.

    Raises:
        ConfigError: a setting is invalid, or RAGTUNE_DATA_DIR cannot be used.
    """
    from ragtune.config import load_settings

    load_settings().ensure_data_dir()


def _debug() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() not in ("", "0", "false", "no")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "needs_settings", True):
            check_settings()
        if getattr(args, "acts_for_user", False):
            from ragtune.commands._scope import command_scope

            command_scope(args)
        check = getattr(args, "check", None)
        if check is not None:
            check(args)
        return int(args.handler(args) or 0)
    except RagtuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            print(f"error: {InputError.from_validation(exc, what='Invalid input')}", file=sys.stderr)
            return 2
        if isinstance(exc, _PATH_ERRORS) and exc.filename:
            reason = exc.strerror or type(exc).__name__
            print(f"error: {exc.filename}: {reason}. Check the path and its permissions.", file=sys.stderr)
            return 2
        if _debug():
            raise
        print(
            f"error: internal error ({type(exc).__name__}: {_one_line(exc)[:300]}); please report it "
            f"- run with {DEBUG_VARIABLE}=1 for the traceback",
            file=sys.stderr,
        )
        return 1
