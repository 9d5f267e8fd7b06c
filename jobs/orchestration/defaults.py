"""What every offerlake DAG sets the same way: start date, no catch-up, one run at a time, a run
timeout and a deadline alert, the `offerlake` tag."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from jobs.orchestration.alerts import deadline

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def dag_args(*tags: str, timeout: timedelta, deadline_after: timedelta) -> dict:
    """DAG(...) keyword arguments; `deadline_after` the run's queue time, an alert is logged."""
    return {
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "dagrun_timeout": timeout,
        "deadline": deadline(deadline_after),
        "tags": ["offerlake", *tags],
    }
