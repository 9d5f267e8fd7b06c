"""Deadline alerts: a DAG run still going past its deadline is logged as an error for the
operators' log alerting (and shown in the Airflow UI as a missed deadline)."""

from __future__ import annotations

import logging
from datetime import timedelta

from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

log = logging.getLogger("offerlake.alerts")


def deadline_missed(**context) -> None:
    """Called by Airflow when a run misses its deadline."""
    dag_run = context.get("dag_run")
    log.error(
        "offerlake: DAG run %s of %s missed its deadline",
        getattr(dag_run, "run_id", "?"),
        getattr(dag_run, "dag_id", context.get("dag_id", "?")),
    )


def deadline(after: timedelta) -> DeadlineAlert:
    """Alert when a run is not done `after` it was queued."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=after,
        callback=SyncCallback(deadline_missed),
    )
