"""The shipped adapters' recipes: deterministic data, one module per recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragtune.training.recipes import RECIPES
from ragtune.training.recipes.base import TRAINING_DATA_DIR, read_eval_cases, write_recipe_data


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_recipe_regenerates_its_committed_data_byte_for_byte(name: str, tmp_path: Path) -> None:
    train, held_out = write_recipe_data(RECIPES[name], 42, tmp_path)
    assert train.read_bytes() == (TRAINING_DATA_DIR / name / "train.jsonl").read_bytes()
    assert held_out.read_bytes() == (TRAINING_DATA_DIR / name / "eval.jsonl").read_bytes()


def test_the_recipes_are_the_three_shipped_adapters_each_scored_with_its_own_labels() -> None:
    assert sorted(RECIPES) == ["grounded-json", "knowledge-baked", "ticket-router"]
    for recipe in RECIPES.values():
        cases = read_eval_cases(TRAINING_DATA_DIR / recipe.name / "eval.jsonl")
        assert cases and recipe.prompt_builder.startswith("ragtune.prompts.")
        scores = {key: 50.0 for key in recipe.metric_labels}
        metrics = recipe.metrics(scores, scores, len(cases))
        assert [m.name for m in metrics] == [label for label, _ in recipe.metric_labels.values()]
        assert all(m.unit == "%" and m.note == f"n={len(cases)}" for m in metrics)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_scores_a_runtime_on_its_held_out_cases_with_every_metric_labelled(tiny_runtime, name: str) -> None:
    recipe = RECIPES[name]
    cases = read_eval_cases(TRAINING_DATA_DIR / name / "eval.jsonl")[:2]
    scores, speeds = recipe.evaluate(tiny_runtime, cases, None)
    denominators = {key for key in scores if key.startswith("n_")}
    assert set(scores) - denominators == set(recipe.metric_labels)
    assert denominators == set(recipe.denominators.values())
    assert all(0.0 <= value <= 100.0 for key, value in scores.items() if key not in denominators)
    assert all(speed > 0 for speed in speeds)


def test_grounded_json_notes_each_rate_with_its_real_denominator() -> None:
    recipe = RECIPES["grounded-json"]
    cases = read_eval_cases(TRAINING_DATA_DIR / recipe.name / "eval.jsonl")
    answerable = sum(c.kind != "unanswerable" for c in cases)
    counts = {"n_cases": len(cases), "n_answerable": answerable, "n_unanswerable": len(cases) - answerable}
    adapter = {**{key: 50.0 for key in recipe.metric_labels}, **counts, "n_correct_valid": 7}
    base = {**adapter, "n_correct_valid": 2}
    notes = {m.name: m.note for m in recipe.metrics(adapter, base, len(cases))}
    label = {key: recipe.metric_labels[key][0] for key in recipe.metric_labels}
    assert notes[label["valid_pct"]] == f"n={len(cases)}"
    assert notes[label["correct_pct"]] == f"n={answerable}" and answerable < len(cases)
    assert notes[label["abstained_right_pct"]] == f"n={len(cases) - answerable}"
    assert notes[label["cited_right_of_correct_pct"]] == "n=7 (base n=2)"
    assert len(notes) == len(recipe.metric_labels)
