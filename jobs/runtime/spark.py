"""The one Spark session builder: Delta and Sedona registered, jars from .jars/ only."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.errors import SetupError
from jobs.runtime.config import REPO_ROOT, LakeConfig

JARS_DIR = Path(os.environ.get("OFFERLAKE_JARS", REPO_ROOT / ".jars"))

# Every jar family jars/pom.xml provides; a missing one means `make setup` did not finish.
REQUIRED_JARS = (
    "delta-spark_",
    "delta-storage-",
    "sedona-spark-shaded-",
    "geotools-wrapper-",
    "spark-cobol_",
    "cobol-parser_",
    "hadoop-aws-",
    "offerlake-delta-logstore-",  # built by make setup from jars/logstore/
    "postgresql-",
    "sqlite-jdbc-",
)


# jars/logstore/: Delta commits on S3 safe with many writing drivers (S3 conditional PUT)
S3_LOG_STORE = "org.offerlake.delta.S3ConditionalPutLogStore"


def local_jars(jars_dir: Path = JARS_DIR) -> list[Path]:
    """The jars Spark loads, all local; a clear error when setup has not fetched them."""
    jars = sorted(jars_dir.glob("*.jar"))
    missing = [p for p in REQUIRED_JARS if not any(j.name.startswith(p) for j in jars)]
    if missing:
        raise SetupError(f"{jars_dir}: missing Spark jars {missing}; run `make setup`")
    return jars


def classpath_conf(jars_dir: Path = JARS_DIR) -> dict[str, str]:
    """The jars on the classpath of the driver and of every executor, from the node's own copy
    (every node of a cluster runs the jobs image, with the jars at the same path: docker/).

    Not `spark.jars`: a session started so adds each jar to a class loader of its own at start
    (measured: session start 5.7-5.9 s against 3.9 s here; every Airflow task is such a start),
    and, under spark-submit, each application's executors fetch all 400 MB of them from the
    driver (15 GB of copies in the workers' folders for one day's chain of 39 applications)."""
    classpath = f"{jars_dir}/*"
    return {"spark.driver.extraClassPath": classpath, "spark.executor.extraClassPath": classpath}


AUTHENTICATION = ("spark.authenticate", "spark.network.crypto.enabled")


def encryption_conf(master: str) -> dict[str, str]:
    """What Spark writes to its local disks and sends between its processes, encrypted.

    On-prem jobs hold decrypted contacts and unwrapped data keys in their rows: shuffle, spill
    and cached blocks on local disk are AES-encrypted (`spark.io.encryption.enabled`, a key per
    application), and with a local master every connection of the application authenticates
    and is encrypted with a secret Spark draws for that application (none in conf). A
    standalone cluster needs one secret shared by its daemons and drivers
    (`spark.authenticate.secret`): not set here, see the README's "Privacy" section."""
    conf = {"spark.io.encryption.enabled": "true"}
    if master.startswith("local"):
        conf |= dict.fromkeys(AUTHENTICATION, "true")
    return conf


def effective_master(config: LakeConfig, extra_conf: dict[str, str] | None = None) -> str:
    """The master the session will have: spark-submit's `--master` when run under it (its
    JVM's system properties), else the caller's `spark.master`, else conf/lake.yaml's."""
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()  # joins spark-submit's JVM, as getOrCreate would
        return SparkConf().get("spark.master", config.spark_master) or config.spark_master
    return (extra_conf or {}).get("spark.master", config.spark_master)


def spark_conf(config: LakeConfig, jars_dir: Path = JARS_DIR) -> dict[str, str]:
    """Every Spark setting of a session, from conf/lake.yaml plus what the stack needs."""
    conf = {
        **classpath_conf(jars_dir),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension,"
        "org.apache.sedona.sql.SedonaSqlExtensions",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryo.registrator": "org.apache.sedona.core.serde.SedonaKryoRegistrator",
        "spark.sql.warehouse.dir": f"{config.onprem_root}/spark-warehouse"
        if "://" not in config.onprem_root
        else "spark-warehouse",
    }
    conf.update(encryption_conf(config.spark_master))
    if config.lake_root.startswith("s3a://"):
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "com.amazonaws.auth.DefaultAWSCredentialsProviderChain"
        )
        # each Airflow task is its own driver committing to the same tables: put-if-absent by
        # S3 conditional writes, not Delta's default single-driver S3 store
        conf["spark.delta.logStore.s3a.impl"] = S3_LOG_STORE
        if config.s3_endpoint:
            conf["spark.hadoop.fs.s3a.endpoint"] = config.s3_endpoint
            conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
    conf.update(config.spark_conf)
    return conf


def build_spark(config: LakeConfig, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """Start (or reuse) the process's SparkSession; start it once per process, it costs ~10 s."""
    # Python workers (pandas_udf) must run the same interpreter as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    local_jars()  # a clear error when `make setup` has not fetched them
    settings = {**spark_conf(config), **(extra_conf or {})}
    for key in AUTHENTICATION:  # decided by the master the session really gets
        settings.pop(key, None)
    settings |= encryption_conf(effective_master(config, extra_conf))
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # under spark-submit its --master and --name
        builder = builder.master(config.spark_master).appName(config.app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    from sedona.spark import SedonaContext

    return SedonaContext.create(spark)


@contextmanager
def wide_rows(spark: SparkSession) -> Iterator[None]:
    """Whole-stage code generation only for plan nodes of at most 100 fields (Spark's default;
    conf/lake.yaml raises it to 5,000 for the wide typing of raw rows) while a thousand-column
    row is built.

    A stage producing 1,000+ columns outgrows the JVM's 64 KB method limit; Spark would log the
    compile failure and fall back after trying. Such nodes keep expression-level codegen, and
    the narrow ones feeding them (scans, explodes, aggregates) keep whole-stage codegen:
    measured 21 s against 23 s with whole-stage codegen off for the whole demo customer_360.
    """
    key = "spark.sql.codegen.maxFields"
    before = spark.conf.get(key)
    spark.conf.set(key, "100")
    try:
        yield
    finally:
        spark.conf.set(key, before)
