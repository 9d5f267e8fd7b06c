"""Stage `privacy`: every raw table -> its lake/stage twin, tokens only, per conf/privacy.yaml.

Order of a run: check that the policy covers every column of every raw table (else stop,
nothing written); open the vault; plan each table (increments.py): whole, or only the raw rows
of the ingest runs not gated yet or changed since; mint tokens in bulk for the distinct values
of every kind of those rows at once; encrypt contact details into the vault; then write each
stage table, two at a time: whole, or replacing the rows of those runs (same raw, same stage:
tokens are stable and generalization is deterministic for a date); last, log what was gated.
Rows of erased customers (their token is in the vault with its value shredded) never reach
stage again, even when a feed delivers them anew.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.privacy import consent, increments, purges, scrub
from jobs.privacy.policy import PrivacyPolicy, load_policy
from jobs.privacy.spark_crypto import normalized
from jobs.privacy.vault import Vault, vault_lock
from jobs.privacy.vault_store import vacuum
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.locks import EXCLUSIVE
from jobs.runtime.zones import Zone

log = logging.getLogger(__name__)

TABLES_AT_ONCE = 2
BROADCAST_ROWS = 3_000_000  # (value, token) pairs of one kind: ~300 MB at most


def raw_tables(ctx: RunContext) -> dict[str, DataFrame]:
    """Every Delta table in raw/ (not the ingest ledger), by name."""
    names = delta_io.list_tables(ctx.spark, ctx.zone_path(Zone.RAW))
    return {n: ctx.read(f"raw/{n}") for n in names if not n.startswith("_")}


def tokenized_columns(policy: PrivacyPolicy, name: str, columns: list[str]) -> dict[str, str]:
    """column -> token kind, for the columns of raw table `name` that are tokenized."""
    return {
        column: action.arg
        for column in columns
        for action in policy.actions(name, column)
        if action.verb == "tokenize"
    }


class Lookups:
    """(kind, value, token, erased) of every tokenized raw value, split by kind for joins.

    A kind's lookup is broadcast to the joins when it is small enough, so the big tables are
    never shuffled for a lookup.
    """

    def __init__(self, tokens: DataFrame) -> None:
        self.tokens = tokens.persist()
        counts = tokens.groupBy("kind").agg(
            F.count("*").alias("n"), F.sum(F.col("erased").cast("int")).alias("erased")
        )
        self.sizes = {r["kind"]: (r["n"], r["erased"]) for r in counts.collect()}

    def of(self, kind: str) -> DataFrame:
        lookup = self.tokens.where(F.col("kind") == kind).drop("kind")
        return F.broadcast(lookup) if self.sizes.get(kind, (0, 0))[0] <= BROADCAST_ROWS else lookup

    def erased(self, kind: str) -> int:
        return self.sizes.get(kind, (0, 0))[1]

    def release(self) -> None:
        self.tokens.unpersist(blocking=True)


def with_tokens(name: str, raw: DataFrame, policy: PrivacyPolicy, lookups: Lookups) -> DataFrame:
    """raw plus `_t_<column>` (token) and `_e_<column>` (erased) for every tokenized column."""
    df = raw
    for column, kind in tokenized_columns(policy, name, raw.columns).items():
        lookup = lookups.of(kind).select(
            F.col("value").alias(f"_v_{column}"),
            F.col("token").alias(f"_t_{column}"),
            F.col("erased").alias(f"_e_{column}"),
        )
        df = df.join(lookup, normalized(df[column]) == F.col(f"_v_{column}"), "left")
    return df


def of_erased(columns: list[str]) -> Column:
    """True for a row of an erased customer: one of its tokens (`with_tokens`) was erased."""
    flags = [F.coalesce(F.col(f"_e_{c}"), F.lit(False)) for c in columns]
    return reduce(lambda a, b: a | b, flags, F.lit(False))


def transform(
    name: str,
    raw: DataFrame,
    policy: PrivacyPolicy,
    lookups: Lookups,
    as_of: date,
    raws: dict[str, DataFrame],
) -> DataFrame:
    """The stage twin of one raw table: rows of erased customers are left out, and columns
    that need consent are null where it was not given (`raws` holds the consent flags)."""
    policy.check_covers(name, raw.columns)
    df = consent.flagged(policy, name, with_tokens(name, raw, policy, lookups), raws)
    df = df.where(~of_erased(list(tokenized_columns(policy, name, raw.columns))))
    df = df.where(~not_yet(policy, name, raw.columns, as_of))
    out = []
    for column in raw.columns:
        for action in policy.actions(name, column):
            value = consent.governed(policy, name, column, F.col(column))
            if action.verb == "keep":
                out.append(value.alias(action.output))
            elif action.verb == "tokenize":
                out.append(F.col(f"_t_{column}").alias(action.output))
            elif action.verb == "mask":
                out.append(scrub.mask(value, int(action.arg)).alias(action.output))
            elif action.verb == "generalize":
                rule = policy.generalizers[action.arg]
                kind = raw.schema[column].dataType
                out.append(scrub.generalize(value, kind, rule, as_of).alias(action.output))
    stage = df.select(*out)
    if name in policy.k_anonymity:
        stage = scrub.enforce_k(stage, policy.k_anonymity[name])
    return stage


def not_yet(policy: PrivacyPolicy, name: str, columns: list[str], as_of: date) -> Column:
    """True for a row dated after the run date by the table's `not_before` column."""
    column = policy.table(name).not_before
    if column is None or column not in columns:
        return F.lit(False)
    return F.coalesce(F.col(column).cast("date") > F.lit(as_of), F.lit(False))


