"""The daily chain under a real scheduler (no dag.test()): the DAGs are unpaused and `ingest` is
triggered for the bank's delivery date D through the REST API; every other DAG then runs by its
own schedule and Asset events, for the date those events carry, until the catalog. Then the
customers' reactions land as D + 1's delivery, `ingest` is triggered for D + 1, and the chain runs
again for D + 1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from jobs.catalog.duckdb_lake import connect
from jobs.runtime.config import LakeConfig
from tests.ops.conftest import BANK, wait_for

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
BUSY = {"queued", "running"}
CHAIN_TIMEOUT = 1800

pytestmark = pytest.mark.scheduler


def _problems(operated) -> list[str]:
    """Failed tasks, with their logs' ends. A task waiting for a retry is not one: Airflow's
    retries are how a deployment rides out a transient fault (seen here: the leak scan reading a
    handoff folder that a delivery run was republishing), and the run must still succeed."""
    api, problems = operated.api, []
    for dag_id in ("ingest", *CHAIN):
        for run in api.runs(dag_id):
            if run["state"] not in ("failed", "running"):
                continue
            for ti in api.task_instances(dag_id, run["dag_run_id"]):
                if ti["state"] in ("failed", "upstream_failed"):
                    log = api.log(dag_id, run["dag_run_id"], ti["task_id"], ti["try_number"])
                    problems.append(f"{dag_id}/{ti['task_id']} {ti['state']}:\n{log[-4000:]}")
    return problems


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
    """Every chain DAG ran for `day`, and no run is queued or running (twice, 10 s apart: an
    asset event's run is made within a scheduler loop)."""
    if problems := _problems(operated):
        raise AssertionError("\n\n".join(problems))
    for _ in range(2):
        done = _ran_for(operated, day)
        busy = [d for d in ("ingest", *CHAIN) for r in operated.api.runs(d) if r["state"] in BUSY]
        if not all(done.values()) or busy:
            return False
        time.sleep(10)
    return True


def _run_chain(operated, day) -> float:
    """Trigger ingest for `day` through the REST API; wait until the chain has run for it."""
    began = time.monotonic()
    run = operated.api.post(
        "/api/v2/dags/ingest/dagRuns",
        {"logical_date": f"{day.isoformat()}T00:00:00Z", "dag_run_id": f"land_{day}"},
    )
    assert run["logical_date"].startswith(day.isoformat())
    wait_for(f"the chain for {day}", lambda: _settled(operated, day), CHAIN_TIMEOUT, 10, operated)
    return time.monotonic() - began


def _lake(operated):
    return connect(LakeConfig.load(lake=str(operated.lake)))


@pytest.fixture(scope="module")
def day_one(operated):
    api = operated.api
    wanted = {"ingest", *CHAIN, "offerlake_pipeline"}
    wait_for("the DAGs parsed", lambda: wanted <= api.dag_ids(), 300, operated=operated)
    for dag_id in sorted(api.dag_ids()):
        api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
    seconds = _run_chain(operated, D)
    print(f"\nscheduler chain for {D} (local mode): {seconds:.0f} s")
    return seconds


def test_a_triggered_ingest_runs_the_whole_chain_for_its_date(operated, day_one):
    api = operated.api
    (landing,) = [r for r in api.runs("ingest") if r["dag_run_id"] == f"land_{D}"]
    assert landing["state"] == "success" and landing["run_type"] == "manual"
    for dag_id in CHAIN:  # no one ran by dag.test: every run was made by the scheduler
        assert {r["run_type"] for r in api.runs(dag_id)} <= {"asset_triggered", "scheduled"}
    privacy = [r for r in api.runs("privacy") if r["state"] == "success"]
    assert privacy[0]["logical_date"] is None  # what made `{{ ds }}` undefined before
    assert api.returned("privacy", privacy[0]["dag_run_id"], "privacy_gate") == [D.isoformat()]

    lake = _lake(operated)
    day = f"DATE '{D}'"
    offers = lake.execute(
        f"select campaign, count(*) from analytics_deliverable_offers where run_date = {day} "
        "and not holdout group by campaign"
    ).fetchall()
    assert dict(offers).get("car_loan", 0) > 0
    sent = lake.execute(
        "select count(*) from analytics_notifications where status = 'sent'"
    ).fetchone()[0]
    assert sent == sum(n for _, n in offers)  # every offer of D sent, once
    outbox = list((operated.lake / "onprem" / "delivery" / "outbox").glob("*.jsonl"))
    assert sum(len(p.read_text().splitlines()) for p in outbox) == sent
    modelled = lake.execute("select distinct as_of from analytics_customer_360").fetchall()
    assert (D,) in modelled
    ddl = (operated.lake / "lake" / "catalog" / "trino.sql").read_text()
    assert 'analytics."notifications"' in ddl


def test_the_next_day_lands_and_the_chain_runs_again_for_it(operated, day_one):
    env = {**os.environ, "OFFERLAKE_LAKE": str(operated.lake)}
    reactions = [sys.executable, "-m", "jobs.cli", "simulate-reactions", "--date", str(D)]
    done = subprocess.run(reactions, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    landed = list((operated.lake / "onprem" / "landing").glob("*/*/*reactions-*"))
    assert landed, done.stdout  # the reactions, in the folder of the day they happened

    seconds = _run_chain(operated, NEXT)
    print(f"\nscheduler chain for {NEXT} (local mode): {seconds:.0f} s")
    lake = _lake(operated)
    modelled = lake.execute("select distinct as_of from analytics_customer_360").fetchall()
    assert {(D,), (NEXT,)} <= set(modelled)
    delivered = lake.execute("select sum(delivered) from analytics_kpis").fetchone()[0]
    assert delivered > 0  # effectiveness for D + 1 measured D's notifications


def test_a_backfill_of_ingest_plans_one_run_per_day_of_the_range(operated, day_one):
    """`airflow backfill create --dag-id ingest` (here its REST twin, as a dry run): one run per
    day, each with its logical date, which the chain then carries on (asset event dates)."""
    planned = operated.api.post(
        "/api/v2/backfills/dry_run",
        {
            "dag_id": "ingest",
            "from_date": "2026-01-10T00:00:00Z",
            "to_date": "2026-01-12T00:00:00Z",
        },
    )
    days = [run["logical_date"][:10] for run in planned["backfills"]]
    assert days == ["2026-01-10", "2026-01-11", "2026-01-12"]
