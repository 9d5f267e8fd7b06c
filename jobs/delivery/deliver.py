"""Stage `deliver` (on-prem): send what is due from the recent handoffs, exactly once, opening
contacts just in time.

A run for D handles the handoffs of D and of `lookback_days` before it (conf/delivery.yaml),
each as follows:
1. One process at a time: a lease on the on-prem disk (jobs/runtime/lease.py). Another process
   waits for it up to `lease.wait_seconds`, then exits without sending.
2. The handoff `lake/handoff/<run>/` is verified against its manifest and read from the
   checked bytes; a changed, missing or extra file refuses it whole (jobs/delivery/manifest.py).
3. The journal of an interrupted earlier run is folded into the ledger; rows whose outcome is
   final there are not handled again (jobs/delivery/ledger.py).
4. What "now" is comes from conf/lake.yaml `clock`. A row not due yet (`send_at` later) waits
   for a later run, as does one waiting to retry; a row past its `expires_at` is `expired`; a
   malformed row is `invalid` with its reason, alone; an erased customer's is `erased`.
5. For the rows due, the vault opens, in one Spark pass, only the field the row's channel needs
   (e-mail or phone; for push the newest device token) and the first name. Every opening is
   written to the vault's audit log before it happens.
6. Each message is rendered (Jinja2 sandbox, conf/templates) and sent once through the
   channel's adapter; its outcome is journaled before the next send. A transient failure is
   `retrying` until a later run tries again (growing waits, `retry.attempts` in all), a
   permanent one `failed`.
7. The ledger's rows of the handoff go to `lake/analytics/notifications`, tokens only.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from pathlib import Path

import boto3
from botocore.config import Config
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.delivery import handoff, manifest, recheck
from jobs.delivery.adapters import Outbox, Outgoing, SendError, Ses, Sns, purge_outbox
from jobs.delivery.ledger import (
    ERASED,
    EXPIRED,
    FAILED,
    FINAL,
    INVALID,
    REFUSED,
    RETRYING,
    SENT,
    STATUSES,
    UNREACHABLE,
    Ledger,
)  # fmt: skip
from jobs.delivery.render import Renderer, RenderError
from jobs.delivery.settings import DEVICE, DeliverySettings, load
from jobs.match.run import run_id_of
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from jobs.runtime import delta_io
from jobs.runtime.config import expand_env
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.faults import kill_point
from jobs.runtime.lease import Lease
from jobs.runtime.locks import SHARED
from jobs.runtime.storage import filesystem
from jobs.runtime.zones import Zone

log = logging.getLogger(__name__)
NOTIFICATIONS = "analytics/notifications"
NOTIFICATION_COLUMNS = [
    "run_id", "client_id", "campaign", "variant", "channel", "ally_id", "sent_at", "status",
    "attempts", "reason",
]  # fmt: skip
FIRST_NAME = "_first_name"
# one attempt per send: the retry layer is delivery's own, across runs (conf/delivery.yaml retry)
ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})
NOT_DUE, WAITING = "not due yet", "waiting to retry"


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
                for path in purge_outbox(folder, settings.outbox_retention_hours):
                    log.info("outbox %s: past its retention, deleted", path.name)
                made[kind] = Outbox(folder, run_id)
            elif kind == "sns":
                arn = settings.sns.platform_application_arn
                arn = expand_env(arn, f"{settings.source}: sns") if channel == "push" else arn
                made[kind] = Sns(
                    boto3.client("sns", region_name=settings.sns.region, config=ONE_ATTEMPT), arn
                )
            else:
                made[kind] = Ses(
                    boto3.client("ses", region_name=settings.ses.region, config=ONE_ATTEMPT),
                    settings.ses.sender,
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


def _verdicts(offers: DataFrame, state: DataFrame, settings: DeliverySettings, now) -> DataFrame:
    """offers + the ledger's `status`/`attempts`/`next_attempt_at` + `_verdict`: what this run
    does with each row. Rows already final are gone."""
    at = F.lit(now).cast("timestamp")
    channels = list(settings.adapters)
    problem = (
        F.when(F.coalesce(F.trim("client_id"), F.lit("")) == "", "no client token")
        .when(F.col("campaign").isNull() | F.col("variant").isNull(), "no campaign or variant")
        .when(~F.coalesce(F.col("channel").isin(*channels), F.lit(False)), "unknown channel")
        .when(F.col("send_at").isNull(), "no send_at")
        .when(
            F.col("parameters").isNotNull()
            & F.from_json("parameters", "map<string,string>").isNull(),
            "parameters are not a JSON object",
        )
    )
    verdict = (
        F.when(problem.isNotNull(), F.concat(F.lit(f"{INVALID}:"), problem))
        .when(F.col("expires_at").isNotNull() & (F.col("expires_at") <= at), F.lit(EXPIRED))
        .when(F.col("send_at") > at, F.lit(NOT_DUE))
        .when((F.col("status") == RETRYING) & (F.col("next_attempt_at") > at), F.lit(WAITING))
        .otherwise(F.lit("due"))
    )
    keys = ["client_id", "campaign", "channel"]
    joined = offers.join(state, keys, "left").where(
        F.col("status").isNull() | ~F.col("status").isin(*FINAL)
    )
    return joined.withColumn("_verdict", verdict)


def deliver(
    ctx: RunContext,
    settings: DeliverySettings,
    channel_adapters: dict[str, object] | None = None,
) -> list[JobResult]:
    """Every handoff of D and the `lookback_days` before it that exists, oldest first."""
    results = []
    for back in range(settings.lookback_days, -1, -1):
        day = ctx.run_date - timedelta(days=back)
        folder = f"{ctx.zone_path(Zone.HANDOFF)}/{run_id_of(day)}"
        fs, path = filesystem(folder)
        if manifest.list_files(fs, path) or back == 0:
            results.append(_leased(ctx, settings, run_id_of(day), folder, channel_adapters))
    return results


def _leased(ctx, settings, run_id: str, folder: str, channel_adapters) -> JobResult:
    lease = Lease(
        Path(ctx.zone_path(Zone.DELIVERY)) / "leases",
        run_id,
        settings.lease.ttl_seconds,
        settings.lease.wait_seconds,
    )
    other = lease.acquire()
    if other is not None:
        note = (
            f"another delivery of {run_id} holds its lease ({other.get('host')} pid "
            f"{other.get('pid')}, until {other.get('until')}): nothing sent here"
        )
        log.warning("deliver: %s", note)
        return JobResult(f"delivery/{run_id}", 0, 0, feed="deliver", notes=(note,))
    try:
        return _deliver(ctx, settings, run_id, folder, lease, channel_adapters)
    finally:
        lease.release()


def _deliver(ctx, settings, run_id: str, folder: str, lease: Lease, channel_adapters) -> JobResult:
    fs, path = filesystem(folder)
    ref = f"delivery/{run_id}"
    if manifest.MANIFEST not in manifest.list_files(fs, path):
        if manifest.list_files(fs, path):
            manifest.verify(folder)  # files but no manifest: refused, with the reason
        return JobResult(ref, 0, 0, feed="deliver", notes=("no handoff",))
    _, table = manifest.read_verified(folder)
    onprem = Path(ctx.zone_path(Zone.DELIVERY))
    ledger = Ledger(ctx.spark, ledger_path(ctx), onprem / "journal", run_id)
    recovered = ledger.fold()
    if table is None or table.num_rows == 0:
        _notifications(ctx, ledger, run_id)
        return JobResult(ref, 0, 0, feed="deliver", notes=("empty handoff",))
    now = ctx.now()
    offers = ctx.spark.createDataFrame(table.to_pandas(), handoff.SCHEMA)
    state = ledger.read().select(
        "client_id", "campaign", "channel", "status",
        F.col("attempts").alias("_attempts"), "next_attempt_at",
    )  # fmt: skip
    rows = _verdicts(offers, state, settings, now).persist()
    waiting = {r["_verdict"]: r["count"] for r in rows.groupBy("_verdict").count().collect()}
    todo = rows.where(~F.col("_verdict").isin(NOT_DUE, WAITING))
    counts = dict.fromkeys(STATUSES, 0)
    if todo.isEmpty():
        rows.unpersist()
        _notifications(ctx, ledger, run_id)
        return _result(ref, counts, waiting, recovered, table.num_rows)
    due = todo.where(F.col("_verdict") == "due")
    # shared: other deliveries may read and audit too; gate, erasure and rotate wait
    vault = Vault.open(ctx, load_policy(ctx.config.conf_dir), job="deliver", lock=SHARED)
    channel_adapters = channel_adapters or adapters(ctx, settings, run_id)
    renderer = Renderer(Path(ctx.config.conf_dir) / "templates")
    live = None
    try:
        erased_tokens = vault.store.read("erasures").select(F.col("token").alias("client_id"))
        live = recheck.checked(ctx, vault, due.join(erased_tokens, "client_id", "left_anti"))
        live = live.persist()
        opened = open_contacts(ctx, vault, live.where(F.col("_refused").isNull()), settings, run_id)
        refused = live.where(F.col("_refused").isNotNull()).withColumn(
            "_verdict", F.concat(F.lit(f"{REFUSED}:"), F.col("_refused"))
        )
        rest = (
            todo.where(F.col("_verdict") != "due")
            .unionByName(
                due.join(erased_tokens, "client_id", "left_semi").withColumn(
                    "_verdict", F.lit(ERASED)
                )
            )
            .unionByName(refused.drop("_refused"))
        )
        every = opened.drop("_refused").unionByName(rest, allowMissingColumns=True)
        for row in every.orderBy("client_id", "campaign", "channel").toLocalIterator():
            outcome = _handle(row, run_id, settings, channel_adapters, renderer, lease, now)
            ledger.record(outcome)
            counts[outcome["status"]] += 1
    finally:
        ledger.close()
        rows.unpersist()
        if live is not None:
            live.unpersist()
        vault.close()
        for adapter in {id(a): a for a in channel_adapters.values()}.values():
            adapter.close()
    ledger.fold()
    _notifications(ctx, ledger, run_id)
    return _result(ref, counts, waiting, recovered, table.num_rows)


def _result(ref, counts, waiting, recovered, offered) -> JobResult:
    handled = sum(counts.values())
    notes = [f"{k}: {v}" for k, v in counts.items() if v]
    notes += [f"{k}: {waiting[k]}" for k in (NOT_DUE, WAITING) if waiting.get(k)]
    if recovered:
        notes.append(f"{recovered} outcome(s) recovered from an interrupted run")
    if not handled and not any(waiting.get(k) for k in (NOT_DUE, WAITING)):
        notes.append(f"all {offered} offers already handled")
    return JobResult(
        ref, handled, counts[SENT], rows_withheld=handled - counts[SENT], feed="deliver",
        notes=tuple(notes),
    )  # fmt: skip


def _handle(row, run_id, settings, channel_adapters, renderer, lease: Lease, now) -> dict:
    """One row's outcome; a malformed row is `invalid` alone, never an error of the run."""
    outcome = {
        c: row[c] for c in ("client_id", "campaign", "variant", "channel", "ally_id", "send_at")
    } | {"run_id": run_id, "attempts": row["_attempts"] or 0}
    try:
        outcome["message_id"] = message_id(run_id, row)
    except TypeError:
        outcome["message_id"] = None
    verdict = row["_verdict"]
    for status in (INVALID, REFUSED):
        if verdict.startswith(f"{status}:"):
            return outcome | {"status": status, "reason": verdict.split(":", 1)[1]}
    if verdict == EXPIRED:
        return outcome | {
            "status": EXPIRED,
            "reason": f"expired at {row['expires_at']:%Y-%m-%d %H:%M}",
        }
    if verdict == ERASED:
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
        return outcome | {"status": INVALID, "reason": str(e)}
    except (ValueError, TypeError, AttributeError) as e:  # parameters of the wrong shape
        return outcome | {"status": INVALID, "reason": f"parameters: {type(e).__name__}"}
    message = Outgoing(
        outcome["message_id"], row["channel"], row["address"], text.subject, text.body,
        row["send_at"],
    )  # fmt: skip
    lease.check()  # never send once another process has taken this handoff over
    attempts = outcome["attempts"] + 1
    try:
        provider_id = channel_adapters[row["channel"]].send(message)
    except SendError as e:
        return outcome | _after_failure(e, attempts, settings, now)
    kill_point("deliver:sent")  # sent, not yet journaled
    return outcome | {"status": SENT, "attempts": attempts, "provider_id": provider_id}


def _after_failure(error: SendError, attempts: int, settings: DeliverySettings, now) -> dict:
    retry = settings.retry
    if error.retryable and attempts < retry.attempts:
        at = now + timedelta(seconds=retry.wait_after(attempts))
        why = f"{error.reason}; attempt {attempts} of {retry.attempts}"
        why += f", again from {at:%Y-%m-%d %H:%M}"
        return {"status": RETRYING, "attempts": attempts, "next_attempt_at": at, "reason": why}
    reason = error.reason if not error.retryable else f"{error.reason} (after {attempts} attempts)"
    return {"status": FAILED, "attempts": attempts, "reason": reason}


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
