"""What Spark writes to local disk (shuffle files) holds no clear value, and its connections
authenticate with a secret Spark draws (no literal in conf)."""

from __future__ import annotations

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
