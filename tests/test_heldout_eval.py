"""``adapters evaluate``: the held-out-domain evaluation, its rows with n, and the targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragtune.cli import main
from ragtune.evaluation.scoring import EvalResult
from ragtune.evaluation.sets import EvalCase
from ragtune.evaluation.store import EvalStore
from ragtune.config import load_settings
from ragtune.training.heldout import (
    HEADER, HeldoutRow, Rate, adapter_speed_cost, check_targets, heldout_metrics, heldout_row,
)

DOCS = {
    "kiln-schedule.md": "# Kiln schedule\n\nThe Orrin kiln fires every Thursday at 06:30 and cools for 14 hours.\n",
    "glaze-fees.md": "# Glaze fees\n\nA studio member pays 4.50 EUR per kilogram of glaze.\n",
}
CASES = [
    EvalCase(id="k1", question="When does the Orrin kiln fire?", answer="Thursday at 06:30", doc_ids=["kiln-schedule"]),
    EvalCase(id="g1", question="What does glaze cost per kilogram?", answer="4.50 EUR", doc_ids=["glaze-fees"]),
    EvalCase(id="u1", question="Who repairs the kiln?"),
]


@pytest.fixture()
def heldout_files(tmp_path: Path) -> tuple[Path, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    eval_set = tmp_path / "questions.jsonl"
    eval_set.write_text("\n".join(c.model_dump_json(exclude_none=True) for c in CASES) + "\n", encoding="utf-8")
    return docs, eval_set


@pytest.fixture()
def small_env(tiny_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGTUNE_DEMO_WORKSPACE", "")
    monkeypatch.setenv("RAGTUNE_MAX_TOKENS", "8")
    monkeypatch.setenv("RAGTUNE_N_THREADS", "1")
    return tiny_env


# -- end to end on the tiny model --------------------------------------------------------------


def test_evaluate_ingests_runs_stores_and_prints_one_row_per_mode_with_n(small_env, heldout_files, capsys) -> None:
    docs, eval_set = heldout_files
    args = ["adapters", "evaluate", "--docs", str(docs), "--set", str(eval_set), "--workspace", "pottery",
            "--modes", "base,rag"]
    assert main(args) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert HEADER in lines
    rows = [line for line in lines if line.startswith("| base |") or line.startswith("| rag |")]
    assert len(rows) == 2 and all("| 3 (1 unanswerable) |" in row for row in rows)
    assert "| rag+lora correct >= rag correct | needs modes rag+lora and rag | not measured |" in lines
    assert "documents: 2 in 'pottery' (2 added or replaced)" in captured.err

    # The run is stored like any eval run, and a second run leaves the unchanged documents alone.
    assert main([*args, "--json"]) == 0
    second = capsys.readouterr()
    assert "documents: 2 in 'pottery' (0 added or replaced)" in second.err
    printed = json.loads(second.out)
    assert [row["mode_id"] for row in printed["rows"]] == ["base", "rag"]
    assert printed["rows"][1]["abstains"]["n"] == 1 and printed["rows"][1]["false_abstain"]["n"] == 2
    assert {t["verdict"] for t in printed["targets"]} <= {"pass", "miss", "not measured"}
    # The speed target reads the card of the grounded-json shipped for the model that ran: none ships
    # for the tiny local model here, so it is not measured (a card elsewhere would be another model's).
    from ragtune.adapters import AdapterCatalog
    from ragtune.errors import AdapterError
    from ragtune.training.card import load_card

    try:
        card = load_card(AdapterCatalog(load_settings()).resolve("grounded-json"))
    except AdapterError:
        card = None
    speed = printed["targets"][-1]
    assert speed["name"] == "generation speed cost of the applied adapter <= 10%"
    if card is not None and card.speed is not None:
        assert speed["measured"] == f"{card.speed.cost_percent:g}% (adapter card)"
        assert speed["verdict"] == ("pass" if card.speed.cost_percent <= 10 else "miss")
    else:
        assert speed["verdict"] == "not measured"
    run = EvalStore.from_settings(load_settings()).load(printed["run"]["id"])
    assert run.info.status == "complete" and len(run.results) == 6

    metrics = heldout_metrics(run.results, mode_id="rag", baseline_mode="base")
    by_name = {m.name: m for m in metrics}
    assert by_name["held-out correct"].n == 3
    assert by_name["held-out abstains when it should (unanswerable)"].n == 1
    assert by_name["held-out false abstention (answerable)"].n == 2
    rag = heldout_row([r for r in run.results if r.mode_id == "rag"])
    assert by_name["held-out correct"].value == round(100 * rag.correct.value, 1)


def test_evaluate_prints_markdown_tables_only_with_markdown(small_env, heldout_files, capsys) -> None:
    docs, eval_set = heldout_files
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(eval_set), "--workspace", "pottery",
                 "--modes", "base", "--limit", "1", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(HEADER)
    assert "per-question results" not in out and "| target | measured | verdict |" in out


# -- validation before the model loads -----------------------------------------------------------


@pytest.fixture()
def no_model(tiny_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the model fails the test: the refusal must come before it."""
    import ragtune.runtime

    def refuse(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr(ragtune.runtime, "load_runtime", refuse)


def test_a_missing_docs_folder_exits_2_naming_it(heldout_files, tmp_path, capsys, no_model) -> None:
    _, eval_set = heldout_files
    assert main(["adapters", "evaluate", "--docs", str(tmp_path / "nope"), "--set", str(eval_set)]) == 2
    assert "error: No documents folder at" in capsys.readouterr().err


def test_an_empty_docs_folder_exits_2(heldout_files, tmp_path, capsys, no_model) -> None:
    _, eval_set = heldout_files
    (tmp_path / "empty").mkdir()
    assert main(["adapters", "evaluate", "--docs", str(tmp_path / "empty"), "--set", str(eval_set)]) == 2
    assert "holds no files" in capsys.readouterr().err


def test_a_missing_set_file_exits_2_naming_it(heldout_files, tmp_path, capsys, no_model) -> None:
    docs, _ = heldout_files
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(tmp_path / "none.jsonl")]) == 2
    assert "error: No eval set at" in capsys.readouterr().err


