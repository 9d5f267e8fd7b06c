"""Running a DAG with dag.test() (the metadata database and dagbag fixtures: tests/conftest.py)."""

from __future__ import annotations

import pendulum
import pytest


@pytest.fixture(scope="session")
def run_dag(airflow_db):
    return _run_dag


def _run_dag(dag, day: str):
    """`dag.test()` for one logical date. Airflow 3.3's dag.test() fails a *successful* run of a
    DAG with a deadline alert (it reads the alerts of a DAG deserialized in memory as database
    ids), so the run goes without the deadline, which only the scheduler evaluates anyway."""
    deadline, dag.deadline = dag.deadline, None
    try:
        return dag.test(logical_date=pendulum.parse(day).in_timezone("UTC"))
    finally:
        dag.deadline = deadline
