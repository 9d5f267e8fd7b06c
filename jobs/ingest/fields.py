"""Raw text fields -> typed columns, and for each row the first rule it breaks (Spark only).

A reader hands over a struct column `_raw` of source values as text (arrays stay arrays) and
record-level problems in `_rule`/`_reason`. `apply_fields` adds one typed column per field,
the table's derived columns, and keeps in `_rule`/`_reason` the first problem of the row.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, StructType

from jobs.ingest.sources import DECIMAL, FieldSpec, TableSpec

TRUE = ("true", "1", "yes", "y", "t")
FALSE = ("false", "0", "no", "n", "f")


def raw_value(spec: FieldSpec) -> Column:
    column = F.col("_raw")
    for part in spec.source.split("."):
        column = column.getField(part)
    return column


def _blank_to_null(raw: Column) -> Column:
    return F.when(F.trim(raw) == "", F.lit(None)).otherwise(raw)


def typed_value(raw: Column, spec: FieldSpec, raw_is_array: bool = False) -> Column:
    """The field's typed value; null when the text does not parse as its type."""
    if spec.type == "array":
        return raw if raw_is_array else F.split(_blank_to_null(raw), r"\s*,\s*")
    text = F.trim(_blank_to_null(raw))
    kind = spec.type
    if kind == "string":
        return _blank_to_null(raw)
    if kind in ("int", "long"):  # a cast alone would truncate "1.5" to 1
        return F.when(~text.contains("."), text.cast(kind))
    if kind == "double" or DECIMAL.fullmatch(kind):
        return text.cast(kind)
    if kind == "money":  # "$1,234.50", "$-12.30", "-12.3"
        return F.regexp_replace(text, r"[$,\s]", "").cast("decimal(14,2)")
    if kind == "boolean":
        low = F.lower(text)
        return F.when(low.isin(*TRUE), True).when(low.isin(*FALSE), False)
    if kind == "yes_no":
        low = F.lower(text)
        return F.when(low == "yes", True).when(low == "no", False)
    if kind == "date":
        return F.to_date(text, spec.format) if spec.format else F.to_date(text)
    if kind == "timestamp":
        return F.to_timestamp(text, spec.format) if spec.format else F.to_timestamp(text)
    raise ValueError(f"no conversion for type {kind}")  # sources.py validated the types


def _problems(raw: Column, value: Column, spec: FieldSpec) -> list[tuple[Column, str, Column]]:
    """(condition, rule, reason) for each way this field can make a row bad, in order."""
    name = F.lit(f"{spec.name}")
    shown = F.coalesce(raw.cast("string"), F.lit(""))
    missing = raw.isNull() | (F.trim(raw.cast("string")) == "")
    found = []
    if spec.required:
        found.append((missing, "missing_required_field", F.concat(name, F.lit(" is missing"))))
    bad_rule = "unparseable_date" if spec.type in ("date", "timestamp") else "wrong_type"
    want = f" is not a valid {spec.type}" + (f" ({spec.format})" if spec.format else "")
    found.append(
        (~missing & value.isNull(), bad_rule, F.concat(name, F.lit(" '"), shown, F.lit("'" + want)))
    )
    if spec.min is not None or spec.max is not None:
        low = value < F.lit(spec.min) if spec.min is not None else F.lit(False)
        high = value > F.lit(spec.max) if spec.max is not None else F.lit(False)
        bounds = f" is outside [{spec.min}, {spec.max}]"
        found.append((low | high, "out_of_range", F.concat(name, F.lit(" "), shown, F.lit(bounds))))
    if spec.values:
        found.append(
            (
                value.isNotNull() & ~value.isin(*spec.values),
                "not_allowed_value",
                F.concat(name, F.lit(" '"), shown, F.lit(f"' is not one of {list(spec.values)}")),
            )
        )
    if spec.pattern:
        found.append(
            (
                value.isNotNull() & ~value.rlike(spec.pattern),
                "pattern_mismatch",
                F.concat(name, F.lit(" '"), shown, F.lit(f"' does not match {spec.pattern}")),
            )
        )
    return found


def problem_index(checks: list[tuple[Column, str, Column]], start: int) -> Column:
    """Number (from `start`) of the first check that holds; null when none does."""
    index = F.lit(None).cast("int")
    for offset, (condition, _, _) in reversed(list(enumerate(checks))):
        index = F.when(condition, F.lit(start + offset)).otherwise(index)
    return index


def _type_at(schema: DataType, path: str) -> DataType | None:
    for part in path.split("."):
        if not isinstance(schema, StructType) or part not in schema.fieldNames():
            return None
        schema = schema[part].dataType
    return schema


def parsed_once(df: DataFrame) -> DataFrame:
    """Make Spark compute the reader's columns once per row, below any later filter.

    Without this, a filter on `_rule` is pushed through the projections and inlines the
    parse (from_csv/from_json) into every reference of every field: measured 65 s instead of
    4 s for 30,000 card rows. A generator (explode of a one-element array) is a plan node the
    optimizer does not push filters through or merge away.
    """
    return df.select(F.explode(F.array(F.struct("*"))).alias("_row")).select("_row.*")


def apply_fields(df: DataFrame, table: TableSpec) -> DataFrame:
    """Add typed and derived columns; `_rule`/`_reason` keep the row's first problem.

    The typed values are computed once (a barrier) before the checks read them. Each field's
    checks become one small column holding the number of its first failing check, so that a
    good row costs one pass over the conditions and no string building, and no generated
    method grows past the JVM's 64 KB limit however many fields a table has. The rule and
    reason are looked up from that number only for rows that have one.
    """
    df = parsed_once(df)
    raw_schema = df.schema["_raw"].dataType
    groups: list[list[tuple[Column, str, Column]]] = []
    typed = []
    markers = [str(m) for m in table.options.get("null_values", ())]  # e.g. "not available"
    for spec in table.fields:
        raw = raw_value(spec)
        is_array = isinstance(_type_at(raw_schema, spec.source), ArrayType)
        if markers and not is_array:
            raw = F.when(raw.isin(*markers), F.lit(None)).otherwise(raw)
        typed.append(typed_value(raw, spec, is_array).alias(spec.name))
        if not is_array:
            groups.append(_problems(raw, F.col(spec.name), spec))
    out = df.select("*", *typed)
    for name, expression in table.derive.items():
        out = out.withColumn(name, F.expr(expression))
        if name in table.derive_required:
            why = F.lit(f"{name} cannot be computed ({expression}) from this row")
            groups.append([(F.col(name).isNull(), "underivable_field", why)])
    out = parsed_once(out)
    checks = [check for group in groups for check in group]
    indexes, start = [], 0
    for group in groups:
        indexes.append(problem_index(group, start))
        start += len(group)
    if not checks:
        return out
    problem = F.coalesce(*indexes, F.lit(None).cast("int"))
    rules = F.array(*[F.lit(name) for _, name, _ in checks])
    reason = F.lit(None).cast("string")
    for number, (_, _, why) in reversed(list(enumerate(checks))):
        reason = F.when(F.col("_problem") == number, why).otherwise(reason)
    return (
        out.withColumn("_problem", problem)
        .withColumn("_reason", F.coalesce(F.col("_reason"), reason))
        .withColumn("_rule", F.coalesce(F.col("_rule"), F.element_at(rules, F.col("_problem") + 1)))
        .drop("_problem")
    )
