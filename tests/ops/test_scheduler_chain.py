"""The daily chain under a real scheduler (no dag.test()). The bank's delivery date D runs first in
process (`offerlake pipeline --date D`, local mode), as a bank's first day might before Airflow
takes over; the customers' reactions then land as D + 1's delivery. The operator unpauses the
DAGs, switches Spark to `make cluster`'s standalone cluster (the Variable
offerlake_spark_mode=submit and the connection offerlake_spark, through the REST API) and
backfills `ingest` for D + 1 (`airflow backfill create`'s REST twin): every other DAG then runs by
its own schedule and Asset events, for the date those events carry, until the catalog, each task
spark-submitted to the cluster; ingest's daily clock does not fire for today's midnight.
Re-running D + 1 in local mode, in process, must then leave every lake table as the cluster
wrote it. (One chain under the scheduler, not two: each costs about 25 minutes of CI's 2 cores.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest

from jobs.catalog.duckdb_lake import connect
from jobs.runtime.config import LakeConfig
from tests.ops.conftest import BANK, lake_tables, wait_for

D = BANK.delivery_date
NEXT = D + timedelta(days=1)
CAMPAIGNS = ("car_loan", "car_loan_vip", "travel_card", "kids_savings")  # on customer_360
GEO_CAMPAIGNS = ("coffee_nearby", "lunch_nearby")  # on geo_events
# each DAG of the chain, and its task whose return value says which dates the run was for
CHAIN = {
    "privacy": "leakscan",
    "customer_model": "customer_360",
    "geo_offers": "geofence",
    **{f"campaign_{c}": "match" for c in CAMPAIGNS + GEO_CAMPAIGNS},
    "delivery": "deliver",
    "effectiveness": "effectiveness",
    "catalog": "catalog",
}
CHAIN_TIMEOUT = 1800

pytestmark = pytest.mark.scheduler


def _problems(operated) -> list[str]:
    """Failed tasks of the chain, with their logs' ends (one call for every DAG and run). A task
    waiting for a retry is not one: Airflow's retries are how a deployment rides out a transient
    fault (seen here: the leak scan reading a handoff folder that a delivery run was
    republishing), and the run must still succeed."""
    api, problems = operated.api, []
    failed = api.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances?state=failed&state=upstream_failed&limit=100"
    )["task_instances"]
    for ti in failed:
        if ti["dag_id"] in ("ingest", *CHAIN):
            log = api.log(ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["try_number"])
            problems.append(f"{ti['dag_id']}/{ti['task_id']} {ti['state']}:\n{log[-4000:]}")
    return problems


def _busy(operated) -> list[str]:
    """The chain's runs that are queued or running (one call for every DAG)."""
    runs = operated.api.get("/api/v2/dags/~/dagRuns?state=queued&state=running&limit=100")
    return [r["dag_run_id"] for r in runs["dag_runs"] if r["dag_id"] in ("ingest", *CHAIN)]


def _ran_for(operated, day) -> dict[str, bool]:
    """Each chain DAG: whether one of its runs succeeded for `day`."""
    api, done = operated.api, {}
    for dag_id, task_id in CHAIN.items():
        done[dag_id] = any(
            day.isoformat() in (api.returned(dag_id, run["dag_run_id"], task_id) or [])
            for run in api.runs(dag_id)
            if run["state"] == "success"
        )
    return done


def _settled(operated, day) -> bool:
    """Every chain DAG ran for `day`, and no run is queued or running (twice, 5 s apart: an
    asset event's run is made within a scheduler loop). Polled cheaply: while runs are busy, two
    calls; the api-server serving the polls shares the 2 cores with the chain's tasks."""
    if problems := _problems(operated):
        raise AssertionError("\n\n".join(problems))
    for _ in range(2):
        if _busy(operated) or not all(_ran_for(operated, day).values()):
            return False
        time.sleep(5)
    return True


def _backfill(operated, first, last) -> str:
    """`airflow backfill create --dag-id ingest --from-date FIRST --to-date LAST`, through the
    REST API: one ingest run per day, one at a time; the first day's run id."""
    span = {  # whole days: ingest's clock may be set to any hour (conf/lake.yaml)
        "from_date": f"{first.isoformat()}T00:00:00Z",
        "to_date": f"{last.isoformat()}T23:59:59Z",
    }
    made = operated.api.post(
        "/api/v2/backfills", {"dag_id": "ingest", "max_active_runs": 1, **span}
    )
    assert made["dag_id"] == "ingest" and not made["completed_at"], made

    def first_run():
        runs = [r for r in operated.api.runs("ingest") if r["run_type"] == "backfill"]
        return [r["dag_run_id"] for r in runs if r["logical_date"].startswith(first.isoformat())]

    return wait_for(f"the backfill's run for {first}", first_run, 120, 2, operated)[0]


