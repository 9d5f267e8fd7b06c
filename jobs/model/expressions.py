"""The feature catalog's SQL snippets (filters, values, dimension conditions, derived metrics),
parsed before Spark sees them: they are pasted into the model's SELECT, so one that held a
subquery could read any table Spark can (`(select max(email) from delta.`.../onprem/raw/...`)`)
into customer_360.

What passes: column and metric names (unqualified), literals, operators, CASE, CAST, lambdas, and
the functions of ALLOWED. Anything else (a subquery, a table, a qualified or starred column, any
other function such as reflect or input_file_name) is refused, naming the expression's part.
Which names exist, and the types, is Spark's analysis (jobs/model/validate.py).
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

# sqlglot's names (Spark's `to_date` is TS_OR_DS_TO_DATE, `dayofweek` DAY_OF_WEEK, `rlike`
# REGEXP_LIKE); AND, OR and CASE are functions to sqlglot too
ALLOWED = frozenset(
    """
    AND OR XOR CASE IF COALESCE NULLIF NVL NVL2 GREATEST LEAST CAST TRY_CAST
    ABS CEIL FLOOR ROUND SIGN SQRT LN LOG LOG2 LOG10 EXP POW MOD
    CONCAT CONCAT_WS LOWER UPPER LENGTH SUBSTRING TRIM LTRIM RTRIM STARTS_WITH ENDS_WITH
    REGEXP_LIKE REGEXP_EXTRACT LPAD RPAD
    DATEDIFF DATE_ADD DATE_SUB ADD_MONTHS MONTHS_BETWEEN DATE_TRUNC TS_OR_DS_TO_DATE
    YEAR QUARTER MONTH DAY DAY_OF_MONTH DAY_OF_WEEK DAY_OF_YEAR WEEK_OF_YEAR HOUR MINUTE
    LAST_DAY
    ARRAY_CONTAINS ARRAY_SIZE SIZE EXISTS FILTER TRANSFORM ARRAY_MAX ARRAY_MIN
    """.split()
)
# nodes that are never a column's value: a query, a table, a star, a command
FORBIDDEN = (exp.Query, exp.Subquery, exp.Table, exp.Star, exp.Command, exp.Placeholder)


class ExpressionRefused(ValueError):
    """A catalog expression with something other than names, literals and allowed functions."""


def check(expression: str) -> None:
    """Nothing if `expression` passes; else ExpressionRefused saying why."""
    try:
        parsed = sqlglot.parse_one(expression, read="spark")
    except ParseError as error:
        raise ExpressionRefused(f"not an expression ({error.errors[0]['description']})") from None
    for node in parsed.walk():
        if isinstance(node, FORBIDDEN):
            raise ExpressionRefused(f"{node.sql('spark')[:80]}: only names, literals and functions")
        if isinstance(node, exp.Column) and (node.table or node.args.get("db")):
            raise ExpressionRefused(f"{node.sql('spark')}: a column is named without a table")
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if name.upper() not in ALLOWED:
                raise ExpressionRefused(f"the function {name.lower()} is not allowed here")
