"""Routing accuracy: the labelled routing set, its scorer, the stored runs, claim 7 of the report,
and ``eval --routing``'s option checks (the run itself on a model is in tests/test_routing.py)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from ragtune.cli import main
from ragtune.errors import EvalSetError, InputError
from ragtune.evaluation.report import build_claims, claims_markdown, routing_claim
from ragtune.evaluation.routing import (
    RoutingResult,
    RoutingRun,
    RoutingRunStore,
    check_set_fits,
    load_routing_set,
    parse_routing_set,
    routing_scores,
    showcase_cases,
)
from ragtune.evaluation.sets import demo_eval_set
from ragtune.evaluation.stats import FAILS, HOLDS, UNSURE
from ragtune.modes import BUILTIN_MODES
from ragtune.training.recipes.base import TRAINING_DATA_DIR
from ragtune.training.recipes.ticket_router import _TICKET_TEMPLATES

ROUTED = next(m for m in BUILTIN_MODES if m.id == "route")
T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


# -- the shipped routing set ---------------------------------------------------------------------


def test_the_routing_set_holds_every_demo_question_on_the_documents_route():
    routing = {c.query: c.route for c in load_routing_set().cases}
    demo = [case.question for case in demo_eval_set().cases]
    assert all(routing.get(question) == "documents" for question in demo)
    counts = {route: list(routing.values()).count(route) for route in set(routing.values())}
    assert counts["documents"] > len(demo) and min(counts.values()) >= 10  # each route has its n


def test_the_routing_set_fits_the_builtin_routing_mode():
    check_set_fits(load_routing_set(), ROUTED)
    assert set(load_routing_set().routes()) == {r.name for r in ROUTED.router.routes}


def test_no_routing_query_is_one_of_the_routers_training_templates():
    """The set measures the router on wording it never saw: no query is a template filled in (with or
    without the greetings and sign-offs training adds), nor any training message."""
    patterns = [re.compile(re.escape(t).replace(r"\{p\}", ".+").replace(r"\{o\}", ".+").replace(r"\{c\}", ".+")
                           .replace(r"\{m\}", ".+"), re.IGNORECASE)
                for templates in _TICKET_TEMPLATES.values() for t in templates]
    trained = {json.loads(line)["messages"][1]["content"].lower() for line in
               (TRAINING_DATA_DIR / "ticket-router" / "train.jsonl").read_text(encoding="utf-8").splitlines()}
    for case in load_routing_set().cases:
        assert not any(p.search(case.query) for p in patterns), case.query
        assert case.query.lower() not in trained


def test_the_demo_questions_are_held_out_of_the_routers_training_data():
    trained = (TRAINING_DATA_DIR / "ticket-router" / "train.jsonl").read_text(encoding="utf-8").lower()
    assert not [c.question for c in demo_eval_set().cases if c.question.lower() in trained]


def test_a_bad_routing_set_reports_every_bad_line_by_number():
    text = '{"id": "r1", "query": "Hi", "route": "small-talk"}\nnot json\n{"id": "r1", "query": "x", "route": "a"}\n' \
           '{"id": "r3", "query": "", "route": "a"}\n'
    with pytest.raises(EvalSetError) as caught:
        parse_routing_set(text, name="mine.jsonl")
    lines = [p.line for p in caught.value.problems]
    assert lines == [2, 3, 4] and "duplicate id 'r1'" in str(caught.value.problems[1].message)
    with pytest.raises(EvalSetError, match="no queries"):
        parse_routing_set("\n\n")


def test_a_set_expecting_a_route_the_mode_lacks_is_refused_before_running():
    routing_set = parse_routing_set('{"id": "r1", "query": "Hi", "route": "sales-team"}')
    with pytest.raises(InputError, match="expects route\\(s\\) sales-team"):
        check_set_fits(routing_set, ROUTED)
    with pytest.raises(InputError, match="not a routing mode"):
        check_set_fits(routing_set, BUILTIN_MODES[0])


def test_limiting_keeps_the_first_cases_of_each_route():
    limited = load_routing_set().limited(2)
    assert len(limited.cases) == 2 * len(load_routing_set().routes())


# -- scores and claim 7 ----------------------------------------------------------------------------


def results(adapter_right: int, base_right: int, n: int = 40, expected: str = "documents") -> list[RoutingResult]:
    rows = []
    for i in range(n):
        for router, right in (("adapter", i < adapter_right), ("base", i < base_right)):
            rows.append(RoutingResult(case_id=f"q{i}", query=f"question {i}", expected=expected, router=router,
                                      raw_output="x", label="sales" if right else None,
                                      route=expected if right else "billing-handoff"))
    return rows


def test_scores_give_accuracy_overall_and_per_route_with_n():
    rows = results(30, 10, n=40) + results(5, 0, n=10, expected="small-talk")
    rows = [r.model_copy(update={"case_id": f"{r.expected}-{r.case_id}"}) for r in rows]
    score = routing_scores(rows, "adapter")
    assert (score.n, score.correct) == (50, 35) and score.accuracy == pytest.approx(0.7)
    assert [(s.route, s.n, s.correct) for s in score.per_route] == [("documents", 40, 30), ("small-talk", 10, 5)]
    assert "documents 75% (n=40)" in score.text() and score.text().startswith("adapter: 70% (35/50)")


def test_claim_seven_holds_when_the_adapter_routes_clearly_better_than_the_base_model():
    claim = routing_claim(results(38, 10))
    assert claim.number == 7 and claim.verdict == HOLDS
    assert "adapter 95% vs base 25% of queries routed right (n=40" in claim.checks[0].numbers
    assert "documents 95% (n=40)" in claim.checks[1].numbers


def test_claim_seven_does_not_hold_when_the_adapter_routes_no_better():
    assert routing_claim(results(12, 30)).verdict == FAILS
    assert routing_claim(results(21, 20)).verdict in (FAILS, UNSURE)


def test_claim_seven_is_not_measured_without_routing_results_or_baseline():
    assert routing_claim([]).verdict == UNSURE
    assert "eval --routing" in routing_claim([]).checks[0].numbers
    only_adapter = [r for r in results(40, 0) if r.router == "adapter"]
    assert "no base-model baseline" in routing_claim(only_adapter).checks[0].numbers


def test_the_report_adds_claim_seven_only_when_routing_was_measured():
    from tests.test_report import fixed_run

    rows = fixed_run(rag_right=40, base_right=0)
    assert [c.number for c in build_claims(rows)] == [1, 2, 3, 4, 5, 6]
    claims = build_claims(rows, routing=results(38, 10))
    assert [c.number for c in claims] == [1, 2, 3, 4, 5, 6, 7]
    assert "| 7 | A small fine-tuned classifier routes queries |" in claims_markdown(claims)


# -- stored runs -----------------------------------------------------------------------------------


def run(run_id: str, model: str, minutes: int) -> RoutingRun:
    return RoutingRun(id=run_id, created_at=T0 + timedelta(minutes=minutes), model_id=model, mode_id="route",
                      router_adapter="ticket-router", set_name="routing.jsonl", set_sha256="0" * 64,
                      results=results(3, 1, n=4))


def test_routing_runs_are_stored_and_the_latest_of_a_model_is_found(tmp_path):
    store = RoutingRunStore(tmp_path / "routing")
    assert store.latest() is None
    for item in (run("aaa", "smollm2", 0), run("bbb", "smollm2", 5), run("ccc", "qwen", 9)):
        store.save(item)
    (tmp_path / "routing" / "broken.json").write_text("{", encoding="utf-8")  # damaged: skipped
    assert store.latest("smollm2").id == "bbb" and store.latest().id == "ccc"
    assert store.load("aaa").results == run("aaa", "smollm2", 0).results
    with pytest.raises(InputError, match="No stored routing run"):
        store.load("../aaa")
    with pytest.raises(InputError, match="unreadable"):
        store.load("broken")


def test_only_a_full_builtin_run_with_its_baseline_stands_for_claim_seven(tmp_path):
    """A ``--limit``, ``--no-baseline``, a custom set or another routing mode stored after the full run
    must not become claim 7 for ``report --run``, the Benchmark page and the showcases."""
    routing_set = parse_routing_set("\n".join(json.dumps({"id": f"q{i}", "query": f"question {i}",
                                                          "route": "documents"}) for i in range(4)))
    store = RoutingRunStore(tmp_path / "routing")
    full = run("full", "smollm2", 0).model_copy(update={"set_sha256": routing_set.sha256})
    store.save(full)
    store.save(run("other", "qwen", 1).model_copy(update={"set_sha256": routing_set.sha256}))
    later = {
        "limited": dict(results=[r for r in full.results if r.case_id in ("q0", "q1")]),
        "nobase": dict(results=[r for r in full.results if r.router == "adapter"]),
        "custom": dict(set_name="mine.jsonl", set_sha256="1" * 64),
        "mine": dict(mode_id="my-router"),
        "oddrouter": dict(router_adapter="my-router"),
    }
    for minutes, (run_id, update) in enumerate(later.items(), start=2):
        item = full.model_copy(update={"id": run_id, "created_at": T0 + timedelta(minutes=minutes), **update})
        assert item.claim_problem(routing_set) is not None, run_id
        store.save(item)
    assert store.latest("smollm2").id == "oddrouter"  # the newest, whatever it measured
    assert full.claim_problem(routing_set) is None
    assert store.latest_measurement("smollm2", routing_set).id == "full"
    assert store.latest_measurement("llama", routing_set) is None
    assert store.latest_measurement("smollm2") is None  # the shipped set is another file


# -- the CLI checks its options before loading anything ---------------------------------------------


@pytest.fixture()
def nothing_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    import ragtune.runtime

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded although the options were invalid")

    monkeypatch.setattr(ragtune.runtime, "load_runtime", refuse)


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "--routing", "--workspace", "demo"], "--workspace does not apply"),
    (["eval", "--routing", "--version", "v2"], "--version does not apply"),
    (["eval", "--routing", "--modes", "rag"], "not a routing mode"),
    (["eval", "--routing", "--modes", "route,rag"], "one routing mode at a time"),
    (["eval", "--routing", "--modes", "nope"], "Unknown mode"),
    (["eval", "--no-baseline"], "--routing only"),
])
def test_eval_routing_refuses_bad_options_with_exit_2(nothing_loads, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_eval_routing_refuses_a_bad_set_naming_the_line(nothing_loads, capsys, tmp_path):
    bad = tmp_path / "mine.jsonl"
    bad.write_text('{"id": "r1", "query": "Hi", "route": "small-talk"}\n{"id": "r2"}\n', encoding="utf-8")
    assert main(["eval", "--routing", "--set", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "mine.jsonl is invalid" in err and "line 2" in err


def test_showcase_examples_are_ones_the_router_routed_right_when_measured():
    routing_set = parse_routing_set("\n".join(json.dumps(c) for c in (
        {"id": "d1", "query": "Price of the P1?", "route": "documents"},
        {"id": "d2", "query": "Cutting width?", "route": "documents"},
        {"id": "b1", "query": "Charged twice.", "route": "billing-handoff"},
    )))
    measured = run("aaa", "smollm2", 0).model_copy(update={"results": [
        RoutingResult(case_id="d1", query="", expected="documents", router="adapter", raw_output="billing",
                      label="billing", route="billing-handoff"),
        RoutingResult(case_id="d2", query="", expected="documents", router="adapter", raw_output="sales",
                      label="sales", route="documents"),
    ]})
    assert {k: c.id for k, c in showcase_cases(routing_set, measured).items()} == {"documents": "d2",
                                                                                  "billing-handoff": "b1"}
    assert showcase_cases(routing_set)["documents"].id == "d1"  # not measured: the first case
