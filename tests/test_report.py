"""The claims report's verdict logic, on fixed numbers."""

from __future__ import annotations

import pytest

from tests.retrieval_fixtures import embedding_function  # noqa: F401 - a fixture
from ragtune.evaluation.scoring import score_output
from ragtune.evaluation.sets import EvalCase, EvalItem
from ragtune.modes import BUILTIN_MODES
from ragtune.prompts import ABSTENTION
from ragtune.evaluation.report import build_claims, claims_markdown, claims_text
from ragtune.evaluation.stats import (
    FAILS,
    HOLDS,
    UNSURE,
    combine,
    exact_two_sided_p,
    paired_proportions,
    sign_test,
    verdict_better,
    verdict_greater,
    verdict_no_gain,
)

MODES = {m.id: m for m in BUILTIN_MODES}


def outcomes(a_only: int, b_only: int, both: int, neither: int) -> tuple[list[bool], list[bool]]:
    """Paired yes/no outcomes with the given cell counts."""
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return a, b


# -- statistics ------------------------------------------------------------------------------


def test_the_exact_p_value_is_the_two_sided_binomial_tail():
    assert exact_two_sided_p(0, 6) == pytest.approx(0.03125)
    assert exact_two_sided_p(0, 5) == pytest.approx(0.0625)
    assert exact_two_sided_p(3, 6) == 1.0
    assert exact_two_sided_p(0, 0) == 1.0


def test_paired_proportions_count_the_discordant_questions():
    p = paired_proportions(*outcomes(a_only=10, b_only=2, both=5, neither=33))
    assert (p.n, p.a_only, p.b_only) == (50, 10, 2)
    assert p.a_rate == pytest.approx(0.30) and p.b_rate == pytest.approx(0.14)
    assert p.diff == pytest.approx(0.16)
    assert p.p_value == pytest.approx(0.0386, abs=1e-4)
    assert p.ci_low < p.diff < p.ci_high


def test_a_clear_gain_on_fifty_questions_holds():
    assert verdict_better(paired_proportions(*outcomes(25, 1, 3, 21))) == HOLDS


def test_a_significant_loss_does_not_hold():
    assert verdict_better(paired_proportions(*outcomes(1, 20, 5, 24))) == FAILS


def test_identical_results_on_fifty_questions_do_not_hold_the_gain_is_ruled_out():
    # Both modes right on the same 5 and wrong on the same 45: no gain, and the interval
    # (about ±4 pp) rules out a 10-point one.
    p = paired_proportions(*outcomes(0, 0, 5, 45))
    assert p.ci_high < 0.10
    assert verdict_better(p) == FAILS


def test_the_same_difference_on_ten_questions_is_inconclusive():
    # 3 of 10 better and none worse: p = 0.25, within the noise of ten questions.
    assert verdict_better(paired_proportions(*outcomes(3, 0, 2, 5))) == UNSURE
    # Identical on ten questions: the interval is too wide to rule out a 10-point gain.
    assert verdict_better(paired_proportions(*outcomes(0, 0, 2, 8))) == UNSURE


def test_five_of_five_discordant_questions_are_still_not_enough():
    assert verdict_better(paired_proportions(*outcomes(5, 0, 0, 5))) == UNSURE
    assert verdict_better(paired_proportions(*outcomes(6, 0, 0, 4))) == HOLDS


def test_no_gain_holds_when_a_gain_is_ruled_out_and_fails_when_there_is_one():
    assert verdict_no_gain(paired_proportions(*outcomes(1, 1, 2, 46))) == HOLDS
    assert verdict_no_gain(paired_proportions(*outcomes(12, 1, 2, 35))) == FAILS
    assert verdict_no_gain(paired_proportions(*outcomes(3, 1, 0, 6))) == UNSURE


def test_no_questions_is_always_inconclusive():
    empty = paired_proportions([], [])
    assert verdict_better(empty) == verdict_no_gain(empty) == UNSURE
    assert verdict_greater(sign_test([], [])) == UNSURE


def test_the_sign_test_compares_numbers_question_by_question():
    v = sign_test([900.0] * 20, [300.0] * 20)
    assert (v.a_higher, v.b_higher, v.ratio) == (20, 0, 3.0) and verdict_greater(v) == HOLDS
    assert verdict_greater(sign_test([1.0] * 20, [2.0] * 20)) == FAILS
    assert verdict_greater(sign_test([1.0, 2.0, 3.0], [2.0, 1.0, 3.0])) == UNSURE


def test_checks_combine_into_one_verdict():
    assert combine([HOLDS, HOLDS, None]) == HOLDS
    assert combine([HOLDS, UNSURE]) == UNSURE
    assert combine([HOLDS, FAILS, UNSURE]) == FAILS
    assert combine([None]) == UNSURE


# -- the claims from fixed results -------------------------------------------------------------

ANSWERABLE = [EvalCase(id=f"a{i:02d}", question=f"q{i}", answer=f"fact{i}", doc_ids=[f"doc{i}"])
              for i in range(30)]