def _run_chain(operated, day, start) -> tuple[str, float]:
    """Start ingest for `day` (`start()`, its run id); wait until the chain has run for it.
    Ingest's run id, and the seconds it took."""
    began = time.monotonic()
    landing = start()
    wait_for(f"the chain for {day}", lambda: _settled(operated, day), CHAIN_TIMEOUT, 5, operated)
    return landing, time.monotonic() - began


def _lake(operated):
    return connect(LakeConfig.load(lake=str(operated.lake)))


def _offerlake(operated, *args: str) -> str:
    env = {**os.environ, "OFFERLAKE_LAKE": str(operated.lake), "OFFERLAKE_CONF": str(operated.conf)}
    command = [sys.executable, "-m", "jobs.cli", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _submit_to(operated, cluster) -> None:
    """What an operator sets in the UI (Admin > Variables, Connections), here through REST."""
    api = operated.api
    api.post("/api/v2/variables", {"key": "offerlake_spark_mode", "value": "submit"})
    conf_dir = {"key": "offerlake_spark_conf_dir", "value": str(cluster.conf_dir)}
    api.post("/api/v2/variables", conf_dir)  # the cluster's secret, for spark-submit
    connection = {"connection_id": "offerlake_spark", "conn_type": "spark"}
    api.post("/api/v2/connections", {**connection, "host": cluster.master_url})


def _applications(cluster) -> list[str]:
    """The names of the applications the cluster's master has run (its UI's JSON)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{cluster.ui_port}/json/", timeout=5) as r:
        return [a["name"] for a in json.load(r)["completedapps"]]


@pytest.fixture(scope="module")
def day_one(operated):
    """D in process (local mode), while the DAGs, parsed, stay paused."""
    wanted = {"ingest", *CHAIN, "offerlake_pipeline"}
    wait_for("the DAGs parsed", lambda: wanted <= operated.api.dag_ids(), 300, operated=operated)
    began = time.monotonic()
    _offerlake(operated, "pipeline", "--date", str(D))
    print(f"\npipeline for {D} (in process): {time.monotonic() - began:.0f} s")


@pytest.fixture(scope="module")
def day_two(operated, day_one, spark_cluster):
    """D + 1 under the scheduler, on the cluster: the reactions land, the DAGs are unpaused,
    Spark is switched to submit, ingest backfilled for D + 1; ingest's run id."""
    # every customer told reacts (rates of 1): with the default rates, one run here had none of
    # its 5 notified customers react, and D + 1 landed nothing
    rates = ("--buy-rate", "1", "--accept-rate", "1")
    out = _offerlake(operated, "simulate-reactions", "--date", str(D), *rates)
    landed = list((operated.lake / "onprem" / "landing").glob("*/*/*reactions-*"))
    assert landed, out  # the reactions, in the folder of the day they happened
    api = operated.api
    for dag_id in sorted(api.dag_ids()):
        api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
    _submit_to(operated, spark_cluster)
    landing, seconds = _run_chain(operated, NEXT, lambda: _backfill(operated, NEXT, NEXT))
    print(f"\nscheduler chain for {NEXT} (submit mode, on the cluster): {seconds:.0f} s")
    return landing


def test_a_backfilled_ingest_runs_the_whole_chain_for_its_date(operated, day_two):
    api = operated.api
    runs = api.runs("ingest")
    (landing,) = [r for r in runs if r["dag_run_id"] == day_two]
    assert landing["run_type"] == "backfill" and landing["state"] == "success"
    assert landing["logical_date"].startswith(NEXT.isoformat())
    # Airflow's own cron clock would have run today's midnight at once after the backfill
    # (jobs/orchestration/clock.py): nothing ran but the day asked for
    assert {r["run_type"] for r in runs} == {"backfill"}, runs
    for dag_id in CHAIN:  # no one ran by dag.test: every run was made by the scheduler
        assert {r["run_type"] for r in api.runs(dag_id)} <= {"asset_triggered", "scheduled"}
    privacy = [r for r in api.runs("privacy") if r["state"] == "success"]
    assert privacy[0]["logical_date"] is None  # what made `{{ ds }}` undefined before
    assert api.returned("privacy", privacy[0]["dag_run_id"], "privacy_gate") == [NEXT.isoformat()]

    lake = _lake(operated)
    modelled = lake.execute("select distinct as_of from analytics_customer_360").fetchall()
    assert {(D,), (NEXT,)} <= set(modelled)
    offers = lake.execute(
        "select campaign, count(*) from analytics_deliverable_offers where not holdout "
        "group by campaign"
    ).fetchall()
    assert dict(offers).get("car_loan", 0) > 0
    # the lake's clock is the run date's end (conf/lake.yaml `clock: run_date`): every offer
    # due by D + 1's end has been handled by D's delivery or D + 1's, and each one once
    end = f"DATE '{NEXT}' + interval 1 day"
    due = lake.execute(
        f"select count(*) from analytics_deliverable_offers where not holdout and send_at < {end}"
    ).fetchone()[0]
    statuses = dict(
        lake.execute(
            "select status, count(*) from analytics_notifications group by status"
        ).fetchall()
    )
    assert sum(statuses.values()) == due and statuses.get("sent", 0) > 0, (due, statuses)
    outbox = list((operated.lake / "onprem" / "delivery" / "outbox").glob("*.jsonl"))
    assert sum(len(p.read_text().splitlines()) for p in outbox) == statuses["sent"]
    delivered = lake.execute("select sum(delivered) from analytics_kpis").fetchone()[0]
    assert delivered > 0  # effectiveness for D + 1 measured D's notifications
    ddl = (operated.lake / "lake" / "catalog" / "trino.sql").read_text()
    assert 'analytics."notifications"' in ddl


def _runs_for(operated, day, landing: str) -> list[tuple[str, str]]:
    """(dag_id, run_id) of the successful runs for `day`: ingest's `landing` and the chain's."""
    api = operated.api
    runs = [("ingest", landing)]
    for dag_id, task_id in CHAIN.items():
        for run in api.runs(dag_id):
            done = run["state"] == "success"
            if done and day.isoformat() in (api.returned(dag_id, run["dag_run_id"], task_id) or []):
                runs.append((dag_id, run["dag_run_id"]))
    return runs


def test_on_the_cluster_every_task_ran_as_an_application_of_its_master(
    operated, day_two, spark_cluster
):
    """Each offerlake task of D + 1's runs is an application the cluster's master lists
    (`offerlake-<task id>`), except two that start no Spark here: `serve` (conf/serving.yaml
    serves an S3 lake only, and this lake is local) and `catalog` (delta-rs, never submitted)."""
    ran = set(_applications(spark_cluster))
    tasks = [
        ti
        for dag_id, run_id in _runs_for(operated, NEXT, day_two)
        for ti in operated.api.task_instances(dag_id, run_id)
        if ti["operator"] == "OfferlakeOperator"
    ]
    assert len(tasks) > len(CHAIN)
    submitted = {f"offerlake-{ti['task_id']}" for ti in tasks}
    submitted -= {"offerlake-serve", "offerlake-catalog"}
    assert submitted <= ran, submitted - ran


def test_the_cluster_wrote_what_local_mode_writes(operated, day_two):
    """Every lake table (stage and analytics) and the outbox as the cluster's chain left them
    for D + 1, then after `offerlake pipeline --date D+1` in process, local mode: the same."""
    outbox = operated.lake / "onprem" / "delivery" / "outbox"

    def sent() -> int:
        return sum(len(p.read_text().splitlines()) for p in outbox.glob("*.jsonl"))

    on_cluster, lines = lake_tables(operated.lake), sent()
    _offerlake(operated, "pipeline", "--date", str(NEXT))
    in_process = lake_tables(operated.lake)
    assert sorted(in_process) == sorted(on_cluster)
    changed = [t for t in on_cluster if on_cluster[t] != in_process[t]]
    assert not changed, {t: (on_cluster[t][:3], in_process[t][:3]) for t in changed}
    assert sent() == lines  # nothing was left unsent by the cluster's delivery


def test_a_backfill_of_ingest_plans_one_run_per_day_of_the_range(operated):
    """`airflow backfill create --dag-id ingest` (here its REST twin, as a dry run): one run per
    day, each with its logical date, which the chain then carries on (asset event dates)."""
    planned = operated.api.post(
        "/api/v2/backfills/dry_run",
        {
            "dag_id": "ingest",
            "from_date": "2026-01-10T00:00:00Z",
            "to_date": "2026-01-12T23:59:59Z",  # whole days, whatever hour ingest runs at
        },
    )
    days = [run["logical_date"][:10] for run in planned["backfills"]]
    assert days == ["2026-01-10", "2026-01-11", "2026-01-12"]
