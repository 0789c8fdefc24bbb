"""``doctor``: check settings, the data directory, the stores, the models, the adapters and the runtime
(in server mode: the model server's health, its model and which adapters it serves).

Each check returns :class:`Check` results (OK / WARN / FAIL, what is wrong, the fix) and
never raises: a corrupt store, a missing model or a broken adapter is a FAIL line, not a
crash. Nothing is created or changed: SQLite files are opened read-only (``PRAGMA
quick_check``); chroma is opened only when its own SQLite file passed, and in a child process,
because a damaged vector index can abort chroma's native code. With ``RAGTUNE_CHROMA_URL`` the
knowledge base is checked on the Chroma server instead (read only, over HTTP).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ragtune.config import Settings, load_settings

Status = Literal["OK", "WARN", "FAIL"]
LOW_DISK_BYTES = 1024**3  # under 1 GiB free: models, adapters and indexes may not fit


class Check(BaseModel):
    """One finding: its area, the thing checked, the status, what is wrong and the fix."""

    area: Literal["settings", "data", "stores", "models", "adapters", "runtime"]
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4} {self.area}: {self.name}: {self.detail}"
        return text + (f" Fix: {self.fix}" if self.fix and self.status != "OK" else "")


class Report(BaseModel):
    checks: list[Check]

    @property
    def ok(self) -> bool:
        """True when nothing failed (warnings allowed)."""
        return all(c.status != "FAIL" for c in self.checks)


def _guarded(area: str, name: str, run: Callable[[], Iterator[Check]]) -> list[Check]:
    """Run one check; whatever it raises becomes a FAIL line (a check must never crash doctor)."""
    found: list[Check] = []
    try:
        for check in run():
            found.append(check)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - pyo3 panics from chroma derive from BaseException
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        found.append(Check(area=area, name=name, status="FAIL",  # type: ignore[arg-type]
                           detail=f"the check itself failed ({type(exc).__name__}: {detail}).",
                           fix="Run with RAGTUNE_DEBUG=1 and report it."))
    return found


# -- settings and the data directory ---------------------------------------------------------


def check_data_dir(settings: Settings) -> Iterator[Check]:
    path = settings.data_dir
    fix = "Set RAGTUNE_DATA_DIR to a writable directory."
    if path.exists() and not path.is_dir():
        yield Check(area="data", name=str(path), status="FAIL", detail="is a file, not a directory.", fix=fix)
        return
    if not path.exists():
        parent = path.parent
        while not parent.exists():
            parent = parent.parent
        if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
            yield Check(area="data", name=str(path), status="OK", detail="does not exist yet; created on first use.")
        else:
            yield Check(area="data", name=str(path), status="FAIL",
                        detail=f"does not exist and cannot be created ({parent} is not a writable folder).", fix=fix)
        return
    if not os.access(path, os.W_OK | os.X_OK):
        yield Check(area="data", name=str(path), status="FAIL", detail="is not writable.", fix=fix)
        return
    free = shutil.disk_usage(path).free
    if free < LOW_DISK_BYTES:
        yield Check(area="data", name=str(path), status="WARN", detail=f"only {free / 1024**2:.0f} MB free.",
                    fix="Free some disk space or move RAGTUNE_DATA_DIR to a larger disk.")
    else:
        yield Check(area="data", name=str(path), status="OK", detail=f"writable, {free / 1024**3:.1f} GB free.")


# -- stores ----------------------------------------------------------------------------------


def sqlite_problem(path: Path) -> str | None:
    """None when ``path`` opens read-only and passes ``PRAGMA quick_check``; else what is wrong."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        return f"cannot be opened ({exc})"
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        return f"is not a readable SQLite database ({exc})"
    finally:
        db.close()
    verdict = "; ".join(str(r[0]) for r in rows[:3])
    return None if verdict == "ok" else f"fails its integrity check ({verdict[:200]})"


def _check_sqlite(path: Path, what: str, recover: str, *, fix: str | None = None) -> Iterator[Check]:
    if not path.exists():
        yield Check(area="stores", name=path.name, status="OK", detail=f"no {what} yet ({path}).")
        return
    if path.is_dir():
        yield Check(area="stores", name=path.name, status="FAIL", detail=f"{path} is a directory, not the {what}.",
                    fix=f"Move it aside: mv '{path}' '{path}.moved'.")
        return
    problem = sqlite_problem(path)
    if problem is None:
        yield Check(area="stores", name=path.name, status="OK", detail=f"{what} opens and passes quick_check.")
    else:
        yield Check(area="stores", name=path.name, status="FAIL", detail=f"the {what} {path} {problem}.",
                    fix=fix or f"Restore {path.name} from a backup, or move it aside "
                    f"(mv '{path}' '{path}.broken'): {recover}")


