"""Airflow imports dags/ without errors or cycles; assets chain the DAGs; tasks are retried,
bounded in time and documented. The whole chain on a bank: tests/integration/test_airflow_chain."""

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


DAG_IDS = {
    "ingest",
    "privacy",
    "customer_model",
    "geo_offers",
    "delivery",
    "deliver_due",
    "effectiveness",
    "catalog",
    "offerlake_pipeline",
}


def test_dag_folder_imports_with_zero_errors_no_cycle_and_serializes(dagbag):
    from airflow.serialization.serialized_objects import DagSerialization

    assert dagbag.import_errors == {}
    assert DAG_IDS <= set(dagbag.dags)
    for dag in dagbag.dags.values():
        dag.check_cycle()
        again = DagSerialization.from_dict(DagSerialization.to_dict(dag))  # as the scheduler
        assert sorted(again.task_ids) == sorted(dag.task_ids)


def test_every_task_is_retried_bounded_in_time_and_documented(dagbag):
    from jobs.orchestration.stage_operator import OfferlakeOperator

    for dag in dagbag.dags.values():
        assert dag.doc_md and dag.dagrun_timeout and dag.deadline, dag.dag_id
        assert not dag.catchup and dag.max_active_runs == 1, dag.dag_id
        for task in dag.tasks:
            if isinstance(task, OfferlakeOperator):
                assert task.retries >= 1 and task.retry_exponential_backoff, task.task_id
                assert task.execution_timeout is not None, task.task_id
                assert task.doc_md, task.task_id


def _asset_graph(dagbag) -> dict[str, set[str]]:
    """DAG id -> the DAG ids its announced assets schedule."""
    produced: dict[str, set[str]] = {}
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            for asset in task.outlets:
                produced.setdefault(asset.name, set()).add(dag.dag_id)
    graph: dict[str, set[str]] = {dag_id: set() for dag_id in dagbag.dags}
    for dag in dagbag.dags.values():
        for asset in _assets(getattr(dag.timetable, "asset_condition", None)):
            for producer in produced.get(asset.name, ()):
                graph[producer].add(dag.dag_id)
    return graph


def _assets(condition):
    """The assets of a schedule's condition (an asset, or any/all of conditions)."""
    from airflow.sdk import Asset

    if isinstance(condition, Asset):
        yield condition
    for inner in getattr(condition, "objects", ()):
        yield from _assets(inner)


def test_assets_chain_the_dags_from_a_landed_feed_to_the_catalog_without_a_loop(dagbag):
    from graphlib import TopologicalSorter

    graph = _asset_graph(dagbag)
    order = list(TopologicalSorter({d: set() for d in graph} | _reverse(graph)).static_order())
    chains = [
        ["ingest", "privacy", "customer_model", "catalog"],
        ["customer_model", "campaign_car_loan", "delivery", "effectiveness", "catalog"],
        ["privacy", "geo_offers", "campaign_coffee_nearby", "delivery"],
    ]
    for chain in chains:
        for upstream, downstream in zip(chain, chain[1:], strict=False):
            assert downstream in graph[upstream], (upstream, downstream)
            assert order.index(upstream) < order.index(downstream)
    assert not graph["offerlake_pipeline"]  # the one-shot run starts nothing a second time


