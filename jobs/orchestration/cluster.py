"""`make cluster` / `make cluster-stop`: a Spark standalone cluster on 127.0.0.1 from the venv's
pyspark: a master (spark://127.0.0.1:7077, its UI on :8081) and two workers of 1 core and 2 GB
each, so `spark-submit` tasks (`offerlake_spark_mode=submit`) run their executors in other JVMs
and their Python workers in other processes, as on a bank's cluster.

The processes run in the background; their pids and logs are kept in `<home>` (default
`.cluster/`), which `stop` reads. Starting a cluster already running does nothing.

Every connection of the cluster authenticates and is encrypted (`spark.authenticate`,
`spark.network.crypto.enabled`) with one secret the cluster draws when first started and keeps
in `<home>/conf/spark-defaults.conf` (0600, in a 0700 folder; never on a command line). The
daemons read it through SPARK_CONF_DIR; so does every driver: `spark-submit` tasks get the
folder from the Airflow Variable `offerlake_spark_conf_dir`. A driver without it is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyspark

REPO = Path(__file__).resolve().parents[2]
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


@dataclass(frozen=True)
class Cluster:
    home: Path
    port: int = 7077
    ui_port: int = 8081
    workers: int = 2
    cores: int = 1
    memory: str = "2g"
    env: dict[str, str] = field(default_factory=dict)  # more environment for its processes

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    @property
    def state(self) -> Path:
        return self.home / "pids.json"

    @property
    def conf_dir(self) -> Path:
        """SPARK_CONF_DIR of the daemons and of every driver: the shared secret is in it."""
        return self.home / "conf"


SECRET_CONF = "spark-defaults.conf"


def _secret_conf(cluster: Cluster) -> None:
    """Draw the cluster's secret once, into its conf folder, readable by its owner only."""
    cluster.conf_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(cluster.conf_dir, 0o700)
    path = cluster.conf_dir / SECRET_CONF
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(
            "spark.authenticate true\n"
            f"spark.authenticate.secret {secrets.token_hex(32)}\n"
            "spark.network.crypto.enabled true\n"
        )


def _spark_class() -> str:
    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _environment(cluster: Cluster) -> dict[str, str]:
    return {
        **os.environ,
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "SPARK_LOG_DIR": str(cluster.home / "logs"),
        "SPARK_CONF_DIR": str(cluster.conf_dir),
        # an application that does not say how many cores it wants gets one, not every core of
        # the cluster: two tasks' applications then run side by side instead of queueing
        "SPARK_MASTER_OPTS": f"-Dspark.deploy.defaultCores={cluster.cores}",
        **cluster.env,
    }


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _spawn(cluster: Cluster, name: str, args: list[str]) -> int:
    log = cluster.home / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [_spark_class(), *args],
            env=_environment(cluster),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def alive_workers(cluster: Cluster) -> int:
    """How many workers the master lists as ALIVE (its UI's JSON)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{cluster.ui_port}/json/", timeout=5) as r:
            return sum(1 for w in json.load(r).get("workers", []) if w.get("state") == "ALIVE")
    except OSError:
        return 0


def start(cluster: Cluster, timeout: float = 120) -> Cluster:
    """Start the master and the workers; return once every worker has registered."""
    if cluster.state.exists() and alive_workers(cluster) >= cluster.workers:
        return cluster
    cluster.home.mkdir(parents=True, exist_ok=True)
    _secret_conf(cluster)
    pids = {
        "master": _spawn(
            cluster,
            "master",
            [
                MASTER_CLASS,
                "--host",
                "127.0.0.1",
                "--port",
                str(cluster.port),
                "--webui-port",
                str(cluster.ui_port),
            ],
        )  # fmt: skip
    }
    deadline = time.monotonic() + timeout
    while not _listening(cluster.port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no Spark master on {cluster.master_url} after {timeout:.0f} s")
        time.sleep(0.5)
    for n in range(1, cluster.workers + 1):
        work = cluster.home / f"worker-{n}"
        pids[f"worker-{n}"] = _spawn(
            cluster,
            f"worker-{n}",
            [WORKER_CLASS, "--host", "127.0.0.1", "--cores", str(cluster.cores),
             "--memory", cluster.memory, "--work-dir", str(work), "--webui-port", "0",
             cluster.master_url],
        )  # fmt: skip
    cluster.state.write_text(json.dumps(pids))
    while alive_workers(cluster) < cluster.workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{cluster.workers} workers did not register within {timeout:.0f} s")
        time.sleep(1)
    return cluster


def stop(cluster: Cluster, timeout: float = 30) -> None:
    """End the processes `start` recorded (workers first)."""
    if not cluster.state.exists():
        return
    pids = json.loads(cluster.state.read_text())
    for name in sorted(pids, key=lambda n: n == "master"):
        try:
            os.killpg(pids[name], signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    for pid in pids.values():
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    cluster.state.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--home", type=Path, default=REPO / ".cluster")
    args = parser.parse_args(argv)
    cluster = Cluster(args.home.resolve())
    if args.action == "stop":
        stop(cluster)
        print("Spark cluster stopped")
        return 0
    start(cluster)
    print(f"Spark master {cluster.master_url} (UI http://127.0.0.1:{cluster.ui_port}/), "
          f"{cluster.workers} workers of {cluster.cores} core and {cluster.memory}")  # fmt: skip
    print("In Airflow: Variables offerlake_spark_mode=submit and offerlake_spark_conf_dir="
          f"{cluster.conf_dir},")  # fmt: skip
    print(f"connection offerlake_spark with host {cluster.master_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
