"""Spark modes of a DAG task against `make cluster`'s Spark standalone cluster (Variable
offerlake_spark_mode=submit). Every Spark task spark-submitted to the cluster, and what it writes
against an in-process run, is tested with the whole chain under a real scheduler: tests/ops/."""

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


def test_the_catalog_task_runs_in_process_in_either_spark_mode(
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
    assert ddl.read_text() == local  # written again, the same text
    apps = _completed_applications(spark_cluster)
    # it starts no Spark (delta-rs reads the logs), so it is never a cluster application
    assert "offerlake-catalog" not in [a["name"] for a in apps], apps
