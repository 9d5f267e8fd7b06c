"""`offerlake leakscan`: look for personal data in every lake table (stage, analytics, handoff).

Two tests per value, both in Spark over whole tables (joined, never sampled):
- equality with a raw PII value: the clear text values of every raw column the policy
  tokenizes, encrypts or masks, or drops and lists as identifying (an SSN, not a card's expiry
  month, which equals many innocent dates), when at least `MIN_LENGTH` characters
  long (shorter values such as "12" are everywhere and prove nothing). Name columns
  (`leakscan.names`) match at any length but count only when at least 5% of a lake column's
  values are names: "Madison" the city is not a leak, a column of first names is;
- detectors, on text values: e-mail address, phone number (10-15 digits, or 3-3-3 digit
  groups), card number of a
  known issuer prefix and length passing the Luhn check, IBAN passing its mod-97 check.
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
from jobs.runtime.spark import wide_rows
from jobs.runtime.zones import Zone

MIN_LENGTH = 6
NAME_SHARE = 0.05  # a name column is reported when this share of a column's values are names
EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
PHONE = r"^\+?[0-9][0-9 ().-]{7,18}[0-9]$"
# issuer prefixes and lengths in use (Visa, Mastercard, Amex, Discover, JCB, Diners): a random
# 19-digit id (TabFormer's merchant names) passes Luhn one time in ten, a brand rarely
CARD = (
    r"^(4[0-9]{12}([0-9]{3})?|5[1-5][0-9]{14}|2[2-7][0-9]{14}|3[47][0-9]{13}"
    r"|6(011|5[0-9]{2})[0-9]{12}|35[0-9]{14}|3(0[0-5]|[68][0-9])[0-9]{11})$"
)
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
    compact = F.regexp_replace(value, r"(?<=[0-9A-Z])[ -](?=[0-9A-Z])", "")  # not a sign
    digits = F.regexp_replace(value, r"[^0-9]", "")
    return (
        F.when(value.rlike(EMAIL), F.lit("e-mail"))
        .when(compact.rlike(CARD) & luhn_ok(compact), F.lit("card number (Luhn)"))
        .when(compact.rlike(IBAN) & iban_ok(compact), F.lit("IBAN"))
        .when(
            value.rlike(PHONE)
            & ~value.rlike(r"[0-9]{6,}[ ().-]+[0-9]")  # "1000000-1250000" is a range
            & (
                F.length(digits).between(10, 15)
                | value.rlike(r"^[0-9]{3}[ -][0-9]{3}[ -][0-9]{3}$")
            ),
            F.lit("phone number"),
        )
    )


def pii_values(policy: PrivacyPolicy, raws: dict[str, DataFrame], spark) -> DataFrame:
    """(value, source) for the clear PII values of raw: what must never be seen in the lake."""
    frames = []
    for name, df in raws.items():
        for column in df.columns:
            verbs = {a.verb for a in policy.actions(name, column)}
            identifying = verbs & {"tokenize", "encrypt", "mask"} or (
                "drop" in verbs and f"{name}.{column}" in policy.identifying_drops
            )
            if not identifying or column.startswith("_"):
                continue
            is_name = f"{name}.{column}" in policy.name_columns
            if not isinstance(df.schema[column].dataType, StringType):
                continue  # numeric ids equal too many innocent numbers; tokens guard them
            frames.append(
                df.select(
                    F.lower(F.trim(F.col(column))).alias("value"),
                    F.lit(f"raw {name}.{column}").alias("source"),
                    F.lit(is_name).alias("is_name"),
                ).where(F.length("value") >= (2 if is_name else MIN_LENGTH))
            )
    if not frames:
        return spark.createDataFrame([], "value string, source string, is_name boolean")
    return reduce(DataFrame.unionByName, frames).distinct()


def _entry_of(name: str, text: bool):
    """(element) -> (column, value, text) entry, for F.transform over an array column."""

    def entry(e: Column) -> Column:
        return F.struct(
            F.lit(name).alias("column"), e.cast("string").alias("value"), F.lit(text).alias("text")
        )

    return entry


def _values(df: DataFrame) -> DataFrame:
    """(column, value, text) per distinct value of each column; array elements one by one.

    `text` marks values that were strings: detectors look at those only (a 10-digit epoch
    second in a number column is not a phone number). Every row becomes one array of
    (column, value, text) entries, exploded: one projection however wide the table (a union of
    one select per column takes Catalyst minutes on customer_360's thousand columns).
    """
    entry = "struct<column:string,value:string,text:boolean>"
    scalars, arrays = [], []
    for field in df.schema.fields:
        kind, name = field.dataType, field.name
        if isinstance(kind, ArrayType) and not isinstance(
            kind.elementType, ArrayType | MapType | StructType
        ):
            text = isinstance(kind.elementType, StringType)
            elements = F.transform(F.col(name), _entry_of(name, text))
            arrays.append(F.coalesce(elements, F.array().cast(f"array<{entry}>")))
            continue
        if isinstance(kind, ArrayType | MapType | StructType):
            value, text = F.to_json(F.col(name)), False
        else:
            value, text = F.col(name).cast("string"), isinstance(kind, StringType)
        scalars.append(
            F.struct(F.lit(name).alias("column"), value.alias("value"), F.lit(text).alias("text"))
        )
    entries = F.concat(F.array(*scalars).cast(f"array<{entry}>"), *arrays)
    values = df.select(F.explode(entries).alias("e")).select("e.*")
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


def _table_hits(table: str, df: DataFrame, pii: DataFrame) -> list[Hit]:
    values = _values(df).persist()
    distinct = values.groupBy("column").agg(F.count(F.lit(1)).alias("of"))
    equal = (
        values.join(pii, F.lower(F.trim(values["value"])) == pii["value"])
        .groupBy("column", "source", "is_name")
        .agg(F.count(F.lit(1)).alias("n"))
        .join(distinct, "column")
        # a name equal to a city or a street is chance; a column of names is a leak
        .where(~F.col("is_name") | (F.col("n") >= F.greatest(F.lit(2), F.col("of") * NAME_SHARE)))
        .select("column", "source", "n")
    )
    detected = (
        values.where("text")
        .select("column", detector(F.col("value")).alias("source"))
        .where(F.col("source").isNotNull())
        .groupBy("column", "source")
        .agg(F.count(F.lit(1)).alias("n"))
        .withColumn("source", F.concat(F.lit("detector: "), "source"))
    )
    rows = equal.unionByName(detected).collect()
    values.unpersist()
    return [Hit(table, r["column"], r["source"], int(r["n"])) for r in rows]


def scan(ctx: RunContext, policy: PrivacyPolicy) -> tuple[list[Hit], int]:
    """Hits, and how many lake tables were scanned.

    Whole-stage code generation is off for the whole scan: a row of customer_360 becomes 1,000+
    entries, and cached frames must be planned and reused under the same setting (Spark's
    in-memory scan is columnar only with whole-stage codegen on)."""
    with wide_rows(ctx.spark):
        known = pii_values(policy, raw_tables(ctx), ctx.spark).persist()
        pii = F.broadcast(known)
        hits = []
        tables = lake_tables(ctx)
        for table, df in sorted(tables.items()):
            hits += _table_hits(table, df, pii)
        known.unpersist()
    return sorted(hits, key=lambda h: (h.table, h.column, h.found)), len(tables)
