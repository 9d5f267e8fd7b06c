"""Where the vault keeps its tables: Delta tables under onprem/vault/ (the default store).

Every operation the vault needs is here, so another store (PostgreSQL) is one class with the
same methods. Tables and their schemas are fixed below; reading one that does not exist yet
gives it empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.errors import OfferlakeError
from jobs.runtime import delta_io
from jobs.runtime.faults import commit_point
from jobs.runtime.locks import FileLock, Mode

SCHEMAS = {
    # the provider-wrapped vault keys: the key-encryption key(s) and the blind-index key
    "keys": "key_id string, purpose string, provider string, wrapped binary, "
    "created_at timestamp, retired_at timestamp",
    # one data key per customer (owner = the customer's token) or per non-personal kind
    "data_keys": "owner string, wrapped binary, kek_id string, created_run string, "
    "destroyed_at timestamp",
    # blind index -> token, and the clear value encrypted under its key owner's data key
    "token_map": "kind string, blind_index string, token string, value_ct binary, "
    "key_owner string, created_run string",
    # contact details removed from records: `field` is `<table>.<column>`
    "contacts": "owner string, field string, value_ct binary, value_index string, "
    "updated_run string",
    "audit": "at timestamp, job string, run_id string, action string, token string, "
    "detail string, purpose string",
    "erasures": "erasure_id string, token string, kind string, erased_at timestamp, "
    "run_id string, tables string, rows_deleted long",
}

# Tables the store refuses to change or delete rows of: Delta's `delta.appendOnly`, a
# PostgreSQL trigger. The audit log can only grow.
APPEND_ONLY = frozenset({"audit"})

NOW = object()  # in `update` values: the current time, as the store sees it

Match = dict[str, Any]  # column -> value, or a list of values; rows where all hold


def columns_of(name: str) -> list[str]:
    return [c.strip().split(" ")[0] for c in SCHEMAS[name].split(",")]


def _spark_match(match: Match) -> Column:
    condition = F.lit(True)
    for column, value in match.items():
        values = value if isinstance(value, list | tuple) else [value]
        condition = condition & F.col(column).isin(*values)
    return condition


class UnlockedPurge(OfferlakeError):
    """VACUUM at 0 hours was asked without the vault's exclusive lock."""


def check_purge(lock) -> None:
    """Purging history is safe only while no other job can be writing the vault's tables."""
    if lock is None or not lock.exclusive:
        raise UnlockedPurge(
            "the vault's history is purged (VACUUM at 0 hours) only under its exclusive lock: "
            "another job's commit could name files the purge deletes"
        )


