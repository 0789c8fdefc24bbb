"""The Lab's modes sent at once: the fan-in (ragtune.interleave), the comparison (ragtune.lab.compare with
``concurrent``), the live columns, the page and the CLI.

Here they run on the in-process tiny model, where the modes' threads queue on the model's lock: the code
path of a model server, without one (tests/test_team_server.py runs it on a real llama-server)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.adapters import AdapterCatalog
from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.gguf.files import check_model_file
from ragtune.interleave import Item, Quiet, interleave
from ragtune.lab import Failed, Finished, Started, Token, Waiting, compare
from ragtune.modes import BUILTIN_MODES
from ragtune.pipeline import Pipeline
from ragtune.runtime.llamacpp import LlamaCppRuntime
from ragtune.store import QueryLog

MODES = {m.id: m for m in BUILTIN_MODES}
QUESTION = "How much does the Poolpilot P1 cost?"
BOUND_S = 60  # a bound on waits that would otherwise hang a broken test; never a measured figure


# -- the fan-in ----------------------------------------------------------------------------------


def test_every_streams_items_arrive_each_in_its_own_order():
    items = [i for i in interleave([lambda: iter(["a1", "a2", "a3"]), lambda: iter(["b1", "b2"]), lambda: iter([])])
             if isinstance(i, Item)]
    assert [i.value for i in items if i.source == 0] == ["a1", "a2", "a3"]
    assert [i.value for i in items if i.source == 1] == ["b1", "b2"]
    assert len(items) == 5


def test_the_streams_are_read_at_the_same_time():
    # Each stream waits for the other before its first item: read one after another, this would never end.
    meet = threading.Barrier(2, timeout=BOUND_S)

    def stream(name: str) -> Iterator[str]:
        meet.wait()
        yield name

    assert sorted(i.value for i in interleave([lambda: stream("a"), lambda: stream("b")])
                  if isinstance(i, Item)) == ["a", "b"]


def test_a_quiet_spell_is_reported_so_the_reader_gets_control_back():
    go = threading.Event()

    def slow() -> Iterator[str]:
        assert go.wait(BOUND_S), "the reader never heard that nothing arrived"
        yield "late"

    seen = []
    for item in interleave([slow], quiet_after_s=0.01):
        seen.append(item)
        if isinstance(item, Quiet):
            go.set()
    assert isinstance(seen[0], Quiet) and seen[0].elapsed_s >= 0
    assert [i.value for i in seen if isinstance(i, Item)] == ["late"]


def test_closing_the_reader_closes_every_stream():
    closed = [threading.Event(), threading.Event()]

    def endless(index: int) -> Iterator[int]:
        try:
            while True:
                yield index
        finally:
            closed[index].set()

    items = interleave([lambda: endless(0), lambda: endless(1)])
    sources = set()
    for item in items:
        if isinstance(item, Item):
            sources.add(item.source)
        if sources == {0, 1}:
            break
    items.close()
    assert all(event.wait(BOUND_S) for event in closed)


def test_an_error_in_one_stream_reaches_the_reader_and_stops_the_others():
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            while True:
                yield 1
        finally:
            closed.set()

    def broken() -> Iterator[int]:
        raise ValueError("a bug in a stream")
        yield 0  # a generator

    with pytest.raises(ValueError, match="a bug in a stream"):
        for _ in interleave([endless, broken]):
            pass
    assert closed.wait(BOUND_S)


# -- the comparison on the in-process model ----------------------------------------------------------


@pytest.fixture(scope="module")
def runtime(tiny_model: Path) -> Iterator[LlamaCppRuntime]:
    rt = LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=1024, n_threads=1)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory, random_lora, second_lora) -> Path:
    """Two different random adapters named like the shipped ones: each changes the answer its own way."""
    folder = tmp_path_factory.mktemp("adapters")
    shutil.copy(random_lora, folder / "grounded-json.gguf")
    shutil.copy(second_lora, folder / "knowledge-baked.gguf")
    return folder


@pytest.fixture()
def pipeline(runtime, adapters_dir, data_dir) -> Pipeline:
    settings = load_settings(max_tokens=16)
    return Pipeline(runtime, None, AdapterCatalog(settings, shipped_dir=adapters_dir), settings)


def test_modes_sent_at_once_each_get_the_answer_they_get_alone(pipeline, runtime):
    modes = [MODES["base"], MODES["lora"], MODES["knowledge-lora"]]
    alone = []
    for mode in modes:
        runtime.reset_cache()
        alone.append(pipeline.run(QUESTION, mode, None).text)
    assert len(set(alone)) == 3  # the adapters change the answer: cross-talk would show
    runtime.reset_cache()
    events = list(compare(pipeline, QUESTION, modes, None, log=None, source="cli", concurrent=True))
    started = [e for e in events if isinstance(e, Started)]
    assert events[:3] == started and [s.index for s in started] == [0, 1, 2]
    assert all(s.concurrent and s.total == 3 for s in started)
    finished = {e.index: e for e in events if isinstance(e, Finished)}
    assert sorted(finished) == [0, 1, 2]
    for index, mode in enumerate(modes):
        assert finished[index].mode == mode and finished[index].answer.text == alone[index]
        streamed = "".join(e.text for e in events if isinstance(e, Token) and e.index == index)
        assert streamed == finished[index].answer.text  # each column's tokens are its own answer's
        assert finished[index].answer.adapter == mode.adapter


def test_a_mode_that_fails_says_so_while_the_others_answer_and_every_answer_is_logged(pipeline, data_dir):
    log = QueryLog(load_settings().query_log_file)
    modes = [MODES["base"], MODES["rag"], MODES["lora"]]  # rag: no knowledge base here
    events = list(compare(pipeline, QUESTION, modes, None, log=log, source="lab", concurrent=True))
    ends = {e.index: e for e in events if isinstance(e, (Finished, Failed))}
    assert isinstance(ends[1], Failed) and "retrieves" in ends[1].error
    assert isinstance(ends[0], Finished) and isinstance(ends[2], Finished)
    assert len({ends[0].run_id, ends[2].run_id}) == 1 and ends[0].log_id and ends[2].log_id
    assert sorted(e.mode_id for e in log.entries()) == ["base", "lora"]


def test_the_default_follows_the_runtime_in_process_one_mode_after_another(pipeline, runtime, monkeypatch):
    modes = [MODES["base"], MODES["lora"]]
    kinds = [type(e).__name__ for e in compare(pipeline, QUESTION, modes, None, log=None, source="cli")
             if not isinstance(e, Token)]
    assert kinds == ["Started", "Finished", "Started", "Finished"]
    monkeypatch.setattr(runtime, "concurrent", True)  # what a model server's runtime says
    events = list(compare(pipeline, QUESTION, modes, None, log=None, source="cli"))
    assert [type(e).__name__ for e in events[:2]] == ["Started", "Started"] and events[0].concurrent


def test_closing_a_comparison_stops_every_mode_and_frees_the_model(pipeline, runtime, monkeypatch):
    finished = []
    real_finish = Pipeline.finish
    monkeypatch.setattr(Pipeline, "finish", lambda self, *a: finished.append(a) or real_finish(self, *a))
    modes = [MODES["base"], MODES["lora"], MODES["knowledge-lora"]]
    runtime._lock.acquire()  # another session's request: every mode queues behind it
    try:
        events = compare(pipeline, QUESTION, modes, None, log=None, source="cli", concurrent=True)
        assert [type(next(events)).__name__ for _ in modes] == ["Started"] * 3
        assert isinstance(next(events), Waiting)  # the modes are sent, and wait for the model
        events.close()  # the page is left
    finally:
        runtime._lock.release()
    for thread in [t for t in threading.enumerate() if t.name.startswith("lab-mode-")]:
        thread.join(BOUND_S)  # each takes the model in turn, sees the stop at its first token, and lets go
        assert not thread.is_alive()
    assert not finished and not runtime.is_busy()  # no mode answered to the end


# -- the live columns ----------------------------------------------------------------------------------


def _interleaved() -> None:
    from components.lab import render_live_comparison
    from ragtune.lab import Failed, Finished, Started, Token, Waiting
    from ragtune.modes import BUILTIN_MODES
    from tests.test_components_contract import lab_answers

    answer = lab_answers()[0]
    modes = [answer.mode, BUILTIN_MODES[2], BUILTIN_MODES[3]]

    def events():
        for index, mode in enumerate(modes):
            yield Started(mode=mode, index=index, total=3, concurrent=True)
        yield Token(mode=modes[2], text="Third <b>", index=2)
        yield Token(mode=modes[0], text="First", index=0)
        yield Waiting(elapsed_s=2.0)
        yield Failed(mode=modes[1], error="The model server http://127.0.0.1:9 does not answer.", index=1)
        yield Token(mode=modes[2], text=" column", index=2)
        yield Finished(mode=modes[2], answer=answer, index=2)
        yield Finished(mode=modes[0], answer=answer, index=0)

    ended = render_live_comparison(events(), 3, key="live")
    assert [e.index for e in ended] == [0, 1, 2]  # column order, not the order they ended in


def test_interleaved_events_fill_their_own_columns_and_a_failed_column_shows_its_error():
    at = AppTest.from_function(_interleaved, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    [bar] = at.get("progress")
    assert bar.proto.value == 100 and bar.proto.text == "3 of 3 modes done."
    assert [e.value for e in at.error] == ["The model server http://127.0.0.1:9 does not answer."]
    columns = at.columns
    assert "Third &lt;b> column" in " ".join(m.value for m in columns[2].markdown)
    assert "First" in " ".join(m.value for m in columns[0].markdown)


# -- the page and the CLI, sent at once ------------------------------------------------------------


def test_the_lab_page_sends_the_modes_at_once_when_the_runtime_serves_requests_at_once(team_workspace, monkeypatch):
    team_workspace(max_tokens=8)
    monkeypatch.setattr(LlamaCppRuntime, "concurrent", True)  # the page asks the runtime, as with a server
    at = AppTest.from_file(str(PROJECT_ROOT / "app_pages" / "lab.py"), default_timeout=180).run()
    at.text_area(key="lab_question").set_value(QUESTION)
    at.multiselect(key="lab_modes").set_value(["base", "rag", "lora"])
    at.selectbox(key="lab_workspace").set_value("team")
    at = at.button(key="lab_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.label for m in at.metric].count("Total") == 2  # base and rag; lora's adapter is not installed
    assert len(at.error) == 1 and "grounded-json" in at.error[0].value
    entries = QueryLog(load_settings().query_log_file).entries()
    assert sorted(e.mode_id for e in entries) == ["base", "rag"] and len({e.run_id for e in entries}) == 1


def test_the_cli_sends_the_modes_at_once_when_asked_and_exports_them_in_column_order(team_workspace, tmp_path,
                                                                                   capsys):
    import json

    from ragtune.cli import main

    team_workspace(max_tokens=8)
    out = tmp_path / "lab.md"
    assert main(["lab", QUESTION, "--workspace", "team", "--modes", "base,rag,lora", "--concurrent", "--json",
                 "--markdown", str(out)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(r["mode"] for r in records) == ["base", "lora", "rag"]
    assert "grounded-json" in next(r for r in records if r["mode"] == "lora")["error"]
    markdown = out.read_text()
    assert markdown.index("Base") < markdown.index("RAG") < markdown.index("LoRA")
