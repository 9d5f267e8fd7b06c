"""The synthetic customers' reactions to delivered offers: landed as the next card and response
feeds, they close the loop, so effectiveness finds the planted lift."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime, time, timedelta

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs.catalog import duckdb_lake
from jobs.catalog.queries import QUERIES, for_trino, spark_views
from jobs.catalog.settings import load as load_catalog
from jobs.delivery import handoff
from jobs.generate.reactions import ReactionsError, simulate
from jobs.match.run import run_id_of
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from tests.lakes import SMALL_BANK, copy_lake

DAY = SMALL_BANK.delivery_date
NEXT = DAY + timedelta(days=1)
RUN = run_id_of(DAY)
SEND = datetime.combine(DAY, time(9))
PRIME = '{"rate": {"unit": "percent", "value": 0.085}, "tenure": {"unit": "months", "value": 60}}'
CASHBACK = '{"cashback": {"unit": "percent", "value": 0.15}}'


def _clients_with_cards_and_devices(lake) -> dict[str, tuple[int, int]]:
    """Clear client id -> (TabFormer user, lowest card) of clients with pings, e-mail and a card."""
    lake.spark.read.format("delta").load(
        str(lake.root / "onprem/raw/payment_cards")
    ).createOrReplaceTempView("payment_cards")
    for name in ("cards", "dispositions"):
        lake.spark.read.format("delta").load(
            str(lake.root / "onprem/raw" / name)
        ).createOrReplaceTempView(name)
    query = load_policy(lake.config.conf_dir).linked["card_user"]
    users = {str(r.client_id): r.value for r in lake.spark.sql(query).collect()}
    lowest = {
        r.user: r.card
        for r in lake.table("raw/payment_cards")
        .groupBy("user")
        .agg(F.min("card_index").alias("card"))
        .collect()
    }
    pinged = {
        str(r.client_id)
        for r in lake.table("raw/location_pings").select("client_id").distinct().collect()
    }
    mailed = {
        str(r.client_id)
        for r in lake.table("raw/crm_clients").where(F.col("email").isNotNull()).collect()
    }
    return {c: (u, lowest[u]) for c, u in sorted(users.items()) if c in pinged and c in mailed}


@pytest.fixture(scope="module")
def delivered(modelled, tmp_path_factory):
    """Three customers told on D (coffee at an ally by push, car loans by e-mail), one held out."""
    lake = copy_lake(modelled[0], tmp_path_factory.mktemp("reactions"))
    clients = _clients_with_cards_and_devices(lake)
    assert len(clients) >= 4, "the small bank has customers with cards, pings and e-mail"
    chosen = list(clients)[:4]
    # they opted in to the channels they are told on and out of no topic: delivery checks the
    # bank's own CRM again before it sends (jobs/delivery/recheck.py)
    DeltaTable.forPath(lake.spark, str(lake.root / "onprem/raw/crm_clients")).update(
        F.col("client_id").cast("string").isin(*chosen),
        {
            "opt_in_email": F.lit(True),
            "opt_in_push": F.lit(True),
            "topics_opt_out": F.array().cast("array<string>"),
        },
    )
    ctx = lake.context(DAY)
    vault = Vault.open(ctx, load_policy(ctx.config.conf_dir), job="test")
    tokens = vault.tokens_of({"client": set(chosen)})["client"]
    vault.close()
    ally = lake.table("stage/allies").where(F.col("mcc").isNotNull()).orderBy("ally_id").first()

    def offer(client, campaign, variant, channel, parameters, ally_id=None):
        return (
            RUN, tokens[client], campaign, variant, channel, parameters, SEND,
            SEND + timedelta(days=7), "retail", ally_id,
        )  # fmt: skip

    rows = [
        offer(chosen[0], "coffee_nearby", "main", "push", CASHBACK, ally.ally_id),
        offer(chosen[1], "car_loan", "prime", "email", PRIME),
        offer(chosen[2], "car_loan", "prime", "email", PRIME),
    ]
    handoff.export(ctx, lake.spark.createDataFrame(rows, handoff.SCHEMA), RUN)
    offers = [(*r[:5], r[9], r[6], False) for r in rows] + [
        (RUN, tokens[chosen[3]], "car_loan", "prime", "email", None, SEND, True)
    ]
    lake.spark.createDataFrame(
        offers,
        "run_id string, client_id string, campaign string, variant string, channel string, "
        "ally_id string, send_at timestamp, holdout boolean",
    ).write.format("delta").save(str(lake.root / "lake/analytics/deliverable_offers"))
    sent = lake.run("deliver", DAY)[f"delivery/{RUN}"]
    assert sent.rows_written == 3, sent.notes
    return lake, chosen, {c: clients[c] for c in chosen}, tokens, ally


def test_reactions_land_as_the_next_feeds_for_the_customers_told(delivered):
    lake, chosen, cards, tokens, ally = delivered
    done = simulate(lake.context(DAY), buy_rate=1.0, accept_rate=1.0, seed=7)
    assert (done.sent, done.purchases, done.acceptances, done.unmatched) == (3, 1, 2, 0)

    purchase_file = (
        lake.root / f"onprem/landing/card_transactions/{DAY}/card_transaction.reactions-{RUN}.csv"
    )
    [row] = list(csv.DictReader(purchase_file.open()))
    user, card = cards[chosen[0]]
    assert (int(row["User"]), int(row["Card"])) == (user, card), "the customer's own card"
    at = datetime(
        int(row["Year"]), int(row["Month"]), int(row["Day"]), *map(int, row["Time"].split(":"))
    )
    assert SEND < at <= SEND + timedelta(minutes=14)
    assert row["MCC"] == str(ally.mcc) and row["Merchant Name"] == (ally.merchant_name or ally.name)

    events = []
    for path in sorted(
        (lake.root / "onprem/landing/offer_responses").glob(f"*/reactions-{RUN}.jsonl")
    ):
        events += [json.loads(line) for line in path.read_text().splitlines()]
    accepted = {(e["client_id"], e["offer_id"]) for e in events if e["event"] == "accepted"}
    assert accepted == {(int(chosen[1]), "car_loan"), (int(chosen[2]), "car_loan")}
    assert int(chosen[3]) not in {e["client_id"] for e in events}, "the holdout heard nothing"

    audit = lake.spark.read.format("delta").load(str(lake.root / "onprem/vault/audit"))
    opened = audit.where(F.col("job") == "simulate-reactions").collect()
    assert {r.token for r in opened} == {tokens[c] for c in chosen[:3]}
    assert all(r.purpose == f"simulate reactions to {RUN}" for r in opened)

    before = {p: p.read_bytes() for p in done.files}
    again = simulate(lake.context(DAY), buy_rate=1.0, accept_rate=1.0, seed=7)
    assert {p: p.read_bytes() for p in again.files} == before, "a re-run lands the same files"


@pytest.fixture(scope="module")
def measured(delivered):
    """The reactions landed, then the next day's ingest, privacy gate and effectiveness."""
    lake = delivered[0]
    simulate(lake.context(DAY), buy_rate=1.0, accept_rate=1.0, seed=7)
    ingested = lake.ingest("card_transactions", "offer_responses", run_date=NEXT)
    lake.run("privacy", NEXT)
    lake.run("effectiveness", NEXT)
    return delivered, ingested


