"""The knowledge base's chunks on a Chroma server (``RAGTUNE_CHROMA_URL``), over chromadb's HttpClient.

:class:`ChromaServer` is the one connection the store and the manifest share: it connects on
first use (so a server that is down does not stop the app from starting), bounds every request
by ``RAGTUNE_CHROMA_TIMEOUT_S`` (chromadb's own client waits forever), and turns every failure
into a :class:`StoreError` that names the URL and what to do. After a failure the next call
connects again, so ragtune recovers by itself when the server is back.

Embeddings are still computed in this process (the configured embedding function is passed to
every collection); the server only stores and searches vectors. Chroma 1.x ships no
authentication: ``RAGTUNE_CHROMA_HEADERS`` carries a reverse proxy's token (see the README).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragtune.errors import ConfigError, InputError, RagtuneError, StoreError, WorkspaceError
from ragtune.retrieval.store import ChromaCollections, WorkspaceRef, _register_with_chroma
from ragtune.retrieval.types import StoreStatus

if TYPE_CHECKING:
    from ragtune.config import Settings

HEARTBEAT_PATH = "/api/v2/heartbeat"
STATUS_TIMEOUT_S = 2.0
"""The sidebar's health check waits at most this long (or the request timeout, if shorter)."""


def _raise_non_chroma_errors(response: Any) -> None:
    """An httpx response hook: an error that is not Chroma's own (a proxy's 401, 413 or 502) raises
    httpx's HTTPStatusError, which keeps the status code; chromadb would turn it into a bare
    ``Exception(body)``. Chroma's own errors (a JSON body with ``error``) go on to chromadb, which
    raises its typed errors (a missing collection ...)."""
    if response.status_code < 400:
        return
    response.read()
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return
    response.raise_for_status()


