"""Check the catalog against the real stage schemas before any metric is computed.

Every filter, value, dimension condition and derived expression is analysed by Spark on an
empty frame of the source's schema: an unknown column, a typo in a function or a filter that
is not boolean becomes a CatalogError naming the YAML file and the metric.
"""

from __future__ import annotations

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StructType

from jobs.model.catalog import Catalog, CatalogError, Family
from jobs.model.compile import quoted, select_sql, with_derived


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0]
    return text.split("SQLSTATE")[0].strip().rstrip(".;")


def _check(df: DataFrame, where: str, what: str, expression: str, boolean: bool = False) -> None:
    try:
        field = df.select(F.expr(expression).alias("x")).schema["x"]
    except (AnalysisException, ParseException) as e:
        raise CatalogError(f"{where}: {what} `{expression}`: {_reason(e)}") from None
    if boolean and not isinstance(field.dataType, BooleanType):
        raise CatalogError(
            f"{where}: {what} `{expression}` is {field.dataType.simpleString()}, not a boolean"
        )


def _expressions(family: Family) -> list[tuple[str, str, bool]]:
    """(what, expression, must be boolean) of every expression a family holds."""
    out = [("filter", family.filter, True)]
    if family.value:
        out.append(("value", family.value, False))
    out += [(f"{family.by} {label}", condition, True) for label, condition in family.labels]
    return out


def _source(spark: SparkSession, families: list[Family], schema: StructType) -> None:
    """All of a source's expressions in one analysis; one by one only to name a culprit."""
    df = spark.createDataFrame([], schema)
    checks = [(f, *e) for f in families for e in _expressions(f)]
    try:
        fields = df.select(
            *[F.expr(expr).alias(f"_{i}") for i, (_, _, expr, _) in enumerate(checks)]
        ).schema.fields
    except (AnalysisException, ParseException):
        fields = None
    for i, (family, what, expression, boolean) in enumerate(checks):
        if fields is None or boolean and not isinstance(fields[i].dataType, BooleanType):
            _check(df, f"{family.file}: metric {family.name}", what, expression, boolean)


def validate(
    spark: SparkSession, catalog: Catalog, schemas: dict[str, StructType], base: StructType
) -> None:
    """`schemas`: stage table -> schema; `base`: the customers frame derived metrics see."""
    attributes = set(base.fieldNames())
    for m in catalog.metrics + catalog.derived:
        if m.name in attributes or m.name == "as_of":
            raise CatalogError(
                f"{m.file}: metric {m.name}: a customer attribute (stage/crm_clients) or as_of "
                "already has this name; choose another"
            )
    for family in catalog.families:
        if family.source not in schemas:
            raise CatalogError(
                f"{family.file}: metric {family.name}: stage table {family.source} does not exist"
            )
    for table, schema in schemas.items():
        source = catalog.sources[table]
        for column in filter(None, (source.customer, source.time, source.ally)):
            if column not in schema.fieldNames():
                raise CatalogError(
                    f"sources: {table} has no column {column} (customer, time or ally)"
                )
        _source(spark, catalog.of_source(table), schema)
    for m in catalog.derived:  # one expression each: they are spliced into SQL text
        try:
            F.expr(m.expression)
        except ParseException as e:
            raise CatalogError(
                f"{m.file}: derived metric {m.name}: expression `{m.expression}`: {_reason(e)}"
            ) from None
    nulls = [f"CAST(NULL AS {m.type}) AS {quoted(m.name)}" for m in catalog.metrics]
    df = select_sql(spark.createDataFrame([], base), ["*", "current_date() AS as_of", *nulls])
    try:  # all at once; one by one only to name a culprit
        with_derived(df, catalog, df.columns + [m.name for m in catalog.derived])
        return
    except (AnalysisException, ParseException):
        pass
    for m in catalog.derived:  # a derived metric may use the ones defined before it
        _check(df, f"{m.file}: derived metric {m.name}", "expression", m.expression)
        df = df.select("*", F.expr(m.expression).cast(m.type).alias(m.name))
