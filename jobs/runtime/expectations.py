"""Great Expectations on Spark DataFrames: run a suite, get a result a job can act on."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# No usage analytics: this machine has no network beyond package registries, and a bank's none.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.expectations.expectation import Expectation  # noqa: E402
from pyspark.sql import DataFrame  # noqa: E402

from jobs.errors import ConfigError  # noqa: E402

_one_context = threading.Lock()


def build(items: Sequence[Any], where: str) -> list[Expectation]:
    """GX expectations from YAML items `{ExpectationName: {kwargs}}`; a wrong one names `where`.

    `meta` passes through, e.g. `{critical: true}`.
    """
    built = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{where}: one expectation name per item")
        [(name, kwargs)] = item.items()
        kind = getattr(gx.expectations, str(name), None)
        if kind is None:
            raise ConfigError(f"{where}: unknown expectation {name}")
        try:
            built.append(kind(**(kwargs or {})))
        except Exception as exc:  # pydantic validation of the arguments
            raise ConfigError(f"{where}: {name}: {exc}") from None
    return built


@dataclass(frozen=True)
class ValidationOutcome:
    """Whether every expectation held, and for each failed one a short description."""

    success: bool
    failures: tuple[str, ...]


def validate(df: DataFrame, name: str, expectations: Sequence[Expectation]) -> ValidationOutcome:
    """Validate df against expectations in an ephemeral GX context (nothing written to disk).

    >>> not_null = gx.expectations.ExpectColumnValuesToNotBeNull(column="amount")
    >>> validate(df, "card_transactions", [not_null]).success
    """
    with _one_context:  # GX keeps its current context in a global: one validation at a time
        return _validate(df, name, expectations)


def _validate(df: DataFrame, name: str, expectations: Sequence[Expectation]) -> ValidationOutcome:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_spark(name=f"{name}_source").add_dataframe_asset(name=name)
    batch = asset.add_batch_definition_whole_dataframe(f"{name}_batch").get_batch(
        batch_parameters={"dataframe": df}
    )
    suite = context.suites.add(
        gx.ExpectationSuite(name=f"{name}_suite", expectations=list(expectations))
    )
    result = batch.validate(suite)
    failures = tuple(
        f"{r.expectation_config.type} {r.expectation_config.kwargs.get('column', '')}: "
        f"{r.result.get('unexpected_count', '?')} unexpected".strip()
        for r in result.results
        if not r.success
    )
    return ValidationOutcome(bool(result.success), failures)
