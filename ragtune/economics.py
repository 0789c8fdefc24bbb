"""What one query costs, from two angles: this machine's time, and the same tokens on a hosted API.

* **Local compute**: the seconds the query kept the machine busy (retrieval, adapter switch,
  prompt evaluation, generation; *not* the time spent waiting for another session) times the
  machine's price per hour (``RAGTUNE_COMPUTE_DOLLARS_PER_HOUR``; the default and its source
  are stated on the setting).
* **API-equivalent**: the query's prompt and answer tokens priced like a few reference hosted
  models (US dollars per million tokens, with the date the prices were read). Prompt tokens the
  runtime served from its prefix cache are billed at the provider's cached-input price, where
  the provider offers one and the prompt is long enough for its cache; cache-write premiums
  are left out.
* **One-time costs** (training an adapter) are spread over a number of queries the user sets
  and added to every query of a mode that uses an adapter.

The price table, the amortisation and an optional $/hour override are kept in
``economics.json`` under the data directory, validated on every load and save.

Examples:
    >>> cost = query_cost(compute_seconds=2.0, prompt_tokens=1000, cached_prompt_tokens=0,
    ...                   completion_tokens=100, uses_adapter=False,
    ...                   config=EconomicsConfig(), default_dollars_per_hour=3.6)
    >>> round(cost.local_compute_usd, 6)
    0.002
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragtune.errors import ConfigError, InputError, validation_problems

PER_MILLION = 1_000_000
SECONDS_PER_HOUR = 3600.0

PricePerMillion = Annotated[float, Field(ge=0.0, le=10_000.0)]


def money(value: float) -> str:
    """Dollars, readable at every size: whole dollars from $100, cents from $1, then four
    decimals, and two significant digits below a cent.

    Examples:
        >>> [money(v) for v in (0, 1234.5, 12.5, 0.0123, 0.000123)]
        ['$0', '$1,234', '$12.50', '$0.0123', '$0.00012']
    """
    size = abs(value)
    if size == 0:
        return "$0"
    if size >= 100:
        return f"${value:,.0f}"
    if size >= 1:
        return f"${value:,.2f}"
    return f"${value:,.4f}" if size >= 0.01 else f"${value:.2g}"


class ApiPrice(BaseModel):
    """One hosted model's list price, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, max_length=60, description="Name shown on charts.")
    provider: str = Field(default="", max_length=40)
    input_per_m: PricePerMillion
    output_per_m: PricePerMillion
    cached_input_per_m: PricePerMillion | None = Field(
        default=None, description="Price of prompt tokens read from the provider's cache; "
        "None when the provider offers no discount."
    )
    cache_min_tokens: int = Field(
        default=0, ge=0, le=1_000_000,
        description="Prompts shorter than this are not cached by the provider (no discount).",
    )

    @model_validator(mode="after")
    def _cached_not_dearer(self) -> ApiPrice:
        if self.cached_input_per_m is not None and self.cached_input_per_m > self.input_per_m:
            raise ValueError(
                f"{self.model}: the cached input price ({self.cached_input_per_m}) is higher than "
                f"the input price ({self.input_per_m})"
            )
        return self


