"""Airflow as operators run it, for the tests of tests/ops: the metadata database on the CI's
PostgreSQL, the scheduler, dag-processor, triggerer and api-server as separate processes
(`jobs.orchestration.standalone`, what `make airflow` starts), offerlake's DAGs, a small generated
bank as the lake, and a client of the REST API with the admin's login. One Airflow for the folder
(the chain tests, then the UI test on the same Airflow and lake), stopped at the end of the test
run: tests/ops runs last (pyproject's testpaths), so its scheduler never runs tasks under the rest
of the suite."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.generate.bank import BankSpec, generate_bank
from jobs.orchestration import standalone
from jobs.runtime.config import DEFAULT_CONF_DIR

AIRFLOW_DB = os.environ.get("OFFERLAKE_AIRFLOW_DB")
# nine car intenders (offers beyond the 10% holdout) and geofence visits, as in the dag.test chain
BANK = BankSpec(customers=160, days=20, seed=1)


class ApiError(RuntimeError):
    pass


@dataclass
class Api:
    """Airflow's REST API (v2) with a JWT from /auth/token."""

    base: str
    user: str
    password: str
    _token: str | None = field(default=None, repr=False)

    def token(self) -> str:
        if self._token is None:
            body = {"username": self.user, "password": self.password}
            self._token = self._call("POST", "/auth/token", body, auth=False)["access_token"]
        return self._token

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise ApiError(f"{method} {path}: {error.code} {error.read()[:500]!r}") from error
        return json.loads(text) if text else None

    def get(self, path: str):
        return self._call("GET", path)

    def post(self, path: str, body: dict):
        return self._call("POST", path, body)

    def patch(self, path: str, body: dict):
        return self._call("PATCH", path, body)

    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.get("/api/v2/dags?limit=200")["dags"]}

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100"
        return self.get(path)["task_instances"]

    def returned(self, dag_id: str, run_id: str, task_id: str):
        """A task's return value (XCom): the dates an offerlake task ran for."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/"
        return self.get(path + "return_value?deserialize=true")["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        try:
            content = self.get(path + "?full_content=true")["content"]
        except ApiError as error:
            return str(error)
        if isinstance(content, list):
            return "\n".join(str(c.get("event", c)) if isinstance(c, dict) else c for c in content)
        return str(content)


@dataclass
class Operated:
    """A running Airflow over a lake, its REST API, and the conf/ folder it runs with."""

    airflow: standalone.Airflow
    api: Api
    lake: Path
    conf: Path

    def logs(self, lines: int = 40) -> str:
        """The last lines of every component's log (for a failing test's message)."""
        out = []
        for component in standalone.COMPONENTS:
            text = self.airflow.log(component).read_text(errors="replace").splitlines()
            out.append(f"--- {component}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


def _empty_database(url: str) -> None:
    """A fresh metadata database: every table of an earlier test run dropped."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS public CASCADE")
        con.execute("CREATE SCHEMA public")


@pytest.fixture(scope="session")
def operated(tmp_path_factory, free_port) -> Operated:
    if not AIRFLOW_DB:
        pytest.skip("OFFERLAKE_AIRFLOW_DB is not set: .ci/run creates it on its PostgreSQL")
    lake = tmp_path_factory.mktemp("operated-lake")
    generate_bank(BANK, lake, workers=1, progress=False)
    home = tmp_path_factory.mktemp("airflow-operated")
    # the repository's conf/ without the hourly clocks of geo_offers and deliver_due: the bank's
    # days are in January, the clocks' hours today's, and each hour geo_offers ran a geofence, two
    # campaigns, a delivery, an effectiveness and a catalog for today into the chain under test
    # (seen: 8 minutes more)
    conf = home / "conf"
    shutil.copytree(DEFAULT_CONF_DIR, conf)
    for name in ("geofence.yaml", "delivery.yaml"):
        settings = conf / name
        settings.write_text(settings.read_text().replace("hourly: true", "hourly: false", 1))
    # and ingest's daily clock set 12 hours from now: a test passing midnight UTC had it ingest
    # "today" (and delete the bank's January deliveries, ingested and a month old) mid-chain
    lake_yaml = conf / "lake.yaml"
    far = (datetime.now(UTC).hour + 12) % 24
    lake_yaml.write_text(
        lake_yaml.read_text().replace('ingest: "0 0 * * *"', f'ingest: "0 {far} * * *"')
    )
    assert f'ingest: "0 {far} * * *"' in lake_yaml.read_text()
    _empty_database(AIRFLOW_DB)
    # Tuned for a tiny bank, where a task is mostly a cold JVM: four tasks at a time, not make
    # airflow's two (a task mostly waits, so more of them share the 2 cores better), and each
    # task's JVM compiling with C1 only (measured: one ingest task 35 s against 57-71 s with C2;
    # for a long job, as the demo's, C2 is the faster: README, stop 26). The DAG files, which do
    # not change during the tests, are parsed again every 10 minutes, not every 30 s: each parse
    # of the nine files takes CPU from the chain's tasks.
    airflow = standalone.start(
        home,
        free_port(),
        str(lake),
        AIRFLOW_DB,
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="600",
        OFFERLAKE_CONF=str(conf),
        JAVA_TOOL_OPTIONS="-XX:TieredStopAtLevel=1",
    )
    try:
        standalone.wait_until_healthy(airflow, timeout=300)
        api = Api(airflow.url, standalone.USER, standalone.password(home))
        yield Operated(airflow, api, lake, conf)
    finally:
        airflow.stop()


# columns that say when or in which run a row was processed, not what it holds: a re-run of a
# date stamps its own (lineage `_*`, the checks' and the ledger's clocks, run ids)
PROCESSING_STAMPS = {"checked_at", "handled_at", "ingested_at", "run_id", "created_run"}


def lake_tables(lake: Path) -> dict[str, list[tuple]]:
    """Every lake table (stage and analytics zones, read by DuckDB's delta_scan) as its
    distinct rows, sorted, without the processing stamps. Distinct: an append-only log table
    (the model's quality results) gets the same rows again from a re-run."""
    from jobs.catalog.duckdb_lake import connect
    from jobs.runtime.config import LakeConfig

    con = connect(LakeConfig.load(lake=str(lake)))
    listed = con.execute("select view_name from duckdb_views() where not internal").fetchall()
    views = [v for (v,) in listed]
    tables = {}
    for view in views:
        columns = [d[0] for d in con.execute(f"select * from {view} limit 0").description]
        kept = [c for c in columns if not c.startswith("_") and c not in PROCESSING_STAMPS]
        listed = ", ".join(f'"{c}"' for c in kept)
        rows = con.execute(f"select distinct {listed} from {view}").fetchall()
        tables[view] = sorted(rows, key=repr)
    return tables


def wait_for(what: str, check, timeout: float, every: float = 5.0, operated=None):
    """`check()` until it returns a true value (returned), or fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    logs = operated.logs() if operated else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")
