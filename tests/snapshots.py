"""What a lake holds, in a form two lakes can be compared by: every Delta table (read by DuckDB's
delta_scan, no Spark) as a multiset of rows without processing stamps, the handoff files' rows,
the outbox's messages, the erasure plans left, and the vault as what it opens to.

Tokens are random per vault (`mint`), so two lakes gated apart hold different tokens for the
same values; with the same index key they hold the same blind indexes. `token_canon` maps each
token of a lake to `<kind>:<blind index>`, and a snapshot taken with it compares across lakes.
Differences are reported as table names and row counts, never rows (raw holds personal data).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import duckdb
from duckdb_extensions import import_extension

# columns that say when or in which run a row was processed, not what it holds: a re-run of a
# date stamps its own (lineage `_*`, the checks' and the ledger's clocks, run ids)
PROCESSING_STAMPS = {
    "checked_at",
    "handled_at",
    "ingested_at",
    "run_id",
    "created_run",
    "updated_run",
}
# append-only logs (the vault's audit, the model's quality results): a re-run adds its own
# rows, so they compare as sets
LOGS = {"onprem/vault/audit", "lake/analytics/data_quality"}
# the vault's tables: compared by what they open to (`vault_contents`), not by their bytes
# (data keys and values are sealed with random nonces)
VAULT = "onprem/vault/"


def _duckdb() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    import_extension("delta", con=con)
    con.execute("LOAD delta")
    return con


def delta_tables(root: Path) -> list[str]:
    """The Delta tables under root, as paths relative to it."""
    found = []

    def walk(folder: Path) -> None:
        if (folder / "_delta_log").is_dir():
            found.append(str(folder.relative_to(root)))
            return
        for child in sorted(p for p in folder.iterdir() if p.is_dir()):
            walk(child)

    if root.is_dir():
        walk(root)
    return found


def token_canon(root: Path) -> dict[str, str]:
    """token -> `<kind>:<blind index>` from the lake's own token map (empty without a vault)."""
    path = root / "onprem" / "vault" / "token_map"
    if not (path / "_delta_log").is_dir():
        return {}
    con = _duckdb()
    rows = con.execute(f"select token, kind, blind_index from delta_scan('{path}')").fetchall()
    return {token: f"{kind}:{index}" for token, kind, index in rows}


def _canonical(value, canon: dict[str, str]):
    if isinstance(value, str):
        return canon.get(value, value)
    if isinstance(value, bytes | bytearray):
        return hashlib.sha256(value).hexdigest()
    return value


def _rows(con, query: str, canon: dict[str, str]) -> Counter:
    cursor = con.execute(query)
    columns = [d[0] for d in cursor.description]
    stamps = PROCESSING_STAMPS
    kept = [i for i, c in enumerate(columns) if not c.startswith("_") and c not in stamps]
    return Counter(
        repr(tuple(_canonical(row[i], canon) for i in kept)) for row in cursor.fetchall()
    )


def snapshot(root: Path, canon: dict[str, str] | None = None) -> dict[str, Counter]:
    """Every Delta table of the lake but the vault's, the handoffs, the outbox and the erasure
    plans in progress, each a Counter of rows (or of lines)."""
    canon = canon or {}
    con = _duckdb()
    out: dict[str, Counter] = {}
    for table in delta_tables(root):
        if table.startswith(VAULT):
            continue
        rows = _rows(con, f"select * from delta_scan('{root / table}')", canon)
        out[table] = Counter(set(rows)) if table in LOGS else rows
    for folder in sorted((root / "lake" / "handoff").glob("*/")):
        parts = sorted(folder.glob("part-*.parquet"))
        published = (folder / "_manifest.json").exists()
        query = f"select * from read_parquet({[str(p) for p in parts]})"
        rows = _rows(con, query, canon) if parts else Counter()
        out[f"handoff/{folder.name}"] = rows + Counter({f"published={published}": 1})
    for outbox in sorted((root / "onprem" / "delivery" / "outbox").glob("*.jsonl")):
        out[f"outbox/{outbox.name}"] = Counter(outbox.read_text().splitlines())
    plans = sorted(p.name for p in (root / "onprem" / "erasure").glob("*.json"))
    out["erasure plans"] = Counter(plans)
    return out


def duplicate_messages(root: Path) -> int:
    """Messages in the outbox more than once (by message id): each is a message sent twice."""
    ids = Counter(
        json.loads(line)["message_id"]
        for outbox in (root / "onprem" / "delivery" / "outbox").glob("*.jsonl")
        for line in outbox.read_text().splitlines()
        if line.strip()
    )
    return sum(n - 1 for n in ids.values() if n > 1)


def differences(got: dict[str, Counter], want: dict[str, Counter]) -> list[str]:
    """Per differing table: its name and how many rows each side has that the other lacks."""
    out = []
    for name in sorted(set(got) | set(want)):
        if name not in got:
            out.append(f"{name}: missing")
        elif name not in want:
            out.append(f"{name}: unexpected")
        elif got[name] != want[name]:
            extra, lost = got[name] - want[name], want[name] - got[name]
            out.append(f"{name}: {sum(extra.values())} extra, {sum(lost.values())} lost")
    return out


def vault_contents(lake, canon: dict[str, str]) -> dict[str, object]:
    """What the vault opens to, digested: every token's clear value and every contact (sha256),
    which data keys are destroyed, and how many keys of each purpose are active. A data key
    lost or wrapped under a key that is gone fails here (a value that no longer opens)."""
    from pyspark.sql import functions as F

    from jobs.privacy.policy import load_policy
    from jobs.privacy.vault import Vault
    from jobs.runtime.locks import SHARED

    def digest(value: str) -> str:
        return hashlib.sha256(value.encode()).hexdigest()

    ctx = lake.context()
    with Vault.open(ctx, load_policy(ctx.config.conf_dir), "kill-test", lock=SHARED) as vault:
        store = vault.store
        token_map = store.read("token_map")
        sealed = token_map.where(F.col("value_ct").isNotNull()).count()
        opened = vault.open_tokens(token_map.select("token")).collect()
        contacts = store.read("contacts")
        opened_contacts = vault.open_contacts(contacts.select("owner", "field")).collect()
        keys = store.read("keys").where("retired_at IS NULL").groupBy("purpose").count().collect()
        data_keys = store.read("data_keys").collect()
        active_kek = {r.key_id for r in store.read("keys").where("retired_at IS NULL").collect()}
    return {
        "tokens": {canon.get(r.token, r.token): digest(r.value) for r in opened},
        "tokens that no longer open": sealed - len(opened),
        "contacts": {
            (canon.get(r.owner, r.owner), r.field): digest(r.value) for r in opened_contacts
        },
        "contacts that no longer open": contacts.count() - len(opened_contacts),
        "destroyed data keys": sorted(
            canon.get(r.owner, r.owner) for r in data_keys if r.wrapped is None
        ),
        "data keys under a retired key": sum(
            1 for r in data_keys if r.wrapped is not None and r.kek_id not in active_kek
        ),
        "active keys": sorted((r.purpose, r["count"]) for r in keys),
    }
