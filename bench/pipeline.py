"""Benchmark: the whole pipeline (`offerlake pipeline`) on one generated bank, per stage.

    .venv/bin/python -m bench.pipeline [--customers 100000] [--days 365] [--bank DIR]

The bank is generated into DIR (default bench/data/bank-<customers>x<days>) unless DIR already
holds its landing zone; its landing files are copied into a fresh lake, and every stage, then the
leak scan, runs for the bank's delivery date in one Spark session, as `offerlake pipeline` runs
them. Prints seconds, share of the total and peak memory (the whole process tree, JVM included)
per stage, and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.generate import PeakMemory
from jobs.generate.bank import BankSpec, generate_bank
from jobs.pipeline import run_pipeline
from jobs.runtime.config import LakeConfig

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--bank", type=Path)
    parser.add_argument("--lake", type=Path, default=Path("bench/data/pipeline-lake"))
    args = parser.parse_args()
    spec = BankSpec(customers=args.customers, days=args.days, seed=42)
    bank = args.bank or Path(f"bench/data/bank-{args.customers}x{args.days}")
    if not (bank / "onprem" / "landing").is_dir():
        generate_bank(spec, bank, workers=2, progress=True)
    shutil.rmtree(args.lake, ignore_errors=True)
    shutil.copytree(bank / "onprem" / "landing", args.lake / "onprem" / "landing")

    sampler = PeakMemory()
    sampler.start()
    peaks: dict[str, float] = {}

    @contextmanager
    def watch(step: str):
        sampler.peak = 0.0
        yield
        peaks[step] = sampler.peak

    config = LakeConfig.load(lake=str(args.lake.resolve()))
    started = time.perf_counter()
    result = run_pipeline(config, spec.delivery_date, watch)
    total = time.perf_counter() - started  # with the Spark session's start
    sampler.done.set()

    table = Table(title=f"pipeline, {args.customers:,} customers x {args.days} days")
    for column in ("stage", "seconds", "share", "rows written", "peak MB"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    rows = []
    for step, seconds in result.seconds.items():
        written = sum(r.rows_written for r in result.results.get(step, []))
        rows.append({"stage": step, "seconds": round(seconds, 1), "rows_written": written,
                     "peak_mb": round(peaks.get(step, 0))})  # fmt: skip
        table.add_row(step, f"{seconds:,.1f}", f"{seconds / total:.1%}", f"{written:,}",
                      f"{peaks.get(step, 0):,.0f}")  # fmt: skip
    table.add_row("total", f"{total:,.1f}", "100%", "", f"{max(peaks.values()):,.0f}")
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pipeline.json").write_text(
        json.dumps(
            {
                "customers": args.customers,
                "days": args.days,
                "seconds": round(total, 1),
                "leak_hits": len(result.leak_hits),
                "stages": rows,
            },
            indent=2,
        )  # fmt: skip
    )


if __name__ == "__main__":
    main()
