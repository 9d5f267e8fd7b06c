"""Great Expectations on the model's tables: critical checks stop the stage, all are recorded.

Suites come from `conf/quality.yaml`. Each run validates the rows written for the run's date
through a GX checkpoint in a file context under `<lake>/analytics/_data_quality/gx`, whose Data
Docs site (`.../data_docs/index.html`) gains the run's results; every expectation's outcome is
also appended to the Delta table `analytics/data_quality`. Results hold counts and expectation
settings, no values: GX's unexpected-value samples are turned off (result format BOOLEAN_ONLY
plus counts), so no token or metric value lands in the Data Docs.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.errors import ConfigError, OfferlakeError
from jobs.runtime.context import RunContext
from jobs.runtime.expectations import build
from jobs.runtime.zones import Zone

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

import great_expectations as gx  # noqa: E402
from great_expectations.checkpoint import UpdateDataDocsAction  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402

RESULTS = "analytics/data_quality"
SITE = "offerlake"


class DataQualityError(OfferlakeError):
    """A critical expectation failed: the stage stops and the table keeps its earlier version."""


@dataclass(frozen=True)
class Outcome:
    expectation: str
    column: str
    critical: bool
    success: bool
    unexpected: int | None


def load_suite(conf_dir: Path, table: str, customers: int) -> list:
    path = Path(conf_dir) / "quality.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    doc = yaml.safe_load(path.read_text()) or {}
    if table not in doc:
        raise ConfigError(f"{path}: no suite for {table}")
    items = yaml.safe_load(yaml.safe_dump(doc[table]).replace("'{customers}'", str(customers)))
    return build(items, f"{path.name}: {table}")


def _context(root: str):
    context = gx.get_context(mode="file", project_root_dir=root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    if SITE not in context.get_site_names():
        context.add_data_docs_site(
            site_name=SITE,
            site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": "data_docs",
                },
            },
        )
    return context


def quality_root(ctx: RunContext) -> str:
    """Great Expectations' project (suites, checkpoints, Data Docs): beside the analytics tables
    on a local lake; on an object-store lake, in a local folder (OFFERLAKE_QUALITY_DIR, default
    the temp dir) since GX's file context needs one. The outcomes table analytics/data_quality
    is in the lake either way."""
    root = ctx.zone_path(Zone.ANALYTICS)
    if "://" in root and not root.startswith("file:"):
        local = os.environ.get("OFFERLAKE_QUALITY_DIR") or tempfile.gettempdir()
        return str(Path(local) / "offerlake-data-quality" / re.sub(r"\W+", "_", root))
    return str(Path(root.removeprefix("file:")) / "_data_quality")


def check(ctx: RunContext, table: str, df: DataFrame, expectations: list) -> list[Outcome]:
    """Validate df with the suite through a checkpoint that updates the Data Docs."""
    columns = sorted({getattr(e, "column", None) for e in expectations} - {None})
    df = df.select(*(columns or df.columns[:1]))  # GX reads only what the suite checks
    context = _context(quality_root(ctx))
    source = context.data_sources.add_or_update_spark(name="offerlake_model")
    asset = next((a for a in source.assets if a.name == table), None) or (
        source.add_dataframe_asset(name=table)
    )
    batch = next((b for b in asset.batch_definitions if b.name == "whole"), None) or (
        asset.add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=table, expectations=expectations))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(data=batch, suite=suite, name=table)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=table,
            validation_definitions=[definition],
            actions=[UpdateDataDocsAction(name="data_docs", site_names=[SITE])],
            result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
        )
    )
    run = checkpoint.run(
        batch_parameters={"dataframe": df},
        run_id=RunIdentifier(run_name=f"{ctx.run_id}-{table}"),
    )
    outcomes = []
    for result in run.run_results.values():
        for r in result.results:
            config = r.expectation_config
            outcomes.append(
                Outcome(
                    config.type,
                    str(config.kwargs.get("column", "")),
                    bool((config.meta or {}).get("critical", False)),
                    bool(r.success),
                    r.result.get("unexpected_count"),
                )
            )
    return outcomes


def record(ctx: RunContext, table: str, outcomes: list[Outcome]) -> None:
    rows = [
        (ctx.run_id, ctx.run_date, table, o.expectation, o.column, o.critical, o.success,
         o.unexpected)
        for o in outcomes
    ]  # fmt: skip
    df = ctx.spark.createDataFrame(
        rows,
        "run_id string, as_of date, table string, expectation string, column string, "
        "critical boolean, success boolean, unexpected_count long",
    )
    ctx.write(RESULTS, df.withColumn("checked_at", F.current_timestamp()), mode="append")


def describe(outcome: Outcome) -> str:
    where = f" {outcome.column}" if outcome.column else ""
    count = "" if outcome.unexpected is None else f": {outcome.unexpected} unexpected"
    return f"{outcome.expectation}{where}{count}"


def data_docs(ctx: RunContext) -> Path:
    return Path(quality_root(ctx)) / "gx" / "data_docs" / "index.html"
