"""Which checked campaigns run on a date, and what each (campaign, variant) carries: priority,
topic, holdout, channels, parameters, expiry, cap and the `reason` text of its rules."""

from __future__ import annotations

import json
from datetime import date

from pyspark.sql import DataFrame, SparkSession

from dsl.ast import Campaign, Param, Variant
from dsl.compiler import render
from jobs.match.policy import ContactPolicy

VARIANT_SCHEMA = (
    "campaign string, variant string, title string, topic string, priority int, "
    "holdout double, channels array<string>, parameters string, expires_days int, "
    "cap_offers int, cap_days int, send_hour int, send_minute int, valid_to date, "
    "trigger string, reason string"
)


def due(campaign: Campaign, day: date) -> bool:
    """Valid on `day` and scheduled that day (hourly and daily: every day)."""
    if campaign.valid_from and day < campaign.valid_from:
        return False
    if campaign.valid_to and day > campaign.valid_to:
        return False
    schedule = campaign.schedule
    if schedule is None:
        return False
    if schedule.every == "weekly":
        return day.weekday() in schedule.weekdays
    if schedule.every == "monthly":
        return day.day == schedule.day_of_month
    return True


def _param(p: Param):
    value = p.value.value
    if isinstance(value, float):
        value = round(value, 10)
        value = int(value) if value.is_integer() and not p.value.percent else value
    elif isinstance(value, date):
        value = value.isoformat()
    out = {"value": value}
    if p.value.percent:
        out["unit"] = "percent"
    elif p.unit:
        out["unit"] = p.unit
    return p.name, out


def parameters(variant: Variant) -> str:
    """The offer parameters as JSON: {"rate": {"value": 0.085, "unit": "percent"}, ...}."""
    return json.dumps(dict(_param(p) for p in variant.params), sort_keys=True)


def reason(campaign: Campaign, variant: Variant, follows: list[str]) -> str:
    parts = []
    if campaign.trigger is not None:
        parts.append(f"near a {campaign.trigger.kind} {campaign.trigger.value!r} store")
    if campaign.eligible is not None:
        parts.append(f"eligible when {render(campaign.eligible)}")
    parts += follows
    when = "otherwise" if variant.when is None else f"when {render(variant.when)}"
    parts.append(f"variant {variant.name} {when}")
    return "; ".join(parts)


def follow_ups(campaigns: list[Campaign]) -> dict[str, list[tuple[str, str, int]]]:
    """target -> [(source, event, within_days)]: the responses that open a chained campaign."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for c in campaigns:
        for f in c.follow_ups:
            out.setdefault(f.campaign, []).append((c.name, f.event, f.within_days))
    return out


def variant_rows(
    spark: SparkSession, campaigns: list[Campaign], policy: ContactPolicy, chains: dict
) -> DataFrame:
    rows = []
    for c in campaigns:
        at = c.schedule.at if c.schedule and c.schedule.at else policy.send_time
        follows = [f"{e} {s} within {n} days" for s, e, n in chains.get(c.name, [])]
        trigger = f"{c.trigger.kind}:{c.trigger.value}" if c.trigger else None
        for v in c.variants:
            rows.append(
                (
                    c.name,
                    v.name,
                    c.title,
                    c.topic,
                    c.priority,
                    c.holdout,
                    [ch for _, ch in v.channels],
                    parameters(v),
                    c.expires_days or policy.expires_after_days,
                    c.cap[0] if c.cap else None,
                    c.cap[1] if c.cap else None,
                    at.hour,
                    at.minute,
                    c.valid_to,
                    trigger,
                    reason(c, v, follows),
                )
            )
    return spark.createDataFrame(rows, VARIANT_SCHEMA)
