"""The column actions that need no vault: generalize and mask, as Spark expressions.

Also k-anonymity over a stage table's quasi-identifiers: measure the smallest group, and
suppress ("*", or null for a date) quasi-identifiers of rows in groups smaller than k, one
column at a time, then all of them for rows still in too small a group.
"""

from __future__ import annotations

from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DateType, StringType, TimestampType

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
    if rule.type == "years_start":  # a date -> 1 January of its N-year period, still a date
        start = F.floor(F.year(value.cast("date")) / F.lit(p["years"])) * F.lit(p["years"])
        return F.make_date(start.cast("int"), F.lit(1), F.lit(1))
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


def _present(df: DataFrame, rule: KAnonymity) -> list[str]:
    """The rule's quasi-identifiers this table has (layouts differ: `district` or `district_id`)."""
    return [q for q in rule.quasi_identifiers if q in df.columns]


def _suppressed(df: DataFrame, column: str) -> Column:
    """The suppressed value of a column: "*" for text, null for other types (a date or a
    number keeps its type, so the model's expressions on it still run)."""
    if isinstance(df.schema[column].dataType, StringType):
        return F.lit(SUPPRESSED)
    return F.lit(None).cast(df.schema[column].dataType)


def _is_suppressed(df: DataFrame, column: str) -> Column:
    if isinstance(df.schema[column].dataType, StringType):
        return F.col(column) == F.lit(SUPPRESSED)
    return F.col(column).isNull()


def smallest_group(df: DataFrame, rule: KAnonymity) -> int:
    """k of the table: the size of its smallest group of equal quasi-identifiers (0 if empty).

    Rows whose every quasi-identifier is suppressed match any person, so their group is not
    counted unless it is all the table has."""
    qis = _present(df, rule)
    everything = reduce(lambda a, b: a & b, [_is_suppressed(df, q) for q in qis])
    groups = df.groupBy(*qis).agg(F.count(F.lit(1)).alias("n"), F.min(everything).alias("all"))
    row = groups.agg(
        F.min(F.when(~F.coalesce(F.col("all"), F.lit(False)), F.col("n"))), F.min("n")
    ).first()
    return int(row[0] if row[0] is not None else row[1] or 0)


def enforce_k(df: DataFrame, rule: KAnonymity) -> DataFrame:
    """Suppress quasi-identifiers, in `rule.suppress` order, of rows in groups smaller than k;
    then every quasi-identifier of rows still in a smaller group."""
    qis = _present(df, rule)

    def small() -> Column:
        return F.count(F.lit(1)).over(Window.partitionBy(*qis)) < rule.k

    out = df
    for c in [c for c in rule.suppress if c in qis]:
        out = out.withColumn(c, F.when(small(), _suppressed(df, c)).otherwise(F.col(c)))
    out = out.withColumn("_k_small", small())
    for c in qis:
        out = out.withColumn(c, F.when(F.col("_k_small"), _suppressed(df, c)).otherwise(F.col(c)))
    return out.select(*df.columns)
