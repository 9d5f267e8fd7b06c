"""Segments and customer lifetime value from customer_360 (settings: conf/segments.yaml).

- CLV: yearly margin (card interchange + net interest margin on balances + fees) kept with a
  yearly retention (active or inactive customer) and discounted over a horizon: a geometric sum.
- Rule segment: life stage x value tier (CLV percentile).
- Learned segment: Spark MLlib k-means on log1p-scaled, standardised metrics; k by silhouette;
  clusters numbered by mean CLV rank ("value 1 of 4" is the highest-value cluster in every run).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import yaml
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.errors import ConfigError


@dataclass(frozen=True)
class SegmentSettings:
    clv: dict
    rules: dict
    kmeans: dict

    @classmethod
    def load(cls, conf_dir: Path) -> SegmentSettings:
        path = Path(conf_dir) / "segments.yaml"
        if not path.is_file():
            raise ConfigError(f"{path}: file not found")
        doc = yaml.safe_load(path.read_text()) or {}
        missing = [k for k in ("clv", "rules", "kmeans") if k not in doc]
        if missing:
            raise ConfigError(f"{path}: missing section(s) {', '.join(missing)}")
        return cls(doc["clv"], doc["rules"], doc["kmeans"])

    def metrics(self) -> list[str]:
        """Every customer_360 column these settings read."""
        c = self.clv
        return sorted(
            {c["card_spend"], c["balance"], c["fees"], *c["activity"], self.rules["life_stage"]}
            | set(self.kmeans["features"])
        )


def _zero(name: str) -> Column:
    return F.coalesce(F.col(name).cast("double"), F.lit(0.0))


def clv(settings: SegmentSettings) -> Column:
    c = settings.clv
    margin = (
        F.lit(c["card_interchange"]) * _zero(c["card_spend"])
        + F.lit(c["net_interest_margin"]) * _zero(c["balance"])
        + F.abs(_zero(c["fees"]))
    )
    active = reduce(lambda a, b: a | b, [_zero(m) > 0 for m in c["activity"]])
    retention = F.when(active, c["retention"]["active"]).otherwise(c["retention"]["inactive"])
    kept = retention / (1 + c["discount"])
    years = int(c["horizon_years"])
    return F.round(margin * (1 - F.pow(kept, years)) / (1 - kept), 2)


def rule_segments(df: DataFrame, settings: SegmentSettings) -> DataFrame:
    """df (with `clv`) + life_stage, value_tier, rule_segment."""
    tiers = sorted(settings.rules["value_tiers"].items(), key=lambda t: -t[1])
    rank = F.percent_rank().over(Window.orderBy("clv", "client_id"))
    tier = None
    for name, floor in tiers:
        tier = (tier if tier is not None else F).when(rank >= floor, F.lit(name))
    stage = F.coalesce(F.col(settings.rules["life_stage"]).cast("string"), F.lit("unknown"))
    return (
        df.withColumn("life_stage", stage)
        .withColumn("value_tier", tier)
        .withColumn("rule_segment", F.concat_ws(" / ", "life_stage", "value_tier"))
    )


@dataclass(frozen=True)
class Clustering:
    assigned: DataFrame  # client_id, cluster, cluster_label
    k: int | None
    silhouette: float | None
    tried: dict[int, float]


def kmeans_segments(df: DataFrame, settings: SegmentSettings) -> Clustering:
    """k-means over the settings' features, best k by silhouette (ties: the smaller k)."""
    features = list(settings.kmeans["features"])
    rows = df.select(
        "client_id",
        "clv",
        *[F.log1p(F.greatest(_zero(f), F.lit(0.0))).alias(f) for f in features],
    ).orderBy("client_id")
    assembled = VectorAssembler(inputCols=features, outputCol="raw").transform(rows)
    scaler = StandardScaler(inputCol="raw", outputCol="features", withMean=True, withStd=True)
    scaled = scaler.fit(assembled).transform(assembled).localCheckpoint()
    customers = scaled.count()
    evaluator = ClusteringEvaluator(featuresCol="features", predictionCol="prediction")
    tried: dict[int, float] = {}
    best = None
    for k in sorted(int(k) for k in settings.kmeans["k"]):
        if k >= customers:
            break
        model = KMeans(k=k, seed=int(settings.kmeans["seed"]), featuresCol="features").fit(scaled)
        predicted = model.transform(scaled)
        if predicted.select("prediction").distinct().count() < 2:
            continue  # everyone in one cluster: no silhouette to speak of
        tried[k] = evaluator.evaluate(predicted)
        if best is None or tried[k] > tried[best[0]]:
            best = (k, predicted)
    if best is None:
        empty = df.select(
            "client_id",
            F.lit(None).cast("int").alias("cluster"),
            F.lit(None).cast("string").alias("cluster_label"),
        )
        return Clustering(empty, None, None, tried)
    k, predicted = best
    ranks = (
        predicted.groupBy("prediction")
        .agg(F.avg("clv").alias("_clv"))
        .withColumn("cluster", F.row_number().over(Window.orderBy(F.desc("_clv"), "prediction")))
    )
    assigned = predicted.join(ranks, "prediction").select(
        "client_id",
        F.col("cluster").cast("int"),
        F.format_string("value %d of %d", F.col("cluster"), F.lit(k)).alias("cluster_label"),
    )
    return Clustering(assigned, k, tried[k], tried)


def profiles(segments: DataFrame, c360: DataFrame, settings: SegmentSettings) -> DataFrame:
    """Per kind (rule, kmeans) and segment: customers, share, mean CLV and mean features."""
    features = list(settings.kmeans["features"])
    joined = segments.join(c360.select("client_id", *features), "client_id")
    total = segments.count()
    frames = []
    for kind, column in (("rule", "rule_segment"), ("kmeans", "cluster_label")):
        frames.append(
            joined.where(F.col(column).isNotNull())
            .groupBy(F.col(column).alias("segment"))
            .agg(
                F.count("*").alias("customers"),
                F.round(F.avg("clv"), 2).alias("clv_avg"),
                *[F.round(F.avg(F.col(f).cast("double")), 2).alias(f"{f}_avg") for f in features],
            )
            .withColumn("kind", F.lit(kind))
            .withColumn("share", F.round(F.col("customers") / F.lit(max(total, 1)), 4))
        )
    out = frames[0].unionByName(frames[1])
    return out.select("kind", "segment", "customers", "share", "clv_avg", *out.columns[3:-2])


def segments(c360: DataFrame, settings: SegmentSettings) -> tuple[DataFrame, Clustering]:
    """client_id, as_of, clv, life_stage, value_tier, rule_segment, cluster, cluster_label."""
    with_clv = c360.select("client_id", "as_of", *settings.metrics()).withColumn(
        "clv", clv(settings)
    )
    ruled = rule_segments(with_clv, settings)
    clustering = kmeans_segments(with_clv, settings)
    out = ruled.join(clustering.assigned, "client_id", "left").select(
        "client_id",
        "as_of",
        "clv",
        "life_stage",
        "value_tier",
        "rule_segment",
        "cluster",
        "cluster_label",
    )
    return out, clustering
