"""Benchmark: synthetic bank generation (issue A target: 100,000 customers x 365 days < 10 min).

    .venv/bin/python -m bench.generate [--customers 100000] [--days 365] [--workers 2]

Prints a table and writes bench/results/generate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from jobs.generate.bank import BankSpec, generate_bank

RESULTS = Path(__file__).parent / "results"


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc), in MB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total / 1e6


class PeakMemory(threading.Thread):
    """Samples the whole process tree's memory every half second (workers are grandchildren)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            self.peak = max(self.peak, tree_rss_mb(os.getpid()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="offerlake-bench-"))
    sampler = PeakMemory()
    sampler.start()
    try:
        started = time.perf_counter()
        report = generate_bank(
            BankSpec(args.customers, args.days, args.seed), out, workers=args.workers, progress=True
        )
        seconds = time.perf_counter() - started
        sampler.done.set()
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    card_rows = report.counts["card_transaction.v1.csv"]
    figures = {
        "customers": args.customers,
        "days": args.days,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "seconds": round(seconds, 1),
        "card_transactions": card_rows,
        "card_rows_per_second": round(card_rows / seconds),
        "account_transactions": report.counts["transactions.sqlite"],
        "ga_sessions": report.counts["ga_sessions"],
        "pings": report.counts["pings.csv"],
        "bytes_written": size,
        "peak_rss_mb_process_tree": round(sampler.peak),
    }
    table = Table(title="synthetic bank generation")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "generate.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
