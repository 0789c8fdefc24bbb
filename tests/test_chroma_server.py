"""The knowledge base on a real Chroma server (``chroma run`` on loopback): several app instances agree,
writers are told when they lose, a server that is down or silent is a clear error within the timeout,
and headers reach the server through a token-checking reverse proxy.

The contract tests shared with the local store (workspaces, atomic re-ingest, kill -9, garbage
collection, the demo switch) run on both stores in their own modules (``@on_both_stores``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from ragtune.cli import main
from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.errors import ConfigError, StoreError
from ragtune.retrieval.chroma_server import ChromaServer
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.retrieval.manifest import DocumentRow, ManifestConflict
from ragtune.retrieval.manifest_chroma import ChromaManifest
from tests.retrieval_fixtures import embedding_function  # noqa: F401
from tests.servers import free_port, start_chroma

GUIDE = b"# Mower guide\n\nThe Zephyr mower costs $450.\n\n## Battery\n\nThe battery lasts 70 minutes.\n"


def server_kb(url: str, embedding_function, **overrides) -> KnowledgeBase:
    return KnowledgeBase.from_settings(load_settings(chroma_url=url, **overrides), embedding_function)


def texts(kb: KnowledgeBase, workspace: str = "team") -> str:
    return "\n".join(c.text for d in kb.list_documents(workspace) for c in kb.chunks(workspace, d.doc_id))


# -- what the design rests on ----------------------------------------------------------------------


def test_the_server_keeps_the_first_add_of_an_id_among_concurrent_writers(chroma_url):
    """ChromaManifest's compare-and-swap is chroma's add-if-absent: pinned here, so an upgrade that
    changes it fails this test instead of silently losing updates."""
    import chromadb

    collection = chromadb.HttpClient(host=chroma_url).create_collection("first-add", embedding_function=None)
    for round_ in range(5):
        barrier = threading.Barrier(6)
        read_back: dict[str, str] = {}

        def write(token: str, record: str = f"r{round_}") -> None:
            own = chromadb.HttpClient(host=chroma_url).get_collection("first-add", embedding_function=None)
            barrier.wait()
            own.add(ids=[record], documents=[token], embeddings=[[1.0]])
            read_back[token] = own.get(ids=[record], include=["documents"])["documents"][0]

        tokens = [uuid.uuid4().hex for _ in range(6)]
        threads = [threading.Thread(target=write, args=(t,)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(set(read_back.values())) == 1, "every writer reads the same record back"
        assert [t for t in tokens if read_back[t] == t] == list(set(read_back.values())), "exactly one won"


def test_of_concurrent_writers_of_one_document_exactly_one_commits(chroma_url):
    ws = str(uuid.uuid4())
    manifests = [ChromaManifest(ChromaServer(chroma_url)) for _ in range(6)]  # six app instances
    barrier = threading.Barrier(len(manifests))
    outcome: dict[str, str] = {}

    def write(manifest: ChromaManifest, generation: str) -> None:
        row = DocumentRow(ws, "guide", "Guide", "guide.md", 1, generation, datetime.now(timezone.utc), 2, "sha",
                          f"text of {generation}")
        barrier.wait()
        try:
            manifest.put_document(row, replaces=None)
            outcome[generation] = "committed"
        except ManifestConflict:
            outcome[generation] = "conflict"

    threads = [threading.Thread(target=write, args=(m, f"gen{i}")) for i, m in enumerate(manifests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [g for g, result in outcome.items() if result == "committed"]
    assert len(outcome) == len(manifests) and len(winners) == 1, outcome
    for manifest in manifests:  # every instance sees the winner, with its text
        row = manifest.document(ws, "guide")
        assert row is not None and (row.generation, row.text) == (winners[0], f"text of {winners[0]}")


# -- several app instances on one server -----------------------------------------------------------


def test_two_knowledge_bases_on_one_server_agree_after_writes_by_either(chroma_url, embedding_function):
    first, second = server_kb(chroma_url, embedding_function), server_kb(chroma_url, embedding_function)
    first.create_workspace("team")
    assert [w.name for w in second.list_workspaces()] == ["team"]
    first.ingest_bytes("team", [("guide.md", GUIDE)])
    second.ingest_bytes("team", [("guide.md", GUIDE.replace(b"$450", b"$520")), ("notes.md", b"Kites fly.")])
    for kb in (first, second):
        assert [(d.doc_id, d.version) for d in kb.list_documents("team")] == [("guide", 2), ("notes", 1)]
        assert "$520" in texts(kb) and "$450" not in texts(kb)
        for mode in ("vector", "keyword", "hybrid"):  # the BM25 cache notices the other instance's write
            assert "$520" in kb.search("team", "Zephyr mower price", mode=mode, k=1).hits[0].text
    first.delete_document("team", "notes")
    second.rename_workspace("team", "field")
    assert [(w.name, w.n_documents) for w in first.list_workspaces()] == [("field", 1)]
    assert first.manifest.demo_version(first.workspace("field").id) is None
    second.manifest.set_demo_version(second.workspace("field").id, "v2")
    assert first.manifest.demo_version(first.workspace("field").id) == "v2"


def test_emptying_a_workspace_during_a_write_never_loses_the_written_document(chroma_url, embedding_function):
    writer, other = server_kb(chroma_url, embedding_function), server_kb(chroma_url, embedding_function)
    writer.create_workspace("team")
    writer.ingest_bytes("team", [("old.md", b"An old document about boats.")])

    def empty_meanwhile(step: str) -> None:  # between our chunks and our commit
        if step == "chunks_written":
            writer.step_hook = None
            other.empty_workspace("team")

    writer.step_hook = empty_meanwhile
    report = writer.ingest_bytes("team", [("guide.md", GUIDE)])
    assert report.ok and report.files[0].status == "added"
    for kb in (writer, other):  # reported stored, so it is there: the write was redone after the empty
        assert [d.doc_id for d in kb.list_documents("team")] == ["guide"]
        assert "$450" in texts(kb)
    assert writer.collect_garbage(min_age_s=0) >= 0
    assert writer.store.count(writer.workspace("team")) == len(writer.chunks("team", "guide"))


def test_a_write_whose_workspace_is_emptied_before_its_commit_lands_is_told(chroma_url, monkeypatch):
    ws = str(uuid.uuid4())
    writer, other = ChromaManifest(ChromaServer(chroma_url)), ChromaManifest(ChromaServer(chroma_url))
    add = writer._add_and_check

    def empty_first(*args: object, **kwargs: object) -> bool:  # the other instance empties right then
        other.remove_documents(ws)
        return add(*args, **kwargs)

    monkeypatch.setattr(writer, "_add_and_check", empty_first)
    row = DocumentRow(ws, "guide", "Guide", "guide.md", 1, "gen1", datetime.now(timezone.utc), 2, "sha", "text")
    with pytest.raises(ManifestConflict, match="emptied"):
        writer.put_document(row, replaces=None)
    assert other.documents(ws) == []  # its record landed in the old epoch: invisible


def test_replaced_versions_leave_no_bookkeeping_behind(chroma_url, embedding_function):
    kb = server_kb(chroma_url, embedding_function)
    kb.create_workspace("team")
    kb.ingest_bytes("team", [("guide.md", GUIDE)])
    assert isinstance(kb.manifest, ChromaManifest)
    records = kb.manifest.record_count()
    for price in (b"$451", b"$452", b"$453"):
        kb.ingest_bytes("team", [("guide.md", GUIDE.replace(b"$450", price))])
    assert kb.manifest.record_count() == records
    kb.delete_document("team", "guide")
    kb.empty_workspace("team")
    kb.delete_workspace("team")
    assert kb.manifest.workspace_ids() == set()


def test_the_cli_works_against_the_server(chroma_url, embedding_function, data_dir, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_bytes(GUIDE)
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "RAGTUNE_CHROMA_URL": chroma_url,
           "RAGTUNE_DEMO_WORKSPACE": "", "PYTHONPATH": str(PROJECT_ROOT)}
    ingest = subprocess.run([sys.executable, "-m", "ragtune", "ingest", "-w", "team", str(tmp_path / "docs")],
                            env=env, capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT)
    assert ingest.returncode == 0, ingest.stderr
    assert not (data_dir / "chroma").exists() and not (data_dir / "knowledge.sqlite3").exists()
    kb = server_kb(chroma_url, embedding_function)
    assert [(d.doc_id, d.source) for d in kb.list_documents("team")] == [("guide", "guide.md")]


def test_chroma_does_not_warn_about_our_embedding_function_on_the_server(chroma_url, embedding_function, data_dir):
    kb = server_kb(chroma_url, embedding_function)
    kb.create_workspace("team")
    kb.ingest_bytes("team", [("guide.md", GUIDE)])
    script = textwrap.dedent("""
        import warnings
        warnings.simplefilter("error")
        from ragtune.cli import main
        assert main(["search", "-w", "team", "battery", "-k", "1"]) == 0
        print("quiet")
    """)
    env = {**os.environ, "RAGTUNE_DATA_DIR": str(data_dir), "RAGTUNE_CHROMA_URL": chroma_url,
           "RAGTUNE_DEMO_WORKSPACE": "", "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and "quiet" in proc.stdout, proc.stderr
    assert "Could not reconstruct" not in proc.stderr


# -- a server that is down, silent, or behind a proxy ----------------------------------------------


@pytest.fixture()
def own_server(tmp_path: Path) -> Iterator[object]:
    """A Chroma server of this test alone (it gets stopped and started again)."""
    handle = start_chroma(tmp_path / "own")
    yield handle
    handle.stop()


def test_a_server_that_goes_down_is_a_clear_error_in_every_operation_and_recovers(own_server, embedding_function):
    kb = server_kb(own_server.url, embedding_function, chroma_timeout_s=5)
    kb.create_workspace("team")
    kb.ingest_bytes("team", [("guide.md", GUIDE)])
    own_server.stop()
    for operation in (
        lambda: kb.search("team", "battery"),
        lambda: kb.list_workspaces(),
        lambda: kb.list_documents("team"),
        lambda: kb.ingest_bytes("team", [("notes.md", b"Kites fly.")]).files[0].error,
    ):
        started = time.monotonic()
        try:
            message = operation()
        except StoreError as exc:
            message = str(exc)
        assert time.monotonic() - started < 10
        assert own_server.url in str(message) and "make serve-chroma" in str(message), message
    status = kb.backend_status()
    assert (status.kind, status.url, status.healthy) == ("server", own_server.url, False)
    assert own_server.url in status.error
    late = server_kb(own_server.url, embedding_function)  # starting while the server is down works too
    restarted = start_chroma(own_server.path, own_server.port)  # the same data, the same port
    try:
        assert kb.backend_status().healthy
        for base in (kb, late):  # the same objects recover by themselves
            assert "70 minutes" in base.search("team", "how long does the battery last", k=1).hits[0].text
        assert kb.ingest_bytes("team", [("notes.md", b"Kites fly.")]).ok
    finally:
        restarted.stop()


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers (a hung server)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def test_a_server_that_does_not_answer_is_an_error_within_the_timeout(silent_server, embedding_function):
    started = time.monotonic()
    kb = server_kb(silent_server, embedding_function, chroma_timeout_s=1)
    with pytest.raises(StoreError, match=r"did not answer within 1 s"):
        kb.list_workspaces()
    status = kb.backend_status()
    assert not status.healthy and silent_server in status.error
    assert time.monotonic() - started < 15  # from_settings, the call, the status: each bounded by 1-2 s


def test_a_server_that_stops_answering_after_the_connection_is_an_error_within_the_timeout(
    chroma_url, embedding_function
):
    proxy = TokenProxy(chroma_url, "t", stall_s=20)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        kb = server_kb(proxy.url, embedding_function, chroma_timeout_s=1,
                       chroma_headers='{"Authorization": "Bearer t"}')
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"did not answer within 1 s"):
            kb.list_workspaces()  # the heartbeat and the client's set-up answer; listing hangs
        assert time.monotonic() - started < 10
    finally:
        proxy.shutdown()
        proxy.client.close()
        thread.join(30)


class TokenProxy(ThreadingHTTPServer):
    """A small real reverse proxy in front of Chroma that wants ``Authorization: Bearer <token>``
    (what nginx or Caddy do in production), optionally limits request bodies, and remembers the
    headers it received."""

    def __init__(self, upstream: str, token: str, *, max_body: int | None = None, stall_s: float = 0) -> None:
        self.upstream, self.token, self.max_body, self.stall_s, self.seen = upstream, token, max_body, stall_s, []
        self.client = httpx.Client(timeout=30)
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    server: TokenProxy

    def _forward(self) -> None:
        self.server.seen.append(dict(self.headers))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        refused = 401 if self.headers.get("Authorization") != f"Bearer {self.server.token}" else None
        if refused is None and self.server.max_body is not None and len(body) > self.server.max_body:
            refused = 413  # as nginx's client_max_body_size
        if refused is not None:
            self.send_response(refused)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        if self.server.stall_s and "/collections" in self.path:  # connects fine, then hangs on the data
            time.sleep(self.server.stall_s)
        try:
            answer = self.server.client.request(self.command, self.server.upstream + self.path, content=body,
                                                headers=headers)
        except httpx.TransportError:  # the upstream is down: a gateway error, as nginx answers
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture()
def proxy(chroma_url: str) -> Iterator[TokenProxy]:
    server = TokenProxy(chroma_url, "s3cret-token")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.client.close()
    thread.join(5)


def test_the_headers_setting_reaches_the_server_through_a_token_checking_proxy(proxy, embedding_function, monkeypatch):
    monkeypatch.setenv("RAGTUNE_CHROMA_HEADERS", json.dumps({"Authorization": "Bearer s3cret-token"}))
    kb = server_kb(proxy.url, embedding_function)
    kb.create_workspace("team")
    assert kb.ingest_bytes("team", [("guide.md", GUIDE)]).ok
    assert "70 minutes" in kb.search("team", "battery", k=1).hits[0].text
    assert kb.backend_status().healthy
    assert proxy.seen and all(h.get("Authorization") == "Bearer s3cret-token" for h in proxy.seen)

    for headers in ("", json.dumps({"Authorization": "Bearer wrong"})):
        monkeypatch.setenv("RAGTUNE_CHROMA_HEADERS", headers)
        refused = server_kb(proxy.url, embedding_function)
        with pytest.raises(StoreError, match="HTTP 401") as caught:
            refused.list_workspaces()
        assert proxy.url in str(caught.value) and "RAGTUNE_CHROMA_HEADERS" in str(caught.value)
        assert "wrong" not in str(caught.value)
        assert not refused.backend_status().healthy


# -- settings, the serve command, doctor -----------------------------------------------------------


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("RAGTUNE_CHROMA_URL", "chroma.local:8000", "http:// or https:// URL"),
    ("RAGTUNE_CHROMA_URL", "http://h:99999", "not a valid URL"),
    ("RAGTUNE_CHROMA_URL", "http://user:pw@h:8000", "must not hold credentials"),
    ("RAGTUNE_CHROMA_HEADERS", "Bearer abc", "not JSON"),
    ("RAGTUNE_CHROMA_HEADERS", '["Bearer abc"]', "must be a JSON object"),
    ("RAGTUNE_CHROMA_HEADERS", '{"Bad Name": "abc"}', "not an HTTP header name"),
    ("RAGTUNE_CHROMA_HEADERS", '{"X-Token": "abc\\r\\nX-Evil: 1"}', "line break"),
    ("RAGTUNE_CHROMA_TIMEOUT_S", "0", "greater than 0"),
])
def test_invalid_chroma_settings_are_named_and_a_token_is_never_repeated(monkeypatch, capsys, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings()
    assert variable in str(caught.value)
    if variable == "RAGTUNE_CHROMA_HEADERS":
        assert "abc" not in str(caught.value)
    assert main(["workspaces"]) == 2 and variable in capsys.readouterr().err


def test_an_empty_chroma_url_means_the_local_store(monkeypatch, data_dir, embedding_function):
    monkeypatch.setenv("RAGTUNE_CHROMA_URL", " ")
    kb = KnowledgeBase.from_settings(load_settings(), embedding_function)
    assert kb.backend_status().model_dump() == {"kind": "local", "url": None, "healthy": True, "error": ""}
    assert (data_dir / "chroma").is_dir()


@pytest.mark.parametrize(("args", "message"), [
    (["--port", "0"], "from 1 to 65535"),
    (["--port", "http"], "from 1 to 65535"),
    (["--host", "a b"], "not a host name"),
    (["--path", "{file}"], "is a file"),
    (["--path", "{data}/chroma"], "local knowledge store"),
])
def test_serve_chroma_refuses_bad_options_with_exit_2(data_dir, capsys, args, message):
    (data_dir / "a-file").write_text("x")
    try:
        code = main(["serve-chroma", *[a.format(file=data_dir / "a-file", data=data_dir) for a in args], "--print"])
    except SystemExit as exc:  # argparse refuses a bad number itself
        code = int(exc.code or 0)
    assert code == 2 and message in capsys.readouterr().err


def test_serve_chroma_runs_the_pinned_chroma_with_its_data_under_the_data_directory(data_dir, capsys, monkeypatch):
    assert main(["serve-chroma", "--print"]) == 0
    line = capsys.readouterr().out.strip()
    chroma = Path(sys.executable).parent / "chroma"
    assert line == f"{chroma} run --path {data_dir / 'chroma-server'} --host 127.0.0.1 --port 8000"
    monkeypatch.setenv("RAGTUNE_CHROMA_PATH", str(data_dir / "elsewhere"))
    assert main(["serve-chroma", "--port", "8123", "--print"]) == 0
    assert f"--path {data_dir / 'elsewhere'} --host 127.0.0.1 --port 8123" in capsys.readouterr().out
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "CHROMA_PORT ?= 8000" in makefile and "-m ragtune serve-chroma" in makefile


def test_doctor_checks_the_chroma_server_instead_of_local_files(chroma_url, embedding_function, monkeypatch, capsys):
    kb = server_kb(chroma_url, embedding_function)
    kb.create_workspace("team")
    kb.ingest_bytes("team", [("guide.md", GUIDE)])
    monkeypatch.setenv("RAGTUNE_CHROMA_URL", chroma_url)
    main(["doctor"])
    lines = capsys.readouterr().out.splitlines()
    for expected in (f"Chroma server {chroma_url}: answers", "ragtune-knowledge: the knowledge bookkeeping answers",
                     "workspace team: 2 chunks"):
        assert any(line.startswith("OK") and expected in line for line in lines), (expected, lines)
    assert not any("knowledge.sqlite3" in line or "chroma.sqlite3" in line for line in lines)

    monkeypatch.setenv("RAGTUNE_CHROMA_URL", f"http://127.0.0.1:{free_port()}")
    assert main(["doctor"]) == 2
    failed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1 and "cannot be reached" in failed[0] and "make serve-chroma" in failed[0]


def test_the_knowledge_page_on_a_server_that_goes_down_says_so_and_recovers(own_server, embedding_function,
                                                                            monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RAGTUNE_CHROMA_URL", own_server.url)
    monkeypatch.setenv("RAGTUNE_CHROMA_TIMEOUT_S", "5")
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    kb = server_kb(own_server.url, embedding_function)
    kb.create_workspace("team")
    kb.ingest_bytes("team", [("guide.md", GUIDE)])
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "knowledge.py"), default_timeout=60)
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert sorted(at.dataframe[-1].value["document"]) == ["guide"]
    own_server.stop()
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] and own_server.url in at.error[0].value, at.error
    restarted = start_chroma(own_server.path, own_server.port)
    try:
        at.run()
        assert not at.exception and not at.error, at.error
        assert sorted(at.dataframe[-1].value["document"]) == ["guide"]
    finally:
        restarted.stop()


def test_a_proxy_whose_chroma_is_down_is_named_as_such(embedding_function):
    proxy = TokenProxy(f"http://127.0.0.1:{free_port()}", "t")
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        kb = server_kb(proxy.url, embedding_function, chroma_headers='{"Authorization": "Bearer t"}')
        with pytest.raises(StoreError, match=r"cannot reach the Chroma server behind it \(HTTP 502\)"):
            kb.list_workspaces()
    finally:
        proxy.shutdown()
        proxy.client.close()
        thread.join(5)


def test_a_document_the_proxy_refuses_as_too_large_leaves_the_stored_version(chroma_url, embedding_function,
                                                                            monkeypatch):
    proxy = TokenProxy(chroma_url, "t", max_body=64 * 1024)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("RAGTUNE_CHROMA_HEADERS", json.dumps({"Authorization": "Bearer t"}))
        kb = server_kb(proxy.url, embedding_function)
        kb.create_workspace("team")
        assert kb.ingest_bytes("team", [("guide.md", GUIDE)]).ok
        big = GUIDE + b"".join(b"\n\nParagraph %d about the Zephyr mower's many parts." % i for i in range(400))
        report = kb.ingest_bytes("team", [("guide.md", big)])
        assert report.files[0].status == "failed"
        assert "HTTP 413" in report.files[0].error and "client_max_body_size" in report.files[0].error
        assert [(d.doc_id, d.version) for d in kb.list_documents("team")] == [("guide", 1)]
        assert "$450" in texts(kb) and "Paragraph" not in texts(kb)
    finally:
        proxy.shutdown()
        proxy.client.close()
        thread.join(5)


def test_two_app_instances_starting_together_seed_the_demo_once(chroma_url, embedding_function):
    from ragtune.retrieval.demo import ensure_demo_workspace

    instances = [server_kb(chroma_url, embedding_function) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcome: list[object] = []

    def start(kb: KnowledgeBase) -> None:
        barrier.wait()
        try:
            outcome.append(ensure_demo_workspace(kb, "demo"))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            outcome.append(exc)

    threads = [threading.Thread(target=start, args=(kb,)) for kb in instances]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not [o for o in outcome if isinstance(o, Exception)], outcome
    assert len(outcome) == 2
    for kb in instances:
        assert [(w.name, w.n_documents) for w in kb.list_workspaces()] == [("demo", 25)]
        assert ensure_demo_workspace(kb, "demo") is None
