"""Ingest a file feed: for each table, each new delivery, read -> type -> split -> write.

Deliveries are loaded oldest first, each in its own commits, and a file whose checksum the
ledger already holds for that table is not read again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame

from jobs.ingest import ledger, readers
from jobs.ingest.landed import LandedFile, deliveries, landed_files
from jobs.ingest.load import load_table
from jobs.ingest.sources import FeedSpec, TableSpec
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.zones import Zone

Refine = Callable[[DataFrame], DataFrame]


def read(ctx: RunContext, table: TableSpec, files: list[LandedFile]) -> readers.Parsed:
    spark = ctx.spark
    if table.reader == "jsonl":
        return readers.read_jsonl(spark, table, files)
    if table.reader == "csv":
        return readers.read_csv(spark, table, files)
    if table.reader == "cobol":
        return readers.read_cobol(spark, table, files, ctx.config.conf_dir)
    if table.reader == "geojson":
        return readers.read_geojson(spark, table, files)
    if table.reader == "plt":
        return readers.read_plt(spark, table, files)
    raise ValueError(f"{table.source_file}: {table.name}: reader {table.reader} reads no files")


def merge_results(table: TableSpec, results: list[JobResult], skipped: int) -> JobResult:
    rules: dict[str, int] = {}
    for r in results:
        for rule, n in r.rules:
            rules[rule] = rules.get(rule, 0) + n
    return JobResult(
        table.name,
        rows_read=sum(r.rows_read for r in results),
        rows_written=sum(r.rows_written for r in results),
        rows_quarantined=sum(r.rows_quarantined for r in results),
        feed=table.feed,
        files=sum(r.files for r in results),
        skipped_files=skipped,
        rules=tuple(sorted(rules.items())),
    )


def ingest_table(
    ctx: RunContext, table: TableSpec, folder: str | None = None, refine: Refine | None = None
) -> JobResult:
    """Load every delivery of `table` up to the run date that the ledger has not seen."""
    landing = Path(ctx.zone_path(Zone.LANDING))
    done = ledger.ingested_checksums(ctx, table.name)
    results, skipped = [], 0
    for delivery in deliveries(landing, folder or table.feed, ctx.run_date):
        files = landed_files(delivery, table.files, ctx.config.gzip_limits)
        new = [f for f in files if f.checksum not in done]
        skipped += len(files) - len(new)
        if not new:
            continue
        entries = [
            ledger.LedgerEntry(table.feed, table.name, f.relative, f.checksum, 0) for f in new
        ]
        results.append(load_table(ctx, table, read(ctx, table, new), entries, refine))
        done.update(f.checksum for f in new)
    return merge_results(table, results, skipped)


def ingest_feed(
    ctx: RunContext, feed: FeedSpec, refine: dict[str, Refine] | None = None
) -> list[JobResult]:
    refine = refine or {}
    return [ingest_table(ctx, t, feed.name, refine.get(t.name)) for t in feed.tables]
