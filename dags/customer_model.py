"""Airflow DAG `customer_model`: customer_360, segments and CLV, whenever the privacy DAG has
written a leak-free stage (Asset `offerlake_stage`). Same entry point as `offerlake run model`."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from jobs.orchestration.assets import CUSTOMER_360, STAGE
from jobs.orchestration.defaults import dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args

with DAG(
    dag_id="customer_model",
    schedule=[STAGE],
    **dag_args("lake", timeout=timedelta(hours=4), deadline_after=timedelta(hours=3)),
    doc_md="""
    ### Customer 360 model
    Runs after each privacy gate run (it waits for the `offerlake_stage` asset). Reads
    `lake/stage` only: compiles `conf/features/*.yaml` (1,000+ metrics) into one scan per source,
    writes `lake/analytics/customer_360` for the run's date, then segments (life stage x value
    tier, k-means chosen by silhouette) and customer lifetime value (`conf/segments.yaml`) to
    `analytics/segments` and `analytics/segment_profiles`. A re-run replaces that date's rows.
    """,
) as customer_model:
    OfferlakeOperator(
        task_id="customer_360",
        args=run_args("model"),
        execution_timeout=timedelta(hours=3),
        outlets=[CUSTOMER_360],
        doc_md="Compile the feature catalog over stage; write customer_360, segments, profiles.",
    )
