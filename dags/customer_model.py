"""Airflow DAG `customer_model`: customer_360, segments and CLV, whenever the privacy DAG has
written a leak-free stage (Asset `offerlake_stage`). Same entry point as `offerlake run model`."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

STAGE = Asset("offerlake_stage")
CUSTOMER_360 = Asset("offerlake_customer_360")


@task(
    retries=1,
    retry_delay=timedelta(minutes=10),
    execution_timeout=timedelta(hours=2),
    outlets=[CUSTOMER_360],
)
def customer_360(ds: str | None = None) -> dict[str, int]:
    """Compile the feature catalog over stage; write customer_360, segments, segment_profiles."""
    from jobs.pipeline import run_dag_task

    return run_dag_task("model", ds)


@dag(
    dag_id="customer_model",
    schedule=[STAGE],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["offerlake", "lake"],
)
def customer_model():
    """
    ### Customer 360 model
    Runs after each privacy gate run (it waits for the `offerlake_stage` asset). Reads
    `lake/stage` only: compiles `conf/features/*.yaml` (1,000+ metrics) into one scan per source,
    writes `lake/analytics/customer_360` for the run's date, then segments (life stage x value
    tier, k-means chosen by silhouette) and customer lifetime value (`conf/segments.yaml`) to
    `analytics/segments` and `analytics/segment_profiles`. A re-run replaces that date's rows.
    """
    customer_360()


customer_model()
