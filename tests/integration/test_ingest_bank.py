"""`offerlake run ingest` on a small generated bank: reconciled, idempotent, crash-safe."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date, timedelta

import pytest
from chispa import assert_df_equality

from jobs.runtime.lineage import LINEAGE
from tests.lakes import RAW_TABLES as TABLES
from tests.lakes import SMALL_BANK as SPEC
from tests.lakes import Lake, fresh_lake


def versions(lake: Lake) -> dict[str, int]:
    from delta.tables import DeltaTable

    return {
        t: DeltaTable.forPath(lake.spark, str(lake.root / "onprem/raw" / t))
        .history(1)
        .first()
        .version
        for t in TABLES
    }


def test_every_feed_lands_in_its_raw_table_and_reconciles(ingested):
    lake, results = ingested
    assert set(TABLES) <= set(results), [r.error for r in results.values() if r.error]
    for table, result in results.items():
        assert not result.error, (table, result.error)
        assert result.reconciled and result.rows_quarantined == 0, (table, result.rules)
        assert result.rows_written == lake.table(f"raw/{table}").count() > 0, table


def test_row_counts_match_what_the_generator_wrote(ingested, bank):
    lake, results = ingested
    personas = (bank / "truth" / "personas.csv").read_text().splitlines()
    assert results["crm_clients"].rows_written == SPEC.customers == len(personas) - 1
    assert results["accounts"].rows_written == SPEC.customers
    landing = bank / "onprem" / "landing"
    csv = landing / "card_transactions" / SPEC.delivery_date.isoformat() / "card_transaction.v1.csv"
    assert results["card_transactions"].rows_written == len(csv.read_text().splitlines()) - 1
    db = landing / "transactions" / SPEC.delivery_date.isoformat() / "transactions.sqlite"
    with sqlite3.connect(db) as con:
        assert (
            results["transactions"].rows_written
            == con.execute("select count(*) from transactions").fetchone()[0]
        )


def test_raw_tables_carry_lineage_and_typed_columns(ingested):
    lake, _ = ingested
    for table in TABLES:
        df = lake.table(f"raw/{table}")
        assert set(LINEAGE) <= set(df.columns), table
        assert df.filter("_row_hash IS NULL OR _source_file = ''").count() == 0, table
    types = dict(lake.table("raw/card_transactions").dtypes)
    assert types["ts"] == "timestamp" and types["amount"] == "decimal(14,2)"
    assert types["is_fraud"] == "boolean" and types["errors"] == "array<string>"
    assert dict(lake.table("raw/web_sessions").dtypes)["visit_start_at"] == "timestamp"
    assert dict(lake.table("raw/accounts").dtypes)["opening_balance"] == "decimal(13,2)"


def test_web_sessions_explode_into_hits_that_agree_with_totals(ingested):
    lake, _ = ingested
    sessions = lake.table("raw/web_sessions").select("full_visitor_id", "visit_id", "hits")
    hits = lake.table("raw/web_hits").groupBy("full_visitor_id", "visit_id").count()
    mismatched = sessions.join(hits, ["full_visitor_id", "visit_id"], "full").filter(
        "hits IS NULL OR count IS NULL OR hits != count"
    )
    assert mismatched.count() == 0


def test_rerun_on_the_same_landing_files_changes_nothing(ingested):
    lake, _ = ingested
    before = versions(lake)
    again = lake.ingest(run_date=SPEC.delivery_date)
    assert versions(lake) == before
    assert all(r.rows_read == 0 for r in again.values())
    landed_sessions = list((lake.root / "onprem/landing/web").glob("*/ga_sessions_*"))
    assert again["web_sessions"].skipped_files == len(landed_sessions) > 0


def test_crash_before_the_ledger_then_rerun_gives_the_same_tables(
    bank, tmp_path, spark, ingested, monkeypatch
):
    import jobs.ingest.ledger as ledger

    clean, _ = ingested
    lake = fresh_lake(bank, tmp_path, spark)
    with monkeypatch.context() as patched:
        patched.setattr(ledger, "record", crash_with("disk full"))
        failed = lake.ingest("crm", "transactions", run_date=SPEC.delivery_date)
    assert "disk full" in failed["crm"].error and "disk full" in failed["transactions"].error
    lake.ingest("crm", "transactions", run_date=SPEC.delivery_date)
    assert_same_raw(lake, clean, *("crm_clients", "transactions"))


def assert_same_raw(lake, clean, *tables: str) -> None:
    for table in tables:
        business = [c for c in clean.table(f"raw/{table}").columns if c not in LINEAGE]
        assert_df_equality(
            lake.table(f"raw/{table}").select(business),
            clean.table(f"raw/{table}").select(business),
            ignore_row_order=True,
        )


def crash_with(message: str):
    def crash(*args, **kwargs):
        raise OSError(message)

    return crash


def test_the_ledger_takes_a_run_in_one_commit_and_a_failed_commit_is_loaded_again(
    bank, tmp_path, spark, ingested, monkeypatch
):
    import jobs.ingest.ledger as ledger

    clean, results = ingested
    first = spark.read.format("delta").option("versionAsOf", 0)
    landed = sum(r.files for r in results.values())  # one run, one commit, however many tables
    assert first.load(str(clean.root / "onprem/raw/_ingest_ledger")).count() == landed > 0

    lake = fresh_lake(bank, tmp_path, spark)
    with monkeypatch.context() as patched, pytest.raises(OSError, match="ledger disk full"):
        patched.setattr(ledger, "_append", crash_with("ledger disk full"))
        lake.ingest("crm", "mainframe", run_date=SPEC.delivery_date)
    assert not (lake.root / "onprem/raw/_ingest_ledger").exists()
    again = lake.ingest("crm", "mainframe", run_date=SPEC.delivery_date)
    assert all(r.files > 0 and not r.error for r in again.values()), again
    assert_same_raw(lake, clean, *("crm_clients", "accounts"))


def test_crash_during_a_raw_write_leaves_no_rows_and_the_next_run_completes(bank, tmp_path, spark):
    import jobs.ingest.load as load

    lake = fresh_lake(bank, tmp_path, spark)
    original = load.delta_io.merge_delta

    def crash_mid_write(df, path, *args, **kwargs):
        if path.endswith("raw/offer_responses"):
            # a task dies part-way through writing the table's files: Delta commits nothing
            df.limit(3).write.format("parquet").mode("overwrite").save(path + "/_partial")
            raise OSError("executor lost")
        return original(df, path, *args, **kwargs)

    load.delta_io.merge_delta = crash_mid_write
    try:
        first = lake.ingest("offer_responses", run_date=SPEC.delivery_date)["offer_responses"]
    finally:
        load.delta_io.merge_delta = original
    assert "executor lost" in first.error
    from delta.tables import DeltaTable

    assert not DeltaTable.isDeltaTable(spark, str(lake.root / "onprem/raw/offer_responses"))
    second = lake.ingest("offer_responses", run_date=SPEC.delivery_date)["offer_responses"]
    assert second.reconciled and second.rows_written == lake.table("raw/offer_responses").count()


def test_a_new_delivery_updates_changed_rows_and_adds_new_ones(ingested, tmp_path, spark, bank):
    from datetime import timedelta

    lake = fresh_lake(bank, tmp_path, spark)
    lake.ingest("crm", run_date=SPEC.delivery_date)
    landed = lake.root / "onprem/landing/crm" / SPEC.delivery_date.isoformat() / "crm_clients.jsonl"
    lines = landed.read_text().splitlines()
    changed = lines[0].replace('"occupation":"', '"occupation":"chief ')
    new = lines[1].replace('"client_id":2,', f'"client_id":{SPEC.customers + 1},')
    later = SPEC.delivery_date + timedelta(days=1)
    lake.land("crm", "crm_clients.jsonl", changed + "\n" + new + "\n", delivery=later)
    result = lake.ingest("crm", run_date=later)["crm_clients"]
    assert (result.rows_read, result.rows_written) == (2, 2)
    raw = lake.table("raw/crm_clients")
    assert raw.count() == SPEC.customers + 1
    assert raw.filter("client_id = 1").first().occupation.startswith("chief ")


def test_a_field_added_to_a_source_grows_its_raw_table_and_a_changed_type_is_refused(
    bank, tmp_path, spark
):
    """conf/sources/crm.yaml gains `loyalty_tier` after raw/crm_clients exists: the next
    delivery adds the column (older rows null). Then `occupation` becomes a long: the feed
    fails with an error naming the field, and raw keeps what it had."""
    import json
    from datetime import timedelta

    lake = fresh_lake(bank, tmp_path, spark)
    conf = tmp_path / "conf"
    shutil.copytree(lake.config.conf_dir, conf)
    lake.conf_dir = conf
    lake.ingest("crm", run_date=SPEC.delivery_date)
    before = lake.table("raw/crm_clients").count()
    source = conf / "sources" / "crm.yaml"
    source.write_text(
        source.read_text().replace(
            "        occupation: {}\n", "        occupation: {}\n        loyalty_tier: {}\n"
        )
    )
    landed = lake.root / "onprem/landing/crm" / SPEC.delivery_date.isoformat() / "crm_clients.jsonl"
    first = json.loads(landed.read_text().splitlines()[0])
    later = SPEC.delivery_date + timedelta(days=1)
    lake.land("crm", "crm_clients.jsonl", json.dumps(first | {"loyalty_tier": "gold"}) + "\n",
              delivery=later)  # fmt: skip
    result = lake.ingest("crm", run_date=later)["crm_clients"]
    assert result.error == "" and result.rows_written == 1
    raw = lake.table("raw/crm_clients")
    assert raw.count() == before and "loyalty_tier" in raw.columns
    tiers = {r.client_id: r.loyalty_tier for r in raw.select("client_id", "loyalty_tier").collect()}
    assert tiers[first["client_id"]] == "gold"
    assert sum(t is None for t in tiers.values()) == before - 1

    source.write_text(source.read_text().replace("occupation: {}", "occupation: {type: long}"))
    again = SPEC.delivery_date + timedelta(days=2)
    lake.land("crm", "crm_clients.jsonl", json.dumps(first | {"occupation": 7}) + "\n",
              delivery=again)  # fmt: skip
    failed = lake.ingest("crm", run_date=again)["crm"]
    assert "crm_clients.occupation is bigint in the feed but string in raw/crm_clients" in (
        failed.error
    )
    assert lake.table("raw/crm_clients").schema["occupation"].dataType.simpleString() == "string"


def test_sqlite_source_is_read_incrementally_by_key(bank, tmp_path, spark):
    lake = fresh_lake(bank, tmp_path, spark)
    first = lake.ingest("transactions", run_date=SPEC.delivery_date)["transactions"]
    db = lake.root / "onprem/landing/transactions" / SPEC.delivery_date.isoformat()
    with sqlite3.connect(db / "transactions.sqlite") as con:
        top = con.execute("select max(trans_id) from transactions").fetchone()[0]
        con.executemany(
            "insert into transactions (trans_id, account_id, date, type, amount, balance) "
            "values (?, 1, '2026-01-20', 'PRIJEM', 10, 10)",
            [(top + 1,), (top + 2,)],
        )
    second = lake.ingest("transactions", run_date=SPEC.delivery_date)["transactions"]
    assert (second.rows_read, second.rows_written) == (2, 2)
    assert lake.table("raw/transactions").count() == first.rows_written + 2


def test_landing_retention_deletes_only_fully_ingested_old_deliveries(ingested, tmp_path):
    from jobs.ingest.retention import purge_landing
    from jobs.ingest.sources import load_sources

    source = ingested[0]
    lake = Lake(tmp_path / "lake", source.spark, source.conf_dir)
    shutil.copytree(source.root / "onprem", lake.root / "onprem")
    feeds = load_sources(lake.config.conf_dir)
    landing = lake.root / "onprem" / "landing"
    folders = {f"{p.parent.name}/{p.name}" for p in landing.glob("*/*") if p.is_dir()}
    delivered = max(date.fromisoformat(f.split("/")[1]) for f in folders)
    days = lake.config.landing_retention_days
    assert purge_landing(lake.context(delivered + timedelta(days=days - 1)), feeds) == []
    # a file no run has taken in keeps its whole delivery folder
    crm = sorted(landing.glob("crm/*"))[-1]
    (crm / "crm_clients_late.jsonl").write_text('{"client_id": 1}\n')
    purged = purge_landing(lake.context(delivered + timedelta(days=days)), feeds)
    kept = f"crm/{crm.name}"
    assert kept not in purged and crm.is_dir()
    assert set(purged) == folders - {kept} and purged
    assert all(not (landing / p).exists() for p in purged)
    # raw keeps what the deleted files held
    assert (
        lake.table("raw/card_transactions").count()
        == ingested[0].table("raw/card_transactions").count()
    )
