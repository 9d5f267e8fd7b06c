"""RunContext: what every job's run(ctx) gets (run id, date, side, zone-checked table access)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cached_property

from pyspark.sql import DataFrame, SparkSession

from jobs.runtime import delta_io
from jobs.runtime.config import LakeConfig
from jobs.runtime.zones import Side, Zone, check_access, confine, parse_table_ref, zone_root


@dataclass(frozen=True)
class JobResult:
    """What a job reports: the table it wrote and its counts (read = written + quarantined +
    withheld)."""

    table: str
    rows_read: int
    rows_written: int
    rows_quarantined: int = 0
    rows_withheld: int = 0  # left out on purpose (rows of erased customers)
    feed: str = ""
    files: int = 0  # files read this run
    skipped_files: int = 0  # files already ingested (same checksum), not read again
    rules: tuple[tuple[str, int], ...] = ()  # quarantine count per rule
    error: str = ""  # why this feed failed, when it did
    notes: tuple[str, ...] = ()  # figures worth printing with the row (e.g. k-anonymity)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.rows_written + self.rows_quarantined + self.rows_withheld


def new_run_id(run_date: date) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{run_date.isoformat()}_{stamp}_{uuid.uuid4().hex[:6]}"


@dataclass
class RunContext:
    """One job run: the side it runs on decides which zones it may touch.

    >>> ctx = RunContext(config, side=Side.LAKE, run_date=date(2026, 11, 24))
    >>> ctx.read("stage/transactions")        # allowed
    >>> ctx.read("onprem/vault")              # ZoneAccessError: the lake never sees on-prem
    """

    config: LakeConfig
    side: Side
    run_date: date
    run_id: str = ""
    _spark: SparkSession | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.run_id:
            self.run_id = new_run_id(self.run_date)

    @cached_property
    def spark(self) -> SparkSession:
        """The session, started on first use so commands that need no Spark start none."""
        if self._spark is not None:
            return self._spark
        from jobs.runtime.spark import build_spark

        return build_spark(self.config)

    def now(self) -> datetime:
        """The time jobs act on (naive UTC), per conf/lake.yaml `clock`: the real clock, or the
        end of the run's date for a bank whose days are replayed."""
        if self.config.clock == "run_date":
            return datetime.combine(self.run_date, time(23, 59, 59))
        return datetime.now(UTC).replace(tzinfo=None)

    def zone_path(self, zone: Zone) -> str:
        check_access(self.side, zone)
        return confine(self.config, self.side, zone_root(self.config, zone))

    def path(self, ref: str) -> str:
        """`"raw/crm_clients"` -> its storage path, if this side may touch that zone."""
        zone, table = parse_table_ref(ref)
        return confine(self.config, self.side, f"{self.zone_path(zone)}/{table}")

    def read(self, ref: str, version: int | None = None) -> DataFrame:
        return delta_io.read_delta(self.spark, self.path(ref), version=version)

    def write(
        self,
        ref: str,
        df: DataFrame,
        mode: delta_io.WriteMode | str = "overwrite",
        keys: Sequence[str] = (),
        partition_by: Sequence[str] = (),
        replace_where: str | None = None,
        rows_read: int | None = None,
    ) -> JobResult:
        """Write a table by MERGE on keys (mode="merge") or a Delta write mode; return counts.

        The rows written come from the Delta commit's own metrics: the frame is computed once.
        """
        path = self.path(ref)
        if mode == "merge":
            delta_io.merge_delta(df, path, keys)
        else:
            delta_io.write_delta(df, path, mode, partition_by, replace_where)  # type: ignore[arg-type]
        written = delta_io.rows_written(self.spark, path)
        return JobResult(ref, rows_read if rows_read is not None else written, written)
