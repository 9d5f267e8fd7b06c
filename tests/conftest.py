"""Shared fixtures: one SparkSession for the whole run, a temporary lake, the public datasets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# Airflow reads AIRFLOW_HOME at import: give the test run its own, never the user's.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="offerlake-airflow-"))
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(Path(__file__).parents[1] / "dags"))

# Every offerlake process a test starts (the CLI, Airflow's tasks, spark-submit) runs beside the
# suite's own two 6 GB JVMs and, at times, a second child: with conf/lake.yaml's 6 GB heap each,
# four drivers could ask for all of the 24 GB machine (a CI run lost a worker's JVM mid-run).
os.environ["OFFERLAKE_DRIVER_MEMORY"] = "2g"

# the generated bank's fixtures (bank, ingested, gated, modelled, lake), one set for every folder
pytest_plugins = ["tests.lakes"]

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture(scope="session")
def lake_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lake")


@pytest.fixture(scope="session")
def lake_config(lake_root):
    from jobs.runtime.config import LakeConfig

    return LakeConfig.load(lake=str(lake_root))


@pytest.fixture(scope="session")
def spark(lake_config):
    """The one SparkSession of the test run (starting one costs ~10 s)."""
    from jobs.runtime.spark import build_spark

    session = build_spark(
        lake_config,
        {
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "2",
            "spark.ui.enabled": "false",
            # the whole suite shares this JVM: 2g ran out of heap on the public datasets
            # (its Spark died mid-run); landed runs had 6g from conf/lake.yaml
            "spark.driver.memory": "6g",
            # what the shared JVM keeps of finished work: Delta keeps each table's log and
            # snapshot 60 minutes by default, and the test run makes hundreds of tables; the
            # SQL status store keeps 1,000 plans' text (customer_360's is 1.5 MB) with no UI
            "spark.databricks.delta.delta.log.cacheRetentionMinutes": "5",
            "spark.sql.ui.retainedExecutions": "50",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """../shared/datasets (real public data); tests that need it skip, saying why, without it."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"public datasets folder {SHARED_DATASETS} is absent on this machine")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database for this test run (in the run's own AIRFLOW_HOME)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True
    )


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).parents[1] / "dags"))


@pytest.fixture(scope="session")
def free_port():
    """A function giving a TCP port free on loopback now (for servers a test starts)."""

    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory, free_port):
    """`make cluster`'s Spark standalone cluster (a master and two 1-core workers on 127.0.0.1,
    from the venv's pyspark) on free ports, one per test run; its master URL."""
    from jobs.orchestration import cluster

    started = cluster.Cluster(
        tmp_path_factory.mktemp("spark-cluster"),
        port=free_port(),
        ui_port=free_port(),
        # executors (children of the workers) compile with C1 only, as the tests' Airflow tasks:
        # on tiny data a task is mostly a cold JVM (README, "Operating it")
        env={"JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1"},
    )
    cluster.start(started)
    try:
        yield started
    finally:
        cluster.stop(started)


# `make test` runs two pytest workers (`-n 2 --dist loadgroup`, pytest-xdist). Tests that share a
# costly session fixture go to one worker together, so it is made once: the scheduler's Airflow
# and the Spark cluster (tests/ops, spark_cluster), and the small bank through ingest, the gate and
# the model (with the tests of PostgreSQL, whose tables and advisory locks they share). The
# other tests go to whichever worker is free.
_GROUPS = (
    ("scheduler", {"operated", "spark_cluster"}),
    ("bank", {"bank", "ingested", "gated", "modelled"}),
)


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(item.fixturenames)
        for group, fixtures in _GROUPS:
            if names & fixtures or (group == "bank" and item.get_closest_marker("postgres")):
                item.add_marker(pytest.mark.xdist_group(group))
                break


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that fails because the run's Spark JVM is gone says how that JVM ended."""
    report = yield
    from py4j.protocol import Py4JNetworkError

    gone = (ConnectionRefusedError, Py4JNetworkError)
    if call.excinfo is not None and call.excinfo.errisinstance(gone):
        from pyspark import SparkContext

        proc = getattr(SparkContext._gateway, "proc", None)
        code = proc.poll() if proc is not None else None
        if code is not None:
            report.sections.append(
                ("Spark JVM", f"the test run's Spark JVM exited with {code} (-9: killed, as by "
                 "the kernel's OOM killer; 52: out of Java heap)")
            )  # fmt: skip
    return report
