"""Compile the catalog into one scan per source table: explode, aggregate long, pivot by key.

For one source, each row is turned into the (family, label, window) cells it counts for: the
label is one CASE over the family's dimension, the windows one small array, so a row costs a
few expressions per family, not one per metric. Cells are aggregated long, first by calendar
month (what `months_where` needs), then rolled up; each cell then yields its metrics as
(key, value) pairs. All sources' pairs are pivoted by key into one row per customer: a
thousand columns come from one aggregate, not a thousand CASE aggregates.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.model.catalog import Catalog, Family, Metric

ZERO_WHEN_EMPTY = ("sum", "count", "count_distinct", "months_where", "share")


def quoted(name: str) -> str:
    """A column name as a Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def text_literal(text: str) -> str:
    """A string as a Spark SQL literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def select_sql(frame: DataFrame, items: list[str]) -> DataFrame:
    """frame projected to SQL select items in one call to Spark. Built as Columns, each of a
    thousand columns costs Python-to-JVM round trips: ~2 s of the model's planning."""
    text = ", ".join(items).replace("{", "{{").replace("}", "}}")
    return frame.sparkSession.sql(f"SELECT {text} FROM {{frame}}", frame=frame)


def _label(family: Family) -> Column:
    if not family.by:
        return F.lit("")
    cases = None
    for label, condition in family.labels:
        cases = (cases if cases is not None else F).when(F.expr(condition), F.lit(label))
    return cases


def _cell_key(family: int | Column, label: Column | str, window: Column | str) -> Column:
    def col(x):
        return x if isinstance(x, Column) else F.lit(x)

    return F.concat_ws("|", col(family).cast("string"), col(label), col(window))


def cells(families: list[Family], events: DataFrame, as_of: date) -> DataFrame:
    """(customer, f, l, w, month, v, d) per event and cell; `events` has customer and _day."""
    windows = {w.name: w for f in families for w in f.windows}
    entries = []
    for f in families:
        value = F.expr(f.value) if f.value else F.lit(None)
        distinct = bool({"count_distinct", "mode"} & set(f.aggs))
        monthly = "months_where" in f.aggs
        entries.append(
            F.when(
                F.expr(f.filter) & _label(f).isNotNull(),
                F.struct(
                    F.lit(f.index).alias("f"),
                    _label(f).alias("l"),
                    (F.col("_month") if monthly else F.lit(None).cast("date")).alias("m"),
                    value.cast("double").alias("v"),
                    (value.cast("string") if distinct else F.lit(None).cast("string")).alias("d"),
                    F.array(*[F.lit(w.name) for w in f.windows]).alias("ws"),
                ),
            )
        )
    in_windows = F.array(
        *[F.when(w.contains(F.col("_day"), as_of), F.lit(name)) for name, w in windows.items()]
    )
    rows = events.withColumn("_month", F.trunc("_day", "month")).select(
        "customer",
        F.filter(F.array(*entries), lambda e: e.isNotNull()).alias("_e"),
        F.filter(in_windows, lambda w: w.isNotNull()).alias("_w"),
    )
    rows = rows.select("customer", F.explode("_e").alias("e"), "_w")
    rows = rows.select(
        "customer",
        F.col("e.m").alias("month"),
        "e.f",
        "e.l",
        "e.v",
        "e.d",
        F.explode(F.array_intersect("_w", "e.ws")).alias("w"),
    )
    return rows


def aggregate(families: list[Family], rows: DataFrame) -> DataFrame:
    """(customer, f, l, w) with S, N, NV, MN, MX, SS, CD, MW, MO: one row per cell.

    Two hash aggregations, no collected sets: first by cell, month and distinct value (month
    is set only for `months_where` families, the value only for `count_distinct` and `mode`
    ones), then by cell, where CD counts the first level's values, MW its months that reach the
    threshold and MO is its most frequent value (the greatest (count, value)).
    """
    first = rows.groupBy("customer", "f", "l", "w", "month", "d").agg(
        F.sum("v").alias("s"),
        F.count("*").alias("n"),
        F.count("v").alias("nv"),
        F.min("v").alias("mn"),
        F.max("v").alias("mx"),
        F.sum(F.col("v") * F.col("v")).alias("ss"),
    )
    thresholds = {f.index: float(f.threshold) for f in families if f.threshold is not None}
    met = F.lit(0)
    if thresholds:
        limit = F.create_map(*[x for i, t in thresholds.items() for x in (F.lit(i), F.lit(t))])
        met = F.sum(F.when(F.col("s") >= limit[F.col("f")], 1).otherwise(0))
    most = F.struct("n", F.col("d").cast("double").alias("x"))  # by count, then by value
    return first.groupBy("customer", "f", "l", "w").agg(
        F.sum("s").alias("S"),
        F.sum("n").alias("N"),
        F.sum("nv").alias("NV"),
        F.min("mn").alias("MN"),
        F.max("mx").alias("MX"),
        F.sum("ss").alias("SS"),
        F.count("d").alias("CD"),
        met.alias("MW"),
        F.max(F.when(F.col("d").isNotNull(), most))["x"].alias("MO"),
    )


