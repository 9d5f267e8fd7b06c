"""Stage `model`: lake/stage -> analytics/customer_360, segments and segment_profiles, as of D.

Reads stage only (a lake-side job: it never sees the vault). The catalog is loaded and checked
against the stage schemas first; then each source table is read once and compiled (see
`compile.py`); derived metrics are evaluated last. The table is partitioned by `as_of` and a
re-run for the same date replaces exactly that date's rows. Segments and CLV are computed from
the written customer_360 (see `segments.py`), their sizes and profiles printed and written.
"""

from __future__ import annotations

import logging
import time

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from rich.console import Console
from rich.table import Table

from jobs.model import compile as compiler
from jobs.model import quality
from jobs.model import segments as seg
from jobs.model.catalog import Catalog, load_catalog
from jobs.model.customers import keyed
from jobs.model.segments import SegmentSettings
from jobs.model.validate import validate
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.spark import wide_rows

log = logging.getLogger(__name__)

TABLE = "analytics/customer_360"
SEGMENTS = "analytics/segments"
PROFILES = "analytics/segment_profiles"
LINEAGE = ("_source_file", "_ingest_run", "_ingested_at")


# the CRM's date a customer became one (conf/sources/crm.yaml, required)
CUSTOMER_SINCE = "client_created_date"


def customers(ctx: RunContext) -> DataFrame:
    """The bank's customers (stage/crm_clients) with their CRM attributes, keyed `customer`.

    The gate of a date lets in only those who had joined by then (conf/privacy.yaml
    `not_before`: the exact date stays on-prem), so D re-run after a later date leaves out the
    customers who joined since once D is gated again, as the date's DAG run does. The join
    date reaches stage as its year (k-anonymity, null where suppressed): a customer of a later
    year is left out here too."""
    crm = ctx.read("stage/crm_clients").drop(*LINEAGE)
    if CUSTOMER_SINCE in crm.columns:
        since = F.col(CUSTOMER_SINCE)
        crm = crm.where(since.isNull() | (since <= F.lit(ctx.run_date)))
    return crm.withColumnRenamed("client_id", "customer")


def events(ctx: RunContext, catalog: Catalog, table: str) -> DataFrame:
    """A source's rows with `customer` (client token) and `_day` (event date, or D)."""
    source = catalog.sources[table]
    df = keyed(
        ctx.read(f"stage/{table}"), source.customer, source.via, lambda t: ctx.read(f"stage/{t}")
    )
    day = F.to_date(F.col(source.time)) if source.time else F.lit(ctx.run_date)
    if source.ally:
        df = with_ally(ctx, df, source.ally)
    return df.withColumn("_day", day)


def with_ally(ctx: RunContext, df: DataFrame, column: str) -> DataFrame:
    """df with `ally_id`: the partner store (stage/allies) whose merchant_name is `column`, or
    null. A merchant listed by two allies counts once, for the first ally_id."""
    if delta_io.is_delta(ctx.spark, ctx.path("stage/allies")):
        allies = ctx.read("stage/allies").where(F.col("merchant_name").isNotNull())
    else:
        allies = ctx.spark.createDataFrame([], "merchant_name string, ally_id string")
    merchants = allies.groupBy(F.col("merchant_name").alias("_merchant")).agg(
        F.min("ally_id").alias("ally_id")
    )
    match = df[column].cast("string") == F.col("_merchant")
    joined = df.join(F.broadcast(merchants), match, "left")
    return joined.drop("_merchant")


def source_schema(ctx: RunContext, catalog: Catalog, table: str) -> StructType:
    """The columns a source's metrics may use: the stage table's, and `ally_id` if it has one."""
    schema = ctx.read(f"stage/{table}").schema
    return schema.add("ally_id", "string") if catalog.sources[table].ally else schema


def customer_360(ctx: RunContext, catalog: Catalog) -> DataFrame:
    base = customers(ctx).withColumn("as_of", F.lit(ctx.run_date))
    used = sorted({f.source for f in catalog.families})
    schemas = {t: source_schema(ctx, catalog, t) for t in used}
    validate(ctx.spark, catalog, schemas, base.drop("as_of").schema)
    pairs = [compiler.source_pairs(catalog, t, events(ctx, catalog, t), ctx.run_date) for t in used]
    all_pairs = pairs[0]
    for frame in pairs[1:]:
        all_pairs = all_pairs.unionByName(frame)
    wide = compiler.wide(catalog.metrics, base, all_pairs)
    metrics = [m.name for m in catalog.metrics + catalog.derived]
    attributes = [c for c in base.columns if c not in ("customer", "as_of")]
    names = ["customer", "as_of", *attributes, *metrics]
    return compiler.with_derived(wide, catalog, names, {"customer": "client_id"})