class DeltaVaultStore:
    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark = spark
        self.root = root
        self.held = None  # the vault lock this store's user holds (see `lock`)

    def __repr__(self) -> str:
        return f"DeltaVaultStore({self.root})"

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def lock(self, mode: Mode, timeout: float) -> FileLock:
        """A lock file beside the vault's tables: every process that opens the vault takes it."""
        if "://" in self.root and not self.root.startswith("file:"):
            raise OfferlakeError(
                f"the Delta vault store needs a disk its jobs can lock, not {self.root}; "
                "use the on-prem disk or `vault.store: postgres`"
            )
        return FileLock(f"{self.root.removeprefix('file:')}/_vault.lock", mode, timeout)

    def exists(self, name: str) -> bool:
        return delta_io.is_delta(self.spark, self.path(name))

    def read(self, name: str) -> DataFrame:
        if not self.exists(name):
            return self.spark.createDataFrame([], SCHEMAS[name])
        return delta_io.read_delta(self.spark, self.path(name))

    def _conform(self, name: str, df: DataFrame) -> DataFrame:
        return df.select(*columns_of(name))

    def rows(self, name: str, rows: list[tuple]) -> DataFrame:
        return self.spark.createDataFrame(rows, SCHEMAS[name])

    @delta_io.on_conflict
    def insert_new(self, name: str, df: DataFrame, keys: Sequence[str]) -> None:
        """Insert rows whose key is not there yet; an existing key keeps its row (first wins)."""
        df = self._conform(name, df)
        if not self.exists(name):
            self.replace(name, df)
            return
        condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        DeltaTable.forPath(self.spark, self.path(name)).alias("t").merge(
            df.alias("s"), condition
        ).whenNotMatchedInsertAll().execute()
        commit_point(self.path(name))

    def upsert(self, name: str, df: DataFrame, keys: Sequence[str], changed: str) -> None:
        delta_io.merge_delta(self._conform(name, df), self.path(name), keys, changed=changed)

    @delta_io.on_conflict
    def rewrap(self, name: str, df: DataFrame) -> int:
        """Set `wrapped` and `kek_id` of the rows of df's owners that still hold a wrapped key
        (a destroyed key is never brought back). The number of rows updated."""
        if not self.exists(name):
            return 0
        table = DeltaTable.forPath(self.spark, self.path(name))
        table.alias("t").merge(df.alias("s"), "t.owner = s.owner").whenMatchedUpdate(
            condition="t.wrapped IS NOT NULL",
            set={"wrapped": "s.wrapped", "kek_id": "s.kek_id"},
        ).execute()
        commit_point(self.path(name))
        metrics = table.history(1).first()["operationMetrics"] or {}
        return int(metrics.get("numTargetRowsUpdated", 0))

    def append(self, name: str, df: DataFrame) -> None:
        if name in APPEND_ONLY and not self.exists(name):
            builder = DeltaTable.createIfNotExists(self.spark).location(self.path(name))
            builder.addColumns(self.spark.createDataFrame([], SCHEMAS[name]).schema)
            builder.property("delta.appendOnly", "true").execute()
        delta_io.write_delta(self._conform(name, df), self.path(name), mode="append")

    def replace(self, name: str, df: DataFrame) -> None:
        delta_io.write_delta(self._conform(name, df), self.path(name), mode="overwrite")

    @delta_io.on_conflict
    def update(self, name: str, match: Match, values: dict[str, Any]) -> None:
        if not self.exists(name):
            return
        types = {c.strip().split(" ")[0]: c.strip().split(" ")[1] for c in SCHEMAS[name].split(",")}
        new = {
            c: F.current_timestamp() if v is NOW else F.lit(v).cast(types[c])
            for c, v in values.items()
        }
        DeltaTable.forPath(self.spark, self.path(name)).update(_spark_match(match), new)
        commit_point(self.path(name))

    @delta_io.on_conflict
    def delete(self, name: str, match: Match) -> None:
        if self.exists(name):
            DeltaTable.forPath(self.spark, self.path(name)).delete(_spark_match(match))
            commit_point(self.path(name))

    def purge_history(self, names: Sequence[str]) -> None:
        """Physically remove the files older versions of these tables still hold (VACUUM 0 h).

        Shredding a key or a value must not leave it readable by time travel. Only under the
        vault's exclusive lock: every writer of these tables takes that lock.
        """
        check_purge(self.held)
        vacuum(self.spark, [self.path(n) for n in names if self.exists(n)])


# VACUUM lists a table's files with this many tasks; Spark's default (10,000) cost a minute per
# small table on 2 cores (measured 68.5 s against 5 s with the cluster's parallelism)
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
VACUUMS_AT_ONCE = 4


def vacuum(spark: SparkSession, paths: Sequence[str], hours: float = 0) -> None:
    """VACUUM keeping `hours` of history (none by default: only the files of the tables'
    current versions stay)."""
    settings = {
        "spark.databricks.delta.retentionDurationCheck.enabled": "false",
        LISTING_PARALLELISM: str(spark.sparkContext.defaultParallelism),
    }
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        # a small table's VACUUM is mostly driver work and waiting (list, plan, delete):
        # several at once share the cores (15 tables: 26 s one by one)
        with ThreadPoolExecutor(VACUUMS_AT_ONCE, thread_name_prefix="vacuum") as pool:
            list(pool.map(lambda path: DeltaTable.forPath(spark, path).vacuum(hours), paths))
        for path in paths:
            commit_point(path)
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