class ChromaServer:
    """One connection to a Chroma server, shared by the vector store and the manifest.

    Args:
        url: the server's base URL (``http://host:8000``, or a proxy's URL with a path prefix).
        headers: sent with every request (a reverse proxy's token).
        timeout_s: the longest one request may take (connect, send, each read).
    """

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout_s = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()

    # -- connecting ---------------------------------------------------------------------
    def client(self) -> Any:
        """The chromadb client, connected on first use and again after a failure.

        Raises:
            StoreError: the server cannot be reached, refuses us, or does not answer in time.
        """
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def reset(self) -> None:
        """Forget the client: the next call connects again (after a network failure)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()  # releases its HTTP connections
            except Exception:  # noqa: BLE001 - closing a broken client must not hide the first error
                pass

    def heartbeat(self, timeout_s: float | None = None) -> None:
        """Ask the server whether it is alive (``GET /api/v2/heartbeat``) with our headers.

        Raises:
            StoreError: it is down, refuses us, or answers something that is not Chroma.
        """
        import httpx

        timeout = self.timeout_s if timeout_s is None else timeout_s
        try:
            response = httpx.get(self.url + HEARTBEAT_PATH, headers=self.headers, timeout=timeout)
            response.raise_for_status()
            if "nanosecond heartbeat" not in response.json():
                raise StoreError(
                    f"{self.url} answers, but not as a Chroma server ({HEARTBEAT_PATH} gave no heartbeat). "
                    "Check RAGTUNE_CHROMA_URL."
                )
        except RagtuneError:
            raise
        except Exception as exc:
            raise self.error(exc, timeout_s=timeout) from exc

    def _connect(self) -> Any:
        import chromadb
        import httpx
        from chromadb.config import Settings as ChromaSettings

        self.heartbeat()  # a clear error for a server that is down, refuses us, or is not Chroma
        built: dict[str, Any] = {}

        def build() -> None:
            try:
                built["client"] = chromadb.HttpClient(
                    host=self.url, headers=dict(self.headers), settings=ChromaSettings(anonymized_telemetry=False)
                )
            except BaseException as exc:  # handed to the caller below
                built["error"] = exc

        # chromadb's client is made with no timeout and talks to the server while it is made: made in
        # a thread, so a server that stops answering right after the heartbeat cannot hang us.
        worker = threading.Thread(target=build, name="chroma-connect", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if worker.is_alive():
            raise self.error(httpx.ReadTimeout("connecting"))
        if "error" in built:
            raise self.error(built["error"]) from built["error"]
        client = built["client"]
        session = getattr(getattr(client, "_server", None), "_session", None)
        if not isinstance(session, httpx.Client):  # a chromadb whose client we cannot bound
            raise StoreError(
                "This chromadb version's HTTP client cannot be given a timeout, so a slow Chroma server could "
                "hang ragtune. Install the pinned chromadb (requirements.txt)."
            )
        session.timeout = httpx.Timeout(self.timeout_s)
        session.event_hooks["response"].append(_raise_non_chroma_errors)
        return client

    # -- failures -----------------------------------------------------------------------
    def error(self, exc: BaseException, *, timeout_s: float | None = None) -> StoreError:
        """``exc`` (from httpx or chromadb) as a StoreError naming the URL and what to do."""
        import httpx

        timeout = self.timeout_s if timeout_s is None else timeout_s
        retry = "ragtune tries again on the next action."
        if isinstance(exc, httpx.TimeoutException):
            return StoreError(
                f"The Chroma server at {self.url} did not answer within {timeout:g} s. Check that it is running "
                f"and not overloaded (RAGTUNE_CHROMA_TIMEOUT_S sets the limit); {retry}"
            )
        if isinstance(exc, httpx.HTTPStatusError):
            code = exc.response.status_code
            if code in (401, 403, 407):
                return StoreError(
                    f"The Chroma server at {self.url} refused the request (HTTP {code}): the proxy in front of it "
                    "wants a valid token. Set RAGTUNE_CHROMA_HEADERS, e.g. "
                    "'{\"Authorization\": \"Bearer TOKEN\"}'."
                )
            if code in (502, 503, 504):
                return StoreError(
                    f"The proxy at {self.url} cannot reach the Chroma server behind it (HTTP {code}). Start the "
                    f"server (`make serve-chroma` on its machine) or fix the proxy's upstream; {retry}"
                )
            if code == 413:
                return StoreError(
                    f"The Chroma server at {self.url} refused a request as too large (HTTP 413): the proxy in "
                    "front of it limits request bodies. Raise its limit above RAGTUNE_MAX_UPLOAD_MB (nginx: "
                    "client_max_body_size)."
                )
            return StoreError(
                f"The Chroma server at {self.url} answered HTTP {code} ({exc.response.reason_phrase}). Check "
                f"RAGTUNE_CHROMA_URL (the server itself, or the proxy in front of it); {retry}"
            )
        if isinstance(exc, (httpx.TransportError, ConnectionError)) or "Could not connect" in str(exc):
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            return StoreError(
                f"The Chroma server at {self.url} cannot be reached ({detail}). Start it (`make serve-chroma` on "
                f"its machine) or correct RAGTUNE_CHROMA_URL; {retry}"
            )
        detail = " ".join(str(exc).split())[:300]
        return StoreError(f"The Chroma server at {self.url} failed ({type(exc).__name__}: {detail}); {retry}")

    @contextmanager
    def guard(self, workspace: WorkspaceRef | None = None) -> Iterator[None]:
        """Run chromadb calls: a missing collection is a WorkspaceError, anything else a StoreError
        naming the URL (and the connection is made again on the next call)."""
        try:
            yield
        except RagtuneError:
            raise
        except Exception as exc:
            from chromadb.errors import NotFoundError

            if workspace is not None and (isinstance(exc, NotFoundError) or "does not exist" in str(exc)):
                raise WorkspaceError(f"Workspace {workspace.name!r} no longer exists.") from exc
            if not isinstance(exc, NotFoundError):
                self.reset()
            raise self.error(exc) from exc

    def status(self) -> StoreStatus:
        """Whether the server answers its heartbeat within a short timeout; never raises."""
        try:
            self.heartbeat(min(STATUS_TIMEOUT_S, self.timeout_s))
        except Exception as exc:  # noqa: BLE001 - a status line, never a crash
            return StoreStatus(kind="server", url=self.url, healthy=False, error=str(exc))
        return StoreStatus(kind="server", url=self.url, healthy=True, error="")


class ChromaServerStore(ChromaCollections):
    """A :class:`~ragtune.retrieval.store.VectorStore` on a Chroma server: one collection per workspace,
    as in the local store. No folder, so no opening lock and no index-file checks: the server owns its files.

    Args:
        server: the connection (shared with the :class:`~ragtune.retrieval.manifest_chroma.ChromaManifest`).
        embedding_function: passed explicitly to every collection; embeddings are computed here.
    """

    def __init__(self, server: ChromaServer, embedding_function: Any) -> None:
        self.server = server
        self.embedding_function = embedding_function
        _register_with_chroma(embedding_function)

    @property
    def _client(self) -> Any:  # type: ignore[override]
        return self.server.client()

    def _guard(self, workspace: WorkspaceRef | None = None) -> Any:
        return self.server.guard(workspace)

    def status(self) -> StoreStatus:
        return self.server.status()


# -- `make serve-chroma` ------------------------------------------------------------------------

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def chroma_executable() -> Path:
    """The pinned chromadb's ``chroma`` command, next to this Python (the virtualenv's).

    Raises:
        ConfigError: it is missing.
    """
    found = Path(sys.executable).parent / "chroma"
    if not (found.is_file() and os.access(found, os.X_OK)):
        raise ConfigError(
            f"The `chroma` command of the pinned chromadb is missing ({found}). Install the requirements "
            "(`make setup`) and run this with the virtualenv's Python."
        )
    return found


def serve_command(settings: Settings, *, host: str, port: int, path: Path | None = None) -> list[str]:
    """The command line that runs a Chroma server for ragtune: ``chroma run --path DIR --host H --port P``
    with the pinned chromadb, its data in ``path`` (default: RAGTUNE_CHROMA_PATH, or
    ``<data dir>/chroma-server``), created if missing.

    Raises:
        InputError: the host, or the folder, cannot be used (named, with why).
        ConfigError: the ``chroma`` command is missing.
    """
    host = host.strip()
    if not host or any(ch.isspace() or ch in "/?#@" for ch in host):
        raise InputError(f"--host {host!r} is not a host name or IP address (e.g. 127.0.0.1 or 0.0.0.0).")
    folder = (path or settings.chroma_server_dir).expanduser().resolve()
    if folder == settings.chroma_dir.resolve():
        raise InputError(
            f"{folder} is the local knowledge store of this data directory (opened by the app itself when "
            "RAGTUNE_CHROMA_URL is unset); give the Chroma server its own folder (CHROMA_PATH)."
        )
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file; the Chroma server needs a folder (CHROMA_PATH).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{folder}: cannot create the folder ({exc.strerror or exc}); choose another CHROMA_PATH."
        ) from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{folder} is not writable; choose another CHROMA_PATH.")
    return [str(chroma_executable()), "run", "--path", str(folder), "--host", host, "--port", str(port)]
