"""The customers' side of the synthetic world: how they react to the offers delivered on D.

Runs on-prem after `offerlake run deliver`, for demos and tests (`offerlake simulate-reactions`).
Of D's notifications that went out (sent ledger, status `sent`), a share of the customers react,
chosen by a hash of the message id and the seed (so a re-run lands the same files):
- an offer with an ally: the customer pays by card at that ally (its merchant name and MCC)
  1 to 14 minutes after the send time;
- any other offer: the customer opens it and accepts it 10 minutes to 20 hours after the send.
Holdouts are never told, so they only do what the generated bank does anyway: the lift of
every campaign that went out is planted, and effectiveness should find it.

Reactions land as the next deliveries of the feeds they belong to, each in the folder of the
day it happened: card purchases in TabFormer's layout under
`landing/card_transactions/<day>/card_transaction.reactions-<run>.csv`, response events under
`landing/offer_responses/<day>/reactions-<run>.jsonl`. The customer's clear client id (needed
to write a feed, as the bank's systems would) is opened in the vault, each opening audited with
the purpose `simulate reactions`; the card is the customer's own TabFormer card
(conf/privacy.yaml `erasure.linked.card_user` says which card user a client is).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.delivery.deliver import ledger_path
from jobs.delivery.ledger import SENT
from jobs.errors import OfferlakeError
from jobs.generate.card_transactions import HEADER
from jobs.match.run import run_id_of
from jobs.privacy.gate import raw_tables
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext
from jobs.runtime.locks import SHARED
from jobs.runtime.zones import Zone

BUY_RATE = 0.4  # share of customers told about an ally who buy there
ACCEPT_RATE = 0.25  # share of customers told about any other offer who accept it
PURPOSE = "simulate reactions"


class ReactionsError(OfferlakeError):
    """Reactions cannot be simulated (nothing was delivered for the date)."""


@dataclass(frozen=True)
class Reactions:
    run_id: str
    sent: int
    purchases: int
    acceptances: int
    unmatched: int  # chosen to buy, but with no card (or ally) the bank knows
    files: tuple[Path, ...]


def _draw(seed: int, salt: str, column: str = "message_id"):
    """A uniform number in [0, 1) from the seed and the message id."""
    h = F.xxhash64(F.lit(seed), F.lit(salt), F.col(column))
    return F.pmod(h, F.lit(1_000_000)) / F.lit(1_000_000.0)


def _card_users(ctx: RunContext) -> DataFrame:
    """client_id (clear) -> user, card: each client's TabFormer user and lowest card index."""
    query = load_policy(ctx.config.conf_dir).linked.get("card_user")
    raws = raw_tables(ctx)
    if query is None or not {"payment_cards", "cards", "dispositions"} <= raws.keys():
        return ctx.spark.createDataFrame([], "client_id string, user long, card int")
    views = ("payment_cards", "cards", "dispositions")
    for name in views:
        raws[name].createOrReplaceTempView(name)
    try:  # the query is analysed here: the frame no longer needs the views
        pairs = ctx.spark.sql(query).select(
            F.col("client_id").cast("string").alias("client_id"), F.col("value").alias("user")
        )
    finally:
        for name in views:
            ctx.spark.catalog.dropTempView(name)
    cards = raws["payment_cards"].groupBy("user").agg(F.min("card_index").alias("card"))
    mine = (
        pairs.join(cards, "user")
        .groupBy("client_id")
        .agg(F.min(F.struct("user", "card")).alias("c"))
    )
    return mine.select("client_id", "c.user", "c.card")


def _opened(vault: Vault, chosen: DataFrame, run_id: str) -> DataFrame:
    """chosen + `client` (the clear client id), each token opened in the vault, audited first."""
    tokens = chosen.select(F.col("client_id").alias("token")).distinct()
    vault.audit_many(
        tokens.select("token", F.lit("client").alias("detail")),
        "detokenize",
        F.lit(f"{PURPOSE} to {run_id}"),
    )
    clear = vault.open_tokens(tokens).select(
        F.col("token").alias("client_id"), F.col("value").alias("client")
    )
    return chosen.join(clear, "client_id")


