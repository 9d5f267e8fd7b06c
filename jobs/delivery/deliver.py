"""Stage `deliver` (on-prem): send D's handoff, exactly once, opening contacts just in time.

1. The handoff `lake/handoff/<run>/` is verified against its manifest and read from the
   checked bytes; a changed, missing or extra file refuses it whole (jobs/delivery/manifest.py).
2. The journal of an interrupted earlier run is folded into the sent ledger; rows the ledger
   already holds are not handled again (jobs/delivery/ledger.py).
3. For the rows left only: erased customers are set aside (status `erased`); for the others
   the vault opens, in one Spark pass, only the field the row's channel needs (e-mail or
   phone; for push the newest device token) and the first name. Every opening is written to
   the vault's audit log before it happens.
4. Each message is rendered (Jinja2 sandbox, conf/templates) and sent through the channel's
   adapter, retried with exponential backoff; each outcome is journaled before the next send.
5. The ledger's rows of the run go to `lake/analytics/notifications`, tokens only.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

import boto3
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from jobs.delivery import handoff, manifest
from jobs.delivery.adapters import Outbox, Outgoing, SendError, Ses, Sns
from jobs.delivery.ledger import ERASED, FAILED, SENT, UNREACHABLE, Ledger
from jobs.delivery.render import Renderer, RenderError
from jobs.delivery.settings import DEVICE, DeliverySettings, load
from jobs.match.run import run_id_of
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from jobs.runtime import delta_io
from jobs.runtime.config import expand_env
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.zones import Zone

log = logging.getLogger(__name__)
NOTIFICATIONS = "analytics/notifications"
NOTIFICATION_COLUMNS = [
    "run_id", "client_id", "campaign", "variant", "channel", "ally_id", "sent_at", "status",
    "attempts", "reason",
]  # fmt: skip
FIRST_NAME = "_first_name"


def message_id(run_id: str, row) -> str:
    key = "|".join((run_id, row["client_id"], row["campaign"], row["channel"]))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def ledger_path(ctx: RunContext) -> str:
    """The sent ledger (on-prem Delta table)."""
    return str(Path(ctx.zone_path(Zone.DELIVERY)) / "ledger")


def adapters(ctx: RunContext, settings: DeliverySettings, run_id: str) -> dict[str, object]:
    """channel -> adapter, each made once."""
    made: dict[str, object] = {}
    out = {}
    for channel, kind in settings.adapters.items():
        if kind not in made:
            if kind == "outbox":
                folder = Path(ctx.zone_path(Zone.DELIVERY)) / "outbox"
                made[kind] = Outbox(folder, run_id)
            elif kind == "sns":
                arn = settings.sns.platform_application_arn
                arn = expand_env(arn, f"{settings.source}: sns") if channel == "push" else arn
                made[kind] = Sns(boto3.client("sns", region_name=settings.sns.region), arn)
            else:
                made[kind] = Ses(
                    boto3.client("ses", region_name=settings.ses.region), settings.ses.sender
                )
        out[channel] = made[kind]
    return out


def _devices(ctx: RunContext) -> DataFrame:
    """client token -> its newest device token (stage/location_pings)."""
    pings = ctx.read("stage/location_pings").where(F.col("device_id").isNotNull())
    newest = Window.partitionBy("client_id").orderBy(F.col("ts").desc(), F.col("device_id"))
    return (
        pings.select("client_id", "device_id", "ts")
        .withColumn("n", F.row_number().over(newest))
        .where("n = 1")
        .select(F.col("client_id").alias("owner"), F.col("device_id").alias("token"))
    )


def open_contacts(
    ctx: RunContext, vault: Vault, pending: DataFrame, settings: DeliverySettings, run_id: str
) -> DataFrame:
    """pending + `address` (the channel's contact) and `_first_name`, opened in the vault for
    these rows only, each opening audited first. Rows the vault cannot reach get nulls."""
    field = F.create_map(*[F.lit(x) for kv in settings.contacts.items() for x in kv])
    wanted = pending.select(
        F.col("client_id").alias("owner"), field[F.col("channel")].alias("field"), "campaign",
        "variant", "channel",
    )  # fmt: skip
    names = pending.select(
        F.col("client_id").alias("owner"), F.lit(settings.first_name).alias("field"),
        "campaign", "variant", "channel",
    )  # fmt: skip
    fields = wanted.where(F.col("field") != DEVICE).unionByName(names)
    push = wanted.where(F.col("field") == DEVICE).select("owner").distinct()
    has_pings = delta_io.is_delta(ctx.spark, ctx.path("stage/location_pings"))
    devices = push.join(_devices(ctx), "owner") if has_pings and push.take(1) else None
    purpose = F.concat(
        F.lit(f"deliver {run_id} "), F.col("campaign"), F.lit("/"), F.col("variant"),
        F.lit(" by "), F.col("channel"),
    )  # fmt: skip
    vault.audit_many(
        fields.select(
            F.col("owner").alias("token"), F.col("field").alias("detail"), purpose.alias("purpose")
        ),
        "decrypt",
        F.col("purpose"),
    )
    opened = vault.open_contacts(fields.select("owner", "field").distinct())
    if devices is not None:
        audited = devices.join(
            wanted.where(F.col("field") == DEVICE).select("owner", purpose.alias("purpose")),
            "owner",
        )
        vault.audit_many(
            audited.select("token", F.lit(DEVICE).alias("detail"), "purpose"),
            "detokenize",
            F.col("purpose"),
        )
        device_values = devices.join(vault.open_tokens(devices), "token").select(
            "owner", F.lit(DEVICE).alias("field"), "value"
        )
        opened = opened.unionByName(device_values)
    address = opened.select(
        F.col("owner").alias("client_id"), F.col("field").alias("_field"), "value"
    )
    rows = pending.withColumn("_field", field[F.col("channel")])
    rows = rows.join(address, ["client_id", "_field"], "left").withColumnRenamed("value", "address")
    first = opened.where(F.col("field") == settings.first_name).select(
        F.col("owner").alias("client_id"), F.col("value").alias(FIRST_NAME)
    )
    return rows.join(first, "client_id", "left")


def send_with_retries(adapter, message: Outgoing, retry, sleep: Callable) -> tuple[str, int]:
    """(provider id, attempts); SendError after the last attempt or a non-retryable error."""
    retrying = Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential(multiplier=retry.backoff_seconds, max=retry.max_backoff_seconds),
        retry=retry_if_exception(lambda e: isinstance(e, SendError) and e.retryable),
        sleep=sleep or time.sleep,
        reraise=True,
    )
    attempts = 0

    def attempt():
        nonlocal attempts
        attempts += 1
        return adapter.send(message)

    try:
        return retrying(attempt), attempts
    except SendError as e:
        e.attempts = attempts
        raise


def deliver(
    ctx: RunContext,
    settings: DeliverySettings,
    channel_adapters: dict[str, object] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> list[JobResult]:
    run_id = run_id_of(ctx.run_date)
    folder = f"{ctx.zone_path(Zone.HANDOFF)}/{run_id}"
    fs, path = manifest.filesystem(folder)
    if manifest.MANIFEST not in manifest.list_files(fs, path):
        if manifest.list_files(fs, path):
            manifest.verify(folder)  # files but no manifest: refused, with the reason
        return [JobResult(f"delivery/{run_id}", 0, 0, feed="deliver", notes=("no handoff",))]
    _, table = manifest.read_verified(folder)
    onprem = Path(ctx.zone_path(Zone.DELIVERY))
    ledger = Ledger(ctx.spark, ledger_path(ctx), onprem / "journal", run_id)
    recovered = ledger.fold()
    if table is None or table.num_rows == 0:
        _notifications(ctx, ledger, run_id)
        return [JobResult(f"delivery/{run_id}", 0, 0, feed="deliver", notes=("empty handoff",))]
    offers = ctx.spark.createDataFrame(table.to_pandas(), handoff.SCHEMA)
    done = ledger.read().select("client_id", "campaign", "channel")
    pending = offers.join(done, ["client_id", "campaign", "channel"], "left_anti").persist()
    if pending.isEmpty():
        _notifications(ctx, ledger, run_id)
        note = f"all {table.num_rows} offers already handled"
        return [JobResult(f"delivery/{run_id}", 0, 0, feed="deliver", notes=(note,))]
    vault = Vault.open(ctx, load_policy(ctx.config.conf_dir), job="deliver")
    erased_tokens = vault.store.read("erasures").select(F.col("token").alias("client_id"))
    erased = pending.join(erased_tokens, "client_id", "left_semi").withColumn(
        "_erased", F.lit(True)
    )
    live = pending.join(erased_tokens, "client_id", "left_anti")
    rows = open_contacts(ctx, vault, live, settings, run_id).withColumn("_erased", F.lit(False))
    rows = rows.unionByName(erased, allowMissingColumns=True).orderBy(
        "client_id", "campaign", "channel"
    )
    channel_adapters = channel_adapters or adapters(ctx, settings, run_id)
    renderer = Renderer(Path(ctx.config.conf_dir) / "templates")
    counts = {SENT: 0, FAILED: 0, ERASED: 0, UNREACHABLE: 0}
    try:
        for row in rows.toLocalIterator():
            outcome = _handle(row, run_id, settings, channel_adapters, renderer, sleep)
            ledger.record(outcome)
            counts[outcome["status"]] += 1
    finally:
        ledger.close()
        pending.unpersist()
        for adapter in {id(a): a for a in channel_adapters.values()}.values():
            adapter.close()
    ledger.fold()
    _notifications(ctx, ledger, run_id)
    handled = sum(counts.values())
    notes = [f"{k}: {v}" for k, v in counts.items() if v]
    if recovered:
        notes.append(f"{recovered} outcome(s) recovered from an interrupted run")
    return [
        JobResult(
            f"delivery/{run_id}",
            handled,
            counts[SENT],
            rows_withheld=handled - counts[SENT],
            feed="deliver",
            notes=tuple(notes),
        )
    ]


def _handle(row, run_id, settings, channel_adapters, renderer, sleep) -> dict:
    outcome = {
        c: row[c] for c in ("client_id", "campaign", "variant", "channel", "ally_id", "send_at")
    } | {"run_id": run_id, "attempts": 0, "message_id": message_id(run_id, row)}
    if row["_erased"]:
        return outcome | {"status": ERASED, "reason": "the customer was erased"}
    if row["address"] is None:
        field = settings.contacts[row["channel"]]
        return outcome | {"status": UNREACHABLE, "reason": f"the vault holds no {field}"}
    try:
        text = renderer.render(
            row["campaign"], row["variant"], row["channel"], row["parameters"],
            {"first_name": row[FIRST_NAME] or settings.first_name_fallback,
             "send_at": row["send_at"], "expires_at": row["expires_at"]},
        )  # fmt: skip
    except RenderError as e:
        return outcome | {"status": FAILED, "reason": str(e)}
    message = Outgoing(
        outcome["message_id"], row["channel"], row["address"], text.subject, text.body,
        row["send_at"],
    )  # fmt: skip
    adapter = channel_adapters[row["channel"]]
    try:
        provider_id, attempts = send_with_retries(adapter, message, settings.retry, sleep)
    except SendError as e:
        return outcome | {"status": FAILED, "attempts": e.attempts, "reason": e.reason}
    return outcome | {"status": SENT, "attempts": attempts, "provider_id": provider_id}


def _notifications(ctx: RunContext, ledger: Ledger, run_id: str) -> None:
    """The run's outcomes, tokens only, to the lake (replacing the run's earlier rows)."""
    rows = ledger.read().withColumn("sent_at", F.col("send_at")).select(*NOTIFICATION_COLUMNS)
    ctx.write(
        NOTIFICATIONS,
        rows,
        mode="replace_where",
        partition_by=["run_id"],
        replace_where=f"run_id = '{run_id}'",
    )


def run(ctx: RunContext) -> list[JobResult]:
    return deliver(ctx, load(Path(ctx.config.conf_dir) / "delivery.yaml"))
