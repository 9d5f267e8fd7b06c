"""Right to be forgotten: `offerlake vault erase --client-id ID`.

1. find the customer's token by blind index (the id is never stored in clear), and what goes
   with them: the values of other kinds `erasure.linked` in conf/privacy.yaml finds in raw
   (their accounts, cards, card-feed user, devices, web visitor ids), except values another
   customer shares;
2. delete every row holding one of those values: raw by clear value, stage by token (stage
   tables without a raw twin, such as contact_reachability, and analytics tables by token in
   any text column), quarantine by the customer's identifying text; then VACUUM the tables
   that lost rows so no old file still has them; handoff runs holding a token are rewritten
   without its rows, with a new manifest;
3. crypto-shred: destroy the data keys of the personal tokens and delete their encrypted
   contacts, blank every erased token's encrypted value (and vacuum the vault's history);
4. keep an erasure record per token (token, kind, time, tables, rows) with no personal data.
Afterwards detokenizing any of those tokens fails with a message saying the customer was erased.
Landing files are not rewritten: they are deleted by the landing retention (conf/lake.yaml).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobs.delivery import handoff
from jobs.privacy.gate import raw_tables, tokenized_columns
from jobs.privacy.policy import PrivacyPolicy
from jobs.privacy.spark_crypto import normalized
from jobs.privacy.vault import Vault, VaultError
from jobs.privacy.vault_store import vacuum
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Zone

log = logging.getLogger(__name__)

KIND = "client"
QUARANTINE_MATCH_CHARS = 6  # shorter clear values (small ids) are too common to match in text


@dataclass(frozen=True)
class Erasure:
    token: str
    rows_deleted: dict[str, int]  # "raw/crm_clients" -> rows
    linked: dict[str, int]  # kind -> values erased with the customer


def linked_values(ctx: RunContext, policy: PrivacyPolicy, raws: dict, client_id: str) -> dict:
    """kind -> clear values of the customer's that no other customer shares."""
    for name, df in raws.items():
        df.createOrReplaceTempView(name)
    found: dict[str, set[str]] = {}
    try:
        for kind, query in policy.linked.items():
            try:
                pairs = ctx.spark.sql(query)
            except AnalysisException as e:
                log.info("erasure.linked.%s: not in this raw zone (%s)", kind, e.getErrorClass())
                continue
            pairs = pairs.select(
                normalized(F.col("value")).alias("value"),
                (normalized(F.col("client_id")) == client_id).alias("mine"),
            ).where(F.col("value").isNotNull() & (F.col("value") != ""))
            owners = pairs.groupBy("value").agg(F.bool_and("mine").alias("only_mine"))
            values = {r.value for r in owners.where("only_mine").collect()}
            if values:
                found[kind] = values
    finally:
        for name in raws:
            ctx.spark.catalog.dropTempView(name)
    return found


def _any(conditions: list[Column]) -> Column | None:
    return reduce(lambda a, b: a | b, conditions) if conditions else None


def _delete(ctx: RunContext, ref: str, condition: Column | None, touched: list[str]) -> int:
    """Delete the rows matching condition; the number deleted (from the commit's metrics, so
    the table is scanned once). A table that lost rows joins `touched`, to be vacuumed."""
    if condition is None:
        return 0
    path = ctx.path(ref)
    table = DeltaTable.forPath(ctx.spark, path)
    before = table.history(1).first().version
    table.delete(condition)
    last = table.history(1).first()
    if last.version == before or last.operation != "DELETE":
        return 0
    rows = int(last.operationMetrics.get("numDeletedRows", "0"))
    if rows:
        touched.append(path)
    return rows


def _raw_condition(policy: PrivacyPolicy, name: str, raw: DataFrame, subject: dict) -> Column:
    columns = tokenized_columns(policy, name, raw.columns)
    return _any(
        [normalized(F.col(c)).isin(*subject[k]) for c, k in columns.items() if k in subject]
    )


def _stage_condition(policy: PrivacyPolicy, name: str, raw: DataFrame, tokens: dict) -> Column:
    outputs = [
        (action.output, action.arg)
        for column in raw.columns
        for action in policy.actions(name, column)
        if action.verb == "tokenize"
    ]
    return _any([F.col(c).isin(*tokens[k].values()) for c, k in outputs if tokens.get(k)])


