"""The privacy gate on real public data: TabFormer users and cards, CardDemo customers."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs.ingest.public import ingest_public
from jobs.privacy.commands import leakscan
from tests.lakes import DELIVERY, Lake


@pytest.fixture(scope="module")
def public_lake(tmp_path_factory, spark, shared_datasets) -> tuple[Lake, dict]:
    lake = Lake(tmp_path_factory.mktemp("public") / "lake", spark)
    sources = {"tabformer": shared_datasets / "tabformer", "carddemo": shared_datasets / "carddemo"}
    for r in ingest_public(lake.config, sources, DELIVERY, spark=spark):
        assert not r.error and r.reconciled, r
    return lake, lake.run("privacy", DELIVERY)


def clear_values(lake: Lake, table: str, *columns: str) -> set[str]:
    values = set()
    for column in columns:
        rows = lake.table(f"raw/{table}").select(F.col(column).cast("string")).collect()
        values |= {r[0].strip().lower() for r in rows if r[0] and r[0].strip()}
    return values


def stage_values(lake: Lake, table: str) -> set[str]:
    stage = lake.table(f"stage/{table}")
    values = set()
    for column in stage.columns:
        rows = stage.select(F.col(column).cast("string")).distinct().collect()
        values |= {r[0].strip().lower() for r in rows if r[0]}
    return values


def test_tabformer_users_and_cards_reach_stage_without_names_addresses_or_cvv(public_lake):
    lake, results = public_lake
    assert results["stage/card_users"].rows_written == 2000
    users = lake.table("stage/card_users")
    assert not {"person", "address", "apartment", "birth_year"} & set(users.columns)
    leaked = clear_values(lake, "card_users", "person", "address") & stage_values(
        lake, "card_users"
    )
    assert not leaked
    exact = {
        (r.latitude, r.longitude)
        for r in lake.table("raw/card_users").select("latitude", "longitude").collect()
    }
    coarse = {(r.latitude, r.longitude) for r in users.select("latitude", "longitude").collect()}
    assert not exact & coarse and len(coarse) < len(exact)  # a grid, not the homes
    cards = lake.table("stage/payment_cards")
    assert "cvv" not in cards.columns
    numbers = clear_values(lake, "payment_cards", "card_number")
    assert not numbers & stage_values(lake, "payment_cards")
    first = cards.orderBy("user", "card_index").first()
    assert first.card_number.startswith("cn_")
    # Amex numbers have 15 digits, others 16: all but the last four are masked
    hidden, shown = first.card_number_masked[:-4], first.card_number_masked[-4:]
    assert set(hidden) == {"*"} and len(hidden) in (11, 12) and shown.isdigit()
    # the same TabFormer user has the same token in transactions, users and cards
    users_tokens = {r[0] for r in users.select("user").collect()}
    txn_tokens = {
        r[0] for r in lake.table("stage/card_transactions").select("user").distinct().collect()
    }
    assert txn_tokens <= users_tokens


def test_carddemo_customers_reach_stage_without_any_identity(public_lake):
    lake, results = public_lake
    customers = lake.table("stage/carddemo_customers")
    assert results["stage/carddemo_customers"].rows_written == customers.count() > 0
    for gone in ("first_name", "last_name", "address_line_1", "phone_1", "ssn", "government_id"):
        assert gone not in customers.columns
    secret = clear_values(
        lake,
        "carddemo_customers",
        "first_name",
        "middle_name",
        "last_name",
        "address_line_1",
        "address_line_2",
        "phone_1",
        "phone_2",
        "ssn",
        "government_id",
    )
    for table in (
        "carddemo_customers",
        "carddemo_cards",
        "carddemo_card_xref",
        "carddemo_accounts",
    ):
        assert not secret & stage_values(lake, table), table


def test_leak_scanner_finds_nothing_in_the_public_stage(public_lake):
    lake, _ = public_lake
    _, hits = leakscan(lake.config, lake.spark)
    assert hits == [], [(h.table, h.column, h.found, h.values) for h in hits]
