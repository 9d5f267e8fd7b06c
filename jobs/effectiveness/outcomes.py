"""Which exposures worked. An exposure is a notification that went out (group `treatment`) or
a holdout the matching job kept back (group `control`, never sent): the same rule is applied
to both, so the control shows what would have happened anyway.

- An offer with an ally is effective when the customer pays by card at that ally (same
  merchant name or same MCC) within the window after the send time, both ends included.
- Any other offer converts when the customer accepts it (offer_responses, event `accepted`,
  offer_id = the campaign) within the conversion window.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

EXPOSURE_COLUMNS = [
    "run_id", "client_id", "campaign", "variant", "channel", "ally_id", "sent_at", "status",
    "group",
]  # fmt: skip


def exposures(notifications: DataFrame, holdouts: DataFrame) -> DataFrame:
    """Notifications (treatment) and holdouts (control) in one frame."""
    treated = notifications.withColumn("group", F.lit("treatment"))
    control = holdouts.select(
        "run_id", "client_id", "campaign", "variant", "channel", "ally_id",
        F.col("send_at").alias("sent_at"), F.lit("holdout").alias("status"),
        F.lit("control").alias("group"),
    )  # fmt: skip
    return treated.select(*EXPOSURE_COLUMNS).unionByName(control)


def _first(matches: DataFrame, at: str) -> DataFrame:
    """The first matching event per exposure."""
    order = Window.partitionBy("run_id", "client_id", "campaign", "channel", "group").orderBy(
        F.col(at), F.col("_tiebreak")
    )
    return matches.withColumn("_n", F.row_number().over(order)).where("_n = 1").drop("_n")


def purchases_at_allies(
    exposed: DataFrame, allies: DataFrame, purchases: DataFrame, window_minutes: float
) -> DataFrame:
    """Exposures with an ally that a card purchase followed within the window: + effective_at,
    amount, matched_on (`merchant` or `mcc`)."""
    geo = exposed.where(F.col("ally_id").isNotNull() & F.col("sent_at").isNotNull()).join(
        F.broadcast(
            allies.select(
                "ally_id",
                F.lower(F.col("merchant_name")).alias("ally_merchant"),
                F.col("mcc").alias("ally_mcc"),
            )
        ),
        "ally_id",
    )
    p = purchases.select(
        F.col("customer").alias("client_id"),
        F.col("ts").alias("effective_at"),
        "amount",
        F.lower(F.col("merchant_name")).alias("merchant"),
        F.col("mcc").alias("p_mcc"),
    )
    seconds = F.unix_timestamp("effective_at") - F.unix_timestamp("sent_at")
    by_merchant = F.col("merchant").isNotNull() & (F.col("merchant") == F.col("ally_merchant"))
    by_mcc = F.col("p_mcc").isNotNull() & (F.col("p_mcc") == F.col("ally_mcc"))
    matched = geo.join(p, "client_id").where(
        (seconds >= 0) & (seconds <= F.lit(window_minutes * 60)) & (by_merchant | by_mcc)
    )
    matched = matched.select(
        *EXPOSURE_COLUMNS,
        "effective_at",
        "amount",
        F.when(by_merchant, "merchant").otherwise("mcc").alias("matched_on"),
        F.col("amount").alias("_tiebreak"),
    )
    return _first(matched, "effective_at").drop("_tiebreak")


def acceptances(exposed: DataFrame, responses: DataFrame, conversion_days: int) -> DataFrame:
    """Exposures without an ally that the customer accepted within the conversion window."""
    plain = exposed.where(F.col("ally_id").isNull() & F.col("sent_at").isNotNull())
    accepted = responses.where(F.col("event") == "accepted").select(
        "client_id", F.col("offer_id").alias("campaign"), F.col("ts").alias("effective_at")
    )
    days = F.unix_timestamp("effective_at") - F.unix_timestamp("sent_at")
    matched = plain.join(accepted, ["client_id", "campaign"]).where(
        (days >= 0) & (days <= F.lit(conversion_days * 86400))
    )
    matched = matched.select(
        *EXPOSURE_COLUMNS,
        "effective_at",
        F.lit(None).cast("double").alias("amount"),
        F.lit("accepted").alias("matched_on"),
        F.lit(0).alias("_tiebreak"),
    )
    return _first(matched, "effective_at").drop("_tiebreak")


def with_outcome(exposed: DataFrame, effective: DataFrame) -> DataFrame:
    """Every exposure with `effective` (boolean)."""
    keys = ["run_id", "client_id", "campaign", "channel", "group"]
    hits = effective.select(*keys, F.lit(True).alias("effective"))
    return exposed.join(hits, keys, "left").fillna(False, ["effective"])
