"""``python -m ragtune``: scripting and CI access to the same core the app uses.

Each feature module contributes its subcommands through ``register(subparsers)``;
a handler takes the parsed namespace and returns the exit code. Errors a user
can cause are :class:`~ragtune.errors.RagtuneError`: printed to stderr, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ragtune.errors import RagtuneError

# Modules that add subcommands. Each defines ``register(subparsers) -> None`` and sets
# ``handler=`` on its parsers with ``parser.set_defaults(handler=...)``.
COMMAND_MODULES: tuple[str, ...] = (
    "ragtune.commands.models",
    "ragtune.commands.bench",
    "ragtune.commands.knowledge",
    "ragtune.commands.training",
    "ragtune.commands.evaluation",
    "ragtune.commands.lab",
)


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except RagtuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
