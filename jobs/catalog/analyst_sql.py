"""The SQL an analyst gives `offerlake query`, checked before an engine sees it: one read-only
query over the lake's views (`analytics_kpis`, `stage_allies`, ...) and the query's own CTEs.

Refused, with the reason: text sqlglot cannot parse in the engine's dialect; more than one
statement; anything but a query (DML, DDL, COPY, ATTACH, SET, PRAGMA, INSTALL, CALL...); a table
that is not one of the views (another schema, a path such as delta.`/lake/onprem/raw/x`, a
quoted file name); a table function (read_blob, delta_scan, read_csv, range...); and the
functions that reach past SQL (Spark's reflect and java_method). The engines are shut as well
(jobs/catalog/duckdb_lake.py, jobs/catalog/queries.py): this check is the first of two walls.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from jobs.errors import OfferlakeError

# functions that call into the JVM (any static method: System.getenv, Files...)
REACHING_FUNCTIONS = frozenset({"reflect", "java_method", "try_reflect"})


class QueryRefused(OfferlakeError):
    """An analyst's SQL that is not one read-only query over the lake's views."""


def checked(sql: str, views: set[str], dialect: str) -> str:
    """`sql` itself if it is one query reading only `views` (and its CTEs); else QueryRefused."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as error:
        why = error.errors[0]["description"]
        raise QueryRefused(f"query: not SQL that {dialect} reads ({why})") from None
    if len(statements) != 1:
        raise QueryRefused(f"query: one statement only, not {len(statements)}")
    (query,) = statements
    if not isinstance(query, exp.Query):
        raise QueryRefused(f"query: only a query (SELECT) may run, not {query.key.upper()}")
    ctes = {cte.alias_or_name.lower() for cte in query.find_all(exp.CTE)}
    allowed = {v.lower() for v in views} | ctes
    for table in query.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            raise QueryRefused(f"query: table functions are refused ({table.this.sql(dialect)})")
        if table.args.get("db") or table.args.get("catalog") or table.name.lower() not in allowed:
            raise QueryRefused(
                f"query: {table.sql(dialect)} is not one of the lake's {len(views)} views "
                f"({', '.join(sorted(views)[:4])}, ...)"
            )
    for call in query.find_all(exp.Func):
        name = call.sql_name().lower() if not isinstance(call, exp.Anonymous) else call.name
        if name.lower() in REACHING_FUNCTIONS:
            raise QueryRefused(f"query: the function {name} is refused")
    return sql
