"""Checked expressions -> Spark columns, and back to text for `reason` and `dsl explain`.

A rule on a missing value is not met: conditions are wrapped in coalesce(..., false) by the
matcher, so a customer with no card history is not "spend > 0", and neither "not spend > 0".
Names resolve through `names` (language name -> frame column), e.g. segment -> rule_segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from pyspark.sql import Column
from pyspark.sql import functions as F

from dsl.ast import Binary, Expr, Literal, Member, Missing, Name, Unary

_COMPARE = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
}
PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "-u": 7}


def _literal(lit: Literal) -> Column:
    if isinstance(lit.value, bool | date | str):
        return F.lit(lit.value)
    return F.lit(float(lit.value))


def column(expr: Expr, names: Mapping[str, str] | None = None) -> Column:
    """The Spark column computing expr over a frame holding the named columns."""
    names = names or {}
    if isinstance(expr, Literal):
        return _literal(expr)
    if isinstance(expr, Name):
        return F.col(names.get(expr.name, expr.name))
    if isinstance(expr, Unary):
        inner = column(expr.operand, names)
        return ~inner if expr.op == "not" else -inner
    if isinstance(expr, Member):
        test = column(expr.operand, names).isin(*[_literal(v) for v in expr.values])
        return ~test if expr.negated else test
    if isinstance(expr, Missing):
        inner = column(expr.operand, names)
        return inner.isNotNull() if expr.negated else inner.isNull()
    return _COMPARE[expr.op](column(expr.left, names), column(expr.right, names))


def names_in(expr: Expr | None) -> set[str]:
    """Every metric, attribute or segment name the expression reads."""
    if expr is None or isinstance(expr, Literal):
        return set()
    if isinstance(expr, Name):
        return {expr.name}
    if isinstance(expr, Binary):
        return names_in(expr.left) | names_in(expr.right)
    return names_in(expr.operand)


def conjuncts(expr: Expr | None) -> list[Expr]:
    """`a and b and c` -> [a, b, c]: the rules `dsl explain` shows one by one."""
    if expr is None:
        return []
    if isinstance(expr, Binary) and expr.op == "and":
        return conjuncts(expr.left) + conjuncts(expr.right)
    return [expr]


def _level(expr: Expr) -> int:
    if isinstance(expr, Binary):
        return PRECEDENCE.get(expr.op, PRECEDENCE["cmp"])
    if isinstance(expr, Unary):
        return PRECEDENCE["not"] if expr.op == "not" else PRECEDENCE["-u"]
    if isinstance(expr, Member | Missing):
        return PRECEDENCE["cmp"]
    return 9


def render(expr: Expr) -> str:
    """The expression as the language writes it (minimal parentheses)."""

    def wrap(child: Expr, level: int) -> str:
        text = render(child)
        return f"({text})" if _level(child) < level else text

    if isinstance(expr, Literal):
        return expr.text or str(expr.value).lower()
    if isinstance(expr, Name):
        return expr.name
    if isinstance(expr, Unary):
        operand = wrap(expr.operand, _level(expr))
        return f"not {operand}" if expr.op == "not" else f"-{operand}"
    if isinstance(expr, Member):
        values = ", ".join(render(v) for v in expr.values)
        return f"{wrap(expr.operand, 5)} {'not in' if expr.negated else 'in'} ({values})"
    if isinstance(expr, Missing):
        return f"{wrap(expr.operand, 5)} is {'present' if expr.negated else 'missing'}"
    level = _level(expr)
    right_level = level + 1 if expr.op in "-/" or level == PRECEDENCE["cmp"] else level
    return f"{wrap(expr.left, level)} {expr.op} {wrap(expr.right, right_level)}"