def test_the_loop_closes_effectiveness_finds_the_planted_lift(measured):
    (lake, chosen, _cards, tokens, ally), ingested = measured
    assert ingested["card_transactions"].rows_written == 1
    assert ingested["offer_responses"].rows_written == 4
    assert all(r.rows_quarantined == 0 for r in ingested.values())
    effective = {
        (r.client_id, r.campaign, r.matched_on)
        for r in lake.table("analytics/effective_notifications").collect()
    }
    assert effective == {
        (tokens[chosen[0]], "coffee_nearby", "merchant" if ally.merchant_name else "mcc"),
        (tokens[chosen[1]], "car_loan", "accepted"),
        (tokens[chosen[2]], "car_loan", "accepted"),
    }
    kpis = lake.table("analytics/kpis").where(F.col("campaign") == "car_loan").collect()
    assert sum(r.effective for r in kpis) == 2 and sum(r.holdouts for r in kpis) == 1
    assert sum(r.holdout_effective for r in kpis) == 0, "the holdout did not accept: lift > 0"


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_duckdb_answers_the_analysts_queries_as_spark_does(measured, query):
    """DuckDB (delta extension) and Spark read the same Delta tables and agree."""
    lake = measured[0][0]
    spark = spark_views(lake.context(NEXT))
    expected = [tuple(r) for r in spark.sql(QUERIES[query]).collect()]
    got = duckdb_lake.connect(lake.config).sql(QUERIES[query]).fetchall()
    assert expected, f"{query}: the lake holds rows to query"
    assert [tuple(pytest.approx(v) if isinstance(v, float) else v for v in r) for r in got] == (
        expected
    )


