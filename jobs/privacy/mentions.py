"""Where a customer's clear values are mentioned in free text: quarantined records and outbox
lines, which an erasure must find to delete.

A value is mentioned when it stands as a whole word: `smith@x.org` not inside `jsmith@x.org`,
`1301` in `{"client_id": 1301}` or `,0001301,` (a number may be zero-padded), but not in
`13010`, `2026-03-13` or `13.50` (see `pattern`). Values of any length are looked for, so a
short id is found too; the price is that a record of another customer holding the same number
as a field goes with it (a quarantined record is evidence of bad input, not a customer's data,
so the erasure errs that way).

Quarantined records kept as base64 (binary mainframe and CardDemo records, truncated files) are
decoded first, both as UTF-8 and as EBCDIC (code page 037, Cobrix's default), with Spark
functions: `decode(..., 'ISO-8859-1')` keeps one character per byte, and `translate` maps each
to its EBCDIC character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

WORD = "0-9A-Za-z"
# a short number is a field's value only between delimiters of JSON, CSV and key=value text:
# `"client_id": 13,` or `|13|`, not `2026-03-13` or `12:13` or `13.50`
BEFORE = r"""(?:^|(?<=[\s,;|="'(\[{])|(?<=":))"""
AFTER = r"""(?=$|[\s,;|"'}\])])"""
_BYTES = bytes(range(256))
_LATIN1, _EBCDIC = _BYTES.decode("latin-1"), _BYTES.decode("cp037")


def _edge(char: str) -> str:
    """The characters a value's first or last character must not run on into."""
    if char.isdigit():
        return "0-9"
    return "A-Za-z" if char.isalpha() else WORD


def pattern(value: str) -> str:
    """The regex of a value mentioned as a whole word, valid in Java (Spark's RLIKE) and
    Python alike. A number, zero-padded or not, between field delimiters. Other text not run
    on into more of the kind of characters it starts and ends with: `Novak` in `0012Novak  `
    (fixed-width fields side by side) and in `"Novak",` but not in `Novakova`."""
    quoted = re.escape(value)
    if value.isdigit():
        return f"{BEFORE}0*{quoted}{AFTER}"
    return f"(?<![{_edge(value[0])}]){quoted}(?![{_edge(value[-1])}])"


def python_pattern(values: Iterable[str]) -> re.Pattern | None:
    """One Python regex mentioning any of the values (see `pattern`)."""
    parts = [pattern(v) for v in sorted(set(values), key=len, reverse=True) if v]
    return re.compile("|".join(parts)) if parts else None


def record_text(original: Column, encoding: Column) -> Column:
    """A quarantined record as text: itself, or its base64 bytes read as UTF-8 and as EBCDIC."""
    raw = F.unbase64(original)
    ebcdic = F.translate(F.decode(raw, "ISO-8859-1"), _LATIN1, _EBCDIC)
    both = F.concat_ws("\n", F.decode(raw, "UTF-8"), ebcdic)
    return F.when(encoding == "base64", both).otherwise(original)


def mentioning(
    spark: SparkSession, df: DataFrame, text: Column, values: Iterable[str]
) -> DataFrame:
    """The rows of df whose text mentions one of the values (each row once).

    A broadcast join on `contains` finds the candidates, then the whole-word rule is checked
    on those pairs only; the values travel in a broadcast table, never in the plan's text."""
    pairs = [(v, pattern(v)) for v in sorted(set(values)) if v]
    if not pairs:
        return df.limit(0)
    wanted = spark.createDataFrame(pairs, "_value string, _pattern string")
    columns = df.columns
    found = (
        df.withColumn("_text", text)
        .join(F.broadcast(wanted), F.col("_text").contains(F.col("_value")))
        .where(F.expr("_text RLIKE _pattern"))
    )
    return found.select(*columns).dropDuplicates(columns)
