"""Lineage columns every raw table carries: where a row came from, which run, when, its hash."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

LINEAGE = ("_source_file", "_ingest_run", "_ingested_at", "_row_hash")
# the only columns of a raw table whose min/max its Delta log keeps: not the business columns,
# which hold clear personal data, nor a file name, which may name a person (GeoLife's
# `<user>/<track>.plt`); partition values are in the table's paths anyway
STATS_LINEAGE = ("_ingest_run", "_ingested_at")


def row_hash(columns: Sequence[str]):
    """SHA-256 of the row's business columns as JSON: equal rows, equal hashes, across runs."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in columns])), 256)


def with_lineage(df: DataFrame, columns: Sequence[str], run_id: str) -> DataFrame:
    """The business columns, then `_source_file` (already on df), run id, time and row hash."""
    return df.select(
        *columns,
        "_source_file",
        F.lit(run_id).alias("_ingest_run"),
        F.current_timestamp().alias("_ingested_at"),
        row_hash(columns).alias("_row_hash"),
    )
