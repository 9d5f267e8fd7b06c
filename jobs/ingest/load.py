"""Parsed records -> typed rows in raw, rejects in quarantine, counts that reconcile.

For one table and one delivery: type the fields, mark duplicates of a key, split good from
bad, MERGE the rejects into `quarantine/<table>` and the good rows into `raw/<table>` (each one
Delta commit: all of a delivery's rows or none), then record the files in the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.errors import ConfigError
from jobs.ingest import erased, ledger
from jobs.ingest.checks import check_delivery
from jobs.ingest.fields import apply_fields
from jobs.ingest.landed import UnreadableFileError
from jobs.ingest.readers import Parsed
from jobs.ingest.sources import TableSpec
from jobs.runtime import delta_io, quarantine
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.lineage import STATS_LINEAGE, with_lineage

log = logging.getLogger(__name__)


class SchemaChangeError(ConfigError):
    """A source field's type differs from its raw table's column: a migration, not a load."""


def check_schema(ctx: RunContext, table: TableSpec, good: DataFrame, path: str) -> bool:
    """True when the feed brings fields the raw table lacks (a field added to conf/sources:
    the table grows, its older rows hold null). A field whose type changed raises, naming it."""
    if not delta_io.is_delta(ctx.spark, path):
        return False
    held = {f.name: f.dataType for f in delta_io.read_delta(ctx.spark, path).schema}
    for field in good.schema:
        if field.name in held and held[field.name].simpleString() != field.dataType.simpleString():
            raise SchemaChangeError(
                f"{table.source_file}: {table.name}.{field.name} is "
                f"{field.dataType.simpleString()} in the feed but "
                f"{held[field.name].simpleString()} in raw/{table.name}; changing a type needs "
                "a migration of the raw table (a new field is added on its own)"
            )
    added = [f.name for f in good.schema if f.name not in held]
    if added:
        log.warning("raw/%s: new field(s) %s added; older rows hold null", table.name, added)
    return bool(added)


def mark_duplicates(df: DataFrame, keys: Sequence[str]) -> DataFrame:
    """Rows that repeat the key of an earlier good row (file order) become `duplicate_key`."""
    good = F.col("_rule").isNull()
    in_order = Window.partitionBy(good, *keys).orderBy("_source_file", "_n", "_record")
    later = good & (F.row_number().over(in_order) > 1)
    first = F.first("_record").over(in_order)
    key_names = ", ".join(keys)
    return df.withColumn(
        "_reason",
        F.when(
            later,
            F.concat(
                F.lit(f"duplicate key ({key_names}) of "), first, F.lit(" (the first is kept)")
            ),
        ).otherwise(F.col("_reason")),
    ).withColumn("_rule", F.when(later, F.lit("duplicate_key")).otherwise(F.col("_rule")))


def rule_counts(df: DataFrame) -> dict[str | None, int]:
    return {r["_rule"]: r["count"] for r in df.groupBy("_rule").count().collect()}


def load_table(
    ctx: RunContext,
    table: TableSpec,
    parsed: Parsed,
    entries: Sequence[ledger.LedgerEntry],
    refine: Callable[[DataFrame], DataFrame] | None = None,
) -> JobResult:
    """Write one delivery of one table; `entries` are the ledger rows to record once it is in.

    `refine` is a feed's own step on the typed rows (e.g. geometry checks) before the split;
    the columns it adds become columns of the table.
    """
    columns = table.columns
    counts: dict[str | None, int] = {}
    for row in parsed.file_rows:
        counts[row[4]] = counts.get(row[4], 0) + 1
    typed = None
    if parsed.df is not None:
        typed = apply_fields(parsed.df, table)
        if refine is not None:
            before = set(typed.columns)
            typed = refine(typed)
            columns += [c for c in typed.columns if c not in before and not c.startswith("_")]
        typed = mark_duplicates(erased.mark(ctx, table.name, typed), table.keys)
        # keep what the two writes need: the source text only for rows that go to quarantine,
        # and not even that of an erased customer's row
        kept = F.col("_rule").isNotNull() & (F.col("_rule") != erased.RULE)
        typed = typed.select(
            *columns,
            "_source_file",
            "_record",
            F.when(kept, F.col("_original")).alias("_original"),
            "_encoding",
            "_rule",
            "_reason",
        ).persist(StorageLevel.MEMORY_AND_DISK)
        for rule, n in rule_counts(typed).items():
            counts[rule] = counts.get(rule, 0) + n
        if counts.get("unknown_column") and table.on_unknown_column == "fail":
            first = typed.filter(F.col("_rule") == "unknown_column").first()
            typed.unpersist()
            raise UnreadableFileError(
                f"{first._source_file} {first._record}: {first._reason} "
                f"(on_unknown_column: fail in {table.source_file})"
            )
    written = counts.pop(None, 0)
    rejected = sum(counts.values())
    if typed is not None and written and table.expectations:
        try:
            check_delivery(
                typed.filter(F.col("_rule").isNull()).select(*columns),
                table,
                ", ".join(e.source for e in entries),
            )
        except Exception:
            typed.unpersist()
            raise
    try:
        if rejected:
            frames = []
            if typed is not None:
                frames.append(
                    quarantine.quarantine_frame(
                        typed.filter(F.col("_rule").isNotNull()), ctx.run_id
                    )
                )
            if parsed.file_rows:
                frames.append(quarantine.file_rows_frame(ctx.spark, parsed.file_rows, ctx.run_id))
            bad = frames[0] if len(frames) == 1 else frames[0].unionByName(frames[1])
            delta_io.merge_delta(
                bad,
                ctx.path(f"quarantine/{table.name}"),
                quarantine.KEYS,
                changed="reason",
                stats_columns=quarantine.STATS_COLUMNS,
            )
        if typed is not None and written:
            good = with_lineage(typed.filter(F.col("_rule").isNull()), columns, ctx.run_id)
            path = ctx.path(f"raw/{table.name}")
            delta_io.merge_delta(
                good,
                path,
                table.keys,
                partition_by=table.partition_by,
                changed="_row_hash",
                evolve=check_schema(ctx, table, good, path),
                stats_columns=STATS_LINEAGE,
            )
    finally:
        if typed is not None:
            typed.unpersist()
    read = written + rejected
    ledger.record(
        ctx,
        [
            replace(e, rows_read=read, rows_written=written, rows_quarantined=rejected)
            for e in entries
        ],
    )
    return JobResult(
        table.name,
        rows_read=read,
        rows_written=written,
        rows_quarantined=rejected,
        feed=table.feed,
        files=len(entries),
        rules=tuple(sorted((str(k), v) for k, v in counts.items())),
    )