def _value(agg: str) -> Column:
    s, nv = F.col("S"), F.col("NV")
    if agg == "sum":
        return s
    if agg == "count":
        return F.col("N")
    if agg == "avg":
        return s / nv
    if agg == "min":
        return F.col("MN")
    if agg == "max":
        return F.col("MX")
    if agg == "stddev":  # sample standard deviation from the sums, like Spark's stddev
        variance = (F.col("SS") - s * s / nv) / (nv - 1)
        return F.when(nv > 1, F.sqrt(F.greatest(variance, F.lit(0.0))))
    if agg == "count_distinct":
        return F.col("CD")
    if agg == "share":
        return F.when(F.col("_total") != 0, s / F.col("_total"))
    if agg == "mode":
        return F.col("MO")
    return F.col("MW")  # months_where


def metric_key(m: Metric) -> str:
    """The cell and aggregate a metric is: the `name` of its pairs, before the pivot."""
    return f"{m.family.index}|{m.label or ''}|{m.window.name}|{m.agg}"


def pairs(metrics: list[Metric], cells_agg: DataFrame) -> DataFrame:
    """(customer, name, value) for every metric of these cells; `name` is its `metric_key`.

    The keys are built from the cell's columns and kept by a hash-set lookup (IN of the
    metrics' keys): no per-row search through a thousand metric names.
    """
    aggs = sorted({m.agg for m in metrics})
    key = _cell_key(F.col("f"), F.col("l"), F.col("w"))
    entries = F.array(
        *[
            F.struct(
                F.concat_ws("|", key, F.lit(agg)).alias("name"),
                _value(agg).cast("double").alias("value"),
            )
            for agg in aggs
        ]
    )
    if "share" in aggs:  # the family's total over all labels, same customer and window
        cells_agg = cells_agg.withColumn(
            "_total", F.sum("S").over(Window.partitionBy("customer", "f", "w"))
        )
    out = cells_agg.select("customer", F.explode(entries).alias("p"))
    keys = ", ".join(text_literal(k) for k in sorted({metric_key(m) for m in metrics}))
    return out.where(F.expr(f"p.name IN ({keys})")).select("customer", "p.name", "p.value")


def source_pairs(catalog: Catalog, table: str, events: DataFrame, as_of: date) -> DataFrame:
    families = catalog.of_source(table)
    metrics = [m for m in catalog.metrics if m.family in families]
    return pairs(metrics, aggregate(families, cells(families, events, as_of)))


def wide(metrics: list[Metric], customers: DataFrame, all_pairs: DataFrame) -> DataFrame:
    """customers (column `customer` + attributes) with one column per metric.

    The long pairs are pivoted by key with the pivot values given, which Spark runs as one
    PivotFirst aggregate (an array buffer per customer, a hash lookup per pair), not one
    aggregate per metric; the pivoted columns are then named after the metrics.
    """
    keys = [metric_key(m) for m in metrics]
    pivoted = all_pairs.groupBy("customer").pivot("name", keys).agg(F.first("value"))
    columns = []
    for m, key in zip(metrics, keys, strict=True):
        value = quoted(key)  # the pivot names its columns by their keys
        if m.agg in ZERO_WHEN_EMPTY:
            value = f"coalesce({value}, 0D)"
        if m.type == "boolean":
            value = f"{value} != 0"
        columns.append(f"CAST({value} AS {m.type}) AS {quoted(m.name)}")
    joined = customers.join(pivoted, "customer", "left")
    return select_sql(joined, [*map(quoted, customers.columns), *columns])


def derived_sql(m: Metric) -> str:
    return f"CAST(({m.expression}) AS {m.type}) AS {quoted(m.name)}"


def with_derived(
    wide: DataFrame, catalog: Catalog, names: list[str], renamed: dict[str, str] | None = None
) -> DataFrame:
    """wide + the catalog's derived metrics, one projection per round of `derived_levels`; the
    last round's projection is the result's: the columns `names` in order (a derived metric's
    name is the metric), `renamed` old -> new."""
    levels = catalog.derived_levels() or [[]]
    for level in levels[:-1]:
        wide = select_sql(wide, ["*", *map(derived_sql, level)])
    last = {m.name: derived_sql(m) for m in levels[-1]}
    renamed = renamed or {}
    items = [
        last.get(n) or (f"{quoted(n)} AS {quoted(renamed[n])}" if n in renamed else quoted(n))
        for n in names
    ]
    return select_sql(wide, items)
