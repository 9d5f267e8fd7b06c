"""KPIs per campaign, variant, channel and day, with lift against the holdout group.

effective_rate = effective / delivered (treatment); holdout_rate = effective / holdouts
(control); lift = effective_rate - holdout_rate, with Newcombe's hybrid score interval for a
difference of two independent proportions (Newcombe 1998, method 10): Wilson intervals of each
rate combined, which stays sensible at rates of 0 or 1 and small groups, where the Wald
interval collapses. Null when either group is empty.
"""

from __future__ import annotations

from statistics import NormalDist

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

GRAIN = ["campaign", "variant", "channel", "day"]


def z_of(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: Column, n: Column, z: float) -> tuple[Column, Column]:
    """Wilson score interval (low, high) of successes / n."""
    p = successes / n
    centre = p + F.lit(z * z) / (2 * n)
    spread = F.lit(z) * F.sqrt(p * (1 - p) / n + F.lit(z * z) / (4 * n * n))
    scale = 1 + F.lit(z * z) / n
    return (centre - spread) / scale, (centre + spread) / scale


def newcombe(x1: Column, n1: Column, x2: Column, n2: Column, z: float) -> tuple[Column, Column]:
    """Interval (low, high) of x1/n1 - x2/n2."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    low = d - F.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + F.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


COUNTS = ["sent", "delivered", "failed", "not_sent", "effective", "holdouts", "holdout_effective"]


def kpis(outcomes: DataFrame, confidence: float, by: list[str] | None = None) -> DataFrame:
    """outcomes: exposures with `group`, `status`, `effective`, `sent_at`."""
    by = by or GRAIN
    treated = F.col("group") == "treatment"
    control = F.col("group") == "control"

    def count(condition: Column) -> Column:
        return F.sum(F.when(condition, 1).otherwise(0)).cast("long")

    g = (
        outcomes.withColumn("day", F.to_date("sent_at"))
        .groupBy(*by)
        .agg(
            count(treated & F.col("status").isin("sent", "failed")).alias("sent"),
            count(treated & (F.col("status") == "sent")).alias("delivered"),
            count(treated & (F.col("status") == "failed")).alias("failed"),
            count(treated & F.col("status").isin("erased", "unreachable")).alias("not_sent"),
            count(treated & (F.col("status") == "sent") & F.col("effective")).alias("effective"),
            count(control).alias("holdouts"),
            count(control & F.col("effective")).alias("holdout_effective"),
        )
    )
    return with_rates(g, confidence)


def rolled_up(table: DataFrame, by: list[str], confidence: float) -> DataFrame:
    """The kpis table summed to a coarser grain (e.g. per campaign), rates recomputed."""
    sums = table.groupBy(*by).agg(*[F.sum(c).cast("long").alias(c) for c in COUNTS])
    return with_rates(sums, confidence)


def with_rates(counts: DataFrame, confidence: float) -> DataFrame:
    n1, x1 = F.col("delivered"), F.col("effective")
    n2, x2 = F.col("holdouts"), F.col("holdout_effective")
    low, high = newcombe(x1, n1, x2, n2, z_of(confidence))
    both = (n1 > 0) & (n2 > 0)
    return counts.select(
        "*",
        F.when(n1 > 0, x1 / n1).alias("effective_rate"),
        F.when(n2 > 0, x2 / n2).alias("holdout_rate"),
        F.when(both, x1 / n1 - x2 / n2).alias("lift"),
        F.when(both, low).alias("lift_low"),
        F.when(both, high).alias("lift_high"),
    )
