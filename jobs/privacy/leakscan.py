"""`offerlake leakscan`: look for personal data in every lake table (stage, analytics, handoff).

Two tests per value, both in Spark over whole tables (joined, never sampled):
- equality with a raw PII value: the clear text values of every raw column the policy does
  not keep (tokenized, encrypted, masked or dropped), when at least `MIN_LENGTH` characters
  long (shorter values such as "12" are everywhere and prove nothing), plus CRM first and last
  names of any length, compared case-insensitively;
- detectors, on text values: e-mail address, phone number (9-15 digits), card number passing
  the Luhn check, IBAN passing its mod-97 check.
It runs on-prem (it reads raw) and reports counts per lake table and column, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, MapType, StringType, StructType

from jobs.privacy.gate import raw_tables
from jobs.privacy.policy import PrivacyPolicy
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Zone

MIN_LENGTH = 6
NAME_COLUMNS = (("crm_clients", "first_name"), ("crm_clients", "last_name"))
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
PHONE = r"^\+?[0-9][0-9 ().-]{7,18}[0-9]$"
CARD = r"^[0-9]{13,19}$"
IBAN = r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"


@dataclass(frozen=True)
class Hit:
    table: str  # lake table, e.g. stage/crm_clients
    column: str
    found: str  # "raw crm_clients.email" or "detector: e-mail"
    values: int  # distinct offending values


def luhn_ok(digits: Column) -> Column:
    """Luhn check of a string of digits, with Spark's higher-order functions."""
    reversed_digits = F.transform(F.split(F.reverse(digits), ""), lambda d: d.cast("int"))
    doubled = F.transform(
        reversed_digits,
        lambda d, i: F.when(i % 2 == 1, F.when(d * 2 > 9, d * 2 - 9).otherwise(d * 2)).otherwise(d),
    )
    return F.aggregate(doubled, F.lit(0), lambda acc, d: acc + d) % 10 == 0


def iban_ok(text: Column) -> Column:
    """ISO 13616 mod-97 check: move the first four characters to the end, letters to 10..35."""
    moved = F.concat(F.substring(text, 5, 64), F.substring(text, 1, 4))
    chars = F.split(moved, "")

    def step(acc: Column, c: Column) -> Column:
        letter = F.ascii(c) >= 65
        value = F.when(letter, F.ascii(c) - 55).otherwise(F.ascii(c) - 48)
        return F.when(letter, (acc * 100 + value) % 97).otherwise((acc * 10 + value) % 97)

    return F.aggregate(chars, F.lit(0).cast("long"), step) == 1


def detector(value: Column) -> Column:
    """Name of the first detector the value matches, or null."""
    compact = F.regexp_replace(value, r"[ -]", "")
    digits = F.regexp_replace(value, r"[^0-9]", "")
    return (
        F.when(value.rlike(EMAIL), F.lit("e-mail"))
        .when(compact.rlike(CARD) & luhn_ok(compact), F.lit("card number (Luhn)"))
        .when(compact.rlike(IBAN) & iban_ok(compact), F.lit("IBAN"))
        .when(value.rlike(PHONE) & F.length(digits).between(9, 15), F.lit("phone number"))
    )


def pii_values(policy: PrivacyPolicy, raws: dict[str, DataFrame]) -> DataFrame:
    """(value, source) for the clear PII values of raw: what must never be seen in the lake."""
    frames = []
    for name, df in raws.items():
        for column in df.columns:
            verbs = {a.verb for a in policy.actions(name, column)}
            if "keep" in verbs or "generalize" in verbs or column.startswith("_"):
                continue
            if not isinstance(df.schema[column].dataType, StringType):
                continue  # numeric ids equal too many innocent numbers; tokens guard them
            frames.append(
                df.select(
                    F.lower(F.trim(F.col(column))).alias("value"),
                    F.lit(f"raw {name}.{column}").alias("source"),
                ).where(F.length("value") >= MIN_LENGTH)
            )
    for name, column in NAME_COLUMNS:
        if name in raws and column in raws[name].columns:
            frames.append(
                raws[name]
                .select(
                    F.lower(F.trim(F.col(column))).alias("value"),
                    F.lit(f"raw {name}.{column}").alias("source"),
                )
                .where(F.length("value") >= 2)
            )
    if not frames:
        return raws[next(iter(raws))].sparkSession.createDataFrame(
            [], "value string, source string"
        )
    return reduce(DataFrame.unionByName, frames).distinct()


def _values(df: DataFrame) -> DataFrame:
    """(column, value, text) per distinct value of each column; array elements one by one.

    `text` marks values that were strings: detectors look at those only (a 10-digit epoch
    second in a number column is not a phone number).
    """
    parts = []
    for field in df.schema.fields:
        kind = field.dataType
        if isinstance(kind, ArrayType) and not isinstance(
            kind.elementType, ArrayType | MapType | StructType
        ):
            value = F.explode_outer(F.col(field.name)).cast("string")
            text = isinstance(kind.elementType, StringType)
        elif isinstance(kind, ArrayType | MapType | StructType):
            value, text = F.to_json(F.col(field.name)), False
        else:
            value, text = F.col(field.name).cast("string"), isinstance(kind, StringType)
        parts.append(
            df.select(
                F.lit(field.name).alias("column"), value.alias("value"), F.lit(text).alias("text")
            )
        )
    values = reduce(DataFrame.unionByName, parts)
    return values.where(F.col("value").isNotNull()).distinct()


def lake_tables(ctx: RunContext) -> dict[str, DataFrame]:
    tables = {}
    for zone in (Zone.STAGE, Zone.ANALYTICS):
        root = ctx.zone_path(zone)
        for name in delta_io.list_tables(ctx.spark, root):
            tables[f"{zone.value}/{name}"] = ctx.read(f"{zone.value}/{name}")
    handoff = ctx.zone_path(Zone.HANDOFF)
    for run in delta_io.list_folders(ctx.spark, handoff):
        tables[f"handoff/{run}"] = ctx.spark.read.parquet(f"{handoff}/{run}")
    return tables


def scan(ctx: RunContext, policy: PrivacyPolicy) -> tuple[list[Hit], int]:
    """Hits, and how many lake tables were scanned."""
    known = pii_values(policy, raw_tables(ctx)).persist()
    pii = F.broadcast(known)
    hits = []
    tables = lake_tables(ctx)
    for table, df in sorted(tables.items()):
        values = _values(df).persist()
        equal = (
            values.join(pii, F.lower(F.trim(values["value"])) == pii["value"])
            .groupBy("column", "source")
            .agg(F.count(F.lit(1)).alias("n"))
        )
        detected = (
            values.where("text")
            .select("column", detector(F.col("value")).alias("source"))
            .where(F.col("source").isNotNull())
            .groupBy("column", "source")
            .agg(F.count(F.lit(1)).alias("n"))
            .withColumn("source", F.concat(F.lit("detector: "), "source"))
        )
        for row in equal.unionByName(detected).collect():
            hits.append(Hit(table, row["column"], row["source"], int(row["n"])))
        values.unpersist()
    known.unpersist()
    return sorted(hits, key=lambda h: (h.table, h.column, h.found)), len(tables)
