"""Stage `effectiveness` (lake side): notifications x card purchases and responses ->
analytics/effective_notifications and analytics/kpis, as of D (every notification sent up to
the end of D; a re-run for D gives the same tables)."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.effectiveness import outcomes as oc
from jobs.effectiveness.kpis import kpis
from jobs.effectiveness.settings import EffectivenessSettings
from jobs.model.customers import keyed
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext

EFFECTIVE = "analytics/effective_notifications"
KPIS = "analytics/kpis"


def _table(ctx: RunContext, ref: str, schema: str) -> DataFrame:
    if delta_io.is_delta(ctx.spark, ctx.path(ref)):
        return ctx.read(ref)
    return ctx.spark.createDataFrame([], schema)


def purchases(ctx: RunContext) -> DataFrame:
    """Card purchases with the customer's client token (through the card user's cards)."""
    cards = ctx.read("stage/card_transactions").select(
        "user", "ts", "amount", "merchant_name", "mcc"
    )
    return keyed(cards, "user", "card_user", lambda name: ctx.read(f"stage/{name}"))


def run(ctx: RunContext) -> list[JobResult]:
    settings = EffectivenessSettings.load(ctx.config.conf_dir)
    if not delta_io.is_delta(ctx.spark, ctx.path("analytics/notifications")):
        return [JobResult(KPIS, 0, 0, feed="effectiveness", notes=("no notifications yet",))]
    end = F.lit(ctx.run_date + timedelta(days=1)).cast("timestamp")
    sent = ctx.read("analytics/notifications").where(F.col("sent_at") < end)
    offers = _table(
        ctx,
        "analytics/deliverable_offers",
        "run_id string, client_id string, campaign string, variant string, channel string, "
        "ally_id string, send_at timestamp, holdout boolean",
    )
    holdouts = offers.where(F.col("holdout") & (F.col("send_at") < end))
    exposed = oc.exposures(sent, holdouts).persist()
    until = end + F.expr(f"INTERVAL {int(settings.window_minutes * 60)} SECONDS")
    bought = purchases(ctx).where(F.col("ts") < until)
    allies = ctx.read("stage/allies")
    responses = _table(
        ctx,
        "stage/offer_responses",
        "client_id string, offer_id string, event string, ts timestamp",
    )
    effective = oc.purchases_at_allies(
        exposed, allies, bought, settings.window_minutes
    ).unionByName(oc.acceptances(exposed, responses, settings.conversion_days))
    treated = effective.where((F.col("group") == "treatment") & (F.col("status") == "sent"))
    treated = treated.drop("group", "status")
    written = ctx.write(EFFECTIVE, treated, mode="overwrite")
    table = kpis(oc.with_outcome(exposed, effective), settings.confidence)
    k = ctx.write(KPIS, table, mode="overwrite")
    n = exposed.where(F.col("group") == "treatment").count()
    exposed.unpersist()
    return [
        JobResult(EFFECTIVE, written.rows_written, written.rows_written, feed="effectiveness",
                  notes=(f"{n} notifications as of {ctx.run_date}",)),
        JobResult(KPIS, k.rows_written, k.rows_written, feed="effectiveness"),
    ]  # fmt: skip
