"""`make airflow`: `airflow standalone` (api-server with the UI, scheduler, dag-processor,
triggerer) on localhost with offerlake's DAGs, its own AIRFLOW_HOME and the demo lake.

One login, `admin`, whose password is made once and kept in `<home>/passwords.json`. At most two
tasks run at once (2 cores; each local task starts its own Spark). DAGs start paused: unpause
the ones to run (the UI's toggle), e.g. `offerlake_pipeline` for a one-shot run of a date.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
USER = "admin"


def password(home: Path) -> str:
    """The admin's password: made on first start, kept (0600) for the next ones."""
    file = home / "passwords.json"
    if not file.exists():
        home.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps({USER: secrets.token_urlsafe(12)}))
        file.chmod(0o600)
    return json.loads(file.read_text())[USER]


def environment(home: Path, port: int, lake: str) -> dict[str, str]:
    password(home)
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "OFFERLAKE_LAKE": lake,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
    }


def start(home: Path, port: int, lake: str, log: Path) -> subprocess.Popen:
    """Start `airflow standalone` in the background, its output in `log`."""
    env = environment(home, port, lake)
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", "standalone"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_healthy(port: int, process: subprocess.Popen, timeout: float = 600) -> None:
    """Until the api-server answers and the scheduler and dag-processor report healthy."""
    url = f"http://localhost:{port}/api/v2/monitor/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"airflow standalone stopped (exit {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                health = json.load(answer)
            parts = ("metadatabase", "scheduler", "dag_processor")
            if all((health.get(p) or {}).get("status") == "healthy" for p in parts):
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
    args = parser.parse_args(argv)
    home = args.home.resolve()
    log = home / "standalone.log"
    home.mkdir(parents=True, exist_ok=True)
    process = start(home, args.port, args.lake, log)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop Airflow too (finally below)
    try:
        wait_until_healthy(args.port, process)
        print(f"Airflow UI: http://localhost:{args.port}/  (log: {log})")
        print(f"login: {USER} / {password(home)}")
        print(f"lake: {args.lake}   Ctrl-C stops Airflow")
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            process.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
