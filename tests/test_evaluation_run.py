"""Evaluation runs on the tiny test model with a real chroma knowledge base: stored, reloaded,
cancelled; and the ``eval`` and ``report`` commands.

The tiny model's weights are random: these tests check the run around the model (every mode
answers every item, results are scored, stored and reloaded), not answer quality.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragtune.adapters import AdapterCatalog
from ragtune.cli import main
from ragtune.config import load_settings
from ragtune.evaluation.runner import deterministic_settings, run_evaluation
from ragtune.evaluation.sets import EvalCase, plan_items
from ragtune.evaluation.store import EvalStore
from ragtune.gguf.files import check_model_file
from ragtune.modes import BUILTIN_MODES
from ragtune.errors import ModeUnavailableError
from ragtune.pipeline import Pipeline
from ragtune.runtime.llamacpp import LlamaCppRuntime
from tests.retrieval_fixtures import embedding_function, kb  # noqa: F401 - fixtures

MODES = {m.id: m for m in BUILTIN_MODES}
DOCS = [
    ("poolpilot.md", b"# Poolpilot P1\n\nThe Poolpilot P1 pool robot costs $1,249 and cleans pools up to 12 m.\n"),
    ("warranty.md", b"# Warranty\n\nEvery Tidewell robot has a two-year warranty on parts and labour.\n"),
]
CASES = [
    EvalCase(id="p1", question="How much does the Poolpilot P1 cost?", answer="$1,249", doc_ids=["poolpilot"]),
    EvalCase(id="w1", question="How long is the warranty?", answer="two years", answer_v2="three years",
             doc_ids=["warranty"]),
    EvalCase(id="u1", question="Who is the CFO?"),
]
SET_TEXT = "\n".join(c.model_dump_json(exclude_none=True) for c in CASES)


@pytest.fixture(scope="module")
def runtime(tiny_model: Path) -> Iterator[LlamaCppRuntime]:
    rt = LlamaCppRuntime(tiny_model, summary=check_model_file(tiny_model), model_id="tiny", n_ctx=2048,
                         n_threads=1)
    yield rt
    rt.close()


@pytest.fixture()
def pipeline(runtime, kb, data_dir, random_lora):  # noqa: F811 - kb is a fixture
    assert kb.ingest_bytes("team", DOCS).ok
    settings = deterministic_settings(load_settings(max_tokens=12, temperature=0.7))
    settings.adapters_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(random_lora, settings.adapters_dir / "grounded-json.gguf")
    catalog = AdapterCatalog(settings, shipped_dir=data_dir / "no-shipped-adapters")
    return Pipeline(runtime, kb, catalog, settings)


@pytest.fixture()
def store(data_dir) -> EvalStore:
    return EvalStore(data_dir / "evaluations.sqlite3")


def modes(*ids: str):
    return [MODES[i] for i in ids]


def test_a_run_answers_every_item_with_every_mode_and_reloads_identically(pipeline, store):
    seen = []
    run = run_evaluation(pipeline, plan_items(CASES), modes("base", "rag", "lora"), workspaces={"v1": "team"},
                         store=store, set_name="mine.jsonl", on_progress=seen.append)
    assert run.info.status == "complete" and run.info.model_id == "tiny"
    assert [(r.mode_id, r.case_id) for r in run.results] == [
        (m, c) for m in ("base", "rag", "lora") for c in ("p1", "w1", "u1")]
    assert [p.done for p in seen] == list(range(1, 10)) and seen[-1].eta_s == 0.0
    assert seen[0].eta_s is not None and seen[0].eta_s > 0
    rag = [r for r in run.results if r.mode_id == "rag"]
    assert all(r.retrieved and r.total_ms > 0 and r.prompt_tokens > 0 and r.local_usd > 0 for r in rag)
    assert all(r.retrieved == [] for r in run.results if r.mode_id == "base")
    assert run.info.settings.temperature == 0.0  # deterministic by default
    reloaded = store.load(run.info.id)
    assert reloaded.results == run.results and reloaded.cases == CASES
    assert store.journal_mode() == "wal"
    assert [s.mode_id for s in reloaded.scoreboard()] == ["base", "rag", "lora"]
    assert store.runs()[0].id == run.info.id and store.runs()[0].n_results == 9


def test_the_exports_hold_one_row_per_answer(pipeline, store):
    run = run_evaluation(pipeline, plan_items(CASES[:2]), modes("rag"), workspaces={"v1": "team"},
                         store=store, set_name="s")
    assert run.to_csv().splitlines()[0].startswith("case_id,version,mode_id")
    assert len(run.to_csv().strip().splitlines()) == 3
    exported = json.loads(run.to_json())
    assert exported["run"]["id"] == run.info.id and len(exported["results"]) == 2
    assert exported["scoreboard"][0]["mode_id"] == "rag"


def test_cancelling_stops_the_run_and_keeps_what_it_has(pipeline, store):
    answered = []
    run = run_evaluation(pipeline, plan_items(CASES), modes("base", "rag"), workspaces={"v1": "team"},
                         store=store, set_name="s", on_result=answered.append,
                         should_cancel=lambda: len(answered) >= 2)
    assert run.info.status == "cancelled" and len(run.results) == 2
    assert store.load(run.info.id).info.status == "cancelled"


def test_an_interrupted_run_is_stored_as_cancelled(pipeline, store):
    def interrupt(progress):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_evaluation(pipeline, plan_items(CASES), modes("base"), workspaces={"v1": "team"}, store=store,
                       set_name="s", on_progress=interrupt)
    (info,) = store.runs()
    assert info.status == "cancelled" and info.n_results == 1


def test_a_mode_that_cannot_run_stops_the_run_before_anything_is_stored(pipeline, store):
    with pytest.raises(ModeUnavailableError, match="knowledge-baked"):
        run_evaluation(pipeline, plan_items(CASES), modes("base", "knowledge-lora"), workspaces={"v1": "team"},
                       store=store, set_name="s")
    assert store.runs() == []


def test_the_version_2_item_is_judged_against_the_version_2_answer(pipeline, store):
    items = plan_items(CASES[1:2], "v2")
    run = run_evaluation(pipeline, items, modes("rag"), workspaces={"v2": "team"}, store=store, set_name="s")
    (result,) = run.results
    assert result.version == "v2" and result.gold == ["three years"] and result.stale is not None


# -- the commands ----------------------------------------------------------------------------


def test_eval_exits_non_zero_on_an_invalid_set_and_names_the_lines(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "?"}\n{oops\n{"id": "a", "question": "?"}\n')
    assert main(["eval", "--set", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 2: not JSON" in err and "line 3: duplicate id 'a'" in err


def test_eval_prints_the_scoreboard_and_writes_the_results(
    tiny_env, kb, data_dir, tmp_path, monkeypatch, capsys  # noqa: F811
):
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_MAX_TOKENS", "8")
    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
    assert kb.ingest_bytes("team", DOCS).ok
    eval_set = tmp_path / "mine.jsonl"
    eval_set.write_text(SET_TEXT)
    out = tmp_path / "results.json"
    code = main(["eval", "--set", str(eval_set), "--workspace", "team", "--modes", "base,rag", "--limit", "2",
                 "--out", str(out), "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [row["mode_id"] for row in printed["scoreboard"]] == ["base", "rag"]
    assert printed["run"]["status"] == "complete" and printed["run"]["n_items"] == 2
    assert len(json.loads(out.read_text())["results"]) == 4

    assert main(["report", "--run", printed["run"]["id"], "--markdown"]) == 0
    report = capsys.readouterr().out
    assert "| 1 | RAG supplies facts the model does not know |" in report
    assert "not measured (mode lora not in this run)" in report


def test_eval_rejects_unknown_modes(tmp_path, capsys):
    eval_set = tmp_path / "mine.jsonl"
    eval_set.write_text(SET_TEXT)
    assert main(["eval", "--set", str(eval_set), "--modes", "rag,telepathy"]) == 2
    assert "Unknown mode(s): telepathy" in capsys.readouterr().err


def test_runs_of_one_model_combine_and_a_later_answer_replaces_an_earlier_one(pipeline, store):
    from ragtune.errors import InputError
    from ragtune.evaluation.store import combine_runs

    first = run_evaluation(pipeline, plan_items(CASES[:2]), modes("base", "rag"), workspaces={"v1": "team"},
                           store=store, set_name="s")
    second = run_evaluation(pipeline, plan_items(CASES[:2]), modes("rag"), workspaces={"v1": "team"},
                            store=store, set_name="s")
    both = combine_runs([first, second])
    assert both.info.mode_ids == ["base", "rag"] and len(both.results) == 4
    assert [r for r in both.results if r.mode_id == "rag"] == second.results
    other = second.model_copy(update={"info": second.info.model_copy(update={"model_id": "other"})})
    with pytest.raises(InputError, match="same model"):
        combine_runs([first, other])


# -- the plans the Benchmark page and the CLI share ----------------------------------------------


def test_the_claims_plan_runs_the_demo_set_on_the_reports_workspaces_without_modes_that_cannot_run(pipeline):
    from ragtune.evaluation.report import REPORT_MODES, plan_claims
    from ragtune.evaluation.workspaces import REPORT_WORKSPACES

    notes: list[str] = []
    plan = plan_claims(pipeline, [MODES[m] for m in REPORT_MODES], per_kind=1, on_note=notes.append)
    assert plan.kind == "report" and plan.workspaces == REPORT_WORKSPACES
    assert [(i.case.id, i.version) for i in plan.items] == [("a01", "v1"), ("c01", "v1"), ("u01", "v1"),
                                                            ("c01", "v2")]
    assert list(plan.skipped) == ["knowledge-lora"] and "knowledge-lora" not in [m.id for m in plan.modes]
    assert plan.describe() == "4 questions × 7 modes" and len(notes) == 2
    assert plan_claims(pipeline, [MODES["base"]], per_kind=1).workspaces == REPORT_WORKSPACES  # built once
    assert len(notes) == 2


def test_the_claims_plan_refuses_when_no_mode_can_run(pipeline):
    from ragtune.errors import InputError
    from ragtune.evaluation.report import plan_claims

    with pytest.raises(InputError, match="None of the report's modes can run here.*knowledge-baked"):
        plan_claims(pipeline, [MODES["knowledge-lora"]], per_kind=1)


def test_an_eval_plan_is_judged_against_the_demo_version_its_workspace_holds(pipeline, kb):  # noqa: F811
    from ragtune.evaluation.runner import plan_eval
    from ragtune.evaluation.sets import EvalSet
    from ragtune.evaluation.workspaces import judged_version
    from ragtune.retrieval.demo import reset_demo_workspace, set_demo_version

    reset_demo_workspace(kb, "demo")
    assert judged_version(kb, "demo") == "v1"
    set_demo_version(kb, "v2", "demo")
    assert judged_version(kb, "demo") == "v2"
    assert judged_version(kb, "team") == "v1" and judged_version(kb, "nosuch") == "v1"
    assert judged_version(None, "demo") == "v1" and judged_version(kb, None) == "v1"
    eval_set = EvalSet(name="s", cases=CASES)
    plan = plan_eval(pipeline, eval_set, [MODES["rag"]], "demo")
    assert plan.workspaces == {"v2": "demo"} and {i.version for i in plan.items} == {"v2"}
    assert plan_eval(pipeline, eval_set, [MODES["rag"]], "demo", version="v1").workspaces == {"v1": "demo"}
