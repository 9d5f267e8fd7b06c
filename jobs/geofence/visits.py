"""Pings x geofences with Sedona, then consecutive pings inside one fence -> one visit.

Polygons: ST_Intersects(fence, ping) (a ping on the edge is inside). Circles: the ping's WGS84
spheroid distance to the store in metres (ST_DistanceSpheroid, as ST_DWithin's useSpheroid) is
at most radius_m. One join does both: each fence's search area (the polygon, or a box around
the circle) is indexed. With few fences the fences are broadcast (BroadcastIndexJoin); with
many, both sides are spatially partitioned (RangeJoin). A visit is a run of a customer's
consecutive usable pings inside the same fence, cut where two of them are more than
`visit_gap_minutes` apart.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.geofence.fences import ATTRIBUTES
from jobs.geofence.settings import GeofenceSettings

COLUMNS = ("client_id", "seq", "ts", "lat", "lon", *ATTRIBUTES, "kind", "centre_lon", "centre_lat")


def hits(pings: DataFrame, fences: DataFrame, broadcast: bool) -> DataFrame:
    """(client_id, seq, ts, lat, lon, ally..., kind, centre_lon, centre_lat) for every ping
    inside a fence.

    `pings` are the usable ones (client_id, ts, lat, lon, seq). One spatial join over all
    fences (pings are read once): ST_Intersects with each fence's search area, then circles
    keep the pings within their radius. Distances are left to `visits`, which measures only
    each visit's first ping."""
    p = (
        pings.select("client_id", "seq", "ts", "lat", "lon")
        .withColumn("pt", F.expr("ST_Point(lon, lat)"))
        .alias("p")
    )
    f = fences.alias("f")
    joined = p.join(F.broadcast(f) if broadcast else f, F.expr("ST_Intersects(f.search, p.pt)"))
    near = F.expr("ST_DistanceSpheroid(p.pt, f.centre)") <= F.col("radius_m")
    inside = joined.where((F.col("kind") == "polygon") | near)
    return inside.select(*COLUMNS)


def visits(found: DataFrame, settings: GeofenceSettings) -> DataFrame:
    """One row per visit: the customer, the ally and its offer, entered_at, left_at,
    dwell_seconds, pings, and the first ping inside (ping_lat, ping_lon, distance_m: metres on
    the WGS84 spheroid to the store, or to the polygon's centroid)."""
    order = Window.partitionBy("client_id", "ally_id").orderBy("seq")
    gap = settings.visit_gap_minutes * 60
    epoch = F.col("ts").cast("double")
    starts = (
        F.lag("seq").over(order).isNull()
        | (F.col("seq") != F.lag("seq").over(order) + 1)
        | (epoch - F.lag(epoch).over(order) > gap)
    )
    numbered = found.withColumn("_start", starts.cast("int")).withColumn(
        "_visit", F.sum("_start").over(order)
    )
    first = F.min_by(F.struct("lat", "lon"), F.col("seq"))
    keys = ("client_id", *ATTRIBUTES, "kind", "centre_lon", "centre_lat", "_visit")
    grouped = numbered.groupBy(*keys).agg(
        F.min("ts").alias("entered_at"),
        F.max("ts").alias("left_at"),
        F.count("*").alias("pings"),
        first.alias("_first"),
    )
    return grouped.select(
        "client_id",
        *ATTRIBUTES,
        "kind",
        "entered_at",
        "left_at",
        (F.col("left_at").cast("long") - F.col("entered_at").cast("long")).alias("dwell_seconds"),
        "pings",
        F.col("_first.lat").alias("ping_lat"),
        F.col("_first.lon").alias("ping_lon"),
        F.expr(
            "ST_DistanceSpheroid(ST_Point(_first.lon, _first.lat), "
            "ST_Point(centre_lon, centre_lat))"
        ).alias("distance_m"),
    )
