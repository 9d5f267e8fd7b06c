"""Benchmark: the privacy gate (`offerlake run privacy`) on the 100,000-customer bank's raw tables.

    .venv/bin/python -m bench.privacy [--bank DIR]

DIR must hold the raw zone that `python -m bench.ingest --bank DIR` wrote. The gate runs into a
fresh vault, key file and lake. Then the I/O floor under the gate: each raw table copied to a
new Delta table with the columns its stage twin has, values as they are in raw. Then, in the
same run, the peer: a plain single-process Python loop over the same values (every non-null
value of every tokenized or encrypted raw column) doing HMAC-SHA256 (a blind index) and,
separately, AES-256-GCM with `cryptography`. Prints a table and
writes bench/results/privacy.json.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import shutil
import time
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from bench.generate import PeakMemory
from jobs.privacy.gate import raw_tables
from jobs.privacy.gate import run as run_gate
from jobs.privacy.policy import load_policy
from jobs.runtime.config import LakeConfig
from jobs.runtime.context import RunContext
from jobs.runtime.spark import build_spark
from jobs.runtime.zones import Side

RESULTS = Path(__file__).parent / "results"


def export_values(ctx: RunContext, out: Path) -> int:
    """Every non-null value the gate tokenizes or encrypts, as one Parquet column."""
    policy = load_policy(ctx.config.conf_dir)
    frames = []
    for name, df in raw_tables(ctx).items():
        for column in df.columns:
            verbs = {a.verb for a in policy.actions(name, column)}
            if verbs & {"tokenize", "encrypt"}:
                frames.append(df.select(F.col(column).cast("string").alias("value")))
    values = frames[0]
    for frame in frames[1:]:
        values = values.unionByName(frame)
    values = values.where(F.col("value").isNotNull())
    values.coalesce(1).write.mode("overwrite").parquet(str(out))
    return values.count()


def copy_floor(ctx: RunContext, out: Path) -> float:
    """Seconds to copy every raw table to a new Delta table with the columns its stage twin
    has (one per output of conf/privacy.yaml, raw values, nothing computed): the I/O under
    the gate."""
    policy = load_policy(ctx.config.conf_dir)
    started = time.perf_counter()
    for name, df in raw_tables(ctx).items():
        outputs = [
            F.col(column).alias(action.output)
            for column in df.columns
            for action in policy.actions(name, column)
            if action.output
        ]
        df.select(*outputs).write.format("delta").mode("overwrite").save(str(out / name))
    seconds = time.perf_counter() - started
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def python_loop(path: Path) -> dict:
    key = os.urandom(32)
    aes = AESGCM(key)
    batches = [
        b.column(0).to_pylist()
        for b in pq.ParquetFile(next(path.glob("*.parquet"))).iter_batches(1_000_000)
    ]
    n = sum(len(b) for b in batches)
    started = time.perf_counter()
    for batch in batches:
        for value in batch:
            hmac.new(key, value.encode(), hashlib.sha256).digest()
    hmac_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for batch in batches:
        for value in batch:
            aes.encrypt(os.urandom(12), value.encode(), None)
    aes_seconds = time.perf_counter() - started
    return {
        "values": n,
        "hmac_seconds": round(hmac_seconds, 1),
        "hmac_per_second": round(n / hmac_seconds),
        "aes_gcm_seconds": round(aes_seconds, 1),
        "aes_gcm_per_second": round(n / aes_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", type=Path, default=Path(__file__).parent / "data" / "bank")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("jobs.privacy").setLevel(logging.INFO)  # time per kind and table
    if not (args.bank / "onprem" / "raw").is_dir():
        raise SystemExit(f"{args.bank}/onprem/raw is missing: run python -m bench.ingest first")
    for folder in ("onprem/vault", "onprem/keys", "lake"):
        shutil.rmtree(args.bank / folder, ignore_errors=True)
    config = LakeConfig.load(lake=str(args.bank))
    spark = build_spark(config)
    ctx = RunContext(config, Side.ONPREM, date.today(), _spark=spark)
    values_dir = args.bank / "bench-values"
    values = export_values(ctx, values_dir)

    sampler = PeakMemory()
    sampler.start()
    started = time.perf_counter()
    results = run_gate(ctx)
    seconds = time.perf_counter() - started
    sampler.done.set()
    vault = config.onprem_root + "/onprem/vault"
    floor = copy_floor(ctx, args.bank / "bench-copy")
    minted = spark.read.format("delta").load(f"{vault}/token_map").count()
    contacts = spark.read.format("delta").load(f"{vault}/contacts").count()
    spark.stop()
    peer = python_loop(values_dir)
    shutil.rmtree(values_dir, ignore_errors=True)

    clients = {r.table: r.rows_written for r in results}.get("stage/crm_clients", 0)
    table = Table(title=f"privacy gate on {args.bank}: {clients:,} customers (local[2])")
    for column in ("what", "values", "seconds", "values/s"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row(
        "gate: all stage tables", f"{values:,}", f"{seconds:.1f}", f"{values / seconds:,.0f}"
    )
    table.add_row("  tokens minted / contacts encrypted", f"{minted:,} / {contacts:,}", "", "")
    table.add_row("floor: Delta copy of raw, stage columns", f"{values:,}", f"{floor:.1f}", "")
    table.add_row(
        "peer: Python HMAC-SHA256, 1 core",
        f"{peer['values']:,}",
        f"{peer['hmac_seconds']}",
        f"{peer['hmac_per_second']:,}",
    )
    table.add_row(
        "peer: Python AES-256-GCM, 1 core",
        f"{peer['values']:,}",
        f"{peer['aes_gcm_seconds']}",
        f"{peer['aes_gcm_per_second']:,}",
    )
    Console().print(table)
    figures = {
        "values": values,
        "gate_seconds": round(seconds, 1),
        "gate_values_per_second": round(values / seconds),
        "plain_delta_copy_seconds": round(floor, 1),
        "tokens_minted": minted,
        "contacts_encrypted": contacts,
        "stage_rows": {r.table: r.rows_written for r in results},
        "peer": peer,
        "peak_rss_mb_process_tree": round(sampler.peak),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "privacy.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
