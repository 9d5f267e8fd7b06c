"""Purges an erasure leaves for later: VACUUM of the lake tables whose files held erased rows.

VACUUM at 0 hours deletes every file the table's current version does not name, including a file
another job has just written and not yet committed; that job's commit would then name a file that
is gone. So an erasure vacuums at once only the tables whose every writer holds the vault's lock:
raw and quarantine (ingest, shared), stage (the gate, alone). Lake-side jobs (model, match,
geofence, effectiveness) write analytics tables without it: they cannot reach on-prem.

For those tables the erasure deletes the rows at once and queues the VACUUM here
(`onprem/erasure/purges.queue`). It runs once `erasure.lake_purge_after_hours` (conf/privacy.yaml,
longer than any job runs) have passed, with that retention: the files the erasure removed are
older than that by then, and no job's uncommitted file is. Due purges run at the start of every
privacy gate and `vault erase`, under the vault's exclusive lock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs.privacy.vault_store import vacuum
from jobs.runtime import delta_io
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Zone

QUEUE = "purges.queue"


def _path(ctx: RunContext) -> Path:
    return Path(ctx.zone_path(Zone.ERASURE)) / QUEUE


def queued(ctx: RunContext) -> dict[str, str]:
    """Table path -> when its purge is due (ISO time, UTC)."""
    path = _path(ctx)
    return json.loads(path.read_text()) if path.exists() else {}


def _save(ctx: RunContext, entries: dict[str, str]) -> None:
    path = _path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{QUEUE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(entries, out, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def schedule(ctx: RunContext, tables: Sequence[str], hours: float) -> None:
    """Queue these tables' VACUUM for `hours` from now (a later erasure pushes it later)."""
    if not tables:
        return
    due = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    entries = queued(ctx)
    for table in tables:
        entries[table] = max(entries.get(table, due), due)
    _save(ctx, entries)


def run_due(ctx: RunContext, hours: float, now: datetime | None = None) -> list[str]:
    """VACUUM, with `hours` of retention, every queued table whose purge is due; the tables."""
    now = now or datetime.now(UTC)
    entries = queued(ctx)
    due = sorted(t for t, at in entries.items() if datetime.fromisoformat(at) <= now)
    if not due:
        return []
    vacuum(ctx.spark, [t for t in due if delta_io.is_delta(ctx.spark, t)], hours)
    for table in due:
        del entries[table]
    _save(ctx, entries)
    return due
