"""The transactions feed over PostgreSQL JDBC (the database .ci/run starts on loopback)."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from jobs.generate.bank import BankSpec, generate_bank
from jobs.runtime.config import conf_dir
from tests.lakes import Lake

PG_URL = os.environ.get("OFFERLAKE_PG_URL")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not PG_URL, reason="OFFERLAKE_PG_URL is not set: PostgreSQL is started by .ci/run"
    ),
]
SPEC = BankSpec(customers=40, days=15, seed=3)


def write_pg(df, table: str, mode: str) -> None:
    df.write.format("jdbc").option("url", PG_URL).option("dbtable", table).option(
        "driver", "org.postgresql.Driver"
    ).mode(mode).save()


def drop_pg(spark, table: str) -> None:
    jvm = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    driver = loader.loadClass("org.postgresql.Driver").newInstance()
    connection = driver.connect(PG_URL, jvm.java.util.Properties())
    try:
        connection.createStatement().execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        connection.close()


def test_postgres_transactions_are_ingested_in_parallel_ranges_then_incrementally(tmp_path, spark):
    bank = tmp_path / "bank"
    generate_bank(SPEC, bank, workers=1, progress=False)
    sqlite = bank / "onprem/landing/transactions" / SPEC.delivery_date.isoformat()
    rows = (
        spark.read.format("jdbc")
        .option("url", f"jdbc:sqlite:{sqlite / 'transactions.sqlite'}")
        .option("driver", "org.sqlite.JDBC")
        .option("dbtable", "transactions")
        .load()
    )
    table = f"transactions_{uuid.uuid4().hex[:8]}"
    write_pg(rows.withColumn("date", rows["date"].cast("date")), table, "overwrite")
    try:
        check_ingest(tmp_path, spark, rows, table)
    finally:
        drop_pg(spark, table)


def check_ingest(tmp_path, spark, rows, table: str) -> None:

    conf = tmp_path / "conf"
    shutil.copytree(conf_dir(), conf)
    source = conf / "sources" / "transactions.yaml"
    source.write_text(
        source.read_text()
        .replace("url: null", "url: ${OFFERLAKE_PG_URL}")
        .replace("dbtable: transactions", f"dbtable: {table}")
    )
    lake = Lake(tmp_path / "lake", spark, conf)
    first = lake.ingest("transactions", run_date=SPEC.delivery_date)["transactions"]
    assert not first.error, first.error
    assert first.reconciled and first.rows_written == rows.count()
    raw = lake.table("raw/transactions")
    assert raw.first()._source_file == f"postgresql:offerlake/{table}"
    assert "password" not in raw.first()._source_file

    newer = (
        rows.orderBy(rows.trans_id.desc())
        .limit(2)
        .selectExpr(
            "trans_id + 1000000 AS trans_id",
            "account_id",
            "CAST(date AS DATE) AS date",
            "type",
            "operation",
            "amount",
            "balance",
            "k_symbol",
            "bank",
            "account",
            "merchant",
            "mcc",
            "city",
        )
    )
    write_pg(newer, table, "append")
    second = lake.ingest("transactions", run_date=SPEC.delivery_date)["transactions"]
    assert (second.rows_read, second.rows_written) == (2, 2)
    assert lake.table("raw/transactions").count() == rows.count() + 2
