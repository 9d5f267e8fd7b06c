"""`DailyClock`: ingest's daily clock, which never runs a time that passed before anyone asked.

Airflow's cron clock without catch-up runs the latest time that has passed as soon as it can
whenever the DAG's last clock or backfill run is older than that time. After a backfill of past
days (say March, backfilled in December) that is today's midnight, at once: a day nobody asked
for, ingested while the backfill's own runs are still going (seen under the scheduler). This
clock only differs there: when its next time after the last run it knows has already passed,
and is not the latest time (a backfill of the past, or a scheduler stopped for more than a
day), it waits for its next time, as on the day it is first unpaused (`run_immediately`). A
scheduler that missed one midnight still runs that midnight when it is back.

Registered with Airflow by `jobs.orchestration.plugin` (a custom timetable must be, for the
scheduler to read the DAG)."""

from __future__ import annotations

from airflow._shared.timezones.timezone import coerce_datetime, utcnow
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable
from pendulum import DateTime


class DailyClock(CronTriggerTimetable):
    """A cron clock (e.g. `@daily`) that resumes at its next time when it is behind."""

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        last = last_automated_data_interval
        if last is not None and not restriction.catchup and self.behind(last, utcnow()):
            last = None  # as when first unpaused: its next time, not one already passed
        return super().next_dagrun_info(last_automated_data_interval=last, restriction=restriction)

    def behind(self, last: DataInterval, now: DateTime) -> bool:
        """Whether the time after the `last` run has passed and is not the latest one."""
        return self._get_next(last.end) < self._align_to_prev(coerce_datetime(now))
