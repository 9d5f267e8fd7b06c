"""Trino DDL for the Delta Lake connector: one CREATE SCHEMA per zone, then each table registered
at its location with the connector's `register_table` procedure (Trino reads the schema and data
from the Delta log).

Trino refuses `CREATE TABLE ... WITH (location = ...)` over an existing Delta table ("use the
system.register_table() procedure"), and `register_table` refuses a name already registered. So
each table is first dropped from the metastore (`DROP TABLE IF EXISTS`: a registered table is
external, so only its metastore entry goes; the Delta files stay, as the Trino test checks), then
registered again: the script runs as written on a new Trino and on every re-run, and a table whose
schema changed is seen with its new columns. The catalog must allow the procedure
(`delta.register-table-procedure.enabled=true`; README, "Trino").

A lake on a local disk is read through Trino's native local file system
(`fs.native-local.enabled=true`, `local.location=/`), whose locations are `local:///path`."""

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


def trino_location(location: str) -> str:
    """A catalog location as Trino's file systems name it (file:///x -> local:///x)."""
    if location.startswith("file://"):
        return "local://" + location.removeprefix("file://")
    return location


def ddl(tables: list[LakeTable], settings: CatalogSettings) -> str:
    """The whole script: same tables, same text (no timestamps), so re-runs give the same file."""
    catalog = settings.trino.catalog
    lines = [
        "-- offerlake: the lake's stage and analytics Delta tables for Trino's Delta Lake",
        "-- connector (written by `offerlake run catalog`). Run it as written, again after",
        "-- every run: trino --catalog delta --file trino.sql",
        "",
    ]
    for zone in sorted({t.zone for t in tables}):
        schema = settings.trino.schemas[zone]
        lines.append(f"CREATE SCHEMA IF NOT EXISTS {catalog}.{schema};")
    for t in tables:
        schema = settings.trino.schemas[t.zone]
        columns = ", ".join(f"{_quote(f.name)} {trino_type(f.dataType)}" for f in t.schema)
        parted = f"; partitioned by {', '.join(t.partitions)}" if t.partitions else ""
        lines += [
            "",
            f"-- {schema}.{t.name}: {columns}{parted}",
            f"DROP TABLE IF EXISTS {catalog}.{schema}.{_quote(t.name)};",
            f"CALL {catalog}.system.register_table(schema_name => {_literal(schema)}, "
            f"table_name => {_literal(t.name)}, "
            f"table_location => {_literal(trino_location(t.location))});",
        ]
    return "\n".join(lines) + "\n"
