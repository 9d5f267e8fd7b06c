"""docker/compose.yaml: no engine runs here, so the stack is checked for what can be checked
without one: Compose parses it (where a docker client exists), and every service agrees with
conf/ (environment, Spark master, S3 endpoint and bucket, Trino catalog, Airflow settings)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from jobs.catalog.settings import load as load_catalog_settings
from jobs.orchestration.stage_operator import MODE_VARIABLE, MODES, SPARK_CONN_ID
from jobs.runtime.config import LakeConfig, conf_dir

DOCKER = Path(__file__).resolve().parents[2] / "docker"
REPO = DOCKER.parent
COMPOSE = DOCKER / "compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-api-server": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}


@pytest.fixture(scope="module")
def stack() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def production() -> LakeConfig:
    return LakeConfig.load(environment="production")


def _env(service: dict) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_parses_the_stack_with_the_example_env_file():
    command = _compose_command()
    if command is None:
        pytest.skip("no docker compose client on this machine (the checks below still run)")
    done = subprocess.run(
        [*command, "-f", str(COMPOSE), "--env-file", str(DOCKER / ".env.example"), "config"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    assert "${" not in done.stdout  # every variable is given by the env file
    assert set(AIRFLOW_SERVICES) <= set(resolved["services"])


def test_every_variable_the_stack_reads_is_in_the_example_env_file():
    wanted = set(re.findall(r"(?<!\$)\$\{(\w+)\}", COMPOSE.read_text()))
    example = dict(
        line.split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )  # fmt: skip
    assert wanted == set(example), "docker/.env.example must list exactly what compose reads"


def test_the_stack_has_every_service_the_deployment_needs(stack):
    services = stack["services"]
    needed = {"postgres", "s3", "s3-init", "spark-master", "spark-worker", "airflow-init",
              "hive-metastore", "trino", *AIRFLOW_SERVICES}  # fmt: skip
    assert needed <= set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"].startswith(f"airflow {command}")


def test_host_paths_the_stack_mounts_or_builds_from_exist(stack):
    for name, service in stack["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                path = (DOCKER / source).resolve()
                assert path == REPO / ".jars" or path.exists(), f"{name}: {source}"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE):
        for part in source.split():
            assert (REPO / part).exists(), f"Dockerfile copies {part}"


def test_services_agree_with_the_production_environment_of_conf(stack, production):
    services = stack["services"]
    master = urlparse(production.spark_master)
    assert master.hostname in services
    assert f"--port {master.port}" in services[master.hostname]["command"]
    worker = services["spark-worker"]["command"]
    assert worker.endswith(production.spark_master)
    s3 = urlparse(production.s3_endpoint)
    assert s3.hostname in services and s3.port == 9000
    bucket = urlparse(production.lake_root).netloc
    assert f"lake/{bucket}" in services["s3-init"]["entrypoint"]
    for name in ("spark-master", "spark-worker", *AIRFLOW_SERVICES):
        env = _env(services[name])
        assert env["OFFERLAKE_ENV"] == production.environment, name
        assert env["AWS_ENDPOINT_URL_S3"] == production.s3_endpoint, name
        mounts = services[name]["volumes"]
        assert f"onprem:{production.onprem_root}" in mounts, name
        assert "../conf:/opt/offerlake/conf:ro" in mounts, name


def test_airflow_submits_every_task_to_the_spark_master_of_conf(stack, production):
    for name in AIRFLOW_SERVICES:
        env = _env(stack["services"][name])
        assert env[f"AIRFLOW_VAR_{MODE_VARIABLE.upper()}"] in MODES
        assert env[f"AIRFLOW_CONN_{SPARK_CONN_ID.upper()}"] == production.spark_master
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/offerlake/dags"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")


def test_trino_catalog_is_the_one_conf_names_and_reads_the_stack_s3(stack, production):
    settings = load_catalog_settings(conf_dir())
    catalog = DOCKER / "trino" / "catalog" / f"{settings.trino.catalog}.properties"
    properties = dict(
        line.split("=", 1) for line in catalog.read_text().splitlines()
        if line and not line.startswith("#")
    )  # fmt: skip
    assert properties["connector.name"] == "delta_lake"
    assert properties["delta.register-table-procedure.enabled"] == "true"  # trino.sql calls it
    assert properties["s3.endpoint"] == production.s3_endpoint
    metastore = urlparse(properties["hive.metastore.uri"])
    assert metastore.hostname in stack["services"]
    assert "./trino/catalog:/etc/trino/catalog:ro" in stack["services"]["trino"]["volumes"]


def test_airflow_components_share_their_secrets_and_reach_postgres_async_through_psycopg(
    stack, tmp_path
):
    """What `make airflow` sets for its processes (jobs/orchestration/standalone.py) the stack
    sets for its containers: one JWT secret (else the api-server refuses the scheduler's task
    tokens), one API secret and Fernet key, psycopg 3 for the async engine (asyncpg is absent)."""
    shared = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC",
    )
    for name in AIRFLOW_SERVICES:
        env = stack["services"][name]["environment"]
        assert all(env.get(key) for key in shared), name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith(
            "postgresql+psycopg_async://"
        )
    from jobs.orchestration import standalone

    made = standalone.environment(tmp_path, 8080, str(tmp_path / "lake"), "postgresql://x")
    assert set(shared) <= set(made)


def test_the_served_profiles_go_to_the_stack_dynamodb(stack):
    env = stack["services"]["airflow-scheduler"]["environment"]
    endpoint = urlparse(env["AWS_ENDPOINT_URL_DYNAMODB"])
    assert endpoint.hostname in stack["services"]


def test_the_image_builds_the_log_store_its_s3_lake_commits_through(production):
    """conf's production lake is on s3a://, so its Spark commits through offerlake's log store:
    the image builds that jar into the jars folder, and the jar holds the class conf names."""
    import zipfile

    from jobs.runtime.spark import JARS_DIR, S3_LOG_STORE, spark_conf

    assert spark_conf(production)["spark.delta.logStore.s3a.impl"] == S3_LOG_STORE
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "mvn -q -B -f jars/logstore/pom.xml package" in dockerfile
    assert "cp .build/logstore/offerlake-delta-logstore-*.jar .jars/" in dockerfile
    (jar,) = JARS_DIR.glob("offerlake-delta-logstore-*.jar")
    assert S3_LOG_STORE.replace(".", "/") + ".class" in zipfile.ZipFile(jar).namelist()
