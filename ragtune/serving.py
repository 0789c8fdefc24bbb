"""``make serve-model``: the llama-server command for the configured model and every adapter.

:func:`plan_server` turns the settings, the model registry and the adapter catalog into a
:class:`ServerPlan`: the binary, its arguments and environment, and the adapters in their fixed
order. Nothing is started or written by it; :func:`stage_adapters` then links each adapter under
the name the server will report (``<name>@<sha256 prefix>.gguf``, so the app can tell which file
the server loaded, see :mod:`ragtune.runtime.server_adapters`), and the CLI execs the command.

The adapter order is fixed and documented: the adapters shipped for the model first, then the
data directory's, each group by name (:meth:`AdapterCatalog.list`). An adapter that does not fit
the model is left out with the reason (llama-server would refuse to start). Replicas started
from the same files serve the same adapters under the same ids.

The context: llama-server divides ``-c`` among its ``--parallel`` slots, so it is given
``RAGTUNE_N_CTX x RAGTUNE_SERVER_PARALLEL`` and each request gets ``RAGTUNE_N_CTX`` tokens, as in
process. The batch sizes and ``--flash-attn off`` are the in-process runtime's, so both
backends compute the same way.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ragtune.adapters import AdapterCatalog, fit_problem
from ragtune.config import PROJECT_ROOT, Settings
from ragtune.errors import ConfigError, InputError, RagtuneError
from ragtune.gguf.sha import sha256_of
from ragtune.models import ModelRegistry
from ragtune.runtime.server_adapters import served_file_name

BUILD_SCRIPT = PROJECT_ROOT / "scripts" / "build_llama_server.sh"
CMAKE_ARGS_SCRIPT = PROJECT_ROOT / "scripts" / "llama_cmake_args.sh"
IN_PROCESS_UBATCH = 512  # llama-cpp-python's default n_ubatch: the server gets the same
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class StagedAdapter(BaseModel):
    """One adapter as the server gets it: the catalog's file, and the link the server loads."""

    model_config = ConfigDict(frozen=True)

    name: str
    origin: str
    source: Path
    sha256: str
    served_path: Path


class ServerPlan(BaseModel):
    """Everything needed to start llama-server, decided before anything starts."""

    model_config = ConfigDict(frozen=True)

    binary: Path
    argv: list[str]
    env: dict[str, str]
    model_id: str
    model_path: Path
    url: str
    n_ctx_per_request: int
    parallel: int
    adapters: list[StagedAdapter]
    skipped: list[tuple[str, str]]
    api_key: bool

    def command_line(self) -> str:
        """The command as one shell line (the API key, passed in the environment, is not shown)."""
        env = [f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()) if k != "LLAMA_API_KEY"]
        if self.api_key:
            env.append("LLAMA_API_KEY=<RAGTUNE_SERVER_API_KEY>")
        return " ".join([*env, *(shlex.quote(a) for a in self.argv)])


def default_binary() -> Path:
    """Where ``make llama-server`` caches the binary for this llama-cpp-python and these CPU flags.

    Raises:
        ConfigError: the build script cannot say (not a checkout of ragtune, or no llama-cpp-python).
    """
    try:
        version = metadata.version("llama-cpp-python")
        flags = os.environ.get("LLAMA_CMAKE_ARGS") or subprocess.run(
            ["sh", str(CMAKE_ARGS_SCRIPT)], capture_output=True, text=True, check=True, timeout=30).stdout.strip()
        out = subprocess.run(["bash", str(BUILD_SCRIPT), "--path", version, flags], capture_output=True, text=True,
                             check=True, timeout=30).stdout.strip()
    except (metadata.PackageNotFoundError, OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"Cannot tell where llama-server is built ({type(exc).__name__}); pass --binary PATH, "
                          "or run `make llama-server` from the ragtune checkout.") from exc
    return Path(out)


def check_binary(binary: Path) -> Path:
    """The binary, if it is an executable file.

    Raises:
        ConfigError: it is missing (build it with ``make llama-server``) or not executable.
    """
    binary = Path(binary).expanduser()
    if not binary.is_file():
        raise ConfigError(f"llama-server is not built ({binary} does not exist): run `make llama-server` "
                          "(about 5 minutes on 2 cores, once; it is cached).")
    if not os.access(binary, os.X_OK):
        raise ConfigError(f"{binary} is not executable: rebuild it with `make llama-server`.")
    return binary.resolve()


def check_host(host: str) -> str:
    """A host name or address to listen on.

    Raises:
        InputError: empty, or with spaces or characters no host name has.
    """
    text = host.strip()
    if not text or any(c.isspace() or c in "/?#@\"'," for c in text) or len(text) > 253:
        raise InputError(f"SERVER_HOST must be a host name or an IP address such as 127.0.0.1 or 0.0.0.0 "
                         f"(got {host[:60]!r}).")
    return text


def _csv_field(path: Path) -> str:
    """A path as one field of llama-server's comma-separated ``--lora`` list (quoted when it must be)."""
    text = str(path)
    if "," in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def staging_dir(settings: Settings) -> Path:
    """Where the links the server loads are kept (on the model server's machine)."""
    return settings.data_dir / "model-server" / "adapters"


