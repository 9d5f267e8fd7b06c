"""Airflow DAG `effectiveness`: after each delivery (Asset `offerlake_notifications`), measure
which notifications led to a purchase or an acceptance, with the holdouts as control. Same entry
point as `offerlake run effectiveness`."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from jobs.orchestration.assets import KPIS, NOTIFICATIONS
from jobs.orchestration.defaults import dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args

with DAG(
    dag_id="effectiveness",
    schedule=[NOTIFICATIONS],
    **dag_args("lake", timeout=timedelta(hours=2), deadline_after=timedelta(hours=1)),
    doc_md="""
    ### Effectiveness
    Joins `analytics/notifications` (and the holdouts of `deliverable_offers`) with the card
    purchases at the offer's ally and the offer responses inside each campaign's window
    (`conf/effectiveness.yaml`): `analytics/effective_notifications` and
    `analytics/campaign_kpis` (effective rate, lift over holdout with its interval). A re-run
    for a date gives the same rows. `offerlake report --date D` draws them as HTML.
    """,
) as effectiveness:
    OfferlakeOperator(
        task_id="effectiveness",
        args=run_args("effectiveness"),
        outlets=[KPIS],
        doc_md="Attribute purchases and acceptances to notifications; campaign KPIs with lift.",
    )
