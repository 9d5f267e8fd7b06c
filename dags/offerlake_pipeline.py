"""Airflow DAG `offerlake_pipeline`: every stage of `offerlake pipeline` for one date, one task
per stage in order, then the leak scan; triggered by hand (the demo's and an operator's one-shot
run). The day-to-day DAGs (ingest, privacy, customer_model, ...) chain themselves by assets."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, chain

from jobs.orchestration.defaults import dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args
from jobs.pipeline import STAGES

with DAG(
    dag_id="offerlake_pipeline",
    schedule=None,
    params={
        "date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Date",
            description="The day to run (YYYY-MM-DD); empty: the run's logical date.",
        )
    },
    **dag_args(timeout=timedelta(hours=8), deadline_after=timedelta(hours=6)),
    doc_md="""
    ### offerlake pipeline
    Runs every stage of `offerlake pipeline` for the trigger form's `date` (default: the run's
    logical date): ingest, privacy
    gate, customer 360, geofencing, matching, handoff, delivery, effectiveness and catalog,
    then the leak scan, which fails the run on any personal data in `lake/`. The lake root comes
    from `conf/lake.yaml` (or `OFFERLAKE_LAKE`). It announces no assets, so it does not start
    the day-to-day DAGs a second time.
    """,
) as offerlake_pipeline:
    chain(
        *(
            OfferlakeOperator(
                task_id=stage.name,
                args=run_args(stage.name),
                execution_timeout=timedelta(hours=3),
                doc_md=f"`offerlake run {stage.name}` ({stage.side.value}): {stage.summary}",
            )
            for stage in STAGES
        ),
        OfferlakeOperator(
            task_id="leakscan",
            args=["leakscan"],
            doc_md="The release gate: fail on any raw PII value or detected contact in lake/.",
        ),
    )
