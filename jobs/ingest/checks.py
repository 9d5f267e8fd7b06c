"""A table's Great Expectations suite from conf/sources: checks on a whole delivery's good rows.

Row rules (required, ranges, patterns) split rows into raw and quarantine in Spark. What no
single row can show is a suite's job, e.g. amounts delivered in cents instead of crowns:

    expectations:
      - ExpectColumnMeanToBeBetween: {column: amount, min_value: 1, max_value: 5000}

A failed suite stops that table's delivery before anything is written.
"""

from __future__ import annotations

from typing import Any

import great_expectations as gx
from pyspark.sql import DataFrame

from jobs.errors import ConfigError, OfferlakeError
from jobs.ingest.sources import TableSpec
from jobs.runtime.expectations import validate


class DeliveryRejectedError(OfferlakeError):
    """A delivery's good rows fail the table's expectation suite; nothing of it was written."""


def suite(table: TableSpec) -> list[Any]:
    """The table's expectations as GX objects; an unknown name or argument is a ConfigError."""
    built = []
    for item in table.expectations:
        if not isinstance(item, dict) or len(item) != 1:
            raise ConfigError(f"{table.source_file}: {table.name}.expectations: one name per item")
        [(name, kwargs)] = item.items()
        kind = getattr(gx.expectations, str(name), None)
        if kind is None:
            raise ConfigError(f"{table.source_file}: {table.name}: unknown expectation {name}")
        try:
            built.append(kind(**(kwargs or {})))
        except Exception as exc:  # pydantic validation of the arguments
            raise ConfigError(f"{table.source_file}: {table.name}: {name}: {exc}") from None
    return built


def check_delivery(good: DataFrame, table: TableSpec, files: str) -> None:
    expectations = suite(table)
    if not expectations:
        return
    outcome = validate(good, table.name, expectations)
    if not outcome.success:
        raise DeliveryRejectedError(
            f"{files}: {table.name} fails its expectations in {table.source_file}: "
            + "; ".join(outcome.failures)
            + " (nothing of this delivery was written)"
        )
