"""Trino DDL for the Delta Lake connector: one CREATE SCHEMA per zone and one CREATE TABLE per
table, pointing at the table's location (Trino reads the schema and data from the Delta log)."""

from __future__ import annotations

from pyspark.sql import types as T

from jobs.catalog.settings import CatalogSettings
from jobs.catalog.tables import LakeTable

_SIMPLE = {
    T.StringType: "varchar",
    T.LongType: "bigint",
    T.IntegerType: "integer",
    T.ShortType: "smallint",
    T.ByteType: "tinyint",
    T.DoubleType: "double",
    T.FloatType: "real",
    T.BooleanType: "boolean",
    T.BinaryType: "varbinary",
    T.DateType: "date",
    T.TimestampType: "timestamp(3) with time zone",
    T.TimestampNTZType: "timestamp(6)",
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def trino_type(data_type: T.DataType) -> str:
    """A Spark type as Trino's Delta Lake connector names it."""
    if isinstance(data_type, T.DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    if isinstance(data_type, T.ArrayType):
        return f"array({trino_type(data_type.elementType)})"
    if isinstance(data_type, T.MapType):
        return f"map({trino_type(data_type.keyType)}, {trino_type(data_type.valueType)})"
    if isinstance(data_type, T.StructType):
        fields = ", ".join(f"{_quote(f.name)} {trino_type(f.dataType)}" for f in data_type)
        return f"row({fields})"
    for kind, name in _SIMPLE.items():
        if isinstance(data_type, kind):
            return name
    raise ValueError(f"no Trino type for Spark type {data_type.simpleString()}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ddl(tables: list[LakeTable], settings: CatalogSettings) -> str:
    """The whole script: same tables, same text (no timestamps), so re-runs give the same file."""
    catalog = settings.trino.catalog
    lines = [
        "-- offerlake: the lake's stage and analytics Delta tables for Trino's Delta Lake",
        "-- connector (written by `offerlake run catalog`; run it with the Trino CLI).",
        "",
    ]
    for zone in sorted({t.zone for t in tables}):
        schema = settings.trino.schemas[zone]
        lines.append(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{schema};")
    for t in tables:
        name = f"{catalog}.{settings.trino.schemas[t.zone]}.{_quote(t.name)}"
        columns = ",\n".join(f"  {_quote(f.name)} {trino_type(f.dataType)}" for f in t.schema)
        props = [f"location = {_literal(t.location)}"]
        if t.partitions:
            parts = ", ".join(_literal(p) for p in t.partitions)
            props.append(f"partitioned_by = ARRAY[{parts}]")
        with_ = ", ".join(props)
        lines += ["", f"CREATE TABLE IF NOT EXISTS {name} (", columns, f") WITH ({with_});"]
    return "\n".join(lines) + "\n"
