"""The peers of bench/geofence, run in their own process: DuckDB spatial, GeoPandas, naive.

    python -m bench.geofence_peers DATA_DIR

Runs with `bench/.peers` first on sys.path (bench/geofence installs it: DuckDB 1.5.5 with its
spatial extension from PyPI, since extensions.duckdb.org is not reachable here, and GeoPandas).
Each writes its (ping_id, fence_id) hits to DATA_DIR/hits_<peer>.parquet; prints seconds as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def duckdb_spatial(data: Path) -> float:
    import duckdb
    import duckdb_extension_spatial

    extension = next(Path(duckdb_extension_spatial.__file__).parent.rglob("*.duckdb_extension"))
    con = duckdb.connect(config={"threads": 2})
    con.execute(f"LOAD '{extension}'")
    started = time.perf_counter()
    con.execute(
        f"""
        COPY (
          WITH f AS (SELECT fence_id, ST_GeomFromText(wkt) AS geom FROM '{data}/fences.parquet'),
               p AS (SELECT ping_id, ST_Point(lon, lat) AS pt FROM '{data}/pings.parquet')
          SELECT p.ping_id, f.fence_id FROM p JOIN f ON ST_Intersects(f.geom, p.pt)
        ) TO '{data}/hits_duckdb.parquet' (FORMAT parquet)
        """
    )
    return time.perf_counter() - started


def _frames(data: Path):
    import geopandas as gpd

    pings = pq.read_table(data / "pings.parquet").to_pandas()
    fences = pq.read_table(data / "fences.parquet").to_pandas()
    points = gpd.GeoDataFrame(
        {"ping_id": pings.ping_id}, geometry=gpd.points_from_xy(pings.lon, pings.lat)
    )
    shapes = gpd.GeoDataFrame(
        {"fence_id": fences.fence_id}, geometry=gpd.GeoSeries.from_wkt(fences.wkt)
    )
    return pings, points, shapes


def geopandas_sjoin(data: Path) -> float:
    _, points, shapes = _frames(data)
    started = time.perf_counter()
    joined = points.sjoin(shapes, predicate="intersects", how="inner")
    seconds = time.perf_counter() - started
    hits = pa.table(
        {
            "ping_id": joined.ping_id.to_numpy(np.int64),
            "fence_id": joined.fence_id.to_numpy(np.int64),
        }
    )
    pq.write_table(hits, data / "hits_geopandas.parquet")
    return seconds


def naive_cross(data: Path, fraction: float) -> float:
    """Every sampled ping against every fence, no index (shapely, prepared polygons)."""
    import shapely

    pings, _, shapes = _frames(data)
    sample = pings.iloc[:: round(1 / fraction)]
    xs, ys = sample.lon.to_numpy(), sample.lat.to_numpy()
    ids = sample.ping_id.to_numpy(np.int64)
    polygons = shapes.geometry.to_numpy()
    shapely.prepare(polygons)
    started = time.perf_counter()
    found_pings, found_fences = [], []
    for fence_id, polygon in zip(shapes.fence_id.to_numpy(np.int64), polygons, strict=True):
        inside = shapely.intersects_xy(polygon, xs, ys)
        found_pings.append(ids[inside])
        found_fences.append(np.full(int(inside.sum()), fence_id, np.int64))
    seconds = time.perf_counter() - started
    hits = pa.table(
        {"ping_id": np.concatenate(found_pings), "fence_id": np.concatenate(found_fences)}
    )
    pq.write_table(hits, data / "hits_naive.parquet")
    return seconds


def main() -> None:
    data, fraction = Path(sys.argv[1]), float(sys.argv[2])
    figures = {
        "duckdb_seconds": duckdb_spatial(data),
        "geopandas_seconds": geopandas_sjoin(data),
        "naive_seconds": naive_cross(data, fraction),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
