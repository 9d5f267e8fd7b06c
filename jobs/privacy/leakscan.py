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
  known issuer prefix and length passing the Luhn check, IBAN passing its mod-97 check; and
  inside longer text (a page path, a label): an e-mail, a card number, a `+`-prefixed phone.
It runs on-prem (it reads raw) and reports counts per lake table and column, never a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DoubleType,
    FloatType,
    MapType,
    StringType,
    StructType,
)

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
# the same inside longer text (an e-mail in a page path, a card number in a free-text label)
EMAIL_IN_TEXT = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
DIGITS_IN_TEXT = r"(?<![0-9])[0-9]{13,19}(?![0-9])"
PHONE_IN_TEXT = r"(?<![0-9A-Za-z])\+[0-9]{10,15}(?![0-9])"


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
        .when(value.rlike(EMAIL_IN_TEXT), F.lit("e-mail in text"))
        .when(_card_in_text(value), F.lit("card number in text"))
        .when(value.rlike(PHONE_IN_TEXT), F.lit("phone number in text"))
    )


def _card_in_text(value: Column) -> Column:
    """A run of 13-19 digits inside the text that is a card number of a known issuer (Luhn):
    the first such run (a path holds one id; a text with two numbers is rarely two cards)."""
    digits = F.regexp_extract(value, DIGITS_IN_TEXT, 0)
    return (digits != "") & digits.rlike(CARD) & luhn_ok(digits)


PII_SCHEMA = "value string, source string, is_name boolean, only_in string"


def pii_values(policy: PrivacyPolicy, raws: dict[str, DataFrame], spark) -> DataFrame:
    """(value, source, is_name, only_in) for the clear PII values of raw: what must never be
    seen in the lake.

    A numeric identifier (client_id 1301) equals too many innocent numbers to be looked for
    everywhere: it is looked for in lake columns of its own name only (`only_in`: `client_id`,
    `*_client_id`), which must hold tokens. A lineage column is looked for when the policy
    tokenizes it (`_source_file`: a file name may name a person)."""
    frames = []
    for name, df in raws.items():
        for column in df.columns:
            verbs = {a.verb for a in policy.actions(name, column)}
            identifying = verbs & {"tokenize", "encrypt", "mask"} or (
                "drop" in verbs and f"{name}.{column}" in policy.identifying_drops
            )
            if not identifying or (column.startswith("_") and "tokenize" not in verbs):
                continue
            is_name = f"{name}.{column}" in policy.name_columns
            text = isinstance(df.schema[column].dataType, StringType)
            if not text and "tokenize" not in verbs:
                continue  # a masked or encrypted number leaves no number behind to find
            frames.append(
                df.select(
                    F.lower(F.trim(F.col(column).cast("string"))).alias("value"),
                    F.lit(f"raw {name}.{column}").alias("source"),
                    F.lit(is_name).alias("is_name"),
                    F.lit(None if text else column).cast("string").alias("only_in"),
                ).where(F.length("value") >= (1 if not text else 2 if is_name else MIN_LENGTH))
            )
    if not frames:
        return spark.createDataFrame([], PII_SCHEMA)
    return reduce(DataFrame.unionByName, frames).distinct()


ENTRY = "struct<column:string,value:string,text:boolean>"
# The text Spark casts a value of these types to has one shape ("1.0E7", "12.5", "NaN"; "true"):
# a lake column of such a type can equal a clear PII value only if one has that shape.
SHAPES = {
    "fractional": r"^(-?[0-9]+\.[0-9]+(e-?[0-9]+)?|nan|-?infinity)$",
    "boolean": r"^(true|false)$",
}


def _shape(kind: DataType) -> str | None:
    if isinstance(kind, FloatType | DoubleType):
        return "fractional"
    return "boolean" if isinstance(kind, BooleanType) else None


def shapes_unseen(pii: DataFrame) -> frozenset[str]:
    """The SHAPES no clear PII value (lower-cased) has: columns of those types need no look."""
    seen = pii.select(
        *[F.max(F.col("value").rlike(rx).cast("int")).alias(k) for k, rx in SHAPES.items()]
    ).first()
    return frozenset(k for k in SHAPES if not seen[k])


