"""Analysts' queries over the lake, in SQL that Spark, DuckDB and Trino run alike.

Tables are views named `<zone>_<table>` (e.g. `analytics_kpis`, `stage_allies`): Spark makes
them from the Delta tables (`spark_views`), DuckDB from its delta extension
(jobs/catalog/duckdb_lake.py). In Trino they are the tables `lake/catalog/trino.sql` registers
(`delta.analytics.kpis`), which `for_trino` names instead.
"""

from __future__ import annotations

import re

from pyspark.sql import DataFrame, SparkSession

from jobs.catalog.analyst_sql import checked
from jobs.catalog.tables import ZONES
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext

QUERIES = {
    "effective_rate": """
        SELECT campaign,
               SUM(delivered) AS delivered,
               SUM(effective) AS effective,
               CAST(SUM(effective) AS DOUBLE) / NULLIF(SUM(delivered), 0) AS effective_rate
        FROM analytics_kpis
        GROUP BY campaign
        ORDER BY campaign""",
    "segment_sizes": """
        SELECT rule_segment AS segment, COUNT(*) AS customers, ROUND(AVG(clv), 2) AS clv_avg
        FROM analytics_segments
        GROUP BY rule_segment
        ORDER BY customers DESC, segment""",
    "top_allies": """
        SELECT e.ally_id, a.name, a.category, COUNT(*) AS effective,
               ROUND(SUM(e.amount), 2) AS amount
        FROM analytics_effective_notifications e
        JOIN stage_allies a ON a.ally_id = e.ally_id
        GROUP BY e.ally_id, a.name, a.category
        ORDER BY effective DESC, e.ally_id
        LIMIT 10""",
}


def view_name(zone: str, table: str) -> str:
    return f"{zone}_{table}"


def for_trino(sql: str, catalog: str, schemas: dict[str, str]) -> str:
    """A query with its `<zone>_<table>` views named as Trino's tables (`catalog.schema."t"`)."""
    zones = "|".join(re.escape(z) for z in schemas)
    return re.sub(
        rf"\b({zones})_(\w+)\b",
        lambda m: f'{catalog}.{schemas[m.group(1)]}."{m.group(2)}"',
        sql,
    )


def spark_views(ctx: RunContext, session: SparkSession | None = None) -> SparkSession:
    """Every stage and analytics table as a temporary view of `session` (ctx's by default)."""
    session = session or ctx.spark
    for zone in ZONES:
        root = ctx.zone_path(zone)
        for name in delta_io.list_tables(ctx.spark, root):
            table = delta_io.read_delta(session, ctx.path(f"{zone.value}/{name}"))
            table.createOrReplaceTempView(view_name(zone.value, name))
    return session


def spark_query(ctx: RunContext, sql: str) -> DataFrame:
    """An analyst's SQL over the views, checked first (jobs/catalog/analyst_sql.py), in a
    session of its own that runs no SQL on paths (`delta.`/...``, `parquet.`/...``): the
    second wall."""
    session = ctx.spark.newSession()
    session.conf.set("spark.sql.runSQLOnFiles", "false")
    spark_views(ctx, session)
    views = {t.name for t in session.catalog.listTables() if t.isTemporary}
    return session.sql(checked(sql, views, "spark"))
