"""Which visits of day D become geo events, and why the others do not (`outcome`).

In order: `offer_not_live` (the ally has no offer, or it is not valid on the visit's date),
`cooldown` (the customer had an event for the same ally less than `cooldown_hours` before,
earlier that day or in a previous run), `daily_cap` (the customer already has
`max_events_per_customer_per_day` events that day). The cooldown is a left fold over each
customer and ally's visits in time order (Spark's `aggregate` on the sorted entry times), so
a visit held back by the cooldown does not start a cooldown of its own.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.geofence.settings import GeofenceSettings

OUTCOMES = ("fired", "offer_not_live", "cooldown", "daily_cap")


def _live() -> F.Column:
    day = F.to_date("entered_at")
    return (
        F.col("offer_id").isNotNull()
        & (F.col("offer_valid_from").isNull() | (day >= F.col("offer_valid_from")))
        & (F.col("offer_valid_to").isNull() | (day <= F.col("offer_valid_to")))
    )


def last_events(
    earlier: DataFrame | None, day: date, settings: GeofenceSettings
) -> DataFrame | None:
    """(client_id, ally_id, _last) from events before D that may still hold a cooldown on D."""
    if earlier is None:
        return None
    start = datetime.combine(day, time()) - timedelta(hours=settings.cooldown_hours)
    return (
        earlier.where((F.col("event_date") < F.lit(day)) & (F.col("entered_at") >= F.lit(start)))
        .groupBy("client_id", "ally_id")
        .agg(F.max(F.col("entered_at").cast("long")).alias("_last"))
    )


def fire(
    visits: DataFrame, earlier: DataFrame | None, day: date, settings: GeofenceSettings
) -> DataFrame:
    """Day D's visits with `outcome` (one of OUTCOMES)."""
    todays = visits.where(F.to_date("entered_at") == F.lit(day))
    live = todays.where(_live())
    cooldown = int(settings.cooldown_hours * 3600)
    times = live.groupBy("client_id", "ally_id").agg(
        F.array_sort(F.collect_list(F.col("entered_at").cast("long"))).alias("_times")
    )
    prior = last_events(earlier, day, settings)
    if prior is not None:
        times = times.join(prior, ["client_id", "ally_id"], "left")
    else:
        times = times.withColumn("_last", F.lit(None).cast("long"))
    start = F.struct(F.col("_last").alias("last"), F.array().cast("array<long>").alias("fired"))

    def step(acc, t):
        free = acc["last"].isNull() | (t >= acc["last"] + cooldown)
        return F.when(
            free, F.struct(t.alias("last"), F.array_append(acc["fired"], t).alias("fired"))
        ).otherwise(acc)

    fired = times.select(
        "client_id",
        "ally_id",
        F.explode(F.aggregate("_times", start, step)["fired"]).alias("_t"),
    ).withColumn("_free", F.lit(True))
    marked = todays.join(
        fired,
        (todays.client_id == fired.client_id)
        & (todays.ally_id == fired.ally_id)
        & (todays.entered_at.cast("long") == fired._t),
        "left",
    ).select(todays["*"], fired["_free"])
    per_day = Window.partitionBy("client_id").orderBy(
        F.col("_free").desc_nulls_last(), "entered_at", "ally_id"
    )
    rank = F.row_number().over(per_day)
    outcome = (
        F.when(~_live(), F.lit("offer_not_live"))
        .when(F.col("_free").isNull(), F.lit("cooldown"))
        .when(rank > settings.max_events_per_customer_per_day, F.lit("daily_cap"))
        .otherwise(F.lit("fired"))
    )
    return marked.withColumn("outcome", outcome).drop("_free")