def check_stores(settings: Settings) -> Iterator[Check]:
    if settings.chroma_url is None:
        yield from _check_sqlite(
            settings.knowledge_manifest_file, "knowledge manifest",
            "a new one starts empty; re-ingest your documents with `python -m ragtune ingest --workspace NAME PATH`.")
    yield from _check_sqlite(settings.query_log_file, "query log", "a new empty log is started (the history is lost).")
    yield from _check_sqlite(settings.data_dir / "evaluations.sqlite3", "evaluation store",
                             "a new empty store is started (the stored runs are lost).")
    if settings.chroma_url is not None:  # the knowledge base is on the Chroma server, not in the data directory
        yield from _guarded("stores", "Chroma server", lambda: check_chroma_server(settings))
        return
    chroma_file = settings.chroma_dir / "chroma.sqlite3"
    chroma = settings.chroma_dir
    checks = list(_check_sqlite(
        chroma_file, "chroma database", "",
        fix=f"Restore the folder {chroma} from a backup, or move it aside (mv '{chroma}' '{chroma}.broken') "
        "and re-ingest your documents with `python -m ragtune ingest --workspace NAME PATH`."))
    yield from checks
    if chroma_file.exists() and all(c.status == "OK" for c in checks):
        yield from _guarded("stores", "workspaces", lambda: _check_workspaces(settings))


# Run in a child process: a damaged vector index can abort chroma's native code, and doctor must
# survive to report it. Prints one JSON object per workspace: name, id, count, error.
_WORKSPACE_PROBE = """
import json, sys
from pathlib import Path
from ragtune.retrieval.embeddings import shared_embedding_function
from ragtune.retrieval.store import ChromaVectorStore
store = ChromaVectorStore(Path(sys.argv[1]), shared_embedding_function())
kb = None  # for the chunk settings check; a manifest that does not open is the manifest check's FAIL
manifest = Path(sys.argv[2])
if manifest.is_file():
    # Opening a manifest may write (WAL mode, schema, migration): open a copy, never the file.
    import atexit, shutil, tempfile
    copy_dir = Path(tempfile.mkdtemp(prefix="ragtune-doctor-"))
    atexit.register(shutil.rmtree, copy_dir, True)
    try:
        for suffix in ("", "-wal"):
            if Path(str(manifest) + suffix).is_file():
                shutil.copyfile(str(manifest) + suffix, copy_dir / (manifest.name + suffix))
        from ragtune.retrieval.knowledge import KnowledgeBase
        from ragtune.retrieval.manifest_sqlite import SQLiteManifest
        kb = KnowledgeBase(store, SQLiteManifest(copy_dir / manifest.name), chunk_size=int(sys.argv[3]),
                           chunk_overlap=int(sys.argv[4]))
    except Exception:
        kb = None
for ref in store.list_workspaces():
    row = {"name": ref.name, "id": ref.id, "count": None, "error": None}
    print(json.dumps(dict(row, error="the check stopped here")), flush=True)  # replaced if it ends
    try:
        row["count"] = store.count(ref)
        if row["count"]:
            store.query(ref, "doctor", 1)  # reads the vector index
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    if kb is not None and row["error"] is None:
        try:
            from ragtune.retrieval.knowledge import is_internal_workspace
            if not is_internal_workspace(ref.name):  # the report's own copies rebuild themselves
                row["stale"] = kb.stale_documents(ref.name)
        except Exception:
            pass
    print(json.dumps(row), flush=True)
"""
PROBE_TIMEOUT_S = 300


