"""Contact policy, arbitration and holdout over the candidates that passed the preferences.

1. campaign cap: `cap N per M days` counts the campaign's offers delivered to the customer in
   the M days up to D (earlier runs; holdout records are never delivered and do not count);
2. arbitration: each customer's candidates in order of priority (high first), expected value
   (high first) and a deterministic tie-break (a hash of token and campaign); a left fold
   (Spark's `aggregate`) takes them one by one while the per-run, per-week and per-channel
   caps of conf/contact_policy.yaml allow; the rest get the cap that stopped them;
3. holdout: of the selected, a deterministic share per campaign (hash of token and campaign
   below the campaign's holdout) is kept as control: `holdout = true`, never delivered.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.match.policy import ContactPolicy

SELECTED = "selected"
BUCKETS = 10_000


def bucket(campaign: Column | str) -> Column:
    """0..9999, fixed for a (token, campaign) pair: the same customer is control every run."""
    return F.pmod(F.xxhash64("client_id", campaign), F.lit(BUCKETS))


def prior_counts(
    prior: DataFrame | None, day: date, spark, running: list[str] = ()
) -> tuple[DataFrame, DataFrame]:
    """From the delivered (non-holdout) offers of earlier runs, and of the same day's other
    campaigns when only some campaigns run (`running`): per customer the week's count and
    per-channel counts; per customer and campaign the run dates (for campaign caps)."""
    schema = "client_id string, campaign string, channel string, run_date date"
    if prior is None:
        prior = spark.createDataFrame([], schema)
    else:
        earlier = F.col("run_date") < F.lit(day)
        if running:
            same_day = (F.col("run_date") == F.lit(day)) & ~F.col("campaign").isin(*running)
            earlier = earlier | same_day
        prior = prior.where(~F.col("holdout") & earlier).select(
            "client_id", "campaign", "channel", "run_date"
        )
    week = prior.where(F.col("run_date") > F.lit(day - timedelta(days=7)))
    per_customer = week.groupBy("client_id").agg(
        F.count("*").alias("prior_week"),
        *[F.sum((F.col("channel") == c).cast("int")).alias(f"prior_{c}") for c in CHANNELS],
    )
    return per_customer, prior


CHANNELS = ("push", "email", "sms")


def _campaign_caps(cands: DataFrame, prior: DataFrame, day: date) -> DataFrame:
    """+ `capped`: the campaign already reached its `cap N per M days` for the customer."""
    counted = (
        cands.where(F.col("cap_offers").isNotNull())
        .select("client_id", "campaign", "cap_offers", "cap_days")
        .join(prior.select("client_id", "campaign", "run_date"), ["client_id", "campaign"])
        .where(F.col("run_date") > F.date_sub(F.lit(day), F.col("cap_days")))
        .groupBy("client_id", "campaign")
        .agg(F.count("*").alias("_prior_campaign"))
    )
    return cands.join(counted, ["client_id", "campaign"], "left").withColumn(
        "capped", F.coalesce(F.col("_prior_campaign") >= F.col("cap_offers"), F.lit(False))
    )


def _fold(policy: ContactPolicy) -> tuple[Column, callable]:
    caps = policy.channel_caps_per_week

    def used(acc: Column, channel: Column) -> Column:
        return (
            F.when(channel == "push", acc["push"])
            .when(channel == "email", acc["email"])
            .otherwise(acc["sms"])
        )

    def cap_of(channel: Column) -> Column:
        out = F.lit(None).cast("int")
        for name, cap in caps.items():
            out = F.when(channel == name, F.lit(cap)).otherwise(out)
        return out

    def step(acc: Column, x: Column) -> Column:
        channel = x["channel"]
        prior_channel = (
            F.when(channel == "push", x["prior_push"])
            .when(channel == "email", x["prior_email"])
            .otherwise(x["prior_sms"])
        )
        cap = cap_of(channel)
        decision = (
            F.when(x["capped"], F.lit("campaign_cap"))
            .when(acc["n"] >= policy.max_offers_per_customer_per_run, F.lit("customer_run_cap"))
            .when(
                acc["n"] + x["prior_week"] >= policy.max_offers_per_customer_per_week,
                F.lit("customer_week_cap"),
            )
            .when(
                cap.isNotNull() & (used(acc, channel) + prior_channel >= cap), F.lit("channel_cap")
            )
            .otherwise(F.lit(SELECTED))
        )
        taken = (decision == SELECTED).cast("int")
        return F.struct(
            (acc["n"] + taken).alias("n"),
            *[(acc[c] + F.when(channel == c, taken).otherwise(0)).alias(c) for c in CHANNELS],
            F.concat(acc["out"], F.array(decision)).alias("out"),
        )

    start = F.struct(
        F.lit(0).alias("n"),
        *[F.lit(0).alias(c) for c in CHANNELS],
        F.array().cast("array<string>").alias("out"),
    )
    return start, step


def arbitrate(
    cands: DataFrame, per_customer: DataFrame, prior: DataFrame, day: date, policy: ContactPolicy
) -> DataFrame:
    """Candidates still in (outcome null) -> outcome `selected` or the cap that stopped them;
    + `holdout` for the selected."""
    cands = _campaign_caps(cands, prior, day).join(per_customer, "client_id", "left")
    cands = cands.fillna(0, ["prior_week", *[f"prior_{c}" for c in CHANNELS]])
    columns = cands.columns
    ordered = F.struct(
        (-F.col("priority")).alias("_k1"),
        (-F.col("expected_value")).alias("_k2"),
        bucket("campaign").alias("_k3"),
        F.col("campaign").alias("_k4"),
        F.struct(*columns).alias("row"),
    )
    per = cands.groupBy("client_id").agg(F.array_sort(F.collect_list(ordered)).alias("_rows"))
    start, step = _fold(policy)
    decided = per.select(
        F.col("_rows.row").alias("_r"), F.aggregate("_rows.row", start, step)["out"].alias("_o")
    ).select(
        F.explode(
            F.transform("_r", lambda x, i: F.struct(x.alias("row"), F.col("_o")[i].alias("o")))
        ).alias("_z")
    )
    kept = [F.col(f"_z.row.{c}").alias(c) for c in columns if c != "outcome"]
    out = decided.select(*kept, F.col("_z.o").alias("outcome"))
    holdout = (F.col("outcome") == SELECTED) & (
        bucket("campaign") < F.round(F.col("holdout") * BUCKETS)
    )
    return out.withColumn("holdout", holdout)
