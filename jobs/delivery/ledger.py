"""The sent ledger: one row per (run, token, campaign, channel) that delivery has handled,
so re-running delivery sends nothing twice.

A row's status is final (sent, failed, erased, expired, invalid, refused: never handled again)
or not yet (retrying: a transient failure, tried again from `next_attempt_at`; unreachable: the
vault held no contact, looked up again on later runs until the offer expires).

Each outcome is first appended to a journal (`onprem/delivery/journal/<run>.jsonl`, flushed
and fsync'd per message) and folded into the Delta ledger (`onprem/delivery/ledger`) at the
end of the run, or at the start of the next one after a crash. So a crash at any point loses
no record of a message that was sent: the next run folds the journal first and skips what it
holds. (A crash between an adapter's send and its journal line re-sends that one message on
the next run; the outbox adapter drops it as already written, SNS and SES cannot.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.delivery import lines
from jobs.runtime import delta_io
from jobs.runtime.faults import commit_point, kill_point

KEYS = ["run_id", "client_id", "campaign", "channel"]
SCHEMA = (
    "run_id string, client_id string, campaign string, variant string, channel string, "
    "ally_id string, send_at timestamp, status string, attempts int, message_id string, "
    "provider_id string, reason string, handled_at timestamp, next_attempt_at timestamp"
)
COLUMNS = [c.split()[0] for c in SCHEMA.split(", ")]
SENT, FAILED, ERASED, UNREACHABLE = "sent", "failed", "erased", "unreachable"
EXPIRED, INVALID, RETRYING = "expired", "invalid", "retrying"
REFUSED = "refused"  # the on-prem re-check (jobs/delivery/recheck.py) found it not allowed
FINAL = (SENT, FAILED, ERASED, EXPIRED, INVALID, REFUSED)
STATUSES = (*FINAL, RETRYING, UNREACHABLE)
TIMES = ("send_at", "handled_at", "next_attempt_at")


class Ledger:
    def __init__(self, spark: SparkSession, path: str, journal_dir: Path, run_id: str) -> None:
        self.spark = spark
        self.path = path
        self.run_id = run_id
        journal_dir.mkdir(parents=True, exist_ok=True)
        self.journal = journal_dir / f"{run_id}.jsonl"
        self._file = None

    def read(self) -> DataFrame:
        if not delta_io.is_delta(self.spark, self.path):
            return self.spark.createDataFrame([], SCHEMA)
        rows = delta_io.read_delta(self.spark, self.path).where(F.col("run_id") == self.run_id)
        if "next_attempt_at" not in rows.columns:  # a ledger from before retries across runs
            rows = rows.withColumn("next_attempt_at", F.lit(None).cast("timestamp"))
        return rows

    def record(self, row: dict) -> None:
        """Journal one outcome durably (before the next message is sent)."""
        if self._file is None:
            self._file = lines.open_append(self.journal)
        body = {**row, "handled_at": datetime.now(UTC).replace(tzinfo=None)}
        lines.write_line(self._file, json.dumps({c: body.get(c) for c in COLUMNS}, default=str))
        kill_point("deliver:journaled")

    def _journaled(self) -> list[tuple]:
        rows = []
        for line in self.journal.read_text().splitlines():
            try:
                body = json.loads(line)
            except ValueError:
                continue  # the last line, torn by a crash: that message is handled again
            for c in TIMES:
                body[c] = datetime.fromisoformat(body[c]) if body.get(c) else None
            rows.append(tuple(body.get(c) for c in COLUMNS))
        return rows

    def fold(self) -> int:
        """Move the journal's outcomes into the Delta ledger, then drop the journal.

        The newest outcome of a key replaces a row that is not final yet; a final row is kept.
        Safe to repeat, and only ever done by the holder of the handoff's lease."""
        self.close()
        if not self.journal.exists():
            return 0
        rows = self._journaled()
        if rows:
            frame = self.spark.createDataFrame(rows, SCHEMA)
            newest = Window.partitionBy(*KEYS).orderBy(F.col("handled_at").desc())
            frame = frame.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")
            _merge(frame, self.path)
        self.journal.unlink()
        return len(rows)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@delta_io.on_conflict
def _merge(frame: DataFrame, path: str) -> None:
    spark = frame.sparkSession
    if not delta_io.is_delta(spark, path):
        delta_io.write_delta(frame, path, mode="overwrite", partition_by=["run_id"])
        return
    condition = " AND ".join(f"t.`{k}` = s.`{k}`" for k in KEYS)
    final = ", ".join(f"'{s}'" for s in FINAL)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(frame.alias("s"), condition)
        .withSchemaEvolution()  # ledgers written before `next_attempt_at` gain the column
        .whenMatchedUpdateAll(condition=f"t.status NOT IN ({final})")
        .whenNotMatchedInsertAll()
        .execute()
    )
    commit_point(path)
