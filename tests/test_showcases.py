"""Showcases chosen by measurement: ranking questions per thesis, set-wide rates, storage, the CLI."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ragtune.cli import main
from ragtune.evaluation.sets import EvalCase
from ragtune.evaluation.store import EvalRunInfo, EvalStore, RunSettings
from ragtune.showcases import (
    ShowcaseStore,
    covers_demo_set,
    latest_report,
    rank_showcases,
    refresh_after_report,
    thesis,
)
from tests.test_report import ANSWERABLE, CHANGED, UNANSWERABLE, answer

WHEN = datetime(2026, 12, 6, tzinfo=timezone.utc)


def rank(rows):
    return rank_showcases(rows, model_id="m", run_id="r1", run_created_at=WHEN)


def four_modes(case, *, base=False, rag=False, lora_valid=True, rag_lora=True, ms=1000.0):
    return [answer("base", case, "v1", right=base, valid=False, ms=ms),
            answer("rag", case, "v1", right=rag, valid=False, ms=ms),
            answer("lora", case, "v1", right=False, valid=lora_valid, ms=ms),
            answer("rag+lora", case, "v1", right=rag_lora, valid=True, ms=ms)]


def test_the_question_where_every_prediction_holds_ranks_first():
    muddled, clear = ANSWERABLE[0], ANSWERABLE[1]
    rows = four_modes(muddled, base=True, rag=True) + four_modes(clear, rag=True)
    facts = rank(rows).get("facts")
    assert [r.case_id for r in facts.ranked] == [clear.id, muddled.id]
    assert facts.best.clear and facts.best.held == facts.best.total == 2
    assert not facts.ranked[1].clear and facts.ranked[1].held == 1
    assert facts.clear_count == 1


def test_how_typical_the_best_question_is_is_said_honestly_whether_or_not_it_is_clear():
    muddled, clear = ANSWERABLE[0], ANSWERABLE[1]
    facts = rank(four_modes(muddled, base=True, rag=True) + four_modes(clear, rag=True)).get("facts")
    assert facts.typicality() == ("Every prediction holds on this question, as on 1 of the 2 questions it can be "
                                  "asked on: a clear example, not a typical one.")
    none_clear = rank(four_modes(muddled, base=True, rag=True)).get("facts")
    assert none_clear.clear_count == 0
    assert none_clear.typicality().startswith("No question shows every prediction: this one shows 1 of 2")
    every = rank(four_modes(clear, rag=True)).get("facts")
    assert every.typicality() == "Every prediction holds on this question, as on all 1 questions it can be asked on."


def test_a_prediction_names_its_documents_when_its_thesis_is_judged_on_version_2():
    fresh = thesis("freshness")
    words = [p.words({"rag": "RAG", "knowledge-lora": "Knowledge LoRA"}, fresh.version) for p in fresh.predictions]
    assert words == ["Knowledge LoRA is correct (documents v1)", "Knowledge LoRA gives the old fact (documents v2)",
                     "RAG is correct (documents v2)"]
    assert thesis("facts").predictions[0].words({"rag": "RAG"}) == "RAG is correct"


def test_a_tie_goes_to_the_quicker_question_then_the_id():
    slow, quick, same = ANSWERABLE[2], ANSWERABLE[3], ANSWERABLE[4]
    rows = four_modes(slow, rag=True, ms=3000.0) + four_modes(quick, rag=True, ms=500.0) + \
        four_modes(same, rag=True, ms=500.0)
    assert [r.case_id for r in rank(rows).get("facts").ranked] == [quick.id, same.id, slow.id]


def test_a_prediction_on_a_mode_the_run_did_not_answer_is_unchecked_and_never_clear():
    case = ANSWERABLE[0]
    rows = [answer("rag", case, "v1", right=True, valid=False)]  # no base answer
    best = rank(rows).get("facts").best
    assert (best.held, best.checked, best.total) == (1, 1, 2)
    assert not best.clear
    assert [o.held for o in best.outcomes] == [True, None]


def test_the_rate_counts_every_question_of_the_kinds_it_covers_with_n():
    rows = []
    for i, case in enumerate(ANSWERABLE[:10]):
        rows += four_modes(case, rag=i < 7, base=i < 1)
    for case in UNANSWERABLE[:3]:  # not answerable: outside the facts rate
        rows += four_modes(case, rag=True)
    rate = rank(rows).get("facts").rates[0]
    assert (rate.hits, rate.n) == (7, 10)
    assert rate.versus == {"base": (1, 10)}
    assert rate.text({"rag": "RAG", "base": "Base"}) == (
        "RAG correct on 7/10 (70%) of answerable questions (documents v1); Base 1/10 (10%)")


def test_freshness_checks_the_knowledge_lora_across_both_versions():
    case = CHANGED[0]
    rows = [answer("knowledge-lora", case, "v1", right=True, valid=False),
            answer("knowledge-lora", case, "v2", right=False, valid=False, stale=True),
            answer("rag", case, "v2", right=True, valid=False),
            answer("rag+lora", case, "v2", right=True, valid=True)]
    fresh = rank(rows).get("freshness")
    assert fresh.best.case_id == case.id and fresh.best.clear
    stale_rate, rag_rate = fresh.rates
    assert (stale_rate.hits, stale_rate.n) == (1, 1) and stale_rate.versus == {"rag": (0, 1)}
    assert (rag_rate.hits, rag_rate.n) == (1, 1)


def test_a_knowledge_lora_that_never_knew_the_fact_is_not_a_clear_freshness_example():
    case = CHANGED[1]
    rows = [answer("knowledge-lora", case, "v1", right=False, valid=False),
            answer("knowledge-lora", case, "v2", right=False, valid=False),
            answer("rag", case, "v2", right=True, valid=False)]
    assert not rank(rows).get("freshness").best.clear


def test_a_failed_answer_counts_as_no():
    case = ANSWERABLE[0]
    rag = answer("rag", case, "v1", right=True, valid=False).model_copy(update={"error": "model crashed"})
    rows = [rag, answer("base", case, "v1", right=False, valid=False)]
    assert rank(rows).get("facts").rates[0].hits == 0


def test_unknown_thesis_names_the_known_ones():
    with pytest.raises(Exception, match="facts, format"):
        thesis("nope")


# -- storage -----------------------------------------------------------------------------------


def sample(model_id="smollm2-135m-instruct-q4_1"):
    rows = four_modes(ANSWERABLE[0], rag=True)
    return rank_showcases(rows, model_id=model_id, run_id="r1", run_created_at=WHEN, machine="test box")


def test_the_data_directory_copy_wins_over_the_shipped_one(tmp_path):
    shipped = tmp_path / "shipped"
    store = ShowcaseStore(tmp_path / "data", shipped_dir=shipped)
    assert store.load("m") is None
    ShowcaseStore(tmp_path / "unused", shipped_dir=shipped).save(sample("m"), shipped / "m.json")
    assert store.load("m").run_id == "r1"
    assert store.load("m").origin == "shipped" and "shipped with ragtune" in store.load("m").provenance()
    mine = sample("m").model_copy(update={"run_id": "mine"})
    store.save(mine)
    assert store.load("m").run_id == "mine"
    assert store.load("m").origin == "data" and "measured on this installation" in store.load("m").provenance()
    assert "origin" not in store.path("m").read_text()  # where it was found is never stored


def test_a_damaged_file_falls_back_to_the_shipped_one(tmp_path):
    shipped = tmp_path / "shipped"
    store = ShowcaseStore(tmp_path / "data", shipped_dir=shipped)
    store.save(sample("m"), shipped / "m.json")
    store.path("m").parent.mkdir(parents=True)
    store.path("m").write_text("{not json")
    assert store.load("m").run_id == "r1"


def test_a_file_is_read_once_per_version_and_a_save_or_an_edit_is_seen(tmp_path, monkeypatch):
    from pathlib import Path

    store = ShowcaseStore(tmp_path / "data", shipped_dir=tmp_path / "shipped")
    store.save(sample("m"))
    reads: list[Path] = []
    read_bytes = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or read_bytes(self))
    assert [store.load("m").run_id for _ in range(3)] == ["r1"] * 3
    assert reads == [store.path("m")]  # the Lab's reruns: one read
    store.save(sample("m").model_copy(update={"run_id": "r2"}))  # a new measurement replaces the file
    assert store.load("m").run_id == "r2"
    store.path("m").write_text(store.path("m").read_text().replace('"r2"', '"r2-edited"'))  # edited in place
    assert store.load("m").run_id == "r2-edited"


def test_a_local_model_id_is_a_file_name_and_a_path_is_refused(tmp_path):
    store = ShowcaseStore(tmp_path)
    assert store.path("local:my-model").name == "local_my-model.json"
    with pytest.raises(Exception, match="model id"):
        store.path("../escape")


def test_the_project_ships_showcases_for_the_default_model():
    from ragtune.config import Settings
    from ragtune.models import ModelRegistry

    default = ModelRegistry(Settings()).default_id()
    shows = ShowcaseStore(Settings().data_dir).load(default)
    assert shows is not None and shows.model_id == default
    assert covers_demo_set(shows.n_questions) or shows.n_questions >= 60
    for item in shows.theses:
        assert item.ranked and all(rate.n > 0 for rate in item.rates), item.thesis_id


# -- after a report, and the command -------------------------------------------------------------


def store_run(settings_dir, *, kind="report", status="complete", n_items=70, model_id="m", rows=None):
    store = EvalStore(settings_dir / "evaluations.sqlite3")
    info = EvalRunInfo(id=f"{kind}{n_items}{status}", created_at=WHEN, status=status, kind=kind, set_name="demo",
                       model_id=model_id, mode_ids=["base", "rag", "lora", "rag+lora"], workspaces={"v1": "w"},
                       settings=RunSettings(), n_items=n_items)
    store.create_run(info, [EvalCase(id=c.id, question=c.question) for c in ANSWERABLE[:1]])
    for row in rows if rows is not None else four_modes(ANSWERABLE[0], rag=True):
        store.add_result(info.id, row)
    return store, info.id


def test_only_a_complete_report_over_the_whole_demo_set_refreshes_the_showcases(tmp_path):
    store, full = store_run(tmp_path)
    _, partial = store_run(tmp_path, n_items=6)
    _, cancelled = store_run(tmp_path, status="cancelled")
    assert refresh_after_report(store.load(partial), tmp_path) is None
    assert refresh_after_report(store.load(cancelled), tmp_path) is None
    assert not (tmp_path / "showcases").exists()
    written = refresh_after_report(store.load(full), tmp_path)
    assert written == tmp_path / "showcases" / "m.json"
    assert latest_report(store, "m") == full and latest_report(store, "other") is None


def test_the_command_without_a_stored_report_says_how_to_measure(data_dir, capsys):
    assert main(["showcases", "--model", "smollm2-135m-instruct-q4_1"]) == 2
    err = capsys.readouterr().err
    assert "showcases --measure" in err and "Traceback" not in err


def test_the_command_ranks_a_stored_run_and_writes_the_data_directory_file(data_dir, capsys):
    _, run_id = store_run(data_dir, model_id="smollm2-135m-instruct-q4_1")
    assert main(["showcases", "--model", "smollm2-135m-instruct-q4_1"]) == 0
    out = capsys.readouterr().out
    assert "A fresh fact: RAG wins" in out and ANSWERABLE[0].id in out
    loaded = ShowcaseStore(data_dir).load("smollm2-135m-instruct-q4_1")
    assert loaded is not None and loaded.run_id == run_id


def test_the_command_refuses_an_unknown_run(data_dir, capsys):
    assert main(["showcases", "--run", "nope"]) == 2
    assert "No stored evaluation run 'nope'" in capsys.readouterr().err


def test_the_command_refuses_to_rank_a_partial_run_over_the_data_directory_showcases(data_dir, capsys):
    for kind, status, n_items in (("report", "complete", 6), ("report", "cancelled", 70), ("eval", "complete", 70)):
        _, run_id = store_run(data_dir, kind=kind, status=status, n_items=n_items)
        assert main(["showcases", "--run", run_id]) == 2
        err = capsys.readouterr().err
        assert f"Run {run_id} is a" in err and "Pass --out FILE" in err and "Traceback" not in err
    assert not (data_dir / "showcases").exists()  # nothing the Lab and the Tour show was replaced


def test_the_command_ranks_a_partial_run_into_its_own_file_with_out(data_dir, tmp_path, capsys):
    _, run_id = store_run(data_dir, n_items=6)
    out = tmp_path / "sample.json"
    assert main(["showcases", "--run", run_id, "--out", str(out)]) == 0
    assert "cover its 6 questions only" in capsys.readouterr().err
    assert out.is_file() and not (data_dir / "showcases").exists()


def test_the_command_refuses_measure_with_run_before_anything_runs(data_dir, capsys, monkeypatch):
    import ragtune.commands.evaluation

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("measured although the options were invalid")

    monkeypatch.setattr(ragtune.commands.evaluation, "measure_report", refuse)
    _, run_id = store_run(data_dir)
    assert main(["showcases", "--measure", "--run", run_id]) == 2
    assert "give one of them" in capsys.readouterr().err
    assert not (data_dir / "showcases").exists()


def test_the_command_refuses_a_model_other_than_the_runs(data_dir, capsys):
    _, run_id = store_run(data_dir, model_id="m")
    assert main(["showcases", "--run", run_id, "--model", "smollm2-135m-instruct-q4_1"]) == 2
    assert "answered with m, not smollm2-135m-instruct-q4_1" in capsys.readouterr().err
    assert not (data_dir / "showcases").exists()
    assert main(["showcases", "--run", run_id, "--model", "m"]) == 0  # the run's own model is fine