def test_an_unknown_mode_exits_2(heldout_files, capsys, no_model) -> None:
    docs, eval_set = heldout_files
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(eval_set), "--modes", "rag,telepathy"]) == 2
    assert "Unknown mode(s): telepathy" in capsys.readouterr().err


def _kb():  # type: ignore[no-untyped-def]
    from ragtune.retrieval.knowledge import KnowledgeBase

    return KnowledgeBase.from_settings(load_settings())


def _stored(workspace: str = "heldout") -> dict[str, tuple[str, int, int]] | None:
    """The workspace's documents (id -> source, version, chunks), or None when there is no such workspace."""
    kb = _kb()
    try:
        if not kb.has_workspace(workspace):
            return None
        return {d.doc_id: (d.source, d.version, d.n_chunks) for d in kb.list_documents(workspace)}
    finally:
        kb.manifest.close()


def test_a_set_citing_documents_the_folder_lacks_exits_2_creating_nothing(
    small_env, heldout_files, tmp_path, capsys, no_model
) -> None:
    docs, _ = heldout_files
    other = tmp_path / "other.jsonl"
    other.write_text(EvalCase(id="x", question="?", answer="yes", doc_ids=["missing-doc"]).model_dump_json() + "\n")
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(other), "--modes", "base"]) == 2
    err = capsys.readouterr().err
    assert "cites document(s) missing-doc" in err and "glaze-fees, kiln-schedule" in err
    assert _stored() is None


def test_a_set_citing_a_file_in_a_subfolder_by_its_slug_is_accepted(small_env, heldout_files, tmp_path, capsys) -> None:
    """The ids checked before ingest are the ones ingest gives: a nested file's is its name's slug."""
    docs, _ = heldout_files
    (docs / "Studio Rules").mkdir()
    (docs / "Studio Rules" / "Opening Hours.md").write_text("# Opening hours\n\nThe studio opens at 09:00.\n")
    nested = tmp_path / "nested.jsonl"
    nested.write_text(EvalCase(id="o", question="When does it open?", answer="09:00",
                               doc_ids=["opening-hours"]).model_dump_json() + "\n")
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(nested), "--modes", "base"]) == 0
    assert _stored()["opening-hours"][0] == "Studio Rules/Opening Hours.md"  # type: ignore[index]


def test_a_file_that_cannot_be_read_exits_2_before_anything_is_written(
    small_env, heldout_files, capsys, no_model
) -> None:
    docs, eval_set = heldout_files
    (docs / "kiln-photo.bin").write_bytes(b"\x00\x01binary")
    (docs / "empty.md").write_text("")
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(eval_set), "--modes", "base"]) == 2
    assert _stored() is None
    err = capsys.readouterr().err
    assert "cannot be ingested" in err and "kiln-photo.bin" in err and "empty.md" in err


