"""The routing mode (the seed's combined pattern): routes as data, validated; the pipeline runs the
classifier as its own stage, then the route; the answer, the Lab and the query log record the route.

Pipeline tests run on the tiny random-weight model with random adapters named like the shipped
ones: its output is noise, so it never is one of the labels and the router's default route is the
one taken. Each test therefore makes the route under test the default (the label -> route mapping
itself is pure and tested on its own).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from ragtune.adapters import AdapterCatalog
from ragtune.config import load_settings
from ragtune.errors import ModeError, ModeUnavailableError
from ragtune.gguf.files import check_model_file
from ragtune.modes import BUILTIN_MODES, Mode, ModeStore, Route, Router, mode_from_form
from ragtune.pipeline import Pipeline
from ragtune.prompts import router_messages
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.runtime.llamacpp import LlamaCppRuntime
from ragtune.training.recipes.ticket_router import TICKET_CATEGORIES
from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture

MODES = {m.id: m for m in BUILTIN_MODES}
ROUTED = MODES["route"]
QUESTION = "How much does the Poolpilot P1 cost?"
HANDOFF = "I've passed this to our billing team."
CHAT = Mode(id="chat", label="Chat", prompt="plain")


def routing_mode(default: str, *, mode_id: str = "routed-test") -> Mode:
    """A routing mode whose every label and default lead to ``default`` (the tiny model's noise
    is never a label, so the default route is always taken)."""
    routes = [Route(name="documents", mode_id="rag+lora"), Route(name="handoff", answer=HANDOFF),
              Route(name="chat", mode=CHAT)]
    return Mode(id=mode_id, label="Routed test", router=Router(labels={"billing": default, "technical": default},
                                                                routes=routes, default=default))


# -- routes are data, validated ---------------------------------------------------------------


def test_the_builtin_routing_mode_labels_with_the_router_adapters_categories_in_training_order():
    router = ROUTED.router
    assert router is not None and router.adapter == "ticket-router"
    assert list(router.labels) == list(TICKET_CATEGORIES)  # the prompt must be the one training saw
    assert router.route_for("product_info").mode_id == "rag+lora"
    assert router.route_for("billing").answer and "billing team" in router.route_for("billing").answer
    assert router.route_for("account_privacy").answer and "account team" in router.route_for("account_privacy").answer
    small_talk = router.route_for("small_talk").mode
    assert small_talk is not None and small_talk.prompt == "plain" and not small_talk.retrieval
    assert router.route_for(None).name == router.route_for("not-a-label").name == "documents"
    assert len({ROUTED, ROUTED.model_copy()}) == 1  # hashable, like every mode


def test_a_route_needs_exactly_one_target():
    with pytest.raises(ValidationError, match="exactly one of mode_id, mode or answer"):
        Route(name="x", mode_id="rag", answer="hi")
    with pytest.raises(ValidationError, match="exactly one of mode_id, mode or answer"):
        Route(name="x")


@pytest.mark.parametrize(("router", "problem"), [
    ({"labels": {}, "routes": [{"name": "a", "answer": "hi"}], "default": "a"}, "at least 1 item"),
    ({"labels": {"billing": "nowhere"}, "routes": [{"name": "a", "answer": "hi"}], "default": "a"},
     "no route named nowhere"),
    ({"labels": {"billing": "a"}, "routes": [{"name": "a", "answer": "hi"}], "default": "b"}, "no route named b"),
    ({"labels": {"Bill ing": "a"}, "routes": [{"name": "a", "answer": "hi"}], "default": "a"}, "lower-case words"),
    ({"labels": {"billing": "a"}, "routes": [{"name": "a", "answer": "x"}, {"name": "a", "answer": "y"}],
      "default": "a"}, "must be unique"),
    ({"labels": {"billing": "a"}, "routes": [{"name": "a", "mode": {"id": "inner", "label": "Inner", "router": {
        "labels": {"x": "b"}, "routes": [{"name": "b", "answer": "hi"}], "default": "b"}}}], "default": "a"},
     "routing would recurse"),
])
def test_an_invalid_router_is_a_mode_error_naming_the_problem(router, problem):
    with pytest.raises(ModeError, match=problem):
        mode_from_form({"id": "mine", "label": "Mine", "router": router})


def test_a_routing_mode_does_not_retrieve_or_apply_an_adapter_itself():
    with pytest.raises(ModeError, match="answers through its routes"):
        mode_from_form({"id": "mine", "label": "Mine", "retrieval": True, "router": ROUTED.router.model_dump()})


def test_a_saved_routing_mode_round_trips_and_routes_to_saved_modes(tmp_path):
    store = ModeStore(tmp_path / "modes.json")
    store.save(Mode(id="terse", label="Terse", prompt="plain", max_tokens=32))
    routes = [Route(name="docs", mode_id="rag"), Route(name="short", mode_id="terse")]
    mine = store.save(Mode(id="my-router", label="Mine", router=Router(labels={"billing": "short"}, routes=routes,
                                                                       default="docs")))
    assert ModeStore(tmp_path / "modes.json").get("my-router") == mine
    assert "billing → short (mode terse)" in mine.summary()


@pytest.mark.parametrize(("target", "problem"), [("nowhere", "unknown mode 'nowhere'"),
                                                 ("route", "routing would recurse")])
def test_saving_a_route_to_an_unknown_or_a_routing_mode_is_refused(tmp_path, target, problem):
    store = ModeStore(tmp_path / "modes.json")
    bad = Mode(id="mine", label="Mine", router=Router(labels={"billing": "a"}, routes=[Route(name="a", mode_id=target)],
                                                     default="a"))
    with pytest.raises(ModeError, match=problem):
        store.save(bad)
    assert not store.path.exists()  # nothing stored


def test_two_saved_routing_modes_routing_to_each_other_are_refused(tmp_path):
    store = ModeStore(tmp_path / "modes.json")
    store.save(Mode(id="terse", label="Terse", prompt="plain"))
    store.save(Mode(id="first", label="First", router=Router(labels={"billing": "a"},
                                                             routes=[Route(name="a", mode_id="terse")], default="a")))
    with pytest.raises(ModeError, match="'first'.*routing would recurse"):
        store.save(Mode(id="terse", label="Terse", router=Router(labels={"billing": "a"},
                                                                 routes=[Route(name="a", mode_id="first")], default="a")))
    assert store.get("terse").router is None  # the saved mode is unchanged


def test_a_hand_edited_modes_file_with_a_bad_route_is_a_clear_error(tmp_path):
    path = tmp_path / "modes.json"
    mode = {"id": "mine", "label": "Mine", "router": {"labels": {"billing": "a"}, "routes": [
        {"name": "a", "mode_id": "gone"}], "default": "a"}}
    path.write_text(json.dumps([mode]), encoding="utf-8")
    with pytest.raises(ModeError, match=r"modes\.json are unreadable.*route 'a' goes to the unknown mode 'gone'"):
        ModeStore(path).user_modes()


def test_a_mode_a_routing_mode_routes_to_cannot_be_deleted(tmp_path):
    store = ModeStore(tmp_path / "modes.json")
    store.save(Mode(id="terse", label="Terse", prompt="plain"))
    store.save(Mode(id="mine", label="Mine", router=Router(labels={"billing": "a"},
                                                           routes=[Route(name="a", mode_id="terse")], default="a")))
    with pytest.raises(ModeError, match="mine route to 'terse'"):
        store.delete("terse")
    assert store.get("terse")


# -- the pipeline runs the router, then the route ----------------------------------------------


@pytest.fixture(scope="module")
def runtime(tiny_model: Path) -> Iterator[LlamaCppRuntime]:
    rt = LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=2048,
                         n_threads=1)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def team_kb(tmp_path_factory, embedding_function):  # noqa: F811 - a fixture
    settings = load_settings(data_dir=tmp_path_factory.mktemp("routing-kb"))
    base = KnowledgeBase.from_settings(settings, embedding_function)
    base.create_workspace("team")
    assert base.ingest_bytes("team", [("poolpilot.md", b"# Poolpilot P1\n\nThe Poolpilot P1 costs $1,249.\n")]).ok
    yield base
    base.manifest.close()


@pytest.fixture(scope="module")
def adapters_dir(tmp_path_factory, random_lora, second_lora) -> Path:
    folder = tmp_path_factory.mktemp("routing-adapters")
    shutil.copy(random_lora, folder / "grounded-json.gguf")
    shutil.copy(second_lora, folder / "ticket-router.gguf")
    return folder


@pytest.fixture()
def pipeline(runtime, team_kb, adapters_dir, data_dir):
    settings = load_settings(max_tokens=16)
    return Pipeline(runtime, team_kb, AdapterCatalog(settings, shipped_dir=adapters_dir), settings)


def test_a_fixed_route_answers_with_its_text_after_one_router_call(pipeline, runtime, adapters_dir):
    stream = pipeline.stream(QUESTION, routing_mode("handoff"), "team")
    assert list(stream) == [HANDOFF]
    answer = stream.answer()
    route = answer.route
    assert answer.text == HANDOFF and answer.mode.id == "routed-test" and answer.retrieved == []
    assert answer.parse.status == "free_text" and answer.expects_json is False and answer.adapter is None
    assert route is not None and route.route == "handoff" and route.answered_by is None
    assert route.label is None and route.fallback and route.raw_output  # noise: the default route
    assert route.router_adapter == "ticket-router"
    # The router saw the prompt it was trained on, the mode's labels in order.
    expected = runtime.count_prompt_tokens(router_messages(QUESTION, ["billing", "technical"]))
    assert route.timings.prompt_tokens == expected and route.timings.completion_tokens > 0
    t = answer.timings
    assert t.routing_ms > 0 and t.completion_tokens == 0 and t.total_ms >= t.routing_ms
    # The routing step's compute and tokens are the whole cost of a hand-off.
    assert answer.cost.compute_seconds == pytest.approx(t.compute_ms / 1000)
    assert answer.cost.api_reference_usd == pytest.approx(route.cost.api_reference_usd)
    assert route.cost.api_reference_usd > 0
    assert answer.cost.amortized_usd > 0  # the router adapter's training


def test_the_router_adapter_is_on_for_the_routing_step_and_off_for_a_base_route(pipeline, runtime, adapters_dir):
    calls = []
    original = runtime.stream_chat

    def spy(messages, *, adapters=(), options=None):
        calls.append(([a.path for a in adapters], options.max_tokens if options else None))
        return original(messages, adapters=adapters, options=options)

    runtime.stream_chat = spy
    try:
        answer = pipeline.run(QUESTION, routing_mode("chat"), "team")
    finally:
        runtime.stream_chat = original
    router_path = (adapters_dir / "ticket-router.gguf").resolve()
    assert calls == [([router_path], 12), ([], 16)]
    assert answer.adapters_applied == [] and answer.route.answered_by == CHAT
    assert answer.parse.status == "free_text" and answer.expects_json is False


def test_a_route_to_rag_and_lora_retrieves_and_adds_the_routing_stage_to_its_answer(pipeline):
    routed = pipeline.run(QUESTION, routing_mode("documents"), "team")
    direct = pipeline.run(QUESTION, MODES["rag+lora"], "team")
    assert routed.route.answered_by == MODES["rag+lora"] and routed.expects_json is True
    assert routed.retrieved_ids == direct.retrieved_ids and routed.adapter == "grounded-json"
    t, r = routed.timings, routed.route.timings
    assert t.routing_ms > 0 and t.total_ms >= t.routing_ms + t.retrieval_ms + t.prompt_eval_ms + t.generation_ms
    assert t.prompt_tokens == direct.timings.prompt_tokens  # the answer's own prompt; the router's is apart
    # Both calls are paid: the router's tokens on top of the answer's, both adapters' training.
    assert routed.cost.api_reference_usd > direct.cost.api_reference_usd
    assert routed.cost.one_time_usd == pytest.approx(2 * direct.cost.one_time_usd)
    assert r.prompt_tokens > 0


def test_a_routing_mode_is_unavailable_without_its_router_adapter(pipeline, tmp_path):
    mode = routing_mode("handoff").model_copy(update={"router": routing_mode("handoff").router.model_copy(
        update={"adapter": "no-such-router"})})
    with pytest.raises(ModeUnavailableError, match="needs the adapter 'no-such-router'"):
        pipeline.run(QUESTION, mode, "team")
    with pytest.raises(ModeUnavailableError, match="needs the adapter 'no-such-router'"):
        pipeline.adapter_for(mode)  # what the evaluation checks before a run


def test_a_route_that_cannot_run_names_the_route(pipeline):
    with pytest.raises(ModeUnavailableError, match="routed the query to 'documents'.*no workspace"):
        pipeline.run(QUESTION, routing_mode("documents"), None)


def test_the_lab_streams_a_routed_answer_and_the_log_keeps_its_route(pipeline, tmp_path):
    from ragtune.lab import Finished, Token, compare
    from ragtune.store import QueryLog

    log = QueryLog(tmp_path / "queries.sqlite3")
    events = list(compare(pipeline, QUESTION, [routing_mode("handoff")], "team", log=log, source="lab"))
    assert [e.text for e in events if isinstance(e, Token)] == [HANDOFF]
    finished = next(e for e in events if isinstance(e, Finished))
    entry = log.get(finished.log_id)
    assert entry.route == finished.answer.route and entry.route_text.endswith("→ handoff (a fixed answer)")
    assert entry.routing_ms == finished.answer.timings.routing_ms > 0
    assert entry.timings.routing_ms == entry.routing_ms
    assert "handoff (a fixed answer)" in log.export_csv()


def test_an_old_query_log_gains_the_route_columns(tmp_path):
    import sqlite3

    from ragtune.store import QueryLog
    from tests.test_store import answer

    path = tmp_path / "old.sqlite3"
    log = QueryLog(path)
    log.add(answer())
    with sqlite3.connect(path) as db:  # a log written before routing existed
        db.execute("ALTER TABLE queries DROP COLUMN route_json")
        db.execute("ALTER TABLE queries DROP COLUMN routing_ms")
    reopened = QueryLog(path)
    old = reopened.entries()[0]
    assert old.route is None and old.routing_ms == 0 and old.route_text == ""
    assert reopened.count() == 1


# -- routing accuracy: the router and the base model on a labelled set ---------------------------


def test_the_routing_eval_asks_the_adapter_and_the_base_model_and_scores_the_route_only(pipeline):
    from ragtune.evaluation.routing import RoutingRunStore, parse_routing_set, run_routing_eval

    routing_set = parse_routing_set("\n".join(json.dumps(c) for c in (
        {"id": "r1", "query": "How much is the Poolpilot?", "route": "documents"},
        {"id": "r2", "query": "I was charged twice.", "route": "handoff"},
        {"id": "r3", "query": "Hello there!", "route": "chat"},
    )))
    seen = []
    run = run_routing_eval(pipeline, routing_mode("handoff"), routing_set, on_progress=seen.append)
    assert [(r.router, r.case_id) for r in run.results] == [
        ("adapter", "r1"), ("adapter", "r2"), ("adapter", "r3"), ("base", "r1"), ("base", "r2"), ("base", "r3")]
    # Noise is no label: every query takes the default route, right only where that is expected.
    assert all(r.label is None and r.route == "handoff" for r in run.results)
    assert [r.correct for r in run.results] == [False, True, False] * 2
    assert all(r.prompt_tokens > 0 and r.ms > 0 for r in run.results)
    assert [p.done for p in seen] == [1, 2, 3, 4, 5, 6] and seen[-1].total == 6
    adapter, base = run.scores()
    assert (adapter.router, adapter.n, adapter.correct) == ("adapter", 3, 1) and base.router == "base"
    assert run.model_id == "tiny" and run.router_adapter == "ticket-router"
    store = RoutingRunStore.from_settings(pipeline.settings)
    store.save(run)
    assert store.latest("tiny") == run
    alone = run_routing_eval(pipeline, routing_mode("handoff"), routing_set, baseline=False)
    assert {r.router for r in alone.results} == {"adapter"}


def test_eval_routing_on_a_model_without_the_router_adapter_exits_2(tiny_env, capsys):
    from ragtune.cli import main

    assert main(["eval", "--routing", "--limit", "1"]) == 2
    assert "needs the adapter 'ticket-router'" in capsys.readouterr().err


def test_the_lab_command_prints_and_records_the_route_of_a_saved_routing_mode(team_workspace, random_lora, capsys):
    from ragtune.cli import main

    data = team_workspace(max_tokens=12)
    settings = load_settings()
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(random_lora, settings.adapters_dir / "my-router.gguf")
    ModeStore(settings.modes_file).save(Mode(id="mine", label="Mine", router=Router(
        adapter="my-router", labels={"billing": "handoff"}, routes=[Route(name="handoff", answer=HANDOFF)],
        default="handoff")))
    assert main(["lab", "I was charged twice", "--workspace", "team", "--modes", "mine", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["answer"] == HANDOFF and record["route"]["route"] == "handoff"
    assert record["route"]["answered_by"] is None and record["route"]["prompt_tokens"] > 0
    assert record["timings"]["routing_ms"] > 0
    assert main(["lab", "I was charged twice", "--workspace", "team", "--modes", "mine", "--no-log"]) == 0
    out = capsys.readouterr().out
    assert "routed: " in out and "→ handoff (a fixed answer)" in out and "+ routing " in out
    assert (data / "queries.sqlite3").exists()


def test_eval_routing_writes_its_results_where_out_says(tiny_env, data_dir, second_lora, tmp_path, capsys,
                                                        monkeypatch):
    import csv

    from ragtune.cli import main
    from ragtune.evaluation.routing import RoutingRun, RoutingRunStore

    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
    settings = load_settings()
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(second_lora, settings.adapters_dir / "ticket-router.gguf")
    routing_set = tmp_path / "mine.jsonl"
    routing_set.write_text('{"id": "r1", "query": "How much is the P1?", "route": "documents"}\n'
                           '{"id": "r2", "query": "Hello!", "route": "small-talk"}\n', encoding="utf-8")
    out = tmp_path / "routes.csv"
    assert main(["eval", "--routing", "--set", str(routing_set), "--out", str(out)]) == 0
    assert f"results: {out}" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["router"], r["case_id"], r["expected"]) for r in rows] == [
        ("adapter", "r1", "documents"), ("adapter", "r2", "small-talk"),
        ("base", "r1", "documents"), ("base", "r2", "small-talk")]
    store = RoutingRunStore.from_settings(settings)
    stored = store.latest()  # stored where claim 7 looks, too; but a custom set measures no claim
    assert stored is not None and store.latest_measurement(stored.model_id) is None
    as_json = tmp_path / "routes.json"
    assert main(["eval", "--routing", "--set", str(routing_set), "--no-baseline", "--out", str(as_json)]) == 0
    written = RoutingRun.model_validate_json(as_json.read_bytes())
    assert [(r.router, r.case_id) for r in written.results] == [("adapter", "r1"), ("adapter", "r2")]
