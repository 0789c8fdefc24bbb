"""Real servers on loopback for the team-server tests, started once per test session.

``chroma_server``: a real Chroma server (``python -m ragtune serve-chroma``, i.e. ``chroma run`` of the
pinned chromadb) on a free port with its data in a temp folder. Tests that write to it take
``chroma_url``, which empties the server first, so each test starts from nothing.
``knowledge_store`` (with ``@on_both_stores``) runs a knowledge-base test on the local store and on
that server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ragtune.config import PROJECT_ROOT

SERVER_START_TIMEOUT_S = 90.0


def free_port() -> int:
    """A TCP port nothing listens on right now (on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