def _literal(text: str) -> str:
    """`text` as a Spark SQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _entry(name: str, value: str, text: bool) -> str:
    return (
        f"named_struct('column', {_literal(name)}, 'value', {value}, 'text', {str(text).lower()})"
    )


def _values(df: DataFrame, unseen: frozenset[str] = frozenset()) -> DataFrame:
    """(column, value, text) per value of each column, not yet distinct; array elements one by
    one. Columns (or arrays) of a type whose shape is `unseen` are left out.

    `text` marks values that were strings: detectors look at those only (a 10-digit epoch
    second in a number column is not a phone number). Every row becomes one array of
    (column, value, text) entries, exploded: one projection however wide the table (a union of
    one select per column takes Catalyst minutes on customer_360's thousand columns), written
    as SQL text so that a thousand columns cost one call into the JVM, not several each.
    """
    scalars, arrays = [], []
    for field in df.schema.fields:
        kind, name = field.dataType, field.name
        quoted = "`" + name.replace("`", "``") + "`"
        if _shape(kind.elementType if isinstance(kind, ArrayType) else kind) in unseen:
            continue
        if isinstance(kind, ArrayType) and not isinstance(
            kind.elementType, ArrayType | MapType | StructType
        ):
            text = isinstance(kind.elementType, StringType)
            each = _entry(name, "CAST(e AS STRING)", text)
            arrays.append(
                f"coalesce(transform({quoted}, e -> {each}), CAST(array() AS array<{ENTRY}>))"
            )
        elif isinstance(kind, ArrayType | MapType | StructType):
            scalars.append(_entry(name, f"to_json({quoted})", False))
        else:
            scalars.append(_entry(name, f"CAST({quoted} AS STRING)", isinstance(kind, StringType)))
    entries = ", ".join([f"CAST(array({', '.join(scalars)}) AS array<{ENTRY}>)", *arrays])
    values = df.selectExpr(f"explode(concat({entries})) AS e").selectExpr("e.*")
    return values.where(F.col("value").isNotNull())


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


def _candidates(tables: dict[str, DataFrame], pii: DataFrame) -> DataFrame:
    """(table, column, value, text, source, is_name), distinct, of every lake value that equals
    a clear PII value (source set) or is text (for the detectors); values of every table in one
    pass. Each value meets the PII values in a broadcast hash lookup as it is read, so the
    millions of numbers of customer_360 that equal nothing are never shuffled; numbers whose
    shape no PII value has (doubles, mostly) are not even read."""
    unseen = shapes_unseen(pii)
    values = reduce(
        DataFrame.unionByName,
        [
            _values(df, unseen).withColumn("table", F.lit(name))
            for name, df in sorted(tables.items())
        ],
    )
    clear = F.broadcast(pii.withColumnRenamed("value", "clear"))
    joined = values.join(clear, F.lower(F.trim(values["value"])) == clear["clear"], "left")
    own_column = F.col("only_in").isNull() | (F.col("column") == F.col("only_in"))
    own_column |= F.col("column").endswith(F.concat(F.lit("_"), F.col("only_in")))
    joined = joined.withColumn(
        "source", F.when(own_column, F.col("source"))
    )  # an id equal to a number elsewhere is chance
    wanted = joined.where(F.col("source").isNotNull() | F.col("text"))
    return wanted.select("table", "column", "value", "text", "source", "is_name").distinct()


def _distinct_values(tables: dict[str, DataFrame], columns: set[tuple[str, str]]) -> dict:
    """{(table, column): number of distinct values} for the given columns."""
    frames = [
        _values(tables[table].select(column)).select(F.lit(table).alias("table"), "column", "value")
        for table, column in sorted(columns)
    ]
    counted = reduce(DataFrame.unionByName, frames).distinct().groupBy("table", "column").count()
    return {(r["table"], r["column"]): r["count"] for r in counted.collect()}


def _hits(tables: dict[str, DataFrame], pii: DataFrame) -> list[Hit]:
    candidates = _candidates(tables, pii).persist()
    equal = (
        candidates.where(F.col("source").isNotNull())
        .groupBy("table", "column", "source", "is_name")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    detected = (
        candidates.where("text")
        .select("table", "column", "value")
        .distinct()
        .select("table", "column", detector(F.col("value")).alias("source"))
        .where(F.col("source").isNotNull())
        .groupBy("table", "column", "source")
        .agg(F.count(F.lit(1)).alias("n"))
        .select(
            "table",
            "column",
            F.concat(F.lit("detector: "), "source").alias("source"),
            F.lit(False).alias("is_name"),
            "n",
        )
    )
    try:
        rows = equal.unionByName(detected).collect()
    finally:
        candidates.unpersist(blocking=True)
    # a name equal to a city or a street is chance; a column of names is a leak: a name
    # match counts when at least NAME_SHARE of the column's distinct values are names
    names = [r for r in rows if r["is_name"] and r["n"] >= 2]
    share = _distinct_values(tables, {(r["table"], r["column"]) for r in names}) if names else {}
    kept = [
        r
        for r in rows
        if not r["is_name"]
        or r["n"] >= max(2, share.get((r["table"], r["column"]), 0) * NAME_SHARE)
    ]
    return [Hit(r["table"], r["column"], r["source"], int(r["n"])) for r in kept]


def scan(ctx: RunContext, policy: PrivacyPolicy) -> tuple[list[Hit], int]:
    """Hits, and how many lake tables were scanned.

    The whole scan runs under `wide_rows` (whole-stage code generation for narrow plan nodes
    only): a row of customer_360 becomes 1,000+ entries, and cached frames must be planned and
    reused under the same setting."""
    tables = lake_tables(ctx)
    if not tables:
        return [], 0
    with wide_rows(ctx.spark):
        pii = pii_values(policy, raw_tables(ctx), ctx.spark).persist()
        try:
            hits = _hits(tables, pii)
        finally:  # raw's clear values leave Spark's cache, even on a failure
            pii.unpersist(blocking=True)
    return sorted(hits, key=lambda h: (h.table, h.column, h.found)), len(tables)
