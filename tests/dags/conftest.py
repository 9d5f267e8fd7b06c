"""Airflow's metadata database for the DAG tests, the parsed dags/ folder, and running a DAG."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pendulum
import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database for this test run (in the run's own AIRFLOW_HOME)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


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