def plan_adapters(catalog: AdapterCatalog, settings: Settings, base: object) -> tuple[list[StagedAdapter],
                                                                                     list[tuple[str, str]]]:
    """Every adapter of the catalog that fits ``base``, in the catalog's order, and those left out (with why)."""
    staged, skipped = [], []
    folder = staging_dir(settings)
    for entry in catalog.list():
        problem = fit_problem(entry.path, base)  # type: ignore[arg-type]
        if problem is not None:
            skipped.append((entry.name, problem))
            continue
        sha = sha256_of(entry.path)
        staged.append(StagedAdapter(name=entry.name, origin=entry.origin, source=entry.path, sha256=sha,
                                    served_path=folder / served_file_name(entry.name, sha)))
    return staged, skipped


def build_argv(binary: Path, model_path: Path, model_id: str, adapters: list[StagedAdapter], settings: Settings,
               *, host: str, port: int, n_ctx: int) -> list[str]:
    """The llama-server command line (a pure function of its inputs)."""
    parallel = settings.server_parallel
    argv = [
        str(binary), "--model", str(model_path), "--alias", model_id,
        "--host", host, "--port", str(port),
        "--ctx-size", str(n_ctx * parallel), "--parallel", str(parallel),
        "--threads", str(settings.n_threads), "--threads-batch", str(settings.n_threads),
        "--batch-size", str(settings.n_batch), "--ubatch-size", str(min(IN_PROCESS_UBATCH, settings.n_batch)),
        "--flash-attn", "off", "--metrics", "--no-webui",
    ]
    if adapters:
        # One comma-separated --lora (repeating the option is deprecated); the order is the ids' order.
        argv += ["--lora-init-without-apply", "--lora", ",".join(_csv_field(a.served_path) for a in adapters)]
    return argv


def plan_server(settings: Settings, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                binary: Path | None = None, registry: ModelRegistry | None = None) -> ServerPlan:
    """The llama-server command for the configured model (RAGTUNE_MODEL / RAGTUNE_MODEL_PATH) and its adapters.

    Raises:
        ConfigError: the binary is missing, or the API key cannot be given to llama-server.
        InputError: the host or port is invalid.
        ModelError: the model is unknown, missing or fails its checks.
    """
    host = check_host(host)
    if not 1 <= port <= 65535:
        raise InputError(f"SERVER_PORT must be from 1 to 65535 (got {port}).")
    binary = check_binary(binary if binary is not None else default_binary())
    registry = registry or ModelRegistry(settings)
    spec = registry.get(registry.default_id())
    summary = registry.verify(spec)
    n_ctx = min(settings.n_ctx, summary.context_length or settings.n_ctx)
    adapters, skipped = plan_adapters(AdapterCatalog(settings, model_id=spec.id), settings, summary)
    env = {"LD_LIBRARY_PATH": os.pathsep.join(p for p in (str(binary.parent), os.environ.get("LD_LIBRARY_PATH", ""))
                                              if p)}
    key = settings.server_api_key.get_secret_value() if settings.server_api_key else None
    if key is not None:
        if "," in key or '"' in key:
            raise ConfigError("RAGTUNE_SERVER_API_KEY must not contain ',' or '\"' for llama-server, which reads "
                              "its key as a comma-separated list.")
        env["LLAMA_API_KEY"] = key  # in the environment, not on the command line other users can read
    shown_host = f"[{host}]" if ":" in host else host
    return ServerPlan(
        binary=binary, argv=build_argv(binary, summary.path, spec.id, adapters, settings, host=host, port=port,
                                       n_ctx=n_ctx),
        env=env, model_id=spec.id, model_path=summary.path, url=f"http://{shown_host}:{port}",
        n_ctx_per_request=n_ctx, parallel=settings.server_parallel, adapters=adapters, skipped=skipped,
        api_key=key is not None,
    )


def stage_adapters(plan: ServerPlan) -> None:
    """Link each adapter under its served name (a copy where links are not possible); links from an
    earlier start that this plan does not use are removed.

    Raises:
        RagtuneError: the folder cannot be written.
    """
    if not plan.adapters:
        return
    folder = plan.adapters[0].served_path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {a.served_path.name for a in plan.adapters}
        for old in folder.glob("*.gguf"):
            if old.name not in wanted and (old.is_symlink() or old.is_file()):
                old.unlink()
        for adapter in plan.adapters:
            link = adapter.served_path
            if link.is_symlink() or link.exists():
                link.unlink()
            try:
                link.symlink_to(adapter.source)
            except OSError:
                shutil.copyfile(adapter.source, link)
    except OSError as exc:
        raise RagtuneError(f"Cannot prepare the adapters for llama-server in {folder} ({exc.strerror or exc}). "
                           "Check that RAGTUNE_DATA_DIR is writable.") from exc


def server_environment(plan: ServerPlan) -> dict[str, str]:
    """The process environment for llama-server: this one, plus the plan's variables."""
    return {**os.environ, **plan.env}