def test_a_workspace_holding_other_documents_exits_2_naming_them_and_is_left_as_it_is(
    small_env, heldout_files, tmp_path, capsys, no_model
) -> None:
    """Its other documents would be retrieved too and skew the figures."""
    docs, eval_set = heldout_files
    kb = _kb()
    kb.create_workspace("heldout")
    assert kb.ingest_bytes("heldout", [("pool-prices.md", b"# Pool prices\n\nA day pass costs 6 EUR.\n")]).ok
    kb.manifest.close()
    before = _stored()
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(eval_set), "--modes", "base"]) == 2
    err = capsys.readouterr().err
    assert "pool-prices (pool-prices.md)" in err and "another --workspace" in err
    assert _stored() == before


def test_a_workspace_chunked_with_other_settings_exits_2_and_is_left_as_it_is(
    small_env, heldout_files, monkeypatch, capsys
) -> None:
    """Re-ingesting unchanged files keeps their chunks: after a chunk-size change the run would
    measure the old prompt, so it is refused (naming the way out) instead."""
    from ragtune.retrieval.knowledge import KnowledgeBase

    docs, eval_set = heldout_files
    (docs / "kiln-log.md").write_text("# Kiln log\n\n" + " ".join(f"Firing {i} reached 1240 degrees." for i in range(40)))
    monkeypatch.setenv("RAGTUNE_CHUNK_SIZE", "120")
    monkeypatch.setenv("RAGTUNE_CHUNK_OVERLAP", "0")
    kb = KnowledgeBase.from_settings(load_settings())
    kb.create_workspace("heldout")
    assert kb.ingest_paths("heldout", [docs]).ok
    before = {d.doc_id: d.n_chunks for d in kb.list_documents("heldout")}
    kb.manifest.close()
    stored = _stored()
    monkeypatch.setenv("RAGTUNE_CHUNK_SIZE", "300")
    monkeypatch.setenv("RAGTUNE_CHUNK_OVERLAP", "40")
    # A changed file is not re-chunked (with the new settings) before the refusal either.
    (docs / "glaze-fees.md").write_text("# Glaze fees\n\nA studio member pays 5 EUR per kilogram of glaze.\n")
    assert main(["adapters", "evaluate", "--docs", str(docs), "--set", str(eval_set), "--modes", "base"]) == 2
    err = capsys.readouterr().err
    assert "chunked with other settings" in err and "workspaces rechunk heldout" in err
    kb = KnowledgeBase.from_settings(load_settings())
    assert {d.doc_id: d.n_chunks for d in kb.list_documents("heldout")} == before
    kb.manifest.close()
    assert _stored() == stored


# -- rows from scored results ------------------------------------------------------------------


def _result(case_id: str, *, should_abstain: bool = False, correct: bool = False, abstained: bool = False,
            valid: bool | None = True, recall: float | None = None, mode_id: str = "rag+lora") -> EvalResult:
    return EvalResult(
        case_id=case_id, version="v1", mode_id=mode_id, mode_label=mode_id, question="?",
        kind="unanswerable" if should_abstain else "answerable", gold=[] if should_abstain else ["x"],
        supporting_docs=[] if should_abstain else ["d"], text="", answer_text="",
        parse_status="ok" if valid else "free_text" if valid is None else "invalid_json",
        json_valid=valid, format_valid=valid, correct=correct, abstained=abstained, should_abstain=should_abstain,
        stale=None, citation_precision=None, citation_recall=recall,
    )


def test_a_row_counts_each_rate_over_its_own_questions() -> None:
    row = heldout_row([
        _result("a1", correct=True, recall=1.0),
        _result("a2", correct=True, recall=0.0),
        _result("a3", correct=False, valid=False, abstained=True),
        _result("u1", should_abstain=True, correct=True, abstained=True),
        _result("u2", should_abstain=True, correct=False),
    ])
    assert (row.n, row.n_answerable, row.n_unanswerable) == (5, 3, 2)
    assert row.correct == Rate(hits=3, n=5)
    assert row.valid == Rate(hits=4, n=5)
    assert row.usable == Rate(hits=3, n=5)
    assert row.cites_right == Rate(hits=1, n=2)  # of the correct answers to answerable questions
    assert row.abstains == Rate(hits=1, n=2)
    assert row.false_abstain == Rate(hits=1, n=3)
    assert row.cites_right.text() == "50% (1/2)"


def test_free_text_modes_have_no_validity_rate() -> None:
    row = heldout_row([_result("a1", valid=None, correct=True)])
    assert row.valid.n == 0 and row.valid.text() == "–"
    assert row.usable == Rate(hits=1, n=1)


# -- the targets ---------------------------------------------------------------------------------


