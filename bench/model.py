"""Benchmark: customer_360 (the whole feature catalog) on the 100,000-customer, 365-day bank.

    .venv/bin/python -m bench.model [--bank DIR] [--date D]

DIR must hold the stage zone that `python -m bench.privacy --bank DIR` wrote. Spark compiles
the catalog (jobs/model) and writes customer_360 to a fresh analytics folder; then, in the same
run, the peer: DuckDB computes the same metrics as SQL over the same stage files
(bench/model_duckdb.py) and writes them to Parquet. Both results are compared metric by
metric on every customer. Prints a table and writes bench/results/model.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from bench.generate import PeakMemory, tree_rss_mb
from bench.model_duckdb import customer_360_sql
from jobs.generate.bank import DEFAULT_START
from jobs.model.catalog import load_catalog
from jobs.model.run import LINEAGE, customer_360
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.spark import build_spark, wide_rows
from jobs.runtime.zones import Side

RESULTS = Path(__file__).parent / "results"
TABLES = ("crm_clients", "dispositions", "cards", "payment_cards", "web_visitors", "allies")


def same(name: str):
    """Spark's and DuckDB's value of a metric agree: both null, equal, or within 1e-6 relative."""
    s, d = F.col(f"s.{name}"), F.col(f"d.{name}")
    close = F.abs(s.cast("double") - d.cast("double")) <= 1e-6 * F.greatest(
        F.lit(1.0), F.abs(s.cast("double"))
    )
    return F.coalesce(s.cast("string").eqNullSafe(d.cast("string")) | close, F.lit(False))


def timed(run) -> tuple[float, float, object]:
    """Seconds, peak memory above the process tree's memory before the run, and its result."""
    baseline = tree_rss_mb(os.getpid())
    sampler = PeakMemory()
    sampler.start()
    began = time.perf_counter()
    value = run()
    seconds = time.perf_counter() - began
    sampler.done.set()
    return seconds, max(sampler.peak - baseline, 0.0), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=Path, default=Path(__file__).parent / "data" / "bank")
    parser.add_argument(
        "--date",
        type=date.fromisoformat,
        default=DEFAULT_START + timedelta(days=364),
        help="as-of date (default: the last day of the 365-day bank)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--duckdb-memory",
        default="12GB",
        help="DuckDB's memory_limit (it spills past it); Spark's driver keeps its own heap",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = LakeConfig.load(lake=str(args.bank))
    spark = build_spark(config, {"spark.master": f"local[{args.threads}]"})
    out = Path(tempfile.mkdtemp(prefix="offerlake-bench-model-"))
    stage = RunContext(config, Side.LAKE, date.today(), _spark=spark)
    as_of = args.date
    catalog = load_catalog(config.conf_dir)
    sources = sorted({f.source for f in catalog.families})
    scanned = sum(stage.read(f"stage/{t}").count() for t in sources)
    files = {t: stage.read(f"stage/{t}").inputFiles() for t in set(sources) | set(TABLES)}

    ctx = RunContext(config, Side.LAKE, as_of, _spark=spark)
    target = str(out / "spark_customer_360")

    def spark_run() -> int:
        frame = customer_360(ctx, catalog)
        with wide_rows(spark):
            frame.write.format("delta").mode("overwrite").save(target)
        return spark.read.format("delta").load(target).count()

    spark_s, spark_mb, customers = timed(spark_run)

    attributes = [
        c for c in stage.read("stage/crm_clients").columns if c not in (*LINEAGE, "client_id")
    ]
    sql = customer_360_sql(catalog, attributes, as_of)

    def duckdb_run() -> int:
        con = duckdb.connect()
        con.execute(f"SET threads = {args.threads}")
        con.execute(f"SET memory_limit = '{args.duckdb_memory}'")
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE MACRO spark_dayofweek(x) AS dayofweek(x) + 1")
        for table, paths in files.items():
            listed = ", ".join(f"'{p.removeprefix('file:')}'" for p in paths)
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM read_parquet([{listed}], "
                "hive_partitioning = true, union_by_name = true)"
            )
        con.execute(f"COPY ({sql}) TO '{out / 'duckdb_customer_360.parquet'}' (FORMAT parquet)")
        return con.execute(
            f"SELECT count(*) FROM '{out / 'duckdb_customer_360.parquet'}'"
        ).fetchone()[0]

    duck_s, duck_mb, duck_customers = timed(duckdb_run)

    # the same metrics? compare every metric of every customer (tolerance for float sums)
    spark_df = spark.read.format("delta").load(target)
    duck_df = spark.read.parquet(str(out / "duckdb_customer_360.parquet"))
    names = [m.name for m in catalog.metrics + catalog.derived]
    joined = spark_df.alias("s").join(duck_df.alias("d"), "client_id")
    differs = []
    for start in range(0, len(names), 200):
        chunk = names[start : start + 200]
        row = joined.agg(*[F.sum((~same(n)).cast("int")).alias(n) for n in chunk]).first()
        differs += [(n, row[n]) for n in chunk if row[n]]
    result = {
        "as_of": as_of.isoformat(),
        "customers": customers,
        "metrics": len(names),
        "rows_scanned": scanned,
        "spark_seconds": round(spark_s, 1),
        "spark_rows_per_second": round(scanned / spark_s),
        "spark_peak_mb": round(spark_mb),
        "duckdb_seconds": round(duck_s, 1),
        "duckdb_rows_per_second": round(scanned / duck_s),
        "duckdb_peak_mb": round(duck_mb),
        "duckdb_customers": duck_customers,
        "spark_over_duckdb": round(spark_s / duck_s, 2),
        "metrics_that_differ": dict(differs),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model.json").write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title=f"customer_360: {customers:,} customers x {len(names):,} metrics")
    for column in ("engine", "seconds", "rows scanned/s", "peak MB above start"):
        table.add_column(column)
    table.add_row(
        "Spark (jobs/model)", f"{spark_s:.1f}", f"{scanned / spark_s:,.0f}", f"{spark_mb:,.0f}"
    )
    table.add_row(
        "DuckDB (same SQL)", f"{duck_s:.1f}", f"{scanned / duck_s:,.0f}", f"{duck_mb:,.0f}"
    )
    Console().print(table)
    Console().print(f"metrics that differ between the engines: {len(differs)} {differs[:10]}")
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
