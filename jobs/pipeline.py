"""The pipeline's stages in order, and running them for one date."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date

from pyspark.sql import SparkSession

from jobs.runtime.config import LakeConfig
from jobs.runtime.context import JobResult, RunContext
from jobs.runtime.zones import Side


@dataclass(frozen=True)
class Stage:
    name: str
    side: Side
    summary: str
    module: str  # "jobs.ingest.run.run": the stage's entry point

    def entry_point(self) -> Callable[[RunContext], list[JobResult]]:
        module_name, _, func = self.module.rpartition(".")
        return getattr(importlib.import_module(module_name), func)


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        Side.ONPREM,
        "landing files -> typed raw Delta tables + quarantine",
        "jobs.ingest.run.run",
    ),
    Stage(
        "privacy",
        Side.ONPREM,
        "raw -> tokenized, scrubbed stage tables + vault",
        "jobs.privacy.gate.run",
    ),
    Stage(
        "model",
        Side.LAKE,
        "stage -> customer_360: the feature catalog compiled to one scan per table",
        "jobs.model.run.run",
    ),
    Stage(
        "serve",
        Side.LAKE,
        "customer_360 + segments -> profiles by customer token in DynamoDB (changed ones only)",
        "jobs.serving.run.run",
    ),
    Stage(
        "geofence",
        Side.LAKE,
        "pings x ally geofences -> geo_events (Sedona)",
        "jobs.geofence.run.run",
    ),
    Stage(
        "match",
        Side.LAKE,
        "campaigns (.offer) x customer_360 -> deliverable_offers",
        "jobs.match.run.run",
    ),
    Stage(
        "handoff",
        Side.LAKE,
        "D's deliverable offers (no holdouts) -> lake/handoff/<run>: Parquet + manifest",
        "jobs.delivery.handoff.run",
    ),
    Stage(
        "deliver",
        Side.ONPREM,
        "handoff -> verify, open contacts just in time, send exactly once, audit -> notifications",
        "jobs.delivery.deliver.run",
    ),
    Stage(
        "effectiveness",
        Side.LAKE,
        "notifications x card purchases, responses -> effective_notifications, kpis with lift",
        "jobs.effectiveness.run.run",
    ),
    Stage(
        "catalog",
        Side.LAKE,
        "stage + analytics tables -> Glue Data Catalog (Athena) and lake/catalog/trino.sql",
        "jobs.catalog.run.run",
    ),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
# A measuring run: take in the day's feeds (the customers' reactions among them) and measure
# the offers already sent, without making new ones (`offerlake pipeline --measure`).
MEASURE_STAGES = ("ingest", "privacy", "effectiveness", "catalog")


def stage(name: str) -> Stage:
    return next(s for s in STAGES if s.name == name)


def run_stage(
    name: str, config: LakeConfig, run_date: date, spark: SparkSession | None = None
) -> list[JobResult]:
    """Run one stage in a context on that stage's own side of the trust boundary."""
    chosen = stage(name)
    entry = chosen.entry_point()
    return entry(RunContext(config, side=chosen.side, run_date=run_date, _spark=spark))


@dataclass(frozen=True)
class PipelineRun:
    results: dict[str, list[JobResult]]
    leak_table: object  # rich Table of the closing leak scan
    leak_hits: list
    seconds: dict[str, float]  # per stage, and the leak scan


def run_pipeline(
    config: LakeConfig,
    run_date: date,
    watch: Callable[[str], AbstractContextManager] | None = None,
    stages: tuple[str, ...] = STAGE_NAMES,
) -> PipelineRun:
    """Run the stages (default: every one) in order for one date, in one Spark session, then
    the leak scan; `watch(name)` wraps each step (the CLI's progress display)."""
    from jobs.privacy.commands import leakscan
    from jobs.runtime.spark import build_spark

    chosen = [s for s in STAGES if s.name in stages]
    # the stages' modules import while the JVM starts (Great Expectations alone takes 3 s of
    # Python); the main thread only waits for the JVM meanwhile
    imports = threading.Thread(target=lambda: [s.entry_point() for s in chosen], daemon=True)
    imports.start()
    spark = build_spark(config)
    imports.join()
    results, seconds = {}, {}
    for s in chosen:
        start = time.perf_counter()
        with watch(s.name) if watch else nullcontext():
            results[s.name] = run_stage(s.name, config, run_date, spark)
        seconds[s.name] = time.perf_counter() - start
    start = time.perf_counter()
    with watch("leakscan") if watch else nullcontext():
        table, hits = leakscan(config, spark)  # the release gate: zero hits
    seconds["leakscan"] = time.perf_counter() - start
    return PipelineRun(results, table, hits, seconds)
