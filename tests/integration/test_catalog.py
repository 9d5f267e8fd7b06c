"""Stage `catalog`: the lake's stage and analytics tables (never on-prem) in Glue for Athena
(boto3 against moto) and as Trino DDL in lake/catalog/trino.sql."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from decimal import Decimal

import boto3
import pytest
from moto import mock_aws
from pyspark.sql import types as T

from jobs.catalog.trino import trino_type

DAY = date(2026, 3, 31)
REGION = "eu-central-1"


@pytest.fixture
def lake_with_tables(lake, tmp_path):
    """stage/card_transactions (partitioned), analytics/kpis (nested types), raw/crm_clients."""
    spark = lake.spark
    cards = spark.createDataFrame(
        [("tok-1", 12.5, datetime(2026, 3, 1, 9), "2026-03")],
        "user string, amount double, ts timestamp, txn_month string",
    )
    cards.write.format("delta").partitionBy("txn_month").save(
        str(lake.root / "lake/stage/card_transactions")
    )
    kpis = spark.createDataFrame(
        [("car_loan", 3, Decimal("0.25"), ["push"], {"a": 1}, ("x", 2))],
        T.StructType(
            [
                T.StructField("campaign", T.StringType()),
                T.StructField("sent", T.IntegerType()),
                T.StructField("rate", T.DecimalType(10, 4)),
                T.StructField("channels", T.ArrayType(T.StringType())),
                T.StructField("counts", T.MapType(T.StringType(), T.LongType())),
                T.StructField(
                    "top",
                    T.StructType(
                        [T.StructField("name", T.StringType()), T.StructField("n", T.LongType())]
                    ),
                ),
            ]
        ),
    )
    kpis.write.format("delta").save(str(lake.root / "lake/analytics/kpis"))
    spark.createDataFrame([(1, "Jana")], "client_id long, first_name string").write.format(
        "delta"
    ).save(str(lake.root / "onprem/raw/crm_clients"))
    conf = tmp_path / "conf"
    shutil.copytree(lake.config.conf_dir, conf)
    lake.conf_dir = conf
    return lake


def _register_always(lake) -> None:
    path = lake.conf_dir / "catalog.yaml"
    path.write_text(path.read_text().replace("register: s3", "register: always"))


def test_spark_types_map_to_trino_types():
    assert trino_type(T.TimestampType()) == "timestamp(3) with time zone"
    assert trino_type(T.DecimalType(12, 2)) == "decimal(12,2)"
    nested = T.StructType(
        [T.StructField("a b", T.ArrayType(T.MapType(T.StringType(), T.IntegerType())))]
    )
    assert trino_type(nested) == 'row("a b" array(map(varchar, integer)))'
    with pytest.raises(ValueError, match="no Trino type"):
        trino_type(T.NullType())


def test_trino_ddl_covers_every_lake_table_and_no_onprem_one(lake_with_tables):
    lake = lake_with_tables
    results = lake.run("catalog", DAY)
    assert results["catalog/glue"].rows_written == 0, "a local lake is not registered in Glue"
    sql_file = lake.root / "lake/catalog/trino.sql"
    sql = sql_file.read_text()
    assert "CREATE SCHEMA IF NOT EXISTS delta.stage;" in sql
    assert "CREATE SCHEMA IF NOT EXISTS delta.analytics;" in sql
    cards = lake.root / "lake/stage/card_transactions"
    assert (
        '-- stage.card_transactions: "user" varchar, "amount" double, '
        '"ts" timestamp(3) with time zone, "txn_month" varchar; partitioned by txn_month\n'
        'DROP TABLE IF EXISTS delta.stage."card_transactions";\n'
        "CALL delta.system.register_table(schema_name => 'stage', "
        f"table_name => 'card_transactions', table_location => 'local://{cards}');"
    ) in sql
    assert '"rate" decimal(10,4)' in sql and '"channels" array(varchar)' in sql
    assert '"counts" map(varchar, bigint)' in sql and '"top" row("name" varchar, "n" bigint)' in sql
    assert "crm_clients" not in sql and "onprem" not in sql
    lake.run("catalog", DAY)
    assert sql_file.read_text() == sql, "a re-run writes the same file"


def test_the_catalog_reads_the_tables_as_spark_does_without_starting_spark(lake_with_tables):
    """delta-rs reads each table's schema and partitions from its log: the same as Spark's, and
    `offerlake run catalog` runs in a process with no Java at all."""
    import os
    import subprocess
    import sys

    from delta.tables import DeltaTable

    from jobs.catalog.tables import lake_tables

    lake = lake_with_tables
    found = lake_tables(lake.context(DAY))
    assert [(t.zone, t.name) for t in found] == [
        ("stage", "card_transactions"),
        ("analytics", "kpis"),
    ]
    for table in found:
        path = table.location.removeprefix("file://")
        assert table.schema == lake.spark.read.format("delta").load(path).schema
        detail = DeltaTable.forPath(lake.spark, path).detail().first()
        assert list(table.partitions) == list(detail.partitionColumns)
    no_java = {**os.environ, "JAVA_HOME": "/nonexistent", "PATH": os.path.dirname(sys.executable)}
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "--lake", str(lake.root), "--conf", str(lake.conf_dir),
         "run", "catalog", "--date", DAY.isoformat()],
        env=no_java, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "trino.sql" in done.stdout


@mock_aws
def test_glue_holds_the_lake_tables_for_athena_and_follows_the_lake(lake_with_tables):
    lake = lake_with_tables
    _register_always(lake)
    glue = boto3.client("glue", region_name=REGION)
    glue.create_database(DatabaseInput={"Name": "offerlake_analytics"})
    glue.create_table(
        DatabaseName="offerlake_analytics",
        TableInput={"Name": "someone_elses", "StorageDescriptor": {"Columns": []}},
    )

    first = lake.run("catalog", DAY)["catalog/glue"]
    assert first.notes == ("created 2, updated 0, dropped 0",)
    table = glue.get_table(DatabaseName="offerlake_stage", Name="card_transactions")["Table"]
    assert table["Parameters"]["table_type"] == "DELTA"
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["StorageDescriptor"]["Location"] == (
        f"file://{lake.root / 'lake/stage/card_transactions'}"
    )
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == [
        ("user", "string"),
        ("amount", "double"),
        ("ts", "timestamp"),
    ]
    assert [(c["Name"], c["Type"]) for c in table["PartitionKeys"]] == [("txn_month", "string")]
    kpis = glue.get_table(DatabaseName="offerlake_analytics", Name="kpis")["Table"]
    types = {c["Name"]: c["Type"] for c in kpis["StorageDescriptor"]["Columns"]}
    assert types["top"] == "struct<name:string,n:bigint>" and types["rate"] == "decimal(10,4)"
    names = {d["Name"] for d in glue.get_databases()["DatabaseList"]}
    assert names == {"offerlake_stage", "offerlake_analytics"}, "no on-prem database"

    shutil.rmtree(lake.root / "lake/analytics/kpis")
    again = lake.run("catalog", DAY)["catalog/glue"]
    assert again.notes == ("created 0, updated 1, dropped 1",)
    left = {t["Name"] for t in glue.get_tables(DatabaseName="offerlake_analytics")["TableList"]}
    assert left == {"someone_elses"}, "a table the lake lost is dropped; others' are kept"
