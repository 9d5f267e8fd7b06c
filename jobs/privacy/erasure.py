"""Right to be forgotten: `offerlake vault erase --client-id ID`.

1. find the customer's token by blind index (the id is never stored in clear);
2. delete the customer's rows from every raw table that holds a `client` column, and from
   every stage table by token, then VACUUM those tables so no old file still has them;
3. crypto-shred: destroy the customer's data key, delete their encrypted contacts, blank the
   token's encrypted value (and vacuum the vault tables' history);
4. keep an erasure record (token, time, tables, rows) with no personal data.
Afterwards detokenizing the token fails with a message saying the customer was erased.
"""

from __future__ import annotations

from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs.privacy.gate import raw_tables
from jobs.privacy.policy import PrivacyPolicy
from jobs.privacy.vault import Vault, VaultError
from jobs.privacy.vault_store import vacuum
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Zone

KIND = "client"


@dataclass(frozen=True)
class Erasure:
    token: str
    rows_deleted: dict[str, int]  # "raw/crm_clients" -> rows


def _delete(ctx: RunContext, ref: str, column: str, value: str) -> int:
    path = ctx.path(ref)
    matching = F.col(column).cast("string") == F.lit(value)
    rows = ctx.read(ref).where(matching).count()
    if rows:
        DeltaTable.forPath(ctx.spark, path).delete(matching)
        vacuum(ctx.spark, [path])
    return rows


def erase_client(ctx: RunContext, policy: PrivacyPolicy, client_id: str) -> Erasure:
    vault = Vault.open(ctx, policy, job="erasure")
    token = vault.token_of(client_id, KIND)
    if token is None:
        raise VaultError(f"no customer with that client id has a {KIND} token in the vault")
    when = vault.erased_at(token)
    if when is not None:
        raise VaultError(f"token {token}: its customer was already erased ({when.isoformat()})")
    stage_tables = set(delta_io.list_tables(ctx.spark, ctx.zone_path(Zone.STAGE)))
    deleted: dict[str, int] = {}
    for name in sorted(raw_tables(ctx)):
        columns = [c for c, kind in policy.table(name).tokenized().items() if kind == KIND]
        for column in columns:
            deleted[f"raw/{name}"] = deleted.get(f"raw/{name}", 0) + _delete(
                ctx, f"raw/{name}", column, client_id.strip()
            )
            if name in stage_tables:
                deleted[f"stage/{name}"] = deleted.get(f"stage/{name}", 0) + _delete(
                    ctx, f"stage/{name}", column, token
                )
    touched = ", ".join(f"{t} {n}" for t, n in deleted.items() if n)
    vault.shred(token, KIND, touched, sum(deleted.values()))
    return Erasure(token, deleted)
