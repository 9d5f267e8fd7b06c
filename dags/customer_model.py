"""Airflow DAG `customer_model`: customer_360, segments and CLV, whenever the privacy DAG has
written a leak-free stage (Asset `offerlake_stage`), then the profiles served by key in DynamoDB.
Same entry points as `offerlake run model` and `offerlake run serve`."""

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
    Then `serve` writes the profiles that changed (a slice of customer_360 and segments,
    `conf/serving.yaml`) to DynamoDB, keyed by customer token (`offerlake profile TOKEN`).
    """,
) as customer_model:
    model = OfferlakeOperator(
        task_id="customer_360",
        args=run_args("model"),
        execution_timeout=timedelta(hours=3),
        outlets=[CUSTOMER_360],
        doc_md="Compile the feature catalog over stage; write customer_360, segments, profiles.",
    )
    serve = OfferlakeOperator(
        task_id="serve",
        args=run_args("serve"),
        execution_timeout=timedelta(minutes=30),
        doc_md="Write the changed profiles to DynamoDB by customer token; delete gone ones.",
    )
    model >> serve
