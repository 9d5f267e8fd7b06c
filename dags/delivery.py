"""Airflow DAG `delivery`: whenever a campaign DAG has written deliverable offers (Asset
`offerlake_deliverable_offers`), hand the day's offers off (lake side) and send what is due
(on-prem). DAG `deliver_due`: every hour, send what has come due since (quiet hours and
preferred days put a message later than its day; a failed send waits to be tried again), unless
conf/delivery.yaml sets `hourly: false`. Same entry points as `offerlake run handoff` and
`offerlake run deliver`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, CronTriggerTimetable

from jobs.delivery.settings import load
from jobs.orchestration.assets import NOTIFICATIONS, OFFERS
from jobs.orchestration.defaults import NOT_AT_ONCE, dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args
from jobs.runtime.config import conf_dir

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

if load(Path(conf_dir()) / "delivery.yaml").hourly:
    with DAG(
        dag_id="deliver_due",
        schedule=CronTriggerTimetable("@hourly", timezone="UTC", run_immediately=NOT_AT_ONCE),
        **dag_args("onprem", timeout=timedelta(minutes=55), deadline_after=timedelta(minutes=30)),
        doc_md="""
        ### Deliver what is due (on-prem), every hour
        The same `deliver` as the `delivery` DAG, for the hour's date: every handoff of that
        day and the `lookback_days` before it (conf/delivery.yaml) sends the messages whose
        `send_at` has come and whose retry wait has passed; offers past `expires_at` are
        recorded `expired`. One delivery per handoff at a time (a lease): a run that finds
        another at work waits for it, then finds nothing left to do.
        """,
    ) as deliver_due:
        OfferlakeOperator(
            task_id="deliver",
            args=run_args("deliver"),
            outlets=[NOTIFICATIONS],
            doc_md="Send what has come due from the recent handoffs (lease, ledger, audit).",
        )