UNANSWERABLE = [EvalCase(id=f"u{i:02d}", question=f"u{i}") for i in range(10)]
CHANGED = [EvalCase(id=f"c{i:02d}", question=f"c{i}", answer=f"old{i}", answer_v2=f"new{i}", doc_ids=[f"cdoc{i}"])
           for i in range(10)]


def answer(mode_id: str, case: EvalCase, version: str, *, right: bool, valid: bool, stale: bool = False,
           prompt_tokens: int = 300, ms: float = 1000.0):
    """A scored result with the given outcome, as the model would have produced it."""
    if case.should_abstain:
        text = ABSTENTION if right else "It is 42."
    elif stale:
        text = case.gold("v1")[0]
    else:
        text = case.gold(version)[0] if right else "something else"
    mode = MODES[mode_id]
    plain = mode.prompt == "plain"
    status = "free_text" if plain else "ok" if valid else "invalid_json"
    retrieved = [f"{case.doc_ids[0]}#0", "other#1"] if mode.retrieval and case.doc_ids else []
    cited = [f"{case.doc_ids[0]}#0"] if case.doc_ids and not plain and right else []
    if mode.constrained:  # the grammar lets it cite only what was retrieved
        cited = [c for c in cited if c in retrieved]
    return score_output(EvalItem(case=case, version=version), mode, text=text, parse_status=status,
                        parsed_answer=text if status == "ok" else None, cited=cited, retrieved=retrieved,
                        prompt_tokens=prompt_tokens, total_ms=ms)


def fixed_run(*, rag_right: int, base_right: int) -> list:
    """A run where the seed is right about everything except what the arguments change."""
    rows = []
    for i, case in enumerate(ANSWERABLE + CHANGED):
        rows.append(answer("base", case, "v1", right=i < base_right, valid=False))
        rows.append(answer("rag", case, "v1", right=i < rag_right, valid=False))
        rows.append(answer("lora", case, "v1", right=False, valid=True))
        rows.append(answer("rag+lora", case, "v1", right=True, valid=True, ms=1000.0))
        rows.append(answer("rag+fewshot", case, "v1", right=True, valid=i % 3 == 0, prompt_tokens=1100,
                           ms=2500.0))
        rows.append(answer("knowledge-lora", case, "v1", right=case.kind == "changed", valid=True))
        rows.append(answer("rag+constrained", case, "v1", right=True, valid=True))
        rows.append(answer("constrained", case, "v1", right=False, valid=True))
    for case in UNANSWERABLE:
        rows.append(answer("base", case, "v1", right=False, valid=False))
        rows.append(answer("rag", case, "v1", right=False, valid=False))
        rows.append(answer("lora", case, "v1", right=True, valid=True))
        rows.append(answer("rag+lora", case, "v1", right=True, valid=True))
        rows.append(answer("rag+fewshot", case, "v1", right=False, valid=False, prompt_tokens=1100, ms=2500.0))
        rows.append(answer("knowledge-lora", case, "v1", right=False, valid=True))
        rows.append(answer("rag+constrained", case, "v1", right=False, valid=True))
        rows.append(answer("constrained", case, "v1", right=False, valid=True))
    for case in CHANGED:
        rows.append(answer("rag", case, "v2", right=True, valid=False))
        rows.append(answer("knowledge-lora", case, "v2", right=False, valid=True, stale=True))
    return rows


def verdicts(rows) -> dict[int, str]:
    return {c.number: c.verdict for c in build_claims(rows)}


def test_a_run_that_bears_the_seed_out_gives_holds_where_the_numbers_are_clear():
    got = verdicts(fixed_run(rag_right=40, base_right=0))
    assert got[1] == HOLDS   # RAG 100% vs base 0% on 40 questions
    assert got[3] == HOLDS   # RAG+LoRA correct and valid everywhere
    assert got[4] == HOLDS   # knowledge LoRA stale on all 10 changed facts, never cites
    assert got[5] == HOLDS   # 1100 vs 300 prompt tokens, slower, a third valid
    assert got[6] == HOLDS   # the grammar gives JSON and real citations, but abstains on nothing


def claim_six(rows) -> dict[str, object]:
    claim = next(c for c in build_claims(rows) if c.number == 6)
    return {"verdict": claim.verdict, **{c.name: c for c in claim.checks}}


def test_claim_six_measures_syntax_against_the_same_modes_without_the_grammar_and_behaviour_against_the_adapter():
    got = claim_six(fixed_run(rag_right=40, base_right=0))
    assert got["verdict"] == HOLDS
    syntax = got["well-formed JSON, constrained vs base (the same mode without the grammar)"]
    assert syntax.verdict == HOLDS and syntax.numbers.startswith("constrained 100% vs base 0% well-formed JSON (n=50")
    assert got["well-formed JSON, RAG + constrained vs RAG"].verdict == HOLDS
    cites = got["citations are retrieved chunks, RAG + constrained"]
    assert cites.verdict == HOLDS and cites.numbers == ("rag+constrained: 50/50 answers cite only chunks retrieved "
                                                        "for the question (40 cite at least one)")
    assert got["no citations without retrieval, constrained"].verdict == HOLDS
    assert got["abstains exactly when it should, RAG+LoRA vs RAG + constrained"].verdict == HOLDS
    no_context = got["abstains with no context, LoRA vs constrained"]
    assert no_context.verdict == HOLDS and "lora 20% vs constrained 0%" in no_context.numbers


