"""Every campaign and variant over every customer in one pass over customer_360.

Each due campaign compiles to one nullable struct column: null when the customer is not
eligible (rules, geofence trigger, follow-up), else (campaign, chosen variant, expected value,
trigger time and ally). The structs go into one array per customer, nulls are filtered out
and the array is exploded: one select, whatever the number of campaigns and variants.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from dsl.ast import Campaign
from dsl.compiler import column, names_in
from dsl.vocabulary import SEGMENT_COLUMNS

# language name -> column of the joined frame (segments keep their table's names)
NAMES = {name: col for col, (name, _) in SEGMENT_COLUMNS.items()}


def _condition(expr) -> Column:
    return F.coalesce(column(expr, NAMES), F.lit(False))


def used_names(campaigns: list[Campaign]) -> set[str]:
    names: set[str] = set()
    for c in campaigns:
        names |= names_in(c.eligible) | names_in(c.value)
        for v in c.variants:
            names |= names_in(v.when)
    return names


def geo_triggers(events: DataFrame) -> DataFrame:
    """(client_id, _geo_category: category -> (at, ally_id), _geo_ally: ally_id -> at) of the
    day's fired geo events; the first visit of the day counts."""
    by_category = events.groupBy("client_id", "category").agg(
        F.min("entered_at").alias("at"), F.min_by("ally_id", "entered_at").alias("ally_id")
    )
    by_ally = events.groupBy("client_id", "ally_id").agg(F.min("entered_at").alias("at"))
    categories = by_category.groupBy("client_id").agg(
        F.map_from_entries(F.collect_list(F.struct("category", F.struct("at", "ally_id")))).alias(
            "_geo_category"
        )
    )
    allies = by_ally.groupBy("client_id").agg(
        F.map_from_entries(F.collect_list(F.struct("ally_id", "at"))).alias("_geo_ally")
    )
    return categories.join(allies, "client_id", "full")


def response_facts(
    responses: DataFrame, campaigns: list[Campaign], chains: dict, day: date, cooldown_days: int
) -> DataFrame:
    """(client_id, _follow_<c>, _declined_<c>) in one aggregation over offer_responses:
    did the customer give the response that opens chained campaign c, and when did they last
    decline campaign c (within the cooldown)."""
    end = datetime.combine(day + timedelta(days=1), time())
    aggs = []
    for c in campaigns:
        opened = [
            (F.col("offer_id") == source)
            & (F.col("event") == event)
            & (F.col("ts") >= F.lit(end - timedelta(days=within)))
            for source, event, within in chains.get(c.name, [])
        ]
        if opened:
            any_of = opened[0]
            for condition in opened[1:]:
                any_of = any_of | condition
            aggs.append(F.max(any_of).alias(f"_follow_{c.name}"))
        declined = (
            (F.col("offer_id") == c.name)
            & (F.col("event") == "declined")
            & (F.col("ts") >= F.lit(end - timedelta(days=cooldown_days)))
        )
        aggs.append(F.max(F.when(declined, F.col("ts"))).alias(f"_declined_{c.name}"))
    window = (F.col("ts") < F.lit(end)) & (
        F.col("ts") >= F.lit(end - timedelta(days=max([cooldown_days, 1] + _days(chains))))
    )
    return responses.where(window).groupBy("client_id").agg(*aggs)


def _days(chains: dict) -> list[int]:
    return [within for edges in chains.values() for _, _, within in edges]


def _variant(campaign: Campaign) -> Column:
    choice = None
    for v in campaign.variants:
        if v.when is None:
            return F.lit(v.name) if choice is None else choice.otherwise(F.lit(v.name))
        test = _condition(v.when)
        choice = F.when(test, F.lit(v.name)) if choice is None else choice.when(test, v.name)
    return choice if choice is not None else F.lit(None).cast("string")


def _trigger(campaign: Campaign) -> tuple[Column, Column, Column]:
    """(fired, at, ally_id) of the campaign's geofence trigger; (true, null, null) without."""
    trigger = campaign.trigger
    if trigger is None:
        return F.lit(True), F.lit(None).cast("timestamp"), F.lit(None).cast("string")
    if trigger.kind == "category":
        hit = F.col("_geo_category")[F.lit(trigger.value)]
        return hit.isNotNull(), hit["at"], hit["ally_id"]
    at = F.col("_geo_ally")[F.lit(trigger.value)]
    return at.isNotNull(), at, F.lit(trigger.value)


def candidate_column(campaign: Campaign, chained: bool) -> Column:
    fired, at, ally = _trigger(campaign)
    ok = fired
    if campaign.eligible is not None:
        ok = ok & _condition(campaign.eligible)
    if chained:
        ok = ok & F.coalesce(F.col(f"_follow_{campaign.name}"), F.lit(False))
    value = column(campaign.value, NAMES) if campaign.value is not None else F.lit(0.0)
    return F.when(
        ok,
        F.struct(
            F.lit(campaign.name).alias("campaign"),
            _variant(campaign).alias("variant"),
            F.coalesce(value.cast("double"), F.lit(0.0)).alias("expected_value"),
            at.alias("trigger_at"),
            ally.alias("ally_id"),
            F.col(f"_declined_{campaign.name}").alias("declined_at"),
        ),
    )


def candidates(base: DataFrame, campaigns: list[Campaign], chains: dict, keep: list[str]):
    """(client_id, *keep, campaign, variant, expected_value, trigger_at, ally_id, declined_at)
    for every customer and every campaign they are eligible for (variant null: no variant
    fits)."""
    structs = F.array(*[candidate_column(c, c.name in chains) for c in campaigns])
    found = F.explode(F.filter(structs, lambda s: s.isNotNull())).alias("_c")
    return base.select("client_id", *keep, found).select("client_id", *keep, "_c.*")
