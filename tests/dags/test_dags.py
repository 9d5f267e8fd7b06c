"""Airflow imports dags/ without errors, and the pipeline DAG runs end to end with dag.test()."""

import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def airflow_db(tmp_path_factory):
    """Airflow's metadata database for this test run (in the run's own AIRFLOW_HOME)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dag_folder_imports_with_zero_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "offerlake_pipeline" in dagbag.dags


def test_pipeline_dag_documents_itself_for_operators(dagbag):
    dag = dagbag.dags["offerlake_pipeline"]
    assert "offerlake pipeline" in (dag.doc_md or "")
    assert [t.task_id for t in dag.tasks] == ["run_pipeline"]


def test_pipeline_dag_runs_with_dag_test(dagbag, tmp_path, monkeypatch):
    monkeypatch.setenv("OFFERLAKE_LAKE", str(tmp_path))
    dag = dagbag.dags["offerlake_pipeline"]
    from airflow.utils.state import DagRunState

    run = dag.test(logical_date=__import__("pendulum").datetime(2026, 3, 1, tz="UTC"))
    assert run.state == DagRunState.SUCCESS


def test_ingest_dag_has_one_parallel_task_per_feed(dagbag):
    from jobs.ingest.sources import feed_names
    from jobs.runtime.config import conf_dir

    dag = dagbag.dags["ingest"]
    assert sorted(t.task_id for t in dag.tasks) == [f"ingest_{f}" for f in feed_names(conf_dir())]
    assert all(not t.upstream_task_ids for t in dag.tasks)
    assert "quarantine" in (dag.doc_md or "")


def test_ingest_dag_lands_a_feed_with_dag_test(dagbag, tmp_path, monkeypatch, spark):
    import json

    import pendulum
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("OFFERLAKE_LAKE", str(tmp_path))
    crm = tmp_path / "onprem/landing/crm/2026-03-01"
    crm.mkdir(parents=True)
    client = {
        "client_id": 1,
        "name": {"first": "Jana", "last": "Novakova"},
        "date_of_birth": "1980-05-17",
        "client_created_date": "2019-01-02",
        "email": "jana@example.cz",
    }
    (crm / "crm_clients.jsonl").write_text(json.dumps(client) + "\n")
    run = dagbag.dags["ingest"].test(logical_date=pendulum.datetime(2026, 3, 1, tz="UTC"))
    assert run.state == DagRunState.SUCCESS
    raw = spark.read.format("delta").load(str(tmp_path / "onprem/raw/crm_clients"))
    assert [r.client_id for r in raw.collect()] == [1]


def test_privacy_dag_runs_the_gate_then_the_leak_scan(dagbag):
    dag = dagbag.dags["privacy"]
    assert dag is not None and dag.doc_md and "leak scan" in dag.doc_md
    assert dag.get_task("leakscan").upstream_task_ids == {"privacy_gate"}


def test_customer_model_waits_for_a_leak_free_stage(dagbag):
    model = dagbag.dags["customer_model"]
    privacy = dagbag.dags["privacy"]
    assert [t.task_id for t in model.tasks] == ["customer_360"]
    assert {a.name for a in privacy.get_task("leakscan").outlets} == {"offerlake_stage"}
    assert not privacy.get_task("privacy_gate").outlets
    assert "offerlake_stage" in str(model.timetable.asset_condition)


def test_geo_offers_runs_hourly_and_announces_geo_events(dagbag):
    dag = dagbag.dags["geo_offers"]
    assert [t.task_id for t in dag.tasks] == ["geofence"]
    assert {a.name for a in dag.get_task("geofence").outlets} == {"offerlake_geo_events"}
    assert dag.schedule == "@hourly"


def test_delivery_hands_off_then_delivers_after_the_campaigns_write_offers(dagbag):
    dag = dagbag.dags["delivery"]
    assert dag.get_task("deliver").upstream_task_ids == {"handoff"}
    assert {a.name for a in dag.get_task("deliver").outlets} == {"offerlake_notifications"}
    assert "offerlake_deliverable_offers" in str(dag.timetable.asset_condition)
    campaign = next(d for d in dagbag.dags.values() if "campaign" in d.tags)
    outlets = {a.name for t in campaign.tasks for a in t.outlets}
    assert "offerlake_deliverable_offers" in outlets


def test_one_dag_per_campaign_on_its_schedule(dagbag):
    assert dagbag.dags["campaign_car_loan"].schedule == "0 7 * * *"
    assert dagbag.dags["campaign_travel_card"].schedule == "0 9 * * 1"  # weekly on monday
    assert dagbag.dags["campaign_kids_savings"].schedule == "0 10 1 * *"
    geo = dagbag.dags["campaign_coffee_nearby"]  # trigger geofence: after each geo_offers run
    assert "offerlake_geo_events" in str(geo.timetable.asset_condition)
    dag = dagbag.dags["campaign_car_loan"]
    assert [t.task_id for t in dag.tasks] == ["match"]
    assert "priority 80" in dag.doc_md and dag.end_date.year == 2027


def test_a_campaign_the_checker_rejects_is_an_import_error_and_the_others_keep_their_dags(
    airflow_db, tmp_path, monkeypatch
):
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    conf = tmp_path / "conf"
    shutil.copytree(DAGS.parent / "conf", conf)
    (conf / "campaigns" / "broken.offer").write_text(
        "campaign broken\n  schedule daily at 09:00\n  eligible when tenure_dayz > 1\n"
    )
    monkeypatch.setenv("OFFERLAKE_CONF", str(conf))
    bag = DagBag(dag_folder=str(DAGS / "campaigns.py"))
    assert "campaign_car_loan" in bag.dags and "campaign_broken" not in bag.dags
    (error,) = bag.import_errors.values()
    expected = "broken.offer:3:17: error: unknown metric tenure_dayz; did you mean tenure_days?"
    assert expected in error
