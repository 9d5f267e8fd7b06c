"""Rows of erased customers delivered again are refused at ingest.

A source system may send an erased customer's records again (a late file, a replayed export,
a CRM that did not hear of the erasure). Such a row never reaches raw: it goes to quarantine
with rule `erased`, its file and record number only, without its content. A row is an erased
customer's when one of its tokenized values (conf/privacy.yaml) has an erased token in the
vault: found by blind index, the values never leave Spark and never enter a plan's text.

The vault is opened (shared) for the ingest run only when it holds erasures; otherwise nothing
is looked up.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.privacy.gate import tokenized_columns
from jobs.privacy.policy import PrivacyPolicy
from jobs.privacy.spark_crypto import normalized
from jobs.privacy.vault import Vault, open_store, vault_lock
from jobs.runtime.context import RunContext
from jobs.runtime.locks import SHARED

RULE = "erased"
REASON = "a row of a customer erased on-prem (`vault erase`): refused, its content not kept"

_open: dict[str, tuple[Vault, PrivacyPolicy]] = {}  # run id -> the run's vault (threads share it)
_guard = threading.Lock()


@contextmanager
def watching(ctx: RunContext, policy: PrivacyPolicy) -> Iterator[None]:
    """Hold the vault's lock shared for the ingest run (an erasure, holding it alone, deletes
    raw and quarantine rows and vacuums their files at 0 hours); with the vault open when it
    holds erasures, so `mark` can refuse their rows."""
    store = open_store(ctx, policy)
    if not store.exists("erasures") or store.read("erasures").isEmpty():
        with vault_lock(ctx, policy, SHARED):
            yield
        return
    with Vault.open(ctx, policy, job="ingest", lock=SHARED) as vault:
        _open[ctx.run_id] = (vault, policy)
        try:
            yield
        finally:
            _open.pop(ctx.run_id, None)


def mark(ctx: RunContext, table: str, rows: DataFrame) -> DataFrame:
    """rows with `_rule` = erased (and `_reason`) for the rows of erased customers."""
    opened = _open.get(ctx.run_id)
    if opened is None:
        return rows
    vault, policy = opened
    business = [c for c in rows.columns if not c.startswith("_")]  # not lineage nor markers
    columns = tokenized_columns(policy, table, business)
    if not columns:
        return rows
    values = reduce(
        DataFrame.unionByName,
        [rows.select(F.lit(k).alias("kind"), F.col(c).alias("value")) for c, k in columns.items()],
    )
    with _guard:  # one vault, two feeds' threads
        erased = vault.held(vault.erased_values(values).select("kind", "value"))
    if erased.isEmpty():
        return rows
    hits = []
    for n, (column, kind) in enumerate(columns.items()):
        flag = f"_erased_{n}"
        mine = erased.where(F.col("kind") == kind).select(F.col("value").alias(flag))
        rows = rows.join(F.broadcast(mine), normalized(F.col(column)) == F.col(flag), "left")
        hits.append(F.col(flag).isNotNull())
    hit = reduce(lambda a, b: a | b, hits)
    return (
        rows.withColumn("_reason", F.when(hit, F.lit(REASON)).otherwise(F.col("_reason")))
        .withColumn("_rule", F.when(hit, F.lit(RULE)).otherwise(F.col("_rule")))
        .drop(*[f"_erased_{n}" for n in range(len(columns))])
    )
