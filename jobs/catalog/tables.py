"""The lake's tables as the catalogs see them: zone, name, schema, partitions, location."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql.types import StructType

from jobs.runtime import storage
from jobs.runtime.context import RunContext
from jobs.runtime.zones import Zone

ZONES = (Zone.STAGE, Zone.ANALYTICS)  # never on-prem, never the handoff


@dataclass(frozen=True)
class LakeTable:
    zone: str
    name: str
    schema: StructType
    partitions: tuple[str, ...]
    location: str  # as the catalogs want it: s3://... or file:///...


def catalog_location(path: str) -> str:
    """Spark's path -> the URI Athena and Trino read: s3a:// becomes s3://, a folder file://."""
    if path.startswith("s3a://"):
        return "s3://" + path.removeprefix("s3a://")
    if "://" in path:
        return path
    return "file://" + path


def lake_tables(ctx: RunContext) -> list[LakeTable]:
    """Every Delta table of stage/ and analytics/, sorted by zone and name.

    Read from the tables' logs by delta-rs, without Spark: the catalog stage starts no JVM.
    """
    found = []
    for zone in ZONES:
        root = ctx.zone_path(zone)
        for name in storage.list_delta_tables(root):
            path = f"{root}/{name}"
            schema, partitions = storage.delta_metadata(path, ctx.config.s3_endpoint)
            found.append(
                LakeTable(zone.value, name, schema, tuple(partitions), catalog_location(path))
            )
    return found
