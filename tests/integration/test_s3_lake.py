"""The same pipeline with the lake on S3: `s3a://` through hadoop-aws, against a moto server on
loopback as the S3 endpoint (and as Glue for the catalog stage). On-prem zones stay on local disk,
as in production (conf/lake.yaml `production`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from jobs.generate.bank import BankSpec, generate_bank

BANK = BankSpec(customers=40, days=14, seed=9)
BUCKET, PREFIX = "offerlake-s3-test", "lakehouse"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3(tmp_path_factory, free_port):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": endpoint,  # boto3 (Glue) and pyarrow (the handoff manifest)
    }
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-central-1"
    )
    session.client("s3", endpoint_url=endpoint).create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    yield endpoint, env, session
    server.stop()


@pytest.fixture(scope="module")
def piped(s3, tmp_path_factory):
    """`offerlake pipeline` in its own process, OFFERLAKE_ENV naming an environment whose lake
    root is the bucket and whose on-prem root is a local folder."""
    endpoint, env, _ = s3
    root = tmp_path_factory.mktemp("s3-lake")
    conf = root / "conf"
    shutil.copytree(REPO / "conf", conf)
    lake_yaml = yaml.safe_load((conf / "lake.yaml").read_text())
    lake_yaml["environments"]["s3test"] = {
        "lake_root": f"s3a://{BUCKET}/{PREFIX}",
        "onprem_root": str(root / "bank"),
        "spark_master": "local[2]",
        "s3_endpoint": endpoint,
    }
    lake_yaml["spark"]["conf"]["spark.driver.memory"] = "2g"
    (conf / "lake.yaml").write_text(yaml.safe_dump(lake_yaml))
    generate_bank(BANK, root / "bank", workers=1, progress=False)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "offerlake"), "pipeline",
         "--date", BANK.delivery_date.isoformat()],
        env={**os.environ, **env, "OFFERLAKE_CONF": str(conf), "OFFERLAKE_ENV": "s3test",
             "OFFERLAKE_LAKE": ""},
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    return root, done


def _keys(session, endpoint: str) -> set[str]:
    s3 = session.client("s3", endpoint_url=endpoint)
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    return keys


def test_the_pipeline_runs_with_the_lake_in_the_bucket(s3, piped):
    endpoint, _, session = s3
    root, done = piped
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    keys = _keys(session, endpoint)
    for table in (
        "stage/crm_clients",
        "stage/card_transactions",
        "analytics/customer_360",
        "analytics/deliverable_offers",
        "analytics/notifications",
        "analytics/kpis",
    ):
        assert f"{PREFIX}/lake/{table}/_delta_log/00000000000000000000.json" in keys, table
    assert any(
        k.startswith(f"{PREFIX}/lake/handoff/") and k.endswith("manifest.json") for k in keys
    )
    assert f"{PREFIX}/lake/catalog/trino.sql" in keys
    assert not (root / "bank" / "lake").exists()  # nothing of the lake on local disk
    assert (root / "bank" / "onprem" / "raw" / "crm_clients" / "_delta_log").is_dir()
    assert not any("/onprem/" in k for k in keys)  # on-prem zones never reach the bucket
    assert "0 hits" in done.stdout


def test_the_catalog_stage_registered_the_bucket_tables_in_glue(s3, piped):
    endpoint, _, session = s3
    glue = session.client("glue", endpoint_url=endpoint)
    tables = {
        t["Name"]: t for t in glue.get_tables(DatabaseName="offerlake_analytics")["TableList"]
    }
    assert {"customer_360", "notifications", "kpis"} <= set(tables)
    location = tables["notifications"]["StorageDescriptor"]["Location"]
    assert location == f"s3://{BUCKET}/{PREFIX}/lake/analytics/notifications"
    stage = {t["Name"] for t in glue.get_tables(DatabaseName="offerlake_stage")["TableList"]}
    assert "crm_clients" in stage and "raw" not in stage