def _reverse(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    preds: dict[str, set[str]] = {}
    for node, successors in graph.items():
        for successor in successors:
            preds.setdefault(successor, set()).add(node)
    return preds


def test_pipeline_dag_is_every_stage_in_order_then_the_leak_scan(dagbag):
    from jobs.orchestration.stage_operator import RUN_DATE
    from jobs.pipeline import STAGE_NAMES

    dag = dagbag.dags["offerlake_pipeline"]
    assert "offerlake pipeline" in (dag.doc_md or "") and dag.schedule is None
    order = [*STAGE_NAMES, "leakscan"]
    for upstream, downstream in zip(order, order[1:], strict=False):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    assert dag.get_task("match").application_args == ["run", "match", "--date", RUN_DATE]
    assert "date" in dag.params  # the trigger form's date (default: the logical date)


def test_ingest_dag_has_one_parallel_task_per_feed_then_announces_raw(dagbag):
    from jobs.ingest.sources import feed_names
    from jobs.runtime.config import conf_dir

    dag = dagbag.dags["ingest"]
    feeds = [f"ingest_{f}" for f in feed_names(conf_dir())]
    assert sorted(t.task_id for t in dag.tasks) == sorted([*feeds, "raw_landed"])
    assert all(not dag.get_task(f).upstream_task_ids for f in feeds)
    assert dag.get_task("raw_landed").upstream_task_ids == set(feeds)
    assert {a.name for a in dag.get_task("raw_landed").outlets} == {"offerlake_raw"}
    assert dag.get_task("ingest_crm").application_args[-1] == "crm"
    assert "quarantine" in (dag.doc_md or "")


def test_ingest_dag_lands_a_feed_with_dag_test(dagbag, run_dag, tmp_path, monkeypatch, spark):
    import json

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
    run = run_dag(dagbag.dags["ingest"], "2026-03-01")
    assert run.state == DagRunState.SUCCESS
    raw = spark.read.format("delta").load(str(tmp_path / "onprem/raw/crm_clients"))
    assert [r.client_id for r in raw.collect()] == [1]


def test_an_unknown_spark_mode_fails_the_task(dagbag, run_dag, tmp_path, monkeypatch):
    from airflow.utils.state import DagRunState

    monkeypatch.setenv("OFFERLAKE_LAKE", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_VAR_OFFERLAKE_SPARK_MODE", "yarn-please")
    run = run_dag(dagbag.dags["catalog"], "2026-03-01")
    assert run.state == DagRunState.FAILED
    assert not (tmp_path / "lake" / "catalog").exists()  # nothing ran


def test_privacy_dag_runs_on_raw_then_the_leak_scan_announces_stage(dagbag):
    dag = dagbag.dags["privacy"]
    assert dag is not None and dag.doc_md and "leak scan" in dag.doc_md
    assert dag.get_task("leakscan").upstream_task_ids == {"privacy_gate"}
    assert "offerlake_raw" in str(dag.timetable.asset_condition)


def test_customer_model_waits_for_a_leak_free_stage(dagbag):
    model = dagbag.dags["customer_model"]
    privacy = dagbag.dags["privacy"]
    assert [t.task_id for t in model.tasks] == ["customer_360", "serve"]
    assert model.get_task("serve").upstream_task_ids == {"customer_360"}
    assert {a.name for a in privacy.get_task("leakscan").outlets} == {"offerlake_stage"}
    assert not privacy.get_task("privacy_gate").outlets
    assert "offerlake_stage" in str(model.timetable.asset_condition)


def test_geo_offers_runs_on_a_new_stage_and_hourly_and_announces_geo_events(dagbag):
    dag = dagbag.dags["geo_offers"]
    assert [t.task_id for t in dag.tasks] == ["geofence"]
    assert {a.name for a in dag.get_task("geofence").outlets} == {"offerlake_geo_events"}
    assert "offerlake_stage" in str(dag.timetable.asset_condition)
    assert dag.timetable.timetable.expression == "0 * * * *"  # hourly


def test_geo_offers_without_its_hourly_clock_runs_on_a_new_stage_only(monkeypatch, tmp_path):
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    conf = tmp_path / "conf"
    shutil.copytree(DAGS.parent / "conf", conf)
    settings = conf / "geofence.yaml"
    settings.write_text(settings.read_text().replace("hourly: true", "hourly: false"))
    monkeypatch.setenv("OFFERLAKE_CONF", str(conf))
    dag = DagBag(dag_folder=str(DAGS / "geo_offers.py")).dags["geo_offers"]
    assert "offerlake_stage" in str(dag.timetable.asset_condition)
    assert not hasattr(dag.timetable, "timetable")  # assets only, no clock


def test_ingest_runs_at_the_time_conf_lake_yaml_sets(monkeypatch, tmp_path):
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    from jobs.orchestration.clock import DailyClock

    conf = tmp_path / "conf"
    shutil.copytree(DAGS.parent / "conf", conf)
    lake_yaml = conf / "lake.yaml"
    lake_yaml.write_text(
        lake_yaml.read_text().replace('ingest: "0 0 * * *"', 'ingest: "0 2 * * *"')
    )
    monkeypatch.setenv("OFFERLAKE_CONF", str(conf))
    dag = DagBag(dag_folder=str(DAGS / "ingest.py")).dags["ingest"]
    assert isinstance(dag.timetable, DailyClock) and dag.timetable.summary == "0 2 * * *"


def test_delivery_hands_off_then_delivers_after_the_campaigns_write_offers(dagbag):
    dag = dagbag.dags["delivery"]
    assert dag.get_task("deliver").upstream_task_ids == {"handoff"}
    assert {a.name for a in dag.get_task("deliver").outlets} == {"offerlake_notifications"}
    assert "offerlake_deliverable_offers" in str(dag.timetable.asset_condition)
    campaign = next(d for d in dagbag.dags.values() if "campaign" in d.tags)
    outlets = {a.name for t in campaign.tasks for a in t.outlets}
    assert "offerlake_deliverable_offers" in outlets


def test_deliver_due_sends_every_hour_unless_turned_off(dagbag, monkeypatch, tmp_path):
    import shutil

    from airflow.models import DagBag

    from jobs.runtime.config import DEFAULT_CONF_DIR

    due = dagbag.dags["deliver_due"]
    assert due.timetable.expression == "0 * * * *" and due.task_ids == ["deliver"]
    assert {a.name for a in due.get_task("deliver").outlets} == {"offerlake_notifications"}
    conf = tmp_path / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    settings = conf / "delivery.yaml"
    settings.write_text(settings.read_text().replace("hourly: true", "hourly: false"))
    monkeypatch.setenv("OFFERLAKE_CONF", str(conf))
    dags = DagBag(dag_folder=str(DAGS / "delivery.py")).dags
    assert "delivery" in dags and "deliver_due" not in dags


def test_one_dag_per_campaign_run_for_each_modelled_day_and_due_by_its_schedule(dagbag):
    for name in ("car_loan", "travel_card", "kids_savings"):
        dag = dagbag.dags[f"campaign_{name}"]
        assert "offerlake_customer_360" in str(dag.timetable.asset_condition), name
    assert "due every day at 07:00" in dagbag.dags["campaign_car_loan"].doc_md
    assert "due on Monday at 09:00" in dagbag.dags["campaign_travel_card"].doc_md
    assert "due on day 1 of each month at 10:00" in dagbag.dags["campaign_kids_savings"].doc_md
    geo = dagbag.dags["campaign_coffee_nearby"]  # trigger geofence: after each geo_offers run
    assert "offerlake_geo_events" in str(geo.timetable.asset_condition)
    dag = dagbag.dags["campaign_car_loan"]
    assert [t.task_id for t in dag.tasks] == ["match"]
    assert dag.get_task("match").application_args[-2:] == ["--campaign", "car_loan"]
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
