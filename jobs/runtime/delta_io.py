"""Delta reads and writes, the only place jobs' tables touch storage.

>>> write_delta(df, "/lake/analytics/kpis", mode="overwrite")
>>> merge_delta(updates, "/onprem/raw/crm_clients", keys=["client_id"])
>>> read_delta(spark, "/onprem/raw/crm_clients", version=0)   # time travel
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import delta.exceptions as delta_errors
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from jobs.runtime.faults import commit_point

log = logging.getLogger("offerlake.delta")

WriteMode = Literal["append", "overwrite", "replace_where"]

# Another job committed to the same table first (Delta's optimistic concurrency: two campaign DAGs
# replacing their rows of one date, two writers creating a table): the write is tried again on the
# new snapshot. Every write here is idempotent (a date's rows replaced, a MERGE on keys), so a
# retry gives what running one after the other would have.
COMMIT_RACES = tuple(  # Delta's Python exceptions share no base class for these
    getattr(delta_errors, name)
    for name in (
        "ConcurrentAppendException",
        "ConcurrentDeleteDeleteException",
        "ConcurrentDeleteReadException",
        "ConcurrentTransactionException",
        "ConcurrentWriteException",
        "DeltaConcurrentModificationException",
        "MetadataChangedException",
        "ProtocolChangedException",
    )
)
on_conflict = retry(
    retry=retry_if_exception_type(COMMIT_RACES),
    wait=wait_random_exponential(multiplier=1, max=20),
    stop=stop_after_attempt(6),
    before_sleep=before_sleep_log(log, logging.WARNING),
    reraise=True,
)


def read_delta(spark: SparkSession, path: str, version: int | None = None) -> DataFrame:
    """Read a Delta table, optionally as of an earlier version."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def is_delta(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def list_folders(spark: SparkSession, root: str) -> list[str]:
    """Names of the folders directly under root (local folder or s3a://), sorted."""
    path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(root)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return []
    return sorted(s.getPath().getName() for s in fs.listStatus(path) if s.isDirectory())


def list_tables(spark: SparkSession, root: str) -> list[str]:
    """Names of the Delta tables directly under root, sorted."""
    return [n for n in list_folders(spark, root) if is_delta(spark, f"{root}/{n}")]


@on_conflict
def write_delta(
    df: DataFrame,
    path: str,
    mode: WriteMode = "overwrite",
    partition_by: Sequence[str] = (),
    replace_where: str | None = None,
    stats_columns: Sequence[str] | None = None,
) -> None:
    """Write df as a Delta table: append, overwrite all, or replace only the rows of a predicate.

    `replace_where` is how a job re-run for one date replaces exactly that date's partition.
    `stats_columns`: see `STATS_COLUMNS`.
    """
    writer = df.write.format("delta")
    if stats_columns is not None:
        writer = writer.option(STATS_COLUMNS, ",".join(stats_columns))
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if mode == "replace_where":
        if not replace_where:
            raise ValueError("mode='replace_where' needs a replace_where predicate")
        writer = writer.mode("overwrite").option("replaceWhere", replace_where)
    elif mode == "overwrite":
        writer = writer.mode("overwrite").option("overwriteSchema", "true")
    else:
        writer = writer.mode("append")
    writer.save(path)
    commit_point(path)


# Delta keeps min/max statistics of each file's first 32 columns in the table's log, and the log
# outlives the files (a DELETE and VACUUM remove the rows, not the JSON commits that described
# them). Tables of clear personal data (raw, quarantine) name the columns that may have
# statistics: lineage and partition columns only.
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


def restrict_stats(spark: SparkSession, path: str, columns: Sequence[str]) -> None:
    """Keep statistics of only these columns in the table's future commits (an ALTER of a table
    made before this setting; nothing when it is set already)."""
    wanted = ",".join(columns)
    held = DeltaTable.forPath(spark, path).detail().first()["properties"] or {}
    if held.get(STATS_COLUMNS) != wanted:
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{STATS_COLUMNS}' = '{wanted}')")


def rows_written(spark: SparkSession, path: str) -> int:
    """Rows the table's last commit wrote (inserted + updated, for a MERGE; a replaceWhere's
    rows, not those it copied from the files it rewrote)."""
    metrics = DeltaTable.forPath(spark, path).history(1).first()["operationMetrics"] or {}
    if "numOutputRows" in metrics:
        return int(metrics["numOutputRows"]) - int(metrics.get("numCopiedRows", 0))
    return int(metrics.get("numTargetRowsInserted", 0)) + int(
        metrics.get("numTargetRowsUpdated", 0)
    )


@on_conflict
def merge_delta(
    df: DataFrame,
    path: str,
    keys: Sequence[str],
    partition_by: Sequence[str] = (),
    changed: str | None = None,
    update_matched: bool = True,
    evolve: bool = False,
    stats_columns: Sequence[str] | None = None,
) -> None:
    """Upsert df into the Delta table at path on its natural keys (created on first use).

    Matched rows are updated, new rows inserted: re-running with the same input changes nothing.
    `changed` names a column (such as a row hash): matched rows are rewritten only when it
    differs, so a re-run rewrites no files and keeps the rows' first lineage. With
    `update_matched=False` a matched row keeps what it holds (first write wins). With
    `evolve`, columns df has and the table lacks are added (existing rows hold null).
    `stats_columns`: the only columns whose statistics the table's log may hold.
    """
    if not keys:
        raise ValueError("merge_delta needs at least one key column")
    spark = df.sparkSession
    if not is_delta(spark, path):
        write_delta(df, path, "overwrite", partition_by, stats_columns=stats_columns)
        return
    if stats_columns is not None:
        restrict_stats(spark, path, stats_columns)
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    update = f"NOT (t.`{changed}` <=> s.`{changed}`)" if changed else None
    merge = DeltaTable.forPath(spark, path).alias("t").merge(df.alias("s"), condition)
    if evolve:
        merge = merge.withSchemaEvolution()
    if update_matched:
        merge = merge.whenMatchedUpdateAll(condition=update)
    merge.whenNotMatchedInsertAll().execute()
    commit_point(path)


def version(spark: SparkSession, path: str) -> int | None:
    """The table's current version, None when there is no table yet."""
    if not is_delta(spark, path):
        return None
    return int(DeltaTable.forPath(spark, path).history(1).first()["version"])


def undo(spark: SparkSession, path: str, before: int | None, created_where: str) -> None:
    """Take back what a write did: RESTORE to `before`, or delete `created_where` rows when the
    table did not exist before (a Delta table cannot be restored to before its first commit)."""
    table = DeltaTable.forPath(spark, path)
    if before is None:
        table.delete(created_where)
    else:
        table.restoreToVersion(before)