def _purchases(ctx: RunContext, buyers: DataFrame, seed: int) -> list[dict]:
    allies = ctx.read("stage/allies").select(
        "ally_id", F.coalesce("merchant_name", "name").alias("merchant"), "mcc"
    )
    cards = _card_users(ctx).withColumnRenamed("client_id", "client")
    minutes = F.lit(1) + F.floor(_draw(seed, "minutes") * 14).cast("int")
    cents = F.lit(15_000) + F.floor(_draw(seed, "cents") * 45_000).cast("int")  # 150-600 CZK
    ts = F.date_trunc("minute", "send_at") + F.make_interval(mins=minutes)
    rows = (
        buyers.join(allies, "ally_id")
        .join(cards, "client")
        .withColumn("ts", ts)
        .withColumn("cents", cents)
        .orderBy("ts", "user", "message_id")
        .select(
            F.to_date("ts").alias("day"),
            "user",
            "card",
            F.year("ts").alias("y"),
            F.month("ts").alias("m"),
            F.dayofmonth("ts").alias("d"),
            F.date_format("ts", "HH:mm").alias("hm"),
            "cents",
            "merchant",
            "mcc",
        )  # fmt: skip
    )
    return [
        {
            "day": r.day,
            "row": [
                r.user,
                r.card,
                r.y,
                r.m,
                r.d,
                r.hm,
                f"${r.cents // 100}.{r.cents % 100:02d}",
                "Chip Transaction",
                r.merchant,
                "",
                "",
                "",
                "" if r.mcc is None else r.mcc,
                "",
                "No",
            ],  # fmt: skip
        }
        for r in rows.collect()
    ]


def _acceptances(accepters: DataFrame, seed: int) -> list[dict]:
    """An `opened` then an `accepted` event per customer (timestamps in the session's zone)."""
    seconds = F.lit(600) + F.floor(_draw(seed, "seconds") * (20 * 3600 - 600)).cast("int")
    at = F.col("send_at") + F.make_interval(secs=seconds)
    iso = "yyyy-MM-dd'T'HH:mm:ss"
    rows = (
        accepters.withColumn("ts", at)
        .orderBy("ts", "client", "message_id")
        .select(
            F.to_date("ts").alias("day"),
            "client",
            "campaign",
            "variant",
            "channel",
            F.date_format(F.col("ts") - F.expr("INTERVAL 5 MINUTES"), iso).alias("opened"),
            F.date_format("ts", iso).alias("accepted"),
        )  # fmt: skip
    )
    return [
        {
            "day": r.day,
            "row": {
                "client_id": int(r.client),
                "offer_id": r.campaign,
                "variant": r.variant,
                "channel": r.channel,
                "event": event,
                "ts": getattr(r, event),
            },  # fmt: skip
        }
        for r in rows.collect()
        for event in ("opened", "accepted")
    ]


def _land(landing: Path, feed: str, name: str, rows: list[dict], write) -> list[Path]:
    paths = []
    for day in sorted({r["day"] for r in rows}):
        folder = landing / feed / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("w", newline="") as out:
            write(out, [r["row"] for r in rows if r["day"] == day])
        tmp.replace(path)
        paths.append(path)
    return paths


def _write_csv(out, rows) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)


def _write_jsonl(out, rows) -> None:
    out.writelines(json.dumps(r) + "\n" for r in rows)


def simulate(
    ctx: RunContext, buy_rate: float = BUY_RATE, accept_rate: float = ACCEPT_RATE, seed: int = 42
) -> Reactions:
    """Land the customers' reactions to D's notifications (see the module's doc)."""
    for name, rate in (("buy rate", buy_rate), ("accept rate", accept_rate)):
        if not 0 <= rate <= 1:
            raise ReactionsError(f"simulate-reactions: {name} {rate} is not between 0 and 1")
    run_id = run_id_of(ctx.run_date)
    path = ledger_path(ctx)
    if not delta_io.is_delta(ctx.spark, path):
        raise ReactionsError(f"simulate-reactions: nothing delivered yet ({path} is empty)")
    sent = (
        delta_io.read_delta(ctx.spark, path)
        .where((F.col("run_id") == run_id) & (F.col("status") == SENT))
        .persist()
    )
    n_sent = sent.count()
    if n_sent == 0:
        raise ReactionsError(f"simulate-reactions: no notification of {run_id} was sent")
    draw = _draw(seed, "reacts")
    with_ally = F.col("ally_id").isNotNull()
    chosen = sent.where((with_ally & (draw < buy_rate)) | (~with_ally & (draw < accept_rate)))
    policy = load_policy(ctx.config.conf_dir)
    with Vault.open(ctx, policy, job="simulate-reactions", lock=SHARED) as vault:
        chosen = _opened(vault, chosen, run_id).persist()
        buyers = chosen.where(with_ally)
        purchases = _purchases(ctx, buyers, seed)
        acceptances = _acceptances(chosen.where(~with_ally), seed)
        unmatched = buyers.count() - len(purchases)
        chosen.unpersist()
    landing = Path(ctx.zone_path(Zone.LANDING))
    files = _land(
        landing, "card_transactions", f"card_transaction.reactions-{run_id}.csv", purchases,
        _write_csv,
    )  # fmt: skip
    files += _land(
        landing, "offer_responses", f"reactions-{run_id}.jsonl", acceptances, _write_jsonl
    )
    sent.unpersist()
    return Reactions(run_id, n_sent, len(purchases), len(acceptances) // 2, unmatched, tuple(files))
