"""A table's Great Expectations suite from conf/sources: checks on a whole delivery's good rows.

Row rules (required, ranges, patterns) split rows into raw and quarantine in Spark. What no
single row can show is a suite's job, e.g. amounts delivered in cents instead of crowns:

    expectations:
      - ExpectColumnMeanToBeBetween: {column: amount, min_value: 1, max_value: 5000}

A failed suite stops that table's delivery before anything is written.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame

from jobs.errors import OfferlakeError
from jobs.ingest.sources import TableSpec
from jobs.runtime.expectations import build, validate


class DeliveryRejectedError(OfferlakeError):
    """A delivery's good rows fail the table's expectation suite; nothing of it was written."""


def suite(table: TableSpec) -> list[Any]:
    """The table's expectations as GX objects; an unknown name or argument is a ConfigError."""
    return build(table.expectations, f"{table.source_file}: {table.name}.expectations")


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
