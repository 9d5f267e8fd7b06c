"""Stage `match`: the campaigns due on D x customer_360 -> analytics/deliverable_offers.

Reads lake tables only: customer_360 and segments (the latest as-of up to D), the day's
geo_events (geo-triggered campaigns), stage/offer_responses (follow-ups, declines),
stage/contact_reachability (may e-mail / SMS reach the customer: flags, never contacts) and
stage/location_pings (a device for push). Campaigns that fail the checker are logged and left
out; the valid ones run. In order: one pass over the customers (candidates.py), preferences
(preferences.py), contact policy, arbitration and holdout (arbitrate.py).

Writes, partitioned by `run_date` (a re-run for D replaces D's rows):
- analytics/deliverable_offers: the selected offers, holdout ones included (`holdout = true`);
- analytics/offer_candidates: every candidate with its `outcome` (selected or why not).
"""

from __future__ import annotations

import logging
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from dsl.ast import Campaign
from dsl.program import Program, campaign_files, load_program
from dsl.vocabulary import Vocabulary
from jobs.match import arbitrate, preferences
from jobs.match.campaigns import due, follow_ups, variant_rows
from jobs.match.candidates import NAMES, candidates, geo_triggers, response_facts, used_names
from jobs.match.policy import ContactPolicy
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext

log = logging.getLogger(__name__)

DELIVERABLE = "analytics/deliverable_offers"
CANDIDATES = "analytics/offer_candidates"
PREFERENCE_TYPES = {
    "country": "string",
    "opt_in_email": "boolean",
    "opt_in_sms": "boolean",
    "opt_in_push": "boolean",
    "preferred_days": "array<string>",
    "quiet_hours_start": "string",
    "quiet_hours_end": "string",
    "topics_opt_out": "array<string>",
}
REACH = ["reach_email", "reach_sms", "reach_push"]
OFFER_COLUMNS = [
    "run_date",
    "run_id",
    "client_id",
    "campaign",
    "variant",
    "channel",
    "parameters",
    "send_at",
    "expires_at",
    "holdout",
    "priority",
    "expected_value",
    "topic",
    "ally_id",
    "reason",
]
CANDIDATE_COLUMNS = [
    "run_date",
    "run_id",
    "client_id",
    "campaign",
    "variant",
    "channel",
    "priority",
    "expected_value",
    "outcome",
    "holdout",
]


def run_id_of(day: date) -> str:
    """The run id of D's offers (one per date: a re-run replaces D's rows)."""
    return f"match-{day.isoformat()}"


def _exists(ctx: RunContext, ref: str) -> bool:
    return delta_io.is_delta(ctx.spark, ctx.path(ref))


def latest_as_of(ctx: RunContext) -> date | None:
    if not _exists(ctx, "analytics/customer_360"):
        return None
    c360 = ctx.read("analytics/customer_360")
    return c360.where(F.col("as_of") <= F.lit(ctx.run_date)).agg(F.max("as_of")).first()[0]


def _with_nulls(df: DataFrame, types: dict[str, str]) -> DataFrame:
    missing = {c: t for c, t in types.items() if c not in df.columns}
    return df.select("*", *[F.lit(None).cast(t).alias(c) for c, t in missing.items()])


def _reachability(ctx: RunContext) -> DataFrame:
    spark = ctx.spark
    reach = spark.createDataFrame([], "client_id string, reach_email boolean, reach_sms boolean")
    if _exists(ctx, "stage/contact_reachability"):
        flags = ctx.read("stage/contact_reachability")
        reach = _with_nulls(flags, {"email": "boolean", "sms": "boolean"}).select(
            "client_id", F.col("email").alias("reach_email"), F.col("sms").alias("reach_sms")
        )
    devices = spark.createDataFrame([], "client_id string")
    if _exists(ctx, "stage/location_pings"):
        pings = ctx.read("stage/location_pings")
        devices = pings.where(F.col("device_id").isNotNull()).select("client_id").distinct()
    devices = devices.withColumn("reach_push", F.lit(True))
    return reach.join(devices, "client_id", "full")


def base_frame(
    ctx: RunContext, campaigns: list[Campaign], chains: dict, policy: ContactPolicy, as_of: date
) -> DataFrame:
    """One row per customer: the metrics and segments the campaigns read, preferences,
    reachability, geo triggers and response facts."""
    names = used_names(campaigns)
    c360 = ctx.read("analytics/customer_360").where(F.col("as_of") == F.lit(as_of))
    metrics = sorted(n for n in names if n not in NAMES)
    base = _with_nulls(c360, PREFERENCE_TYPES).select("client_id", *metrics, *PREFERENCE_TYPES)
    segment_columns = [NAMES[n] for n in sorted(names) if n in NAMES]
    if segment_columns:
        segments = ctx.read("analytics/segments").where(F.col("as_of") == F.lit(as_of))
        base = base.join(segments.select("client_id", *segment_columns), "client_id", "left")
    base = base.join(_reachability(ctx), "client_id", "left")
    if any(c.trigger for c in campaigns):
        geo = None
        if _exists(ctx, "analytics/geo_events"):
            events = ctx.read("analytics/geo_events")
            geo = geo_triggers(events.where(F.col("event_date") == F.lit(ctx.run_date)))
            base = base.join(geo, "client_id", "left")
        base = _with_nulls(
            base,
            {
                "_geo_category": "map<string, struct<at: timestamp, ally_id: string>>",
                "_geo_ally": "map<string, timestamp>",
            },
        )
    if _exists(ctx, "stage/offer_responses"):
        facts = response_facts(
            ctx.read("stage/offer_responses"),
            campaigns,
            chains,
            ctx.run_date,
            policy.decline_cooldown_days,
        )
        base = base.join(facts, "client_id", "left")
    wanted = {f"_declined_{c.name}": "timestamp" for c in campaigns}
    wanted |= {f"_follow_{c.name}": "boolean" for c in campaigns if c.name in chains}
    return _with_nulls(base, wanted)