def _as_of(ctx: RunContext) -> str:
    return f"as_of = DATE'{ctx.run_date.isoformat()}'"


def profile_table(profiles: DataFrame) -> Table:
    table = Table(title="segments")
    for column in ("kind", "segment", "customers", "share", "clv_avg"):
        table.add_column(column, justify="right" if column in ("customers", "share") else "left")
    for r in profiles.orderBy("kind", F.desc("customers"), "segment").collect():
        table.add_row(r.kind, r.segment, str(r.customers), f"{r.share:.1%}", f"{r.clv_avg:,.2f}")
    return table


def write_checked(
    ctx: RunContext, ref: str, frame: DataFrame, rows_read: int | None = None
) -> JobResult:
    """Write the run's date of `ref`, then its GX suite: a critical failure undoes the write."""
    path = ctx.path(ref)
    before = delta_io.version(ctx.spark, path)
    result = ctx.write(
        ref,
        frame,
        mode="replace_where",
        partition_by=["as_of"],
        replace_where=_as_of(ctx),
        rows_read=rows_read,
    )
    name = ref.split("/")[1]
    suite = quality.load_suite(ctx.config.conf_dir, name, customers(ctx).count())
    outcomes = quality.check(ctx, name, ctx.read(ref).where(_as_of(ctx)), suite)
    quality.record(ctx, name, outcomes)
    critical = [quality.describe(o) for o in outcomes if o.critical and not o.success]
    if critical:
        delta_io.undo(ctx.spark, path, before, _as_of(ctx))
        raise quality.DataQualityError(
            f"{ref} for {ctx.run_date} fails critical expectations (conf/quality.yaml): "
            + "; ".join(critical)
            + f"; the write was undone. Data Docs: {quality.data_docs(ctx)}"
        )
    failed = [quality.describe(o) for o in outcomes if not o.success]
    notes = (f"data quality warnings: {'; '.join(failed)}",) if failed else ()
    return JobResult(ref, result.rows_read, result.rows_written, feed="model", notes=notes)


def write_segments(ctx: RunContext) -> list[JobResult]:
    settings = SegmentSettings.load(ctx.config.conf_dir)
    c360 = ctx.read(TABLE).where(_as_of(ctx))
    frame, clustering = seg.segments(c360, settings)
    written = write_checked(ctx, SEGMENTS, frame)
    profiles = seg.profiles(ctx.read(SEGMENTS).where(_as_of(ctx)), c360, settings)
    profiled = ctx.write(
        PROFILES,
        profiles.withColumn("as_of", F.lit(ctx.run_date)),
        mode="replace_where",
        partition_by=["as_of"],
        replace_where=_as_of(ctx),
    )
    Console(stderr=True).print(profile_table(ctx.read(PROFILES).where(_as_of(ctx))))
    tried = ", ".join(f"{k}: {s:.3f}" for k, s in clustering.tried.items())
    chosen = (
        f"k-means k = {clustering.k} by silhouette {clustering.silhouette:.3f} ({tried})"
        if clustering.k
        else "k-means: too few distinct customers to cluster"
    )
    return [
        JobResult(
            SEGMENTS,
            written.rows_read,
            written.rows_written,
            feed="model",
            notes=(chosen, *written.notes),
        ),
        JobResult(PROFILES, profiled.rows_read, profiled.rows_written, feed="model"),
    ]


def run(ctx: RunContext) -> list[JobResult]:
    catalog = load_catalog(ctx.config.conf_dir)
    if not delta_io.is_delta(ctx.spark, ctx.path("stage/crm_clients")):
        log.warning("no stage/crm_clients yet: no customers to model")
        return [JobResult(TABLE, 0, 0, feed="model", notes=("no customers in stage yet",))]
    began = time.perf_counter()
    frame = customer_360(ctx, catalog)
    with wide_rows(ctx.spark):
        result = write_checked(ctx, TABLE, frame, ctx.read("stage/crm_clients").count())
    metrics = len(catalog.metrics) + len(catalog.derived)
    log.info(
        "%s: %d customers x %d metrics in %.1f s",
        TABLE,
        result.rows_written,
        metrics,
        time.perf_counter() - began,
    )
    model = JobResult(
        TABLE,
        result.rows_read,
        result.rows_written,
        feed="model",
        notes=(f"{metrics} metrics", *result.notes),
    )
    return [model, *write_segments(ctx)]
