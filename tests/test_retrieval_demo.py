"""The demo knowledge base, and retrieval quality on its eval questions (hit@k floors)."""

from __future__ import annotations

import pytest

from ragtune.config import load_settings
from ragtune.errors import WorkspaceError
from ragtune.evaluation.scoring import contains_variant
from ragtune.evaluation.sets import EvalCase, demo_eval_set
from ragtune.retrieval.bench import hit_rates
from ragtune.retrieval.demo import demo_version, ensure_demo_workspace, set_demo_version
from tests.retrieval_fixtures import demo_kb, embedding_function, kb, on_both_stores  # noqa: F401

# Floors set from measurement (hybrid 0.84 / 1.00 / 1.00; vector 0.74 / 0.94 / 0.98;
# keyword 0.78 / 0.98 / 1.00 on 50 questions), with a margin for chunking tweaks.
FLOORS = {
    "hybrid": {1: 0.75, 3: 0.92, 5: 0.95},
    "vector": {1: 0.65, 3: 0.85, 5: 0.90},
    "keyword": {1: 0.65, 3: 0.90, 5: 0.92},
}


@pytest.fixture(scope="module")
def questions() -> list[EvalCase]:
    return demo_eval_set().cases


def test_hit_at_k_on_the_demo_stays_above_the_measured_floors(demo_kb, questions):
    rates = {r.mode: r for r in hit_rates(demo_kb, "demo", questions)}
    for mode, floors in FLOORS.items():
        for k, floor in floors.items():
            assert rates[mode].hit_at[k] >= floor, (mode, k, rates[mode].hit_at)
    # The default is the best setting.
    assert load_settings().search_mode == "hybrid"
    for k in (1, 3, 5):
        assert rates["hybrid"].hit_at[k] >= max(rates["vector"].hit_at[k], rates["keyword"].hit_at[k])


@on_both_stores
def test_the_demo_is_created_once_and_not_recreated_after_deletion(kb):
    assert ensure_demo_workspace(kb, "demo").ok
    assert [w.n_documents for w in kb.list_workspaces() if w.name == "demo"] == [25]
    assert ensure_demo_workspace(kb, "demo") is None
    kb.delete_workspace("demo")
    assert ensure_demo_workspace(kb, "demo") is None and not kb.has_workspace("demo")


@on_both_stores
def test_switching_the_demo_to_v2_and_back_changes_the_facts_search_finds(kb, questions):
    ensure_demo_workspace(kb, "demo")
    price = next(q for q in questions if q.id == "c01")
    def top_text() -> str:
        return " ".join(h.text for h in kb.search("demo", price.question, k=3).hits)
    assert demo_version(kb, "demo") == "v1" and contains_variant(top_text(), price.gold("v1"))
    report = set_demo_version(kb, "v2", "demo")
    assert {f.status for f in report.files} == {"replaced"} and len(report.files) == 8
    assert demo_version(kb, "demo") == "v2"
    assert contains_variant(top_text(), price.gold("v2")) and not contains_variant(top_text(), price.gold("v1"))
    set_demo_version(kb, "v1", "demo")
    assert contains_variant(top_text(), price.gold("v1"))
    assert {d.version for d in kb.list_documents("demo")} == {1, 3}


def test_a_deleted_demo_workspace_can_be_restored_with_its_documents(kb):
    from ragtune.retrieval.demo import restore_demo_workspace

    ensure_demo_workspace(kb, "demo")
    kb.delete_workspace("demo")
    report = restore_demo_workspace(kb, "demo")
    assert report.ok and [w.n_documents for w in kb.list_workspaces() if w.name == "demo"] == [25]
    assert demo_version(kb, "demo") == "v1"
    assert ensure_demo_workspace(kb, "demo") is None  # still seeded: nothing recreated on the next start
    with pytest.raises(WorkspaceError, match="exists, so there is nothing to restore"):
        restore_demo_workspace(kb, "demo")


def test_the_claims_reports_own_workspaces_are_not_listed_to_users(kb):
    from ragtune.evaluation.workspaces import REPORT_WORKSPACES
    from ragtune.retrieval.demo import reset_demo_workspace

    name = REPORT_WORKSPACES["v1"]
    reset_demo_workspace(kb, name)  # what the claims report does
    assert kb.has_workspace(name)
    assert name not in [w.name for w in kb.list_workspaces()]
    assert name in [w.name for w in kb.list_workspaces(include_internal=True)]
    with pytest.raises(WorkspaceError, match="reserved for the claims report"):
        kb.create_workspace(f"{name}-mine")