def test_one_constrained_citation_outside_the_retrieved_chunks_refutes_claim_six():
    rows = fixed_run(rag_right=40, base_right=0)
    i = next(i for i, r in enumerate(rows) if r.mode_id == "rag+constrained" and r.cited)
    rows[i] = rows[i].model_copy(update={"cited": ["invented#9"]})
    got = claim_six(rows)
    assert got["citations are retrieved chunks, RAG + constrained"].verdict == FAILS
    assert "49/50 answers cite only chunks retrieved" in got["citations are retrieved chunks, RAG + constrained"].numbers
    assert got["verdict"] == FAILS


def test_a_citation_from_the_constrained_mode_without_retrieval_refutes_claim_six():
    rows = fixed_run(rag_right=40, base_right=0)
    i = next(i for i, r in enumerate(rows) if r.mode_id == "constrained")
    rows[i] = rows[i].model_copy(update={"cited": ["doc0#0"]})
    assert claim_six(rows)["no citations without retrieval, constrained"].verdict == FAILS


def test_the_citation_guarantee_is_inconclusive_when_nothing_was_cited():
    rows = [r.model_copy(update={"cited": []}) if r.mode_id == "rag+constrained" else r
            for r in fixed_run(rag_right=40, base_right=0)]
    check = claim_six(rows)["citations are retrieved chunks, RAG + constrained"]
    assert check.verdict == UNSURE and "(0 cite at least one)" in check.numbers


def test_the_grammar_has_nothing_to_fix_when_the_mode_without_it_was_always_well_formed():
    rows = [r.model_copy(update={"json_valid": True}) if r.mode_id == "base" else r
            for r in fixed_run(rag_right=40, base_right=0)]
    check = claim_six(rows)["well-formed JSON, constrained vs base (the same mode without the grammar)"]
    assert check.verdict == UNSURE and check.numbers.endswith("base was already always well-formed: nothing for "
                                                              "the grammar to fix")


def test_claim_two_does_not_hold_when_the_knowledge_adapter_learnt_facts():
    claim = next(c for c in build_claims(fixed_run(rag_right=40, base_right=0)) if c.number == 2)
    by_name = {c.name: c.verdict for c in claim.checks}
    assert by_name["format, LoRA vs base"] == HOLDS
    assert by_name["facts, LoRA vs base (no gain expected)"] == HOLDS
    # The knowledge adapter knew the 10 changed (version-1) facts the base model did not: a gain.
    assert by_name["facts, knowledge LoRA vs base (no gain expected)"] == FAILS
    assert claim.verdict == FAILS


def test_rag_no_better_than_base_makes_claim_one_fail():
    assert verdicts(fixed_run(rag_right=3, base_right=3))[1] == FAILS


def test_a_small_rag_gain_is_inconclusive():
    assert verdicts(fixed_run(rag_right=5, base_right=1))[1] == UNSURE


def test_missing_modes_make_their_claims_inconclusive_not_measured():
    rows = [r for r in fixed_run(rag_right=40, base_right=0) if r.mode_id in ("base", "rag")]
    claims = build_claims(rows)
    assert claims[0].verdict == HOLDS
    assert all(c.verdict == UNSURE for c in claims[1:])
    assert "not measured (mode lora not in this run)" in claims[1].checks[0].numbers


def test_the_report_prints_every_claim_with_numbers_and_verdict():
    claims = build_claims(fixed_run(rag_right=40, base_right=0))
    table = claims_markdown(claims)
    assert table.count("\n") == 7 and "| 1 | RAG supplies facts the model does not know |" in table
    assert "rag 100% vs base 0% correct on answerable questions (n=40; +100 pp" in table
    text = claims_text(claims)
    assert text.splitlines()[0] == "1. RAG supplies facts the model does not know: HOLDS"


def test_the_reports_workspaces_are_rebuilt_when_the_chunk_settings_changed(data_dir, embedding_function) -> None:
    """Built once and reused: but after a chunk-size change the reused chunks would measure the
    old prompt, so they are rebuilt (and only then)."""
    from ragtune.config import load_settings
    from ragtune.evaluation.workspaces import ensure_report_workspaces
    from ragtune.retrieval.knowledge import KnowledgeBase

    old = KnowledgeBase.from_settings(load_settings(chunk_size=800, chunk_overlap=120), embedding_function)
    names = [n for n in ensure_report_workspaces(old).values() if n]
    assert names and all(not old.stale_documents(n) for n in names)
    old.manifest.close()
    kb = KnowledgeBase.from_settings(load_settings(chunk_size=300, chunk_overlap=40), embedding_function)
    assert all(kb.stale_documents(n) for n in names)
    notes: list[str] = []
    ensure_report_workspaces(kb, notes.append)
    assert len(notes) == len(names) and all(not kb.stale_documents(n) for n in names)
    notes.clear()
    ensure_report_workspaces(kb, notes.append)
    assert notes == []  # reused now
    kb.manifest.close()
