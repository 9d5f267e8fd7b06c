"""Quarantine: rejected rows kept on-prem with their original text or bytes, rule and reason.

One Delta table per raw table under `onprem/quarantine/<table>`, keyed by (source file,
record): re-running a load for the same file adds nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

COLUMNS = ("_source_file", "record", "original", "original_encoding", "rule", "reason")
KEYS = ("_source_file", "record")
# no statistics of the original text (clear personal data) in the table's Delta log
STATS_COLUMNS = ("rule", "_ingest_run", "_ingested_at")
SCHEMA = StructType([StructField(c, StringType()) for c in COLUMNS])


def quarantine_frame(rejected: DataFrame, run_id: str) -> DataFrame:
    """Rows a reader or rule rejected (`_rule` set) in the quarantine layout."""
    return stamp(
        rejected.select(
            "_source_file",
            F.col("_record").alias("record"),
            F.col("_original").alias("original"),
            F.col("_encoding").alias("original_encoding"),
            F.col("_rule").alias("rule"),
            F.col("_reason").alias("reason"),
        ),
        run_id,
    )


def file_rows_frame(spark: SparkSession, rows: Sequence[tuple], run_id: str) -> DataFrame:
    """Rows rejected on the driver before Spark read the file (empty or truncated files)."""
    return stamp(spark.createDataFrame(list(rows), SCHEMA), run_id)


def stamp(df: DataFrame, run_id: str) -> DataFrame:
    return df.withColumn("_ingest_run", F.lit(run_id)).withColumn(
        "_ingested_at", F.current_timestamp()
    )
