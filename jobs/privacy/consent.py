"""Consent at the gate: columns stage holds only for customers who gave consent.

A rule of conf/privacy.yaml `consent:` names a table, its owner column, the flag that gives
consent (`crm_clients.opt_in_location`) and the columns it governs. A row whose owner has no
row in the flag's table, or whose flag is false or null, reaches stage with those columns
null: consent is never assumed (a GeoLife track, whose device has no customer, keeps none).
The flag is read from raw (on-prem), matched by the owner's normalized clear value.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.privacy.policy import ConsentRule, PrivacyPolicy
from jobs.privacy.spark_crypto import normalized

GIVEN = "_consent_given"


def _given(rule: ConsentRule, raws: dict[str, DataFrame]) -> DataFrame | None:
    """(value, consent given) per owner in the flag's table: true only where some row of the
    owner says true (a duplicated CRM row with true and null gives consent once)."""
    flags = raws.get(rule.flag_table)
    if flags is None:
        return None
    return flags.groupBy(normalized(F.col(rule.flag_owner)).alias("_consent_owner")).agg(
        F.max(F.coalesce(F.col(rule.flag_column).cast("boolean"), F.lit(False))).alias(GIVEN)
    )


def flagged(policy: PrivacyPolicy, name: str, raw: DataFrame, raws: dict) -> DataFrame:
    """`raw` with a boolean column GIVEN when the table has a consent rule (else as it is)."""
    rule = policy.consent.get(name)
    if rule is None:
        return raw
    given = _given(rule, raws)
    if given is None:
        return raw.withColumn(GIVEN, F.lit(False))
    joined = raw.join(given, normalized(F.col(rule.owner)) == F.col("_consent_owner"), "left")
    return joined.drop("_consent_owner").withColumn(GIVEN, F.coalesce(F.col(GIVEN), F.lit(False)))


def governed(policy: PrivacyPolicy, name: str, column: str, value: Column) -> Column:
    """The column's value, or null where consent is not given (on a `flagged` frame)."""
    rule = policy.consent.get(name)
    if rule is None or column not in rule.columns:
        return value
    return F.when(F.col(GIVEN), value)


def withheld(policy: PrivacyPolicy, name: str, flagged_raw: DataFrame) -> int:
    """Rows whose governed columns were left out: their owner gave no consent."""
    if name not in policy.consent:
        return 0
    return flagged_raw.where(~F.col(GIVEN)).count()
