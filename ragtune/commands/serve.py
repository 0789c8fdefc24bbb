"""``serve-model``: start llama-server with the configured model and every adapter (``make serve-model``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ragtune.commands._args import Bounds, bounded_int


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser(
        "serve-model", help="Start llama-server with the configured model and every adapter (foreground).",
        description="Runs llama-server (built by `make llama-server`) with RAGTUNE_MODEL / RAGTUNE_MODEL_PATH, "
        "every adapter shipped for it and every adapter in the data directory (that order, each by name), "
        "--parallel RAGTUNE_SERVER_PARALLEL, --metrics, and RAGTUNE_SERVER_API_KEY as its API key. "
        "Point the app at it with RAGTUNE_RUNTIME=server RAGTUNE_SERVER_URL=http://HOST:PORT.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1; "
                       "0.0.0.0 for other machines: set RAGTUNE_SERVER_API_KEY then).")
    serve.add_argument("--port", type=bounded_int(Bounds(1, 65535)), default=8080, help="Port (default 8080).")
    serve.add_argument("--binary", type=Path, default=None,
                       help="The llama-server binary (default: the one `make llama-server` cached).")
    serve.add_argument("--print", dest="print_only", action="store_true",
                       help="Print the command instead of running it.")
    serve.set_defaults(handler=cmd_serve_model)


def cmd_serve_model(args: argparse.Namespace) -> int:
    from ragtune.config import load_settings
    from ragtune.serving import plan_server, server_environment, stage_adapters

    settings = load_settings()
    plan = plan_server(settings, host=args.host, port=args.port, binary=args.binary)
    for name, why in plan.skipped:
        print(f"warning: adapter '{name}' left out: {' '.join(why.split())}", file=sys.stderr)
    if args.print_only:
        print(plan.command_line())
        return 0
    stage_adapters(plan)
    print(f"llama-server: {plan.model_id} on {plan.url}, {plan.parallel} slots of {plan.n_ctx_per_request} tokens, "
          f"{len(plan.adapters)} adapters", file=sys.stderr)
    for index, adapter in enumerate(plan.adapters):
        print(f"  lora {index}: {adapter.name} ({adapter.origin}, sha256 {adapter.sha256[:16]})", file=sys.stderr)
    print(f"Use it: RAGTUNE_RUNTIME=server RAGTUNE_SERVER_URL={plan.url} make run   (Ctrl-C stops the server)",
          file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    # exec: llama-server takes this process's place, so Ctrl-C and a service manager reach it directly
    os.execve(plan.argv[0], plan.argv, server_environment(plan))
    return 0  # pragma: no cover - execve does not return