def withheld(name: str, raw: DataFrame, policy: PrivacyPolicy, lookups: Lookups) -> int:
    """Rows of raw table `name` left out of stage because their customer was erased."""
    columns = tokenized_columns(policy, name, raw.columns)
    if not any(lookups.erased(kind) for kind in columns.values()):
        return 0
    df = with_tokens(name, raw.select(*columns), policy, lookups)
    return df.where(of_erased(list(columns))).count()


def tokenized_values(
    spark: SparkSession, policy: PrivacyPolicy, raws: dict[str, DataFrame]
) -> DataFrame:
    """Distinct (kind, value) of every tokenized column of every raw table.

    One narrow select per column (a columnar read of that column only), made distinct before
    the union, so 20 million card rows shrink to their 100,000 users before anything else.
    """
    frames = [
        df.select(F.lit(kind).alias("kind"), F.col(column).cast("string").alias("value")).distinct()
        for name, df in raws.items()
        for column, kind in tokenized_columns(policy, name, df.columns).items()
    ]
    return reduce(
        DataFrame.unionByName, frames, spark.createDataFrame([], "kind string, value string")
    )


def _early(name: str, raw: DataFrame, policy: PrivacyPolicy, lookups: Lookups, as_of) -> int:
    """Rows left out because they are dated after the run date (erased ones not counted)."""
    column = policy.table(name).not_before
    if column is None or column not in raw.columns:
        return 0
    columns = tokenized_columns(policy, name, raw.columns)
    rows = raw.where(not_yet(policy, name, raw.columns, as_of))
    if any(lookups.erased(kind) for kind in columns.values()):
        rows = with_tokens(name, rows.select(*columns), policy, lookups)
        rows = rows.where(~of_erased(list(columns)))
    return rows.count()


def _contacts(
    name: str, raw: DataFrame, policy: PrivacyPolicy, lookups: Lookups
) -> DataFrame | None:
    table = policy.table(name)
    fields = [c for c in table.encrypted() if c in raw.columns]
    if not fields or table.owner not in raw.columns:
        return None
    owners = (
        lookups.of(table.tokenized()[table.owner])
        .where(~F.col("erased"))
        .select(F.col("value").alias("_owner_value"), F.col("token").alias("owner"))
    )
    rows = raw.select(
        normalized(F.col(table.owner)).alias("_owner_value"),
        F.explode(
            F.array(
                *[
                    F.struct(
                        F.lit(f"{name}.{c}").alias("field"), F.col(c).cast("string").alias("value")
                    )
                    for c in fields
                ]
            )
        ).alias("_c"),
    )
    return rows.join(owners, "_owner_value").select("owner", "_c.field", "_c.value")


