"""Screen stage pings before the join: each gets a `reason` it is not used, or null.

In order, the first that applies: no_customer, no_consent (the customer did not opt in to
location in the CRM: the gate has already left their coordinates out of stage),
invalid_coordinates (null or out of range), duplicate_ping (same customer and time as an earlier
row: the first is kept), inaccurate (accuracy worse than
`max_accuracy_m`), spoofed (reached from the customer's previous ping faster than
`max_speed_kmh` and left as fast towards the next one: a jump the track comes back from).
Pings arrive in any order; they are ordered by time per customer here.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.geofence.settings import GeofenceSettings

COLUMNS = ("client_id", "ts", "lat", "lon", "accuracy")


def screen(pings: DataFrame, customers: DataFrame, settings: GeofenceSettings) -> DataFrame:
    """Pings (client_id, ts, lat, lon, accuracy) with `reason` (null: usable) and `seq`, the
    ping's position in its customer's time-ordered track (screened-out pings have none)."""
    consent = customers.select(
        "client_id", F.coalesce(F.col("opt_in_location"), F.lit(False)).alias("_consent")
    )
    rows = pings.select(*COLUMNS).join(consent, "client_id", "left")
    same = Window.partitionBy("client_id", "ts").orderBy("lat", "lon", "accuracy")
    rows = rows.withColumn("_copy", F.row_number().over(same))
    reason = (
        F.when(F.col("client_id").isNull() | F.col("ts").isNull(), F.lit("no_customer"))
        .when(~F.coalesce(F.col("_consent"), F.lit(False)), F.lit("no_consent"))
        .when(
            F.col("lat").isNull()
            | F.col("lon").isNull()
            | ~F.col("lat").between(-90, 90)
            | ~F.col("lon").between(-180, 180),
            F.lit("invalid_coordinates"),
        )
        .when(F.col("_copy") > 1, F.lit("duplicate_ping"))
        .when(F.col("accuracy") > settings.max_accuracy_m, F.lit("inaccurate"))
    )
    rows = rows.withColumn("reason", reason)
    track = Window.partitionBy("client_id").orderBy("ts")
    ok = rows.where(F.col("reason").isNull())
    epoch = F.col("ts").cast("double")
    ok = (
        ok.withColumn("_plat", F.lag("lat").over(track))
        .withColumn("_plon", F.lag("lon").over(track))
        .withColumn("_pts", F.lag(epoch).over(track))
        .withColumn("_nlat", F.lead("lat").over(track))
        .withColumn("_nlon", F.lead("lon").over(track))
        .withColumn("_nts", F.lead(epoch).over(track))
    )
    speed_in = (
        F.expr("ST_DistanceSphere(ST_Point(lon, lat), ST_Point(_plon, _plat))")
        / (epoch - F.col("_pts"))
        * 3.6
    )
    speed_out = (
        F.expr("ST_DistanceSphere(ST_Point(lon, lat), ST_Point(_nlon, _nlat))")
        / (F.col("_nts") - epoch)
        * 3.6
    )
    fast = F.col("_pts").isNotNull() & (speed_in > settings.max_speed_kmh)
    back = F.col("_nts").isNotNull() & (speed_out > settings.max_speed_kmh)
    ok = ok.withColumn("reason", F.when(fast & back, F.lit("spoofed")))
    spoofed = ok.where(F.col("reason").isNotNull())
    used = ok.where(F.col("reason").isNull()).withColumn("seq", F.row_number().over(track))
    keep = [*COLUMNS, "reason", "seq"]
    unused = rows.where(F.col("reason").isNotNull()).unionByName(spoofed, allowMissingColumns=True)
    return used.select(*keep).unionByName(
        unused.withColumn("seq", F.lit(None).cast("int")).select(*keep)
    )
