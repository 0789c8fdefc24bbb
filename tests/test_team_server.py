"""The app on real servers on loopback: the Lab sending its modes to llama-server at once, the page on a
model server and a Chroma server, a server that is down or silent, the recovery when it is back, the
sidebar and the Adapters page drawn from the servers' own status, and ``bench --runtime server``.

The servers are the session fixtures of tests/servers.py: ``llama_server`` (the tiny model, test adapters,
an API key, ``--parallel 4``) and ``chroma_server`` (``chroma run``)."""

from __future__ import annotations

import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.store import QueryLog

if not (Path(__file__).parent / "servers.py").is_file():  # a broken servers.py fails; only its absence skips
    pytest.skip("the llama_server and chroma_server fixtures (tests/servers.py) are not in this tree",
                allow_module_level=True)

APP = str(PROJECT_ROOT / "app.py")
LAB = str(PROJECT_ROOT / "app_pages" / "lab.py")
ADAPTERS = str(PROJECT_ROOT / "app_pages" / "adapters.py")
QUESTION = "How much is the Poolpilot P1?"
BOUND_S = 120  # a bound on waits that would otherwise hang a broken test; never a measured figure


@pytest.fixture()
def on_servers(llama_server, tiny_model: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's settings for the servers: the tiny model on llama_server, one of its adapters in this data
    directory's catalogue ('adapter-a', the same file), a user mode that uses it ('a'); returns the data dir."""
    monkeypatch.setenv("RAGTUNE_MODEL_PATH", str(tiny_model))
    monkeypatch.setenv("RAGTUNE_RUNTIME", "server")
    monkeypatch.setenv("RAGTUNE_SERVER_URL", llama_server.url)
    monkeypatch.setenv("RAGTUNE_SERVER_API_KEY", llama_server.api_key)
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_MAX_TOKENS", "8")
    (data_dir / "adapters").mkdir(exist_ok=True)
    shutil.copyfile(llama_server.adapters["adapter-a"], data_dir / "adapters" / "adapter-a.gguf")
    from ragtune.modes import ModeStore, mode_from_form

    ModeStore(load_settings().modes_file).save(mode_from_form({
        "label": "Adapter A", "id": "a", "retrieval": False, "k": 4, "search": "", "adapter": "adapter-a",
        "adapter_scale": 1.0, "prompt": "plain", "constrained": False, "description": ""}))
    return data_dir


@contextmanager
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers (a server stuck, or too slow)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # the kernel completes the handshakes; nothing ever reads or writes
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def pipeline_on_servers():
    from ragtune.adapters import AdapterCatalog
    from ragtune.pipeline import Pipeline
    from ragtune.runtime import load_runtime

    settings = load_settings()
    return Pipeline(load_runtime(settings), None, AdapterCatalog(settings), settings)


def lab_page(workspace: str | None, modes: list[str]) -> AppTest:
    at = AppTest.from_file(LAB, default_timeout=BOUND_S).run()
    at.text_area(key="lab_question").set_value(QUESTION)
    at.multiselect(key="lab_modes").set_value(modes)
    if workspace:
        at.selectbox(key="lab_workspace").set_value(workspace)
    return at.button(key="lab_run").click().run()


# -- the Lab on the model server ------------------------------------------------------------------


def test_the_modes_go_to_the_server_at_once_and_each_column_streams_its_own_answer(on_servers):
    from ragtune.lab import Finished, Started, Token, compare
    from ragtune.modes import ModeStore

    pipeline = pipeline_on_servers()
    modes = ModeStore(load_settings().modes_file).resolve(["base", "a", "base"])
    assert pipeline.runtime.concurrent
    events = list(compare(pipeline, QUESTION, modes, None, log=None, source="cli"))
    assert [type(e) for e in events[:3]] == [Started] * 3 and all(e.concurrent for e in events[:3])
    finished = {e.index: e for e in events if isinstance(e, Finished)}
    assert sorted(finished) == [0, 1, 2]
    for index, result in finished.items():
        assert "".join(e.text for e in events if isinstance(e, Token) and e.index == index) == result.answer.text
    assert finished[1].answer.adapter == "adapter-a" and finished[0].answer.adapter is None


def test_the_lab_page_on_both_servers_answers_every_mode_and_logs_them(on_servers, chroma_server, monkeypatch):
    from ragtune.retrieval.knowledge import KnowledgeBase

    monkeypatch.setenv("RAGTUNE_CHROMA_URL", chroma_server.url)
    workspace = f"team-{uuid.uuid4().hex[:8]}"  # the server is shared by the session's tests
    kb = KnowledgeBase.from_settings(load_settings())
    kb.create_workspace(workspace)
    assert kb.ingest_bytes(workspace, [("p1.md", b"# Poolpilot P1\n\nThe Poolpilot P1 costs $1,249.\n")]).ok
    at = lab_page(workspace, ["base", "rag", "a"])
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [m.label for m in at.metric].count("Total") == 3
    entries = QueryLog(load_settings().query_log_file).entries()
    assert sorted(e.mode_id for e in entries) == ["a", "base", "rag"]
    assert next(e for e in entries if e.mode_id == "rag").retrieved_ids == ["p1#0"]


def test_a_server_that_is_down_fails_each_column_naming_it_and_the_page_recovers_when_it_is_back(
        on_servers, llama_server):
    at = AppTest.from_file(LAB, default_timeout=BOUND_S).run()
    llama_server.stop()
    try:
        at.text_area(key="lab_question").set_value(QUESTION)
        at.multiselect(key="lab_modes").set_value(["base", "a"])
        at = at.button(key="lab_run").click().run()
        assert not at.exception
        assert len(at.error) == 2 and all(llama_server.url in e.value for e in at.error)
    finally:
        llama_server.restart()
    at = at.button(key="lab_run").click().run()  # the same session, no restart of the app
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [m.label for m in at.metric].count("Total") == 2


def test_a_server_that_never_answers_fails_every_mode_within_the_timeout(on_servers, monkeypatch):
    from ragtune.lab import Failed, compare
    from ragtune.modes import ModeStore

    with silent_server() as url:
        monkeypatch.setenv("RAGTUNE_SERVER_URL", url)
        monkeypatch.setenv("RAGTUNE_SERVER_TIMEOUT_S", "1")
        pipeline = pipeline_on_servers()
        modes = ModeStore(load_settings().modes_file).resolve(["base", "rag"])
        ended: list = []
        runner = threading.Thread(target=lambda: ended.extend(
            e for e in compare(pipeline, QUESTION, modes, None, log=None, source="cli") if isinstance(e, Failed)))
        runner.start()
        runner.join(BOUND_S)
        assert not runner.is_alive(), "the comparison hung on a silent server"
    assert sorted(e.index for e in ended) == [0, 1]
    assert url in next(e for e in ended if e.index == 0).error  # base: the server named
    assert "retrieves" in next(e for e in ended if e.index == 1).error  # rag: no workspace, said before any call


# -- the sidebar and the Adapters page, from the servers' own status ----------------------------------------


def test_the_sidebar_names_both_servers_up_and_the_adapters_the_model_server_serves(on_servers, chroma_server,
                                                                                    llama_server, monkeypatch):
    monkeypatch.setenv("RAGTUNE_CHROMA_URL", chroma_server.url)
    at = AppTest.from_file(APP, default_timeout=BOUND_S).run()
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert f"Model server `{llama_server.url}`" in captions and f"Chroma server `{chroma_server.url}`" in captions
    assert ":red[" not in captions and "slots busy" in captions  # both up
    assert "`adapter-a` served" in " ".join(m.value for m in at.sidebar.markdown)


def test_the_sidebar_says_a_model_server_that_is_down_does_not_answer(on_servers, monkeypatch):
    with silent_server() as url:
        monkeypatch.setenv("RAGTUNE_SERVER_URL", url)
        monkeypatch.setenv("RAGTUNE_SERVER_TIMEOUT_S", "1")
        at = AppTest.from_file(APP, default_timeout=BOUND_S).run()
    assert not at.exception, at.exception
    assert any(f"{url} does not answer" in e.value for e in at.sidebar.error)


def test_the_adapters_page_on_a_server_says_a_new_adapter_needs_a_restart_and_marks_it_unavailable(on_servers):
    from tests.factories import write_lora

    write_lora(on_servers / "adapters" / "fresh.gguf", seed=23)  # trained after the server started
    at = AppTest.from_file(ADAPTERS, default_timeout=BOUND_S).run()
    assert not at.exception, at.exception
    assert any("restarted" in i.value and "make serve-model" in i.value for i in at.info)
    served = " ".join(m.value for m in at.markdown)
    assert "`adapter-a` served" in served and "`fresh` unavailable" in served


# -- the benchmark ----------------------------------------------------------------------------------------


def test_the_server_bench_measures_every_section_against_a_running_server(on_servers, llama_server, tmp_path,
                                                                         capsys):
    from ragtune.cli import main

    out = tmp_path / "bench.json"
    assert main(["bench", "--runtime", "server", "--server-url", llama_server.url, "--quick", "--repeats", "1",
                 "--sessions", "1,2", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert f"Model server {llama_server.url} (4 slots)" in table
    assert "| overhead | server / in process |" in table and "| sessions | server, 2 sessions: errors | 0.00 |" in table
    assert "| lab | server: at once / one after another |" in table and out.is_file()


# -- the Done-when walk: every page and the CLI on both servers ---------------------------------------------


def test_every_page_of_the_app_runs_on_both_servers(on_servers, chroma_server, monkeypatch):
    from ragtune.retrieval.knowledge import KnowledgeBase

    monkeypatch.setenv("RAGTUNE_CHROMA_URL", chroma_server.url)
    workspace = f"walk-{uuid.uuid4().hex[:8]}"
    kb = KnowledgeBase.from_settings(load_settings())
    kb.create_workspace(workspace)
    assert kb.ingest_bytes(workspace, [("p1.md", b"# Poolpilot P1\n\nThe Poolpilot P1 costs $1,249.\n")]).ok
    at = AppTest.from_file(APP, default_timeout=BOUND_S).run()
    assert not at.exception, at.exception
    pages = sorted(p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "app_pages").glob("*.py"))
    assert len(pages) >= 9
    for page in pages:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        # A page may warn (no showcases measured for the tiny model); no page fails on the servers.
        assert not at.error, (page, [e.value for e in at.error])
    captions = " ".join(c.value for c in at.sidebar.caption)
    assert f"Chroma server `{chroma_server.url}`" in captions and ":red[" not in captions


def test_the_cli_asks_compares_searches_and_evaluates_on_both_servers(on_servers, chroma_server, monkeypatch,
                                                                        tmp_path, capsys):
    import json

    from ragtune.cli import main

    monkeypatch.setenv("RAGTUNE_CHROMA_URL", chroma_server.url)
    workspace = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "p1.md").write_text("# Poolpilot P1\n\nThe Poolpilot P1 costs $1,249.\n")
    assert main(["ingest", "--workspace", workspace, str(tmp_path / "docs")]) == 0
    assert main(["search", "--workspace", workspace, "Poolpilot price", "-k", "1"]) == 0
    assert "p1" in capsys.readouterr().out
    assert main(["ask", QUESTION, "--adapter", "adapter-a"]) == 0
    capsys.readouterr()
    assert main(["lab", QUESTION, "--modes", "base,rag,a", "--workspace", workspace, "--json"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert sorted(a["mode"] for a in answers) == ["a", "base", "rag"] and not any("error" in a for a in answers)
    eval_set = tmp_path / "set.jsonl"
    eval_set.write_text(json.dumps({"id": "q1", "kind": "answerable", "question": QUESTION, "answer": "$1,249",
                                    "doc_ids": ["p1"]}) + "\n")
    assert main(["eval", "--set", str(eval_set), "--workspace", workspace, "--modes", "base,rag", "--json"]) == 0
    assert not (on_servers / "chroma").exists()  # the documents went to the Chroma server
