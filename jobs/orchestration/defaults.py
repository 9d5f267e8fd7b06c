"""What every offerlake DAG sets the same way: no catch-up, one run at a time, a run timeout and a
deadline alert, the `offerlake` tag.

No start date, and clocks that do not run at once (`NOT_AT_ONCE`): a DAG on a clock (ingest daily,
geo_offers hourly) first runs at its next time after it is unpaused. Otherwise Airflow runs the
last time that has passed at once (always with a past start date; without one, when it passed
less than a tenth of the period ago), which would ingest for a day nobody asked for. A day is run
by hand (REST API, the UI) or backfilled with `airflow backfill create` (after which ingest's
`DailyClock` still waits for its next time: jobs/orchestration/clock.py)."""

from __future__ import annotations

from datetime import timedelta

from jobs.orchestration.alerts import deadline

NOT_AT_ONCE = timedelta(0)  # CronTriggerTimetable(run_immediately=...): only at the next time


def dag_args(*tags: str, timeout: timedelta, deadline_after: timedelta) -> dict:
    """DAG(...) keyword arguments; `deadline_after` the run's queue time, an alert is logged."""
    return {
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": timeout,
        "deadline": deadline(deadline_after),
        "tags": ["offerlake", *tags],
    }
