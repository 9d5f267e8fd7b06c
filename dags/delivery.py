"""Airflow DAG `delivery`: whenever a campaign DAG has written deliverable offers (Asset
`offerlake_deliverable_offers`), hand the day's offers off (lake side) and send them (on-prem).
Same entry points as `offerlake run handoff` and `offerlake run deliver`."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from jobs.orchestration.assets import NOTIFICATIONS, OFFERS
from jobs.orchestration.defaults import dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args

with DAG(
    dag_id="delivery",
    schedule=[OFFERS],
    **dag_args("onprem", timeout=timedelta(hours=2), deadline_after=timedelta(hours=1)),
    doc_md="""
    ### Delivery (on-prem)
    Runs after each campaign DAG writes `lake/analytics/deliverable_offers`. `handoff` exports
    the day's offers, holdouts left out, to `lake/handoff/match-<date>/` (Parquet + manifest);
    `deliver` verifies the manifest (a changed, missing or extra file stops it), opens only the
    contact each offer's channel needs, renders `conf/templates`, sends through the adapter of
    `conf/delivery.yaml` and writes `lake/analytics/notifications`. Retrying is safe: the sent
    ledger (`onprem/delivery/ledger`) makes every offer go out once, even after a crash.
    """,
) as delivery:
    handoff = OfferlakeOperator(
        task_id="handoff",
        args=run_args("handoff"),
        execution_timeout=timedelta(minutes=30),
        doc_md="Export the day's non-holdout offers to lake/handoff/match-<ds>/ with a manifest.",
    )
    deliver = OfferlakeOperator(
        task_id="deliver",
        args=run_args("deliver"),
        outlets=[NOTIFICATIONS],
        doc_md="Verify the handoff, open contacts just in time (audited), send each offer once.",
    )
    handoff >> deliver
