"""Benchmark: `vault erase` of 1 customer, then of N customers in one plan (`--client-ids-file`).

    .venv/bin/python -m bench.erase [--lake lakehouse] [--many 1000]

LAKE is a lake the pipeline has run on (e.g. `make demo`'s `lakehouse/`: raw, stage, analytics,
vault). Each erasure runs on its own copy of it, in the same process and Spark session, with the
same code path as the CLI (`jobs.privacy.erasure.erase_clients`); the timer covers planning,
every delete, the vacuums, the shredding and the records. Both copies are checked afterwards:
none of the erased customers' clear ids is left in raw/crm_clients. Prints a table and writes
bench/results/erase.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from jobs.privacy.erasure import erase_clients
from jobs.privacy.policy import load_policy
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.spark import build_spark
from jobs.runtime.zones import Side

RESULTS = Path(__file__).parent / "results"


def _erase(lake: Path, scratch: Path, spark, ids: list[str]) -> dict:
    copy = scratch / f"lake-{len(ids)}"
    shutil.copytree(lake, copy)
    config = LakeConfig.load(lake=str(copy))
    ctx = RunContext(config, Side.ONPREM, date.today(), _spark=spark)
    started = time.perf_counter()
    erasure = erase_clients(ctx, load_policy(config.conf_dir), ids)
    seconds = time.perf_counter() - started
    raw = spark.read.format("delta").load(str(copy / "onprem" / "raw" / "crm_clients"))
    left = raw.where(F.col("client_id").cast("string").isin(*ids)).count()
    shutil.rmtree(copy)
    return {
        "customers": len(ids),
        "seconds": round(seconds, 1),
        "rows_deleted": sum(erasure.rows_deleted.values()),
        "left_in_raw": left,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=Path("lakehouse"))
    parser.add_argument("--many", type=int, default=1000)
    args = parser.parse_args()
    config = LakeConfig.load(lake=str(args.lake.resolve()))
    spark = build_spark(config)
    raw = spark.read.format("delta").load(str(args.lake / "onprem" / "raw" / "crm_clients"))
    ids = [str(r.client_id) for r in raw.orderBy("client_id").select("client_id").collect()]
    if len(ids) < args.many + 1:
        raise SystemExit(f"{args.lake} holds {len(ids)} customers; --many {args.many} needs more")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as scratch:
        one = _erase(args.lake.resolve(), Path(scratch), spark, ids[:1])
        many = _erase(args.lake.resolve(), Path(scratch), spark, ids[1 : args.many + 1])
    table = Table(title=f"vault erase on {args.lake} ({len(ids):,} customers)")
    for header in ("customers", "seconds", "rows deleted", "left in raw"):
        table.add_column(header, justify="right")
    for r in (one, many):
        table.add_row(*(f"{v:,}" for v in r.values()))
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "erase.json"
    out.write_text(json.dumps({"lake_customers": len(ids), "runs": [one, many]}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
