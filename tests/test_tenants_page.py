"""The multi-tenant demo under AppTest on the tiny model: the Tour's "Different users, different facts" step and
the Lab's "Two tenants" preset ask one question as both demo users, side by side, each in their own workspace."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from ragtune.config import PROJECT_ROOT, load_settings
from ragtune.retrieval.knowledge import KnowledgeBase
from ragtune.tenants import TENANTS, tenant
from ragtune.tour import TOUR

TOUR_PAGE = str(PROJECT_ROOT / "app_pages" / "tour.py")
LAB_PAGE = str(PROJECT_ROOT / "app_pages" / "lab.py")
STEP = next(s.number for s in TOUR if s.slug == "tenants")


@pytest.fixture()
def env(team_workspace, random_lora):
    """The tiny model, the demo off (so no tenant workspace yet), and a random-weight adapter named like the shared
    mode's (the tiny model has no shipped one): it answers, not wisely."""
    data_dir = team_workspace(max_tokens=12)
    adapters = load_settings().adapters_dir
    adapters.mkdir(parents=True, exist_ok=True)
    shutil.copy(random_lora, adapters / "grounded-json.gguf")
    return data_dir


def ok(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def tour_step() -> AppTest:
    at = AppTest.from_file(TOUR_PAGE, default_timeout=300)
    at.query_params["step"] = "tenants"  # the step's slug: the same link whatever its number
    return at.run()


def set_up(at: AppTest, key: str) -> AppTest:
    """The demo is off in these tests: the step offers the local admin to set the tenants up."""
    assert any("not set up here" in i.value for i in at.info)
    at.button(key=f"{key}_setup").click().run()
    ok(at)
    kb = KnowledgeBase.from_settings(load_settings())
    try:
        assert all(kb.has_workspace(t.workspace) for t in TENANTS)
    finally:
        kb.manifest.close()
    return at


def test_the_tour_step_asks_both_users_and_checks_the_split_live(env):
    at = tour_step()
    ok(at)
    assert at.header[0].value == "Different users, different facts"
    assert f"/tour?step={STEP}" in text(at)
    assert "not measured on this model yet" in text(at)  # the tiny model: the command to measure it is shown
    set_up(at, "tour_tenants")
    at.button(key="tour_tenants_run").click().run()
    ok(at)
    said = text(at)
    for t in TENANTS:  # a column per user, each in their own workspace, each refused the other's
        other = next(o for o in TENANTS if o != t)
        assert f"{t.persona.name} · {t.short}" in [h.value for h in at.subheader]
        assert f"{t.persona.email} may read {t.workspace}" in said
        assert f"{t.persona.email} is refused {other.workspace}" in said
    assert "checks held" in said and "One adapter shaped every answer: grounded-json in RAG + LoRA" in said
    assert [m.label for m in at.metric].count("Total") == len(TENANTS)  # two answer cards


def test_the_finished_run_stays_on_screen_when_the_page_reruns(env):
    at = tour_step()
    set_up(at, "tour_tenants")
    at.button(key="tour_tenants_run").click().run()
    at.run()  # another widget's rerun: the comparison is drawn from the session, not asked again
    ok(at)
    assert [m.label for m in at.metric].count("Total") == len(TENANTS)
    assert "checks held" in text(at)


def test_a_users_own_workspace_with_a_tenants_name_is_not_read_as_the_tenant(env):
    kb = KnowledgeBase.from_settings(load_settings())
    try:
        kb.create_workspace("tenant-north")  # a user's, made before the demo: the persona gets no role on it
        assert kb.ingest_bytes("tenant-north", [("mine.md", b"# Mine\n\nMy private notes: the code is 4711.\n")]).ok
    finally:
        kb.manifest.close()
    at = tour_step()
    set_up(at, "tour_tenants")  # sets up the missing south only
    at.button(key="tour_tenants_run").click().run()
    assert not at.exception
    north = tenant("north")
    assert any(f"{north.persona.email} may not read workspace 'tenant-north'" in e.value for e in at.error)
    assert "4711" not in text(at)


def test_the_lab_preset_opens_from_its_link_and_asks_as_both_users(env):
    at = AppTest.from_file(LAB_PAGE, default_timeout=300)
    at.query_params["preset"] = "tenants"
    at.run()
    ok(at)
    assert "not measured on this model yet" in text(at)  # the set-wide rates stand beside the single example
    set_up(at, "lab_tenants")
    at.selectbox(key="lab_tenants_pick").select("How many days do I have to return a product if I change my mind?")
    at.run()
    assert at.text_area(key="lab_tenants_question").value.startswith("How many days")
    at.button(key="lab_tenants_run").click().run()
    ok(at)
    assert [m.label for m in at.metric].count("Total") == len(TENANTS)
    assert "is refused tenant-south" in text(at)
    at.segmented_control(key="lab_preset").set_value("modes").run()  # back to the usual comparison
    ok(at)
    assert at.button(key="lab_run")  # the Compare button of modes side by side


def test_the_lab_preset_refuses_an_over_long_question_before_anything_runs(env):
    at = AppTest.from_file(LAB_PAGE, default_timeout=300)
    at.query_params["preset"] = "tenants"
    at.run()
    set_up(at, "lab_tenants")
    at.text_area(key="lab_tenants_question").input("x" * 3000)
    at.button(key="lab_tenants_run").click().run()
    assert not at.exception
    assert any("characters long" in e.value for e in at.error)
    assert [m.label for m in at.metric].count("Total") == 0