class PriceTable(BaseModel):
    """Reference API prices, with the date they were read and where."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_of: date
    source: str = Field(default="", max_length=300)
    prices: list[ApiPrice] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique_names(self) -> PriceTable:
        names = [p.model for p in self.prices]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def get(self, model: str) -> ApiPrice:
        for price in self.prices:
            if price.model == model:
                return price
        raise InputError(f"No price for '{model}'. Known: {', '.join(p.model for p in self.prices)}.")


DEFAULT_PRICES = PriceTable(
    as_of=date(2025, 6, 1),
    source=(
        "Providers' public pricing pages (OpenAI, Anthropic, Google), standard tier, read in "
        "mid-2025. Prices change: check them and edit this table before quoting a figure."
    ),
    prices=[
        ApiPrice(model="gpt-4o-mini", provider="OpenAI", input_per_m=0.15, cached_input_per_m=0.075,
                 output_per_m=0.60, cache_min_tokens=1024),
        ApiPrice(model="gpt-4.1-mini", provider="OpenAI", input_per_m=0.40, cached_input_per_m=0.10,
                 output_per_m=1.60, cache_min_tokens=1024),
        ApiPrice(model="gpt-4.1", provider="OpenAI", input_per_m=2.00, cached_input_per_m=0.50,
                 output_per_m=8.00, cache_min_tokens=1024),
        ApiPrice(model="claude-3.5-haiku", provider="Anthropic", input_per_m=0.80,
                 cached_input_per_m=0.08, output_per_m=4.00, cache_min_tokens=2048),
        ApiPrice(model="claude-sonnet-4", provider="Anthropic", input_per_m=3.00,
                 cached_input_per_m=0.30, output_per_m=15.00, cache_min_tokens=1024),
        ApiPrice(model="gemini-2.0-flash", provider="Google", input_per_m=0.10,
                 cached_input_per_m=0.025, output_per_m=0.40, cache_min_tokens=4096),
    ],
)


class EconomicsConfig(BaseModel):
    """The editable part of the cost model (persisted in ``economics.json``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prices: PriceTable = DEFAULT_PRICES
    reference_model: str = Field(
        default="gpt-4o-mini", description="The API model whose price the charts show."
    )
    compute_dollars_per_hour: float | None = Field(
        default=None, ge=0.0, le=1000.0,
        description="Overrides RAGTUNE_COMPUTE_DOLLARS_PER_HOUR when set.",
    )
    training_cost_usd: float = Field(
        default=20.0, ge=0.0, le=1e7,
        description="One adapter training run, data curation included (the seed's low end for a "
        "managed LoRA run; a CPU run of the shipped adapters costs cents of machine time).",
    )
    amortize_over_queries: int = Field(
        default=10_000, ge=1, le=10**12, description="Queries the training cost is spread over."
    )

    @model_validator(mode="after")
    def _reference_is_priced(self) -> EconomicsConfig:
        if self.reference_model not in {p.model for p in self.prices.prices}:
            raise ValueError(f"the reference model '{self.reference_model}' is not in the price table")
        return self

    def dollars_per_hour(self, default: float) -> float:
        return default if self.compute_dollars_per_hour is None else self.compute_dollars_per_hour


class ApiCost(BaseModel):
    """One query priced like one hosted model."""

    model_config = ConfigDict(frozen=True)

    model: str
    input_usd: float
    cached_input_usd: float
    output_usd: float
    cached_tokens_billed: int = Field(description="Prompt tokens billed at the cached price.")

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.cached_input_usd + self.output_usd


class CostBreakdown(BaseModel):
    """Both angles on one query's cost, and the amortised one-time cost it carries."""

    model_config = ConfigDict(frozen=True)

    compute_seconds: float = Field(ge=0.0)
    dollars_per_hour: float = Field(ge=0.0)
    local_compute_usd: float = Field(ge=0.0)
    reference_model: str
    api: list[ApiCost]
    one_time_usd: float = Field(ge=0.0, description="Training cost carried by this mode (0 without adapter).")
    amortize_over_queries: int = Field(ge=1)

    @property
    def amortized_usd(self) -> float:
        return self.one_time_usd / self.amortize_over_queries

    @property
    def api_reference_usd(self) -> float:
        return self.api_cost(self.reference_model).total_usd

    @property
    def local_total_usd(self) -> float:
        return self.local_compute_usd + self.amortized_usd

    @property
    def api_total_usd(self) -> float:
        return self.api_reference_usd + self.amortized_usd

    def api_cost(self, model: str) -> ApiCost:
        for cost in self.api:
            if cost.model == model:
                return cost
        raise InputError(f"No API cost for '{model}' in this breakdown.")


def api_cost(price: ApiPrice, *, prompt_tokens: int, cached_prompt_tokens: int,
             completion_tokens: int) -> ApiCost:
    """Price one query's tokens like ``price``'s model, with its cached-prompt discount.

    Examples:
        >>> p = ApiPrice(model="m", input_per_m=1.0, cached_input_per_m=0.1, output_per_m=2.0)
        >>> c = api_cost(p, prompt_tokens=1000, cached_prompt_tokens=600, completion_tokens=100)
        >>> round(c.total_usd * 1e6)  # 400 fresh + 600 * 0.1 + 100 * 2
        660
    """
    cached = min(max(cached_prompt_tokens, 0), prompt_tokens)
    if price.cached_input_per_m is None or prompt_tokens < price.cache_min_tokens:
        cached = 0
    fresh = prompt_tokens - cached
    return ApiCost(
        model=price.model,
        input_usd=fresh * price.input_per_m / PER_MILLION,
        cached_input_usd=cached * (price.cached_input_per_m or 0.0) / PER_MILLION,
        output_usd=completion_tokens * price.output_per_m / PER_MILLION,
        cached_tokens_billed=cached,
    )


def query_cost(
    *,
    compute_seconds: float,
    prompt_tokens: int,
    cached_prompt_tokens: int,
    completion_tokens: int,
    uses_adapter: bool,
    config: EconomicsConfig,
    default_dollars_per_hour: float,
) -> CostBreakdown:
    """Both costs of one query (see the module docstring for what each counts)."""
    rate = config.dollars_per_hour(default_dollars_per_hour)
    seconds = max(compute_seconds, 0.0)
    return CostBreakdown(
        compute_seconds=seconds,
        dollars_per_hour=rate,
        local_compute_usd=seconds * rate / SECONDS_PER_HOUR,
        reference_model=config.reference_model,
        api=[
            api_cost(p, prompt_tokens=prompt_tokens, cached_prompt_tokens=cached_prompt_tokens,
                     completion_tokens=completion_tokens)
            for p in config.prices.prices
        ],
        one_time_usd=config.training_cost_usd if uses_adapter else 0.0,
        amortize_over_queries=config.amortize_over_queries,
    )


def price_table_from_rows(rows: list[dict[str, Any]], *, as_of: date, source: str = "") -> PriceTable:
    """A price table from edited table rows (empty rows skipped).

    Raises:
        InputError: a row is invalid; the message names the row and the field.
    """
    cleaned = []
    for row in rows:
        values = {k: v for k, v in row.items() if v is not None and not (isinstance(v, float) and v != v)}
        if not values or not str(values.get("model", "")).strip():
            continue
        cleaned.append(values)
    try:
        return PriceTable(as_of=as_of, source=source, prices=cleaned)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise InputError("The price table is invalid: " + "; ".join(validation_problems(exc)) + ".") from exc


def validate_config(data: dict[str, Any]) -> EconomicsConfig:
    """An :class:`EconomicsConfig` from plain data.

    Raises:
        InputError: a value is invalid; the message says which.
    """
    try:
        return EconomicsConfig.model_validate(data)
    except ValidationError as exc:
        raise InputError("Invalid cost settings: " + "; ".join(validation_problems(exc)) + ".") from exc


class EconomicsStore:
    """The cost settings file (``economics.json`` in the data directory)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> EconomicsConfig:
        """The saved settings, or the defaults when nothing was saved.

        Raises:
            ConfigError: the file exists but is not valid (the message says how to recover).
        """
        if not self.path.exists():
            return EconomicsConfig()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return EconomicsConfig.model_validate(data)
        except (OSError, json.JSONDecodeError, ValidationError) as exc:
            detail = "; ".join(validation_problems(exc)) if isinstance(exc, ValidationError) else str(exc)
            raise ConfigError(
                f"The cost settings file {self.path} is unreadable ({detail}). Fix it, or delete it "
                "to go back to the default prices."
            ) from exc

    def save(self, config: EconomicsConfig) -> None:
        """Write the settings atomically (a crash leaves the old file or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(config.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    def reset(self) -> EconomicsConfig:
        """Forget the saved settings; the defaults apply again."""
        self.path.unlink(missing_ok=True)
        return EconomicsConfig()


def config_from_form(values: dict[str, Any]) -> EconomicsConfig:
    """Cost settings from the Lab's form: rate, training cost, amortisation, reference, price rows.

    Raises:
        InputError: a value or a price row is invalid; the message says which.
    """
    table = price_table_from_rows(list(values.get("rows") or []), as_of=values["as_of"],
                                  source=str(values.get("source") or ""))
    return validate_config({
        "prices": table.model_dump(),
        "reference_model": values.get("reference_model"),
        "compute_dollars_per_hour": values.get("compute_dollars_per_hour"),
        "training_cost_usd": values.get("training_cost_usd"),
        "amortize_over_queries": values.get("amortize_over_queries"),
    })