def load_campaigns(ctx: RunContext) -> Program:
    conf = ctx.config.conf_dir
    program = load_program(campaign_files(conf), Vocabulary.load(conf))
    for diagnostic in program.diagnostics:
        log.error("campaign left out: %s", diagnostic)
    return program


def match(
    ctx: RunContext, campaigns: list[Campaign], chains: dict, as_of: date, only: bool = False
) -> DataFrame:
    """Every candidate of the day with its outcome (selected or the rule that dropped it).
    only: the day's offers of campaigns other than these (not due today, run earlier for the
    date) count against the caps."""
    day = ctx.run_date
    policy = ContactPolicy.load(ctx.config.conf_dir)
    base = base_frame(ctx, campaigns, chains, policy, as_of)
    keep = [*PREFERENCE_TYPES, *REACH]
    found = candidates(base, campaigns, chains, keep)
    variants = variant_rows(ctx.spark, campaigns, policy, chains)
    joined = found.join(F.broadcast(variants), ["campaign", "variant"], "left")
    screened = preferences.apply(joined, day, policy)
    prior = ctx.read(DELIVERABLE) if _exists(ctx, DELIVERABLE) else None
    running = [c.name for c in campaigns] if only else []
    per_customer, prior_rows = arbitrate.prior_counts(prior, day, ctx.spark, running)
    still = screened.where(F.col("outcome").isNull())
    decided = arbitrate.arbitrate(still, per_customer, prior_rows, day, policy)
    dropped = screened.where(F.col("outcome").isNotNull()).withColumn("holdout", F.lit(False))
    run_id = run_id_of(day)
    return decided.unionByName(dropped, allowMissingColumns=True).select(
        "*", F.lit(day).alias("run_date"), F.lit(run_id).alias("run_id")
    )


def run(ctx: RunContext) -> list[JobResult]:
    """Every campaign due on D; D's rows of both tables are replaced."""
    return _run(ctx, None)


def run_campaign(ctx: RunContext, name: str) -> list[JobResult]:
    """One campaign (its generated DAG): only its rows of D are replaced."""
    return _run(ctx, name)


def _run(ctx: RunContext, only: str | None) -> list[JobResult]:
    """A campaign's own run (`only`) arbitrates every campaign due on D together, as a run of
    them all does, and writes its own rows: two campaign DAGs of one date, at once or one after
    the other, write what one run of both would, and the caps hold across them."""
    program = load_campaigns(ctx)
    valid = program.valid()
    chains = follow_ups(valid)
    todays = [c for c in valid if due(c, ctx.run_date)]
    as_of = latest_as_of(ctx)
    left_out = sorted(program.invalid())
    notes = [f"left out (checker errors): {', '.join(left_out)}"] if left_out else []
    if as_of is None or only not in (None, *[c.name for c in todays]):
        why = "no customer_360 up to this date" if as_of is None else "no campaign due"
        log.warning("match: %s", why)
        return [JobResult(DELIVERABLE, 0, 0, feed="match", notes=(why, *notes))]
    found = match(ctx, todays, chains, as_of, only=only is not None)
    if only is not None:
        found = found.where(F.col("campaign") == only)
    everything = found.persist(StorageLevel.MEMORY_AND_DISK)
    day = f"run_date = DATE'{ctx.run_date.isoformat()}'"
    if only is not None:
        day += f" AND campaign = '{only}'"
    offers = everything.where(F.col("outcome") == arbitrate.SELECTED).select(*OFFER_COLUMNS)
    written = ctx.write(
        DELIVERABLE, offers, mode="replace_where", partition_by=["run_date"], replace_where=day
    )
    seen = ctx.write(
        CANDIDATES,
        everything.select(*CANDIDATE_COLUMNS),
        mode="replace_where",
        partition_by=["run_date"],
        replace_where=day,
    )
    outcomes = {r[0]: r[1] for r in everything.groupBy("outcome").count().collect()}
    everything.unpersist()
    ran = [c.name for c in todays if only in (None, c.name)]
    joint = f"; arbitrated with {len(todays) - 1} other(s) due" if only and len(todays) > 1 else ""
    notes.insert(0, f"campaigns due: {', '.join(ran)} (customer_360 of {as_of}){joint}")
    notes.append("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    return [
        JobResult(
            DELIVERABLE,
            seen.rows_written,
            written.rows_written,
            rows_withheld=seen.rows_written - written.rows_written,
            feed="match",
            notes=tuple(notes),
        )
    ]
