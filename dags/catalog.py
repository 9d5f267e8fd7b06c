"""Airflow DAG `catalog`: after the customer model or the KPIs change, register every stage and
analytics table in the Glue Data Catalog (Athena) and rewrite the Trino DDL. Same entry point as
`offerlake run catalog`."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from jobs.orchestration.alerts import deadline
from jobs.orchestration.assets import CATALOG, CUSTOMER_360, KPIS
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args

with DAG(
    dag_id="catalog",
    schedule=(CUSTOMER_360 | KPIS),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    deadline=deadline(hours=0.5),
    tags=["offerlake", "lake"],
    doc_md="""
    ### Catalog
    Makes the lake queryable by analysts. Per `conf/catalog.yaml`: every `lake/stage` and
    `lake/analytics` Delta table (never on-prem ones) is created or updated in the AWS Glue Data
    Catalog (databases `offerlake_stage`, `offerlake_analytics`) for Athena, tables this job
    registered that are gone are dropped, and `lake/catalog/trino.sql` gets the
    `CREATE TABLE ... WITH (location = ...)` statements for Trino's Delta Lake connector.
    """,
) as catalog:
    OfferlakeOperator(
        task_id="catalog",
        args=run_args("catalog"),
        execution_timeout=timedelta(minutes=20),
        outlets=[CATALOG],
        doc_md="Register stage + analytics tables in Glue; write lake/catalog/trino.sql.",
    )
