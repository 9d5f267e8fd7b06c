"""Stage `serve` (lake side): the day's profiles, a slice of analytics/customer_360 and
analytics/segments (conf/serving.yaml), in a DynamoDB table keyed by customer token.

Each profile's JSON gets a fingerprint (SHA-256); analytics/served_profiles keeps, per token, the
fingerprint, the customer_360 date and the day it was last written. A run writes only profiles that
are new, changed, or written `ttl_days / 2` or more days before (so a served profile never lapses
under DynamoDB's TTL), deletes the items of tokens gone from customer_360 (erased or closed
customers), then replaces the state. The changed profiles stream through the driver into boto3's
batch writer (which retries what DynamoDB leaves unprocessed); `written` counts what the batch
writer sent, not what was planned. A run for a date older than what is served changes nothing.
A crash between the writes and the state's commit only means the next run writes those profiles
again (puts are idempotent)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.errors import ConfigError
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext
from jobs.serving import store
from jobs.serving.settings import ServingSettings, load

C360, SEGMENTS, STATE = "analytics/customer_360", "analytics/segments", "analytics/served_profiles"
RESULT = "serving/profiles"


def _served_as_of(ctx: RunContext, day) -> object:
    c360 = ctx.read(C360)
    return c360.where(F.col("as_of") <= F.lit(day)).agg(F.max("as_of")).first()[0]


def _columns(frame: DataFrame, wanted: list[str], what: str, ctx: RunContext) -> None:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        where = ctx.config.conf_dir / "serving.yaml"
        raise ConfigError(f"{where}: {what}: no column {missing} in {what.split('.')[0]}")


def profiles(ctx: RunContext, settings: ServingSettings, as_of) -> DataFrame:
    """client_id, profile (JSON of the served columns), fingerprint."""
    c360 = ctx.read(C360).where(F.col("as_of") == F.lit(as_of))
    _columns(c360, settings.metrics, "customer_360 (metrics)", ctx)
    frame = c360.select("client_id", *settings.metrics)
    if settings.segments:
        segments = ctx.read(SEGMENTS).where(F.col("as_of") == F.lit(as_of))
        _columns(segments, settings.segments, "segments (segments)", ctx)
        frame = frame.join(segments.select("client_id", *settings.segments), "client_id", "left")
    doc = F.to_json(F.struct(*[F.col(c) for c in settings.metrics + settings.segments]))
    return frame.select("client_id", doc.alias("profile"), F.sha2(doc, 256).alias("fingerprint"))


def _state(ctx: RunContext) -> DataFrame:
    if delta_io.is_delta(ctx.spark, ctx.path(STATE)):
        return ctx.read(STATE)
    schema = "client_id string, fingerprint string, as_of date, served_on date"
    return ctx.spark.createDataFrame([], schema)


def run(ctx: RunContext) -> list[JobResult]:
    settings = load(ctx.config.conf_dir)
    if not settings.serves(ctx.config.lake_root):
        note = f"not served (serve: {settings.serve}, lake not on S3)"
        return [JobResult(RESULT, 0, 0, feed="serve", notes=(note,))]
    if not delta_io.is_delta(ctx.spark, ctx.path(C360)):
        return [JobResult(RESULT, 0, 0, feed="serve", notes=("no customer_360 yet",))]
    day = ctx.run_date
    as_of = _served_as_of(ctx, day)
    state = _state(ctx)
    newest = state.agg(F.max("as_of")).first()[0]
    if as_of is None or (newest is not None and as_of < newest):
        why = "no customer_360 up to this date" if as_of is None else f"{newest} is served"
        return [JobResult(RESULT, 0, 0, feed="serve", notes=(why,))]

    current = profiles(ctx, settings, as_of).persist()
    refresh = F.lit(day - timedelta(days=settings.ttl_days // 2))
    old = state.select(
        "client_id", F.col("fingerprint").alias("_was"), F.col("served_on").alias("_on")
    )
    compared = current.join(old, "client_id", "left")
    due = (
        F.col("_was").isNull() | (F.col("_was") != F.col("fingerprint")) | (F.col("_on") <= refresh)
    )
    to_write = compared.where(due).select("client_id", "profile")
    unchanged = compared.where(~due).count()
    gone = old.join(current, "client_id", "left_anti").select("client_id")

    store.ensure(settings.dynamodb)
    written, deleted = _write(ctx, settings, to_write, gone, day)

    served_on = F.when(due, F.lit(day)).otherwise(F.col("_on"))
    next_state = compared.select(
        "client_id", "fingerprint", F.lit(as_of).alias("as_of"), served_on.alias("served_on")
    )
    ctx.write(STATE, next_state, mode="overwrite")
    read = current.count()
    current.unpersist()
    notes = (f"customer_360 of {as_of}", f"deleted {deleted} (gone from customer_360)")
    return [JobResult(RESULT, read, written, rows_withheld=unchanged, feed="serve", notes=notes)]


def _write(
    ctx: RunContext, settings: ServingSettings, to_write: DataFrame, gone: DataFrame, day: date
) -> tuple[int, int]:
    """Put the due profiles and delete the gone tokens, streamed through the driver partition by
    partition (the driver holds the AWS credentials; only changed profiles go); what DynamoDB
    took, counted as the batch writer sent it."""
    expires = _epoch(day + timedelta(days=settings.ttl_days))
    items = (store.item(r.profile, r.client_id, expires) for r in to_write.toLocalIterator())
    written = store.put(settings.dynamodb, items)
    deleted = store.delete(settings.dynamodb, (r.client_id for r in gone.toLocalIterator()))
    return written, deleted


def _epoch(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())
