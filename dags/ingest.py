"""Airflow DAG `ingest`: one task per feed in conf/sources/, in parallel, for the logical date;
when all have landed, the `offerlake_raw` asset starts the privacy DAG.

Each task runs `offerlake run ingest --feed FEED --date D`, the CLI's own entry point, for the
run's logical date D (a scheduled, backfilled or REST-triggered run); `offerlake_raw`'s event
carries D on to the privacy DAG.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from jobs.ingest.sources import feed_names, ingest_schedule
from jobs.orchestration.assets import RAW
from jobs.orchestration.clock import DailyClock
from jobs.orchestration.defaults import NOT_AT_ONCE, dag_args
from jobs.orchestration.stage_operator import AnnounceOperator, OfferlakeOperator, run_args
from jobs.runtime.config import conf_dir

with DAG(
    dag_id="ingest",
    schedule=DailyClock(ingest_schedule(conf_dir()), timezone="UTC", run_immediately=NOT_AT_ONCE),
    **dag_args("onprem", timeout=timedelta(hours=3), deadline_after=timedelta(hours=2)),
    doc_md="""
    ### Ingest
    Reads every feed's new deliveries in `onprem/landing/<feed>/<date>/` into typed Delta tables
    in `onprem/raw/`, one task per feed (CRM, mainframe, transaction database, cards, web,
    location pings, allies, offer responses). Rejected rows go to `onprem/quarantine/<table>`
    with their reason; rows read = written + quarantined per table. A feed whose files cannot
    be read fails its own task only (and is retried). Re-running a date changes nothing already
    ingested. When every feed has landed, `raw_landed` announces `offerlake_raw` with the date,
    which the rest of the chain runs for.
    """,
) as ingest:
    landed = AnnounceOperator(
        task_id="raw_landed", outlets=[RAW], doc_md="Announce `offerlake_raw` with the date."
    )
    for feed in feed_names(conf_dir()):
        (
            OfferlakeOperator(
                task_id=f"ingest_{feed}",
                args=run_args("ingest", "--feed", feed),
                execution_timeout=timedelta(hours=2),
                doc_md=f"Land feed `{feed}` (conf/sources/{feed}.yaml) in onprem/raw + quarantine.",
            )
            >> landed
        )
