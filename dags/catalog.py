"""Airflow DAG `catalog`: after the customer model or the KPIs change, register every stage and
analytics table in the Glue Data Catalog (Athena) and rewrite the Trino DDL. Same entry point as
`offerlake run catalog`."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from jobs.orchestration.assets import CATALOG, CUSTOMER_360, KPIS
from jobs.orchestration.defaults import dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args

with DAG(
    dag_id="catalog",
    schedule=(CUSTOMER_360 | KPIS),
    **dag_args("lake", timeout=timedelta(minutes=30), deadline_after=timedelta(minutes=30)),
    doc_md="""
    ### Catalog
    Makes the lake queryable by analysts. Per `conf/catalog.yaml`: every `lake/stage` and
    `lake/analytics` Delta table (never on-prem ones) is created or updated in the AWS Glue Data
    Catalog (databases `offerlake_stage`, `offerlake_analytics`) for Athena, tables this job
    registered that are gone are dropped, and `lake/catalog/trino.sql` gets the statements that
    register every table with Trino's Delta Lake connector (`system.register_table`; the script
    runs as written on a new Trino and again after each run).
    """,
) as catalog:
    OfferlakeOperator(
        task_id="catalog",
        args=run_args("catalog"),
        spark=False,  # delta-rs reads the tables' logs: no JVM, in either Spark mode
        execution_timeout=timedelta(minutes=20),
        outlets=[CATALOG],
        doc_md="Register stage + analytics tables in Glue; write lake/catalog/trino.sql.",
    )
