"""``serve-chroma``: run a Chroma server for the knowledge base (what ``make serve-chroma`` calls)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ragtune.commands import _args


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve-chroma", help="Run a Chroma server (the pinned chromadb) for RAGTUNE_CHROMA_URL, in the foreground.",
        description="Runs `chroma run --path DIR --host HOST --port PORT`. The data goes to --path, else "
        "RAGTUNE_CHROMA_PATH, else <data dir>/chroma-server. Chroma has no authentication of its own: keep the "
        "default loopback host, or put a reverse proxy that checks a token in front (see the README).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
    serve.add_argument("--port", type=_args.int_range(1, 65535), default=8000, help="Port (default 8000).")
    serve.add_argument("--path", type=Path, default=None, help="Folder for the server's data.")
    serve.add_argument("--print", action="store_true", dest="print_only",
                       help="Print the command line instead of running it.")
    serve.set_defaults(handler=cmd_serve_chroma)


def cmd_serve_chroma(args: argparse.Namespace) -> int:
    from ragtune.config import load_settings
    from ragtune.retrieval.chroma_server import LOOPBACK_HOSTS, serve_command

    argv = serve_command(load_settings(), host=args.host, port=args.port, path=args.path)
    if args.print_only:
        print(shlex.join(argv))
        return 0
    if args.host.strip() not in LOOPBACK_HOSTS:
        print(f"note: listening on {args.host}: Chroma checks no credentials, so anyone who reaches this port "
              "can read and change the documents. Put a reverse proxy that checks a token in front "
              "(README, 'The Chroma server').", file=sys.stderr)
    print(f"Chroma server for ragtune: http://{args.host}:{args.port} (data in {argv[3]}); "
          f"set RAGTUNE_CHROMA_URL to it. Ctrl-C stops it.", file=sys.stderr, flush=True)
    os.execv(argv[0], argv)  # the server runs in the foreground, in place of this process
    return 0  # pragma: no cover - execv does not return
