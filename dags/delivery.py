"""Airflow DAG `delivery`: whenever a campaign DAG has written deliverable offers (Asset
`offerlake_deliverable_offers`), hand the day's offers off (lake side) and send them (on-prem).
Same entry points as `offerlake run handoff` and `offerlake run deliver`."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

OFFERS = Asset("offerlake_deliverable_offers")
NOTIFICATIONS = Asset("offerlake_notifications")


@task(retries=1, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(minutes=30))
def handoff(ds: str | None = None) -> dict[str, int]:
    """Export the day's non-holdout offers to lake/handoff/match-<ds>/ with a manifest."""
    from jobs.pipeline import run_dag_task

    return run_dag_task("handoff", ds)


@task(
    retries=2,
    retry_delay=timedelta(minutes=5),
    execution_timeout=timedelta(hours=1),
    outlets=[NOTIFICATIONS],
)
def deliver(ds: str | None = None) -> dict[str, int]:
    """Verify the handoff, open contacts just in time (audited), send each offer exactly once."""
    from jobs.pipeline import run_dag_task

    return run_dag_task("deliver", ds)


@dag(
    dag_id="delivery",
    schedule=[OFFERS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["offerlake", "onprem"],
)
def delivery():
    """
    ### Delivery (on-prem)
    Runs after each campaign DAG writes `lake/analytics/deliverable_offers`. `handoff` exports
    the day's offers, holdouts left out, to `lake/handoff/match-<date>/` (Parquet + manifest);
    `deliver` verifies the manifest (a changed, missing or extra file stops it), opens only the
    contact each offer's channel needs, renders `conf/templates`, sends through the adapter of
    `conf/delivery.yaml` and writes `lake/analytics/notifications`. Retrying is safe: the sent
    ledger (`onprem/delivery/ledger`) makes every offer go out once, even after a crash.
    """
    handoff() >> deliver()


delivery()
