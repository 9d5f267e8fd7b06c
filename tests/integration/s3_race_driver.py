"""One Spark driver of the two-driver commit race (test_s3_lake.py): waits for the go file, then
appends COMMITS one-row commits to the Delta table at TABLE on s3a://, each labelled
`WRITER-i` in its commit's userMetadata.

    python -m tests.integration.s3_race_driver WRITER TABLE ENDPOINT GO_FILE COMMITS [LOG_STORE]

LOG_STORE names the s3a log store class (default: the one offerlake's S3 lakes use)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pyspark.sql import SparkSession

from jobs.runtime.spark import S3_LOG_STORE, classpath_conf

DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def main(writer: str, table: str, endpoint: str, go: str, commits: int, store: str) -> None:
    spark = (
        SparkSession.builder.master("local[1]")
        .appName(f"race-{writer}")
        .config("spark.driver.extraClassPath", classpath_conf()["spark.driver.extraClassPath"])
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.hadoop.fs.s3a.endpoint", endpoint)
        .config("spark.hadoop.fs.s3a.path.style.access", "true")
        .config("spark.delta.logStore.s3a.impl", store)
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    rows = [spark.createDataFrame([(writer, i)], "writer string, i int") for i in range(commits)]
    while not Path(go).exists():  # both drivers started: race from here
        time.sleep(0.05)
    for i, row in enumerate(rows):
        row.write.format("delta").mode("append").option("userMetadata", f"{writer}-{i}").save(table)
    spark.stop()


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*args[:4], int(args[4]), args[5] if len(args) > 5 else S3_LOG_STORE)