def _stage(
    ctx: RunContext,
    policy: PrivacyPolicy,
    lookups: Lookups,
    raws: dict,
    plan: increments.Plan,
) -> JobResult:
    """Write stage/<name> from raw/<name> as planned (whole, or the rows of some ingest runs);
    its counts and notes."""
    began = time.perf_counter()
    name = plan.name
    raw = plan.rows(raws[name])
    if plan.runs == ():
        note = f"by ingest run: {plan.reason}, stage kept"
        return JobResult(f"stage/{name}", 0, 0, feed="privacy", notes=(note,))
    stage = transform(name, raw, policy, lookups, ctx.run_date, raws)
    if plan.runs is None:
        result = ctx.write(f"stage/{name}", stage, mode="overwrite")
    else:
        result = ctx.write(
            f"stage/{name}", stage, mode="replace_where", replace_where=plan.replace_where
        )
    log.info("stage/%s: %d rows in %.1f s", name, result.rows_written, time.perf_counter() - began)
    notes = [f"{'whole' if plan.runs is None else 'by ingest run'}: {plan.reason}"]
    left_out = withheld(name, raw, policy, lookups)
    if left_out:
        notes.append(f"{left_out} rows of erased customers left out")
    early = _early(name, raw, policy, lookups, ctx.run_date)
    if early:
        notes.append(f"{early} rows dated after {ctx.run_date} left out until then")
    if name in policy.consent:
        without = consent.withheld(policy, name, consent.flagged(policy, name, raw, raws))
        governed = ", ".join(policy.consent[name].columns)
        notes.append(f"{without} rows without consent: {governed} left out")
    if name in policy.k_anonymity:
        rule = policy.k_anonymity[name]
        written = ctx.read(f"stage/{name}")
        k = scrub.smallest_group(written, rule)
        qis = [q for q in rule.quasi_identifiers if q in written.columns]
        notes.append(f"k-anonymity over ({', '.join(qis)}): k = {k} (policy: {rule.k})")
    return JobResult(
        f"stage/{name}",
        rows_read=raw.count() if plan.runs is None else _count(plan),
        rows_written=result.rows_written,
        rows_withheld=left_out + early,
        feed="privacy",
        notes=tuple(notes),
    )


def _count(plan: increments.Plan) -> int:
    return sum(plan.counts.get(run, 0) for run in plan.runs or ())


REACHABILITY = "contact_reachability"  # per client token: may email / sms reach them (booleans)


def run(ctx: RunContext) -> list[JobResult]:
    policy = load_policy(ctx.config.conf_dir)
    # the vault's lock first, alone (it mints keys and tokens), then raw as it is: an erasure
    # that held the lock meanwhile has deleted rows and vacuumed the files they were in
    with vault_lock(ctx, policy, EXCLUSIVE):
        raws = raw_tables(ctx)
        for name, df in raws.items():  # fail closed before the vault or stage is touched
            policy.check_covers(name, df.columns)
        with Vault.open(ctx, policy, job="privacy") as vault:
            purges.run_due(ctx, policy.lake_purge_after_hours)
            return _gate(ctx, policy, raws, vault)


def _gate(ctx: RunContext, policy: PrivacyPolicy, raws: dict, vault: Vault) -> list[JobResult]:
    began = time.perf_counter()
    plans = increments.plan(ctx, policy, raws)
    rows = {name: plans[name].rows(raw) for name, raw in raws.items() if plans[name].runs != ()}
    lookups = Lookups(vault.tokenize(tokenized_values(ctx.spark, policy, rows)))
    try:
        log.info("tokens of %d kinds in %.1f s", len(lookups.sizes), time.perf_counter() - began)
        for name, raw in sorted(rows.items()):
            contacts = _contacts(name, raw, policy, lookups)
            if contacts is not None:
                vault.store_contacts(contacts)
        # two tables at a time (threads sharing the session): one's driver work overlaps the
        # other's Spark tasks; each table is its own Delta commit
        with ThreadPoolExecutor(TABLES_AT_ONCE, thread_name_prefix="privacy") as pool:
            staged = pool.map(
                lambda name: _stage(ctx, policy, lookups, raws, plans[name]), sorted(raws)
            )
            results = list(staged)
    finally:  # the clear values and their tokens leave Spark's cache, even on a failure
        lookups.release()
    increments.record(ctx, plans)
    for name, rule in policy.consent.items():  # no coordinates kept past their consent
        if name in raws:
            vacuum(ctx.spark, [ctx.path(f"stage/{name}")], rule.history_hours)
    if policy.reachability:
        written = ctx.write(
            f"stage/{REACHABILITY}", vault.reachability(policy.reachability), mode="overwrite"
        )
        results.append(
            JobResult(
                f"stage/{REACHABILITY}", written.rows_written, written.rows_written, feed="privacy"
            )
        )
    return results
