"""The column actions that need no vault: generalize and mask, as Spark expressions.

Also k-anonymity over a stage table's quasi-identifiers: measure the smallest group, and
suppress ("*") quasi-identifiers of rows in groups smaller than k, one column at a time.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DateType, TimestampType

from jobs.privacy.policy import Generalizer, KAnonymity

SUPPRESSED = "*"


def _band(value: Column, width: float) -> Column:
    low = F.floor(value / F.lit(width)) * F.lit(width)
    as_int = F.lit(width).cast("long") == F.lit(width)
    lo = F.when(as_int, low.cast("long").cast("string")).otherwise(low.cast("string"))
    hi = F.when(as_int, (low + F.lit(width)).cast("long").cast("string")).otherwise(
        (low + F.lit(width)).cast("string")
    )
    return F.when(value.isNotNull(), F.concat(lo, F.lit("-"), hi))


def generalize(value: Column, data_type: DataType, rule: Generalizer, as_of: date) -> Column:
    """A coarser value: `23` -> `20-25` (age_band width 5), a date -> year, `11000` -> `110`."""
    p = rule.params
    if rule.type == "age_band":
        if isinstance(data_type, DateType | TimestampType):
            age = F.floor(F.months_between(F.lit(as_of), value.cast("date")) / 12)
        else:
            age = value.cast("double")
        return _band(age, p["width"])
    if rule.type == "band":
        return _band(value.cast("double"), p["width"])
    if rule.type == "year":
        return F.year(value.cast("date"))
    if rule.type == "month":
        return F.date_format(value.cast("date"), "yyyy-MM")
    if rule.type == "prefix":
        return F.substring(F.trim(value.cast("string")), 1, int(p["length"]))
    if rule.type == "grid":  # the centre of the cell, rounded to the cell's precision
        cell = p["cell"]
        return (F.floor(value.cast("double") / F.lit(cell)) + F.lit(0.5)) * F.lit(cell)
    raise ValueError(f"generalizer type {rule.type}")  # policy.py validated the types


def mask(value: Column, keep_last: int) -> Column:
    """`4111111111111234` -> `************1234`; a value no longer than N is fully masked."""
    text = value.cast("string")
    n = F.length(text)
    shown = F.when(
        n > keep_last, F.substring(text, -keep_last, keep_last) if keep_last else F.lit("")
    )
    stars = F.when(n > keep_last, n - keep_last).otherwise(n)
    return F.when(
        text.isNotNull(),
        F.concat(F.array_join(F.array_repeat(F.lit("*"), stars), ""), F.coalesce(shown, F.lit(""))),
    )


def smallest_group(df: DataFrame, qis: tuple[str, ...]) -> int:
    """k of the table: the size of its smallest group of equal quasi-identifiers (0 if empty)."""
    row = df.groupBy(*qis).count().agg(F.min("count")).first()
    return int(row[0] or 0)


def enforce_k(df: DataFrame, rule: KAnonymity) -> DataFrame:
    """Suppress quasi-identifiers, in `rule.suppress` order, of rows in groups smaller than k."""
    qis = list(rule.quasi_identifiers)
    out = df.select(
        *[F.col(c) for c in df.columns if c not in qis], *[F.col(q).cast("string") for q in qis]
    )
    for column in rule.suppress:
        small = F.count(F.lit(1)).over(Window.partitionBy(*qis)) < rule.k
        out = out.withColumn(column, F.when(small, F.lit(SUPPRESSED)).otherwise(F.col(column)))
    return out.select(*df.columns)
