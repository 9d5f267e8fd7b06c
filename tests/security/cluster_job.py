"""A tiny job for tests/security/test_spark_encryption.py: submitted to the standalone cluster,
it shuffles across the executors and prints what its session's security settings are."""

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = SparkSession.builder.getOrCreate()
conf = spark.sparkContext.getConf()
groups = spark.range(5000).groupBy((F.col("id") % 7).alias("k")).count().count()
print(
    "RESULT",
    groups,
    conf.get("spark.authenticate", "false"),
    conf.get("spark.network.crypto.enabled", "false"),
    flush=True,
)
spark.stop()
