"""The peer of bench/model: the same feature catalog as one DuckDB SQL query over stage.

Each source becomes one GROUP BY customer with an aggregate per metric, `agg(...) FILTER
(WHERE filter AND label AND window)`; `months_where` metrics first sum by customer and month.
The catalog's Spark SQL expressions are translated by sqlglot; Spark's dayofweek (1 = Sunday)
is DuckDB's dayofweek + 1. Stage Delta tables are read as their active Parquet files (the
files Spark's Delta reader lists), so both engines see the same rows.
"""

from __future__ import annotations

from datetime import date

import sqlglot

from jobs.model.catalog import Catalog, Family, Metric
from jobs.model.compile import ZERO_WHEN_EMPTY
from jobs.model.windows import Window

KEY_MAPS = {
    "account": "SELECT account_id AS key, client_id AS customer FROM dispositions "
    "WHERE type = 'OWNER'",
    "card_user": "SELECT DISTINCT p.user AS key, d.client_id AS customer FROM payment_cards p "
    "JOIN cards c ON p.card_number = c.card_number JOIN dispositions d ON c.disp_id = d.disp_id",
    "visitor": "SELECT DISTINCT full_visitor_id AS key, client_id AS customer FROM web_visitors "
    "WHERE client_id IS NOT NULL",
}


def duck(expression: str) -> str:
    text = sqlglot.transpile(expression, read="spark", write="duckdb")[0]
    return text.replace("DAYOFWEEK(", "SPARK_DAYOFWEEK(")


def window_sql(w: Window, as_of: date) -> str:
    end = f"DATE '{as_of.isoformat()}'"
    month = f"DATE_TRUNC('month', {end})"
    if w.kind == "days":
        sql = f"_day > {end} - INTERVAL {w.n} DAY AND _day <= {end}"
    elif w.kind == "months":
        sql = f"_day >= {month} - INTERVAL {w.n} MONTH AND _day < {month}"
    elif w.kind == "this_month":
        sql = f"_day >= {month} AND _day <= {end}"
    else:
        sql = f"_day <= {end}"
    if w.first_days is not None:
        sql += f" AND DAY(_day) <= {w.first_days}"
    return f"({sql})"


def _label(f: Family) -> str:
    cases = " ".join(f"WHEN {duck(c)} THEN '{label}'" for label, c in f.labels)
    return f"CASE {cases} END" if f.by else "''"


def _condition(m: Metric, as_of: date, with_label: bool = True) -> str:
    f = m.family
    parts = [f"({duck(f.filter)})", window_sql(m.window, as_of)]
    parts.append(
        f"_l{f.index} = '{m.label}'" if with_label and f.by else f"_l{f.index} IS NOT NULL"
    )
    return " AND ".join(parts)


def _aggregate(m: Metric, as_of: date) -> str:
    v = f"CAST({duck(m.family.value)} AS DOUBLE)" if m.family.value else "NULL"
    where = f"FILTER (WHERE {_condition(m, as_of)})"
    if m.agg == "share":
        total = f"SUM({v}) FILTER (WHERE {_condition(m, as_of, with_label=False)})"
        return f"SUM({v}) {where} / NULLIF({total}, 0)"
    if m.agg == "count_distinct":
        return f"COUNT(DISTINCT {duck(m.family.value)}) {where}"
    if m.agg == "mode":  # the most frequent value, ties to the greater: sort [count, value] pairs
        pairs = f"LIST_TRANSFORM(MAP_ENTRIES(HISTOGRAM({v}) {where}), lambda e: [e.value, e.key])"
        return f"LIST_SORT({pairs}, 'DESC')[1][2]"
    function = {"count": "COUNT", "stddev": "STDDEV_SAMP"}.get(m.agg, m.agg.upper())
    return f"{function}({'*' if m.agg == 'count' else v}) {where}"


def source_sql(catalog: Catalog, table: str, metrics: list[Metric], as_of: date) -> str:
    source = catalog.sources[table]
    families = catalog.of_source(table)
    day = f"CAST({source.time} AS DATE)" if source.time else f"DATE '{as_of.isoformat()}'"
    labels = ", ".join(f"{_label(f)} AS _l{f.index}" for f in families)
    if source.via == "client":
        rows = f"SELECT t.*, t.{source.customer} AS customer FROM {table} t"
    else:
        rows = (
            f"SELECT t.*, k.customer FROM {table} t "
            f"JOIN ({KEY_MAPS[source.via]}) k ON t.{source.customer} = k.key"
        )
    if source.ally:
        merchants = "SELECT merchant_name, min(ally_id) AS ally_id FROM allies GROUP BY 1"
        rows = (
            f"SELECT r.*, a.ally_id FROM ({rows}) r LEFT JOIN ({merchants}) a "
            f"ON CAST(r.{source.ally} AS VARCHAR) = a.merchant_name"
        )
    events = f"SELECT *, {labels} FROM (SELECT *, {day} AS _day FROM ({rows}))"
    plain = [m for m in metrics if m.agg != "months_where"]
    monthly = [m for m in metrics if m.agg == "months_where"]
    selects = [f"{_aggregate(m, as_of)} AS {m.name}" for m in plain]
    sql = f"SELECT customer, {', '.join(selects)} FROM ({events}) GROUP BY customer"
    if not monthly:
        return sql
    sums = ", ".join(
        f"SUM(CAST({duck(m.family.value)} AS DOUBLE)) FILTER (WHERE {_condition(m, as_of)}) "
        f"AS {m.name}"
        for m in monthly
    )
    counts = ", ".join(
        f"COUNT(*) FILTER (WHERE {m.name} >= {float(m.family.threshold)}) AS {m.name}"
        for m in monthly
    )
    per_month = (
        f"SELECT customer, {sums} FROM ({events}) GROUP BY customer, DATE_TRUNC('month', _day)"
    )
    months = f"SELECT customer, {counts} FROM ({per_month}) GROUP BY customer"
    if not plain:
        return months
    return (
        f"SELECT a.*, {', '.join('b.' + m.name for m in monthly)} FROM ({sql}) a "
        f"FULL JOIN ({months}) b USING (customer)"
    )


def customer_360_sql(catalog: Catalog, attributes: list[str], as_of: date) -> str:
    """The whole customer_360 for as_of: CRM attributes, every metric, derived metrics."""
    used = sorted({f.source for f in catalog.families})
    joins, columns = [], []
    for i, table in enumerate(used):
        metrics = [m for m in catalog.metrics if m.family.source == table]
        joins.append(f"LEFT JOIN ({source_sql(catalog, table, metrics, as_of)}) s{i} "
                     f"ON s{i}.customer = c.client_id")  # fmt: skip
        for m in metrics:
            value = f"s{i}.{m.name}"
            if m.agg in ZERO_WHEN_EMPTY:
                value = f"COALESCE({value}, 0)"
            columns.append(f"CAST({value} AS {'BIGINT' if m.type == 'long' else 'DOUBLE'}) "
                           f"AS {m.name}")  # fmt: skip
    base = (
        f"SELECT c.client_id, DATE '{as_of.isoformat()}' AS as_of, "
        + ", ".join(f"c.{a}" for a in attributes)
        + ", "
        + ", ".join(columns)
        + " FROM crm_clients c "
        + " ".join(joins)
    )
    types = {"long": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "string": "VARCHAR"}
    derived = ", ".join(
        f"CAST({duck(m.expression)} AS {types[m.type]}) AS {m.name}" for m in catalog.derived
    )
    return f"SELECT *, {derived} FROM ({base})"
