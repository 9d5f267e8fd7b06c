"""Stage `catalog` (lake side): every stage and analytics Delta table registered in the Glue
Data Catalog for Athena (conf/catalog.yaml `glue.register`) and written as Trino DDL to
`<lake_root>/lake/catalog/trino.sql`. A re-run gives the same catalog and the same file."""

from __future__ import annotations

from jobs.catalog import glue, trino
from jobs.catalog.settings import load
from jobs.catalog.tables import lake_tables
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.storage import filesystem
from jobs.runtime.zones import Zone

TRINO_FILE = "trino.sql"


def write_text(folder: str, name: str, text: str) -> str:
    """Write one small text file whole (local folder or s3a://): a temporary name, then moved."""
    fs, path = filesystem(folder)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/.{name}.tmp") as out:
        out.write(text.encode())
    fs.move(f"{path}/.{name}.tmp", f"{path}/{name}")
    return f"{folder}/{name}"


def run(ctx: RunContext) -> list[JobResult]:
    settings = load(ctx.config.conf_dir)
    tables = lake_tables(ctx)
    n = len(tables)
    where = write_text(ctx.zone_path(Zone.CATALOG), TRINO_FILE, trino.ddl(tables, settings))
    results = [JobResult("catalog/trino.sql", n, n, feed="catalog", notes=(where,))]
    if settings.registers_in_glue(ctx.config.lake_root):
        counts = glue.register(tables, settings)
        done = ", ".join(f"{k} {v}" for k, v in counts.items())
        results.append(JobResult("catalog/glue", n, n, feed="catalog", notes=(done,)))
    else:
        note = f"glue: not registered (register: {settings.glue.when}, lake not on S3)"
        skipped = JobResult("catalog/glue", n, 0, rows_withheld=n, feed="catalog", notes=(note,))
        results.append(skipped)
    return results
