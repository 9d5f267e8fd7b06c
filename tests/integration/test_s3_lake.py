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


def _log_store(spark, endpoint: str):
    """offerlake's S3 log store in the test JVM, configured as a driver's would be."""
    conf = spark._jvm.org.apache.hadoop.conf.Configuration()
    for key, value in {
        "fs.s3a.endpoint": endpoint,
        "fs.s3a.path.style.access": "true",
        "fs.s3a.access.key": "testing",
        "fs.s3a.secret.key": "testing",
        "fs.s3a.endpoint.region": "eu-central-1",
    }.items():
        conf.set(key, value)
    return spark._jvm.org.offerlake.delta.S3ConditionalPutLogStore(conf), conf


def _actions(spark, *lines: str):
    listed = spark._jvm.java.util.ArrayList()
    for line in lines:
        listed.add(line)
    return listed.iterator()


def test_a_commit_file_is_written_once_whoever_else_writes_it(spark, s3):
    """The put-if-absent Delta relies on: the second writer of a version gets
    FileAlreadyExistsException and the first writer's commit stays as written."""
    from py4j.protocol import Py4JJavaError

    endpoint, _, session = s3
    store, conf = _log_store(spark, endpoint)
    key = f"contract/_delta_log/{0:020d}.json"
    path = spark._jvm.org.apache.hadoop.fs.Path(f"s3a://{BUCKET}/{key}")
    store.write(path, _actions(spark, '{"first":1}', '{"second":2}'), False, conf)
    with pytest.raises(Py4JJavaError) as refused:
        store.write(path, _actions(spark, '{"other":3}'), False, conf)
    assert "java.nio.file.FileAlreadyExistsException" in str(refused.value.java_exception)
    s3 = session.client("s3", endpoint_url=endpoint)
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    assert body == '{"first":1}\n{"second":2}\n'
    store.write(path, _actions(spark, '{"last_checkpoint":1}'), True, conf)  # overwrite allowed
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b'{"last_checkpoint":1}\n'
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="_offerlake/")
    assert listed["KeyCount"] == 0  # the bucket's conditional-write probe cleaned up
    assert store.isPartialWriteVisible(path, conf) is False


def _race_driver(writer: str, table: str, commits: int, go: Path, s3) -> subprocess.Popen:
    endpoint, env, _ = s3
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.s3_race_driver", writer, table, endpoint,
         str(go), str(commits)],
        env={**os.environ, **env}, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip


def _finished(driver: subprocess.Popen) -> None:
    out, _ = driver.communicate(timeout=600)
    assert driver.returncode == 0, out[-3000:]


def test_two_drivers_committing_to_one_table_at_once_lose_no_commit(spark, s3, tmp_path):
    """Two Spark drivers (two processes) append to one s3a:// Delta table at the same moment.
    Every commit of each survives: its label in the log's commitInfo and its row in the table."""
    endpoint = s3[0]
    table, commits, go = f"s3a://{BUCKET}/race/table", 8, tmp_path / "go"
    created = tmp_path / "created"
    created.touch()
    _finished(_race_driver("0", table, 1, created, s3))  # the table: version 0
    drivers = [_race_driver(writer, table, commits, go, s3) for writer in "ab"]
    go.touch()  # each driver waits for it after its JVM has started
    for driver in drivers:
        _finished(driver)

    from delta.tables import DeltaTable

    hadoop = spark._jsc.hadoopConfiguration()  # this bucket only: other tests share the session
    for key, value in {
        "endpoint": endpoint,
        "path.style.access": "true",
        "access.key": "testing",
        "secret.key": "testing",
    }.items():
        hadoop.set(f"fs.s3a.bucket.{BUCKET}.{key}", value)
    history = DeltaTable.forPath(spark, table).history().orderBy("version").collect()
    labels = [h["userMetadata"] for h in history]
    expected = ["0-0"] + [f"{w}-{i}" for w in "ab" for i in range(commits)]
    assert sorted(labels) == sorted(expected)  # every commit, each a version of its own
    assert [h["version"] for h in history] == list(range(2 * commits + 1))
    rows = spark.read.format("delta").load(table).collect()
    assert sorted(f"{r['writer']}-{r['i']}" for r in rows) == sorted(expected)
    writers = "".join(label[0] for label in labels[1:])
    assert writers not in ("a" * commits + "b" * commits, "b" * commits + "a" * commits), (
        f"the drivers did not overlap ({writers}): no race was tested"
    )