@pytest.fixture(scope="module")
def registered_in_trino(measured, trino):
    """`offerlake run catalog` on the measured lake, then its trino.sql run as written by the
    Trino CLI, twice (a re-run must work on tables already registered)."""
    lake = measured[0][0]
    lake.run("catalog", NEXT)
    ddl = lake.root / "lake" / "catalog" / "trino.sql"
    trino.cli("--file", str(ddl))
    trino.cli("--file", str(ddl))
    return lake, trino


def test_trino_sees_every_lake_table_and_its_rows_after_the_ddl_ran_twice(registered_in_trino):
    lake, trino = registered_in_trino
    settings = load_catalog(lake.config.conf_dir).trino
    for zone in ("stage", "analytics"):
        root = lake.root / "lake" / zone
        expected = sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir())
        shown = trino.query(f"SHOW TABLES FROM {settings.catalog}.{settings.schemas[zone]}")
        assert sorted(r["Table"] for r in shown) == expected, zone
    rows = trino.query('SELECT count(*) AS n FROM delta.analytics."notifications"')
    assert rows[0]["n"] == lake.table("analytics/notifications").count() > 0
    assert (lake.root / "lake/analytics/notifications/_delta_log").is_dir(), "DROP kept the data"


@pytest.mark.parametrize("query", sorted(QUERIES))
def test_trino_answers_the_analysts_queries_as_spark_and_duckdb_do(registered_in_trino, query):
    lake, trino = registered_in_trino
    settings = load_catalog(lake.config.conf_dir).trino
    spark = spark_views(lake.context(NEXT))
    expected = [tuple(r) for r in spark.sql(QUERIES[query]).collect()]
    duck = duckdb_lake.connect(lake.config).sql(QUERIES[query]).fetchall()
    got = trino.query(for_trino(QUERIES[query], settings.catalog, dict(settings.schemas)))
    assert expected, f"{query}: the lake holds rows to query"

    def approx(rows):
        return [tuple(pytest.approx(v) if isinstance(v, float) else v for v in r) for r in rows]

    assert approx([tuple(r.values()) for r in got]) == expected
    assert approx(duck) == expected


def test_no_delivery_means_no_reactions(lake):
    with pytest.raises(ReactionsError, match="nothing delivered yet"):
        simulate(lake.context(DAY))
    with pytest.raises(ReactionsError, match="buy rate 1.5 is not between 0 and 1"):
        simulate(lake.context(DAY), buy_rate=1.5)


def test_the_pipeline_summary_counts_rows_offers_and_effective_rates(measured):
    from rich.console import Console

    from jobs.summary import effectiveness, offers_per_channel, table_rows

    lake = measured[0][0]
    ctx = lake.context(NEXT)

    def text(table) -> str:
        console = Console(width=200, record=True)
        console.print(table)
        return console.export_text()

    rows = text(table_rows(ctx))
    assert "analytics/notifications" in rows and "stage/crm_clients" in rows
    assert "raw/" not in rows and "vault" not in rows  # the lake side only
    effective = text(effectiveness(ctx))
    # car_loan: 2 delivered, both accepted; its holdout did not: 100% and +100 pp
    assert re.search(r"car_loan\s+│\s+2\s+│\s+2\s+│\s+100\.0%\s+│\s+1\s+│\s+\+100\.0 pp", effective)
    offers = text(offers_per_channel(lake.context(DAY)))
    assert re.search(r"email\s+│\s+2\s+│\s+1", offers)  # two car loans sent, one held out
    # the measuring day made no offers: it shows the ones it measured
    assert text(offers_per_channel(ctx)) == offers
