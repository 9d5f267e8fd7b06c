"""What the `leakscan` and `vault` commands do, apart from argument parsing (jobs/cli.py)."""

from __future__ import annotations

import getpass
from datetime import date

from pyspark.sql import SparkSession
from rich.table import Table

from jobs.errors import OfferlakeError
from jobs.privacy.leakscan import Hit, scan
from jobs.privacy.policy import load_policy
from jobs.privacy.vault import Vault
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.locks import SHARED
from jobs.runtime.zones import Side


class LeakFoundError(OfferlakeError):
    """The leak scanner found personal data in the lake."""


def onprem_context(config: LakeConfig, spark: SparkSession | None = None) -> RunContext:
    return RunContext(config, Side.ONPREM, date.today(), _spark=spark)


def leakscan(config: LakeConfig, spark: SparkSession | None = None) -> tuple[Table, list[Hit]]:
    """Scan every lake table; the table lists hits (counts only, never a value)."""
    ctx = onprem_context(config, spark)
    hits, scanned = scan(ctx, load_policy(config.conf_dir))
    table = Table(title=f"leak scan: {scanned} lake tables, {len(hits)} hits")
    for column in ("lake table", "column", "matches", "values"):
        table.add_column(column, justify="right" if column == "values" else "left")
    for hit in hits:
        table.add_row(hit.table, hit.column, hit.found, f"{hit.values:,}")
    return table, hits


def raise_on_hits(hits: list[Hit]) -> None:
    if hits:
        places = sorted({f"{h.table}.{h.column}" for h in hits})
        raise LeakFoundError(
            f"leak scan: personal data found in {len(places)} lake column(s): {', '.join(places)}"
        )


def detokenize(config: LakeConfig, token: str, purpose: str) -> str:
    """The clear value of a token, for an operator on-prem; audit-logged under the OS user."""
    ctx = onprem_context(config)
    policy = load_policy(config.conf_dir)
    with Vault.open(ctx, policy, job=f"operator:{getpass.getuser()}", lock=SHARED) as vault:
        return vault.detokenize(token, purpose)


def erase(config: LakeConfig, client_ids: list[str]) -> Table:
    from jobs.privacy.erasure import erase_clients

    ctx = onprem_context(config)
    erasure = erase_clients(ctx, load_policy(config.conf_dir), client_ids)
    linked = ", ".join(f"{n} {kind}" for kind, n in sorted(erasure.linked.items())) or "none"
    who = (
        f"customer {erasure.token}"
        if len(erasure.tokens) == 1
        else f"{len(erasure.tokens):,} customers"
    )
    finished = (
        f"; {erasure.resumed} interrupted erasure(s) finished first" if erasure.resumed else ""
    )
    table = Table(
        title=f"erased {who}: data keys destroyed, contacts deleted",
        caption=f"erased with them: {linked}{finished}",
    )
    table.add_column("table")
    table.add_column("rows deleted", justify="right")
    for name, rows in erasure.rows_deleted.items():
        table.add_row(name, f"{rows:,}")
    return table


def rotate(config: LakeConfig) -> str:
    ctx = onprem_context(config)
    with Vault.open(ctx, load_policy(config.conf_dir), job=f"operator:{getpass.getuser()}") as v:
        old, new, count = v.rotate()
    return f"key-encryption key {old} retired; {count:,} data keys re-wrapped under {new}"
