"""offerlake's Airflow plugin (entry point `airflow.plugins` in pyproject.toml): registers the
custom timetable of `jobs.orchestration.clock`, which every Airflow component must know to read
the ingest DAG."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from jobs.orchestration.clock import DailyClock


class OfferlakePlugin(AirflowPlugin):
    name = "offerlake"
    timetables = [DailyClock]
