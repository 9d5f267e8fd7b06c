"""The DAGs as the scheduler chains them, each run with dag.test() on a tiny generated bank:
ingest -> privacy -> customer_model -> geo_offers -> campaigns -> delivery -> effectiveness ->
catalog; then the catalog again with spark-submit to `make cluster`'s Spark standalone cluster."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from airflow.utils.state import DagRunState

from jobs.generate.bank import BankSpec, generate_bank

BANK = BankSpec(customers=160, days=20, seed=1)  # nine car intenders: offers beyond the holdout
CHAIN = (
    "ingest",
    "privacy",
    "customer_model",
    "geo_offers",
    "campaign_car_loan",
    "campaign_coffee_nearby",
    "delivery",
    "effectiveness",
    "catalog",
)


pytestmark = pytest.mark.end_to_end  # runs after the other tests (tests/conftest.py)


@pytest.fixture(scope="module")
def chained(dagbag, run_dag, tmp_path_factory, spark):
    """The tasks run in this process, in the test run's Spark session (made by `spark` first)."""
    lake = tmp_path_factory.mktemp("chain")
    generate_bank(BANK, lake, workers=1, progress=False)
    runs = {}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OFFERLAKE_LAKE", str(lake))
        for dag_id in CHAIN:
            runs[dag_id] = run_dag(dagbag.dags[dag_id], BANK.delivery_date.isoformat())
    spark.catalog.clearCache()
    return lake, runs


def test_every_dag_of_the_chain_succeeds_and_leaves_the_final_tables(chained, spark):
    lake, runs = chained
    assert {d: r.state for d, r in runs.items()} == {d: DagRunState.SUCCESS for d in CHAIN}

    def table(name):
        return spark.read.format("delta").load(str(lake / "lake" / "analytics" / name))

    offers = table("deliverable_offers")
    assert offers.where("campaign = 'car_loan'").count() > 0
    notifications = table("notifications").collect()
    sent = [n for n in notifications if n.status == "sent"]
    assert sent and {n.campaign for n in sent} <= {"car_loan", "coffee_nearby"}
    assert offers.where("not holdout").count() == len(notifications)
    due = [n for n in sent if n.sent_at.date() <= BANK.delivery_date]  # measured as of D
    kpis = table("kpis").agg({"delivered": "sum"}).first()[0] or 0
    assert kpis == len(due)
    ddl = (lake / "lake" / "catalog" / "trino.sql").read_text()
    assert 'analytics."notifications"' in ddl and 'stage."crm_clients"' in ddl
    outbox = list((lake / "onprem" / "delivery" / "outbox").glob("*.jsonl"))
    assert outbox and sum(len(p.read_text().splitlines()) for p in outbox) == len(sent)


def test_the_same_task_runs_through_spark_submit_on_the_cluster_when_the_variable_says_so(
    chained, dagbag, run_dag, monkeypatch, spark_cluster
):
    """`make cluster`'s standalone cluster: the driver spark-submitted, its executors in the
    workers' JVMs; the catalog it writes is the one the in-process run wrote."""
    lake, _ = chained
    ddl = lake / "lake" / "catalog" / "trino.sql"
    local = ddl.read_text()
    ddl.unlink()
    monkeypatch.setenv("OFFERLAKE_LAKE", str(lake))
    monkeypatch.setenv("AIRFLOW_VAR_OFFERLAKE_SPARK_MODE", "submit")
    monkeypatch.setenv(
        "AIRFLOW_CONN_OFFERLAKE_SPARK",
        json.dumps({"conn_type": "spark", "host": spark_cluster.master_url}),
    )
    bin_dir = str(Path(sys.executable).parent)  # spark-submit of the venv's pyspark
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    run = run_dag(dagbag.dags["catalog"], BANK.delivery_date.isoformat())
    assert run.state == DagRunState.SUCCESS
    assert ddl.read_text() == local  # written by the submitted driver, the same text
    apps = _finished_applications(spark_cluster)
    assert apps and all(a["name"].startswith("offerlake") for a in apps), apps  # on the cluster


def _finished_applications(cluster) -> list[dict]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.ui_port}/json/", timeout=5) as r:
        return json.load(r)["completedapps"]
