"""ingest's daily clock (jobs/orchestration/clock.py): after a backfill of past days it waits for
its next midnight, where Airflow's own cron clock runs today's midnight at once; a missed midnight
still runs when the scheduler is back."""

from __future__ import annotations

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.trigger import CronTriggerTimetable

from jobs.orchestration.clock import DailyClock
from jobs.orchestration.defaults import NOT_AT_ONCE

NO_CATCHUP = TimeRestriction(earliest=None, latest=None, catchup=False)
NOW = pendulum.datetime(2026, 12, 6, 21, 42)
TODAY, TOMORROW = pendulum.datetime(2026, 12, 6), pendulum.datetime(2026, 12, 7)


@pytest.fixture(autouse=True)
def now(monkeypatch):
    """The clocks' `now`, settable by a test."""
    current = {"now": NOW}
    for module in ("airflow.timetables.trigger", "jobs.orchestration.clock"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: current["now"])
    return current


def _ran(day: pendulum.DateTime) -> DataInterval:
    return DataInterval(day, day)  # a trigger clock's run: its interval is its time


def _next(timetable, last: DataInterval | None, restriction=NO_CATCHUP):
    info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
    return info.run_after


def _clocks():
    return (
        DailyClock("@daily", timezone="UTC", run_immediately=NOT_AT_ONCE),
        CronTriggerTimetable("@daily", timezone="UTC", run_immediately=NOT_AT_ONCE),
    )


def test_after_a_backfill_of_past_days_it_waits_for_its_next_midnight():
    ours, airflows = _clocks()
    backfilled = _ran(pendulum.datetime(2026, 1, 21))
    assert _next(ours, backfilled) == TOMORROW
    assert _next(airflows, backfilled) == TODAY  # what it replaces: today's midnight, at once


def test_a_missed_midnight_still_runs_when_the_scheduler_is_back(now):
    ours, _ = _clocks()
    now["now"] = pendulum.datetime(2026, 12, 6, 0, 20)  # the scheduler was down at 00:00
    assert _next(ours, _ran(pendulum.datetime(2026, 12, 5))) == TODAY


def test_after_its_own_run_and_when_first_unpaused_it_runs_next_midnight():
    ours, _ = _clocks()
    assert _next(ours, _ran(TODAY)) == TOMORROW
    assert _next(ours, None) == TOMORROW


def test_with_catch_up_it_runs_every_day_after_the_last():
    ours, _ = _clocks()
    catchup = TimeRestriction(earliest=None, latest=None, catchup=True)
    assert _next(ours, _ran(pendulum.datetime(2026, 1, 21)), catchup) == pendulum.datetime(
        2026, 1, 22
    )


def test_airflow_reads_it_back_from_the_dag_as_the_scheduler_does():
    """Registered by offerlake's plugin: the serialized ingest DAG decodes to this clock."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    from jobs.runtime.config import REPO_ROOT

    dag = DagBag(str(REPO_ROOT / "dags" / "ingest.py")).dags["ingest"]
    decoded = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable
    assert isinstance(decoded, DailyClock) and decoded.summary == "0 0 * * *"
