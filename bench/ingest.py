"""Benchmark: `offerlake run ingest` on the 100,000-customer, 365-day bank, feed by feed.

    .venv/bin/python -m bench.ingest [--bank DIR] [--customers 100000] [--days 365] [--feeds a,b]

Generates the bank into DIR if it is not there (bench/data/bank by default), ingests every feed
into a fresh raw zone, and in the same run loads the card-transaction CSV with DuckDB's
`read_csv` into the same typed columns: the peer figure. Prints a table and writes
bench/results/ingest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.generate import PeakMemory
from jobs.generate.bank import BankSpec, generate_bank
from jobs.ingest.run import run_feed
from jobs.ingest.sources import load_sources
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.spark import build_spark
from jobs.runtime.zones import Side

RESULTS = Path(__file__).parent / "results"
DUCKDB_TYPED = """
CREATE TABLE card_transactions AS
SELECT "User" AS user, "Card" AS card,
       strptime(printf('%04d-%02d-%02d %s', "Year", "Month", "Day", "Time"), '%Y-%m-%d %H:%M')
         AS ts,
       CAST(replace(replace("Amount", '$', ''), ',', '') AS DECIMAL(14,2)) AS amount,
       "Use Chip" AS use_chip, "Merchant Name" AS merchant_name, "Merchant City" AS merchant_city,
       "Merchant State" AS merchant_state, regexp_replace("Zip", '\\.0$', '') AS zip,
       "MCC" AS mcc, string_split("Errors?", ',') AS errors, "Is Fraud?" = 'Yes' AS is_fraud
FROM read_csv(?, header = true, all_varchar = false, types = {
  'Amount': 'VARCHAR', 'Zip': 'VARCHAR', 'Errors?': 'VARCHAR', 'Merchant Name': 'VARCHAR',
  'Time': 'VARCHAR'})
"""


def duckdb_peer(csv: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    started = time.perf_counter()
    con.execute(DUCKDB_TYPED, [str(csv)])
    seconds = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM card_transactions").fetchone()[0]
    return {"seconds": round(seconds, 1), "rows": rows, "rows_per_second": round(rows / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=Path, default=Path(__file__).parent / "data" / "bank")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--feeds", help="comma-separated feeds to measure (default: all)")
    args = parser.parse_args()
    chosen = set(args.feeds.split(",")) if args.feeds else None
    spec = BankSpec(args.customers, args.days, seed=7)
    landing = args.bank / "onprem" / "landing"
    if not landing.is_dir():
        generate_bank(spec, args.bank, workers=2, progress=True)
    for zone in ("raw", "quarantine"):
        shutil.rmtree(args.bank / "onprem" / zone, ignore_errors=True)

    config = LakeConfig.load(lake=str(args.bank))
    run_date = max(date.fromisoformat(p.name) for p in landing.glob("*/*") if p.is_dir())
    sampler = PeakMemory()
    sampler.start()
    started = time.perf_counter()
    spark = build_spark(config)
    spark_start = time.perf_counter() - started
    context = RunContext(config, Side.ONPREM, run_date, _spark=spark)
    rows = []
    for feed in load_sources(config.conf_dir):
        if chosen is not None and feed.name not in chosen:
            continue
        began = time.perf_counter()
        results = run_feed(context, feed)
        seconds = time.perf_counter() - began
        for r in results:
            rows.append(
                {
                    "feed": feed.name,
                    "table": r.table,
                    "rows_read": r.rows_read,
                    "rows_quarantined": r.rows_quarantined,
                    "reconciled": r.reconciled,
                    "feed_seconds": round(seconds, 1),
                    "feed_rows_per_second": round(
                        sum(x.rows_read for x in results) / max(seconds, 1e-9)
                    ),
                }
            )
    total = time.perf_counter() - started
    spark.stop()
    csv = next((landing / "card_transactions").glob("*/card_transaction.v1.csv"))
    peer = duckdb_peer(csv)
    sampler.done.set()

    table = Table(title=f"ingest: {args.customers:,} customers x {args.days} days")
    for column in ("feed", "table", "rows", "quarantined", "feed s", "feed rows/s"):
        table.add_column(column, justify="left" if column in ("feed", "table") else "right")
    for r in rows:
        table.add_row(
            r["feed"],
            r["table"],
            f"{r['rows_read']:,}",
            f"{r['rows_quarantined']:,}",
            f"{r['feed_seconds']}",
            f"{r['feed_rows_per_second']:,}",
        )
    table.add_row(
        "peer",
        "DuckDB read_csv card CSV",
        f"{peer['rows']:,}",
        "",
        f"{peer['seconds']}",
        f"{peer['rows_per_second']:,}",
    )
    Console().print(table)
    figures = {
        "customers": args.customers,
        "days": args.days,
        "cpus": os.cpu_count(),
        "spark_start_seconds": round(spark_start, 1),
        "ingest_seconds_total": round(total, 1),
        "card_csv_bytes": csv.stat().st_size,
        "tables": rows,
        "duckdb_card_csv": peer,
        "peak_rss_mb_process_tree": round(sampler.peak),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
