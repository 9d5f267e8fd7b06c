"""Stage `privacy`: every raw table -> its lake/stage twin, tokens only, per conf/privacy.yaml.

Order of a run: check that the policy covers every column of every raw table (else stop,
nothing written); open the vault; mint tokens per kind, in bulk, over the values of every
table at once; encrypt contact details into the vault; then write each stage table whole
(same raw, same stage: tokens are stable and generalization is deterministic for a date).
"""

from __future__ import annotations

import logging
import time
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.privacy import scrub
from jobs.privacy.policy import PrivacyPolicy, load_policy
from jobs.privacy.spark_crypto import normalized
from jobs.privacy.vault import Vault
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.zones import Zone

log = logging.getLogger(__name__)

BROADCAST_ROWS = 3_000_000  # (value, token) pairs of one kind: ~300 MB at most


def raw_tables(ctx: RunContext) -> dict[str, DataFrame]:
    """Every Delta table in raw/ (not the ingest ledger), by name."""
    names = delta_io.list_tables(ctx.spark, ctx.zone_path(Zone.RAW))
    return {n: ctx.read(f"raw/{n}") for n in names if not n.startswith("_")}


def transform(
    name: str,
    raw: DataFrame,
    policy: PrivacyPolicy,
    tokens: dict[str, DataFrame],
    as_of: date,
    small: frozenset[str] = frozenset(),
) -> DataFrame:
    """The stage twin of one raw table; `tokens[kind]` holds (value, token) for every value.

    Lookups of the kinds in `small` are broadcast to the join.
    """
    policy.check_covers(name, raw.columns)
    df = raw
    for column in raw.columns:
        for action in policy.actions(name, column):
            if action.verb != "tokenize":
                continue
            lookup = tokens[action.arg].select(
                F.col("value").alias(f"_v_{column}"), F.col("token").alias(f"_t_{column}")
            )
            if action.arg in small:  # no shuffle of the big table for a lookup that fits
                lookup = F.broadcast(lookup)
            df = df.join(lookup, normalized(df[column]) == lookup[f"_v_{column}"], "left")
    out = []
    for column in raw.columns:
        for action in policy.actions(name, column):
            value = F.col(column)
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


def _values_by_kind(policy: PrivacyPolicy, raws: dict[str, DataFrame]) -> dict[str, DataFrame]:
    found: dict[str, list[DataFrame]] = {}
    for name, df in raws.items():
        for column in df.columns:
            for action in policy.actions(name, column):
                if action.verb == "tokenize":
                    found.setdefault(action.arg, []).append(
                        df.select(F.col(column).cast("string").alias("value"))
                    )
    union = {}
    for kind, frames in found.items():
        merged = frames[0]
        for frame in frames[1:]:
            merged = merged.unionByName(frame)
        union[kind] = merged
    return union


def _contacts(name: str, raw: DataFrame, policy: PrivacyPolicy, tokens: dict) -> DataFrame | None:
    table = policy.table(name)
    fields = [c for c in table.encrypted() if c in raw.columns]
    if not fields or table.owner not in raw.columns:
        return None
    kind = table.tokenized()[table.owner]
    owners = tokens[kind].select(
        F.col("value").alias("_owner_value"), F.col("token").alias("owner")
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


def run(ctx: RunContext) -> list[JobResult]:
    policy = load_policy(ctx.config.conf_dir)
    raws = raw_tables(ctx)
    for name, df in raws.items():  # fail closed before the vault or stage is touched
        policy.check_covers(name, df.columns)
    vault = Vault.open(ctx, policy, job="privacy")
    began = time.perf_counter()
    tokens = {
        kind: vault.tokens(values, kind).persist()
        for kind, values in _values_by_kind(policy, raws).items()
    }
    small = frozenset(k for k, df in tokens.items() if df.count() <= BROADCAST_ROWS)
    log.info("tokens of %d kinds in %.1f s", len(tokens), time.perf_counter() - began)
    results = []
    for name, raw in sorted(raws.items()):
        contacts = _contacts(name, raw, policy, tokens)
        if contacts is not None:
            vault.store_contacts(contacts)
        began = time.perf_counter()
        stage = transform(name, raw, policy, tokens, ctx.run_date, small)
        result = ctx.write(f"stage/{name}", stage, mode="overwrite")
        log.info(
            "stage/%s: %d rows in %.1f s", name, result.rows_written, time.perf_counter() - began
        )
        notes = ()
        if name in policy.k_anonymity:
            rule = policy.k_anonymity[name]
            k = scrub.smallest_group(ctx.read(f"stage/{name}"), rule.quasi_identifiers)
            notes = (f"k-anonymity over ({', '.join(rule.quasi_identifiers)}): k = {k}",)
        results.append(
            JobResult(
                f"stage/{name}",
                rows_read=raw.count(),
                rows_written=result.rows_written,
                feed="privacy",
                notes=notes,
            )
        )
    for frame in tokens.values():
        frame.unpersist()
    return results
