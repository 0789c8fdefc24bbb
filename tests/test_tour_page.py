"""The Tour under AppTest, end to end on the tiny model: every step opens, runs live, and the freshness step puts
the demo state back."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.tour import SCRATCH_PREFIX, TOUR, step_modes

PAGE = str(PROJECT_ROOT / "app_pages" / "tour.py")
APP = str(PROJECT_ROOT / "app.py")


@pytest.fixture()
def env(team_workspace):
    return team_workspace(max_tokens=16)


def page(step: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    if step is not None:
        at.query_params["step"] = step
    return at.run()


def ok(at: AppTest, *, unavailable: str | None = None) -> None:
    """No exception, and no error but (``unavailable``) a mode whose adapter the tiny model lacks, saying so."""
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert all(unavailable and unavailable in e for e in errors), errors


def scratch_workspaces() -> list[str]:
    kb = KnowledgeBase.from_settings(load_settings())
    try:
        return [w.name for w in kb.list_workspaces(include_internal=True) if w.name.startswith(SCRATCH_PREFIX)]
    finally:
        kb.manifest.close()


def test_next_walks_every_step_and_the_last_one_leads_on_to_decide(env):
    at = page()
    ok(at)
    for number, step in enumerate(TOUR, start=1):
        assert at.header[0].value == step.title
        assert any(step.claim in m.value for m in at.markdown)
        assert f"/tour?step={number}" in " ".join(c.value for c in at.caption)
        if number < len(TOUR):
            at.button(key="tour_nav_next").click().run()
            ok(at)
            assert at.query_params["step"] in (str(number + 1), [str(number + 1)])
    # run on its own, the page links to /decide as a plain link (through app.py, a page link)
    assert any("[On to Decide](/decide)" in m.value for m in at.markdown)
    at.button(key="tour_nav_back").click().run()
    assert at.header[0].value == TOUR[-2].title


def test_a_step_link_opens_that_step_and_a_bad_one_starts_at_the_first_with_a_warning(env):
    at = page("3")
    ok(at)
    assert at.header[0].value == TOUR[2].title
    for hostile in ("99<script>", "²", "9" * 5000):
        at = page(hostile)
        assert not at.exception
        assert at.header[0].value == TOUR[0].title
        assert "There is no tour step" in at.warning[0].value


@pytest.mark.parametrize("number", [1, 2, 3, 6])
def test_a_step_runs_live_and_checks_its_predictions_on_the_answers(env, number):
    s = TOUR[number - 1]
    at = page(str(number))
    at.button(key="tour_run").click().run()
    ok(at, unavailable="grounded-json")  # the tiny test model has no behaviour adapter: its columns say so
    adapted = [m for m in step_modes(s) if m.adapter == "grounded-json"]
    assert [m.label for m in at.metric].count("Total") == len(s.modes) - len(adapted)
    assert len(at.error) == len(adapted)
    text = " ".join(m.value for m in at.markdown)
    assert "predictions held" in text
    assert len(at.get("plotly_chart")) == 2  # this run's latency and cost


def test_a_users_broken_modes_file_does_not_take_the_tour_down(env):
    from ragtune.errors import ModeError
    from ragtune.modes import ModeStore

    # a routing mode whose route leads to a mode that does not exist: ModeStore.all() refuses the file
    load_settings().modes_file.write_text(json.dumps([{"id": "mine", "label": "Mine", "router": {
        "labels": {"product": "docs"}, "routes": [{"name": "docs", "mode_id": "nowhere"}], "default": "docs"}}]))
    with pytest.raises(ModeError, match="nowhere"):
        ModeStore(load_settings().modes_file).all()
    at = page("1")
    ok(at)
    at.button(key="tour_run").click().run()
    ok(at)
    assert [m.label for m in at.metric].count("Total") == len(TOUR[0].modes)


def test_without_measured_rates_the_step_says_how_to_measure_them(env):
    at = page("1")
    assert any("Not measured for this model yet" in c.value for c in at.caption)


def test_the_freshness_step_changes_a_fact_in_a_scratch_copy_and_removes_it_when_left(env):
    at = page("4")
    ok(at)
    assert at.button(key="tour_fresh_2").disabled  # nothing to change before a copy exists
    at.button(key="tour_fresh_1").click().run()
    ok(at, unavailable="knowledge-baked")  # the tiny test model has no knowledge adapter
    assert len(scratch_workspaces()) == 1
    at.button(key="tour_fresh_2").click().run()
    ok(at, unavailable="knowledge-baked")
    text = " ".join(m.value for m in at.markdown)
    assert "Against version 1 of the documents" in text and "After the change: version 2" in text
    # the demo workspace is untouched, and leaving the step removes the copy
    at.button(key="tour_nav_next").click().run()
    ok(at)
    assert scratch_workspaces() == []


def test_leaving_the_tour_by_the_sidebar_removes_the_scratch_copy(env):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["step"] = "4"
    at.run()
    at.switch_page("app_pages/tour.py").run()
    ok(at)
    at.button(key="tour_fresh_1").click().run()
    ok(at, unavailable="knowledge-baked")
    assert len(scratch_workspaces()) == 1
    at.switch_page("app_pages/playground.py").run()  # another page, not another step
    assert not at.exception
    assert scratch_workspaces() == []


def test_the_economics_step_prices_the_seeds_reference_point_and_links_to_decide(env):
    at = page(str(len(TOUR)))
    ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "The seed's reference point" in text and "pays back in month" in text
    assert len(at.get("plotly_chart")) == 1


def test_the_routing_step_routes_one_example_per_route_and_says_why_a_mode_cannot_run(env):
    at = page("5")
    ok(at)
    routes = [m.value for m in at.markdown if m.value.startswith("**") and m.value.endswith("**")]
    assert {"**documents**", "**billing-handoff**", "**account-handoff**", "**small-talk**"} <= set(routes)
    at.button(key="tour_routing_run").click().run()
    assert not at.exception
    # the tiny test model has no router adapter: each column says so instead of answering wrongly
    assert len(at.error) == 4 and all("ticket-router" in e.value for e in at.error)


def test_routed_live_each_example_says_its_route_and_the_latency_chart_gives_the_router_its_own_bar(env,
                                                                                                   random_lora):
    import shutil

    from ragtune.config import load_settings

    adapters = load_settings().adapters_dir
    adapters.mkdir(parents=True, exist_ok=True)
    for name in ("ticket-router", "grounded-json"):  # random weights of the right shape: routes, not wisely
        shutil.copy(random_lora, adapters / f"{name}.gguf")
    at = page("5")
    at.button(key="tour_routing_run").click().run()
    ok(at)
    routed = [c.value for c in at.caption if c.value.startswith("Routed: ")]
    assert len(routed) == 4 and all(" · router " in r for r in routed)
    latency, cost = at.get("plotly_chart")
    spec = latency.proto.spec.replace(" ", "")
    assert '"name":"Routing"' in spec and "thedocumentsexample" in spec



def test_the_routing_step_shows_the_measured_routing_accuracy_with_n(env, data_dir):
    from ragtune.evaluation.routing import RoutingResult
    from ragtune.showcases import ShowcaseStore
    from tests.test_showcases import WHEN, four_modes
    from tests.test_report import ANSWERABLE
    from ragtune.showcases import rank_showcases

    routing = [RoutingResult(case_id=f"r{i}", query="q", expected="documents", router=router, raw_output="x",
                             label=None, route="documents" if i < right else "small-talk")
               for router, right in (("adapter", 9), ("base", 4)) for i in range(10)]
    shows = rank_showcases(four_modes(ANSWERABLE[0], rag=True), model_id="local:tiny", run_id="r1",
                           run_created_at=WHEN, routing=routing)
    ShowcaseStore(data_dir).save(shows)
    at = page("5")
    ok(at)
    text = " ".join(m.value for m in at.markdown)
    assert "Right route from the router adapter: 90% (9/10)" in text
    assert "Right route from the base model, same prompt: 40% (4/10)" in text