def _vector_folders(chroma_file: Path) -> dict[str, str]:
    """collection id -> its vector index folder name (chroma/<segment id>), read-only."""
    db = sqlite3.connect(f"{chroma_file.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        rows = db.execute("SELECT collection, id FROM segments WHERE scope = 'VECTOR'").fetchall()
    finally:
        db.close()
    return {str(collection): str(segment) for collection, segment in rows}


def _check_workspaces(settings: Settings) -> Iterator[Check]:
    import json
    import subprocess
    import sys

    from ragtune.config import PROJECT_ROOT

    chroma = settings.chroma_dir
    try:
        folders = _vector_folders(chroma / "chroma.sqlite3")
    except sqlite3.Error:
        folders = {}
    probe = [str(chroma), str(settings.knowledge_manifest_file), str(settings.chunk_size), str(settings.chunk_overlap)]
    done = subprocess.run([sys.executable, "-c", _WORKSPACE_PROBE, *probe], cwd=str(PROJECT_ROOT),
                          capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    rows: dict[str, dict[str, object]] = {}
    for line in done.stdout.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        rows[str(row["name"])] = row  # the second line of a workspace replaces its "stopped here"
    if not rows and done.returncode != 0:
        tail = " ".join(done.stderr.split())[-300:]
        yield Check(area="stores", name="workspaces", status="FAIL",
                    detail=f"chroma in {chroma} cannot be opened (exit {done.returncode}: {tail}).",
                    fix=f"Restore {chroma} from a backup, or move it aside (mv '{chroma}' '{chroma}.broken') "
                    "and re-ingest your documents with `python -m ragtune ingest --workspace NAME PATH`.")
        return
    if not rows:
        yield Check(area="stores", name="workspaces", status="OK", detail="no workspaces yet.")
    for name, row in rows.items():
        stale = [str(d) for d in row.get("stale") or []]  # type: ignore[attr-defined]
        if row["error"] is None and stale:
            listed = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
            yield Check(area="stores", name=f"workspace {name}", status="WARN",
                        detail=f"{row['count']} chunks; {len(stale)} document{'s' if len(stale) != 1 else ''} "
                        f"({listed}) {'were' if len(stale) != 1 else 'was'} chunked with other "
                        f"settings than today's ({settings.chunk_size} characters, {settings.chunk_overlap} overlap): "
                        "search and prompts use the old chunks.",
                        fix=f"`python -m ragtune workspaces rechunk {name}` (or the Knowledge page's Re-chunk button).")
            continue
        if row["error"] is None:
            yield Check(area="stores", name=f"workspace {name}", status="OK",
                        detail=f"{row['count']} chunks; the vector index answers.")
            continue
        folder = folders.get(str(row["id"]))
        index = chroma / folder if folder else chroma
        crashed = "" if done.returncode == 0 else f"; the check process ended with exit {done.returncode}"
        error = str(row["error"])
        detail = (f"{error}{crashed}" if str(chroma) in error  # the store's message names the file already
                  else f"the vector index {index} is damaged ({error}{crashed}).")
        yield Check(area="stores", name=f"workspace {name}", status="FAIL", detail=detail,
                    fix=f"Re-ingest it: `python -m ragtune workspaces delete {name} --yes`, then "
                    f"`python -m ragtune ingest --workspace {name} PATH`; if the delete fails too, move '{chroma}' "
                    "aside and re-ingest every workspace.")


def check_chroma_server(settings: Settings) -> Iterator[Check]:
    """The Chroma server at RAGTUNE_CHROMA_URL: its heartbeat, the bookkeeping collection, and each
    workspace's chunks and index (read only: nothing is created or changed there)."""
    from ragtune.errors import RagtuneError
    from ragtune.retrieval.chroma_server import ChromaServer, ChromaServerStore
    from ragtune.retrieval.embeddings import shared_embedding_function
    from ragtune.retrieval.knowledge import KnowledgeBase, is_internal_workspace
    from ragtune.retrieval.manifest_chroma import COLLECTION, ChromaManifest

    url = str(settings.chroma_url)
    server = ChromaServer(url, headers=settings.chroma_header_map(), timeout_s=settings.chroma_timeout_s)
    try:
        server.heartbeat()
    except RagtuneError as exc:
        yield Check(area="stores", name=f"Chroma server {url}", status="FAIL", detail=str(exc),
                    fix="Start it (`make serve-chroma` on its machine), correct RAGTUNE_CHROMA_URL / "
                    "RAGTUNE_CHROMA_HEADERS, or unset RAGTUNE_CHROMA_URL to use the local store.")
        return
    yield Check(area="stores", name=f"Chroma server {url}", status="OK", detail="answers its heartbeat.")
    store = ChromaServerStore(server, shared_embedding_function())
    manifest = ChromaManifest(server, read_only=True)
    refs = store.list_workspaces()
    reingest = "re-ingest each workspace's documents (`python -m ragtune ingest --workspace NAME PATH`)"
    if not manifest.exists():
        if refs:
            yield Check(area="stores", name=COLLECTION, status="FAIL",
                        detail=f"{len(refs)} workspaces but no bookkeeping collection {COLLECTION!r}: no document "
                        "version is live, so their documents are invisible.", fix=f"Restore the server's data from "
                        f"a backup, or {reingest}.")
        else:
            yield Check(area="stores", name=COLLECTION, status="OK", detail="no documents yet (made on first use).")
        return
    yield Check(area="stores", name=COLLECTION, status="OK",
                detail=f"the knowledge bookkeeping answers ({manifest.record_count()} records, layout "
                f"{manifest.schema_version()}).")
    kb = KnowledgeBase(store, manifest, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    for ref in refs:
        name = f"workspace {ref.name}"
        try:
            count = store.count(ref)
            if count:
                store.query(ref, "doctor", 1)  # reads the vector index
            stale = [] if is_internal_workspace(ref.name) else kb.stale_documents(ref.name)
        except RagtuneError as exc:
            yield Check(area="stores", name=name, status="FAIL", detail=str(exc),
                        fix=f"`python -m ragtune workspaces delete {ref.name} --yes`, then ingest it again.")
            continue
        if stale:
            yield Check(area="stores", name=name, status="WARN",
                        detail=f"{count} chunks; {len(stale)} documents ({', '.join(stale[:5])}) were chunked with "
                        f"other settings than today's ({settings.chunk_size} characters, {settings.chunk_overlap} "
                        "overlap).", fix=f"`python -m ragtune workspaces rechunk {ref.name}`.")
        else:
            yield Check(area="stores", name=name, status="OK", detail=f"{count} chunks; the vector index answers.")


# -- models and adapters ---------------------------------------------------------------------


def check_models(settings: Settings) -> tuple[list[Check], object | None]:
    """The registry's models, and the default model's verified header (None if it failed)."""
    from ragtune.models import DerivedSource, ModelRegistry

    checks: list[Check] = []
    registry = ModelRegistry(settings)
    default = registry.default_id()
    summary = None
    for status in registry.statuses():
        spec = status.spec
        if spec.id == default:
            continue
        if status.available:
            checks.append(Check(area="models", name=spec.id, status="OK", detail=f"found at {status.path}."))
        elif isinstance(spec.source, DerivedSource):
            checks.append(Check(area="models", name=spec.id, status="OK", detail=status.hint))
        else:
            checks.append(Check(area="models", name=spec.id, status="WARN", detail="not installed.",
                                fix=status.hint or f"`python -m ragtune models assemble {spec.id}`."))
    scratch = None
    if not settings.data_dir.exists():  # the checksum cache must not create the data directory
        from ragtune.gguf.sha import HashCache

        scratch = tempfile.TemporaryDirectory(prefix="ragtune-doctor-")
        registry.hashes = HashCache(Path(scratch.name) / "sha256-cache.json")
    try:
        spec = registry.get(default)
        status = registry.locate(spec)
        if not status.available and isinstance(spec.source, DerivedSource):
            # Not made yet: doctor changes nothing, so it checks the file it will be made from.
            summary = registry.verify(registry.get(spec.source.base))
            detail = (f"{status.hint} Its source '{spec.source.base}': {summary.architecture}, "
                      f"{summary.quantization}, header and checksum verified.")
        else:
            summary = registry.verify(spec)
            detail = f"{summary.architecture}, {summary.quantization}, header and checksum verified."
        checks.insert(0, Check(area="models", name=f"{default} (default)", status="OK", detail=detail))
    except Exception as exc:  # noqa: BLE001 - ModelError, or anything the file provokes
        checks.insert(0, Check(area="models", name=f"{default} (default)", status="FAIL",
                               detail=" ".join(str(exc).split())[:400],
                               fix="Install or assemble it (`python -m ragtune models`), or set RAGTUNE_MODEL / "
                               "RAGTUNE_MODEL_PATH to a model that is present."))
    finally:
        if scratch is not None:
            scratch.cleanup()
    return checks, summary


def check_adapters(settings: Settings, base: object | None) -> Iterator[Check]:
    from ragtune.adapters import AdapterCatalog
    from ragtune.gguf.files import check_adapter_file

    entries = AdapterCatalog(settings).list()
    if not entries:
        yield Check(area="adapters", name="catalog", status="OK", detail="no adapters.")
        return
    if base is None:
        yield Check(area="adapters", name="catalog", status="WARN",
                    detail=f"{len(entries)} adapters not checked: the default model did not pass its check.",
                    fix="Fix the default model first (see above).")
        return
    own_default = settings.model_path is None and settings.model == Settings.model_fields["model"].default
    for entry in entries:
        try:
            check_adapter_file(entry.path, base)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - AdapterError, or anything the file provokes
            detail = " ".join(str(exc).split())[:400]
            if entry.origin == "shipped" and not own_default:
                yield Check(area="adapters", name=entry.name, status="WARN",
                            detail=f"does not fit the configured model: {detail}",
                            fix="Use it with the model it was trained for, or train one for this model.")
            else:
                yield Check(area="adapters", name=entry.name, status="FAIL", detail=f"{entry.path}: {detail}",
                            fix=f"Delete or replace it (rm '{entry.path}').")
            continue
        yield Check(area="adapters", name=entry.name, status="OK", detail=f"fits the default model ({entry.origin}).")


# -- the runtime ------------------------------------------------------------------------------


def check_runtime(settings: Settings, base: object | None) -> Iterator[Check]:
    """Where the model runs; in server mode the server's health, model and adapters (a short timeout)."""
    if settings.runtime == "inprocess":
        yield Check(area="runtime", name="RAGTUNE_RUNTIME", status="OK",
                    detail="inprocess: the model runs in this process, one request at a time.")
        return
    from ragtune.adapters import AdapterCatalog
    from ragtune.models import ModelRegistry
    from ragtune.runtime.server import ServerRuntime

    name = f"server {settings.server_url}"
    if base is None:
        yield Check(area="runtime", name=name, status="WARN", detail="not checked: the default model did not "
                    "pass its check (the server's model is compared with it).",
                    fix="Fix the default model first (see above).")
        return
    model_id = ModelRegistry(settings).default_id()
    key = settings.server_api_key.get_secret_value() if settings.server_api_key else None
    runtime = ServerRuntime(str(settings.server_url), summary=base, model_id=model_id,  # type: ignore[arg-type]
                            api_key=key, dialect=settings.server_dialect, timeout_s=settings.server_timeout_s,
                            catalog=AdapterCatalog(settings, model_id=model_id))
    try:
        status = runtime.backend_status()
    finally:
        runtime.close()
    if not status.healthy:
        yield Check(area="runtime", name=name, status="FAIL", detail=status.error,
                    fix="Start it (`make serve-model`), or fix RAGTUNE_SERVER_URL / RAGTUNE_SERVER_API_KEY.")
        return
    slots = f"{status.slots_busy} of {status.slots_total} slots busy" if status.slots_total else "slots unknown"
    yield Check(area="runtime", name=name, status="OK",
                detail=f"healthy ({settings.server_dialect}); serves {status.model}; {slots}.")
    if status.model_matches is False:
        yield Check(area="runtime", name="served model", status="WARN",
                    detail=f"the server serves {status.model}, not the selected {model_id}.",
                    fix="Restart `make serve-model` with this RAGTUNE_MODEL, or select the served model.")
    for adapter in status.adapters:
        if not adapter.served:
            yield Check(area="runtime", name=f"adapter {adapter.name}", status="WARN", detail=adapter.why,
                        fix="Restart `make serve-model` to serve the current adapters.")


# -- all of it -------------------------------------------------------------------------------


def run_doctor() -> Report:
    """Every check, in order: settings, data directory, stores, models, adapters, the runtime."""
    from ragtune.errors import RagtuneError

    checks: list[Check] = []
    try:
        settings = load_settings()
    except RagtuneError as exc:
        checks.append(Check(area="settings", name="RAGTUNE_*", status="FAIL", detail=str(exc),
                            fix="Correct or unset the variable (environment or .env)."))
        return Report(checks=checks)
    checks.append(Check(area="settings", name="RAGTUNE_*", status="OK", detail="all settings valid."))
    data = _guarded("data", str(settings.data_dir), lambda: check_data_dir(settings))
    checks.extend(data)
    if settings.data_dir.is_dir():
        checks.extend(_guarded("stores", "stores", lambda: check_stores(settings)))
    found: dict[str, object | None] = {"base": None}

    def models() -> Iterator[Check]:
        model_checks, found["base"] = check_models(settings)
        yield from model_checks

    checks.extend(_guarded("models", "registry", models))
    checks.extend(_guarded("adapters", "catalog", lambda: check_adapters(settings, found["base"])))
    checks.extend(_guarded("runtime", "model server", lambda: check_runtime(settings, found["base"])))
    return Report(checks=checks)


__all__ = ["Check", "Report", "check_adapters", "check_data_dir", "check_models", "check_runtime", "check_stores",
           "run_doctor", "sqlite_problem"]
