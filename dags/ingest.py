"""Airflow DAG `ingest`: one task per feed in conf/sources/, in parallel, for the logical date.

Each task runs the same entry point as `offerlake run ingest`, for its feed only.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from jobs.ingest.sources import feed_names
from jobs.runtime.config import conf_dir


@task(retries=2, retry_delay=timedelta(minutes=5), execution_timeout=timedelta(hours=2))
def ingest_feed(feed: str, ds: str | None = None) -> dict[str, int]:
    """Land one feed's new deliveries in raw (and quarantine); fail if any table failed."""
    from datetime import date

    from jobs.ingest.run import ingest_one
    from jobs.runtime.config import LakeConfig

    results = ingest_one(LakeConfig.load(), feed, date.fromisoformat(ds))
    return {r.table: r.rows_written for r in results}


@dag(
    dag_id="ingest",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["offerlake", "onprem"],
)
def ingest():
    """
    ### Ingest
    Reads every feed's new deliveries in `onprem/landing/<feed>/<date>/` into typed Delta tables
    in `onprem/raw/`, one task per feed (CRM, mainframe, transaction database, cards, web,
    location pings, allies, offer responses). Rejected rows go to `onprem/quarantine/<table>`
    with their reason; rows read = written + quarantined per table. A feed whose files cannot
    be read fails its own task only. Re-running a date changes nothing already ingested.
    """
    for feed in feed_names(conf_dir()):
        ingest_feed.override(task_id=f"ingest_{feed}")(feed=feed)


ingest()
