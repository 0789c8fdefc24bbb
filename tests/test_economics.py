"""The cost model on fixed inputs: local compute, API-equivalent with caching, amortisation."""

from __future__ import annotations

import json
from datetime import date

import pytest

from ragtune.economics import (
    DEFAULT_PRICES,
    ApiPrice,
    EconomicsConfig,
    EconomicsStore,
    PriceTable,
    api_cost,
    price_table_from_rows,
    query_cost,
    validate_config,
)
from ragtune.errors import ConfigError, InputError

PRICE = ApiPrice(model="ref", input_per_m=2.0, cached_input_per_m=0.5, output_per_m=8.0)
TABLE = PriceTable(as_of=date(2025, 6, 1), prices=[PRICE])
CONFIG = EconomicsConfig(prices=TABLE, reference_model="ref", training_cost_usd=50.0,
                         amortize_over_queries=1000)


def cost(**overrides):
    args = dict(compute_seconds=1.8, prompt_tokens=1000, cached_prompt_tokens=0, completion_tokens=100,
                uses_adapter=False, config=CONFIG, default_dollars_per_hour=0.1)
    args.update(overrides)
    return query_cost(**args)


def test_local_compute_is_seconds_times_the_hourly_rate():
    assert cost().local_compute_usd == pytest.approx(1.8 * 0.1 / 3600)


def test_an_hourly_rate_saved_in_the_config_overrides_the_setting():
    config = CONFIG.model_copy(update={"compute_dollars_per_hour": 3.6})
    assert cost(config=config).local_compute_usd == pytest.approx(0.0018)


def test_api_cost_prices_prompt_and_completion_tokens_per_million():
    assert cost().api_reference_usd == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)


def test_cached_prompt_tokens_are_billed_at_the_cached_price():
    c = cost(cached_prompt_tokens=600).api_cost("ref")
    assert c.cached_tokens_billed == 600
    assert c.total_usd == pytest.approx((400 * 2.0 + 600 * 0.5 + 100 * 8.0) / 1e6)


def test_no_discount_when_the_provider_offers_none_or_the_prompt_is_too_short():
    no_cache = PRICE.model_copy(update={"cached_input_per_m": None})
    assert api_cost(no_cache, prompt_tokens=1000, cached_prompt_tokens=600, completion_tokens=0
                    ).cached_tokens_billed == 0
    short = PRICE.model_copy(update={"cache_min_tokens": 1024})
    assert api_cost(short, prompt_tokens=1000, cached_prompt_tokens=600, completion_tokens=0
                    ).cached_tokens_billed == 0


def test_training_cost_is_amortised_only_for_adapter_modes():
    assert cost().amortized_usd == 0.0
    with_adapter = cost(uses_adapter=True)
    assert with_adapter.amortized_usd == pytest.approx(0.05)
    assert with_adapter.local_total_usd == pytest.approx(with_adapter.local_compute_usd + 0.05)
    assert with_adapter.api_total_usd == pytest.approx(with_adapter.api_reference_usd + 0.05)


def test_every_price_in_the_table_is_computed():
    assert [c.model for c in cost(config=EconomicsConfig()).api] == [p.model for p in DEFAULT_PRICES.prices]


def test_the_default_table_states_its_date_and_source():
    assert DEFAULT_PRICES.as_of.year >= 2025 and "pricing" in DEFAULT_PRICES.source


def test_a_cached_price_above_the_input_price_is_rejected():
    with pytest.raises(InputError, match="cached input price"):
        price_table_from_rows([{"model": "x", "input_per_m": 1.0, "cached_input_per_m": 2.0,
                                "output_per_m": 1.0}], as_of=date(2025, 1, 1))


def test_edited_rows_with_a_negative_price_name_the_field():
    with pytest.raises(InputError, match="input_per_m"):
        price_table_from_rows([{"model": "x", "input_per_m": -1.0, "output_per_m": 1.0}],
                              as_of=date(2025, 1, 1))


def test_empty_rows_are_skipped_and_duplicate_names_rejected():
    rows = [{"model": "a", "input_per_m": 1.0, "output_per_m": 2.0}, {"model": None}, {}]
    assert [p.model for p in price_table_from_rows(rows, as_of=date(2025, 1, 1)).prices] == ["a"]
    with pytest.raises(InputError, match="unique"):
        price_table_from_rows(rows[:1] * 2, as_of=date(2025, 1, 1))


def test_the_reference_model_must_be_in_the_table():
    with pytest.raises(InputError, match="reference model"):
        validate_config({"prices": TABLE.model_dump(mode="json"), "reference_model": "gone"})


def test_settings_round_trip_through_the_data_dir(tmp_path):
    store = EconomicsStore(tmp_path / "economics.json")
    assert store.load() == EconomicsConfig()
    store.save(CONFIG)
    assert EconomicsStore(tmp_path / "economics.json").load() == CONFIG
    assert store.reset() == EconomicsConfig() and not store.path.exists()


def test_a_corrupt_settings_file_is_a_clear_error(tmp_path):
    path = tmp_path / "economics.json"
    path.write_text(json.dumps({"reference_model": 3}))
    with pytest.raises(ConfigError, match="delete it"):
        EconomicsStore(path).load()
