"""The closing summary of `offerlake pipeline` (and so of `make demo`): rows per lake table,
offers per channel, effective rate per campaign, the leak scan's verdict."""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from rich.table import Table

from jobs.catalog.tables import ZONES
from jobs.effectiveness.kpis import rolled_up
from jobs.effectiveness.settings import EffectivenessSettings
from jobs.runtime import delta_io
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Side


def table_rows(ctx: RunContext) -> Table:
    table = Table(title="lake tables (tokens only)")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for zone in ZONES:
        root = ctx.zone_path(zone)
        for name in delta_io.list_tables(ctx.spark, root):
            rows = delta_io.read_delta(ctx.spark, f"{root}/{name}").count()
            table.add_row(f"{zone.value}/{name}", f"{rows:,}")
    return table


def offers_per_channel(ctx: RunContext) -> Table:
    """Offers per channel of the run's date, or of the latest day before it that made offers
    (a measuring run, which makes none, shows the offers it measures)."""
    offers = _read(ctx, "analytics/deliverable_offers")
    day = None
    if offers is not None:
        offers = offers.withColumn("_day", F.to_date("send_at"))
        day = offers.where(F.col("_day") <= F.lit(ctx.run_date)).agg(F.max("_day")).first()[0]
    table = Table(title=f"offers of {day or ctx.run_date} per channel")
    for column, right in (("channel", False), ("offers", True), ("held out", True)):
        table.add_column(column, justify="right" if right else "left")
    if day is not None:
        counts = (
            offers.where(F.col("_day") == F.lit(day))
            .groupBy("channel")
            .agg(
                F.sum(F.when(~F.col("holdout"), 1).otherwise(0)).alias("offers"),
                F.sum(F.when(F.col("holdout"), 1).otherwise(0)).alias("held_out"),
            )
        )
        for r in counts.orderBy("channel").collect():
            table.add_row(r.channel or "(holdout)", f"{r.offers:,}", f"{r.held_out:,}")
    return table


def effectiveness(ctx: RunContext) -> Table:
    table = Table(title=f"effectiveness as of {ctx.run_date}")
    for column in ("campaign", "delivered", "effective", "effective rate", "holdouts", "lift"):
        table.add_column(column, justify="left" if column == "campaign" else "right")
    kpis = _read(ctx, "analytics/kpis")
    if kpis is not None:
        confidence = EffectivenessSettings.load(ctx.config.conf_dir).confidence
        for r in rolled_up(kpis, ["campaign"], confidence).orderBy("campaign").collect():
            table.add_row(
                r.campaign,
                f"{r.delivered:,}",
                f"{r.effective:,}",
                _pct(r.effective_rate),
                f"{r.holdouts:,}",
                _pct(r.lift, signed=True),
            )
    return table


def summary(config: LakeConfig, day: date, spark: SparkSession) -> list[Table]:
    ctx = RunContext(config, Side.LAKE, day, _spark=spark)
    return [table_rows(ctx), offers_per_channel(ctx), effectiveness(ctx)]


def _read(ctx: RunContext, ref: str):
    path = ctx.path(ref)
    return ctx.read(ref) if delta_io.is_delta(ctx.spark, path) else None


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.1f} pp" if signed else f"{value:.1%}"
