"""Text files as rows of (file, line number, text), line numbers exact even across splits.

Spark's text reader splits big files into blocks and tells each row only its block
(`_metadata.file_block_start`). Rows of one block are contiguous in one partition, so a row's
line is: lines in the file's earlier blocks + its position in its block + 1. The per-block
counts are a small table (one row per block), computed by one extra scan that parses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F


def read_lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """Columns `_source_file` (path), `_line` (1-based), `value` (the line without its end).

    >>> read_lines(spark, ["/landing/crm/2026-01-30/crm_clients.jsonl"]).first()._line
    1
    """
    rows = spark.read.text(list(paths)).select(
        F.col("_metadata.file_path").alias("_source_file"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_seq"),
        "value",
    )
    earlier = Window.partitionBy("_source_file").orderBy("_block")
    blocks = (
        rows.groupBy("_source_file", "_block")
        .agg(F.min("_seq").alias("_first"), F.count("*").alias("_n"))
        .withColumn(
            "_before",
            F.coalesce(
                F.sum("_n").over(earlier.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0)
            ),
        )
        .select("_source_file", "_block", "_first", "_before")
    )
    return rows.join(F.broadcast(blocks), ["_source_file", "_block"]).select(
        "_source_file",
        (F.col("_before") + F.col("_seq") - F.col("_first") + 1).alias("_line"),
        "value",
    )
