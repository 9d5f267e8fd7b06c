"""The ingest ledger: which landed files (by checksum) and JDBC ranges each table has taken in.

A delivery is recorded only after its rows are committed to raw and quarantine, so a run that
crashes before that leaves no entry and the next run loads the delivery again (the MERGEs make
that a no-op for rows already in). An ingest run records its entries in one Delta commit at its
end (`batched`), not one per table: a crash before that commit only means more deliveries to
load again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from pyspark.sql import functions as F

from jobs.runtime import delta_io
from jobs.runtime.context import RunContext

LEDGER = "raw/_ingest_ledger"


@dataclass(frozen=True)
class LedgerEntry:
    feed: str
    table: str
    source: str  # landed file ("crm/2026-01-30/crm_clients.jsonl") or JDBC table
    checksum: str  # sha256 of the file, or "" for JDBC
    watermark: int  # highest key taken from a JDBC source, else 0
    rows_read: int = 0  # of the load that took the source in (all its files together)
    rows_written: int = 0
    rows_quarantined: int = 0


_seen: dict[tuple[str, str], list[tuple[str, str, str, int]]] = {}
_lock = threading.Lock()  # feeds ingest in threads: one ledger write (or first read) at a time
_pending: dict[str, list[LedgerEntry]] = {}  # run id -> entries `batched` commits at its end


def _entries(ctx: RunContext) -> list[tuple[str, str, str, int]]:
    """(table, source, checksum, watermark) of every entry, read once per run.

    One row per landed file or JDBC load: it grows with deliveries, not with data rows.
    """
    key = (ctx.path(LEDGER), ctx.run_id)
    with _lock:
        return _load(ctx, key)


def _load(ctx: RunContext, key: tuple[str, str]) -> list[tuple[str, str, str, int]]:
    if key not in _seen:
        rows = []
        if delta_io.is_delta(ctx.spark, key[0]):
            frame = ctx.read(LEDGER).select("table", "source", "checksum", "watermark")
            rows = [tuple(r) for r in frame.collect()]
        _seen[key] = rows
    return _seen[key]


def ingested_checksums(ctx: RunContext, table: str) -> set[str]:
    return {checksum for t, _, checksum, _ in _entries(ctx) if t == table}


def watermark(ctx: RunContext, table: str, source: str) -> int:
    """The highest JDBC key already ingested into `table` from `source` (0 if none)."""
    return max((w for t, s, _, w in _entries(ctx) if t == table and s == source), default=0)


def record(ctx: RunContext, entries: Sequence[LedgerEntry]) -> None:
    """Append entries (only sources not yet in the ledger are ever loaded, so no MERGE); inside
    `batched`, they wait for its one commit (this run already sees them)."""
    if not entries:
        return
    with _lock:
        _load(ctx, (ctx.path(LEDGER), ctx.run_id)).extend(
            (e.table, e.source, e.checksum, e.watermark) for e in entries
        )
        if ctx.run_id in _pending:
            _pending[ctx.run_id].extend(entries)
        else:
            _append(ctx, entries)


@contextmanager
def batched(ctx: RunContext) -> Iterator[None]:
    """Entries recorded inside go to the ledger in one Delta commit on the way out, also when
    the body failed (their rows are committed, so they are recorded)."""
    with _lock:
        _pending[ctx.run_id] = []
    try:
        yield
    finally:
        with _lock:
            entries = _pending.pop(ctx.run_id)
            if entries:
                _append(ctx, entries)


def _append(ctx: RunContext, entries: Sequence[LedgerEntry]) -> None:
    frame = ctx.spark.createDataFrame([asdict(e) for e in entries]).select(
        *LedgerEntry.__dataclass_fields__,
        F.lit(ctx.run_id).alias("run_id"),
        F.current_timestamp().alias("ingested_at"),
    )
    delta_io.write_delta(frame, ctx.path(LEDGER), mode="append")
