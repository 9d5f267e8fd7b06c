"""`make airflow`: Airflow with offerlake's DAGs on localhost, its own AIRFLOW_HOME and a lake:
the metadata database migrated, then the scheduler (LocalExecutor), dag-processor, triggerer and
api-server (with the UI) started as separate processes, as a deployment runs them.

One login, `admin`, whose password is made once and kept in `<home>/passwords.json`; the secrets
the components must share (JWT, API and Fernet keys) are made once in `<home>/secrets.json`. The
metadata database is SQLite in the home unless `--db` names another (the scheduler tests use the
CI's PostgreSQL). At most two tasks run at once (2 cores; each local task starts its own Spark).
DAGs start paused: unpause the ones to run (the UI's toggle), e.g. every DAG of the chain, then
trigger `ingest` for a date; or `offerlake_pipeline` for a one-shot run of a date.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
USER = "admin"
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
HEALTHY = ("metadatabase", "scheduler", "dag_processor", "triggerer")


def _kept(file: Path, make) -> dict:
    """A JSON file of secrets (0600), made by `make()` the first time."""
    if not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.touch(mode=0o600)
        file.write_text(json.dumps(make()))
    return json.loads(file.read_text())


def password(home: Path) -> str:
    """The admin's password: made on first start, kept (0600) for the next ones."""
    return _kept(home / "passwords.json", lambda: {USER: secrets.token_urlsafe(12)})[USER]


def _secrets(home: Path) -> dict:
    return _kept(
        home / "secrets.json",
        lambda: {
            "jwt_secret": secrets.token_urlsafe(32),
            "secret_key": secrets.token_urlsafe(32),
            "fernet_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        },
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database(db: str | None, home: Path) -> dict[str, str]:
    """The metadata database's settings; PostgreSQL through psycopg 3, sync and async."""
    if not db:
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}"}
    sync = db.replace("postgresql://", "postgresql+psycopg://", 1)
    settings = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sync}
    if sync.startswith("postgresql+psycopg://"):  # else Airflow would want asyncpg
        settings["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = sync.replace(
            "postgresql+psycopg://", "postgresql+psycopg_async://", 1
        )
    return settings


def environment(home: Path, port: int, lake: str, db: str | None = None) -> dict[str, str]:
    password(home)
    keys = _secrets(home)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        **_database(db, home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API__SECRET_KEY": keys["secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        # the scheduler's and triggerer's log servers (8793/8794 by default): free ports, so a
        # second Airflow on the machine (a test's) does not take the first one's
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "OFFERLAKE_LAKE": lake,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
    }


@dataclass
class Airflow:
    """The started components: one process (group) each, each logging to `<home>/logs/`."""

    home: Path
    port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def log(self, component: str) -> Path:
        return self.home / "services" / f"{component}.log"

    def stopped(self) -> dict[str, int]:
        """The components that have exited, with their exit codes."""
        return {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}

    def stop(self, timeout: float = 60) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def start(home: Path, port: int, lake: str, db: str | None = None, **env: str) -> Airflow:
    """Migrate the metadata database, then start every component in the background."""
    environ = {**environment(home, port, lake, db), **env}
    airflow = Airflow(home, port)
    airflow.log("migrate").parent.mkdir(parents=True, exist_ok=True)
    with airflow.log("migrate").open("ab") as sink:
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=True,
        )
    for component in COMPONENTS:
        with airflow.log(component).open("ab") as sink:
            airflow.processes[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", component],
                env=environ,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    return airflow


def wait_until_healthy(airflow: Airflow, timeout: float = 600) -> None:
    """Until the api-server answers and every other component reports healthy."""
    url = f"{airflow.url}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stopped := airflow.stopped():
            where = airflow.log("scheduler").parent
            raise RuntimeError(f"Airflow components stopped {stopped}; logs in {where}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                health = json.load(answer)
            if all((health.get(p) or {}).get("status") == "healthy" for p in HEALTHY):
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(2)
    raise TimeoutError(f"Airflow was not healthy at {url} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make airflow", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=REPO / ".airflow")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--lake", default=str(REPO / "lakehouse"))
    parser.add_argument("--db", help="metadata database URL (default: SQLite in the home)")
    args = parser.parse_args(argv)
    home = args.home.resolve()
    airflow = start(home, args.port, args.lake, args.db)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop Airflow too (finally below)
    try:
        wait_until_healthy(airflow)
        print(f"Airflow UI: {airflow.url}/  (logs: {airflow.log('api-server').parent})")
        print(f"login: {USER} / {password(home)}")
        print(f"lake: {args.lake}   Ctrl-C stops Airflow")
        while not airflow.stopped():
            time.sleep(2)
        return max(airflow.stopped().values()) or 1
    except KeyboardInterrupt:
        return 0
    finally:
        airflow.stop()


if __name__ == "__main__":
    sys.exit(main())