def _row(mode_id: str, *, correct=(10, 20), valid=(20, 20), usable=(10, 20), cites=(8, 10), abstains=(4, 4),
         false_abstain=(1, 16)) -> HeldoutRow:
    def rate(pair: tuple[int, int]) -> Rate:
        return Rate(hits=pair[0], n=pair[1])

    return HeldoutRow(mode_id=mode_id, n=20, n_answerable=16, n_unanswerable=4, correct=rate(correct),
                      valid=rate(valid), usable=rate(usable), cites_right=rate(cites), abstains=rate(abstains),
                      false_abstain=rate(false_abstain), errors=0)


GOOD = [_row("rag", correct=(8, 20)), _row("rag+lora"), _row("lora", false_abstain=(12, 16))]


def _verdicts(rows: list[HeldoutRow], speed_cost: float | None = 4.0) -> list[str]:
    return [t.verdict for t in check_targets(rows, speed_cost=speed_cost)]


def test_every_target_passes_on_a_run_that_meets_them() -> None:
    assert _verdicts(GOOD) == ["pass"] * 8


@pytest.mark.parametrize(
    ("index", "rows"),
    [
        (0, [_row("rag", correct=(11, 20)), _row("rag+lora"), GOOD[2]]),
        (1, [GOOD[0], _row("rag+lora", usable=(8, 20)), GOOD[2]]),
        (2, [GOOD[0], _row("rag+lora", valid=(18, 20)), GOOD[2]]),
        (3, [GOOD[0], _row("rag+lora", abstains=(2, 4)), GOOD[2]]),
        (4, [GOOD[0], _row("rag+lora", false_abstain=(3, 16)), GOOD[2]]),
        (5, [GOOD[0], _row("rag+lora", cites=(6, 10)), GOOD[2]]),
        (6, [GOOD[0], GOOD[1], _row("lora", false_abstain=(8, 16))]),
    ],
)
def test_each_target_misses_alone_when_its_figure_falls_short(index: int, rows: list[HeldoutRow]) -> None:
    verdicts = _verdicts(rows)
    assert verdicts[index] == "miss"
    assert verdicts[:index] + verdicts[index + 1:] == ["pass"] * 7


def test_the_bars_are_inclusive_where_the_issue_says_at_least() -> None:
    exact = [_row("rag", correct=(10, 20)), _row("rag+lora", usable=(9, 20), valid=(19, 20), abstains=(7, 10),
                                                   false_abstain=(3, 20), cites=(7, 10)), GOOD[2]]
    assert _verdicts(exact, speed_cost=10.0) == ["pass"] * 8


def test_targets_of_modes_not_in_the_run_are_not_measured() -> None:
    targets = check_targets([_row("rag")])
    assert [t.verdict for t in targets] == ["not measured"] * 8


def test_the_speed_target_checks_the_adapter_cards_cost() -> None:
    speed = check_targets(GOOD, speed_cost=14.4)[-1]
    assert speed.name == "generation speed cost of the applied adapter <= 10%"
    assert (speed.measured, speed.verdict) == ("14.4% (adapter card)", "miss")
    assert _verdicts(GOOD, speed_cost=10.1)[-1] == "miss"
    unmeasured = check_targets(GOOD)[-1]
    assert (unmeasured.measured, unmeasured.verdict) == ("–", "not measured")
    assert _verdicts(GOOD, speed_cost=None) == ["pass"] * 7 + ["not measured"]


def test_the_speed_cost_comes_from_the_card_the_catalog_resolves(tmp_path) -> None:
    from ragtune.adapters import AdapterCatalog
    from ragtune.training.card import AdapterCard, SpeedCost, load_card, save_card

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    catalog = AdapterCatalog(load_settings(), shipped_dir=shipped)
    assert adapter_speed_cost(catalog) is None  # no such adapter
    (shipped / "grounded-json.gguf").write_bytes(b"GGUF")
    assert adapter_speed_cost(catalog) is None  # no card
    template = load_card(Path(__file__).parents[1] / "models" / "adapters" / "grounded-json.gguf")
    assert template is not None
    save_card(template.model_copy(update={"speed": None}), shipped / "grounded-json.gguf")
    assert adapter_speed_cost(catalog) is None  # a card without a speed measurement
    speed = SpeedCost(base_tokens_per_s=120.0, adapter_tokens_per_s=111.0, prompts=5)
    save_card(template.model_copy(update={"speed": speed}), shipped / "grounded-json.gguf")
    assert adapter_speed_cost(catalog) == speed.cost_percent == 7.5
    assert check_targets(GOOD, speed_cost=adapter_speed_cost(catalog))[-1].verdict == "pass"
