"""The same DAG task in process and spark-submitted to `make cluster`'s Spark standalone cluster
(Variable offerlake_spark_mode=submit): the driver is a spark-submit process, its executors run in
the workers' JVMs, and what it writes is what the in-process run wrote. The whole chain under a
real scheduler: tests/ops/."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

from airflow.utils.state import DagRunState

DAY = "2026-03-31"


def _completed_applications(cluster) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.ui_port}/json/", timeout=5) as r:
        return json.load(r)["completedapps"]


def test_the_catalog_task_writes_the_same_ddl_in_process_and_on_the_cluster(
    dagbag, run_dag, spark, spark_cluster, tmp_path, monkeypatch
):
    cards = spark.createDataFrame(
        [("tok-1", 12.5, "2026-03")], "user string, amount double, txn_month string"
    )
    cards.write.format("delta").partitionBy("txn_month").save(
        str(tmp_path / "lake/stage/card_transactions")
    )
    kpis = spark.createDataFrame([("car_loan", 3)], "campaign string, sent int")
    kpis.write.format("delta").save(str(tmp_path / "lake/analytics/kpis"))
    monkeypatch.setenv("OFFERLAKE_LAKE", str(tmp_path))
    assert run_dag(dagbag.dags["catalog"], DAY).state == DagRunState.SUCCESS  # in process
    ddl = tmp_path / "lake" / "catalog" / "trino.sql"
    local = ddl.read_text()
    ddl.unlink()

    monkeypatch.setenv("AIRFLOW_VAR_OFFERLAKE_SPARK_MODE", "submit")
    monkeypatch.setenv(
        "AIRFLOW_CONN_OFFERLAKE_SPARK",
        json.dumps({"conn_type": "spark", "host": spark_cluster.master_url}),
    )
    bin_dir = str(Path(sys.executable).parent)  # spark-submit of the venv's pyspark
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    assert run_dag(dagbag.dags["catalog"], DAY).state == DagRunState.SUCCESS
    assert ddl.read_text() == local  # written again by the submitted driver, the same text
    apps = _completed_applications(spark_cluster)
    assert "offerlake-catalog" in [a["name"] for a in apps], apps  # the task, on the cluster
