"""``ingest``, ``search``, ``workspaces`` and ``search-bench``: the knowledge-base commands."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ragtune.commands import _args
from ragtune.commands._scope import add_user_option, open_knowledge_base
from ragtune.config import Settings, load_settings
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.retrieval.progress import chunk_progress, print_chunk_progress
from ragtune.retrieval.types import SEARCH_MODES, FileResult

if TYPE_CHECKING:
    from ragtune.access import ScopedKnowledgeBase


def register(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser(
        "ingest", help="Add or replace documents (files or folders) in a knowledge workspace."
    )
    ingest.add_argument("--workspace", "-w", required=True, help="Workspace name (created if missing).")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument("--json", action="store_true", help="Print the per-file report as JSON.")
    ingest.set_defaults(handler=cmd_ingest)
    add_user_option(ingest)

    search = subparsers.add_parser("search", help="Search a knowledge workspace; print ranked chunks.")
    search.add_argument("query")
    search.add_argument("--workspace", "-w", default=None, help="Workspace (default: the demo workspace).")
    search.add_argument("--mode", choices=SEARCH_MODES, default=None, help="Default: RAGTUNE_SEARCH_MODE.")
    search.add_argument("-k", type=_args.field_int(Settings, "top_k"), default=None, help="Number of chunks (default: RAGTUNE_TOP_K).")
    search.add_argument("--json", action="store_true", help="Print JSON.")
    search.set_defaults(handler=cmd_search)
    add_user_option(search)

    spaces = subparsers.add_parser("workspaces", help="List knowledge workspaces; create, rename, empty, delete.")
    spaces.add_argument("--json", action="store_true", help="Print JSON.")
    spaces.set_defaults(handler=cmd_workspaces)
    add_user_option(spaces)
    actions = spaces.add_subparsers(dest="workspace_action", metavar="ACTION")
    create = actions.add_parser("create", help="Create an empty workspace.")
    create.add_argument("name")
    create.set_defaults(handler=cmd_workspace_create)
    rename = actions.add_parser("rename", help="Rename a workspace.")
    rename.add_argument("name")
    rename.add_argument("new_name")
    rename.set_defaults(handler=cmd_workspace_rename)
    restore = actions.add_parser(
        "restore-demo", help="Bring back a deleted demo workspace (RAGTUNE_DEMO_WORKSPACE) with its documents."
    )
    restore.set_defaults(handler=cmd_workspace_restore_demo)
    rechunk = actions.add_parser(
        "rechunk", help="Cut documents chunked with other settings again with the current chunk size and overlap."
    )
    rechunk.add_argument("name")
    rechunk.set_defaults(handler=cmd_workspace_rechunk)
    for action, help_text in (("empty", "Remove every document."), ("delete", "Delete the workspace.")):
        parser = actions.add_parser(action, help=help_text)
        parser.add_argument("name")
        parser.add_argument("--yes", action="store_true", help="Do it (required: this cannot be undone).")
        parser.set_defaults(handler=cmd_workspace_destroy, destroy=action)
    for parser in actions.choices.values():
        add_user_option(parser)

    bench = subparsers.add_parser(
        "search-bench", help="Measure hit@k per search mode on the demo eval set, and embedding speed."
    )
    bench.add_argument("--no-throughput", action="store_true", help="Skip the embedding speed test.")
    bench.add_argument("--texts", type=_args.int_range(4, 100_000), default=100, help="Texts per throughput run (default 100).")
    bench.set_defaults(handler=cmd_search_bench)


def _open(args: argparse.Namespace) -> tuple[ScopedKnowledgeBase, str]:
    """The command user's knowledge base (every call checked: see ``--user``) and the demo workspace's name."""
    return open_knowledge_base(args), load_settings().demo_workspace


def _print_file(done: int, total: int, result: FileResult) -> None:
    if result.ok:
        detail = f"{result.status} {result.doc_id} v{result.version} ({result.n_chunks} chunks)"
    else:
        detail = f"FAILED: {result.error}"
    print(f"[{done}/{total}] {result.path or result.name}: {detail}",
          file=sys.stderr if not result.ok else sys.stdout)


def cmd_ingest(args: argparse.Namespace) -> int:
    kb, _ = _open(args)
    if kb.ensure_workspace(args.workspace):  # idempotent: another ingest may create it at the same moment
        print(f"created workspace {args.workspace.strip()}")
    with chunk_progress(None if args.json else print_chunk_progress):  # a large file reports its batches
        report = kb.ingest_paths(args.workspace, args.paths, on_progress=None if args.json else _print_file)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        ok = len(report.files) - len(report.failed)
        print(f"{ok} of {len(report.files)} files ingested into {report.workspace}"
              + (f"; {len(report.failed)} failed:" if report.failed else ""))
        for failed in report.failed:  # every failed path with its reason, also after a long batch
            print(f"  {failed.path or failed.name}: {failed.error}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_search(args: argparse.Namespace) -> int:
    kb, demo = _open(args)
    result = kb.search(args.workspace or demo, args.query, mode=args.mode, k=args.k)
    if args.json:
        print(result.model_dump_json(indent=2))
        return 0
    print(f"{len(result.hits)} chunks from {result.workspace} ({result.mode}, {result.took_ms:.0f} ms)")
    for hit in result.hits:
        chunk = hit.chunk
        print(f"\n[{hit.rank}] {chunk.chunk_id}  score {hit.score:.4f}  {chunk.title} (v{chunk.version}, "
              f"{chunk.source}, chars {chunk.start}-{chunk.end})")
        print("    " + " ".join(chunk.text.split())[:400])
    return 0


def cmd_workspaces(args: argparse.Namespace) -> int:
    kb, _ = _open(args)
    spaces = kb.list_workspaces()  # the ones the user may read
    signed_in = kb.scope.access.auth_enabled  # with sign-in, each line says the user's role there
    if args.json:
        print(json.dumps([w.model_dump() | ({"role": kb.role(w.name)} if signed_in else {}) for w in spaces],
                         indent=2))
        return 0
    if not spaces:
        print("No workspaces. Create one with `python -m ragtune workspaces create NAME`.")
    for w in spaces:
        role = f"  ({kb.role(w.name)})" if signed_in else ""
        print(f"{w.name:<30} {w.n_documents:>5} documents {w.n_chunks:>7} chunks{role}")
    return 0


def cmd_workspace_create(args: argparse.Namespace) -> int:
    kb, _ = _open(args)
    print(f"created workspace {kb.create_workspace(args.name).name}")
    return 0


def cmd_workspace_rechunk(args: argparse.Namespace) -> int:
    kb, _ = _open(args)
    stale = kb.stale_documents(args.name)
    if not stale:
        print(f"Every document of {args.name} is chunked with the current settings "
              f"({kb.chunk_size} characters, {kb.chunk_overlap} overlap); nothing to do.")
        return 0

    def show(done: int, total: int, result: FileResult) -> None:
        print(f"[{done}/{total}] {result.path or result.name}: re-chunked {result.doc_id} v{result.version} "
              f"({result.n_chunks} chunks)")

    done = kb.rechunk(args.name, on_progress=show)
    noun = "document" if len(done) == 1 else "documents"
    print(f"{len(done)} {noun} of {args.name} re-chunked at {kb.chunk_size} characters, {kb.chunk_overlap} overlap.")
    if len(done) < len(stale):
        print(f"{len(stale) - len(done)} changed or were deleted meanwhile and were left to that change.")
    return 0


def cmd_workspace_restore_demo(args: argparse.Namespace) -> int:
    from ragtune.retrieval.demo import restore_demo_workspace

    kb, demo = _open(args)
    report = restore_demo_workspace(kb, demo)
    print(f"restored workspace {demo}: {len(report.files) - len(report.failed)} documents")
    return 1 if report.failed else 0


def cmd_workspace_rename(args: argparse.Namespace) -> int:
    kb, _ = _open(args)
    kb.rename_workspace(args.name, args.new_name)
    print(f"renamed {args.name} to {args.new_name}")
    return 0


def cmd_workspace_destroy(args: argparse.Namespace) -> int:
    if not args.yes:
        print(f"refusing to {args.destroy} {args.name!r} without --yes (this cannot be undone)", file=sys.stderr)
        return 2
    kb, _ = _open(args)
    if args.destroy == "empty":
        kb.empty_workspace(args.name)
    else:
        kb.delete_workspace(args.name)
    print(f"{args.destroy} {args.name}: done")
    return 0


def cmd_search_bench(args: argparse.Namespace) -> int:
    from ragtune.retrieval.bench import embedding_throughput, format_hit_table, hit_rates
    from ragtune.evaluation.sets import demo_eval_set
    from ragtune.retrieval.demo import ensure_demo_workspace, set_demo_version

    # A scratch data directory: the benchmark never touches the user's workspaces.
    with tempfile.TemporaryDirectory(prefix="ragtune-bench-") as scratch:
        settings = load_settings(data_dir=Path(scratch))
        kb = KnowledgeBase.from_settings(settings)
        report = ensure_demo_workspace(kb, "demo")
        n_chunks = sum(f.n_chunks for f in report.files) if report else 0
        questions = demo_eval_set().cases
        graded = [q for q in questions if q.kind != "unanswerable"]
        print(f"Demo knowledge base: {len(report.files) if report else 0} documents, {n_chunks} chunks "
              f"(chunk_size {settings.chunk_size}, overlap {settings.chunk_overlap}).")
        print(f"\nhit@k on {len(graded)} answerable questions (version 1): a top-k chunk from a gold "
              "document contains the gold answer.\n")
        print(format_hit_table(hit_rates(kb, "demo", questions)))
        set_demo_version(kb, "v2", "demo")
        changed = [q for q in questions if q.kind == "changed"]
        print(f"\nAfter switching to version 2: hit@k with the *new* answers on {len(changed)} changed questions.\n")
        print(format_hit_table(hit_rates(kb, "demo", changed, version="v2")))
        chunks = [c.text for d in kb.list_documents("demo") for c in kb.chunks("demo", d.doc_id)]
    if not args.no_throughput:
        n = max(4, args.texts)
        questions_text = [q.question for q in questions] * (n // len(questions) + 1)
        chunk_text = chunks * (n // max(1, len(chunks)) + 1)
        print(f"\nEmbedding throughput (texts per second, {n} texts, this machine):\n")
        print("| embedding function | questions | chunks |")
        print("|---|---|---|")
        short = embedding_throughput(questions_text[:n])
        long = embedding_throughput(chunk_text[:n])
        for name in short:
            print(f"| {name} | {short[name]:.0f} | {long[name]:.0f} |")
    return 0
