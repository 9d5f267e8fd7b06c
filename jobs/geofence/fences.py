"""Ally geofences from stage/allies: circles (a store point and a radius in metres) and polygons.

A self-intersecting polygon is repaired with ST_MakeValid; one that stays invalid or empty, a
null geometry, a point without a radius or another geometry type is rejected with a reason
(the stage counts and records them) and never reaches the join.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

OFFER = ("offer_id", "discount_pct", "offer_valid_from", "offer_valid_to")
ATTRIBUTES = ("ally_id", "name", "category", "mcc", *OFFER)
POLYGONS = ("ST_Polygon", "ST_MultiPolygon")


def _reason(geom: Column, kind: Column, radius: Column) -> Column:
    return (
        F.when(geom.isNull(), F.lit("null_geometry"))
        .when(kind.isNull(), F.lit("unsupported_geometry"))
        .when((kind == "circle") & (radius.isNull() | (radius <= 0)), F.lit("point_without_radius"))
        .when(
            (kind == "polygon") & (F.expr("ST_IsEmpty(_fixed)") | ~F.expr("ST_IsValid(_fixed)")),
            F.lit("invalid_geometry_unrepairable"),
        )
    )


def _search_area(geom: Column, kind: Column, radius: Column) -> Column:
    """What the join's index looks up: the polygon itself, or a lon/lat box around the circle.

    The box is at least the circle's size everywhere: degrees of latitude are never shorter
    than 110,574 m, degrees of longitude never shorter than 111,319 m x cos(latitude), taken at
    the box's edge furthest from the equator, with 1% to spare."""
    dlat = radius / 110_574.0 * 1.01
    lat = F.abs(F.expr("ST_Y(_fixed)"))
    dlon = radius / (111_319.0 * F.greatest(F.cos(F.radians(lat + dlat)), F.lit(1e-3))) * 1.01
    x, y = F.expr("ST_X(_fixed)"), F.expr("ST_Y(_fixed)")
    box = F.call_function("ST_PolygonFromEnvelope", x - dlon, y - dlat, x + dlon, y + dlat)
    return F.when(kind == "circle", box).otherwise(geom)


def fences(allies: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(usable fences, rejected allies with `reason`) from stage/allies.

    Fences: the ally's attributes and offer, `kind` (circle or polygon), `radius_m`, `geom` (the
    store point or the polygon, lon/lat WGS84), `centre` (store point or polygon centroid) and
    its `centre_lon`, `centre_lat`, `search` (what the spatial join looks up: see
    `_search_area`) and `repaired` (the polygon was made valid).
    """
    geom = F.expr("ST_GeomFromWKT(geometry_wkt)")
    kind = F.when(F.col("_type") == "ST_Point", F.lit("circle")).when(
        F.col("_type").isin(*POLYGONS), F.lit("polygon")
    )
    shaped = (
        allies.withColumn("_geom", geom)
        .withColumn("_type", F.expr("ST_GeometryType(_geom)"))
        .withColumn("kind", kind)
        .withColumn("_valid", F.expr("ST_IsValid(_geom)"))
        .withColumn(
            "_fixed",
            F.when(
                (F.col("kind") == "polygon") & ~F.col("_valid"), F.expr("ST_MakeValid(_geom)")
            ).otherwise(F.col("_geom")),
        )
    )
    reasoned = shaped.withColumn(
        "reason", _reason(F.col("_geom"), F.col("kind"), F.col("radius_m"))
    )
    good = reasoned.where(F.col("reason").isNull()).select(
        *ATTRIBUTES,
        "kind",
        F.when(F.col("kind") == "circle", F.col("radius_m")).alias("radius_m"),
        F.col("_fixed").alias("geom"),
        F.expr("ST_Centroid(_fixed)").alias("centre"),
        F.expr("ST_X(ST_Centroid(_fixed))").alias("centre_lon"),
        F.expr("ST_Y(ST_Centroid(_fixed))").alias("centre_lat"),
        _search_area(F.col("_fixed"), F.col("kind"), F.col("radius_m")).alias("search"),
        ((F.col("kind") == "polygon") & ~F.col("_valid")).alias("repaired"),
    )
    bad = reasoned.where(F.col("reason").isNotNull()).select("ally_id", "reason")
    return good, bad
