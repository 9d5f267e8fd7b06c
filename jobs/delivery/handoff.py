"""Stage `handoff` (lake side): D's deliverable offers, holdouts left out, exported for on-prem
pickup to `lake/handoff/<run>/` as Parquet with a manifest (jobs/delivery/manifest.py).

The files are written to a hidden `.<run>.partial` folder first, described in the manifest,
then moved into `<run>/` with the manifest moved last: a reader that finds the manifest finds
every file it names. A re-run for D replaces D's handoff whole (the rows come sorted, so the
same offers give the same files).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from jobs.delivery import manifest
from jobs.match.run import DELIVERABLE, run_id_of
from jobs.runtime import delta_io
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.faults import kill_point
from jobs.runtime.storage import filesystem
from jobs.runtime.zones import Zone

TEXT = ["run_id", "client_id", "campaign", "variant", "channel", "parameters"]
SCHEMA = StructType(
    [StructField(c, StringType()) for c in TEXT]
    + [StructField(c, TimestampType()) for c in ("send_at", "expires_at")]
    + [StructField(c, StringType()) for c in ("topic", "ally_id")]
)


def offers(deliverable: DataFrame, run_id: str) -> DataFrame:
    """The run's offers to send: holdouts are recorded in the lake and never handed off."""
    rows = deliverable.where((F.col("run_id") == F.lit(run_id)) & ~F.col("holdout"))
    return rows.select(*[F.col(f.name).cast(f.dataType) for f in SCHEMA.fields]).orderBy(
        "client_id", "campaign", "channel"
    )


def _publish(staging: str, final: str) -> None:
    """Move staging's files into final (emptied first), the manifest last; drop staging."""
    fs, source = filesystem(staging)
    _, target = filesystem(final)
    fs.delete_dir_contents(target, missing_dir_ok=True)
    kill_point("handoff:emptied")
    fs.create_dir(target)
    names = [n for n in manifest.list_files(fs, source) if n != manifest.MANIFEST]
    for name in [*names, manifest.MANIFEST]:
        fs.move(f"{source}/{name}", f"{target}/{name}")
        kill_point("handoff:moved")
    fs.delete_dir(source)


def export(ctx: RunContext, rows: DataFrame, run_id: str) -> manifest.Manifest:
    root = ctx.zone_path(Zone.HANDOFF)
    staging, final = f"{root}/.{run_id}.partial", f"{root}/{run_id}"
    fs, path = filesystem(staging)
    fs.delete_dir_contents(path, missing_dir_ok=True)
    rows.write.mode("overwrite").parquet(staging)
    for name in manifest.list_files(fs, path):  # Spark's _SUCCESS and .crc side files
        if not (name.startswith("part-") and name.endswith(".parquet")):
            fs.delete_file(f"{path}/{name}")
    written = manifest.write(staging, run_id)
    kill_point("handoff:staged")
    _publish(staging, final)
    return written


def run(ctx: RunContext) -> list[JobResult]:
    run_id = run_id_of(ctx.run_date)
    ref = f"handoff/{run_id}"
    source = ctx.path(DELIVERABLE)
    if not delta_io.is_delta(ctx.spark, source):
        return [JobResult(ref, 0, 0, feed="handoff", notes=("no deliverable_offers yet",))]
    deliverable = ctx.read(DELIVERABLE)
    written = export(ctx, offers(deliverable, run_id), run_id)
    held = deliverable.where((F.col("run_id") == F.lit(run_id)) & F.col("holdout")).count()
    return [
        JobResult(
            ref,
            written.rows + held,
            written.rows,
            rows_withheld=held,
            feed="handoff",
            notes=(f"{len(written.files)} file(s) + {manifest.MANIFEST}", f"holdouts kept: {held}"),
        )
    ]
