"""The shipped adapters: present with honest cards, loadable on the default model, and
``grounded-json`` doing what the base model does not (strict, schema-valid JSON)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ragtune.adapters import SHIPPED_ADAPTERS_DIR
from ragtune.config import load_settings
from ragtune.models import ModelRegistry
from ragtune.prompts import parse_grounded
from ragtune.runtime import AdapterUse, GenerationOptions, Runtime, load_runtime
from ragtune.training.card import load_card
from ragtune.training.recipes import RECIPES
from ragtune.training.recipes.base import TRAINING_DATA_DIR, read_eval_cases
from ragtune.training.shipped import DEFAULT_BASE

SHIPPED = sorted(RECIPES)


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    rt = load_runtime(load_settings(n_ctx=1024, n_threads=2), model_id=DEFAULT_BASE)
    yield rt
    rt.close()


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_adapter_has_a_card_naming_the_default_model(name: str) -> None:
    path = SHIPPED_ADAPTERS_DIR / f"{name}.gguf"
    card = load_card(path)
    assert path.is_file() and card is not None
    spec = ModelRegistry(load_settings()).get(DEFAULT_BASE)
    assert card.base_model_id == DEFAULT_BASE and card.base_sha256 == spec.sha256
    assert card.evaluation and card.loss_curve and card.prompt_builder.startswith("ragtune.prompts.")
    assert (SHIPPED_ADAPTERS_DIR / f"{name}.card.md").is_file()


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_adapter_loads_against_the_default_model(runtime: Runtime, name: str) -> None:
    info = runtime.load_adapter(SHIPPED_ADAPTERS_DIR / f"{name}.gguf")
    assert info.rank == RECIPES[name].options.rank


def test_grounded_json_gives_schema_valid_answers_where_the_base_model_does_not(runtime: Runtime) -> None:
    cases = read_eval_cases(TRAINING_DATA_DIR / "grounded-json" / "eval.jsonl")[:4]
    options = GenerationOptions(max_tokens=120)
    adapter = [AdapterUse(path=SHIPPED_ADAPTERS_DIR / "grounded-json.gguf")]

    def valid(adapters: list[AdapterUse]) -> int:
        results = [runtime.chat(c.messages, adapters=adapters, options=options) for c in cases]
        return sum(parse_grounded(r.text, finish_reason=r.finish_reason, allowed_ids=c.allowed_ids).ok
                   for r, c in zip(results, cases))

    assert valid([]) == 0
    assert valid(adapter) >= 3