def _identifying_text(policy: PrivacyPolicy, name: str, rows: DataFrame) -> set[str]:
    """The subject's clear values in a raw table that are long enough to find in free text."""
    verbs = {"tokenize", "encrypt", "mask"}
    columns = [
        c
        for c in rows.columns
        if any(a.verb in verbs for a in policy.actions(name, c))
        or f"{name}.{c}" in policy.identifying_drops
    ]
    if not columns:
        return set()
    values = rows.select(F.explode(F.array(*[normalized(F.col(c)) for c in columns])).alias("v"))
    values = values.where(F.length("v") >= QUARANTINE_MATCH_CHARS).distinct()
    return {r.v for r in values.collect()}


def _holding(df: DataFrame, tokens: list[str]) -> Column | None:
    """True for a row with one of the tokens in any text column."""
    text = [f.name for f in df.schema if isinstance(f.dataType, StringType)]
    return _any([F.coalesce(F.col(c).isin(*tokens), F.lit(False)) for c in text])


def _erase_handoffs(ctx: RunContext, tokens: list[str]) -> dict[str, int]:
    """Rewrite each handoff run (Parquet + manifest) that holds the tokens without those rows,
    with a new manifest; the old files are deleted, not kept as versions."""
    root = ctx.zone_path(Zone.HANDOFF)
    deleted = {}
    for run in delta_io.list_folders(ctx.spark, root):
        try:
            rows = ctx.spark.read.parquet(f"{root}/{run}")
        except AnalysisException:  # an empty folder (a crashed export) holds nothing
            continue
        condition = _holding(rows, tokens)
        hits = rows.where(condition).count() if condition is not None else 0
        if hits:
            handoff.export(ctx, rows.where(~condition), run)
            deleted[f"handoff/{run}"] = hits
    return deleted


def erase_client(ctx: RunContext, policy: PrivacyPolicy, client_id: str) -> Erasure:
    with Vault.open(ctx, policy, job="erasure") as vault:  # alone: it shreds keys
        return _erase(ctx, policy, vault, client_id.strip())


def _erase(ctx: RunContext, policy: PrivacyPolicy, vault: Vault, client_id: str) -> Erasure:
    token = vault.token_of(client_id, KIND)
    if token is None:
        raise VaultError(f"no customer with that client id has a {KIND} token in the vault")
    when = vault.erased_at(token)
    if when is not None:
        raise VaultError(f"token {token}: its customer was already erased ({when.isoformat()})")
    raws = raw_tables(ctx)
    subject = {KIND: {client_id}, **linked_values(ctx, policy, raws, client_id)}
    tokens = vault.tokens_of(subject)
    all_tokens = [t for by_value in tokens.values() for t in by_value.values()]
    stage_tables = set(delta_io.list_tables(ctx.spark, ctx.zone_path(Zone.STAGE)))
    deleted: dict[str, int] = {}
    touched: list[str] = []
    identifying: set[str] = set()
    for name, raw in sorted(raws.items()):
        condition = _raw_condition(policy, name, raw, subject)
        if condition is None:
            continue
        identifying |= _identifying_text(policy, name, raw.where(condition))
        deleted[f"raw/{name}"] = _delete(ctx, f"raw/{name}", condition, touched)
        if name in stage_tables:
            stage = _stage_condition(policy, name, raw, tokens)
            deleted[f"stage/{name}"] = _delete(ctx, f"stage/{name}", stage, touched)
    derived = [f"stage/{n}" for n in sorted(stage_tables - set(raws))]  # contact_reachability
    analytics = delta_io.list_tables(ctx.spark, ctx.zone_path(Zone.ANALYTICS))
    for ref in derived + [f"analytics/{n}" for n in analytics]:
        deleted[ref] = _delete(ctx, ref, _holding(ctx.read(ref), all_tokens), touched)
    deleted |= _erase_handoffs(ctx, all_tokens)
    quarantine = ctx.zone_path(Zone.QUARANTINE)
    for name in delta_io.list_tables(ctx.spark, quarantine) if identifying else []:
        matches = [F.col("original").contains(v) for v in sorted(identifying)]
        deleted[f"quarantine/{name}"] = _delete(ctx, f"quarantine/{name}", _any(matches), touched)
    vacuum(ctx.spark, touched)  # no older file still holds the deleted rows
    tables = ", ".join(f"{t} {n}" for t, n in deleted.items() if n)
    erased = {token: KIND} | {t: kind for kind, m in tokens.items() for t in m.values()}
    vault.shred(erased, tables, sum(deleted.values()))
    linked = {k: len(v) for k, v in subject.items() if k != KIND}
    return Erasure(token, deleted, linked)
