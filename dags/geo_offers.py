"""Airflow DAG `geo_offers`: pings x ally geofences -> analytics/geo_events for a day, whenever the
privacy DAG has gated new pings (Asset `offerlake_stage`, for its dates) and hourly for the day so
far (a re-run replaces the day's rows, so late pings are picked up by the next hour), unless
conf/geofence.yaml sets `hourly: false`.

Same entry point as `offerlake run geofence`. The DAGs of geo-triggered campaigns
(dags/campaigns.py) run on the `offerlake_geo_events` asset this task updates, for its date; the
`delivery` DAG sends what they match.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable

from jobs.geofence.settings import GeofenceSettings
from jobs.orchestration.assets import GEO_EVENTS, STAGE
from jobs.orchestration.defaults import NOT_AT_ONCE, dag_args
from jobs.orchestration.stage_operator import OfferlakeOperator, run_args
from jobs.runtime.config import conf_dir

HOURLY = CronTriggerTimetable("@hourly", timezone="UTC", run_immediately=NOT_AT_ONCE)

with DAG(
    dag_id="geo_offers",
    schedule=AssetOrTimeSchedule(timetable=HOURLY, assets=[STAGE])
    if GeofenceSettings.load(conf_dir()).hourly
    else [STAGE],
    **dag_args("lake", "geo", timeout=timedelta(minutes=55), deadline_after=timedelta(minutes=45)),
    doc_md="""
    ### Geo offers
    After each leak-free stage (for the dates it gated) and hourly (for the day so far).
    Reads `lake/stage` only: the day's `location_pings` of customers who opted in to location,
    screened for accuracy, duplicates and spoofed jumps, joined with the allies'
    geofences by Apache Sedona; visits whose ally offer is live, outside the cooldown and under
    the daily cap become `lake/analytics/geo_events` (`conf/geofence.yaml`). Unusable pings and
    fences go to `analytics/geo_rejects` with their reason.
    """,
) as geo_offers:
    OfferlakeOperator(
        task_id="geofence",
        args=run_args("geofence"),
        retry_delay=timedelta(minutes=1),
        execution_timeout=timedelta(minutes=45),
        outlets=[GEO_EVENTS],
        doc_md="Screen the day's pings, join them with the geofences (Sedona), write geo_events.",
    )
