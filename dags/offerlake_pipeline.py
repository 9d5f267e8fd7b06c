"""Airflow DAG: the whole offerlake pipeline for the run's logical date (placeholder until the
per-stage DAGs of later issues exist). No business logic here: tasks call the CLI's entry points."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="offerlake_pipeline",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["offerlake"],
)
def offerlake_pipeline():
    """
    ### offerlake pipeline
    Runs every stage of `offerlake pipeline` for the run's logical date: ingest, privacy
    gate, customer 360, geofencing, matching, handoff, delivery, effectiveness and catalog,
    then the leak scan. The lake root comes from `conf/lake.yaml` (or
    `OFFERLAKE_LAKE`).
    """

    @task
    def run_pipeline(ds: str | None = None) -> dict[str, object]:
        from datetime import date

        from jobs.pipeline import run_pipeline as run
        from jobs.runtime.config import LakeConfig

        result = run(LakeConfig.load(), date.fromisoformat(ds))
        if result.leak_hits:
            from jobs.privacy.commands import raise_on_hits

            raise_on_hits(result.leak_hits)
        return {
            "written": {
                stage: sum(r.rows_written for r in rs) for stage, rs in result.results.items()
            },
        }

    run_pipeline()


offerlake_pipeline()
