"""``eval --compare RUN_A RUN_B``: two stored runs of one eval set, paired per mode and measure."""

from __future__ import annotations

from datetime import datetime, timezone

from ragtune.cli import main
from ragtune.evaluation.compare import compare_runs
from ragtune.evaluation.sets import EvalCase
from ragtune.evaluation.store import EvalRunInfo, EvalStore, RunSettings
from tests.test_report import ANSWERABLE, answer

WHEN = datetime(2026, 12, 7, tzinfo=timezone.utc)


def stored(data_dir, run_id, *, right, cases=ANSWERABLE, modes=("rag", "rag+lora"), model_id="m"):
    """A run in the data directory's eval store where the first ``right`` questions are answered right."""
    store = EvalStore(data_dir / "evaluations.sqlite3")
    info = EvalRunInfo(id=run_id, created_at=WHEN, status="complete", kind="eval", set_name="demo",
                       model_id=model_id, mode_ids=list(modes), workspaces={"v1": "w"}, settings=RunSettings(),
                       n_items=len(cases))
    store.create_run(info, [EvalCase(id=c.id, question=c.question) for c in cases])
    for mode in modes:
        for i, case in enumerate(cases):
            store.add_result(run_id, answer(mode, case, "v1", right=i < right, valid=True))
    return store


def by(rows, mode, metric):
    return next(r for r in rows if r.mode_id == mode and r.metric == metric)


def test_the_same_answers_are_within_noise_and_many_lost_ones_are_lower(data_dir):
    store = stored(data_dir, "a", right=len(ANSWERABLE))
    stored(data_dir, "same", right=len(ANSWERABLE))
    stored(data_dir, "worse", right=0)
    same = compare_runs(store.load("a"), store.load("same"))
    assert {r.verdict for r in same} == {"within noise"}
    assert by(same, "rag", "same chunks retrieved").b == len(ANSWERABLE)
    worse = compare_runs(store.load("a"), store.load("worse"))
    row = by(worse, "rag+lora", "correct")
    assert (row.a, row.b, row.a_only, row.b_only) == (len(ANSWERABLE), 0, len(ANSWERABLE), 0)
    assert row.verdict == "B lower" and row.p_value < 0.05
    assert by(compare_runs(store.load("worse"), store.load("a")), "rag", "correct").verdict == "B higher"


def test_the_command_prints_the_table_and_refuses_what_does_not_apply(data_dir, capsys):
    stored(data_dir, "a", right=len(ANSWERABLE), model_id="model-a")
    stored(data_dir, "b", right=len(ANSWERABLE) - 1, model_id="model-b", modes=("rag",))
    assert main(["eval", "--compare", "a", "b"]) == 0
    out = capsys.readouterr().out
    assert "model-a" in out and "model-b" in out and "| rag | correct |" in out and "rag+lora" not in out
    assert main(["eval", "--compare", "a", "nope"]) == 2
    assert "No stored evaluation run 'nope'" in capsys.readouterr().err
    assert main(["eval", "--compare", "a", "b", "--modes", "rag"]) == 2
    assert "--modes does not apply" in capsys.readouterr().err


def test_runs_of_different_questions_or_modes_are_refused(data_dir, capsys):
    stored(data_dir, "a", right=3)
    other = [EvalCase(id=c.id, question=c.question + " (changed)", answer="x", doc_ids=c.doc_ids) for c in ANSWERABLE]
    stored(data_dir, "other", right=3, cases=other)
    stored(data_dir, "base-only", right=3, modes=("base",))
    assert main(["eval", "--compare", "a", "other"]) == 2
    assert "different questions under the same ids" in capsys.readouterr().err
    assert main(["eval", "--compare", "a", "base-only"]) == 2
    assert "share no mode" in capsys.readouterr().err
