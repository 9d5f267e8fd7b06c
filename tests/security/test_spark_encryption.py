"""What Spark writes to local disk (shuffle files) holds no clear value, and its connections
authenticate with a secret Spark draws (no literal in conf); on the standalone cluster with the
secret the cluster drew, which a driver without it does not get past."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from pyspark.sql import functions as F

from jobs.runtime.config import LakeConfig
from jobs.runtime.spark import effective_master, encryption_conf, spark_conf


def _local_dirs(spark) -> list[Path]:
    env = spark.sparkContext._jvm.org.apache.spark.SparkEnv.get()
    return [Path(str(d.getPath())) for d in env.blockManager().diskBlockManager().localDirs()]


def _holding(dirs: list[Path], marker: bytes) -> list[Path]:
    return [
        p for d in dirs for p in d.rglob("*") if p.is_file() and marker in p.read_bytes()
    ]  # fmt: skip


def test_shuffle_files_hold_no_clear_value(spark):
    conf = spark.sparkContext.getConf()
    assert conf.get("spark.io.encryption.enabled") == "true"
    assert conf.get("spark.authenticate") == "true"
    assert conf.get("spark.network.crypto.enabled") == "true"
    assert conf.get("spark.authenticate.secret", None) is None, "drawn by Spark, not configured"
    marker = f"contact-{uuid.uuid4().hex}@example.org"
    rows = spark.range(2000).select(
        (F.col("id") % 7).alias("k"), F.concat(F.lit(marker), F.col("id")).alias("email")
    )
    assert rows.repartition(3, "k").groupBy("k").agg(F.count("email")).count() == 7
    dirs = _local_dirs(spark)
    shuffle = [p for d in dirs for p in d.rglob("shuffle_*.data")]
    assert shuffle, "the shuffle wrote its files to the block manager's folders"
    assert _holding(dirs, marker.encode()) == []
    # the search finds a clear value where one is (so its 0 above means something)
    control = dirs[0] / f"control-{uuid.uuid4().hex}"
    control.write_bytes(b"x" + marker.encode() + b"y")
    try:
        assert _holding(dirs, marker.encode()) == [control]
    finally:
        control.unlink()


def test_a_cluster_session_encrypts_its_disk_and_leaves_the_shared_secret_to_the_cluster(
    monkeypatch,
):
    """Under spark-submit the master is `--master`'s, whatever conf/lake.yaml says: a driver
    submitted to a standalone cluster must not ask for authentication the cluster lacks."""
    local = LakeConfig.load()
    assert encryption_conf("spark://spark-master:7077") == {"spark.io.encryption.enabled": "true"}
    assert spark_conf(local)["spark.network.crypto.enabled"] == "true"
    assert "spark.authenticate.secret" not in spark_conf(local)
    assert effective_master(local, {"spark.master": "local[2]"}) == "local[2]"
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")
    monkeypatch.setattr("pyspark.SparkContext._ensure_initialized", lambda *a, **k: None)
    monkeypatch.setattr("pyspark.SparkConf.get", lambda self, key, default=None: "spark://h:7077")
    assert effective_master(local) == "spark://h:7077"


def _submit(cluster, conf_dir: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SPARK_CONF_DIR"}
    if conf_dir is not None:
        env["SPARK_CONF_DIR"] = str(conf_dir)
    command = [
        str(Path(sys.executable).parent / "spark-submit"),
        "--master", cluster.master_url,
        "--conf", "spark.cores.max=2",
        str(Path(__file__).parent / "cluster_job.py"),
    ]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_the_cluster_authenticates_and_encrypts_with_its_own_secret(spark_cluster, tmp_path):
    defaults = spark_cluster.conf_dir / "spark-defaults.conf"
    assert oct(defaults.stat().st_mode & 0o777) == "0o600"
    assert oct(spark_cluster.conf_dir.stat().st_mode & 0o777) == "0o700"
    secret = next(
        line.split()[1] for line in defaults.read_text().splitlines()
        if line.startswith("spark.authenticate.secret ")
    )  # fmt: skip
    done = _submit(spark_cluster, spark_cluster.conf_dir)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT 7 true true" in done.stdout
    # the secret is on no process's command line (the daemons read it from the file)
    commands = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "spark.authenticate" not in commands and secret not in commands
    # a driver without the secret does not get an application on the cluster
    (tmp_path / "spark-defaults.conf").write_text(
        "spark.authenticate true\nspark.authenticate.secret not-the-secret\n"
    )
    for conf_dir in (None, tmp_path):
        try:
            refused = _submit(spark_cluster, conf_dir)
        except subprocess.TimeoutExpired:
            continue  # still knocking at the master after two minutes
        assert refused.returncode != 0 and "RESULT" not in refused.stdout
