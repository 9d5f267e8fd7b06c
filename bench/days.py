"""Benchmark: what a daily run costs against the backfill, and whether it computes the same.

    .venv/bin/python -m bench.days --customers 2000 --days 90 --increments 2 --out FILE.json

Generates a bank (`--days` of history) and runs the whole pipeline on its last day (the
backfill); then, K times, continues the bank by one day (`generate --continue`) and runs the
pipeline for that day (an increment). Every increment is also recomputed in full: once the
day is ingested (ingest goes by delivered file whatever the mode, and its run ids and times are
the lineage of every row), a copy of the lake with the stages' incremental state removed
(`FULL_STATE`: the gate's log) and the daily run's vault (tokens are random when minted) runs
the day's other stages again; every stage and analytics table of the two must hold the same rows
(run ids and write times aside), else the table is named in `differences`. One Spark session
runs everything; peak memory is the whole process tree's.

Writes (and prints) JSON:
    {"backfill": {"seconds": s, "stages": {...}, "peak_rss_mb": m},
     "increments": [{"date": d, "seconds": s, "new_rows": n, "stages": {...},
                     "full_recompute_seconds": s}],
     "same_as_full_recompute": true|false, "differences": [...], ...}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from bench.generate import PeakMemory
from jobs.generate.bank import BankSpec, generate_bank
from jobs.generate.days import continue_bank
from jobs.pipeline import STAGE_NAMES, run_pipeline, run_stage
from jobs.privacy.increments import LOG
from jobs.runtime.config import LakeConfig

RESULTS = Path(__file__).parent / "results"
FULL_STATE = (f"onprem/{LOG}",)  # what a stage keeps to go by increments; removed = full run
VOLATILE = ("run_id", "written_at", "computed_at", "updated_at", "_written_at")


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _landed_day(bank: Path, lake: Path, day: date) -> None:
    for folder in (bank / "onprem" / "landing").glob(f"*/{day}"):
        shutil.copytree(folder, lake / "onprem" / "landing" / folder.parent.name / str(day))


def _tables(lake: Path) -> list[Path]:
    return sorted(
        t
        for zone in ("stage", "analytics")
        for t in (lake / "lake" / zone).glob("*")
        if (t / "_delta_log").is_dir() and not t.name.startswith("_")
    )


def differences(ours: Path, theirs: Path) -> list[str]:
    """Tables of lake `ours` whose rows differ from `theirs` (as multisets, volatile columns
    aside), or that one of them lacks."""
    con = duckdb.connect()
    found = []
    names = {t.relative_to(ours) for t in _tables(ours)} | {
        t.relative_to(theirs) for t in _tables(theirs)
    }
    for name in sorted(names):
        a, b = ours / name, theirs / name
        if not (a / "_delta_log").is_dir() or not (b / "_delta_log").is_dir():
            found.append(f"{name}: only in one lake")
            continue
        columns = [r[0] for r in con.sql(f"describe select * from delta_scan('{a}')").fetchall()]
        kept = ", ".join(f'"{c}"' for c in columns if c not in VOLATILE)
        query = (
            f"select count(*) from ((select {kept} from delta_scan('{a}') except all "
            f"select {kept} from delta_scan('{b}')) union all (select {kept} from "
            f"delta_scan('{b}') except all select {kept} from delta_scan('{a}')))"
        )
        try:
            apart = con.sql(query).fetchone()[0]
        except duckdb.Error as exc:  # e.g. a column one of them lacks
            found.append(f"{name}: {str(exc).splitlines()[0]}")
            continue
        if apart:
            found.append(f"{name}: {apart} rows differ")
    return found


class Runner:
    def __init__(self) -> None:
        self.sampler = PeakMemory()
        self.sampler.start()
        self.peaks: dict[str, float] = {}

    @contextmanager
    def watch(self, step: str):
        self.sampler.peak = 0.0
        yield
        self.peaks[step] = self.sampler.peak

    def run(self, lake: Path, day: date, stages=STAGE_NAMES, before: dict | None = None) -> dict:
        """The pipeline's `stages` for `day`; `before`: what an earlier part of the day took."""
        config = LakeConfig.load(lake=str(lake.resolve()))
        self.peaks = {}
        began = time.perf_counter()
        result = run_pipeline(config, day, self.watch, stages)
        seconds = time.perf_counter() - began + (before or {}).get("seconds", 0)
        taken = {**(before or {}).get("stages", {}), **result.seconds}
        ingested = sum(r.rows_written for r in result.results.get("ingest", []))
        ingested += (before or {}).get("new_rows", 0)
        return {
            "seconds": round(seconds, 1),
            "stages": {name: round(s, 1) for name, s in taken.items()},
            "peak_rss_mb": round(max(self.peaks.values(), default=0)),
            "new_rows": ingested,
            "leak_hits": len(result.leak_hits),
        }


def _ingest_only(lake: Path, day: date) -> dict:
    config = LakeConfig.load(lake=str(lake.resolve()))
    began = time.perf_counter()
    results = run_stage("ingest", config, day)
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "stages": {"ingest": round(seconds, 1)},
        "new_rows": sum(r.rows_written for r in results),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--increments", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work", type=Path, default=Path("bench/data/days"))
    parser.add_argument("--out", type=Path, default=RESULTS / "days.json")
    args = parser.parse_args(argv)
    spec = BankSpec(args.customers, args.days, args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    bank, lake = args.work / "bank", args.work / "lake"
    generate_bank(spec, bank, workers=2, progress=False)
    shutil.copytree(bank / "onprem" / "landing", lake / "onprem" / "landing")
    runner = Runner()
    backfill = runner.run(lake, spec.delivery_date)
    increments, found = [], []
    for k in range(1, args.increments + 1):
        (report,) = continue_bank(bank, 1)
        day = report.delivery_date
        _landed_day(bank, lake, day)
        ingest = _ingest_only(lake, day)
        full = args.work / f"full-{k}"
        shutil.copytree(lake, full)
        for state in FULL_STATE:
            shutil.rmtree(full / state, ignore_errors=True)
        rest = tuple(s for s in STAGE_NAMES if s != "ingest")
        step = runner.run(lake, day, rest, ingest)
        # the same vault: tokens are random when minted, so the day's new values (a new file's
        # name, a new customer) must have the tokens the daily run gave them
        shutil.rmtree(full / "onprem" / "vault")
        shutil.copytree(lake / "onprem" / "vault", full / "onprem" / "vault")
        recompute = runner.run(full, day, rest, ingest)
        apart = differences(lake, full)
        found += [f"{day}: {d}" for d in apart]
        step.pop("peak_rss_mb")
        increments.append(
            {"date": str(day), **step, "full_recompute_seconds": recompute["seconds"]}
        )
        shutil.rmtree(full)
    runner.sampler.done.set()
    result = {
        "bench": "days",
        "commit": _commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "machine": platform.machine(),
        "customers": args.customers,
        "days": args.days,
        "backfill": {
            "seconds": backfill["seconds"],
            "stages": backfill["stages"],
            "peak_rss_mb": backfill["peak_rss_mb"],
            "new_rows": backfill["new_rows"],
        },
        "increments": increments,
        "increment_share_of_backfill": [
            round(i["seconds"] / backfill["seconds"], 3) for i in increments
        ],
        "same_as_full_recompute": not found,
        "differences": found,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
