"""Feed `transactions`: account movements from the transaction database over Spark JDBC.

Reads only rows with a key above the ledger's watermark, in `partitions` parallel key ranges.
The database is the SQLite file of the newest delivery by default, or the JDBC URL named in
conf/sources/transactions.yaml (PostgreSQL in production and CI). With `format: berka`, the
feed reads the Berka files (`trans.asc`, `loan.asc`, `order.asc`) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.errors import ConfigError
from jobs.ingest import ledger
from jobs.ingest.engine import ingest_feed
from jobs.ingest.landed import UnreadableFileError, deliveries
from jobs.ingest.load import load_table
from jobs.ingest.readers import Parsed
from jobs.ingest.sources import FeedSpec, TableSpec
from jobs.runtime.config import expand_env
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.zones import Zone

DRIVERS = {"sqlite": "org.sqlite.JDBC", "postgresql": "org.postgresql.Driver"}


@dataclass(frozen=True)
class JdbcSource:
    url: str
    driver: str
    dbtable: str
    key: str

    @property
    def name(self) -> str:
        """How lineage and the ledger name the source: no host credentials, no password."""
        scheme = self.url.split(":")[1]
        where = self.url.split("?")[0].split("/")[-1]
        return f"{scheme}:{where}/{self.dbtable}"


def source_for(ctx: RunContext, table: TableSpec) -> JdbcSource | None:
    """The database to read: the configured URL, else the newest landed SQLite file (or None)."""
    options = table.options
    url = options.get("url")
    if url:
        url = expand_env(str(url), f"{table.source_file}: url")
    else:
        landing = Path(ctx.zone_path(Zone.LANDING))
        found = [
            d / options.get("sqlite_file", "transactions.sqlite")
            for d in deliveries(landing, table.feed, ctx.run_date)
        ]
        found = [p for p in found if p.is_file()]
        if not found:
            return None
        newest = found[-1]
        if newest.read_bytes()[:16] != b"SQLite format 3\x00":
            raise UnreadableFileError(f"{newest.relative_to(landing)}: not a SQLite database")
        url = f"jdbc:sqlite:{newest}"
    scheme = url.split(":")[1] if url.startswith("jdbc:") else ""
    if scheme not in DRIVERS:
        raise ConfigError(
            f"{table.source_file}: url must start with jdbc:sqlite: or jdbc:postgresql:"
        )
    return JdbcSource(url, DRIVERS[scheme], options.get("dbtable", table.name), options["key"])


def _jdbc(spark: SparkSession, source: JdbcSource, query: str, fetch: int = 10000):
    return (
        spark.read.format("jdbc")
        .option("url", source.url)
        .option("driver", source.driver)
        .option("fetchsize", fetch)
        .option("dbtable", f"({query}) src")
    )


def key_range(spark: SparkSession, source: JdbcSource, after: int) -> tuple[int, int] | None:
    """(min, max) key above `after`, asked over one plain JDBC connection in the driver.

    Spark's JDBC reader would first ask the database for the query's column types, which
    SQLite cannot tell for MIN/MAX over a subquery; one direct query avoids that.
    """
    jvm = spark.sparkContext._jvm
    # the JDBC jars are on Spark's class loader, which DriverManager does not search
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    driver = loader.loadClass(source.driver).newInstance()
    connection = driver.connect(source.url, jvm.java.util.Properties())
    try:
        found = connection.createStatement().executeQuery(
            f"SELECT MIN({source.key}), MAX({source.key}) FROM {source.dbtable} "
            f"WHERE {source.key} > {int(after)}"
        )
        found.next()
        low = found.getObject(1)
        return None if low is None else (int(str(low)), int(str(found.getObject(2))))
    finally:
        connection.close()


def read_new_rows(
    spark: SparkSession, source: JdbcSource, after: int, partitions: int, fetch: int
) -> tuple[DataFrame | None, int]:
    """Rows with key > after, read in parallel key ranges; and the highest key read."""
    key = source.key
    newer = f"SELECT * FROM {source.dbtable} WHERE {key} > {int(after)}"
    bounds = key_range(spark, source, after)
    if bounds is None:
        return None, after
    lo, hi = bounds
    rows = (
        _jdbc(spark, source, newer, fetch)
        .option("partitionColumn", key)
        .option("lowerBound", lo)
        .option("upperBound", hi + 1)
        .option("numPartitions", max(1, min(partitions, hi - lo + 1)))
        .load()
    )
    return rows, hi


def transform(rows: DataFrame, source_name: str, key: str) -> DataFrame:
    """JDBC rows -> the reader layout: every column as text in `_raw`, the row as JSON."""
    columns = rows.columns
    return rows.select(
        F.lit(source_name).alias("_source_file"),
        F.concat(F.lit(f"{key} "), F.col(key).cast("string")).alias("_record"),
        F.col(key).cast("long").alias("_n"),
        F.to_json(F.struct(*columns)).alias("_original"),
        F.lit("text").alias("_encoding"),
        F.struct(*[F.col(c).cast("string").alias(c) for c in columns]).alias("_raw"),
        F.lit(None).cast("string").alias("_rule"),
        F.lit(None).cast("string").alias("_reason"),
    )


def ingest_jdbc(ctx: RunContext, table: TableSpec) -> JobResult:
    source = source_for(ctx, table)
    if source is None:
        return JobResult(table.name, 0, 0, feed=table.feed)
    after = ledger.watermark(ctx, table.name, source.name)
    rows, highest = read_new_rows(
        ctx.spark,
        source,
        after,
        int(table.options.get("partitions", 4)),
        int(table.options.get("fetch_size", 10000)),
    )
    if rows is None:
        return JobResult(table.name, 0, 0, feed=table.feed)
    entry = ledger.LedgerEntry(table.feed, table.name, source.name, "", highest)
    return load_table(ctx, table, Parsed(transform(rows, source.name, source.key)), [entry])


def run(ctx: RunContext, feed: FeedSpec) -> list[JobResult]:
    results = [ingest_jdbc(ctx, t) for t in feed.tables if t.reader == "jdbc"]
    files = FeedSpec(
        feed.name, feed.format, tuple(t for t in feed.tables if t.reader != "jdbc"), feed.path
    )
    return results + (ingest_feed(ctx, files) if files.tables else [])
