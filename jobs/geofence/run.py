"""Stage `geofence`: stage/location_pings x ally geofences -> analytics/geo_events for day D.

Reads stage only (a lake-side job). Day D's pings, with the day before for context (the ping
before the first one of D, a visit that began before midnight), are screened (pings.py),
joined with the allies' geofences (stage/allies and conf/allies.yaml, allies.py) by Sedona
(visits.py), gathered into visits, and the visits that pass the offer window, the cooldown and
the daily cap become events (events.py). Pings and fences that cannot be used go to
analytics/geo_rejects with their reason. Both tables are partitioned by `event_date`; a re-run
for D replaces D's rows.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.geofence import allies
from jobs.geofence.events import OUTCOMES, fire
from jobs.geofence.fences import ATTRIBUTES, fences
from jobs.geofence.pings import screen
from jobs.geofence.settings import GeofenceSettings
from jobs.geofence.visits import hits, visits
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext

log = logging.getLogger(__name__)

EVENTS = "analytics/geo_events"
REJECTS = "analytics/geo_rejects"
NEEDS = ("location_pings", "crm_clients")


def _counts(frame: DataFrame, column: str) -> dict[str, int]:
    return {r[0]: r[1] for r in frame.groupBy(column).count().collect()}


def _day(ctx: RunContext) -> str:
    return f"event_date = DATE'{ctx.run_date.isoformat()}'"


def events_of(outcomes: DataFrame, ctx: RunContext) -> DataFrame:
    return outcomes.where(F.col("outcome") == "fired").select(
        F.lit(ctx.run_date).alias("event_date"),
        "client_id",
        *ATTRIBUTES,
        "kind",
        "entered_at",
        "left_at",
        "dwell_seconds",
        "pings",
        F.expr("ST_AsText(ST_Point(ping_lon, ping_lat))").alias("ping"),
        "ping_lat",
        "ping_lon",
        "distance_m",
    )


def rejects_of(screened: DataFrame, bad_fences: DataFrame, ctx: RunContext) -> DataFrame:
    pings = screened.where(F.col("reason").isNotNull()).select(
        F.lit("ping").alias("kind"),
        "client_id",
        "ts",
        F.lit(None).cast("string").alias("ally_id"),
        "reason",
    )
    allies = bad_fences.select(
        F.lit("fence").alias("kind"),
        F.lit(None).cast("string").alias("client_id"),
        F.lit(None).cast("timestamp").alias("ts"),
        "ally_id",
        "reason",
    )
    return pings.unionByName(allies).withColumn("event_date", F.lit(ctx.run_date))


def run(ctx: RunContext) -> list[JobResult]:
    settings = GeofenceSettings.load(ctx.config.conf_dir)
    missing = [t for t in NEEDS if not delta_io.is_delta(ctx.spark, ctx.path(f"stage/{t}"))]
    if missing:
        log.warning("no stage/%s yet: no geofencing", ", stage/".join(missing))
        note = f"no stage/{', stage/'.join(missing)} yet"
        return [JobResult(EVENTS, 0, 0, feed="geofence", notes=(note,))]
    day = ctx.run_date
    good, bad_fences = fences(allies.of_lake(ctx))
    good = good.persist()
    fence_kinds = _counts(good, "kind")
    repaired = good.where("repaired").count()
    broadcast = sum(fence_kinds.values()) <= settings.broadcast_max_fences

    start = datetime.combine(day - timedelta(days=1), time())
    end = datetime.combine(day + timedelta(days=1), time())
    pings = ctx.read("stage/location_pings").where(
        (F.col("ts") >= F.lit(start)) & (F.col("ts") < F.lit(end))
    )
    screened = screen(pings, ctx.read("stage/crm_clients"), settings).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    todays = screened.where(F.to_date("ts") == F.lit(day))
    reasons = _counts(todays.withColumn("r", F.coalesce("reason", F.lit("used"))), "r")

    found = hits(screened.where(F.col("reason").isNull()), good, broadcast)
    earlier = ctx.read(EVENTS) if delta_io.is_delta(ctx.spark, ctx.path(EVENTS)) else None
    outcomes = fire(visits(found, settings), earlier, day, settings).persist()
    by_outcome = _counts(outcomes, "outcome")
    written = ctx.write(
        EVENTS,
        events_of(outcomes, ctx),
        mode="replace_where",
        partition_by=["event_date"],
        replace_where=_day(ctx),
    )
    rejected = ctx.write(
        REJECTS,
        rejects_of(todays, bad_fences, ctx),
        mode="replace_where",
        partition_by=["event_date"],
        replace_where=_day(ctx),
    )
    for frame in (good, screened, outcomes):
        frame.unpersist()

    visits_seen = sum(by_outcome.values())
    fence_note = (
        f"{fence_kinds.get('circle', 0)} circles, {fence_kinds.get('polygon', 0)} polygons "
        f"({repaired} repaired), {'broadcast' if broadcast else 'partitioned'} join"
    )
    outcome_note = "visits: " + ", ".join(f"{o} {by_outcome.get(o, 0)}" for o in OUTCOMES)
    ping_note = "pings of the day: " + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items()))
    log.info("%s: %d events of %d visits", EVENTS, written.rows_written, visits_seen)
    return [
        JobResult(
            EVENTS,
            visits_seen,
            written.rows_written,
            rows_withheld=visits_seen - written.rows_written,
            feed="geofence",
            notes=(fence_note, outcome_note),
        ),
        JobResult(
            REJECTS,
            rejected.rows_written,
            rejected.rows_written,
            feed="geofence",
            notes=(ping_note,),
        ),
    ]
