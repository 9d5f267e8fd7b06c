"""Customer preferences, in order: a chosen variant, topic opt-outs, a recent decline, a channel
the customer consented to and can be reached on; then the send time, moved (never dropped) out
of quiet hours and, unless a store visit set it off, onto a preferred day, in the customer's
time zone.

Each candidate gets `outcome`: null while still in, else the first rule that dropped it.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.match.policy import ContactPolicy

PREFERENCE_COLUMNS = [
    "country",
    "opt_in_email",
    "opt_in_sms",
    "opt_in_push",
    "preferred_days",
    "quiet_hours_start",
    "quiet_hours_end",
    "topics_opt_out",
]
CHANNEL_FLAGS = ("email", "sms", "push")


def _allowed(channel: Column) -> Column:
    """The customer opted in to the channel and can be reached on it."""
    test = None
    for name in CHANNEL_FLAGS:
        ok = F.coalesce(F.col(f"opt_in_{name}"), F.lit(False)) & F.coalesce(
            F.col(f"reach_{name}"), F.lit(False)
        )
        test = F.when(channel == name, ok) if test is None else test.when(channel == name, ok)
    return test.otherwise(F.lit(False))


def _minutes(hhmm: Column) -> Column:
    return F.substring(hhmm, 1, 2).cast("int") * 60 + F.substring(hhmm, 4, 2).cast("int")


def _out_of_quiet_hours(local: Column) -> Column:
    """The local time moved to the end of the customer's quiet hours if it falls inside them
    (hours that wrap midnight, 22:00-08:00, included)."""
    start, end = _minutes(F.col("quiet_hours_start")), _minutes(F.col("quiet_hours_end"))
    now = F.hour(local) * 60 + F.minute(local)
    wraps = start > end
    inside = F.when(wraps, (now >= start) | (now < end)).otherwise((now >= start) & (now < end))
    day = F.to_date(local)
    moved_day = F.when(wraps & (now >= start), F.date_add(day, 1)).otherwise(day)
    moved = F.make_timestamp(
        F.year(moved_day),
        F.month(moved_day),
        F.dayofmonth(moved_day),
        (end / 60).cast("int"),
        end % 60,
        F.lit(0),
    ).cast("timestamp")
    return F.when(start.isNotNull() & end.isNotNull() & inside, moved).otherwise(local)


def _on_a_preferred_day(local: Column) -> Column:
    """The local time moved forward by whole days to the first preferred weekday."""
    days = F.col("preferred_days")
    shift = F.filter(
        F.sequence(F.lit(0), F.lit(6)),
        lambda k: F.array_contains(
            days, F.lower(F.date_format(F.date_add(F.to_date(local), k), "EEE"))
        ),
    )[0]
    moved = local + F.make_interval(days=shift)
    return F.when(F.size(days) > 0, F.coalesce(moved, local)).otherwise(local)


def _zone(policy: ContactPolicy) -> Column:
    zones = F.create_map(*[F.lit(x) for kv in policy.time_zones.items() for x in kv])
    known = zones[F.col("country")] if policy.time_zones else F.lit(None).cast("string")
    return F.coalesce(known, F.lit(policy.default_time_zone))


def apply(candidates: DataFrame, day: date, policy: ContactPolicy) -> DataFrame:
    """candidates joined with their variant rows -> + channel, send_at, expires_at, outcome."""
    cooldown = F.col("declined_at").isNotNull()
    opted_out = F.coalesce(F.array_contains(F.col("topics_opt_out"), F.col("topic")), F.lit(False))
    channels = F.filter(F.col("channels"), _allowed)
    zone = _zone(policy)
    scheduled = F.make_timestamp(
        F.lit(day.year), F.lit(day.month), F.lit(day.day), "send_hour", "send_minute", F.lit(0)
    ).cast("timestamp")
    local = F.coalesce(F.from_utc_timestamp("trigger_at", zone), scheduled)
    quiet = _out_of_quiet_hours(local)
    # a visit's offer is for now: quiet hours may delay it, preferred days do not
    send_local = F.when(F.col("trigger_at").isNull(), _on_a_preferred_day(quiet)).otherwise(quiet)
    send_at = F.to_utc_timestamp(send_local, zone)
    expires = send_at + F.make_interval(days=F.col("expires_days"))
    last_valid = F.to_utc_timestamp(F.date_add("valid_to", 1).cast("timestamp"), zone)
    outcome = (
        F.when(F.col("variant").isNull(), "no_variant")
        .when(opted_out, "topic_opt_out")
        .when(cooldown, "declined_recently")
        .when(F.size(channels) == 0, "no_channel")
    )
    return candidates.select(
        "*",
        channels[0].alias("channel"),
        send_at.alias("send_at"),
        F.when(last_valid.isNotNull(), F.least(expires, last_valid))
        .otherwise(expires)
        .alias("expires_at"),
        outcome.alias("outcome"),
    )
