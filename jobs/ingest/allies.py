"""Feed `allies`: partner stores from GeoJSON -> WKT geometry, radius and offer terms.

Sedona builds the geometry; a GeoJSON geometry Sedona would choke on (unknown type, missing or
out-of-range coordinates, an unclosed ring) is caught first with Spark expressions and the
feature is quarantined as `invalid_geometry`. A polygon that is well-formed but
self-intersecting is kept with `geometry_is_valid = false`, for the geofence stage to repair.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.ingest.engine import Refine

POINT = "array<double>"
RING = "array<array<double>>"
POLYGON = "array<array<array<double>>>"
MULTI = "array<array<array<array<double>>>>"


def _position_ok(p: Column) -> Column:
    return (F.size(p) >= 2) & F.abs(p[0]).between(0, 180) & F.abs(p[1]).between(0, 90)


def _ring_ok(ring: Column) -> Column:
    closed = (ring[0][0] == ring[F.size(ring) - 1][0]) & (ring[0][1] == ring[F.size(ring) - 1][1])
    return (F.size(ring) >= 4) & F.forall(ring, _position_ok) & closed


def _polygon_ok(polygon: Column) -> Column:
    return (F.size(polygon) >= 1) & F.forall(polygon, _ring_ok)


def geometry_problem(geojson: Column) -> Column:
    """Why a GeoJSON geometry text cannot become a geometry, or null when it can."""
    shape = F.from_json(geojson, "struct<type:string, coordinates:string>")
    kind, coords = shape["type"], shape["coordinates"]
    ok = (
        F.when(kind == "Point", F.coalesce(_position_ok(F.from_json(coords, POINT)), F.lit(False)))
        .when(
            kind == "Polygon",
            F.coalesce(_polygon_ok(F.from_json(coords, POLYGON)), F.lit(False)),
        )
        .when(
            kind == "MultiPolygon",
            F.coalesce(
                (F.size(F.from_json(coords, MULTI)) >= 1)
                & F.forall(F.from_json(coords, MULTI), _polygon_ok),
                F.lit(False),
            ),
        )
    )
    return (
        F.when(shape.isNull(), F.lit("geometry is not a JSON object"))
        .when(
            ~kind.isin("Point", "Polygon", "MultiPolygon"),
            F.concat(
                F.lit("geometry type '"),
                F.coalesce(kind, F.lit("")),
                F.lit("' is not Point, Polygon or MultiPolygon"),
            ),
        )
        .when(
            ~ok,
            F.concat(
                F.lit(""),
                kind,
                F.lit(" coordinates are missing, out of range, or a ring is not closed"),
            ),
        )
    )


def with_geometry(typed: DataFrame) -> DataFrame:
    """Add `geometry_wkt`, `geometry_type`, `geometry_is_valid`; reject unusable geometry."""
    problem = geometry_problem(F.col("geometry_geojson"))
    checked = typed.withColumn("_geometry_problem", F.when(F.col("_rule").isNull(), problem))
    bad = F.col("_geometry_problem").isNotNull()
    geometry = F.when(
        F.col("_rule").isNull() & ~bad, F.expr("ST_GeomFromGeoJSON(geometry_geojson)")
    )
    return (
        checked.withColumn("_geometry", geometry)
        .withColumn("geometry_wkt", F.expr("ST_AsText(_geometry)"))
        .withColumn("geometry_type", F.expr("ST_GeometryType(_geometry)"))
        .withColumn("geometry_is_valid", F.expr("ST_IsValid(_geometry)"))
        .withColumn("_rule", F.when(bad, F.lit("invalid_geometry")).otherwise(F.col("_rule")))
        .withColumn("_reason", F.when(bad, F.col("_geometry_problem")).otherwise(F.col("_reason")))
        .drop("_geometry", "_geometry_problem")
    )


REFINE: dict[str, Refine] = {"allies": with_geometry}
