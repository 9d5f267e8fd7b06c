"""Profiles served by key: `offerlake run serve` writes a slice of customer_360 and segments to a
DynamoDB table (a moto server on loopback), keyed by customer token, and only what changed;
`offerlake profile TOKEN` reads one back."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import boto3
import pytest
import yaml
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs.cli import main
from jobs.serving.settings import load
from tests.lakes import SMALL_BANK, copy_lake

DAY = SMALL_BANK.delivery_date
REGION = "eu-central-1"


@pytest.fixture(scope="module")
def dynamodb(free_port):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as env:
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.setenv(key, "testing")
        yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def served(modelled, dynamodb, tmp_path):
    """A copy of the modelled bank whose conf/serving.yaml serves (always) to the moto server."""
    lake = copy_lake(modelled[0], tmp_path)
    conf = tmp_path / "conf"
    shutil.copytree(lake.config.conf_dir, conf)
    settings = yaml.safe_load((conf / "serving.yaml").read_text())
    settings["serve"] = "always"
    settings["dynamodb"]["endpoint"] = dynamodb
    settings["dynamodb"]["table"] = f"profiles_{tmp_path.name}"
    (conf / "serving.yaml").write_text(yaml.safe_dump(settings))
    lake.conf_dir = conf
    return lake, load(conf)


def _items(settings) -> dict[str, dict]:
    table = boto3.resource(
        "dynamodb", region_name=REGION, endpoint_url=settings.dynamodb.endpoint
    ).Table(settings.dynamodb.table)
    return {i["customer_token"]: i for i in table.scan(ConsistentRead=True)["Items"]}


def test_every_profile_is_served_by_token_with_the_customer_360_values(served):
    lake, settings = served
    (result,) = lake.run("serve", DAY).values()
    c360 = lake.table("analytics/customer_360").where(F.col("as_of") == DAY)
    customers = c360.count()
    assert (result.rows_read, result.rows_written, result.rows_withheld) == (
        customers,
        customers,
        0,
    )
    items = _items(settings)
    assert len(items) == customers
    row = c360.orderBy("client_id").first()
    item = items[row.client_id]
    assert item["tenure_days"] == Decimal(str(row.tenure_days))
    assert item["life_stage"] == row.life_stage
    segment = lake.table("analytics/segments").where(F.col("client_id") == row.client_id).first()
    assert item["rule_segment"] == segment.rule_segment
    expires = datetime.combine(DAY + timedelta(days=settings.ttl_days), time(), tzinfo=UTC)
    assert int(item["expires_at"]) == int(expires.timestamp())
    assert "email" not in item and "name" not in item  # tokens and the served slice only


def test_a_rerun_writes_nothing_a_change_writes_one_and_a_gone_customer_is_deleted(served):
    lake, settings = served
    lake.run("serve", DAY)
    (again,) = lake.run("serve", DAY).values()
    assert again.rows_written == 0 and again.rows_withheld == again.rows_read > 0

    path = str(lake.root / "lake/analytics/customer_360")
    tokens = sorted(r.client_id for r in lake.table("analytics/customer_360").collect())
    changed, gone = tokens[0], tokens[1]
    table = DeltaTable.forPath(lake.spark, path)
    table.update(F.col("client_id") == changed, {"tenure_days": F.col("tenure_days") + 1000})
    table.delete(F.col("client_id") == gone)

    (third,) = lake.run("serve", DAY).values()
    assert third.rows_written == 1 and "deleted 1 (gone from customer_360)" in third.notes
    items = _items(settings)
    assert gone not in items
    c360 = lake.table("analytics/customer_360").where(F.col("client_id") == changed).first()
    assert items[changed]["tenure_days"] == Decimal(str(c360.tenure_days))


def test_an_older_date_does_not_replace_what_is_served(served):
    lake, settings = served
    lake.run("serve", DAY)
    (older,) = lake.run("serve", DAY - timedelta(days=400)).values()
    assert older.rows_written == 0 and "no customer_360 up to this date" in older.notes


def test_offerlake_profile_reads_one_profile_back_by_token(served, capsys, monkeypatch):
    lake, settings = served
    lake.run("serve", DAY)
    token = sorted(_items(settings))[0]
    monkeypatch.setenv("OFFERLAKE_CONF", str(lake.conf_dir))
    monkeypatch.setenv("OFFERLAKE_LAKE", str(lake.root))
    assert main(["profile", token]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["customer_token"] == token and "clv" in shown
    assert main(["profile", "no-such-token"]) == 1


def test_a_local_lake_is_not_served_by_default(modelled, tmp_path):
    lake = copy_lake(modelled[0], tmp_path)
    (result,) = lake.run("serve", DAY).values()
    assert result.rows_written == 0 and "not served (serve: s3" in result.notes[0]
