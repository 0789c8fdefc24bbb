"""Real servers on loopback for the tests, started once per test session.

``llama_server`` (session) starts the binary ``make llama-server`` built, the way ``make
serve-model`` starts it (:func:`ragtune.serving.plan_server`: the same arguments, the adapters
linked under their checksummed names), with the tiny test model, three test adapters, an API key
and ``--parallel 4``, on a free port. A missing binary is built first (``make test-setup`` builds
it, so in CI it is there); the tests skip, saying why, only when it cannot be built.
``RAGTUNE_TEST_LLAMA_SERVER`` names another binary (a build tree's, while developing).

``chroma_server``: a real Chroma server (``python -m ragtune serve-chroma``, i.e. ``chroma run`` of the
pinned chromadb) on a free port with its data in a temp folder. Tests that write to it take
``chroma_url``, which empties the server first, so each test starts from nothing.
``knowledge_store`` (with ``@on_both_stores``) runs a knowledge-base test on the local store and on
that server.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ragtune.config import PROJECT_ROOT, Settings, load_settings

API_KEY = "ragtune-test-key"
PARALLEL = 4
BINARY_VARIABLE = "RAGTUNE_TEST_LLAMA_SERVER"
_BINARY: dict[str, Path | str] = {}  # found once per session: the path, or why there is none


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_binary() -> Path:
    """The llama-server binary, built now if it is missing; skips the test when it cannot be built."""
    if "path" not in _BINARY and "why" not in _BINARY:
        _BINARY.update(_find_or_build())
    if "why" in _BINARY:
        pytest.skip(str(_BINARY["why"]))
    return Path(_BINARY["path"])


def _find_or_build() -> dict[str, Path | str]:
    from importlib import metadata

    from ragtune.errors import RagtuneError
    from ragtune.serving import default_binary

    if os.environ.get(BINARY_VARIABLE):
        return {"path": Path(os.environ[BINARY_VARIABLE])}
    try:
        binary = default_binary()
    except RagtuneError as exc:
        return {"why": f"llama-server cannot be located: {exc}"}
    if binary.is_file():
        return {"path": binary}
    flags = subprocess.run(["sh", str(PROJECT_ROOT / "scripts" / "llama_cmake_args.sh")], capture_output=True,
                           text=True, check=False).stdout.strip()
    print(f"\nllama-server is not built yet: building it now ({binary})", file=sys.stderr)
    done = subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "build_llama_server.sh"), sys.executable,
                           metadata.version("llama-cpp-python"), flags], check=False)
    if done.returncode != 0 or not binary.is_file():
        return {"why": "llama-server is not built and building it failed (see the output above; "
                       "`make llama-server` builds it)"}
    return {"path": binary}


@dataclass
class LlamaServer:
    """A running llama-server: its URL and key, the catalog files it serves (name -> path), its settings."""

    url: str
    api_key: str
    adapters: dict[str, Path]
    settings: Settings
    model: Path
    process: subprocess.Popen[bytes]
    log: Path
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)

    def restart(self) -> None:
        """Start the same server again (same port, adapters and key), e.g. after killing it."""
        self.stop()
        self.process = _spawn(self.argv, self.env, self.log)
        _wait_ready(self)


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)


def _wait_ready(server: LlamaServer, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"llama-server exited ({server.process.returncode}):\n"
                               + server.log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{server.url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    server.stop(kill=True)
    raise RuntimeError("llama-server did not become ready:\n" + server.log.read_text(errors="replace")[-3000:])


def start_llama_server(root: Path, model: Path, adapters: dict[str, Path], *, n_ctx: int = 2048,
                       api_key: str | None = API_KEY, parallel: int = PARALLEL) -> LlamaServer:
    """Start llama-server as ``make serve-model`` would, from a data directory under ``root`` holding
    ``adapters`` (name -> file, copied in as user adapters)."""
    from ragtune.serving import plan_server, stage_adapters

    binary = server_binary()
    data = root / "data"
    (data / "adapters").mkdir(parents=True, exist_ok=True)
    served = {}
    for name, source in adapters.items():
        target = data / "adapters" / f"{name}.gguf"
        shutil.copyfile(source, target)
        served[name] = target.resolve()
    settings = load_settings(data_dir=data, model_path=model, n_ctx=n_ctx, n_threads=1, server_parallel=parallel,
                             server_api_key=api_key)
    plan = plan_server(settings, port=free_port(), binary=binary)
    stage_adapters(plan)
    log = root / "llama-server.log"
    server = LlamaServer(url=plan.url, api_key=api_key or "", adapters=served, settings=settings, model=model,
                         process=_spawn(plan.argv, plan.env, log), log=log, argv=plan.argv, env=plan.env)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop(kill=True)
        raise
    return server


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, random_lora: Path,
                 second_lora: Path, zero_lora: Path) -> Iterator[LlamaServer]:
    """One llama-server for the session: the tiny model, adapters 'adapter-a' (random weights),
    'adapter-b' (other targets) and 'adapter-zero' (all-zero B), an API key, --parallel 4."""
    root = tmp_path_factory.mktemp("llama-server")
    server = start_llama_server(root, tiny_model, {"adapter-a": random_lora, "adapter-b": second_lora,
                                                   "adapter-zero": zero_lora})
    yield server
    server.stop()


# -- the Chroma server --------------------------------------------------------------------------

SERVER_START_TIMEOUT_S = 90.0


@dataclass
class ChromaServerHandle:
    """A running ``chroma run``: its URL, data folder, process and log file."""

    url: str
    port: int
    path: Path
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def start_chroma(path: Path, port: int | None = None) -> ChromaServerHandle:
    """Start a Chroma server the way ``make serve-chroma`` does and wait for its heartbeat.

    Raises:
        RuntimeError: it exited or did not answer within SERVER_START_TIMEOUT_S (with its log).
    """
    import httpx

    port = port or free_port()
    log = path.parent / f"{path.name}-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "RAGTUNE_DATA_DIR": str(path.parent)}
    env.pop("RAGTUNE_CHROMA_URL", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ragtune", "serve-chroma", "--port", str(port), "--path", str(path)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    handle = ChromaServerHandle(f"http://127.0.0.1:{port}", port, path, process, log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Chroma server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            if httpx.get(handle.url + "/api/v2/heartbeat", timeout=2).status_code == 200:
                return handle
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    handle.stop()
    raise RuntimeError(f"the Chroma server did not answer in {SERVER_START_TIMEOUT_S:g} s: {log.read_text()[-2000:]}")


def wipe_chroma(url: str) -> None:
    """Delete every collection on the server (each test starts from an empty server)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(host=url, settings=ChromaSettings(anonymized_telemetry=False))
    try:
        for collection in client.list_collections():
            client.delete_collection(collection.name)
    finally:
        client.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServerHandle]:
    """One real Chroma server for the test session (``.url``, ``.port``, ``.path``)."""
    handle = start_chroma(tmp_path_factory.mktemp("chroma-server") / "data")
    yield handle
    handle.stop()


@pytest.fixture()
def chroma_url(chroma_server: ChromaServerHandle) -> str:
    """The session's Chroma server, emptied for this test."""
    if chroma_server.process.poll() is not None:
        pytest.fail(f"the session's Chroma server died: {chroma_server.log.read_text()[-2000:]}")
    wipe_chroma(chroma_server.url)
    return chroma_server.url


@pytest.fixture()
def knowledge_store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which store the knowledge base of this test uses: ``local`` (chroma in the data directory;
    the default) or ``server`` (a real Chroma server, emptied first). With ``server``,
    RAGTUNE_CHROMA_URL is set, so a second knowledge base or a child process opens the same server.
    Run a test on both with ``@on_both_stores``."""
    store = getattr(request, "param", "local")
    if store == "server":
        monkeypatch.setenv("RAGTUNE_CHROMA_URL", request.getfixturevalue("chroma_url"))
    return store


on_both_stores = pytest.mark.parametrize("knowledge_store", ["local", "server"], indirect=True)
"""The contract tests of the knowledge base run on the local store and on a Chroma server."""
